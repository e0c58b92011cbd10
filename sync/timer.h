// weft/sync/timer.h — a Timer that fires once and a Ticker that fires every
// period, each through a channel, so either can take part in a select.
//
//   weft::Ticker tick(1ms);
//   weft::Timer give_up(5s);
//   std::optional<weft::Deadline> t, g;
//   for (;;) {
//     auto s = weft::select({weft::recv_case(tick.channel(), t),
//                            weft::recv_case(give_up.channel(), g), ...});
//     ...
//   }
//
// As Go's time.Timer and time.Ticker. Each tick is the time it was due (a
// Deadline), so `Clock::now() - *t` is how late it was seen. The channel
// holds one tick: a tick due while the last one is still unread is dropped
// and counted (missed()), as Go drops ticks for a slow receiver, and a
// Ticker that fell behind by several periods skips to the next one due.
// After stop() or reset() returns, no tick from before waits in the channel.
//
// Each Timer and Ticker has a small fiber of its own that sleeps until the
// next tick is due (on the heap of the worker it runs on) and sends it.
//
// Thread rules: made, used and destroyed on fibers; stop() and reset() from
// any fiber. Destroying one stops it and waits for its fiber to end; a fiber
// still receiving from its channel then is a misuse the channel reports.
#pragma once

#include <cstdint>

#include <weft/fibers/cancel.h>
#include <weft/fibers/spawn.h>
#include <weft/sync/channel.h>
#include <weft/sync/condvar.h>
#include <weft/sync/mutex.h>

namespace weft {

namespace sync {

// What Timer and Ticker share: the next time due, the period (zero for one
// shot), the fiber that sends the ticks, and the channel.
class TickSource {
 public:
  TickSource(Deadline first, Clock::duration period, const char* name);
  ~TickSource();
  TickSource(const TickSource&) = delete;
  TickSource& operator=(const TickSource&) = delete;

  Channel<Deadline>& channel() { return channel_; }
  // Re-arms (first tick at `first`, then every `period` unless zero);
  // kNoDeadline disarms. True when a tick was pending before.
  bool arm(Deadline first, Clock::duration period);
  std::uint64_t missed();

 private:
  void run();
  Channel<Deadline> channel_{1};
  Mutex mutex_;
  CondVar changed_;
  Deadline next_ = kNoDeadline;  // guarded by mutex_
  Clock::duration period_{};     // guarded by mutex_
  std::uint64_t missed_ = 0;     // guarded by mutex_
  bool closing_ = false;         // guarded by mutex_
  JoinHandle<void> sender_;
};

}  // namespace sync

class Timer {
 public:
  // Fires once, `d` from now.
  explicit Timer(Clock::duration d) : source_(after(d), {}, "weft::Timer") {}
  // Made stopped: reset() arms it.
  Timer() : source_(kNoDeadline, {}, "weft::Timer") {}

  Channel<Deadline>& channel() { return source_.channel(); }
  // Parks until it fires (or the options end the wait): the time it was due.
  Result<Deadline> wait(const WaitOptions& options = {}) { return channel().recv(options); }
  // Disarms it; true when it had not fired yet.
  bool stop() { return source_.arm(kNoDeadline, {}); }
  // Fires once, `d` from now (whether it had fired or not); true when it
  // had not fired yet.
  bool reset(Clock::duration d) { return source_.arm(after(d), {}); }

 private:
  sync::TickSource source_;
};

class Ticker {
 public:
  // Ticks every `period` (more than zero, else std::invalid_argument), the
  // first one period from now.
  explicit Ticker(Clock::duration period);

  Channel<Deadline>& channel() { return source_.channel(); }
  // Parks until the next tick (or the options end the wait).
  Result<Deadline> wait(const WaitOptions& options = {}) { return channel().recv(options); }
  void stop() { (void)source_.arm(kNoDeadline, {}); }
  // Ticks every `period` from now on.
  void reset(Clock::duration period);
  // Ticks dropped because the last one was still unread, or skipped
  // because the ticker fell behind.
  std::uint64_t missed() { return source_.missed(); }

 private:
  sync::TickSource source_;
};

}  // namespace weft
