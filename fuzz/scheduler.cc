// Fuzz target: the scheduler and the sync primitives, driven by a small
// program that the input encodes, run on a fresh runtime.
//
// The program. Byte 0 chooses the runtime: bit 0 two workers (else one),
// bit 1 single mode (one worker), bit 2 the epoll backend (else io_uring,
// or epoll where the kernel refuses it), bit 3 RuntimeOptions::shuffle,
// bit 4 no idle spin, bits 5-6 the Semaphore's permits, less one. Byte 1:
// channel 1's capacity, 1 + (bits 0-1);
// channel 2's, bits 2-4 (0 is unbuffered); the root fibers, 1 + (bits
// 5-7). Channel 0 is unbuffered. The rest is ops of three bytes
// [kind | arg << 4][x][y], read into scripts: an `end` op, or
// kOpsPerScript ops, closes a script and starts the next (kScripts at
// most). Root fiber k runs script k; every fiber runs one script:
//   end     ends the script
//   spawn   a fiber running script x (mod scripts); arg&1: detached, else
//           kept for a join (at the latest when the script ends)
//   join    the oldest child kept (x&1: the newest); it returns its id
//   yield
//   sleep   for 0, 50 us, 200 us or 1 ms (x&3); arg&1: with wait(y)
//   send    a new value on channel x (mod 3), with wait(y) (ops 14 too)
//   recv    from channel x (mod 3), with wait(y) (ops 15 too)
//   close   channel x (mod 3)
//   select  2 cases (3 if arg&8): case i on channel ((x >> 2i) & 3) mod 3,
//           a send if arg bit i, else a receive; with wait(y)
//   lock    arg&3: 0 the Mutex, 1 the Mutex for its CondVar, 2 the RWMutex
//           exclusive, 3 shared; x&3: lock(), try_lock, lock(wait(y)),
//           lock(); inside, (x >> 2) & 3: nothing, a yield, a 50 us sleep,
//           two yields; for the CondVar: a ticket and notify_one, two and
//           notify_all, a wait(wait(y)) for a ticket (taking it), one
//           wait(wait(y)); then unlock
//   cancel  x&3: token 0, token 1, the innermost CancelScope, the block's
//           TaskGroup
//   event   x&1: wait(wait(y)) for the Event, else set it (never reset);
//           arg&1: a permit of the Semaphore instead, taken as lock takes
//           the Mutex (x), held for what lock does inside, given back
//   group   arg&1: wait for the block's TaskGroup; else start script x in
//           it (made on first use with the deadline and token of wait(y));
//           the child fails by (arg >> 1) & 3: 1 an error result, 2 a throw
//   scope   the next 1 + (x & 7) ops run in a CancelScope with the
//           deadline and token of wait(y); a block (the script, or a
//           scope's ops) has its own TaskGroup, ended with the block
// wait(y): the deadline by y&7: none, already past, now, 50 us, 200 us,
// 1 ms, 2 ms, or 7: the try form (try_send, try_recv, try_select,
// try_lock, is_set); the token by (y >> 3) & 3: none, token 0, token 1,
// the innermost scope's; y&0x20: scoped = false. Sleeps and deadlines
// spend time from a budget (kFiberBudget a fiber, kRunBudget a run); once
// it is spent they take none (a deadline is now). At most kMaxFibers
// fibers are started, kMaxDepth deep.
//
// How every run ends, even when fibers wait on each other for ever (a
// plain receive that no send will meet):
//   1. A fiber counts as `stuck` while it is in a wait with no deadline of
//      its own: a channel operation, a select, an Event wait, a join, a
//      TaskGroup's wait or end, a CondVar wait. It adds itself, and sets
//      `progress`, before it parks; a fiber that ends also sets `progress`.
//   2. The main fiber waits on `progress` until every live fiber is stuck,
//      then closes every channel, sets the Event and, under the Mutex,
//      `released` with a notify_all (all sticky: a CondVar waiter checks
//      `released` first), which ends every such wait for good.
//   3. Joins and group waits end as the children do; the main fiber joins
//      the roots, waits until no fiber is live, and checks the ledger.
// A count read while a fiber is just leaving a wait may close the channels
// early; that changes what the program does, never what it must satisfy.
// RuntimeOptions::detect_deadlock makes a wait that nothing can end a
// failure, and a watchdog thread one that runs past kWatchdog.
// Rejected: a deadline on every wait (ends runs by itself, but a plain send
// or receive takes another path: sync/channel.cc's solo waits); timing-
// based checks beyond "a deadline does not pass early" (flaky).
//
// Invariants (fuzz/check.h aborts on a violation):
//   every value  a send's sender learns one outcome: sent, or not (send()
//                dropped it, try_send and a select's send case left it in
//                the caller's variable); a value sent is received exactly
//                once, by a fiber or by the final drain of its closed
//                channel (which holds just the values sent on it and not
//                received), on the channel it was sent on; one never sent is
//                never received; each is destroyed exactly once; a
//                receiver gets one sender's values on one channel in the
//                order they were sent;
//   every wait   ends as documented: a timeout only past a deadline it
//                obeys, a cancel only when a token it obeys is cancelled,
//                channel_closed only on a closed channel (a receive: closed
//                and drained); a sleep does not end before its time; an
//                Event wait that succeeds finds it set; a select makes
//                exactly the case it names happen;
//   locks        one fiber at a time inside the Mutex (a CondVar wait
//                returns holding it, with its condition true, or notified),
//                one writer and no reader (or only readers) inside the
//                RWMutex, at most its permits inside the Semaphore;
//   fibers       a join returns the child's id; a TaskGroup's wait fails
//                exactly when a child failed, with its error or exception;
//                every fiber ends (no deadlock, within kWatchdog); no fiber
//                is left live (weft::stats(), and the runtime's counters,
//                which count each fiber spawned once).
//
// Thread rules: the fuzzer calls LLVMFuzzerTestOneInput on one thread; the
// program's fibers run on the runtime's workers, sharing World.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/weft.h>

#include "fuzz/check.h"

namespace weft::fuzz {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kScripts = 8;
constexpr std::size_t kOpsPerScript = 24;
constexpr std::uint32_t kMaxFibers = 32;  // started in one run, roots included
constexpr int kMaxDepth = 4;              // a root is at depth 0
constexpr std::size_t kChannels = 3;
constexpr std::size_t kTokens = 2;
constexpr std::uint32_t kMaxValues = kMaxFibers * kOpsPerScript * 3;  // 3 a select at most
constexpr Clock::duration kFiberBudget = 4ms;
constexpr Clock::duration kRunBudget = 16ms;
constexpr std::chrono::seconds kWatchdog{20};

// ---- the program ------------------------------------------------------------------------

enum class Kind : std::uint8_t {
  end,
  spawn,
  join,
  yield,
  sleep,
  send,
  recv,
  close,
  select,
  lock,
  cancel,
  event,
  group,
  scope,
  send2,
  recv2,
};

struct Op {
  Kind kind;
  std::uint8_t arg;  // the high half of the op's first byte
  std::uint8_t x;
  std::uint8_t y;
};

struct Program {
  bool two_workers = false;
  bool single = false;
  bool epoll = false;
  bool shuffle = false;
  bool no_spin = false;
  std::size_t permits = 1;  // the Semaphore's
  std::size_t capacity[kChannels] = {0, 1, 0};
  std::size_t roots = 1;
  std::vector<std::vector<Op>> scripts;
};

Program decode(const std::uint8_t* data, std::size_t size) {
  Program p;
  const std::uint8_t config = size > 0 ? data[0] : 0;
  const std::uint8_t shape = size > 1 ? data[1] : 0;
  p.two_workers = (config & 1) != 0;
  p.single = (config & 2) != 0;
  p.epoll = (config & 4) != 0;
  p.shuffle = (config & 8) != 0;
  p.no_spin = (config & 16) != 0;
  p.permits = 1 + ((config >> 5) & 3);
  p.capacity[1] = 1 + (shape & 3);
  p.capacity[2] = (shape >> 2) & 7;
  p.roots = 1 + (shape >> 5);
  p.scripts.emplace_back();
  for (std::size_t i = 2; i + 3 <= size; i += 3) {
    const Op op{static_cast<Kind>(data[i] & 15), static_cast<std::uint8_t>(data[i] >> 4),
                data[i + 1], data[i + 2]};
    if (op.kind != Kind::end) p.scripts.back().push_back(op);
    if (op.kind == Kind::end || p.scripts.back().size() == kOpsPerScript) {
      if (p.scripts.size() == kScripts) break;
      p.scripts.emplace_back();
    }
  }
  p.roots = std::min(p.roots, p.scripts.size());
  return p;
}

// ---- the world the fibers share -------------------------------------------------------

// What became of one value; each field is counted by the side that knows.
struct Record {
  std::atomic<int> sent{0};  // its sender saw it go
  std::atomic<int> kept{0};  // its sender saw it not go (dropped, or back in hand)
  std::atomic<int> received{0};
  std::atomic<int> destroyed{0};
  std::atomic<std::uint8_t> channel{0};
};

struct Item {
  Record* record;
  std::uint32_t id;
  std::uint32_t sender;  // the sending fiber's id
  std::uint32_t seq;     // the sender's count of values made before it
  std::uint8_t channel;
  ~Item() { record->destroyed.fetch_add(1); }
};
using Value = std::unique_ptr<Item>;

struct World {
  explicit World(const Program& p)
      : program(p),
        channels{Channel<Value>(p.capacity[0]), Channel<Value>(p.capacity[1]),
                 Channel<Value>(p.capacity[2])},
        semaphore(p.permits),
        records(std::make_unique<Record[]>(kMaxValues)) {}

  const Program& program;
  std::array<Channel<Value>, kChannels> channels;
  CancelToken tokens[kTokens];
  Mutex mutex;
  CondVar condvar;        // with `mutex`
  int tickets = 0;        // what CondVar waiters wait for; guarded by mutex
  int notifies = 0;       // guarded by mutex
  bool released = false;  // step 2 at the top happened; guarded by mutex
  RWMutex rw;
  Event event;
  Semaphore semaphore;
  std::atomic<int> in_mutex{0};
  std::atomic<int> permits_held{0};
  std::atomic<int> writers{0};
  std::atomic<int> readers{0};
  std::unique_ptr<Record[]> records;
  std::atomic<std::uint32_t> next_value{0};
  std::atomic<std::uint32_t> next_fiber{0};
  std::atomic<std::int64_t> budget{std::chrono::nanoseconds(kRunBudget).count()};
  std::atomic<int> live{0};   // script fibers started and not ended
  std::atomic<int> stuck{0};  // of which in a wait only step 2 may end (see the top)
  Event progress;
};

// The order in which one receiver got each sender's values on each channel.
struct Receiver {
  std::array<std::int64_t, kMaxFibers * kChannels> last;
  Receiver() { last.fill(-1); }
};

void take(Receiver& r, std::size_t c, Value v) {
  check(v != nullptr, "a value received is a value");
  check(v->channel == c, "a value arrives on the channel it was sent on");
  check(v->record->received.fetch_add(1) == 0, "no value is received twice");
  std::int64_t& last = r.last[v->sender * kChannels + c];
  check(static_cast<std::int64_t>(v->seq) > last,
        "a receiver gets one sender's values on one channel in the order they were sent");
  last = v->seq;
}

// Counts the calling fiber stuck (step 1 at the top) while it lives.
class Stuck {
 public:
  Stuck(World& w, bool counts) : w_(counts ? &w : nullptr) {
    if (w_ == nullptr) return;
    w_->stuck.fetch_add(1);
    w_->progress.set();
  }
  ~Stuck() {
    if (w_ != nullptr) w_->stuck.fetch_sub(1);
  }
  Stuck(const Stuck&) = delete;
  Stuck& operator=(const Stuck&) = delete;

 private:
  World* w_;
};

// ---- one fiber's script ---------------------------------------------------------------

struct Group {
  explicit Group(const WaitOptions& options) : group(options) {}
  TaskGroup group;
  std::atomic<int> errors{0};  // children that returned an error
  std::atomic<int> throws{0};  // children that threw
};

struct Child {
  JoinHandle<std::uint32_t> handle;
  std::uint32_t id;
};

struct FiberState {
  FiberState(World& world, std::uint32_t fiber, int d, const TaskGroup* g)
      : w(world), id(fiber), depth(d), group(g) {}
  World& w;
  std::uint32_t id;
  int depth;
  const TaskGroup* group;  // the group whose scope this fiber runs in, or null
  std::vector<CancelScope*> scopes;
  std::deque<Child> children;
  Clock::duration budget = kFiberBudget;
  std::uint32_t made = 0;  // values made
  Receiver seen;

  // The earliest deadline of the scopes it runs in.
  Deadline scope_deadline() const {
    if (!scopes.empty()) return scopes.back()->deadline();
    return group != nullptr ? group->deadline() : kNoDeadline;
  }
  bool scope_cancelled() const {
    for (const CancelScope* s : scopes) {
      if (s->cancelled()) return true;
    }
    return group != nullptr && group->cancelled();
  }
};

// `d` if the fiber's and the run's budgets still hold it (spent then), else 0.
Clock::duration spend(FiberState& f, Clock::duration d) {
  if (d <= Clock::duration::zero() || f.budget < d) return Clock::duration::zero();
  const std::int64_t ns = std::chrono::nanoseconds(d).count();
  std::int64_t left = f.w.budget.load();
  do {
    if (left < ns) return Clock::duration::zero();
  } while (!f.w.budget.compare_exchange_weak(left, left - ns));
  f.budget -= d;
  return d;
}

struct Wait {
  WaitOptions options;
  bool try_form = false;
};

Wait wait_of(FiberState& f, std::uint8_t y) {
  static constexpr Clock::duration kDeadlines[] = {0us, 0us, 0us, 50us, 200us, 1ms, 2ms, 0us};
  Wait out;
  const unsigned code = y & 7;
  if (code == 1) out.options.deadline = Clock::now() - 1ms;
  if (code == 2) out.options.deadline = Clock::now();
  if (code >= 3 && code <= 6) out.options.deadline = Clock::now() + spend(f, kDeadlines[code]);
  out.try_form = code == 7;
  switch ((y >> 3) & 3) {
    case 1:
    case 2:
      out.options.cancel = &f.w.tokens[((y >> 3) & 3) - 1];
      break;
    case 3:
      if (!f.scopes.empty()) out.options.cancel = &f.scopes.back()->token();
      break;
    default:
      break;
  }
  out.options.scoped = (y & 0x20) == 0;
  return out;
}

// A wait that ended with error `e` (not channel_closed) ended as
// documented. `scoped`: the call obeys the fiber's scopes.
void check_wait_end(const std::error_code& e, const WaitOptions& o, const FiberState& f,
                    bool scoped = true) {
  const bool obeys = scoped && o.scoped;
  if (e == std::errc::timed_out) {
    const Deadline d = obeys ? std::min(o.deadline, f.scope_deadline()) : o.deadline;
    check(d != kNoDeadline, "a wait with no deadline does not time out");
    check(Clock::now() >= d, "a wait does not time out before its deadline");
  } else if (e == std::errc::operation_canceled) {
    check((o.cancel != nullptr && o.cancel->cancelled()) || (obeys && f.scope_cancelled()),
          "a wait ends cancelled only when a token it obeys is cancelled");
  } else {
    check(false, "a wait ends with a value, a timeout or a cancel");
  }
}

Value make_value(FiberState& f, std::size_t c) {
  const std::uint32_t id = f.w.next_value.fetch_add(1);
  // Each fiber runs each op of its script at most once.
  check(id < kMaxValues, "a run makes at most kMaxValues values");
  Record* r = &f.w.records[id];
  r->channel.store(static_cast<std::uint8_t>(c));
  return Value(new Item{r, id, f.id, f.made++, static_cast<std::uint8_t>(c)});
}

void run_script(World& w, std::size_t script, std::uint32_t id, int depth, const TaskGroup* group);

// A fiber id for a new fiber, counted live, or nothing past the limits.
std::optional<std::uint32_t> admit(World& w, int depth) {
  if (depth > kMaxDepth) return std::nullopt;
  const std::uint32_t id = w.next_fiber.fetch_add(1);
  if (id >= kMaxFibers) return std::nullopt;
  w.live.fetch_add(1);
  return id;
}

std::string name_of(std::size_t script, std::uint32_t id) {
  return "script " + std::to_string(script) + " #" + std::to_string(id);
}

void op_spawn(FiberState& f, const Op& op) {
  const std::size_t script = op.x % f.w.program.scripts.size();
  const std::optional<std::uint32_t> admitted = admit(f.w, f.depth + 1);
  if (!admitted) return;
  const std::uint32_t id = *admitted;
  auto h = weft::spawn(
      [&w = f.w, script, id, depth = f.depth + 1] {
        run_script(w, script, id, depth, nullptr);
        return id;
      },
      {.name = name_of(script, id)});
  if ((op.arg & 1) != 0) {
    h.detach();
  } else {
    f.children.push_back({std::move(h), id});
  }
}

void join_one(FiberState& f, bool newest) {
  if (f.children.empty()) return;
  Child c = std::move(newest ? f.children.back() : f.children.front());
  if (newest) {
    f.children.pop_back();
  } else {
    f.children.pop_front();
  }
  Stuck stuck(f.w, true);
  check(c.handle.join() == c.id, "a join returns what the child returned");
}

void op_sleep(FiberState& f, const Op& op) {
  static constexpr Clock::duration kSleeps[] = {0us, 50us, 200us, 1ms};
  const Clock::duration d = spend(f, kSleeps[op.x & 3]);
  const Deadline began = Clock::now();
  if ((op.arg & 1) == 0) {
    weft::sleep_for(d);
    check(Clock::now() >= began + d, "a sleep does not end early");
    return;
  }
  const Wait wait = wait_of(f, op.y);
  const Result<void> r = weft::sleep_for(d, wait.options);
  if (r) {
    check(Clock::now() >= began + d, "a sleep does not end early");
  } else {
    check_wait_end(r.error(), wait.options, f);
  }
}

void op_send(FiberState& f, const Op& op) {
  const std::size_t c = op.x % kChannels;
  Channel<Value>& ch = f.w.channels[c];
  Value v = make_value(f, c);
  Record* record = v->record;
  const Wait wait = wait_of(f, op.y);
  if (wait.try_form) {
    if (ch.try_send(v)) {
      check(v == nullptr, "a value try_send sent has left the caller's variable");
      record->sent.fetch_add(1);
    } else {
      check(v != nullptr, "a try_send that fails leaves the value in the caller's variable");
      record->kept.fetch_add(1);
    }
    return;
  }
  Result<void> r;
  {
    Stuck stuck(f.w, wait.options.deadline == kNoDeadline);
    r = ch.send(std::move(v), wait.options);
  }
  if (r) {
    record->sent.fetch_add(1);
    return;
  }
  record->kept.fetch_add(1);
  check(record->destroyed.load() == 1, "a send that fails drops the value");
  if (r.error() == errc::channel_closed) {
    check(ch.closed(), "a send fails as closed only on a closed channel");
  } else {
    check_wait_end(r.error(), wait.options, f);
  }
}

void op_recv(FiberState& f, const Op& op) {
  const std::size_t c = op.x % kChannels;
  Channel<Value>& ch = f.w.channels[c];
  const Wait wait = wait_of(f, op.y);
  if (wait.try_form) {
    if (std::optional<Value> v = ch.try_recv()) take(f.seen, c, std::move(*v));
    return;
  }
  Result<Value> r = errc::channel_closed;
  {
    Stuck stuck(f.w, wait.options.deadline == kNoDeadline);
    r = ch.recv(wait.options);
  }
  if (r) {
    take(f.seen, c, std::move(*r));
  } else if (r.error() == errc::channel_closed) {
    check(ch.closed() && ch.size() == 0, "a receive ends closed only on a closed, drained channel");
  } else {
    check_wait_end(r.error(), wait.options, f);
  }
}

void op_select(FiberState& f, const Op& op) {
  const std::size_t n = (op.arg & 8) != 0 ? 3 : 2;
  std::size_t chan[3];
  bool send[3];
  Value out[3];
  Record* records[3] = {nullptr, nullptr, nullptr};
  std::optional<Value> in[3];
  SelectCase cases[3];
  for (std::size_t i = 0; i < n; ++i) {
    chan[i] = ((op.x >> (2 * i)) & 3) % kChannels;
    send[i] = ((op.arg >> i) & 1) != 0;
    Channel<Value>& ch = f.w.channels[chan[i]];
    if (send[i]) {
      out[i] = make_value(f, chan[i]);
      records[i] = out[i]->record;
      cases[i] = ch.send_case(out[i]);
    } else {
      cases[i] = ch.recv_case(in[i]);
    }
  }
  const Wait wait = wait_of(f, op.y);
  std::optional<Selected> s;
  if (wait.try_form) {
    s = n == 2 ? try_select({cases[0], cases[1]}) : try_select({cases[0], cases[1], cases[2]});
  } else {
    Stuck stuck(f.w, wait.options.deadline == kNoDeadline);
    Result<Selected> r = n == 2 ? select({cases[0], cases[1]}, wait.options)
                                : select({cases[0], cases[1], cases[2]}, wait.options);
    if (r) {
      s = *r;
    } else {
      check_wait_end(r.error(), wait.options, f);
    }
  }
  check(!s || s->index < n, "a select names one of its cases");
  for (std::size_t i = 0; i < n; ++i) {
    const bool happened = s && s->index == i;
    Channel<Value>& ch = f.w.channels[chan[i]];
    if (happened && s->closed) {
      check(ch.closed(), "a select case happens as closed only on a closed channel");
      if (!send[i]) check(ch.size() == 0, "a receive case happens as closed only once drained");
    }
    if (send[i]) {
      if (happened && !s->closed) {
        check(out[i] == nullptr, "a send case that happened took the value");
        records[i]->sent.fetch_add(1);
      } else {
        check(out[i] != nullptr, "a send case that did not happen leaves the value");
        records[i]->kept.fetch_add(1);
      }
    } else if (happened && !s->closed) {
      check(in[i].has_value(), "a receive case that happened received");
      take(f.seen, chan[i], std::move(*in[i]));
    } else {
      check(!in[i].has_value(), "a receive case that did not happen received nothing");
    }
  }
}

// Inside a lock: the work that op.x asks for.
void inside(FiberState& f, const Op& op) {
  switch ((op.x >> 2) & 3) {
    case 1:
      weft::yield();
      break;
    case 2:
      weft::sleep_for(spend(f, 50us));
      break;
    case 3:
      weft::yield();
      weft::yield();
      break;
    default:
      break;
  }
}

// Holding the Mutex: a notify, or a wait on the CondVar, as op.x says.
void with_condvar(FiberState& f, const Op& op) {
  World& w = f.w;
  const unsigned what = (op.x >> 2) & 3;
  if (what < 2) {
    w.tickets += what + 1;
    ++w.notifies;
    if (what == 0) {
      w.condvar.notify_one();
    } else {
      w.condvar.notify_all();
    }
    return;
  }
  const Wait wait = wait_of(f, op.y);
  if (wait.try_form || w.released) return;  // after the release no notify comes
  std::error_code e;
  check(w.in_mutex.fetch_sub(1) == 1, "one fiber at a time holds the Mutex");
  {
    std::unique_lock<Mutex> lock(w.mutex, std::adopt_lock);
    Stuck stuck(w, wait.options.deadline == kNoDeadline);
    if (what == 2) {
      e = w.condvar.wait(
          lock, [&] { return w.tickets > 0 || w.released; }, wait.options);
    } else {
      e = w.condvar.wait(lock, wait.options);
    }
    lock.release();
  }
  check(w.in_mutex.fetch_add(1) == 0, "a CondVar wait returns holding the Mutex, alone");
  if (e) {
    check_wait_end(e, wait.options, f);
  } else if (what == 2) {
    check(w.tickets > 0 || w.released, "a CondVar wait for a condition returns with it true");
    if (w.tickets > 0) --w.tickets;
  } else {
    check(w.notifies > 0 || w.released, "a CondVar wait that succeeds was notified");
  }
}

// Locks as op.x says: lock() (with no options: void, or an error_code),
// try_lock or lock(wait(y)); true if held.
template <class Lock, class TryLock, class TimedLock>
bool acquire(FiberState& f, const Op& op, Lock lock, TryLock try_lock, TimedLock timed_lock) {
  Wait wait;
  if ((op.x & 3) == 2) wait = wait_of(f, op.y);
  if ((op.x & 3) == 1 || wait.try_form) return try_lock();
  std::error_code e;
  if ((op.x & 3) == 2) {
    e = timed_lock(wait.options);
  } else if constexpr (std::is_void_v<std::invoke_result_t<Lock&>>) {
    lock();
  } else {
    e = lock();
  }
  if (e) check_wait_end(e, wait.options, f);
  return !e;
}

void op_lock(FiberState& f, const Op& op) {
  World& w = f.w;
  switch (op.arg & 3) {
    case 2:
      if (!acquire(
              f, op, [&] { w.rw.lock(); }, [&] { return w.rw.try_lock(); },
              [&](const WaitOptions& o) { return w.rw.lock(o); }))
        return;
      check(w.writers.fetch_add(1) == 0 && w.readers.load() == 0,
            "a writer holds the RWMutex alone");
      inside(f, op);
      check(w.writers.fetch_sub(1) == 1 && w.readers.load() == 0,
            "a writer holds the RWMutex alone");
      w.rw.unlock();
      return;
    case 3:
      if (!acquire(
              f, op, [&] { w.rw.lock_shared(); }, [&] { return w.rw.try_lock_shared(); },
              [&](const WaitOptions& o) { return w.rw.lock_shared(o); }))
        return;
      w.readers.fetch_add(1);
      check(w.writers.load() == 0, "no writer holds the RWMutex while a reader does");
      inside(f, op);
      check(w.writers.load() == 0, "no writer holds the RWMutex while a reader does");
      w.readers.fetch_sub(1);
      w.rw.unlock_shared();
      return;
    default:
      if (!acquire(
              f, op, [&] { w.mutex.lock(); }, [&] { return w.mutex.try_lock(); },
              [&](const WaitOptions& o) { return w.mutex.lock(o); }))
        return;
      check(w.in_mutex.fetch_add(1) == 0, "one fiber at a time holds the Mutex");
      if ((op.arg & 3) == 1) {
        with_condvar(f, op);
      } else {
        inside(f, op);
      }
      check(w.in_mutex.fetch_sub(1) == 1, "one fiber at a time holds the Mutex");
      w.mutex.unlock();
      return;
  }
}

// Takes a permit as op.x says (acquire(), try_acquire or
// acquire(wait(y))), does what op.x asks inside, and gives it back.
void with_permit(FiberState& f, const Op& op) {
  World& w = f.w;
  const bool held = acquire(
      f, op, [&] { return w.semaphore.acquire(); }, [&] { return w.semaphore.try_acquire(); },
      [&](const WaitOptions& o) { return w.semaphore.acquire(o); });
  if (!held) return;
  check(w.permits_held.fetch_add(1) < static_cast<int>(w.program.permits),
        "no more fibers hold the Semaphore's permits than it has");
  inside(f, op);
  w.permits_held.fetch_sub(1);
  w.semaphore.release();
}

void op_event(FiberState& f, const Op& op) {
  if ((op.arg & 1) != 0) {
    with_permit(f, op);
    return;
  }
  if ((op.x & 1) == 0) {
    f.w.event.set();
    return;
  }
  const Wait wait = wait_of(f, op.y);
  if (wait.try_form) {
    (void)f.w.event.is_set();
    return;
  }
  std::error_code e;
  {
    Stuck stuck(f.w, wait.options.deadline == kNoDeadline);
    e = f.w.event.wait(wait.options);
  }
  if (e) {
    check_wait_end(e, wait.options, f);
  } else {
    check(f.w.event.is_set(), "an Event wait that succeeds finds it set");
  }
}

// Waits for the block's group (TaskGroup::wait), checking what it reports.
void wait_group(FiberState& f, std::optional<Group>& g) {
  if (!g) return;
  bool erred = false;
  bool threw = false;
  {
    Stuck stuck(f.w, true);
    try {
      const Result<void> r = g->group.wait();
      erred = !r;
      if (erred) check(r.error() == std::errc::io_error, "a group's wait returns a child's error");
    } catch (const std::runtime_error&) {
      threw = true;
    }
  }
  check(!erred || g->errors.load() > 0,
        "a group's wait fails with an error only if a child returned one");
  check(!threw || g->throws.load() > 0, "a group's wait rethrows only if a child threw");
  check(erred || threw || g->errors.load() + g->throws.load() == 0,
        "a group's wait fails when a child failed");
  check(g->group.running() == 0, "no child outlives its group's wait");
  g.reset();
}

void op_group(FiberState& f, const Op& op, std::optional<Group>& g) {
  if ((op.arg & 1) != 0) {
    wait_group(f, g);
    return;
  }
  const std::size_t script = op.x % f.w.program.scripts.size();
  const std::optional<std::uint32_t> admitted = admit(f.w, f.depth + 1);
  if (!admitted) return;
  const std::uint32_t id = *admitted;
  if (!g) {
    Wait wait = wait_of(f, op.y);
    wait.options.scoped = true;
    g.emplace(wait.options);
  }
  const int fail = (op.arg >> 1) & 3;
  g->group.spawn(
      [&w = f.w, script, id, depth = f.depth + 1, group = &*g, fail]() -> Result<void> {
        run_script(w, script, id, depth, &group->group);
        if (fail == 1) {
          group->errors.fetch_add(1);
          return Error(std::make_error_code(std::errc::io_error));
        }
        if (fail == 2) {
          group->throws.fetch_add(1);
          throw std::runtime_error("a script child fails");
        }
        return {};
      },
      {.name = name_of(script, id)});
}

void op_cancel(FiberState& f, const Op& op, std::optional<Group>& g) {
  switch (op.x & 3) {
    case 0:
    case 1:
      f.w.tokens[op.x & 1].cancel();
      break;
    case 2:
      if (!f.scopes.empty()) f.scopes.back()->cancel();
      break;
    default:
      if (g) g->group.cancel();
      break;
  }
}

// Runs ops [begin, end) of `ops`: one block, with its own TaskGroup.
void run_block(FiberState& f, const std::vector<Op>& ops, std::size_t begin, std::size_t end) {
  std::optional<Group> group;
  for (std::size_t i = begin; i < end; ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case Kind::end:
        break;
      case Kind::spawn:
        op_spawn(f, op);
        break;
      case Kind::join:
        join_one(f, (op.x & 1) != 0);
        break;
      case Kind::yield:
        weft::yield();
        break;
      case Kind::sleep:
        op_sleep(f, op);
        break;
      case Kind::send:
      case Kind::send2:
        op_send(f, op);
        break;
      case Kind::recv:
      case Kind::recv2:
        op_recv(f, op);
        break;
      case Kind::close:
        f.w.channels[op.x % kChannels].close();
        check(f.w.channels[op.x % kChannels].closed(), "a closed channel says so");
        break;
      case Kind::select:
        op_select(f, op);
        break;
      case Kind::lock:
        op_lock(f, op);
        break;
      case Kind::cancel:
        op_cancel(f, op, group);
        break;
      case Kind::event:
        op_event(f, op);
        break;
      case Kind::group:
        op_group(f, op, group);
        break;
      case Kind::scope: {
        const std::size_t n = std::min<std::size_t>(1 + (op.x & 7), end - i - 1);
        Wait wait = wait_of(f, op.y);
        wait.options.scoped = true;
        CancelScope scope(wait.options);
        f.scopes.push_back(&scope);
        run_block(f, ops, i + 1, i + 1 + n);
        f.scopes.pop_back();
        i += n;
        break;
      }
    }
  }
  if (group) {
    // Not waited for: its destructor cancels it and waits for the children.
    Stuck stuck(f.w, true);
    group.reset();
  }
}

void run_script(World& w, std::size_t script, std::uint32_t id, int depth, const TaskGroup* group) {
  {
    FiberState f(w, id, depth, group);
    const std::vector<Op>& ops = w.program.scripts[script];
    run_block(f, ops, 0, ops.size());
    while (!f.children.empty()) join_one(f, false);
  }
  w.live.fetch_sub(1);
  w.progress.set();
}

// ---- the main fiber and the run --------------------------------------------------------

// Runs the program; returns how many fibers it started.
std::uint32_t main_fiber(const Program& p) {
  World w(p);
  std::vector<Child> roots;
  for (std::size_t k = 0; k < p.roots; ++k) {
    const std::optional<std::uint32_t> admitted = admit(w, 0);
    if (!admitted) break;
    const std::uint32_t id = *admitted;
    roots.push_back({weft::spawn(
                         [&w, k, id] {
                           run_script(w, k, id, 0, nullptr);
                           return id;
                         },
                         {.name = name_of(k, id)}),
                     id});
  }
  // Steps 2 and 3 at the top.
  for (;;) {
    w.progress.reset();
    if (w.stuck.load() >= w.live.load()) break;
    (void)w.progress.wait();
  }
  for (Channel<Value>& ch : w.channels) ch.close();
  w.event.set();
  w.mutex.lock();
  check(w.in_mutex.fetch_add(1) == 0, "one fiber at a time holds the Mutex");
  w.released = true;
  check(w.in_mutex.fetch_sub(1) == 1, "one fiber at a time holds the Mutex");
  w.mutex.unlock();
  w.condvar.notify_all();
  for (Child& c : roots) check(c.handle.join() == c.id, "a join returns what the child returned");
  for (;;) {
    w.progress.reset();
    if (w.live.load() == 0) break;
    (void)w.progress.wait();
  }
  // The last fibers have decremented `live`; let them finish entirely.
  const Deadline give_up = Clock::now() + kWatchdog;
  while (weft::stats().fibers_live > 1) {
    check(Clock::now() < give_up, "every fiber ends");
    weft::yield();
  }
  check(w.stuck.load() == 0, "no fiber counts as stuck once all ended");
  check(w.in_mutex.load() == 0 && w.writers.load() == 0 && w.readers.load() == 0 &&
            w.permits_held.load() == 0,
        "every lock and permit was given back");

  const std::uint32_t values = w.next_value.load();
  Receiver drain;
  for (std::size_t c = 0; c < kChannels; ++c) {
    std::size_t unreceived = 0;
    for (std::uint32_t id = 0; id < values; ++id) {
      const Record& r = w.records[id];
      if (r.channel.load() == c && r.sent.load() == 1 && r.received.load() == 0) ++unreceived;
    }
    Channel<Value>& ch = w.channels[c];
    check(ch.size() == unreceived, "a channel holds the values sent on it and not received");
    while (std::optional<Value> v = ch.try_recv()) take(drain, c, std::move(*v));
    check(ch.size() == 0, "a closed channel drains");
  }
  for (std::uint32_t id = 0; id < values; ++id) {
    const Record& r = w.records[id];
    check(r.sent.load() + r.kept.load() == 1, "a value's sender learns one outcome");
    check(r.received.load() == r.sent.load(),
          "a value sent is received once; one never sent is never received");
    check(r.destroyed.load() == 1, "every value is destroyed exactly once");
  }
  return std::min(w.next_fiber.load(), kMaxFibers);
}

// Aborts if one input runs past kWatchdog (a fiber that never ends).
class Watchdog {
 public:
  static void arm() {
    static std::once_flag started;
    std::call_once(started, [] {
      std::thread([] {
        for (;;) {
          std::this_thread::sleep_for(100ms);
          const std::int64_t due = due_.load();
          check(due == 0 || Clock::now().time_since_epoch().count() < due,
                "every fiber ends (the run went on past the watchdog)");
        }
      }).detach();
    });
    due_.store((Clock::now() + kWatchdog).time_since_epoch().count());
  }
  static void disarm() { due_.store(0); }

 private:
  static inline std::atomic<std::int64_t> due_{0};
};

RuntimeOptions options_of(const Program& p) {
  RuntimeOptions o;
  o.mode = p.single ? Mode::single : Mode::multi;
  o.workers = p.single || !p.two_workers ? 1 : 2;
  o.backend = p.epoll ? BackendKind::epoll : BackendKind::uring;
  o.shuffle = p.shuffle;
  o.idle_spin = p.no_spin ? std::chrono::microseconds(0) : o.idle_spin;
  o.detect_deadlock = true;
  o.hog_threshold = std::chrono::milliseconds(0);
  o.default_stack_size = 128 << 10;
  return o;
}

void run_program(const Program& p) {
  RuntimeOptions o = options_of(p);
  std::unique_ptr<Runtime> rt;
  try {
    rt = std::make_unique<Runtime>(o);
  } catch (const std::system_error&) {
    o.backend = BackendKind::epoll;  // no io_uring here
    rt = std::make_unique<Runtime>(o);
  }
  Watchdog::arm();
  std::uint32_t started = 0;
  try {
    started = rt->run([&p] { return main_fiber(p); });
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    check(false, "every fiber ends (the runtime found no deadlock)");
  }
  Watchdog::disarm();
  const Stats stats = rt->last_stats();
  check(stats.fibers_live == 0, "no fiber is left live after the run");
  check(stats.spawns == started + 1, "the runtime counts every fiber spawned (and main)");
}

}  // namespace
}  // namespace weft::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  weft::fuzz::run_program(weft::fuzz::decode(data, size));
  return 0;
}
