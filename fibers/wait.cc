#include <weft/fibers/wait.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace weft::fibers {

void throw_not_on_fiber(const char* what) {
  throw std::logic_error(std::string(what) + " must be called from a weft fiber");
}

Waiter::Waiter(Worker& worker) : worker_(&worker), fiber_(worker.current_fiber()) {
  timer_.waiter = this;
  timer_.fire = [](Timer* t) { static_cast<DeadlineTimer*>(t)->waiter->wake(ETIMEDOUT); };
  cancel_.waiter = this;
  cancel_.on_cancel = [](CancelToken::Registration* r) {
    static_cast<Cancel*>(r)->waiter->wake(ECANCELED);
  };
  abandon_.waiter = this;
  abandon_.run = [](AbandonHook* h) {
    Waiter* w = static_cast<Abandon*>(h)->waiter;
    w->worker_->timers().remove(&w->timer_);
    if (w->options_->cancel != nullptr) w->options_->cancel->remove(&w->cancel_);
    if (w->unlink_ != nullptr) w->unlink_(w->unlink_arg_);
  };
}

int Waiter::wait(const WaitOptions& options) {
  if (options.cancel != nullptr && options.cancel->cancelled()) return ECANCELED;
  if (options.deadline != kNoDeadline) {
    if (options.deadline <= Clock::now()) return ETIMEDOUT;
    timer_.deadline = options.deadline;
    worker_->timers().add(&timer_);  // the only step that can throw: do it first
  }
  if (options.cancel != nullptr) options.cancel->add(&cancel_);
  options_ = &options;
  fiber_->abandon_hook = &abandon_;
  worker_->park();
  fiber_->abandon_hook = nullptr;
  worker_->timers().remove(&timer_);
  if (options.cancel != nullptr) options.cancel->remove(&cancel_);
  return outcome_;
}

bool Waiter::wake(int outcome) {
  if (outcome_ != kWaiting) return false;
  outcome_ = outcome;
  worker_->ready(fiber_);
  return true;
}

}  // namespace weft::fibers
