#include <weft/fibers/spin_lock.h>

#include <sched.h>

namespace weft::fibers {

void SpinLock::lock_slow() noexcept {
  for (unsigned spins = 0;; ++spins) {
    if (!flag_.load(std::memory_order_relaxed) && !flag_.exchange(true, std::memory_order_acquire))
      return;
    if (spins < 64) {
      __builtin_ia32_pause();
    } else {
      sched_yield();  // the holder is probably not running: let it
    }
  }
}

}  // namespace weft::fibers
