s.{st} = ${new}::text::{st_type}
  AND s.{cr} <= (now() - ${min_age}::bigint * interval '1 microsecond')::{cr_type}
  AND (${after}::text IS NULL OR s.{cr} >= ${after}::text::timestamptz::{cr_type})
  AND (${before}::text IS NULL OR s.{cr} < ${before}::text::timestamptz::{cr_type})
  AND (${ignore}::boolean OR k.next_check_at IS NULL OR k.next_check_at <= ${cutoff}::timestamptz)
  AND (k.last_checked_at IS NULL OR k.last_checked_at < ${cutoff}::timestamptz)
