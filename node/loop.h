// weft/node/loop.h — a Node.js-style event loop on a weft runtime: callbacks
// instead of straight-line code, run in Node's phase order, for programs
// ported from Node and for comparing the two ways of writing a service on
// the same runtime.
//
//   int main() {
//     weft::RuntimeOptions o;
//     o.mode = weft::Mode::single;          // one thread, one ring: Node's model
//     weft::Runtime rt(o);
//     rt.run([] {
//       weft::node::Loop loop;
//       loop.run([&] {                        // the "main module"
//         loop.set_timeout([] { std::puts("timeout"); }, 0);
//         loop.set_immediate([] { std::puts("immediate"); });
//         loop.next_tick([] { std::puts("tick"); });
//       });
//     });
//   }
//
// Order (as Node 20 on libuv 1.46+, checked against real Node by
// tests/node_order):
//   run(main) runs `main`, drains the tick and microtask queues, then loops
//   while anything keeps the loop alive (a timer, an immediate, an open
//   server or socket, a file read in flight, a close callback to run):
//     timers   (once before the first iteration, then at the end of each)
//              every timer due at the loop's time, earliest deadline first,
//              equal deadlines in the order they were set
//     pending  what was deferred to it: a socket's FIN (end() with nothing
//              left to write), as libuv's uv_shutdown feeds its pending
//              queue; it runs again right after the poll phase's callbacks
//              (up to eight rounds, libuv 1.45+), so an end() from an I/O
//              callback sends the FIN before the check phase, one from a
//              timer or immediate at the next iteration's start
//     poll     waits for I/O (not at all if an immediate, close or pending
//              callback is waiting, though what is ready is still
//              collected; at most until the next timer), then runs the
//              callbacks of what completed, in completion order
//     check    the immediates set before this phase began
//     close    close callbacks ('close' of a socket)
//   After every callback, the next-tick queue is drained, then the microtask
//   queue; ticks queued by microtasks run after the microtasks, and so on
//   until both are empty (Node's processTicksAndRejections).
//   TCP close (Node's net.js): a socket is destroyed, and its descriptor
//   closed, in the callback where both its sides are done (the peer's end
//   read and its own FIN sent), or by destroy(); its 'close' follows in the
//   close phase. A server counts the connection out at the destroy, not at
//   'close', so server.close()'s callback (a tick) may run before the last
//   socket's 'close'.
//   Time: the loop's clock (now()) is read at the start of run() and before
//   each timers phase, in whole milliseconds, as libuv caches it; a timer set
//   with delay d is due at now() + max(d, 1).
//
// How it sits on weft. Every callback runs on the fiber that called run().
// I/O is done by helper fibers with weft's blocking calls (a reader per
// socket, a writer while writes are queued, an acceptor per server, one
// fiber per file read); each hands its result to the loop as a callback,
// which the poll phase runs. The loop fiber parks in the poll phase, which
// is when those fibers run; so in single mode everything happens on one
// thread, and a callback that computes holds up every other one, as in
// Node. In multi mode the helper fibers may run on other workers; the loop
// state they touch is locked.
//
// Errors: an exception thrown by a callback ends run() (as an uncaught
// exception ends a Node process): open servers and sockets are closed and
// their helper fibers waited for before it propagates, so the loop may then
// be destroyed safely. Socket errors go to on_error, then the socket closes.
//
// Thread rules: a Loop is made, run and used on one fiber (its callbacks
// run there too); Socket and Server methods are called from its callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <weft/sync/event.h>

namespace weft::node {

using Callback = std::function<void()>;

// What set_timeout / set_interval / set_immediate return, for clearing.
struct TimerHandle {
  std::uint64_t id = 0;
};
struct ImmediateHandle {
  std::uint64_t id = 0;
};

class Socket;
class Server;

// Where a Loop reads its time. By default weft's clock; a ManualClock is
// time that moves only when told, for tests and the timers fuzzer
// (fuzz/node_timers.cc): a loop on one never waits for a timer. When it
// would wait (nothing to run now, and nothing posted by I/O after a poll
// that does not wait), the clock jumps to the next timer's due time
// instead, as paused time does in Tokio's tests, so a program of timers
// runs at once and the same way every time. I/O that takes longer than that
// poll completes after the timers that were due before it.
class ManualClock {
 public:
  explicit ManualClock(std::uint64_t start_ms = 0) : now_ms_(start_ms) {}
  std::uint64_t now_ms() const { return now_ms_; }
  // Time passes (a callback that computes for `ms`).
  void advance(std::uint64_t ms) { now_ms_ += ms; }
  // The loop has nothing to do before `due_ms`: time goes there (never back).
  void skip_to(std::uint64_t due_ms) {
    if (due_ms > now_ms_) now_ms_ = due_ms;
  }

 private:
  std::uint64_t now_ms_;
};

class Loop {
 public:
  Loop();
  // A loop whose time is `clock` (see ManualClock), which must outlive it.
  explicit Loop(ManualClock& clock);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Runs `main` as the main module, then the loop until nothing keeps it
  // alive. On a fiber; once.
  void run(const Callback& main);

  TimerHandle set_timeout(Callback cb, long delay_ms = 0);
  TimerHandle set_interval(Callback cb, long delay_ms = 0);
  void clear_timeout(TimerHandle t);
  void clear_interval(TimerHandle t) { clear_timeout(t); }
  ImmediateHandle set_immediate(Callback cb);
  void clear_immediate(ImmediateHandle i);
  void next_tick(Callback cb);
  void queue_microtask(Callback cb);

  // fs.readFile: the whole file, or the error, in the poll phase.
  void read_file(const std::string& path, std::function<void(std::error_code, std::string)> cb);

  // net.createServer: `on_connection` runs (poll phase) for each accepted
  // socket; call listen() to start.
  std::shared_ptr<Server> create_server(std::function<void(std::shared_ptr<Socket>)> on_connection);
  // net.connect: `on_connect` runs (poll phase) once connected; a failure
  // goes to the socket's on_error.
  std::shared_ptr<Socket> connect(std::uint16_t port, const std::string& host, Callback on_connect);

  // The loop's clock: milliseconds since the loop was made, as last read.
  std::uint64_t now() const { return now_; }

 private:
  friend class Socket;
  friend class Server;
  struct Timer {
    std::uint64_t id;
    long delay;
    bool repeat;
    Callback cb;
  };
  struct Immediate {
    std::uint64_t id;
    Callback cb;
  };
  using TimerKey = std::pair<std::uint64_t, std::uint64_t>;  // (deadline, order set)

  TimerHandle add_timer(Callback cb, long delay_ms, bool repeat);
  void update_time();
  void invoke(const Callback& cb);  // the callback, then the tick and microtask queues
  void drain_ticks();
  bool alive() const;
  void run_timers();
  void poll();
  void run_pending();
  void run_check();
  void run_closing();
  // Any thread (helper fibers): hands a callback to the poll phase.
  void post(Callback cb);
  // Loop fiber: a handle (server, socket) or request (file read) that keeps
  // the loop alive.
  void hold() { ++active_; }
  void release() { --active_; }
  // Loop fiber: what closes an open server or socket at once, run if a
  // callback's exception ends run().
  void track(const void* handle, Callback close_now) { open_[handle] = std::move(close_now); }
  void untrack(const void* handle) { open_.erase(handle); }
  void close_everything();
  void wait_for_helpers();
  void defer_close(Callback cb) { closing_.push_back(std::move(cb)); }
  // Loop fiber: runs `cb` in the next pending phase (libuv's pending queue:
  // after this poll phase's callbacks, else at the next iteration's start).
  void defer_pending(Callback cb) { pending_.push_back(std::move(cb)); }
  // Spawns a helper fiber; run() waits for every one to end before it
  // returns, so none posts into a loop that is gone.
  void helper(const char* name, std::function<void()> fn);

  std::chrono::steady_clock::time_point origin_;  // the loop's clock starts here
  ManualClock* manual_ = nullptr;                  // or it is this one
  std::uint64_t now_ = 0;
  std::uint64_t next_id_ = 1;
  std::uint64_t next_order_ = 0;
  std::map<TimerKey, Timer> timers_;
  std::unordered_map<std::uint64_t, TimerKey> timer_keys_;  // live timers by id
  std::uint64_t running_timer_ = 0;     // the timer whose callback runs now
  bool running_timer_cleared_ = false;  // ... and it was cleared meanwhile
  std::deque<Immediate> immediates_;
  std::unordered_set<std::uint64_t> live_immediates_;
  std::deque<Callback> ticks_;
  std::deque<Callback> microtasks_;
  std::deque<Callback> pending_;
  std::deque<Callback> closing_;
  long active_ = 0;  // handles and requests that keep the loop alive
  std::mutex posted_mutex_;
  std::deque<Callback> posted_;  // guarded by posted_mutex_
  Event posted_event_;
  std::unordered_map<const void*, Callback> open_;  // see track()
  // Helper fibers still running; the last one sets helpers_idle_ under
  // helpers_mutex_, so run() knows it is done with the loop once it has
  // seen zero under the same mutex.
  std::mutex helpers_mutex_;
  long helpers_ = 0;  // guarded by helpers_mutex_
  Event helpers_idle_;
};

// A TCP connection, as net.Socket: 'data', 'end', 'close', 'error'
// callbacks; writes queue in order. allowHalfOpen is false: when the peer
// ends, this side ends too once its queued writes are out, and the socket
// closes when both sides are done.
class Socket : public std::enable_shared_from_this<Socket> {
 public:
  void on_data(std::function<void(std::string_view)> cb) { on_data_ = std::move(cb); }
  void on_end(Callback cb) { on_end_ = std::move(cb); }
  void on_close(Callback cb) { on_close_ = std::move(cb); }
  void on_error(std::function<void(std::error_code)> cb) { on_error_ = std::move(cb); }
  // Queues `data`; `done` runs (poll phase) once it is written.
  // A write after end() is not sent: on_error gets EPIPE, as a tick (Node:
  // ERR_STREAM_WRITE_AFTER_END).
  void write(std::string data, Callback done = {});
  // Queues `data`, then ends this side (FIN) once everything is written:
  // with nothing queued, in the pending phase (see the order above); else
  // in the poll phase after the writer's last write.
  void end(std::string data = {});
  // Closes at once (a connect in progress is cancelled); queued writes are
  // dropped. 'close' follows (close phase), after which the socket lets go
  // of its callbacks (so a callback may hold the socket without a leak).
  void destroy();

  // Made by Loop::connect and Server (not by hand).
  struct Private;
  Socket(Loop& loop, const Private&);
  ~Socket();

 private:
  friend class Loop;
  friend class Server;
  struct State;
  void track();  // on the loop's list of open handles, held weakly
  void start_reading();
  void connected();
  void flush();         // with the write lock held
  void start_writer();  // with the write lock held
  void send_fin();
  void write_side_done();
  void peer_ended();
  void fail(std::error_code e);
  void maybe_close();

  Loop& loop_;
  std::unique_ptr<State> s_;
  std::function<void(std::string_view)> on_data_;
  Callback on_end_;
  Callback on_close_;
  std::function<void(std::error_code)> on_error_;
  std::shared_ptr<Server> server_;  // the server that accepted it, if any
};

// A listening TCP socket, as net.Server.
class Server : public std::enable_shared_from_this<Server> {
 public:
  // Binds and listens; `on_listening` runs as a next tick (Node emits
  // 'listening' so). Binding errors throw std::system_error.
  void listen(std::uint16_t port, const std::string& host = "127.0.0.1", Callback on_listening = {});
  std::uint16_t port() const;
  // Stops accepting; `on_close` runs as a next tick once every accepted
  // socket has been destroyed (at once if none is open), as Node's 'close':
  // so before the last socket's own 'close', which waits for the close phase.
  void close(Callback on_close = {});

  struct Private;
  Server(Loop& loop, std::function<void(std::shared_ptr<Socket>)> on_connection, const Private&);
  ~Server();

 private:
  friend class Socket;
  struct State;
  void connection_closed();

  Loop& loop_;
  std::function<void(std::shared_ptr<Socket>)> on_connection_;
  std::unique_ptr<State> s_;
  Callback on_close_;
  bool closing_ = false;
  long connections_ = 0;
};

}  // namespace weft::node
