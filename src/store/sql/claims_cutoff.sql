SELECT least($1::timestamptz, $2::timestamptz)::text
