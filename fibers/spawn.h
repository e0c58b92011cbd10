// weft/fibers/spawn.h — starting fibers, waiting for them, yielding, sleeping.
//
//   auto h = weft::spawn([] { return 6 * 7; }, {.name = "answer"});
//   int v = h.join();               // parks this fiber until the other ends
//
// A fiber's function runs on its own stack (256 KiB reserved by default,
// committed a page at a time). Its return value is handed to join(); an
// exception that escapes it is rethrown by join(). Dropping a handle that
// was kept (or calling detach()) lets the fiber run on unobserved; an
// exception escaping a detached fiber is reported with the fiber's name and
// aborts the process, as an uncaught exception on a thread would. Ignoring
// spawn()'s result outright is a compiler warning (JoinHandle is
// [[nodiscard]]: an unobserved fiber is usually a mistake); write
// `weft::spawn(f).detach();` to mean it.
//
// Thread rules: spawn(), yield(), sleep_*() and JoinHandle::join() are called
// from a fiber. A JoinHandle is owned by one fiber at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include <weft/fibers/cancel.h>

namespace weft {

struct SpawnOptions {
  // Shown in error messages, traces and debuggers; at most 31 bytes are kept.
  std::string_view name = {};
  // Bytes of stack to reserve (rounded up to a power of two, 16 KiB to 8 MiB);
  // 0 means the runtime's default, 256 KiB. Only touched pages cost memory.
  std::size_t stack_size = 0;
};

namespace fibers {

struct Fiber;  // the runtime's fiber record (fibers/fiber.h)

// The type-erased function of a fiber and the slot for its outcome. It lives
// in the same allocation as the fiber record.
struct TaskBase {
  void (*run)(TaskBase* self) noexcept = nullptr;      // call fn, keep outcome
  void (*destroy)(TaskBase* self) noexcept = nullptr;  // drop the outcome
  std::exception_ptr error;
};

template <class R>
struct ResultSlot : TaskBase {
  union {
    R value;
  };
  bool has_value = false;
  ResultSlot() {}
  ~ResultSlot() {}
};

template <>
struct ResultSlot<void> : TaskBase {};

template <class F, class R>
struct Task final : ResultSlot<R> {
  union {
    F fn;  // destroyed as soon as it has run, so its captures die with the fiber
  };
  bool fn_alive = true;
  explicit Task(F&& f) : fn(std::move(f)) {
    this->run = &run_fn;
    this->destroy = &destroy_outcome;
  }
  ~Task() {}

  static void run_fn(TaskBase* base) noexcept {
    auto* self = static_cast<Task*>(base);
    try {
      if constexpr (std::is_void_v<R>) {
        self->fn();
      } else {
        ::new (static_cast<void*>(&self->value)) R(self->fn());
        self->has_value = true;
      }
    } catch (...) {
      self->error = std::current_exception();
    }
    self->fn_alive = false;
    self->fn.~F();
  }
  static void destroy_outcome(TaskBase* base) noexcept {
    auto* self = static_cast<Task*>(base);
    if (self->fn_alive) self->fn.~F();  // the fiber never ran
    if constexpr (!std::is_void_v<R>) {
      if (self->has_value) self->value.~R();
    }
    self->~Task();
  }
};

// Allocates a fiber record with room for a task of the given size; *task
// receives that room. Throws std::system_error when no fiber can be made
// (called outside a fiber, stack size too large, guard budget spent).
Fiber* create_fiber(std::size_t task_size, std::size_t task_align, const SpawnOptions& options,
                    void** task);
// Frees a record whose task was never constructed.
void discard_fiber(Fiber* fiber) noexcept;
// Makes a fiber whose task is constructed runnable on the current worker.
void launch(Fiber* fiber, TaskBase* task) noexcept;
// Parks the calling fiber until `fiber` has finished.
void wait_finished(Fiber* fiber);
bool is_finished(const Fiber* fiber) noexcept;
// The handle's side is done with a finished fiber: frees the record.
void release(Fiber* fiber) noexcept;
// The handle lets go of a fiber that may still run.
void detach(Fiber* fiber) noexcept;
// What a primitive that keeps no handle (weft::TaskGroup) runs once a fiber
// has finished entirely: its stack is back and it no longer counts as live.
// Runs on the worker's thread, outside any fiber (or on the detaching fiber
// when the fiber had already finished); not run when the runtime abandons
// the fiber. Must not park or throw.
struct FinishHook {
  void (*run)(FinishHook* self) noexcept = nullptr;
};
// As detach(), then `hook` runs when the fiber has finished (the record is
// freed first). `hook` must stay valid until then.
void detach(Fiber* fiber, FinishHook* hook) noexcept;
std::uint64_t id_of(const Fiber* fiber) noexcept;

}  // namespace fibers

template <class R>
class [[nodiscard]] JoinHandle {
 public:
  JoinHandle() = default;
  JoinHandle(fibers::Fiber* fiber, fibers::ResultSlot<R>* slot) : fiber_(fiber), slot_(slot) {}
  JoinHandle(JoinHandle&& other) noexcept
      : fiber_(std::exchange(other.fiber_, nullptr)), slot_(std::exchange(other.slot_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& other) noexcept {
    if (this != &other) {
      detach();
      fiber_ = std::exchange(other.fiber_, nullptr);
      slot_ = std::exchange(other.slot_, nullptr);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { detach(); }

  // Parks until the fiber has finished; returns its value or rethrows its
  // exception. Leaves the handle empty. Throws std::logic_error when empty.
  R join() {
    if (fiber_ == nullptr) throw_empty();
    fibers::wait_finished(fiber_);
    fibers::Fiber* fiber = std::exchange(fiber_, nullptr);
    fibers::ResultSlot<R>* slot = std::exchange(slot_, nullptr);
    struct Release {
      fibers::Fiber* f;
      ~Release() { fibers::release(f); }
    } release{fiber};
    if (slot->error) std::rethrow_exception(slot->error);
    if constexpr (!std::is_void_v<R>) return std::move(slot->value);
  }

  // Lets the fiber run on without a handle.
  void detach() noexcept {
    if (fiber_ != nullptr) fibers::detach(std::exchange(fiber_, nullptr));
    slot_ = nullptr;
  }

  // As detach(), and `hook` runs once the fiber has finished entirely (see
  // fibers::FinishHook). For primitives that count their fibers.
  void detach(fibers::FinishHook& hook) noexcept {
    if (fiber_ != nullptr) fibers::detach(std::exchange(fiber_, nullptr), &hook);
    slot_ = nullptr;
  }

  bool joinable() const noexcept { return fiber_ != nullptr; }
  // True once the fiber has finished (join() would not park).
  bool finished() const noexcept { return fiber_ != nullptr && fibers::is_finished(fiber_); }
  // The fiber's id, or 0 for an empty handle.
  std::uint64_t id() const noexcept { return fiber_ != nullptr ? fibers::id_of(fiber_) : 0; }
  // The runtime's record of the fiber (for weft::Runtime).
  fibers::Fiber* native_handle() const noexcept { return fiber_; }

 private:
  [[noreturn]] static void throw_empty();
  fibers::Fiber* fiber_ = nullptr;
  fibers::ResultSlot<R>* slot_ = nullptr;
};

[[noreturn]] void throw_empty_join_handle();
template <class R>
void JoinHandle<R>::throw_empty() {
  throw_empty_join_handle();
}

// Starts `fn` in a new fiber on the current worker. The fiber gets no stack
// until it first runs. Throws std::system_error if no fiber can be made.
template <class F>
auto spawn(F&& fn, const SpawnOptions& options = {})
    -> JoinHandle<std::invoke_result_t<std::decay_t<F>&>> {
  using Fn = std::decay_t<F>;
  using R = std::invoke_result_t<Fn&>;
  using T = fibers::Task<Fn, R>;
  void* storage = nullptr;
  fibers::Fiber* fiber = fibers::create_fiber(sizeof(T), alignof(T), options, &storage);
  T* task;
  try {
    task = ::new (storage) T(Fn(std::forward<F>(fn)));
  } catch (...) {
    fibers::discard_fiber(fiber);
    throw;
  }
  fibers::launch(fiber, task);
  return JoinHandle<R>(fiber, task);
}

// Lets every other runnable fiber of this worker run before coming back.
void yield();

// Parks the calling fiber until `deadline` (or for `d`). From the worker's
// home context (outside any fiber) this is an error.
// A plain sleep ignores tokens and scopes, as Go's time.Sleep does.
void sleep_until(Deadline deadline);
void sleep_for(Clock::duration d);
// The same, ending early when `options` or the fiber's CancelScope say so:
// weft::errc::deadline_exceeded when their deadline comes before `until`,
// std::errc::operation_canceled when a token is cancelled. Empty when the
// sleep ran its full time.
Result<void> sleep_until(Deadline until, const WaitOptions& options);
Result<void> sleep_for(Clock::duration d, const WaitOptions& options);

// True when called on a fiber.
bool in_fiber() noexcept;

namespace this_fiber {
// The current fiber's id (unique in the process, never 0) or 0 outside one.
std::uint64_t id() noexcept;
// The current fiber's name ("" when unnamed or outside a fiber).
std::string_view name() noexcept;
void set_name(std::string_view name) noexcept;
// The index (0 to workers - 1) of the worker running the calling fiber, or
// SIZE_MAX outside a fiber. A fiber may move to another worker whenever it
// yields or parks, so this is only true until then.
std::size_t worker() noexcept;
}  // namespace this_fiber

}  // namespace weft
