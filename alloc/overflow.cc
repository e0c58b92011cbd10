#include <weft/alloc/overflow.h>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace weft::alloc {
namespace {

std::atomic<FaultDescriber> g_describer{nullptr};
struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

void write_all(const char* text, std::size_t len) {
  while (len > 0) {
    const ssize_t n = write(STDERR_FILENO, text, len);
    if (n <= 0) return;
    text += n;
    len -= static_cast<std::size_t>(n);
  }
}

void forward(int sig, siginfo_t* info, void* context) {
  const struct sigaction& prev = sig == SIGBUS ? g_previous_bus : g_previous_segv;
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, context);
    return;
  }
  if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
    prev.sa_handler(sig);
    return;
  }
  // Restore the default action; returning re-executes the faulting
  // instruction, which now kills the process the ordinary way.
  signal(sig, SIG_DFL);
}

// Set while this thread hands a fault to the previous handler. A handler
// that chains back to us (a crash reporter installed after us, whose own
// "previous" is us) would otherwise bounce the fault between the two forever.
thread_local bool t_forwarding = false;
// The address of the last fault handed on. A previous handler that returned
// without curing it makes the instruction fault again at once, at the same
// address: the second time, the default action takes it.
thread_local const void* t_last_forwarded = nullptr;

void on_fault(int sig, siginfo_t* info, void* context) {
  if (t_forwarding || (t_last_forwarded != nullptr && info->si_addr == t_last_forwarded)) {
    signal(sig, SIG_DFL);  // returning re-faults into the default action
    return;
  }
  const FaultDescriber describe = g_describer.load(std::memory_order_acquire);
  if (describe != nullptr) {
    char message[256];
    const std::size_t n = describe(info->si_addr, message, sizeof message - 1);
    if (n > 0) {
      message[n] = '\n';
      write_all(message, n + 1);
      // abort() would run on this alternate stack too; it is safe here.
      signal(SIGABRT, SIG_DFL);
      abort();
    }
  }
  t_forwarding = true;
  t_last_forwarded = info->si_addr;
  forward(sig, info, context);
  t_forwarding = false;
}

}  // namespace

void install_overflow_handler(FaultDescriber describer) {
  g_describer.store(describer, std::memory_order_release);
  // Someone (a test framework, a crash reporter) may have replaced our
  // handler since last time: check on every call, not just the first.
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS}) {
    struct sigaction current;
    if (sigaction(sig, nullptr, &current) != 0) continue;
    if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_fault) continue;
    sigaction(sig, &action, sig == SIGBUS ? &g_previous_bus : &g_previous_segv);
  }
}

// One alternate signal stack per thread, shared by every AltStack object on
// it (a thread may run several runtimes one after another, or nest their
// lifetimes); removed when the last one goes, and only if weft installed it.
struct ThreadAltStack {
  void* memory = nullptr;
  std::size_t bytes = 0;
  int users = 0;
};
thread_local ThreadAltStack t_alt_stack;

AltStack::AltStack() {
  ThreadAltStack& t = t_alt_stack;
  if (t.users++ > 0) return;
  stack_t current;
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) {
    return;  // the thread has one already (a sanitizer runtime's, or the program's)
  }
  const std::size_t bytes = 64 << 10;
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return;
  stack_t stack;
  stack.ss_sp = memory;
  stack.ss_size = bytes;
  stack.ss_flags = 0;
  if (sigaltstack(&stack, nullptr) != 0) {
    munmap(memory, bytes);
    return;
  }
  t.memory = memory;
  t.bytes = bytes;
}

AltStack::~AltStack() {
  ThreadAltStack& t = t_alt_stack;
  if (--t.users > 0 || t.memory == nullptr) return;
  stack_t disable;
  std::memset(&disable, 0, sizeof disable);
  disable.ss_flags = SS_DISABLE;
  sigaltstack(&disable, nullptr);
  munmap(t.memory, t.bytes);
  t.memory = nullptr;
  t.bytes = 0;
}

std::size_t append_text(char* out, std::size_t cap, std::size_t at, const char* text) {
  while (*text != '\0' && at < cap) out[at++] = *text++;
  return at;
}

std::size_t append_decimal(char* out, std::size_t cap, std::size_t at, unsigned long long v) {
  char digits[24];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && at < cap) out[at++] = digits[--n];
  return at;
}

}  // namespace weft::alloc
