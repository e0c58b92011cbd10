// How many times the program has called the global operator new (any form),
// on any thread. allocation_count.cc replaces operator new and delete for
// the whole io test executable (forwarding to malloc and free) to count
// them; a test reads the count before and after a loop.
#pragma once

#include <cstdint>

namespace weft::test {

std::uint64_t allocations() noexcept;

}  // namespace weft::test
