// Fuzz target: the Node façade's timers and queues (node/loop.h) on paused
// time. The input is a script that the loop's callbacks act out while a
// model beside them checks what Node promises.
//
// The program. Every callback (the main module, each timeout, interval,
// immediate, tick and microtask) takes its actions from the script when it
// runs: one byte for how many (main up to 16, the others up to 3), then two
// bytes an action, an opcode and an argument:
//   0 set_timeout, delay arg % 40 - 2 ms (0 and below are 1, as in Node)
//   1 set_interval, delay arg % 20 ms; it clears itself after
//     1 + (arg / 20) % 4 runs
//   2 clear_timeout of the (arg % n)th timer made so far, in any state
//     (live, fired, cleared, the one running now)
//   3 set_immediate
//   4 clear_immediate of the (arg % n)th immediate made so far
//   5 next_tick
//   6 queue_microtask
//   7 the callback computes: the clock moves on arg % 8 ms
// When the script runs out, callbacks act no more, so every program ends.
// The loop runs on a ManualClock: it never waits, time jumps to the next
// timer, and the same input always runs the same way.
//
// Invariants (fuzz/check.h names each when it breaks):
//   - a timer fires only when due (the loop's time at least its due time),
//     never after it was cleared, a timeout at most once;
//   - no timer fires while another, certainly due earlier, still waits;
//     two timers due at the same time that were set (not rescheduled) fire
//     in the order they were set;
//   - ticks run in the order queued, microtasks too, and both queues are
//     empty whenever a timer's or an immediate's callback begins;
//   - immediates run in the order set, each at most once, never cleared;
//   - when run() returns, every timeout not cleared has fired, every
//     interval not cleared has run its course, every immediate not cleared
//     has run, and no tick or microtask is left.
// An interval is rescheduled from its timers phase's time, which lies
// between its due time and the loop's time when its callback begins; the
// model keeps that range and checks against its certain ends.
//
// Thread rules: the fuzzer calls LLVMFuzzerTestOneInput on one thread; the
// loop runs on the one worker of a single-mode runtime made once.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <weft/node/loop.h>
#include <weft/weft.h>

#include "fuzz/check.h"

namespace {

using weft::fuzz::check;
using weft::node::Loop;

struct TimerModel {
  weft::node::TimerHandle handle;
  std::uint64_t lo = 0;  // due no earlier than this
  std::uint64_t hi = 0;  // and no later (equal: known exactly)
  std::uint64_t set_order = 0;
  bool rescheduled = false;
  bool interval = false;
  long delay = 1;
  int runs_left = 1;  // intervals: runs before it clears itself
  bool live = true;   // waits to fire
  bool cleared = false;
};

struct ImmediateModel {
  weft::node::ImmediateHandle handle;
  bool ran = false;
  bool cleared = false;
};

class Program {
 public:
  Program(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  void run() {
    Loop loop(clock_);
    loop_ = &loop;
    loop.run([this] { act(16); });
    check(ticks_.empty() && microtasks_.empty(), "no tick or microtask is left when run() returns");
    for (const TimerModel& t : timers_)
      check(t.cleared || !t.live, "every timer not cleared has fired when run() returns");
    for (const ImmediateModel& im : immediates_)
      check(im.cleared || im.ran, "every immediate not cleared has run when run() returns");
    loop_ = nullptr;
  }

 private:
  std::uint8_t next() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool more() const { return pos_ < size_; }

  // The actions of one callback.
  void act(int most) {
    if (!more()) return;
    const int n = next() % (most + 1);
    for (int i = 0; i < n && more(); ++i) {
      const std::uint8_t op = next() % 8;
      const std::uint8_t arg = next();
      switch (op) {
        case 0: set_timer(static_cast<long>(arg % 40) - 2, false, 1); break;
        case 1: set_timer(arg % 20, true, 1 + (arg / 20) % 4); break;
        case 2:
          if (!timers_.empty()) clear_timer(arg % timers_.size());
          break;
        case 3: set_immediate(); break;
        case 4:
          if (!immediates_.empty()) {
            ImmediateModel& im = immediates_[arg % immediates_.size()];
            loop_->clear_immediate(im.handle);
            im.cleared = true;
          }
          break;
        case 5: queue(ticks_, [this](Callback cb) { loop_->next_tick(std::move(cb)); }); break;
        case 6: queue(microtasks_, [this](Callback cb) { loop_->queue_microtask(std::move(cb)); }); break;
        case 7: clock_.advance(arg % 8); break;
      }
    }
  }

  using Callback = weft::node::Callback;

  void set_timer(long delay, bool interval, int runs) {
    const std::size_t index = timers_.size();
    TimerModel t;
    t.interval = interval;
    t.runs_left = runs;
    t.set_order = set_order_++;
    auto fire = [this, index] { fired(index); };
    t.handle = interval ? loop_->set_interval(fire, delay) : loop_->set_timeout(fire, delay);
    t.delay = delay < 1 ? 1 : delay;
    // set_timeout reads the clock afresh: the start is the clock's time.
    check(loop_->now() == clock_.now_ms(), "set_timeout reads the loop's clock afresh");
    t.lo = t.hi = clock_.now_ms() + static_cast<std::uint64_t>(t.delay);
    timers_.push_back(t);
  }

  void clear_timer(std::size_t index) {
    loop_->clear_timeout(timers_[index].handle);
    timers_[index].cleared = true;
    timers_[index].live = false;
  }

  void begin_callback() {
    check(ticks_.empty() && microtasks_.empty(),
          "ticks and microtasks are drained before a timer's or an immediate's callback begins");
  }

  void fired(std::size_t index) {
    begin_callback();
    const std::uint64_t now = loop_->now();
    check(now <= clock_.now_ms(), "the loop's time never runs ahead of its clock");
    {
      const TimerModel& t = timers_[index];
      check(!t.cleared, "a cleared timer never fires");
      check(t.live, "a timeout fires at most once");
      check(t.lo <= now, "a timer fires only when due");
      for (std::size_t i = 0; i < timers_.size(); ++i) {
        const TimerModel& u = timers_[i];
        if (i == index || !u.live) continue;
        check(u.hi >= t.lo, "no timer fires while another, certainly due earlier, still waits");
        if (!u.rescheduled && !t.rescheduled && u.lo == t.lo)
          check(u.set_order > t.set_order, "timers due at the same time fire in the order they were set");
      }
    }
    TimerModel& t = timers_[index];
    if (t.interval) {
      // Rescheduled from the phase's time: between the due time and now.
      t.lo = t.lo + static_cast<std::uint64_t>(t.delay);
      t.hi = now + static_cast<std::uint64_t>(t.delay);
      t.rescheduled = true;
    } else {
      t.live = false;
    }
    act(3);
    TimerModel& after = timers_[index];  // act() may have grown the vector
    if (after.interval && !after.cleared && --after.runs_left == 0) clear_timer(index);
  }

  void set_immediate() {
    const std::size_t index = immediates_.size();
    immediates_.push_back({});
    immediates_[index].handle = loop_->set_immediate([this, index] {
      begin_callback();
      ImmediateModel& im = immediates_[index];
      check(!im.cleared, "a cleared immediate never runs");
      check(!im.ran, "an immediate runs at most once");
      check(index >= next_immediate_, "immediates run in the order they were set");
      for (std::size_t i = next_immediate_; i < index; ++i)
        check(immediates_[i].cleared, "immediates run in the order they were set");
      next_immediate_ = index + 1;
      im.ran = true;
      act(3);
    });
  }

  // A tick or a microtask: runs in the order queued, each once.
  template <class Enqueue>
  void queue(std::deque<std::uint64_t>& fifo, Enqueue enqueue) {
    const std::uint64_t id = queued_++;
    fifo.push_back(id);
    enqueue([this, &fifo, id] {
      check(!fifo.empty() && fifo.front() == id, "ticks and microtasks each run once, in the order queued");
      fifo.pop_front();
      act(3);
    });
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  weft::node::ManualClock clock_;
  Loop* loop_ = nullptr;
  std::vector<TimerModel> timers_;
  std::vector<ImmediateModel> immediates_;
  std::size_t next_immediate_ = 0;  // every immediate before it ran or was cleared
  std::deque<std::uint64_t> ticks_;
  std::deque<std::uint64_t> microtasks_;
  std::uint64_t queued_ = 0;
  std::uint64_t set_order_ = 0;
};

weft::Runtime& runtime() {
  static weft::Runtime rt([] {
    weft::RuntimeOptions o;
    o.mode = weft::Mode::single;
    return o;
  }());
  return rt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;  // the script's length bounds the program
  Program program(data, size);
  runtime().run([&] { program.run(); });
  return 0;
}
