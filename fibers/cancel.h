// weft/fibers/cancel.h — deadlines and cancellation for anything that waits.
//
// Every blocking call in weft that can report an error takes a WaitOptions:
// a deadline and/or a CancelToken. Missing the deadline ends the call with
// weft::errc::deadline_exceeded (which compares equal to
// std::errc::timed_out); cancelling the token ends it with
// std::errc::operation_canceled. Either way the call returns normally with
// that error and the fiber goes on.
//
// A CancelToken may be shared by many waits (cancel one connection's reads
// and writes at once, or every connection at shutdown). Cancelling is sticky:
// a wait that starts on a cancelled token fails at once. Tokens form a tree:
// a token made with a parent is cancelled, with the parent's cause, when the
// parent is. The cause (cause()) says why: the error a caller gave cancel(),
// by default std::errc::operation_canceled.
//
// A CancelScope puts a token and a deadline around a stretch of one fiber's
// code: every wait inside it that can report an error obeys them too, beside
// its own options (the earlier deadline wins; either token cancels it). A
// scope made inside another obeys the outer one as well. Waits that cannot
// report an error (Mutex::lock(), JoinHandle::join(), a plain sleep_for)
// and waits with `scoped = false` (cleanup that must finish) ignore scopes.
// A TaskGroup (sync/task_group.h) runs its children in such a scope.
//
// Thread rules: any thread may cancel a token; waits on any worker may use it.
// A mutex guards the registrations, and cancel() runs each wait's callback
// under it, so a wait that unregisters after cancel() began waits until its
// callback is done. A CancelScope belongs to the fiber that made it and ends
// on it, in the reverse order of making (it lives in that fiber's frame).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

#include <weft/fibers/result.h>

namespace weft {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC
using Deadline = Clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

// The deadline `d` from now.
inline Deadline after(Clock::duration d) { return Clock::now() + d; }

class CancelToken;

struct WaitOptions {
  Deadline deadline = kNoDeadline;
  CancelToken* cancel = nullptr;
  // False: the fiber's CancelScope (and TaskGroup) does not end this wait;
  // for cleanup that must finish after a cancel.
  bool scoped = true;
};

class CancelToken {
 public:
  CancelToken() = default;
  // A child: cancelled, with the parent's cause, when `parent` is (at once if
  // it already is). The parent must outlive the child or be cancelled first.
  explicit CancelToken(CancelToken& parent);
  ~CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Cancels every wait registered now and every wait started later, and
  // every child. The first cancel's cause is kept; later ones do nothing.
  void cancel(Error cause = Error(std::make_error_code(std::errc::operation_canceled)));
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Why it was cancelled; empty while it is not.
  Error cause() const;

  // For the runtime's wait implementations: a wait registers while it is
  // parked and is told once if the token is cancelled meanwhile.
  struct Registration {
    void (*on_cancel)(Registration* self) = nullptr;
    Registration* prev = nullptr;
    Registration* next = nullptr;
    CancelToken* token = nullptr;  // set while registered
  };
  // Registers `r`; returns false (and registers nothing) if already cancelled.
  bool add(Registration* r);
  // Unregisters `r` if it is still registered.
  void remove(Registration* r);

  // Cancels `child` when `parent` is, until detached or destroyed. A token
  // has one such link to its parent; CancelScope and TaskGroup add a second
  // (the enclosing scope's token).
  class Link {
   public:
    Link() = default;
    ~Link() { detach(); }
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;
    void attach(CancelToken& parent, CancelToken& child);
    void detach();

   private:
    struct Hook : Registration {
      CancelToken* parent = nullptr;
      CancelToken* child = nullptr;
    } hook_;
    CancelToken* parent_ = nullptr;
  };

 private:
  void unlink(Registration* r);
  Link parent_;
  mutable std::mutex mutex_;
  Registration* head_ = nullptr;  // guarded by mutex_
  Error cause_;                   // written once, before cancelled_
  std::atomic<bool> cancelled_{false};
};

namespace fibers {

struct Fiber;

// What every scoped wait of a fiber obeys besides its own options: the
// innermost CancelScope's token (a child of the enclosing scopes' tokens)
// and the earliest of their deadlines. Fiber::scope points at it.
struct WaitScope {
  CancelToken* token = nullptr;
  Deadline deadline = kNoDeadline;
};

// The scope the calling fiber runs in, or null (none, or not on a fiber).
const WaitScope* current_scope() noexcept;

// Makes `frame` a scope inside `outer` (may be null) with `token` as its own:
// the earlier deadline of the two; `token` cancelled when options.cancel or
// the outer token is (through `parents`). For CancelScope and TaskGroup.
void nest_scope(WaitScope& frame, CancelToken& token, CancelToken::Link (&parents)[2],
                const WaitOptions& options, const WaitScope* outer);

// The terms one wait obeys: its options with its fiber's scope folded in
// (the earlier deadline; up to two tokens). Lives in the waiting frame.
class WaitTerms {
 public:
  WaitTerms() = default;
  WaitTerms(const WaitOptions& options, const WaitScope* scope) { set(options, scope); }
  WaitTerms(const WaitTerms&) = delete;
  WaitTerms& operator=(const WaitTerms&) = delete;

  void set(const WaitOptions& options, const WaitScope* scope) noexcept {
    deadline_ = options.deadline;
    tokens_[0] = options.cancel;
    tokens_[1] = nullptr;
    if (scope != nullptr && options.scoped) [[unlikely]]
      fold(*scope);
  }
  Deadline deadline() const noexcept { return deadline_; }
  bool has_deadline() const noexcept { return deadline_ != kNoDeadline; }
  bool cancellable() const noexcept { return tokens_[0] != nullptr; }
  // A token it obeys (null when none): the first to register with.
  CancelToken* first_token() const noexcept { return tokens_[0]; }
  // ECANCELED or kDeadlineExceeded (result.h) when the wait is over
  // before it starts, else 0.
  int over_before_start() const noexcept;

  // Registers with each token; `on_cancel(this)` runs once (any thread,
  // under a token's lock) when one is cancelled. False when one already is
  // (on_cancel does not run then; unwatch() still must).
  bool watch(void (*on_cancel)(WaitTerms* self));
  // Unregisters (waits for an on_cancel under way). Safe to repeat.
  void unwatch();

 private:
  void fold(const WaitScope& scope) noexcept;
  struct Hook : CancelToken::Registration {
    WaitTerms* terms = nullptr;
  };
  Deadline deadline_ = kNoDeadline;
  CancelToken* tokens_[2] = {nullptr, nullptr};
  void (*on_cancel_)(WaitTerms*) = nullptr;
  std::atomic<bool> fired_{false};
  Hook hooks_[2];
};

}  // namespace fibers

// Scopes the calling fiber's scoped waits (see the top): until it ends,
// each also obeys options.deadline (or the enclosing scope's, if earlier),
// and ends when options.cancel, the enclosing scope's token or this scope's
// own token() is cancelled. Throws std::logic_error off a fiber.
class CancelScope {
 public:
  explicit CancelScope(const WaitOptions& options = {});
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

  // Ends every scoped wait inside, now and later (see CancelToken::cancel).
  void cancel(Error cause = Error(std::make_error_code(std::errc::operation_canceled))) {
    token_.cancel(std::move(cause));
  }
  bool cancelled() const { return token_.cancelled(); }
  CancelToken& token() { return token_; }
  Deadline deadline() const { return frame_.deadline; }

 private:
  CancelToken token_;
  CancelToken::Link parents_[2];  // options.cancel, the enclosing scope's token
  fibers::WaitScope frame_;
  const fibers::WaitScope* outer_ = nullptr;
  fibers::Fiber* fiber_ = nullptr;
};

}  // namespace weft
