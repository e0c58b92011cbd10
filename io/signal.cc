#include <weft/io/signal.h>

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

namespace weft::os {
namespace {

constexpr int kSlots = 64;

// One watcher's place, read by the handler on whatever thread the kernel
// delivers to. The handler touches only atomics and write(2).
struct Slot {
  std::atomic<std::uint64_t> mask{0};  // bit sig-1: watched; 0: free
  std::atomic<int> fd{-1};             // the watcher's eventfd
  std::atomic<int> in_handler{0};      // handlers between their two looks at mask
  std::atomic<std::uint32_t> arrived[Signals::kMaxSignal + 1] = {};
};

Slot g_slots[kSlots];

// Watching and unwatching only (never the handler).
std::mutex g_mutex;
int g_watchers[Signals::kMaxSignal + 1] = {};             // guarded by g_mutex
struct sigaction g_before[Signals::kMaxSignal + 1] = {};  // guarded by g_mutex
bool g_taken[kSlots] = {};                                // guarded by g_mutex

std::uint64_t bit(int sig) { return std::uint64_t{1} << (sig - 1); }

void on_signal(int sig) {
  const int saved_errno = errno;
  for (Slot& s : g_slots) {
    if ((s.mask.load(std::memory_order_relaxed) & bit(sig)) == 0) continue;
    // Announced before the second look: a watcher that leaves clears its
    // mask and then waits for in_handler to drop before closing its fd.
    s.in_handler.fetch_add(1, std::memory_order_seq_cst);
    if ((s.mask.load(std::memory_order_seq_cst) & bit(sig)) != 0) {
      s.arrived[sig].fetch_add(1, std::memory_order_release);
      const std::uint64_t one = 1;
      if (const int fd = s.fd.load(std::memory_order_acquire); fd >= 0) (void)!::write(fd, &one, sizeof one);
    }
    s.in_handler.fetch_sub(1, std::memory_order_seq_cst);
  }
  errno = saved_errno;
}

[[noreturn]] void refuse(int sig, const char* why) {
  char name[24];
  throw std::invalid_argument(std::string("weft::os::Signals::watch: ") + Signals::name(sig, name) + " (" +
                              std::to_string(sig) + ") " + why);
}

void check_watchable(int sig) {
  if (sig < 1 || sig > Signals::kMaxSignal) refuse(sig, "is not a signal number (1..64)");
  switch (sig) {
    case SIGKILL:
    case SIGSTOP: refuse(sig, "cannot be caught");
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS: refuse(sig, "is a fault the thread that caused it must handle, not an event to wait for");
    default: break;
  }
}

// Under g_mutex. Installs the handler for a signal's first watcher.
int start_handling(int sig) {
  if (g_watchers[sig]++ > 0) return 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigfillset(&sa.sa_mask);  // one handler at a time per thread
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  if (sigaction(sig, &sa, &g_before[sig]) != 0) {
    --g_watchers[sig];
    return errno;
  }
  return 0;
}

// Under g_mutex. Gives a signal its old handling back with its last watcher.
void stop_handling(int sig) {
  if (--g_watchers[sig] > 0) return;
  (void)sigaction(sig, &g_before[sig], nullptr);
}

}  // namespace

Result<Signals> Signals::watch(std::initializer_list<int> signals) {
  if (signals.size() == 0) throw std::invalid_argument("weft::os::Signals::watch: no signal given");
  std::uint64_t mask = 0;
  for (int sig : signals) {
    check_watchable(sig);
    mask |= bit(sig);
  }
  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return errno_error(errno);
  Stream wake(efd);
  std::lock_guard<std::mutex> lock(g_mutex);
  int slot = -1;
  for (int i = 0; i < kSlots && slot < 0; ++i) {
    if (!g_taken[i]) slot = i;
  }
  if (slot < 0) return errno_error(EMFILE);  // 64 watchers at once
  Slot& s = g_slots[slot];
  for (auto& a : s.arrived) a.store(0, std::memory_order_relaxed);
  s.fd.store(efd, std::memory_order_release);
  // Handlers first, then the mask: a signal counted here finds its handler.
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if ((mask & bit(sig)) == 0) continue;
    if (const int error = start_handling(sig); error != 0) {
      for (int undo = 1; undo < sig; ++undo) {
        if ((mask & bit(undo)) != 0) stop_handling(undo);
      }
      s.fd.store(-1, std::memory_order_release);
      return errno_error(error);  // EINVAL: one the C library keeps for itself
    }
  }
  g_taken[slot] = true;
  s.mask.store(mask, std::memory_order_seq_cst);
  return Signals(slot, std::move(wake));
}

Signals::Signals(Signals&& other) noexcept
    : slot_(std::exchange(other.slot_, -1)), seen_(other.seen_), wake_(std::move(other.wake_)) {}

Signals& Signals::operator=(Signals&& other) noexcept {
  if (this != &other) {
    release();
    slot_ = std::exchange(other.slot_, -1);
    seen_ = other.seen_;
    wake_ = std::move(other.wake_);
  }
  return *this;
}

Signals::~Signals() { release(); }

void Signals::release() noexcept {
  if (slot_ < 0) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  Slot& s = g_slots[slot_];
  const std::uint64_t mask = s.mask.exchange(0, std::memory_order_seq_cst);
  // A handler that saw the mask still set may be about to write to the fd.
  while (s.in_handler.load(std::memory_order_seq_cst) != 0) {
  }
  s.fd.store(-1, std::memory_order_release);
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if ((mask & bit(sig)) != 0) stop_handling(sig);
  }
  g_taken[slot_] = false;
  slot_ = -1;
  // wake_ closes the eventfd when it goes (after this, no handler has it).
}

int Signals::poll() {
  if (slot_ < 0) return 0;
  const Slot& s = g_slots[slot_];
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (s.arrived[sig].load(std::memory_order_acquire) != seen_[sig]) {
      ++seen_[sig];
      return sig;
    }
  }
  return 0;
}

Result<int> Signals::wait(const WaitOptions& options) {
  if (slot_ < 0) return errno_error(EBADF);
  for (;;) {
    // Counted before the eventfd is written: a signal that arrives after
    // this look leaves the eventfd readable, so the read below returns.
    if (const int sig = poll(); sig != 0) return sig;
    std::uint64_t count = 0;
    Result<std::size_t> r = wake_.read(MutableBuffer(&count, sizeof count), options);
    if (!r) return r.error();
  }
}

const char* Signals::name(int signal, char (&buffer)[24]) noexcept {
  if (signal >= SIGRTMIN && signal <= SIGRTMAX) {
    std::snprintf(buffer, sizeof buffer, "SIGRTMIN+%d", signal - SIGRTMIN);
    return buffer;
  }
  if (const char* abbrev = sigabbrev_np(signal)) {
    std::snprintf(buffer, sizeof buffer, "SIG%s", abbrev);
    return buffer;
  }
  std::snprintf(buffer, sizeof buffer, "signal %d", signal);
  return buffer;
}

}  // namespace weft::os
