// The semaphores of the USDT probes (probes.h): in the .probes section,
// where tracers look for them, zero unless one is attached.
#include <weft/fibers/probes.h>

#ifdef WEFT_USDT
extern "C" {
#define WEFT_SEMAPHORE(name) \
  [[gnu::used, gnu::section(".probes")]] volatile unsigned short weft_##name##_semaphore = 0;
WEFT_SEMAPHORE(spawn)
WEFT_SEMAPHORE(switch)
WEFT_SEMAPHORE(park)
WEFT_SEMAPHORE(wake)
WEFT_SEMAPHORE(steal)
WEFT_SEMAPHORE(submit)
WEFT_SEMAPHORE(complete)
WEFT_SEMAPHORE(hog)
#undef WEFT_SEMAPHORE
}
#endif

namespace weft::fibers::probes {
void wake([[maybe_unused]] std::uint64_t fiber_id) { WEFT_PROBE1(wake, fiber_id); }
void context_switch([[maybe_unused]] std::uint64_t from_id, [[maybe_unused]] std::uint64_t to_id) {
  WEFT_PROBE2(switch, from_id, to_id);
}
void park([[maybe_unused]] std::uint64_t fiber_id, [[maybe_unused]] const char* name) {
  WEFT_PROBE2(park, fiber_id, name);
}
}  // namespace weft::fibers::probes
