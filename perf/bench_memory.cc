// weft-bench-memory: what a parked fiber costs.
//
// Spawns N fibers that each park on one Event, measures the process when all
// of them are parked, then releases and joins them. Reports resident memory
// per parked fiber (RSS from /proc/self/statm, which counts stack pages,
// fiber records and the join handles), page-table memory per fiber (VmPTE:
// kernel memory RSS leaves out), and the VMAs the process holds.
//
//   weft-bench-memory [--fibers N]      (default 100000; 1000000 works too)
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <weft/alloc/guard.h>
#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/usage.h"

namespace {

long rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

long status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  }
  return 0;
}

long vma_count() {
  std::ifstream maps("/proc/self/maps");
  long n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

long max_map_count() {
  std::ifstream f("/proc/sys/vm/max_map_count");
  long v = 0;
  f >> v;
  return v;
}

}  // namespace

constexpr const char* kUsage =
    "usage: weft-bench-memory [--fibers N]\n"
    "  --fibers   fibers parked at once (100000; 1000000 works too)\n"
    "what a parked fiber costs: resident memory, page tables and VMAs per fiber;\n"
    "prints key=value lines\n";

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  const long n = weft::perf::option(argc, argv, "--fibers", 100000);
  weft::Runtime rt;
  rt.run([n] {
    std::vector<weft::JoinHandle<void>> hs;
    hs.reserve(static_cast<std::size_t>(n));
    weft::Event release;
    std::atomic<long> parked{0};  // fibers run on every worker
    const long rss0 = rss_bytes();
    const long pte0 = status_kib("VmPTE:");
    const long vmas0 = vma_count();
    const auto t0 = weft::perf::now_ns();
    for (long i = 0; i < n; ++i) {
      hs.push_back(weft::spawn([&] {
        parked.fetch_add(1, std::memory_order_relaxed);
        (void)release.wait();
      }));
    }
    while (parked.load(std::memory_order_relaxed) < n) weft::yield();  // every fiber has run and parked
    const auto t1 = weft::perf::now_ns();
    const long rss1 = rss_bytes();
    const long pte1 = status_kib("VmPTE:");
    const long vmas1 = vma_count();
    release.set();
    for (auto& h : hs) h.join();
    const auto t2 = weft::perf::now_ns();
    const double per = static_cast<double>(rss1 - rss0) / static_cast<double>(n);
    weft::perf::kv("fibers", static_cast<double>(n), "%.0f");
    weft::perf::kv("guard_method", weft::alloc::guard_method_name(weft::alloc::guard_method()));
    weft::perf::kv("rss_bytes_per_parked_fiber", per, "%.0f");
    weft::perf::kv("rss_kib_per_parked_fiber", per / 1024, "%.2f");
    weft::perf::kv("page_table_bytes_per_fiber",
                   static_cast<double>(pte1 - pte0) * 1024 / static_cast<double>(n), "%.0f");
    weft::perf::kv("vmas_before", static_cast<double>(vmas0), "%.0f");
    weft::perf::kv("vmas_parked", static_cast<double>(vmas1), "%.0f");
    weft::perf::kv("vm_max_map_count", static_cast<double>(max_map_count()), "%.0f");
    weft::perf::kv("spawn_and_park_s", static_cast<double>(t1 - t0) / 1e9, "%.3f");
    weft::perf::kv("wake_and_join_s", static_cast<double>(t2 - t1) / 1e9, "%.3f");
    weft::perf::kv("stack_slots", static_cast<double>(weft::stats().stack_slots), "%.0f");
  });
  return 0;
}
