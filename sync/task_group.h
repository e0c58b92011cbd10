// weft/sync/task_group.h — structured concurrency: children that end before
// their scope does.
//
//   weft::TaskGroup group({.deadline = weft::after(2s)});
//   for (auto& host : hosts)
//     group.spawn([&host]() -> weft::Result<void> { return fetch(host); });
//   weft::Result<void> r = group.wait();   // every child has ended here
//
// As Go's errgroup with a context, Trio's nursery or Tokio's JoinSet: a child
// returns void or a weft::Result (its value is dropped). The first child to
// fail (an error result, or an exception) cancels the group's token with
// that error as its cause, which ends every scoped wait of the other
// children (they run inside the group's scope: fibers/cancel.h), and
// wait() returns that error, or rethrows that exception, once all ended.
//
// The group's token is a child of `options.cancel` and of the scope the group
// is made in; its deadline, the earlier of `options.deadline` and that
// scope's, applies to every scoped wait of every child. A child's plain
// weft::spawn does not inherit the scope (it may outlive it); a child that
// spawns into the same group does.
//
// No child outlives the group: wait() returns once every child's fiber has
// finished entirely (weft::stats() no longer counts it); destroying a group that was not waited for
// cancels it and waits for its children (on a fiber). After wait() returned,
// spawn() and wait() throw std::logic_error.
//
// Thread rules: spawn() from any fiber while the group is open (its
// children too); wait() once, on a fiber; cancel() from any thread.
#pragma once

#include <cstddef>
#include <exception>
#include <string_view>
#include <type_traits>
#include <utility>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/fibers/spawn.h>
#include <weft/fibers/spin_lock.h>

namespace weft {

namespace fibers {
class Waiter;
}

template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<Result<T>> : std::true_type {};

class TaskGroup {
 public:
  explicit TaskGroup(const WaitOptions& options = {});
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Starts `fn` in a new fiber inside the group's scope. Throws
  // std::logic_error once wait() has returned, std::system_error when no
  // fiber can be made (nothing is started then).
  template <class F>
  void spawn(F&& fn, const SpawnOptions& options = {});

  // Parks until every child has ended; then the first failure: its error,
  // or its exception rethrown. Empty when none failed.
  Result<void> wait();

  // Ends every scoped wait of every child (see CancelToken::cancel). A
  // cancel is not a failure: wait() reports what the children returned.
  void cancel(Error cause = Error(std::make_error_code(std::errc::operation_canceled))) {
    token_.cancel(std::move(cause));
  }
  bool cancelled() const { return token_.cancelled(); }
  CancelToken& token() { return token_; }
  Deadline deadline() const { return scope_.deadline; }
  // Children that have not ended yet.
  std::size_t running() const;

 private:
  void start_one();
  void undo_start() noexcept;
  // A child's last step in its fiber: records the first failure and
  // cancels the others (the child still counts, so the group is here).
  void child_failed(Error error, std::exception_ptr thrown) noexcept;
  // Once a child's fiber has finished entirely (its FinishHook): the child
  // stops counting. After it, the group may be gone.
  void leave() noexcept;
  static void enter(const fibers::WaitScope* scope) noexcept;
  int wait_for_children() noexcept;

  CancelToken token_;
  CancelToken::Link parents_[2];  // options.cancel, the enclosing scope's token
  fibers::WaitScope scope_;
  mutable fibers::SpinLock lock_;
  std::size_t running_ = 0;           // guarded by lock_
  bool closed_ = false;               // wait() returned; guarded by lock_
  bool failed_ = false;               // guarded by lock_
  Error first_error_;                 // guarded by lock_
  std::exception_ptr first_thrown_;   // guarded by lock_
  fibers::Waiter* waiter_ = nullptr;  // the fiber in wait(); guarded by lock_
  struct ChildEnd : fibers::FinishHook {
    TaskGroup* group;
  } child_end_;
};

template <class F>
void TaskGroup::spawn(F&& fn, const SpawnOptions& options) {
  using Fn = std::decay_t<F>;
  using R = std::invoke_result_t<Fn&>;
  static_assert(std::is_void_v<R> || is_result<R>::value,
                "a TaskGroup child returns void or a weft::Result");
  start_one();
  try {
    weft::spawn(
        [this, fn = Fn(std::forward<F>(fn))]() mutable noexcept {
          Error error;
          std::exception_ptr thrown;
          {
            Fn f(std::move(fn));  // its captures die before the group may
            enter(&scope_);
            try {
              if constexpr (std::is_void_v<R>) {
                f();
              } else {
                R r = f();
                if (!r) error = r.error();
              }
            } catch (...) {
              thrown = std::current_exception();
            }
            enter(nullptr);
          }
          if (error || thrown != nullptr) child_failed(std::move(error), std::move(thrown));
        },
        options)
        .detach(child_end_);
  } catch (...) {
    undo_start();
    throw;
  }
}

}  // namespace weft
