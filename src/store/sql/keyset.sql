
  AND (${key}::text IS NULL
       OR (s.{cr}, s.{tok}) > (${key}::text::{cr_type}, ${token}::text::{tok_type}))
