#include <weft/io/operation.h>

namespace weft::io {
namespace {

// Freed records, linked through their first bytes. Per thread, so no
// locking; a record freed on another thread than the one that made it (a
// fiber that moved) simply joins that thread's cache.
struct FreeRecord {
  FreeRecord* next;
};
#ifdef WEFT_SANITIZE_BUILD
constexpr int kCacheLimit = 0;  // let the sanitizer see every record's life
#else
constexpr int kCacheLimit = 256;
#endif
[[gnu::tls_model("initial-exec")]] constinit thread_local FreeRecord* t_free = nullptr;
[[gnu::tls_model("initial-exec")]] constinit thread_local int t_cached = 0;

// Gives the cache back when its thread ends. Touched only when the cache
// takes its first record, which registers the destructor once per thread.
struct CacheReleaser {
  ~CacheReleaser() {
    while (FreeRecord* r = t_free) {
      t_free = r->next;
      alloc::deallocate(r);
    }
    t_cached = 0;
  }
};
thread_local CacheReleaser t_releaser;

}  // namespace

void* Operation::operator new(std::size_t size) {
  if (FreeRecord* r = t_free; r != nullptr && size == sizeof(Operation)) {
    t_free = r->next;
    --t_cached;
    return r;
  }
  return alloc::allocate(size, alignof(Operation));
}

void Operation::operator delete(void* p) noexcept {
  if (t_cached < kCacheLimit) {
    if (t_cached == 0) (void)&t_releaser;  // odr-use: registers its destructor
    auto* r = static_cast<FreeRecord*>(p);
    r->next = t_free;
    t_free = r;
    ++t_cached;
    return;
  }
  alloc::deallocate(p);
}

}  // namespace weft::io

namespace weft::io {

const char* op_name(OpKind kind) noexcept {
  switch (kind) {
    case OpKind::nop: return "nop";
    case OpKind::read: return "read";
    case OpKind::write: return "write";
    case OpKind::writev: return "writev";
    case OpKind::recv: return "recv";
    case OpKind::send: return "send";
    case OpKind::sendmsg: return "sendmsg";
    case OpKind::recvmsg: return "recvmsg";
    case OpKind::accept: return "accept";
    case OpKind::connect: return "connect";
    case OpKind::shutdown: return "shutdown";
    case OpKind::close: return "close";
    case OpKind::openat: return "openat";
    case OpKind::statx: return "statx";
    case OpKind::fsync: return "fsync";
    case OpKind::mkdirat: return "mkdirat";
    case OpKind::renameat: return "renameat";
    case OpKind::unlinkat: return "unlinkat";
    case OpKind::linkat: return "linkat";
    case OpKind::symlinkat: return "symlinkat";
    case OpKind::poll: return "poll";
    case OpKind::splice: return "splice";
    case OpKind::waitid: return "waitid";
  }
  return "io";
}

}  // namespace weft::io
