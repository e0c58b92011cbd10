// weft-bench-copy: serving a file over a socket, with os::copy (splice
// through a pipe, no user-space buffer) and with a read_at/write_all loop
// through a 64 KiB buffer, side by side in one run.
//
// A scratch file (64 MiB by default, in the page cache) is sent over a
// loopback TCP connection `--rounds` times each way; a fiber on the other
// end reads and discards. Prints MB/s for each way and their ratio. The
// reader shares the machine's cores with the sender: on 2 cores both ways
// pay for it alike.
//
//   weft-bench-copy [--file-mb M] [--rounds R] [--backend uring|epoll] [--workers W]
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/runtime_options.h"
#include "perf/common/usage.h"

namespace {

constexpr const char* kUsage =
    "usage: weft-bench-copy [--file-mb M] [--rounds R] [--backend uring|epoll] [--workers W]\n"
    "  --file-mb   size of the scratch file, in the page cache (64)\n"
    "  --rounds    times the file is sent each way (5)\n"
    "  --backend   uring or epoll (WEFT_BACKEND, else io_uring with epoll fallback)\n"
    "  --workers   worker threads (0: WEFT_WORKERS, else one per CPU)\n"
    "a file sent over loopback TCP by os::copy and by a buffer loop; prints key=value lines\n";

using weft::Clock;

// Sends the file over `out` once by a read_at/write_all loop.
bool send_by_buffer(weft::fs::File& f, std::uint64_t size, weft::net::TcpStream& out) {
  std::vector<char> buf(64 * 1024);
  for (std::uint64_t at = 0; at < size;) {
    auto n = f.read_at(weft::MutableBuffer(buf.data(), buf.size()), at);
    if (!n || *n == 0) return false;
    if (!out.write_all(weft::ConstBuffer(buf.data(), *n))) return false;
    at += *n;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  const long file_mb = weft::perf::option(argc, argv, "--file-mb", 64);
  const long rounds = weft::perf::option(argc, argv, "--rounds", 5);
  const weft::RuntimeOptions options = weft::perf::runtime_options(argc, argv, "weft-bench-copy");
  char path[] = "/tmp/weft-copy-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return 1;
  std::vector<char> chunk(1 << 20, 'c');
  for (long i = 0; i < file_mb; ++i) {
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) return 1;
  }
  ::close(fd);
  const std::uint64_t size = static_cast<std::uint64_t>(file_mb) << 20;

  weft::Runtime rt(options);
  int rc = 0;
  rt.run([&] {
    auto file = weft::fs::File::open(path).value();
    auto listener = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
    const auto address = listener.local_address().value();
    auto client = weft::net::TcpStream::connect(address).value();
    auto server = listener.accept().value();
    // The far end reads and discards until told how much to expect.
    auto drain = [&client](std::uint64_t bytes) {
      return weft::spawn([&client, bytes] {
        std::vector<char> buf(256 * 1024);
        std::uint64_t got = 0;
        while (got < bytes) {
          auto n = client.read(weft::MutableBuffer(buf.data(), buf.size()));
          if (!n || *n == 0) return false;
          got += *n;
        }
        return true;
      });
    };
    double secs[2] = {0, 0};  // [0] os::copy, [1] buffer loop
    for (long r = 0; r < rounds; ++r) {
      for (int way = 0; way < 2; ++way) {
        auto reader = drain(size);
        const auto start = Clock::now();
        const bool sent = way == 0 ? weft::os::copy(file, server).value_or(0) == size
                                   : send_by_buffer(file, size, server);
        const bool read = reader.join();
        secs[way] += std::chrono::duration<double>(Clock::now() - start).count();
        if (!sent || !read) {
          std::fprintf(stderr, "weft-bench-copy: a round failed\n");
          rc = 1;
          return;
        }
      }
    }
    const double mb = static_cast<double>(size) * static_cast<double>(rounds) / 1e6;
    std::printf("backend=%s\n", rt.backend_name());
    std::printf("file_mb=%ld rounds=%ld\n", file_mb, rounds);
    std::printf("copy_mb_per_s=%.0f\n", mb / secs[0]);
    std::printf("buffer_loop_mb_per_s=%.0f\n", mb / secs[1]);
    std::printf("copy_over_buffer_loop=%.2f\n", secs[1] / secs[0]);
  });
  ::unlink(path);
  return rc;
}
