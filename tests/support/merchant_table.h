#pragma once

// A merchant's own sessions table, as merchants have them, for the tests of the table mapping:
// its own names, lower-case varchar states, a bigint key beside the token, timestamps without
// time zone, extra columns, an index of its own on pending sessions and a trigger of its own.
namespace dr::test {

inline constexpr const char* kMerchantTableSql = R"sql(
CREATE SCHEMA shop;
CREATE TABLE shop.crypto_deposits (
  id            bigserial PRIMARY KEY,
  operation_no  varchar(80) NOT NULL UNIQUE,
  status        varchar(16) NOT NULL DEFAULT 'pending',
  created_at    timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
  modified_at   timestamp,
  customer_ref  text NOT NULL,
  display_name  text,
  amount        numeric(12, 2)
);
CREATE INDEX crypto_deposits_pending_idx
  ON shop.crypto_deposits (created_at, operation_no) WHERE status = 'pending';
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.modified_at := now() AT TIME ZONE 'UTC'; RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON shop.crypto_deposits
  FOR EACH ROW EXECUTE FUNCTION shop.touch();
)sql";

}  // namespace dr::test
