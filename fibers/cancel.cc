#include <weft/fibers/cancel.h>

#include <weft/fibers/intrusive_fifo.h>

namespace weft {

CancelToken::~CancelToken() {
  // Waits unregister before they return, so a token that dies with waits
  // still registered was destroyed under a parked fiber: detach them so
  // nothing points at freed memory.
  std::lock_guard<std::mutex> lock(mutex_);
  while (head_ != nullptr) unlink(head_);
}

void CancelToken::cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_.store(true, std::memory_order_release);
  while (Registration* r = head_) {
    unlink(r);  // first: the callback may wake a fiber that registers again
    r->on_cancel(r);
  }
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

}  // namespace weft
