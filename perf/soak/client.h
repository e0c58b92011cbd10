// The soak's client: N connection slots driven by one epoll loop, one
// thread, non-blocking sockets; no weft.
//
// A slot is a place for one connection at a time. It connects, plays a
// Session (session.h) until the session ends the connection (or the
// server breaks it), and connects again, with the next generation's key,
// until the run ends. So the count of connections held stays near N while
// each of them comes and goes.
//
// Phases, each its own call (the caller samples the server between them):
//   1. open(): connects every slot and plays sessions on those that are
//      open; returns when all N have been open once, or at its deadline. At
//      most --max-connecting connections are under way at once: handshaking,
//      or open but not yet answered on. (The handshake ends before the
//      server accepts, so this is what keeps its accept queue, as long as
//      its listen backlog, from overflowing, where the kernel would drop
//      SYNs and connects would take seconds.)
//   2. run_until(): plays on, reconnecting slots whose connection ended.
//   3. drain(): stops every session (each ends with a half-close after its
//      last bytes are checked), opens nothing new, and returns when every
//      slot is closed, or at its deadline (what is still owed is lost).
//
// Timers: a slot's idle period, read pause, connect timeout and reconnect
// delay are entries in one heap, each stamped with the slot's generation and
// a sequence number, so an entry made stale by a later one is skipped. Stalls
// are found by a sweep over the open slots once a second.
//
// Thread rules: one thread owns a Client and calls everything on it.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <vector>

#include "perf/soak/options.h"
#include "perf/soak/session.h"
#include "perf/soak/tally.h"

namespace weft::soak {

class Client {
 public:
  Client(const Options& options, const sockaddr_in& server, Tally& tally);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Called every 100 ms or so while a phase runs; false ends the phase
  // early (the server died).
  using Tick = std::function<bool()>;

  // Phase 1; true if every slot was open at once before `deadline`.
  bool open(Clock::time_point deadline, const Tick& tick);
  // Phase 2; false if a tick ended it early.
  bool run_until(Clock::time_point end, const Tick& tick);
  // Phase 3; true if every slot closed before `deadline`.
  bool drain(Clock::time_point deadline, const Tick& tick);

  // Forgets the time that went by outside the loop (a sample that stopped
  // the server, or this process): no stall is counted for it.
  void forgive(Clock::time_point now);

  int held() const { return open_; }                          // connections open now
  int peak() const { return peak_; }                          // the most open at once
  int connecting() const { return connecting_; }              // handshakes under way
  std::size_t waiting() const { return to_connect_.size(); }  // slots waiting to begin one

 private:
  enum class State { down, connecting, open, done };
  struct Slot {
    int fd = -1;
    State state = State::down;
    std::uint32_t generation = 0;
    std::uint32_t timer_seq = 0;  // the live timer entry's number
    Clock::time_point timer_at = kNever;
    bool ready = false;      // on the ready list
    bool confirmed = false;  // open, and the server has answered on it
    std::unique_ptr<Session> session;
  };
  struct Timer {
    Clock::time_point at;
    std::uint32_t slot;
    std::uint32_t generation;
    std::uint32_t seq;
    bool operator>(const Timer& o) const { return at > o.at; }
  };

  bool loop(Clock::time_point until, const Tick& tick, const std::function<bool()>& done);
  void poll_once(Clock::time_point until);
  void start_connect(std::uint32_t i, Clock::time_point now);
  void connected(std::uint32_t i, Clock::time_point now);
  void pump(std::uint32_t i, Clock::time_point now);
  void end(std::uint32_t i, Next how, Clock::time_point now);
  void arm(std::uint32_t i, Clock::time_point at);
  void fire_timers(Clock::time_point now);
  void sweep_stalls(Clock::time_point now);
  void connect_more(Clock::time_point now);

  const Options& o_;
  const sockaddr_in server_;
  Tally& t_;
  Workload workload_;
  int epoll_ = -1;
  std::vector<Slot> slots_;
  std::vector<char> scratch_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  std::vector<std::uint32_t> ready_;  // slots whose pump() said again
  std::deque<std::uint32_t>
      to_connect_;               // slots waiting for a handshake place, first come first served
  std::size_t opened_once_ = 0;  // slots whose first connection opened
  std::size_t done_ = 0;         // slots closed for good (drain)
  int open_ = 0;
  int peak_ = 0;
  int connecting_ = 0;
  int unconfirmed_ = 0;  // open, the server not heard from yet: perhaps not yet accepted
  bool stopping_ = false;
  Clock::time_point next_sweep_{};
};

}  // namespace weft::soak
