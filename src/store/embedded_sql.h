#pragma once

#include <string>
#include <vector>

namespace dr::store {

// One schema migration compiled into the binary from sql/NNNN_name.sql.
struct EmbeddedMigration {
  std::string name;  // file name, e.g. "0001_init.sql"; the leading number orders migrations
  std::string sql;
};

// All migrations, sorted by file name.
const std::vector<EmbeddedMigration>& embedded_migrations();

}  // namespace dr::store
