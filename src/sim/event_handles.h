#pragma once

// Owners for libevent's C objects in the simulator. Internal to src/sim (only .cc files include
// this header). Each owner is a unique_ptr with the matching free call: movable, never copyable.
// Destroy in the reverse order of creation: events and evhttp before their event_base.

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <memory>

namespace dr::sim::internal {

struct EventBaseDeleter {
  void operator()(event_base* b) const { event_base_free(b); }
};
struct EvhttpDeleter {
  void operator()(evhttp* h) const { evhttp_free(h); }  // also frees its bound listeners
};
struct EventDeleter {
  void operator()(event* e) const { event_free(e); }  // deletes a pending event first
};
struct ListenerDeleter {
  void operator()(evconnlistener* l) const { evconnlistener_free(l); }
};

using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EvhttpPtr = std::unique_ptr<evhttp, EvhttpDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerDeleter>;

}  // namespace dr::sim::internal
