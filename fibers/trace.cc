// The trace's recorder and its on/off switch (trace.h).
#include <weft/fibers/trace.h>

#include <cpuid.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include <weft/fibers/fiber.h>
#include <weft/fibers/trace_buffer.h>
#include <weft/fibers/worker.h>

namespace weft::fibers::trace {
namespace detail {
namespace {

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// An invariant TSC (CPUID 0x80000007, EDX bit 8) ticks at one rate on every
// core, whatever the power state.
bool invariant_tsc() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(0x80000007, &a, &b, &c, &d) != 0 && (d & (1u << 8)) != 0;
}

std::atomic<bool> g_tsc{false};  // set by begin(), before g_on

std::uint64_t ticks() {
  return g_tsc.load(std::memory_order_relaxed) ? __rdtsc() : steady_ns();
}

std::atomic<std::uint64_t> g_generation{0};  // one per trace; set before g_on
std::atomic<std::uint64_t> g_origin{0};      // ticks() at begin
std::atomic<const void*> g_owner{nullptr};   // the traced runtime's scheduler
constexpr std::size_t kDefaultChunks = 64;  // 128 MiB per thread
std::atomic<std::size_t> g_max_chunks{kDefaultChunks};  // per thread: WEFT_TRACE_MB / 2
std::atomic<std::uint32_t> g_next_serial{0};
std::mutex g_control;  // begin() and end() one at a time

// Every thread that ever recorded, so end() can wait until none is inside a
// recording function.
struct Slot;
std::mutex g_slots_mutex;
std::vector<Slot*>& slots() {
  static auto* s = new std::vector<Slot*>;  // outlives thread-exit destructors
  return *s;
}

thread_local const char* t_label = nullptr;

struct Slot {
  Slot() : serial(g_next_serial.fetch_add(1, std::memory_order_relaxed) & 0xfff) {
    std::lock_guard<std::mutex> lock(g_slots_mutex);
    slots().push_back(this);
  }
  ~Slot() {
    std::lock_guard<std::mutex> lock(g_slots_mutex);
    auto& v = slots();
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
  }
  std::atomic<bool> busy{false};
  Buffer* buffer = nullptr;  // owned by the registry; valid while generation matches
  // A worker of the traced runtime: it stops before end() runs (its thread
  // is joined, or is the one that ends the trace), so it records without
  // the busy flag.
  bool worker = false;
  std::uint64_t generation = 0;
  std::uint64_t next_id = 0;
  std::uint32_t serial;
};

thread_local Slot t_slot;

// Process-unique ids for flows and I/O operations, kind in the low bits
// (JSON numbers stay below 2^53).
std::uint64_t new_id(Slot& s, FlowKind kind) {
  return (static_cast<std::uint64_t>(s.serial) << 40) | (++s.next_id << 2) |
         static_cast<std::uint64_t>(kind);
}

// Gives the calling thread a buffer in this generation's trace: a worker's
// track when `w` (a worker of the traced runtime), else a thread's. Leaves
// the slot without one when memory runs out.
void attach(Slot& s, std::uint64_t generation, Worker* w) noexcept try {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  s.generation = generation;
  s.buffer = nullptr;
  s.worker = false;
  auto b = std::make_unique<Buffer>();
  b->max_chunks = g_max_chunks.load(std::memory_order_relaxed);
  if (w != nullptr) {
    b->worker = true;
    b->tid = static_cast<std::uint32_t>(w->index()) + 1;
    b->label = "worker " + std::to_string(w->index());
  } else {
    b->tid = 1000 + s.serial;
    b->label = t_label != nullptr ? t_label : "thread";
  }
  r.buffers.push_back(std::move(b));
  s.buffer = r.buffers.back().get();
  s.worker = w != nullptr;
} catch (...) {
  s.buffer = nullptr;
  s.worker = false;
}

// Appends the attach record (when `fresh`) and `n` records filled by `fill`
// to `b`, all or none.
template <class Fill>
void append(Buffer& b, bool fresh, std::size_t n, Fill&& fill) {
  const std::uint64_t ts = ticks() - g_origin.load(std::memory_order_relaxed);
  const std::size_t at = b.count.load(std::memory_order_relaxed);
  const std::size_t k = n + (fresh ? 1 : 0);
  // Room first: a dropped event must leave no trace either (no flow id on a
  // fiber, no operation id), or its other end would dangle.
  for (std::size_t i = at; i < at + k; ++i) {
    const std::size_t chunk = i / kChunkRecords;
    if (chunk >= b.max_chunks) {
      b.dropped.fetch_add(k, std::memory_order_relaxed);
      return;
    }
    if (!b.chunks[chunk]) {
      b.chunks[chunk].reset(map_chunk());
      if (!b.chunks[chunk]) {
        b.dropped.fetch_add(k, std::memory_order_relaxed);
        return;
      }
    }
  }
  Record scratch[3];
  std::size_t first = 0;
  if (fresh) scratch[first++] = Record{ts, Kind::attach, 0, 0, 0, 0};
  for (std::size_t i = 0; i < n; ++i) scratch[first + i] = Record{ts, Kind::name, 0, 0, 0, 0};
  fill(scratch + first);
  for (std::size_t i = 0; i < k; ++i) b.chunks[(at + i) / kChunkRecords].get()[(at + i) % kChunkRecords] = scratch[i];
  b.count.store(at + k, std::memory_order_release);  // published: write() may read them
}

// Clears a slot's busy flag on every way out.
struct BusyGuard {
  explicit BusyGuard(Slot& s) : slot(s) { slot.busy.store(true, std::memory_order_seq_cst); }
  ~BusyGuard() { slot.busy.store(false, std::memory_order_release); }
  Slot& slot;
};

// Appends `n` records (1 or 2) to the calling thread's buffer, filled by
// `fill`, if a trace is on and the event belongs to the traced runtime:
// `scheduler`'s when given (any thread), else the calling worker's (a
// thread that is no worker of the traced runtime records nothing).
template <class Fill>
void record(const void* scheduler, std::size_t n, Fill&& fill) {
  Slot& s = t_slot;
  const void* owner = g_owner.load(std::memory_order_relaxed);
  if (s.worker && s.generation == g_generation.load(std::memory_order_relaxed)) {
    // A worker of the traced runtime (see Slot::worker): no fence, and the
    // thread is that worker until the trace ends.
    if (scheduler == nullptr || scheduler == owner) append(*s.buffer, false, n, fill);
    return;
  }
  Worker* w = Worker::current();
  const bool ours = scheduler != nullptr ? scheduler == owner : w != nullptr && &w->scheduler() == owner;
  if (!ours) return;  // another runtime's event (checked before anything is allocated)
  if (w != nullptr && &w->scheduler() != owner) w = nullptr;  // waking into the traced runtime
  // Busy before looking at the switch: end() turns it off, then waits for
  // every busy slot, so nobody is left writing into a buffer it frees.
  BusyGuard busy(s);
  if (!g_on.load(std::memory_order_seq_cst)) return;
  const std::uint64_t generation = g_generation.load(std::memory_order_acquire);
  bool fresh = false;
  if (s.generation != generation || (s.buffer != nullptr && !s.worker && w != nullptr)) {
    attach(s, generation, w);
    fresh = true;
  }
  if (s.buffer != nullptr) append(*s.buffer, fresh, n, fill);
}

void put_name(Record& r, const char* name) {
  static_assert(sizeof(Record) == 32);
  char text[32] = {};
  std::memcpy(text, name, strnlen(name, sizeof text - 1));  // always NUL-terminated
  std::memcpy(&r, text, sizeof text);
}

// Interned I/O names: io_begin is given string literals.
constexpr std::size_t kIoNames = 64;
std::atomic<const char*> g_io_names[kIoNames];
std::atomic<std::size_t> g_io_count{0};
std::mutex g_io_mutex;

std::uint16_t intern(const char* what) {
  std::size_t n = g_io_count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    if (g_io_names[i].load(std::memory_order_relaxed) == what) return static_cast<std::uint16_t>(i);
  }
  std::lock_guard<std::mutex> lock(g_io_mutex);
  n = g_io_count.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    if (g_io_names[i].load(std::memory_order_relaxed) == what) return static_cast<std::uint16_t>(i);
  }
  if (n == kIoNames) return static_cast<std::uint16_t>(kIoNames);  // "io"
  g_io_names[n].store(what, std::memory_order_relaxed);
  g_io_count.store(n + 1, std::memory_order_release);
  return static_cast<std::uint16_t>(n);
}

}  // namespace

Record* map_chunk() noexcept {
  // Twice the size, to cut a 2 MiB-aligned chunk out of it.
  void* p = mmap(nullptr, 2 * kChunkBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto start = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t aligned = (start + kChunkBytes - 1) & ~(kChunkBytes - 1);
  if (aligned > start) munmap(p, aligned - start);
  munmap(reinterpret_cast<void*>(aligned + kChunkBytes), start + 2 * kChunkBytes - aligned - kChunkBytes);
  madvise(reinterpret_cast<void*>(aligned), kChunkBytes, MADV_HUGEPAGE);
  return reinterpret_cast<Record*>(aligned);
}

void ChunkDeleter::operator()(Record* p) const noexcept { munmap(p, kChunkBytes); }

// The TSC and the steady clock read together: TSC, clock, TSC, again while
// the two TSC reads lie far apart (the thread was preempted between them);
// the TSC's midpoint goes with the clock.
void read_both(std::uint64_t* ticks_out, std::uint64_t* ns_out) {
  for (int attempt = 0;; ++attempt) {
    const std::uint64_t before = __rdtsc();
    const std::uint64_t ns = steady_ns();
    const std::uint64_t after = __rdtsc();
    if (after - before < 10'000 || attempt == 16) {  // a few microseconds at most
      *ticks_out = before + (after - before) / 2;
      *ns_out = ns;
      return;
    }
  }
}

std::uint64_t Registry::calibrate() {
  if (!g_tsc.load(std::memory_order_relaxed)) {
    ns_per_tick = 1.0;
    return steady_ns() - origin_ns;
  }
  // At least 5 ms between the two readings, so the rate is good to a few
  // parts per million whatever the trace's length.
  while (steady_ns() - origin_ns < 5'000'000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::uint64_t now_ticks = 0, now_ns = 0;
  read_both(&now_ticks, &now_ns);
  now_ns -= origin_ns;
  ns_per_tick = static_cast<double>(now_ns) / static_cast<double>(now_ticks - origin_ticks);
  return now_ns;
}

Registry& registry() {
  static auto* r = new Registry;  // recording threads may outlive static destruction
  return *r;
}

const char* io_name(std::uint16_t index) {
  if (index >= g_io_count.load(std::memory_order_acquire)) return "io";
  return g_io_names[index].load(std::memory_order_relaxed);
}

}  // namespace detail

using namespace detail;

namespace {

// "%p" becomes the process id (two weft programs may share WEFT_TRACE: a
// server and its load generator), "%%" a percent sign.
std::string expand(const std::string& pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'p') {
      out += std::to_string(::getpid());
      ++i;
    } else if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == '%') {
      out += '%';
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

}  // namespace

bool begin(const std::string& pattern, const void* owner, std::string* why, std::size_t buffer_mb) {
#ifdef WEFT_NO_TRACE
  (void)pattern;
  (void)owner;
  *why = "this build has no trace (-DWEFT_TRACE=OFF)";
  return false;
#endif
  const std::string path = expand(pattern);
  std::lock_guard<std::mutex> control(g_control);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (g_on.load(std::memory_order_relaxed)) {
    *why = "another run() is tracing to " + r.path;
    return false;
  }
  // Fail now, with the reason, rather than after the run.
  if (std::FILE* f = std::fopen(path.c_str(), "w")) {
    std::fclose(f);
  } else {
    *why = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  std::size_t chunks = kDefaultChunks;
  if (buffer_mb != 0) chunks = std::max<std::size_t>(1, buffer_mb / (kChunkBytes >> 20));
  g_max_chunks.store(std::min(chunks, kMaxChunks), std::memory_order_relaxed);
  r.path = path;
  r.buffers.clear();
  g_tsc.store(invariant_tsc(), std::memory_order_relaxed);
  if (g_tsc.load(std::memory_order_relaxed)) {
    read_both(&r.origin_ticks, &r.origin_ns);
  } else {
    r.origin_ns = steady_ns();
    r.origin_ticks = r.origin_ns;
  }
  r.ns_per_tick = 1.0;
  g_origin.store(r.origin_ticks, std::memory_order_relaxed);
  g_owner.store(owner, std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_release);
  g_on.store(true, std::memory_order_seq_cst);
  return true;
}

void end() {
  std::lock_guard<std::mutex> control(g_control);
  if (!g_on.load(std::memory_order_relaxed)) return;
  g_on.store(false, std::memory_order_seq_cst);
  {
    std::lock_guard<std::mutex> lock(g_slots_mutex);
    for (Slot* s : slots()) {
      while (s->busy.load(std::memory_order_seq_cst)) sched_yield();  // pairs with record()
    }
  }
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::string why;
  std::size_t events = 0;
  std::uint64_t dropped = 0;
  for (const auto& b : r.buffers) {
    events += b->count.load(std::memory_order_relaxed);
    dropped += b->dropped.load(std::memory_order_relaxed);
  }
  if (write_json(r, r.calibrate(), &why)) {
    std::fprintf(stderr, "weft: trace written to %s: %zu records on %zu tracks", r.path.c_str(),
                 events, r.buffers.size());
    if (dropped != 0) {
      std::fprintf(stderr, ", %llu dropped (buffers full: raise WEFT_TRACE_MB)",
                   static_cast<unsigned long long>(dropped));
    }
    std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "weft: trace not written: %s\n", why.c_str());
  }
  r.buffers.clear();
  r.path.clear();
}

void label_this_thread(const char* label) noexcept { t_label = label; }

void spawn(Fiber* f) {
  const bool named = f->name[0] != '\0';
  record(nullptr, named ? 2 : 1, [&](Record* r) {
    f->trace_flow = new_id(t_slot, FlowKind::spawn);
    r[0].kind = Kind::spawn;
    r[0].a = f->id;
    r[0].b = f->trace_flow;
    r[0].sub = named ? 1 : 0;  // a name record follows
    if (named) put_name(r[1], f->name);
  });
}

void run(Fiber* next, bool home) {
  record(nullptr, 1, [&](Record* r) {
    r[0].kind = Kind::run;
    if (!home) {
      r[0].a = next->id;
      r[0].b = next->trace_flow;
      next->trace_flow = 0;
    }
  });
}

void wake(Fiber* f, const void* scheduler) {
  // Woken from another thread, it is readied once more where it arrives
  // (the inbox): the arrow stays the first waker's.
  if (f->trace_flow != 0) return;
  record(scheduler, 1, [&](Record* r) {
    f->trace_flow = new_id(t_slot, FlowKind::wake);
    r[0].kind = Kind::wake;
    r[0].a = f->id;
    r[0].b = f->trace_flow;
  });
}

void steal(std::size_t victim, std::uint32_t count) {
  record(nullptr, 1, [&](Record* r) {
    r[0].kind = Kind::steal;
    r[0].track = static_cast<std::uint32_t>(victim);
    r[0].a = count;
    r[0].b = new_id(t_slot, FlowKind::steal);
  });
}

void idle(bool begin) {
  record(nullptr, 1, [&](Record* r) { r[0].kind = begin ? Kind::idle_begin : Kind::idle_end; });
}

void job(bool begin, const void* scheduler) {
  record(scheduler, 1, [&](Record* r) { r[0].kind = begin ? Kind::job_begin : Kind::job_end; });
}

void hog(const void* scheduler, std::size_t worker, std::uint64_t fiber_id, const char* name,
         std::int64_t ms) {
  record(scheduler, 2, [&](Record* r) {
    r[0].kind = Kind::hog;
    r[0].track = static_cast<std::uint32_t>(worker);
    r[0].a = fiber_id;
    r[0].b = static_cast<std::uint64_t>(ms);
    put_name(r[1], name);
  });
}

void io_begin(std::uint64_t* id, const char* what, int fd) {
  const std::uint16_t name = intern(what);
  record(nullptr, 1, [&](Record* r) {
    *id = new_id(t_slot, FlowKind::wake);
    r[0].kind = Kind::io_begin;
    r[0].sub = name;
    r[0].track = static_cast<std::uint32_t>(fd);
    r[0].a = *id;
  });
}

void io_end(std::uint64_t* id, const char* what, std::int64_t result, const void* scheduler) {
  if (*id == 0) return;
  const std::uint16_t name = intern(what);
  record(scheduler, 1, [&](Record* r) {
    r[0].kind = Kind::io_end;
    r[0].sub = name;
    r[0].a = *id;
    r[0].b = static_cast<std::uint64_t>(result);
  });
  *id = 0;
}

}  // namespace weft::fibers::trace

namespace weft::trace {

bool active() noexcept { return fibers::trace::on(); }

Result<void> write() {
  using namespace fibers::trace::detail;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.path.empty()) return errno_error(EINVAL);
  std::string why;
  if (!write_json(r, r.calibrate(), &why)) return errno_error(errno != 0 ? errno : EIO);
  return {};
}

}  // namespace weft::trace
