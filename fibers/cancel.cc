#include <weft/fibers/cancel.h>

#include <cerrno>

#include <weft/fibers/checks.h>
#include <weft/fibers/fiber.h>
#include <weft/fibers/intrusive_fifo.h>
#include <weft/fibers/wait.h>
#include <weft/fibers/worker.h>

namespace weft {

CancelToken::CancelToken(CancelToken& parent) { parent_.attach(parent, *this); }

CancelToken::~CancelToken() {
  // First the parent: its cancel must not reach a token half gone.
  parent_.detach();
  // Waits unregister before they return, so a token that dies with waits
  // still registered was destroyed under a parked fiber: detach them so
  // nothing points at freed memory.
  std::lock_guard<std::mutex> lock(mutex_);
  while (head_ != nullptr) unlink(head_);
}

void CancelToken::cancel(Error cause) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cancelled_.load(std::memory_order_relaxed)) return;
  cause_ = std::move(cause);
  if (!cause_) cause_ = Error(std::make_error_code(std::errc::operation_canceled));
  cancelled_.store(true, std::memory_order_release);
  while (Registration* r = head_) {
    unlink(r);  // first: the callback may wake a fiber that registers again
    r->on_cancel(r);
  }
}

Error CancelToken::cause() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cause_;
}

bool CancelToken::add(Registration* r) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cancelled_.load(std::memory_order_relaxed)) return false;
  r->token = this;
  fibers::link_front<&Registration::prev, &Registration::next>(head_, r);
  return true;
}

void CancelToken::remove(Registration* r) {
  std::lock_guard<std::mutex> lock(mutex_);
  unlink(r);
}

void CancelToken::unlink(Registration* r) {
  if (r->token != this) return;
  fibers::unlink<&Registration::prev, &Registration::next>(head_, r);
  r->token = nullptr;
}

void CancelToken::Link::attach(CancelToken& parent, CancelToken& child) {
  detach();
  hook_.child = &child;
  hook_.parent = &parent;
  hook_.on_cancel = [](Registration* r) {
    // Under the parent's lock, so its cause is final; locks are only ever
    // taken parent first.
    auto* h = static_cast<Hook*>(r);
    h->child->cancel(h->parent->cause_);
  };
  parent_ = &parent;
  if (!parent.add(&hook_)) child.cancel(parent.cause());
}

void CancelToken::Link::detach() {
  if (parent_ == nullptr) return;
  parent_->remove(&hook_);
  parent_ = nullptr;
}

namespace fibers {

const WaitScope* current_scope() noexcept {
  Worker* w = Worker::current();
  if (w == nullptr || !w->on_fiber()) return nullptr;
  return w->current_fiber()->scope;
}

void WaitTerms::fold(const WaitScope& scope) noexcept {
  if (scope.deadline < deadline_) deadline_ = scope.deadline;
  if (scope.token == nullptr || scope.token == tokens_[0]) return;
  if (tokens_[0] == nullptr) {
    tokens_[0] = scope.token;
  } else {
    tokens_[1] = scope.token;
  }
}

void nest_scope(WaitScope& frame, CancelToken& token, CancelToken::Link (&parents)[2],
                const WaitOptions& options, const WaitScope* outer) {
  frame.token = &token;
  frame.deadline = options.deadline;
  if (options.cancel != nullptr) parents[0].attach(*options.cancel, token);
  if (outer != nullptr) {
    if (outer->deadline < frame.deadline) frame.deadline = outer->deadline;
    if (outer->token != nullptr) parents[1].attach(*outer->token, token);
  }
}

int WaitTerms::over_before_start() const noexcept {
  for (CancelToken* t : tokens_) {
    if (t != nullptr && t->cancelled()) return ECANCELED;
  }
  if (deadline_ != kNoDeadline && deadline_ <= Clock::now()) return kDeadlineExceeded;
  return 0;
}

bool WaitTerms::watch(void (*on_cancel)(WaitTerms*)) {
  on_cancel_ = on_cancel;
  fired_.store(false, std::memory_order_relaxed);
  for (int i = 0; i < 2; ++i) {
    if (tokens_[i] == nullptr) continue;
    hooks_[i].terms = this;
    hooks_[i].on_cancel = [](CancelToken::Registration* r) {
      WaitTerms* t = static_cast<Hook*>(r)->terms;
      if (!t->fired_.exchange(true, std::memory_order_acq_rel)) t->on_cancel_(t);
    };
    if (!tokens_[i]->add(&hooks_[i])) {
      fired_.store(true, std::memory_order_release);  // nothing is to run on_cancel now
      return false;
    }
  }
  return true;
}

void WaitTerms::unwatch() {
  for (int i = 0; i < 2; ++i) {
    if (tokens_[i] != nullptr) tokens_[i]->remove(&hooks_[i]);
  }
}

}  // namespace fibers

CancelScope::CancelScope(const WaitOptions& options) {
  fibers::Worker& w = fibers::require_fiber("weft::CancelScope");
  fiber_ = w.current_fiber();
  outer_ = fiber_->scope;
  fibers::nest_scope(frame_, token_, parents_, options, outer_);
  fiber_->scope = &frame_;
}

CancelScope::~CancelScope() {
  fibers::Worker* w = fibers::Worker::current();
  if (w == nullptr || w->current_fiber() != fiber_ || fiber_->scope != &frame_) [[unlikely]] {
    // Scopes nest: one ending out of order (or on another fiber) would leave
    // waits obeying a dead frame.
    fibers::rule_broken("a weft::CancelScope ended out of order or on another fiber");
  }
  fiber_->scope = outer_;
}

}  // namespace weft
