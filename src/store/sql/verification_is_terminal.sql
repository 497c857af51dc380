s.{st} IN (${c}::text::{t}, ${x}::text::{t}, ${f}::text::{t})
