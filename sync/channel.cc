// Channels and select.
//
// Every send, receive and select is a select over one or more cases. A
// select first tries its cases in random order, each under its channel's
// lock. If none can happen it parks: one ChannelWait per case, linked into
// each channel's queue of parked senders or receivers, all sharing one
// waiter (a fiber's Waiter, or a plain thread's condition variable). Linking
// happens with every involved channel locked (in address order, so two
// selects cannot deadlock) and after one more try of every case, so nothing
// that became possible meanwhile is missed.
//
// A counterpart (a send meeting a parked receive, a close) claims a parked
// case by waking its waiter under the channel's lock. Only one wake per wait
// succeeds, so exactly one case of a select happens; a counterpart whose wake
// fails drops that ChannelWait and tries the next. After a successful wake it
// moves the value and records which case happened, still under the lock; the
// woken side reads that only after locking each of its channels to unlink
// its other cases, by which time the counterpart has let go.
//
// Solo waits. A plain send or receive on a fiber, with no deadline and no
// token, can end only one way: a counterpart claims it under this channel's
// lock. It needs none of the above: it links a SoloWait (no SelectRun, no
// Waiter, no timer or token) under the same lock hold in which it found it
// must wait, and parks. The claim is the counterpart's pop under the lock;
// readying uses the Waiter's ParkHandshake (wait.h), because a
// counterpart on another worker may find the wait before the fiber has
// switched out.
#include <weft/sync/channel.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <stdexcept>

#include <weft/fibers/fiber.h>
#include <weft/fibers/wait.h>

namespace weft::sync {

// What a fiber parked on one channel waits in (Worker::park).
inline fibers::WaitSite channel_site(bool send, const ChannelCore* channel) {
  return {send ? "weft::Channel::send" : "weft::Channel::recv", channel};
}

struct SelectRun;

struct ChannelWait {
  void* slot = nullptr;     // T* to send from, or std::optional<T>* to receive into
  SelectRun* run = nullptr;  // null: a SoloWait
  std::size_t index = 0;    // of the case in the select
  ChannelWait* prev = nullptr;
  ChannelWait* next = nullptr;
  bool linked = false;  // guarded by the channel's lock
};

namespace {

// A parked send or receive that only a counterpart can end (see the top).
// Lives in the parked fiber's frame.
struct SoloWait : ChannelWait {
  struct Abandon : fibers::AbandonHook {
    SoloWait* wait;
  };
  SoloWait(void* value, bool is_send, ChannelCore* ch, fibers::Worker& w)
      : channel(ch), worker(&w), fiber(w.current_fiber()), send(is_send) {
    slot = value;
    abandon.wait = this;
  }

  // The fiber has switched out: from here on a counterpart readies it. A
  // counterpart that came first left that to us (false: resume at once).
  static bool commit(fibers::Fiber*, void* self) { return static_cast<SoloWait*>(self)->handshake.parked(); }
  // The counterpart's half, after the claim, without the lock. `me`: the
  // counterpart's worker (null: a plain thread).
  void finish(bool to_next_slot, fibers::Worker* me) {
    fibers::Fiber* f = fiber;  // read first: unless parked, the fiber may resume and go
    fibers::Worker* home = worker;
    if (me == home) {
      // Parked here, and we run here: it switched out and its commit ran
      // (the first thing after the switch), so the phase is kParked.
      me->ready(f, to_next_slot);
    } else if (handshake.woken()) {
      fibers::ready_here_or_home(f, home, to_next_slot, me);
    }
  }

  ChannelCore* channel;
  fibers::Worker* worker;  // where the fiber parked
  fibers::Fiber* fiber;
  bool send;            // in the channel's senders_, else its receivers_
  bool closed = false;  // written by the claimer under the channel's lock
  fibers::ParkHandshake handshake;
  Abandon abandon;
};

}  // namespace

namespace {

// A plain thread's way to wait: the same claim-then-finish as a fiber's
// Waiter. The sleeper returns only once the winner of the claim has
// finished with it (the sleeper lives on the thread's stack).
class ThreadSleeper {
 public:
  bool claim(int outcome) {
    int expected = kWaiting;
    return outcome_.compare_exchange_strong(expected, outcome, std::memory_order_acq_rel);
  }
  void finish() {
    std::lock_guard<std::mutex> g(mutex_);
    finished_ = true;
    cv_.notify_one();
  }
  int sleep(const WaitOptions& options) {
    struct Cancel : CancelToken::Registration {
      ThreadSleeper* self;
    } cancel;
    cancel.self = this;
    cancel.on_cancel = [](CancelToken::Registration* r) {
      ThreadSleeper* t = static_cast<Cancel*>(r)->self;
      if (t->claim(ECANCELED)) t->finish();
    };
    if (options.cancel != nullptr && !options.cancel->add(&cancel) && claim(ECANCELED)) finish();
    {
      std::unique_lock<std::mutex> lk(mutex_);
      auto done = [this] { return finished_; };
      if (options.deadline == kNoDeadline || !cv_.wait_until(lk, options.deadline, done)) {
        // No deadline, or it passed: unless the timeout wins the claim,
        // someone else did and will finish.
        if (options.deadline != kNoDeadline && claim(fibers::kDeadlineExceeded)) finished_ = true;
        cv_.wait(lk, done);
      }
    }
    if (options.cancel != nullptr) options.cancel->remove(&cancel);
    return outcome_.load(std::memory_order_acquire);
  }

 private:
  static constexpr int kWaiting = -1;
  std::atomic<int> outcome_{kWaiting};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool finished_ = false;  // guarded by mutex_
};

std::uint64_t next_random() {
  thread_local std::uint64_t state =
      0x9e3779b97f4a7c15ULL ^ reinterpret_cast<std::uintptr_t>(&state);
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

constexpr std::size_t kNone = SIZE_MAX;

// n elements, inline when few (every send and receive is a one-case select,
// and must not allocate). Elements are not initialised: each is written
// before it is read (T is an implicit-lifetime type).
template <class T, std::size_t N = 4>
class SmallArray {
 public:
  explicit SmallArray(std::size_t n)
      : heap_(n > N ? std::make_unique_for_overwrite<T[]>(n) : nullptr),
        data_(n > N ? heap_.get() : reinterpret_cast<T*>(inline_)) {
    static_assert(std::is_trivially_destructible_v<T>);
  }
  T& operator[](std::size_t i) { return data_[i]; }
  T* data() { return data_; }

 private:
  alignas(T) unsigned char inline_[N * sizeof(T)];  // constructed only as needed
  std::unique_ptr<T[]> heap_;
  T* data_;
};

}  // namespace

// One select call: its cases, their parked waits, and how it ended.
struct SelectRun {
  const SelectCase* cases;
  std::size_t n;
  SmallArray<ChannelWait> waits;
  SmallArray<ChannelCore*> channels;  // distinct, in address (lock) order
  std::size_t n_channels = 0;
  SmallArray<std::size_t> order;  // the order cases are tried in
  bool parked = false;            // waits are linked or were
  fibers::Waiter* waiter = nullptr;
  ThreadSleeper* sleeper = nullptr;
  std::size_t fired = kNone;  // written under the fired case's channel lock
  bool closed = false;

  SelectRun(const SelectCase* cs, std::size_t count)
      : cases(cs), n(count), waits(n), channels(n), order(n) {
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[next_random() % i]);
  }
  bool attempt_any(ChannelWait*& claimed) {
    for (std::size_t k = 0; k < n; ++k) {
      if (attempt(order[k], claimed)) return true;
    }
    return false;
  }

  bool claim(int outcome) {
    return waiter != nullptr ? waiter->claim(outcome) : sleeper->claim(outcome);
  }
  void finish(bool next) {
    if (waiter != nullptr)
      waiter->finish_wake(next);
    else
      sleeper->finish();
  }

  // Pops parked waits from `q` until one is claimed; nullptr if none is.
  // The claimed select is finished (readied) after the lock is released.
  static ChannelWait* claim(ChannelQueue& q) {
    while (ChannelWait* w = q.pop_front()) {
      if (w->run == nullptr || w->run->claim(0)) return w;  // a solo wait is the pop
    }
    return nullptr;
  }
  // Readies the waits claimed under a lock now released. `me`: the caller's
  // worker.
  static void finish(ChannelWait* claimed, fibers::Worker* me = fibers::Worker::current()) {
    const bool one = claimed != nullptr && claimed->next == nullptr;
    while (claimed != nullptr) {
      ChannelWait* next = claimed->next;  // read first: once readied it may go
      // One may take the next slot; several queue in order.
      if (claimed->run != nullptr)
        claimed->run->finish(one);
      else
        static_cast<SoloWait*>(claimed)->finish(one, me);
      claimed = next;
    }
  }
  static void record(ChannelWait* w, bool closed) {
    if (w->run == nullptr) {
      static_cast<SoloWait*>(w)->closed = closed;
      return;
    }
    w->run->fired = w->index;
    w->run->closed = closed;
  }

  // Makes case `i` happen if it can, without waiting. Its channel is locked.
  // A parked counterpart it claims goes on `claimed`, to finish unlocked.
  bool attempt(std::size_t i, ChannelWait*& claimed) {
    const SelectCase& c = cases[i];
    bool on_closed = false;
    if (!c.channel->try_now(c.slot, c.send, &on_closed, claimed)) return false;
    fired = i;
    closed = on_closed;
    return true;
  }

  // Tries every case once, each under its own channel's lock.
  bool try_each() {
    for (std::size_t k = 0; k < n; ++k) {
      ChannelWait* claimed = nullptr;
      bool happened;
      {
        std::lock_guard<fibers::SpinLock> g(cases[order[k]].channel->lock_);
        happened = attempt(order[k], claimed);
      }
      finish(claimed);
      if (happened) return true;
    }
    return false;
  }

  // With every channel locked: one more try, else park every case. Returns
  // false when a case happened instead.
  bool publish() {
    for (std::size_t k = 0; k < n_channels; ++k) channels[k]->lock_.lock();
    ChannelWait* claimed = nullptr;
    if (!attempt_any(claimed)) {
      for (std::size_t i = 0; i < n; ++i) {
        waits[i].slot = cases[i].slot;
        waits[i].run = this;
        waits[i].index = i;
        ChannelCore& ch = *cases[i].channel;
        (cases[i].send ? ch.senders_ : ch.receivers_).push_back(&waits[i]);
      }
      parked = true;
    }
    for (std::size_t k = n_channels; k > 0; --k) channels[k - 1]->lock_.unlock();
    finish(claimed);
    return parked;
  }

  // Takes back every parked case; afterwards no counterpart holds a lock on
  // any of them, and `fired` / `closed` are final.
  void unlink_all() {
    if (!parked) return;
    for (std::size_t i = 0; i < n; ++i) {
      // The case that fired was unlinked by its claimer, whose channel may
      // be gone by now (a sender that returned at once).
      if (i == fired) continue;
      ChannelCore& ch = *cases[i].channel;
      std::lock_guard<fibers::SpinLock> g(ch.lock_);
      (cases[i].send ? ch.senders_ : ch.receivers_).remove(&waits[i]);
    }
  }

  void sort_channels() {
    for (std::size_t i = 0; i < n; ++i) channels[i] = cases[i].channel;
    if (n == 1) {
      n_channels = 1;
      return;
    }
    std::sort(channels.data(), channels.data() + n);
    n_channels = static_cast<std::size_t>(std::unique(channels.data(), channels.data() + n) -
                                          channels.data());
  }

  // What a fiber parked here waits in: one channel, or a select.
  fibers::WaitSite site() const {
    return n == 1 ? channel_site(cases[0].send, cases[0].channel) : fibers::WaitSite{"weft::select"};
  }

  // Parks until a case happens; 0, kDeadlineExceeded or ECANCELED.
  int wait(const WaitOptions& options) {
    sort_channels();
    fibers::Worker* w = fibers::Worker::current();
    if (w != nullptr && w->on_fiber()) {
      fibers::Waiter fiber_waiter(*w);
      waiter = &fiber_waiter;
      fiber_waiter.on_abandon([](void* self) { static_cast<SelectRun*>(self)->unlink_all(); },
                              this);
      const int outcome = fiber_waiter.wait(
          options, site(),
          [](fibers::Waiter&, void* self) { return static_cast<SelectRun*>(self)->publish(); }, this);
      // Claimed with one case: the claimer unlinked it and let go of the lock.
      if (outcome != 0 || n > 1) unlink_all();
      return outcome;
    }
    if (options.cancel != nullptr && options.cancel->cancelled()) return ECANCELED;
    if (options.deadline != kNoDeadline && options.deadline <= Clock::now()) return fibers::kDeadlineExceeded;
    ThreadSleeper thread_sleeper;
    sleeper = &thread_sleeper;
    if (!publish()) return 0;
    const int outcome = thread_sleeper.sleep(options);
    if (outcome != 0 || n > 1) unlink_all();
    return outcome;
  }
};

namespace {

// The fiber of a parked send or receive (null: a plain thread's select).
const fibers::Fiber* waiting_fiber(const ChannelWait* w) {
  if (w->run == nullptr) return static_cast<const SoloWait*>(w)->fiber;
  return w->run->waiter != nullptr ? w->run->waiter->fiber() : nullptr;
}

}  // namespace

// A wait still parked here belongs to a live fiber or thread (the runtime
// unlinks the waits of fibers it abandons): end the process naming it, as
// every sync primitive does (sync/wait_list.h).
ChannelCore::~ChannelCore() {
  std::lock_guard<fibers::SpinLock> g(lock_);
  std::size_t waits = 0;
  const ChannelWait* first = nullptr;
  for (const ChannelQueue* q : {&receivers_, &senders_}) {
    for (const ChannelWait* w = q->front(); w != nullptr; w = w->next) {
      if (first == nullptr) first = w;
      ++waits;
    }
  }
  if (first != nullptr) destroyed_while_waited("weft::Channel", this, waits, waiting_fiber(first));
}

void ChannelCore::close() {
  ChannelWait* claimed = nullptr;
  {
    std::lock_guard<fibers::SpinLock> g(lock_);
    if (closed_) return;
    closed_ = true;
    for (ChannelQueue* q : {&receivers_, &senders_}) {
      while (ChannelWait* w = SelectRun::claim(*q)) {
        SelectRun::record(w, true);
        w->next = claimed;
        claimed = w;
      }
    }
  }
  SelectRun::finish(claimed);
}

[[gnu::always_inline]] inline bool ChannelCore::try_now(void* slot, bool send, bool* on_closed, ChannelWait*& claimed) {
  if (send) {
    if (closed_) {
      *on_closed = true;
    } else if (ChannelWait* r = SelectRun::claim(receivers_)) {
      ops_->give(r->slot, slot);
      SelectRun::record(r, false);
      r->next = claimed;
      claimed = r;
    } else if (size_ < capacity_) {
      ops_->push(this, slot);
      ++size_;
    } else {
      return false;
    }
    return true;
  }
  if (size_ > 0) {
    ops_->pop(this, slot);
    --size_;
    if (ChannelWait* s = SelectRun::claim(senders_)) {  // room now: take a parked send
      ops_->push(this, s->slot);
      ++size_;
      SelectRun::record(s, false);
      s->next = claimed;
      claimed = s;
    }
  } else if (ChannelWait* s = SelectRun::claim(senders_)) {
    ops_->give(slot, s->slot);
    SelectRun::record(s, false);
    s->next = claimed;
    claimed = s;
  } else if (closed_) {
    *on_closed = true;
  } else {
    return false;
  }
  return true;
}

inline bool ChannelCore::may_park_solo(fibers::Worker* w, const WaitOptions& options) {
  return options.deadline == kNoDeadline && options.cancel == nullptr && w != nullptr &&
         w->on_fiber() && (w->current_fiber()->scope == nullptr || !options.scoped);
}

// A solo wait (see the top), linked in the same lock hold that found the
// fiber must wait, so nothing is missed. Releases lock_.
template <bool kSend>
inline int ChannelCore::park_solo(void* slot, fibers::Worker& w, bool* closed) {
  SoloWait wait(slot, kSend, this, w);
  (kSend ? senders_ : receivers_).push_back(&wait);
  lock_.unlock();
  wait.abandon.run = [](fibers::AbandonHook* h) {
    SoloWait* sw = static_cast<SoloWait::Abandon*>(h)->wait;
    // Claimed and readied but never run: the claimer unlinked the wait, and
    // the channel may be gone already (its owner returned). The run is over,
    // so no claimer still writes the flag.
    if (!sw->linked) return;
    std::lock_guard<fibers::SpinLock> g(sw->channel->lock_);
    (sw->send ? sw->channel->senders_ : sw->channel->receivers_).remove(sw);
  };
  wait.fiber->abandon_hook = &wait.abandon;
  w.park(channel_site(kSend, this), &SoloWait::commit, &wait);
  // Claimed: the counterpart unlinked the wait and let go of the lock.
  wait.fiber->abandon_hook = nullptr;
  *closed = wait.closed;
  return 0;
}

template <bool kSend>
int ChannelCore::transfer(void* slot, const WaitOptions& options, bool* closed) {
  fibers::Worker* w = fibers::Worker::current();
  lock_.lock();
  if (capacity_ == 0 && !closed_) [[likely]] {
    // Unbuffered and open, the common case, in short: meet a parked plain
    // counterpart, or park as one.
    ChannelQueue& peers = kSend ? receivers_ : senders_;
    ChannelWait* peer = peers.front();
    if (peer == nullptr) {
      if (may_park_solo(w, options)) return park_solo<kSend>(slot, *w, closed);
    } else if (peer->run == nullptr) {
      // Popped, the wait is ours: its fiber stays parked until finish(), so
      // the value moves after the lock is released.
      peers.pop_front();
      const Ops* ops = ops_;
      lock_.unlock();
      if (kSend)
        ops->give(peer->slot, slot);
      else
        ops->give(slot, peer->slot);
      static_cast<SoloWait*>(peer)->finish(true, w);
      return 0;
    }
  }
  return transfer_locked(slot, kSend, options, closed, w);
}

template int ChannelCore::transfer<true>(void*, const WaitOptions&, bool*);
template int ChannelCore::transfer<false>(void*, const WaitOptions&, bool*);

// Everything but the common case above, entered with lock_ held.
int ChannelCore::transfer_locked(void* slot, bool send, const WaitOptions& options, bool* closed,
                                 fibers::Worker* w) {
  ChannelWait* claimed = nullptr;
  if (try_now(slot, send, closed, claimed)) {
    lock_.unlock();
    SelectRun::finish(claimed, w);
    return 0;
  }
  if (may_park_solo(w, options))
    return send ? park_solo<true>(slot, *w, closed) : park_solo<false>(slot, *w, closed);
  lock_.unlock();
  return transfer_slow(slot, send, options, closed);
}

int ChannelCore::transfer_slow(void* slot, bool send, const WaitOptions& options, bool* closed) {
  const SelectCase c{this, slot, send};
  SelectRun run(&c, 1);
  const int outcome = run.wait(options);
  *closed = run.closed;
  return outcome;
}

bool ChannelCore::closed() {
  std::lock_guard<fibers::SpinLock> g(lock_);
  return closed_;
}

std::size_t ChannelCore::size() {
  std::lock_guard<fibers::SpinLock> g(lock_);
  return size_;
}

}  // namespace weft::sync

namespace weft {

Result<Selected> select(std::initializer_list<SelectCase> cases, const WaitOptions& options) {
  sync::SelectRun run(cases.begin(), cases.size());
  if (run.try_each()) return Selected{run.fired, run.closed};
  if (cases.size() == 0 && options.deadline == kNoDeadline && options.cancel == nullptr)
    throw std::logic_error("weft::select with no case and nothing to end the wait");
  const int outcome = run.wait(options);
  if (outcome != 0) return errno_error(outcome);
  return Selected{run.fired, run.closed};
}

std::optional<Selected> try_select(std::initializer_list<SelectCase> cases) {
  sync::SelectRun run(cases.begin(), cases.size());
  if (run.try_each()) return Selected{run.fired, run.closed};
  return std::nullopt;
}

}  // namespace weft
