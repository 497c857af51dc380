s.{st} = ${new}::text::{st_type}
  AND s.{cr} <= (now() - ${min_age}::bigint * interval '1 microsecond')::{cr_type}
  AND (${after}::text IS NULL OR s.{cr} >= ${after}::text::timestamptz::{cr_type})
  AND (${before}::text IS NULL OR s.{cr} < ${before}::text::timestamptz::{cr_type})
