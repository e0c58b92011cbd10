#include <weft/sync/task_group.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <string>

#include <weft/fibers/checks.h>
#include <weft/fibers/fiber.h>
#include <weft/fibers/wait.h>
#include <weft/fibers/worker.h>

namespace weft {

TaskGroup::TaskGroup(const WaitOptions& options) {
  child_end_.run = [](fibers::FinishHook* self) noexcept {
    static_cast<ChildEnd*>(self)->group->leave();
  };
  child_end_.group = this;
  fibers::nest_scope(scope_, token_, parents_, options, fibers::current_scope());
}

TaskGroup::~TaskGroup() {
  {
    std::lock_guard<fibers::SpinLock> g(lock_);
    if (closed_ || running_ == 0) return;
  }
  // Not waited for (an exception left the owner's frame, say): no child
  // may outlive the group, so stop them and wait.
  if (!in_fiber()) {
    fibers::rule_broken("a weft::TaskGroup with running children was destroyed off a fiber");
  }
  token_.cancel(Error(std::make_error_code(std::errc::operation_canceled),
                      "weft::TaskGroup destroyed before wait()"));
  (void)wait_for_children();
}

std::size_t TaskGroup::running() const {
  std::lock_guard<fibers::SpinLock> g(lock_);
  return running_;
}

void TaskGroup::start_one() {
  std::lock_guard<fibers::SpinLock> g(lock_);
  if (closed_) throw std::logic_error("weft::TaskGroup::spawn after the group's wait() returned");
  ++running_;
}

void TaskGroup::undo_start() noexcept {
  // As a child that ended at once, without an error of its own.
  leave();
}

void TaskGroup::enter(const fibers::WaitScope* scope) noexcept {
  fibers::Worker::current()->current_fiber()->scope = scope;
}

void TaskGroup::child_failed(Error error, std::exception_ptr thrown) noexcept {
  {
    std::lock_guard<fibers::SpinLock> g(lock_);
    if (failed_) return;
    failed_ = true;
    first_error_ = error;
    first_thrown_ = thrown;
  }
  if (thrown != nullptr) {
    std::string what = "a weft::TaskGroup child threw";
    try {
      std::rethrow_exception(thrown);
    } catch (const std::exception& e) {
      what += ": ";
      what += e.what();
    } catch (...) {
    }
    error = Error(make_error_code(errc::uncaught_exception), what);
  }
  token_.cancel(std::move(error));
}

void TaskGroup::leave() noexcept {
  fibers::Waiter* owner = nullptr;
  {
    std::lock_guard<fibers::SpinLock> g(lock_);
    if (--running_ == 0 && waiter_ != nullptr && waiter_->claim()) {
      owner = std::exchange(waiter_, nullptr);
    }
  }
  // From here the group may be gone (the owner may return from wait()).
  if (owner != nullptr) owner->finish_wake();
}

// Parks until running_ is zero, then closes the group. Scopes do not end
// this wait: the children must end first. 0 or ECANCELED (never: unscoped).
int TaskGroup::wait_for_children() noexcept {
  fibers::Worker& w = *fibers::Worker::current();
  fibers::Waiter waiter(w);
  struct Arg {
    TaskGroup* group;
    fibers::Waiter* waiter;
  } arg{this, &waiter};
  waiter.on_abandon(
      [](void* a) {
        auto* p = static_cast<Arg*>(a);
        std::lock_guard<fibers::SpinLock> g(p->group->lock_);
        if (p->group->waiter_ == p->waiter) p->group->waiter_ = nullptr;
      },
      &arg);
  const int outcome = waiter.wait(
      WaitOptions{.scoped = false}, {"weft::TaskGroup::wait", this},
      [](fibers::Waiter& wt, void* a) {
        auto* p = static_cast<Arg*>(a);
        std::lock_guard<fibers::SpinLock> g(p->group->lock_);
        if (p->group->running_ == 0) {
          p->group->closed_ = true;
          return false;
        }
        p->group->waiter_ = &wt;
        return true;
      },
      &arg);
  std::lock_guard<fibers::SpinLock> g(lock_);
  closed_ = true;  // running_ is 0: the waker saw it under the lock
  return outcome;
}

Result<void> TaskGroup::wait() {
  (void)fibers::require_fiber("weft::TaskGroup::wait");
  {
    std::lock_guard<fibers::SpinLock> g(lock_);
    if (closed_) throw std::logic_error("weft::TaskGroup::wait called again after it returned");
    if (waiter_ != nullptr) throw std::logic_error("weft::TaskGroup::wait called by two fibers");
  }
  (void)wait_for_children();
  std::exception_ptr thrown;
  Error error;
  {
    std::lock_guard<fibers::SpinLock> g(lock_);
    thrown = first_thrown_;
    error = first_error_;
  }
  if (thrown != nullptr) std::rethrow_exception(thrown);
  if (error) return error;
  return {};
}

}  // namespace weft
