// A program for the trace check (trace_check.py): a known mix of work on two
// workers, traced into the file named by its argument.
//
//   weft-test-trace-target OUT.json
//
// Fibers: "pinger" and "ponger" hand 200 messages back and forth (wake
// flows between their slices); "reader" reads this program's file (I/O
// spans); "blocker" makes a blocking call (the pool's track); "hog" computes
// 200 ms without yielding (a hog mark); 48 "spread" fibers spawned at once
// compute and yield (steals); one fiber has a name that needs escaping.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <weft/weft.h>

namespace {

void compute_for(std::chrono::milliseconds d) {
  volatile unsigned sink = 0;  // each fiber its own
  const auto end = weft::Clock::now() + d;
  while (weft::Clock::now() < end) {
    for (unsigned i = 0; i < 1000; ++i) sink = sink + i;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: weft-test-trace-target OUT.json\n");
    return 2;
  }
  weft::RuntimeOptions o;
  o.workers = 2;
  o.mode = weft::Mode::multi;
  o.hog_threshold = std::chrono::milliseconds(50);
  o.trace_path = argv[1];
  weft::Runtime rt(o);
  const std::string self = "/proc/self/exe";
  rt.run([&] {
    weft::Channel<int> to_ponger(1), to_pinger(1);
    auto ponger = weft::spawn(
        [&] {
          for (int i = 0; i < 200; ++i) (void)to_pinger.send(to_ponger.recv().value());
        },
        {.name = "ponger"});
    auto pinger = weft::spawn(
        [&] {
          for (int i = 0; i < 200; ++i) {
            (void)to_ponger.send(i);
            (void)to_pinger.recv();
          }
        },
        {.name = "pinger"});
    pinger.join();
    ponger.join();

    weft::spawn(
        [&] {
          auto file = weft::fs::File::open(self).value();
          char buf[4096];
          for (std::uint64_t off = 0; off < 10 * sizeof buf; off += sizeof buf) {
            (void)file.read_at(weft::MutableBuffer(buf, sizeof buf), off).value();
          }
          (void)file.close();
        },
        {.name = "reader"})
        .join();

    weft::spawn([] { weft::blocking([] { ::usleep(20000); }); }, {.name = "blocker"}).join();

    std::vector<weft::JoinHandle<void>> spread;
    for (int i = 0; i < 48; ++i) {
      spread.push_back(weft::spawn(
          [] {
            for (int k = 0; k < 4; ++k) {
              compute_for(std::chrono::milliseconds(1));
              weft::yield();
            }
          },
          {.name = "spread"}));
    }
    for (auto& h : spread) h.join();

    weft::spawn([] { compute_for(std::chrono::milliseconds(200)); }, {.name = "hog"}).join();
    weft::spawn([] { weft::sleep_for(std::chrono::milliseconds(1)); },
                {.name = "odd \"name\"\\\t\xff"})
        .join();
    // A surrogate, a byte no sequence starts with, a cut sequence, mid-name.
    weft::spawn([] {}, {.name = "bad\xed\xa0\x80" "mid\xf5\x80" "end\xe2\x82"}).join();
  });
  return 0;
}
