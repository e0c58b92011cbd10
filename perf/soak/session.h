// One connection's life, as a protocol plays it: what to send, what must
// come back, and how the connection ends. The client loop (client.h) owns
// the socket and the epoll registration; a Session only reads and writes.
//
// Protocol between the loop and a Session:
//   1. The loop connects, then makes the Session with the connection's key
//      and a Random seeded from (seed, slot, generation).
//   2. On every epoll event of the socket (edge-triggered), on the timer the
//      Session asked for (wake_at()), and when the loop put it back on its
//      ready list, the loop calls pump(). pump() writes and reads until the
//      socket would block, its plan says wait (an idle period, a read
//      pause, a full pipeline), or its byte budget for one call is spent
//      (it returns Next::again: the loop calls it again soon, since no new
//      edge will come for bytes already there).
//   3. pump() returns what to do with the connection: keep it (wait or
//      again), close it (finished: the plan ended it and every byte owed
//      came back), reset it (the plan ended it with a reset, mid-stream),
//      or reset it after an error it has tallied (failed).
//   4. At the end of the run the loop calls stop(): no new message or batch
//      begins, idle periods and read pauses end, and the connection ends
//      by a half-close, every byte owed still checked.
//   5. The loop checks for stalls: waiting_on_server() and no progress for
//      the stall timeout is an error, and outstanding() bytes are lost.
//
// Thread rules: a Session belongs to the client thread that made it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "perf/soak/pattern.h"
#include "perf/soak/tally.h"

namespace weft::soak {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

enum class Next { wait, again, finished, reset, failed };

// The choices of a workload, from the command line.
struct Workload {
  std::size_t max_size = 64 << 10;
  unsigned max_depth = 8;
  unsigned max_idle_ms = 2000;
  unsigned max_life_ms = 60'000;  // a connection lives 1 s to this long, then ends as planned
};

// What pump() may use: the socket and the loop's scratch buffer.
struct Io {
  int fd;
  std::span<char> scratch;
};

class Session {
 public:
  virtual ~Session() = default;
  virtual Next pump(Io io, Clock::time_point now) = 0;
  virtual void stop(Clock::time_point now) = 0;
  // When pump() wants to be called without an event (end of an idle period
  // or read pause), or kNever.
  virtual Clock::time_point wake_at() const = 0;
  // Whether the server owes something now: bytes or answers not yet back,
  // or bytes it will not take, while this side is not pausing.
  virtual bool waiting_on_server(Clock::time_point now) const = 0;
  // Bytes the server still owes (counted lost if the connection fails).
  virtual std::uint64_t outstanding() const = 0;

  Clock::time_point last_progress{};  // the last byte moved either way (set by pump())
  bool heard = false;                 // a byte came from the server (set by pump())
};

// What both protocols' sessions share: the idle period before the next
// message or request and the read pause (each a time, zero: none), the
// stop, and the pump: write what the plan allows, read what came, until
// neither moves or the budget is spent.
class PacedSession : public Session {
 public:
  Next pump(Io io, Clock::time_point now) final;
  void stop(Clock::time_point now) final;
  Clock::time_point wake_at() const final;

 protected:
  virtual Next write(Io io, Clock::time_point now, bool* moved, std::size_t* budget) = 0;
  virtual Next read(Io io, Clock::time_point now, bool* moved, std::size_t* budget) = 0;
  virtual void on_stop() = 0;  // the protocol's own part of stop(): its planned reset

  Clock::time_point idle_until_{};    // nothing new begins before (zero: none)
  Clock::time_point paused_until_{};  // nothing is read before (zero: none)
  bool stopping_ = false;             // stop(): end the connection at the next boundary
};

std::unique_ptr<Session> make_echo_session(const Workload& w, std::uint64_t key, Random rnd,
                                           Tally& t, Clock::time_point now);
std::unique_ptr<Session> make_http_session(const Workload& w, std::uint64_t key, Random rnd,
                                           Tally& t, Clock::time_point now);

// Shared by both protocols: one read or write, its result sorted.
enum class IoResult { moved, blocked, end, reset, failed };
// send() up to `data.size()` bytes; `*n` gets how many went. reset:
// ECONNRESET or EPIPE; failed: any other error.
IoResult send_some(int fd, std::span<const char> data, std::size_t* n);
// recv() into `into`; `*n` gets how many came; end: the server's FIN.
IoResult recv_some(int fd, std::span<char> into, std::size_t* n);

// The most bytes one pump() call moves before it lets other connections go.
constexpr std::size_t kPumpBudget = 1 << 20;

}  // namespace weft::soak
