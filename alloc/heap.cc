#include <weft/alloc/heap.h>

namespace weft::alloc {

void throw_bad_alloc() { throw std::bad_alloc(); }

}  // namespace weft::alloc
