// The trace's records and per-thread buffers (trace.h), shared by the
// recorder (trace.cc) and the JSON writer (trace_json.cc). Internal.
//
// Invariants:
//  - A Buffer is appended to by one thread only (its owner). It publishes a
//    record by storing `count` (release) after writing it, and a chunk's
//    address before the first record in it: a reader that loads `count`
//    (acquire) may read every record below it, while the owner goes on.
//  - Buffers belong to the Registry, which frees them only in end(), after
//    every thread is out of its recording function (Slot::busy).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace weft::fibers::trace {

// The runtime's, around a run(): not for programs (end() frees buffers that
// the traced runtime's workers write without a fence, so it may run only
// once they have stopped).
//
// Starts a trace of the runtime whose scheduler is `owner`, written to
// `path` when end() runs ("%p" in it becomes the process id). False, with
// *why, when another trace is on or the file cannot be written. Other
// runtimes running meanwhile are not recorded. `buffer_mb`: the buffer of
// each thread, in MiB (0: the default, 128).
bool begin(const std::string& path, const void* owner, std::string* why, std::size_t buffer_mb = 0);
// Stops the trace and writes the file; one line on stderr says where (or why
// it could not). No-op when this process has no trace on.
void end();

}  // namespace weft::fibers::trace

namespace weft::fibers::trace::detail {

enum class Kind : std::uint16_t {
  attach,    // the buffer's first record; a worker's track opens a scheduler slice
  name,      // payload: the 31-character name of the record before it
  spawn,     // a = fiber id, b = flow id; a name record follows when named
  run,       // a switch: a = fiber id (0: the worker's own context), b = flow id or 0
  wake,      // a = fiber id, b = flow id
  steal,     // track = victim worker, a = count, b = flow id
  idle_begin,
  idle_end,
  job_begin,
  job_end,
  hog,       // track = worker, a = fiber id, b = ms; a name record follows
  io_begin,  // a = operation id, sub = name index, track = fd
  io_end,    // a = operation id, sub = name index, b = result
};

struct Record {
  std::uint64_t ts;  // clock ticks since the trace began (Registry::ns converts)
  Kind kind;
  std::uint16_t sub;
  std::uint32_t track;
  std::uint64_t a;
  std::uint64_t b;
};
static_assert(sizeof(Record) == 32);

// Whether a name record follows `r` (a named spawn, a hog).
inline bool has_name_record(const Record& r) {
  return (r.kind == Kind::spawn && r.sub != 0) || r.kind == Kind::hog;
}

// Flow ids carry their kind in the low two bits.
enum class FlowKind : std::uint64_t { wake = 0, spawn = 1, steal = 2 };

inline constexpr std::size_t kChunkBytes = 2 << 20;  // one huge page where the kernel gives one
inline constexpr std::size_t kChunkRecords = kChunkBytes / sizeof(Record);
inline constexpr std::size_t kMaxChunks = 2048;

// A chunk's memory: mmap'd, 2 MiB-aligned, MADV_HUGEPAGE (one page fault
// per chunk instead of 512 when transparent huge pages allow).
struct ChunkDeleter {
  void operator()(Record* p) const noexcept;
};
using Chunk = std::unique_ptr<Record, ChunkDeleter>;
Record* map_chunk() noexcept;  // null when out of memory

struct Buffer {
  std::uint32_t tid = 0;  // workers: index + 1; other threads from 1000
  bool worker = false;
  std::string label;
  std::atomic<std::size_t> count{0};
  std::atomic<std::uint64_t> dropped{0};
  std::size_t max_chunks = 0;
  Chunk chunks[kMaxChunks];

  const Record& at(std::size_t i) const { return chunks[i / kChunkRecords].get()[i % kChunkRecords]; }
};

struct Registry {
  std::mutex mutex;
  std::string path;                               // guarded by mutex
  std::vector<std::unique_ptr<Buffer>> buffers;  // guarded by mutex
  // The clock records are stamped with (trace.cc's ticks()): the TSC where
  // it is invariant (a third of the cost of clock_gettime here), else the
  // steady clock in ns.
  std::uint64_t origin_ticks = 0;  // the clock at begin()
  std::uint64_t origin_ns = 0;     // the steady clock at begin()
  double ns_per_tick = 1.0;        // set by calibrate()

  // Measures ns_per_tick against the steady clock since begin(). Returns
  // the steady ns since begin(), now.
  std::uint64_t calibrate();
  std::uint64_t ns(std::uint64_t ticks) const {
    return static_cast<std::uint64_t>(static_cast<double>(ticks) * ns_per_tick);
  }
};

Registry& registry();

// The interned names of I/O operations (io_begin's `what`), by index.
const char* io_name(std::uint16_t index);

// Writes the JSON file from every buffer, under the registry's lock (after
// calibrate()). `now` (ns since the trace began) closes the slices still open.
bool write_json(Registry& r, std::uint64_t now, std::string* why);

}  // namespace weft::fibers::trace::detail
