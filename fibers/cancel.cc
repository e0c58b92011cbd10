#include <weft/fibers/cancel.h>

namespace weft {

CancelToken::~CancelToken() {
  // Waits unregister before they return, so a token that dies with waits
  // still registered was destroyed under a parked fiber: detach them so
  // nothing points at freed memory.
  while (head_ != nullptr) remove(head_);
}

void CancelToken::cancel() {
  cancelled_ = true;
  while (Registration* r = head_) {
    remove(r);  // unlink first: the callback may wake a fiber that re-registers
    r->on_cancel(r);
  }
}

bool CancelToken::add(Registration* r) {
  if (cancelled_) return false;
  r->token = this;
  r->prev = nullptr;
  r->next = head_;
  if (head_ != nullptr) head_->prev = r;
  head_ = r;
  return true;
}

void CancelToken::remove(Registration* r) {
  if (r->token != this) return;
  if (r->prev != nullptr)
    r->prev->next = r->next;
  else
    head_ = r->next;
  if (r->next != nullptr) r->next->prev = r->prev;
  r->prev = r->next = nullptr;
  r->token = nullptr;
}

}  // namespace weft
