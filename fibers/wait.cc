#include <weft/fibers/wait.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace weft::fibers {

void throw_not_on_fiber(const char* what) {
  throw std::logic_error(std::string(what) + " must be called from a weft fiber");
}

void ready_here_or_home(Fiber* fiber, Worker* home, bool next, Worker* me) {
  if (me != nullptr) {
    me->ready(fiber, next);
  } else {
    home->ready_remote(fiber);
  }
}

Waiter::Waiter(Worker& worker) : worker_(&worker), fiber_(worker.current_fiber()) {
  timer_.waiter = this;
  timer_.fire = [](Timer* t) {
    static_cast<DeadlineTimer*>(t)->waiter->wake(kDeadlineExceeded);
  };
  timer_.any_thread = true;  // wake() is for any thread
  terms_.waiter = this;
  abandon_.waiter = this;
  abandon_.run = [](AbandonHook* h) {
    Waiter* w = static_cast<Abandon*>(h)->waiter;
    w->take_back_registrations();
    if (w->unlink_ != nullptr) w->unlink_(w->unlink_arg_);
  };
}

int Waiter::wait(const WaitOptions& options, WaitSite where, Publish publish, void* arg) {
  terms_.set(options, fiber_->scope);
  if (const int over = terms_.over_before_start(); over != 0) return over;
  parked_ = true;
  publish_ = publish;
  publish_arg_ = arg;
  timer_.deadline = terms_.deadline();
  fiber_->abandon_hook = &abandon_;
  worker_->park(where, &Waiter::commit, this);
  fiber_->abandon_hook = nullptr;
  take_back_registrations();
  const int outcome = outcome_.load(std::memory_order_acquire);
  return outcome == kWaiting ? 0 : outcome;
}

// Runs on the parking worker's next context, the fiber's registers saved.
bool Waiter::commit(Fiber*, void* self) {
  auto* w = static_cast<Waiter*>(self);
  if (!w->publish_(*w, w->publish_arg_)) {
    int expected = kWaiting;
    w->outcome_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
    return false;  // resume now
  }
  if (w->terms_.has_deadline()) w->worker_->timers().add(&w->timer_);
  if (w->terms_.cancellable() && !w->terms_.watch([](WaitTerms* t) {
        static_cast<Cancel*>(t)->waiter->wake(ECANCELED);
      })) {
    w->wake(ECANCELED);
  }
  // Published: from here on a wake readies the fiber itself. If one came
  // while we published, it left the readying to us.
  return w->handshake_.parked();
}

void Waiter::finish_wake(bool next) {
  if (handshake_.woken()) ready_here_or_home(fiber_, worker_, next);
}

void Waiter::take_back_registrations() {
  if (!parked_) return;
  if (terms_.has_deadline()) worker_->timers().remove(&timer_);
  if (terms_.cancellable()) terms_.unwatch();
}

}  // namespace weft::fibers
