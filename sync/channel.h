// weft/sync/channel.h — typed channels between fibers, and select.
//
//   weft::Channel<int> ch;          // unbuffered: send waits for a receiver
//   weft::Channel<Job> jobs(64);    // buffered: send waits only when full
//   ch.send(42);                    // Result<void>
//   auto v = ch.recv();             // Result<int>
//   ch.close();                     // receivers drain what is buffered, then
//   for (int x : ch) ...            //   get errc::channel_closed
//
//   std::optional<int> got;  Request r = ...;
//   auto s = weft::select({weft::recv_case(a, got), weft::send_case(b, r)},
//                         {.deadline = weft::after(10ms)});
//   // s->index: the case that happened; s->closed: it happened because its
//   // channel is closed (no value received, or `r` not sent).
//
// T must be nothrow-move-constructible (checked at compile time): values
// move while a parked counterpart is claimed.
//
// Semantics follow Go's channels, with errors instead of panics: sending on
// a closed channel fails with errc::channel_closed (send() took the value
// by value and drops it; try_send() and a select's send_case leave it in
// the caller's variable); closing twice is harmless. Every blocking call takes WaitOptions (deadline,
// cancellation). select() tries its cases in random order, so no ready case
// starves another; a deadline already past makes it a poll (Go's `default`),
// as does try_select().
//
// Thread rules: any fiber on any worker may use a channel. A plain thread
// (not a fiber) may too: its blocking calls block the thread. Destroying a
// channel while a fiber or thread waits on it (a send, a receive, a select)
// ends the process with a message naming it and the first waiter
// (tests/fibers/misuse_test.cc); waits of fibers a finished run() abandoned
// do not count. A wait counts only until a counterpart (a send, a receive,
// close()) completes it: from then on the channel is not touched on the
// woken fiber's behalf, so the fiber that completed it may destroy the
// channel at once (a channel may live in either fiber's frame), even if
// the woken fiber has not run yet, or never does because the run ended.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/fibers/spin_lock.h>
#include <weft/sync/wait_list.h>

namespace weft {

namespace fibers {
class Worker;
}

namespace sync {

struct ChannelWait;  // one parked send or receive (channel.cc)
using ChannelQueue = fibers::IntrusiveFifo<ChannelWait>;

// The untyped heart of Channel<T>: queues of parked senders and receivers,
// the buffer's bookkeeping and close. Values move through the functions of
// the typed channel. Thread rules: lock_ guards everything below it.
class ChannelCore {
 public:
  struct Ops {
    // Constructs *(std::optional<T>*)to from *(T*)from, moving.
    void (*give)(void* to, void* from);
    // Appends *(T*)from to the buffer / moves the oldest into
    // *(std::optional<T>*)to. Called under lock_.
    void (*push)(ChannelCore* self, void* from);
    void (*pop)(ChannelCore* self, void* to);
  };
  ChannelCore(std::size_t capacity, const Ops* ops) : capacity_(capacity), ops_(ops) {}
  ~ChannelCore();
  ChannelCore(const ChannelCore&) = delete;
  ChannelCore& operator=(const ChannelCore&) = delete;

  void close();
  bool closed();
  std::size_t size();
  std::size_t capacity() const { return capacity_; }

 protected:
  friend struct SelectRun;
  // One send (from *slot, a T) or receive (into *slot, a std::optional<T>):
  // a select of that one case without the general set-up. 0, kDeadlineExceeded or
  // ECANCELED; *closed: it happened because the channel is closed.
  template <bool kSend>
  int transfer(void* slot, const WaitOptions& options, bool* closed);
  // Under lock_: makes that send or receive happen now if it can (true;
  // *on_closed: because the channel is closed). A parked counterpart it
  // claims is pushed on `claimed`, to be readied once lock_ is released.
  bool try_now(void* slot, bool send, bool* on_closed, ChannelWait*& claimed);
  int transfer_locked(void* slot, bool send, const WaitOptions& options, bool* closed,
                      fibers::Worker* w);
  static bool may_park_solo(fibers::Worker* w, const WaitOptions& options);
  template <bool kSend>
  int park_solo(void* slot, fibers::Worker& w, bool* closed);
  // transfer() when it must wait with a deadline or token, or off a fiber.
  [[gnu::noinline]] int transfer_slow(void* slot, bool send, const WaitOptions& options,
                                      bool* closed);
  fibers::SpinLock lock_;
  std::size_t size_ = 0;  // values in the buffer; guarded by lock_
  const std::size_t capacity_;
  const Ops* const ops_;
  bool closed_ = false;               // guarded by lock_
  ChannelQueue senders_;    // parked sends, oldest first; guarded by lock_
  ChannelQueue receivers_;  // parked receives, oldest first; guarded by lock_
};

}  // namespace sync

// One case of a select: a send or a receive on some channel.
struct SelectCase {
  sync::ChannelCore* channel;
  void* slot;  // T* to send from, or std::optional<T>* to receive into
  bool send;
};

struct Selected {
  std::size_t index;  // which case happened
  bool closed;        // it happened because its channel is closed
};

// Waits until one of `cases` can happen, makes exactly that one happen, and
// says which. errc timed_out / operation_canceled if the wait ends first.
Result<Selected> select(std::initializer_list<SelectCase> cases, const WaitOptions& options = {});
// The same without waiting: empty when no case can happen now.
std::optional<Selected> try_select(std::initializer_list<SelectCase> cases);

template <class T>
class Channel : private sync::ChannelCore {
  // A value moves while a parked counterpart is claimed and before it is
  // readied: a move that threw would leave that fiber parked for good.
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "weft::Channel<T> needs a T whose move constructor is noexcept");

 public:
  // capacity 0: unbuffered (every send meets a receive).
  explicit Channel(std::size_t capacity = 0)
      : ChannelCore(capacity, &kOps),
        buffer_(capacity == 0 ? nullptr : static_cast<T*>(::operator new(
                                              capacity * sizeof(T), std::align_val_t(alignof(T))))) {}
  ~Channel() {
    for (std::size_t i = 0; i < size_; ++i) buffer_[(head_ + i) % capacity_].~T();
    if (buffer_ != nullptr) ::operator delete(buffer_, std::align_val_t(alignof(T)));
  }

  // Parks until a receiver takes the value (unbuffered) or there is room.
  // errc::channel_closed if the channel is closed (the value is dropped),
  // timed_out or operation_canceled if the wait ends first.
  Result<void> send(T value, const WaitOptions& options = {}) {
    bool closed = false;
    if (const int e = transfer<true>(&value, options, &closed); e != 0) return errno_error(e);
    if (closed) return errc::channel_closed;
    return {};
  }
  // Sends only if that needs no waiting; on false `value` is untouched.
  bool try_send(T& value) {
    auto r = try_select({send_case(value)});
    return r && !r->closed;
  }
  // Parks until a value arrives; errc::channel_closed once the channel is
  // closed and drained.
  Result<T> recv(const WaitOptions& options = {}) {
    std::optional<T> out;
    bool closed = false;
    if (const int e = transfer<false>(&out, options, &closed); e != 0) return errno_error(e);
    if (closed) return errc::channel_closed;
    return std::move(*out);
  }
  std::optional<T> try_recv() {
    std::optional<T> out;
    (void)try_select({recv_case(out)});
    return out;
  }

  using ChannelCore::capacity;
  using ChannelCore::close;
  using ChannelCore::closed;
  using ChannelCore::size;

  SelectCase send_case(T& value) { return {this, &value, true}; }
  SelectCase recv_case(std::optional<T>& out) { return {this, &out, false}; }

  // for (T v : ch) receives until the channel is closed and drained.
  class Iterator {
   public:
    explicit Iterator(Channel* ch) : ch_(ch) { next(); }
    Iterator() = default;
    T& operator*() { return *value_; }
    Iterator& operator++() {
      next();
      return *this;
    }
    bool operator!=(const Iterator& other) const { return value_.has_value() != other.value_.has_value(); }

   private:
    void next() {
      value_.reset();
      if (auto r = ch_->recv()) value_.emplace(std::move(*r));
    }
    Channel* ch_ = nullptr;
    std::optional<T> value_;
  };
  Iterator begin() { return Iterator(this); }
  Iterator end() { return Iterator(); }

 private:
  static void give(void* to, void* from) {
    static_cast<std::optional<T>*>(to)->emplace(std::move(*static_cast<T*>(from)));
  }
  static void push(ChannelCore* self, void* from) {
    auto* c = static_cast<Channel*>(self);
    ::new (static_cast<void*>(c->buffer_ + (c->head_ + c->size_) % c->capacity_))
        T(std::move(*static_cast<T*>(from)));
  }
  static void pop(ChannelCore* self, void* to) {
    auto* c = static_cast<Channel*>(self);
    T& oldest = c->buffer_[c->head_];
    static_cast<std::optional<T>*>(to)->emplace(std::move(oldest));
    oldest.~T();
    c->head_ = (c->head_ + 1) % c->capacity_;
  }
  static constexpr Ops kOps{&give, &push, &pop};

  T* buffer_;              // capacity_ slots; size_ of them live from head_
  std::size_t head_ = 0;   // guarded by lock_
};

template <class T>
SelectCase send_case(Channel<T>& ch, T& value) {
  return ch.send_case(value);
}
template <class T>
SelectCase recv_case(Channel<T>& ch, std::optional<T>& out) {
  return ch.recv_case(out);
}

}  // namespace weft
