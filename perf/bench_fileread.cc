// weft-bench-fileread: random 4 KiB reads from a file by N fibers.
//
// Writes a scratch file (64 MiB by default, so it sits in the page cache:
// this measures the runtime's path to the kernel, not the disk), then lets N
// fibers each read random 4 KiB blocks at random offsets for a fixed time.
// On io_uring each read is one SQE; on epoll it is a job on the blocking
// pool (epoll cannot wait for disk).
//
//   weft-bench-fileread [--fibers N] [--seconds S] [--file-mb M] [--backend uring|epoll]
//                       [--workers W]   (0: WEFT_WORKERS, else one per CPU)
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/runtime_options.h"
#include "perf/common/usage.h"
#include "perf/common/histogram.h"

namespace {

constexpr const char* kUsage =
    "usage: weft-bench-fileread [--fibers N] [--seconds S] [--file-mb M]\n"
    "                           [--backend uring|epoll] [--workers W]\n"
    "  --fibers    fibers reading at once (16)\n"
    "  --seconds   how long they read (3)\n"
    "  --file-mb   size of the scratch file, in the page cache (64)\n"
    "  --backend   uring or epoll (WEFT_BACKEND, else io_uring with epoll fallback)\n"
    "  --workers   worker threads (0: WEFT_WORKERS, else one per CPU)\n"
    "random 4 KiB reads from a file; prints key=value lines\n";

}  // namespace

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  const long fibers = weft::perf::option(argc, argv, "--fibers", 16);
  const long seconds = weft::perf::option(argc, argv, "--seconds", 3);
  const long file_mb = weft::perf::option(argc, argv, "--file-mb", 64);
  const weft::RuntimeOptions options = weft::perf::runtime_options(argc, argv, "weft-bench-fileread");
  char path[] = "/tmp/weft-fileread-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return 1;
  std::vector<char> chunk(1 << 20, 'r');
  for (long i = 0; i < file_mb; ++i) {
    if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) return 1;
  }
  close(fd);
  weft::Runtime rt(options);
  const int rc = rt.run([&] {
    weft::fs::File file = weft::fs::File::open(path).value();
    const std::uint64_t blocks = static_cast<std::uint64_t>(file_mb) * 256;
    const auto end = weft::after(std::chrono::seconds(seconds));
    std::vector<weft::JoinHandle<weft::perf::Histogram>> hs;
    const auto t0 = weft::perf::now_ns();
    for (long f = 0; f < fibers; ++f) {
      hs.push_back(weft::spawn([&, f] {
        weft::perf::Histogram h;
        std::mt19937_64 rng(static_cast<std::uint64_t>(f) + 1);
        char buf[4096];
        while (weft::Clock::now() < end) {
          const auto start = weft::perf::now_ns();
          const std::uint64_t offset = (rng() % blocks) * 4096;
          if (file.read_at(buf, offset).value_or(0) != sizeof buf) std::abort();
          h.record(weft::perf::now_ns() - start);
        }
        return h;
      }));
    }
    weft::perf::Histogram all;
    for (auto& h : hs) all.merge(h.join());
    const double elapsed = static_cast<double>(weft::perf::now_ns() - t0) / 1e9;
    std::printf(
        "backend=%s fibers=%ld file_mb=%ld seconds=%.1f reads=%llu reads_per_s=%.0f "
        "p50_us=%.1f p99_us=%.1f\n",
        rt.backend_name(), fibers, file_mb, elapsed, static_cast<unsigned long long>(all.count()),
        static_cast<double>(all.count()) / elapsed, all.quantile(0.5) / 1000.0,
        all.quantile(0.99) / 1000.0);
    return 0;
  });
  unlink(path);
  return rc;
}
