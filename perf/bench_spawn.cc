// weft-bench-spawn: fibers spawned and joined per second on one worker.
//
//   burst     spawn N trivial fibers, then join them all (N not-yet-started
//             fibers wait with no stack; each gets the pooled stack the
//             previous one just gave back)
//   batched   the same in batches of 1000 (what a server handling bursts of
//             requests does)
//   serial    spawn one, join it, repeat (a fiber per call)
//   wait_all  spawn N detached fibers that count down a shared counter; the
//             last one sets an Event the spawner waits on: Go's
//             `go f(); wg.Wait()` pattern (no per-fiber join handle)
//
//   weft-bench-spawn [--fibers N] [--rounds R] [--workers W]   (W: 1 unless given)
#include <atomic>
#include <cstdio>
#include <vector>

#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/usage.h"

using weft::perf::now_ns;

namespace {

double burst(long n) {
  std::vector<weft::JoinHandle<long>> hs;
  hs.reserve(static_cast<std::size_t>(n));
  const auto t0 = now_ns();
  for (long i = 0; i < n; ++i) hs.push_back(weft::spawn([i] { return i; }));
  long sum = 0;
  for (auto& h : hs) sum += h.join();
  const auto t1 = now_ns();
  if (sum != n * (n - 1) / 2) std::abort();
  return static_cast<double>(n) / (static_cast<double>(t1 - t0) / 1e9);
}

double batched(long n) {
  std::vector<weft::JoinHandle<long>> hs;
  hs.reserve(1000);
  const auto t0 = now_ns();
  long sum = 0;
  for (long done = 0; done < n; done += 1000) {
    for (long i = 0; i < 1000; ++i) hs.push_back(weft::spawn([i] { return i; }));
    for (auto& h : hs) sum += h.join();
    hs.clear();
  }
  const auto t1 = now_ns();
  if (sum != (n / 1000) * 999 * 1000 / 2) std::abort();
  return static_cast<double>(n) / (static_cast<double>(t1 - t0) / 1e9);
}

double serial(long n) {
  const auto t0 = now_ns();
  long sum = 0;
  for (long i = 0; i < n; ++i) sum += weft::spawn([i] { return i; }).join();
  const auto t1 = now_ns();
  if (sum != n * (n - 1) / 2) std::abort();
  return static_cast<double>(n) / (static_cast<double>(t1 - t0) / 1e9);
}

double wait_all(long n) {
  weft::Event done;
  std::atomic<long> left{n};
  const auto t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    weft::spawn([&left, &done] {
      if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.set();
    }).detach();
  }
  (void)done.wait();
  const auto t1 = now_ns();
  return static_cast<double>(n) / (static_cast<double>(t1 - t0) / 1e9);
}

}  // namespace

constexpr const char* kUsage =
    "usage: weft-bench-spawn [--fibers N] [--rounds R] [--workers W]\n"
    "  --fibers    fibers per measurement, a multiple of 1000 (1000000)\n"
    "  --rounds    rounds; each figure is their median (5)\n"
    "  --workers   worker threads (1)\n"
    "fibers spawned and joined per second (burst, batched, serial, wait_all);\n"
    "prints key=value lines\n";

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  const long n = weft::perf::option(argc, argv, "--fibers", 1'000'000) / 1000 * 1000;
  const long rounds = weft::perf::option(argc, argv, "--rounds", 5);
  const long workers = weft::perf::option(argc, argv, "--workers", 1);
  weft::Runtime rt({.workers = static_cast<std::size_t>(workers)});
  std::vector<double> b, t, s, w;
  rt.run([&] {
    for (long r = 0; r < rounds; ++r) {
      w.push_back(wait_all(n));
      b.push_back(burst(n));
      t.push_back(batched(n));
      s.push_back(serial(n));
    }
  });
  weft::perf::kv("workers", static_cast<double>(workers), "%.0f");
  weft::perf::kv("fibers", static_cast<double>(n), "%.0f");
  weft::perf::kv("rounds", static_cast<double>(rounds), "%.0f");
  weft::perf::kv("burst_spawn_join_per_s", weft::perf::median(b), "%.0f");
  weft::perf::kv("batched_spawn_join_per_s", weft::perf::median(t), "%.0f");
  weft::perf::kv("serial_spawn_join_per_s", weft::perf::median(s), "%.0f");
  weft::perf::kv("wait_all_spawn_per_s", weft::perf::median(w), "%.0f");
  weft::perf::kv("burst_ns_per_fiber", 1e9 / weft::perf::median(b));
  weft::perf::kv("wait_all_ns_per_fiber", 1e9 / weft::perf::median(w));
  return 0;
}
