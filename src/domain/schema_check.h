#pragma once

#include "common/result.h"
#include "domain/session.h"

namespace dr::domain {

// What every command asks of the database before it does anything: is the job's schema there,
// and does the mapped sessions table look like the right one. Errors and threading as in
// domain/claim_store.h.
class SchemaCheck {
 public:
  virtual ~SchemaCheck() = default;

  // kSchema unless every migration this binary knows is applied (see store/migrator.h).
  virtual Status check_schema() = 0;

  // See TableHealth. Reads only; cheap on a big table unless it holds no NEW row at all.
  virtual Result<TableHealth> inspect_sessions_table() = 0;
};

}  // namespace dr::domain
