(${ignore}::boolean OR k.next_check_at IS NULL OR k.next_check_at <= ${cutoff}::timestamptz)
  AND (k.last_checked_at IS NULL OR k.last_checked_at < ${cutoff}::timestamptz)
