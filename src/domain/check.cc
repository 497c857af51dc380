#include "domain/check.h"

namespace dr::domain {

ApplyCounts& ApplyCounts::operator+=(const ApplyCounts& o) {
  completed += o.completed;
  expired += o.expired;
  failed += o.failed;
  still_new += o.still_new;
  stale += o.stale;
  conflicts += o.conflicts;
  anomalies += o.anomalies;
  unchecked += o.unchecked;
  lease_lost += o.lease_lost;
  return *this;
}

nlohmann::json ApplyCounts::to_json() const {
  return {{"completed", completed}, {"expired", expired},     {"failed", failed},
          {"still_new", still_new}, {"stale", stale},         {"conflicts", conflicts},
          {"anomalies", anomalies}, {"unchecked", unchecked}, {"lease_lost", lease_lost}};
}

}  // namespace dr::domain
