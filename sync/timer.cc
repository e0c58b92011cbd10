#include <weft/sync/timer.h>

#include <mutex>
#include <stdexcept>

#include <weft/fibers/wait.h>

namespace weft {
namespace sync {

TickSource::TickSource(Deadline first, Clock::duration period, const char* name)
    : next_(first), period_(period) {
  (void)fibers::require_fiber(name);  // "weft::Timer must be called from a weft fiber"
  sender_ = spawn([this] { run(); }, {.name = name, .stack_size = 16 << 10});
}

TickSource::~TickSource() {
  {
    std::lock_guard<Mutex> g(mutex_);
    closing_ = true;
  }
  changed_.notify_one();
  sender_.join();
}

bool TickSource::arm(Deadline first, Clock::duration period) {
  bool pending;
  {
    std::lock_guard<Mutex> g(mutex_);
    pending = next_ != kNoDeadline;
    next_ = first;
    period_ = period;
    (void)channel_.try_recv();  // a tick from before is not for the new times
  }
  changed_.notify_one();
  return pending;
}

std::uint64_t TickSource::missed() {
  std::lock_guard<Mutex> g(mutex_);
  return missed_;
}

// The sender: sleeps until the next tick is due (or the times change), sends
// it under the lock (so arm() can take back what it sent), and moves on.
// Its waits ignore scopes: they end only when the source does.
void TickSource::run() {
  std::unique_lock<Mutex> lock(mutex_);
  while (!closing_) {
    if (next_ == kNoDeadline) {
      (void)changed_.wait(lock, {.scoped = false});
      continue;
    }
    const Deadline now = Clock::now();
    if (now < next_) {
      (void)changed_.wait(lock, {.deadline = next_, .scoped = false});
      continue;
    }
    Deadline due = next_;
    if (!channel_.try_send(due)) ++missed_;
    if (period_ == Clock::duration::zero()) {
      next_ = kNoDeadline;
      continue;
    }
    next_ += period_;
    if (next_ <= now) {
      // Fell behind by whole periods: skip to the next one due.
      const auto behind = (now - next_) / period_ + 1;
      missed_ += static_cast<std::uint64_t>(behind);
      next_ += behind * period_;
    }
  }
}

}  // namespace sync

Ticker::Ticker(Clock::duration period) : source_(kNoDeadline, {}, "weft::Ticker") {
  reset(period);
}

void Ticker::reset(Clock::duration period) {
  if (period <= Clock::duration::zero())
    throw std::invalid_argument("weft::Ticker: the period must be more than zero");
  (void)source_.arm(after(period), period);
}

}  // namespace weft
