// Stack overflow reporting.
//
// A fiber that overflows its stack faults in the guard region below it. The
// fault is handled on an alternate signal stack (the fiber's own stack is the
// one that just ran out), the handler asks the fiber layer whether the address
// lies in the guard of the fiber running on this thread, and if so prints
//
//   weft: stack overflow in fiber <name> (#<id>), stack <size> KiB
//
// and aborts. A fault anywhere else is handed to the handler that was there
// before (or to the default action), so ordinary crashes stay ordinary.
//
// Thread rules: install_overflow_handler() and set_fault_describer() may be
// called from any thread, any number of times. Each thread that runs fibers
// calls AltStack's constructor on itself; the handler runs on the faulting
// thread and does only async-signal-safe work.
#pragma once

#include <cstddef>

namespace weft::alloc {

// Called by the handler with the faulting address. Writes a message (no
// trailing newline) into `out` and returns its length when the address is in
// the guard of the current fiber's stack; returns 0 otherwise. Must be
// async-signal-safe.
using FaultDescriber = std::size_t (*)(const void* fault_address, char* out, std::size_t cap);

// Installs the process-wide SIGSEGV/SIGBUS handler (again, if something
// replaced it since) and sets the describer it consults.
void install_overflow_handler(FaultDescriber describer);

// An alternate signal stack on the calling thread while any AltStack object
// of that thread lives (unless the thread already had one, which is kept).
// Construct and destroy on the same thread.
class AltStack {
 public:
  AltStack();
  ~AltStack();
  AltStack(const AltStack&) = delete;
  AltStack& operator=(const AltStack&) = delete;
};

// Async-signal-safe formatting helpers for describers.
std::size_t append_text(char* out, std::size_t cap, std::size_t at, const char* text);
std::size_t append_decimal(char* out, std::size_t cap, std::size_t at, unsigned long long v);

}  // namespace weft::alloc
