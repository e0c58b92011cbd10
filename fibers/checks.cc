#include <weft/fibers/checks.h>
#include <weft/fibers/fiber.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace weft::fibers {

void rule_broken(const char* what) noexcept {
  std::fprintf(stderr, "weft: %s (thread %ld)\n", what, static_cast<long>(::syscall(SYS_gettid)));
  std::abort();
}

void OwnerThread::broken(const char* object, const char* call) const noexcept {
  char name[32] = "?";
  (void)pthread_getname_np(owner_, name, sizeof name);
  char line[256];
  std::snprintf(line, sizeof line,
                "%s::%s called on a thread that does not own it: the %s belongs to thread \"%s\" "
                "(pthread %#lx), the caller is pthread %#lx",
                object, call, object, name, static_cast<unsigned long>(owner_),
                static_cast<unsigned long>(pthread_self()));
  rule_broken(line);
}

const char* state_name(FiberState s) {
  switch (s) {
    case FiberState::runnable: return "runnable";
    case FiberState::running: return "running";
    case FiberState::parked: return "parked";
    case FiberState::finished: return "finished";
  }
  return "?";
}

void Fiber::impossible_change(FiberState to) const noexcept {
  char line[160];
  std::snprintf(line, sizeof line, "fiber %s (#%llu) cannot go from %s to %s", name,
                static_cast<unsigned long long>(id), state_name(state), state_name(to));
  rule_broken(line);
}

}  // namespace weft::fibers
