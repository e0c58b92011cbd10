// Clients parked in BLPOP / BRPOP, and the pushes that serve them.
//
// A PopWaiter belongs to the connection that parks (server.h); the store
// (store.h) keeps a pointer to it in a queue per key it waits on, from
// Store::execute's After::block until it is served or Store::unblock()
// takes it out. Protocol, every step under the store's owner lock:
//   1. BLPOP finds every listed list empty: the store queues the waiter on
//      each key (after those already there) and the command returns
//      After::block; the connection releases the lock and parks.
//   2. A push (LPUSH, RPUSH) marks its key ready. Once the pushing command
//      has replied (with the list's length as if nobody waited, as
//      redis-server 7.0 does), serve() takes the key's waiters oldest
//      first, each popping one value from its own end (BLPOP the head,
//      BRPOP the tail) while the list has any, and tells each (wake) that
//      key and value are set. A served waiter leaves every queue at once.
//   3. The woken connection takes the lock again and replies [key, value].
//      If it finds instead that its peer left (or it timed out, or the
//      server stops), it takes itself out (unblock); if it had been
//      served in the meantime but can no longer reply, give_back() puts
//      the value back where it came from and serves the next waiter, so
//      nothing popped is lost to a client that is gone.
// A key that changes type while clients wait (SET) serves nobody; they
// keep waiting, as in redis-server.
//
// Thread rules: none of its own; every call under the store's owner lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "examples/kv/journal.h"
#include "examples/kv/keyspace.h"

namespace weft::kv {

// One client's BLPOP or BRPOP while it waits. The store fills keys, left
// and timeout_ms; the push that serves it fills key and value.
struct PopWaiter {
  std::vector<std::string> keys;  // in the order given: the first ready one serves
  bool left = true;               // BLPOP pops the head, BRPOP the tail
  std::int64_t timeout_ms = 0;    // 0: no limit
  bool served = false;
  std::string key, value;
  // Called (under the store's lock) once served; the server's wake-up.
  std::function<void()> wake;
};

class Waiters {
 public:
  // Queues `w` on each of its keys, after the waiters already there.
  void add(PopWaiter& w);
  // Takes `w` out of every queue (nothing if it is in none).
  void remove(PopWaiter& w);
  // A push to `key`: serve() looks at it (only if someone waits on it).
  void mark_ready(std::string_view key);
  // Serves the waiters of the keys marked ready (step 2 above) from the
  // lists in `keys` at time `now`; an emptied list is deleted. Each value
  // handed over is logged in `journal` (if enabled) as the pop it was.
  void serve(Keyspace& keys, std::int64_t now, Journal& journal);
  // Clients waiting.
  std::size_t size() const { return count_; }

 private:
  std::unordered_map<std::string, std::deque<PopWaiter*>, KeyHash, std::equal_to<>> queues_;
  std::vector<std::string> ready_;
  std::size_t count_ = 0;
};

}  // namespace weft::kv
