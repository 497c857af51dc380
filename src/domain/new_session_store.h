#pragma once

#include "common/result.h"
#include "domain/session.h"

namespace dr::domain {

// `create-session`: stores what the gateway just created. Errors and threading as in
// domain/claim_store.h.
class NewSessionStore {
 public:
  virtual ~NewSessionStore() = default;

  // Stores a session just created at the gateway, as NEW; the audit trail records its
  // creation. kInvalidArgument if the token is already stored or a number is not a number.
  virtual Status insert_new_session(const NewSessionRow& row) = 0;
};

}  // namespace dr::domain
