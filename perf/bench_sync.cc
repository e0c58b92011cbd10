// weft-bench-sync: channels, WaitGroup, Mutex and the scheduler across
// workers, against the same programs in Go (perf/peers/go/syncbench).
//
//   pingpong   two fibers bounce a long over two unbuffered Channels
//   spawn      start N fibers that each do trivial work and signal a
//              WaitGroup; wait; repeat (median of the rounds)
//   spawntree  parallel Fibonacci: a fiber per call with n >= cutoff, joined
//              through its JoinHandle
//   mutex      F fibers each lock/increment/unlock a shared counter K times
//   rwmutex    F fibers each make K accesses to a table of `work` slots, one
//              in ten a write: under RWMutex, then under Mutex (one run)
//   threads    no runtime: two serial fib(n - 2) computations on W plain
//              threads (both on one, or one each on two). The machine's
//              own 1 -> 2 speed-up for pure computation, the ceiling
//              for spawntree's on this machine (shared, virtual CPUs)
//   wakeup     latency from a send on one worker to the parked receiver
//              running again on another
//   ticker     lateness of a Ticker's ticks (when the receiver runs, minus
//              when the tick was due) while F fibers keep every worker busy
//              (each computes --busy-ns, then yields), beside the lateness
//              of a plain sleep_until(now + period) under the same load;
//              each half ends after --samples or --max-seconds / 3
//
// Each benchmark prints one line of space-separated key=value pairs, with the
// keys of the Go program plus workers= (equal to procs=, the key both share).
//
//   weft-bench-sync --bench pingpong --workers 1 [--rounds 1000000]
//                   [--placement any|cross]
//   weft-bench-sync --bench spawn --workers 2 [--fibers 100000] [--rounds 10]
//   weft-bench-sync --bench spawntree --workers 2 [--n 39] [--cutoff 12]
//   weft-bench-sync --bench mutex --workers 2 [--fibers 8] [--ops 200000]
//   weft-bench-sync --bench rwmutex --workers 2 [--fibers 8] [--ops 200000] [--work 64]
//   weft-bench-sync --bench threads --workers 2 [--n 39]
//   weft-bench-sync --bench wakeup --workers 2 [--samples 2000]
//                   [--sleep-us 200] [--pause spin|yield|sleep] [--sender spin|sleep]
//   weft-bench-sync --bench ticker --workers 1 [--fibers 10000] [--samples 2000]
//                   [--period-us 1000] [--busy-ns 1000]
//
// WEFT_BENCH_WORKER_STATS=1 prints each worker's scheduler counters on
// stderr at the end (WEFT_STATS=1 prints their sums); WEFT_BENCH_SLOW_NS=N
// prints every wakeup sample slower than N ns, with the workers involved.
//
// --procs is a synonym of --workers. --max-seconds (10) bounds pingpong and
// mutex: they stop early, and say how much they did, rather than run on.
//
// Placement. weft gives no way to put a fiber on a chosen worker: a fiber
// runs where it was spawned or readied until an idle worker steals it. Where
// a benchmark wants two fibers on two workers (wakeup, pingpong with
// --placement cross) the first fiber spins, keeping its worker busy, until
// the second reports from another worker; cross_fraction then says how often
// the hand-over really crossed workers (a readied fiber is queued on the
// waker's worker, so fibers drift together unless stolen back).
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/usage.h"

using weft::perf::now_ns;

namespace {

struct Args {
  std::string bench;
  long workers = 1;
  long rounds = 0;
  long fibers = 0;
  long n = 39;
  long cutoff = 12;
  long ops = 200'000;
  long samples = 2000;
  long sleep_us = 200;
  long max_seconds = 10;
  long work = 64;
  std::string pause = "spin";
  std::string sender = "spin";
  std::string placement = "any";
  long period_us = 1000;
  long busy_ns = 1000;
};

constexpr const char* kUsage =
    "usage: weft-bench-sync --bench pingpong --workers 1 [--rounds 1000000]\n"
    "                       [--placement any|cross]\n"
    "       weft-bench-sync --bench spawn --workers 2 [--fibers 100000] [--rounds 10]\n"
    "       weft-bench-sync --bench spawntree --workers 2 [--n 39] [--cutoff 12]\n"
    "       weft-bench-sync --bench mutex --workers 2 [--fibers 8] [--ops 200000]\n"
    "       weft-bench-sync --bench rwmutex --workers 2 [--fibers 8] [--ops 200000] [--work 64]\n"
    "       weft-bench-sync --bench threads --workers 2 [--n 39]\n"
    "       weft-bench-sync --bench ticker --workers 1 [--fibers 10000] [--samples 2000]\n"
    "                       [--period-us 1000] [--busy-ns 1000]\n"
    "       weft-bench-sync --bench wakeup --workers 2 [--samples 2000]\n"
    "                       [--sleep-us 200] [--pause spin|yield|sleep] [--sender spin|sleep]\n"
    "common: [--max-seconds 10]; --procs is another name for --workers\n"
    "channels, WaitGroup, Mutex and the scheduler, the programs of\n"
    "perf/peers/go/syncbench; prints one line of key=value pairs\n";

// One output line: "bench=... impl=weft workers=W procs=W key=value ...".
class Line {
 public:
  Line(const char* bench, long workers) {
    text_ = "bench=" + std::string(bench) + " impl=weft workers=" + std::to_string(workers) +
            " procs=" + std::to_string(workers);
  }
  Line& add(const char* key, const std::string& value) {
    text_ += std::string(" ") + key + "=" + value;
    return *this;
  }
  Line& add(const char* key, long value) { return add(key, std::to_string(value)); }
  Line& add(const char* key, double value, const char* fmt) {
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, value);
    return add(key, std::string(buf));
  }
  void print() const {
    std::printf("%s\n", text_.c_str());
    std::fflush(stdout);  // kept even if the runtime fails to stop afterwards
  }

 private:
  std::string text_;
};

// Spins the calling fiber without yielding (its worker stays busy) until
// `flag` is set or `limit_ns` passes. Returns whether the flag was set.
bool spin_until_set(const std::atomic<bool>& flag, std::uint64_t limit_ns) {
  const std::uint64_t give_up = now_ns() + limit_ns;
  while (!flag.load(std::memory_order_acquire)) {
    if (now_ns() > give_up) return false;
    __builtin_ia32_pause();
  }
  return true;
}

// ---- pingpong ----------------------------------------------------------------

struct Bounce {
  long rounds = 0;     // completed
  double ns = 0;       // for those
  long sampled = 0;    // hand-overs whose workers were compared
  long crossed = 0;    // of which the receiver ran on another worker than the sender
  bool placed = true;  // --placement cross: the two fibers started on two workers
};

// A sends i on `ping`, B answers i + 1 on `pong`, `r` times (fewer if
// `limit_ns` passes). Every 16th round both ends note which worker sent and
// which received: asking costs a few ns, too much for every round.
Bounce bounce(long r, bool cross, std::uint64_t limit_ns) {
  weft::Channel<long> ping;
  weft::Channel<long> pong;
  std::size_t ping_from = 0;  // written before a send, read after the receive
  std::size_t pong_from = 0;
  long b_crossed = 0;
  long b_sampled = 0;
  const std::size_t home = weft::this_fiber::worker();
  std::atomic<bool> placed{false};
  auto b = weft::spawn([&] {
    if (cross && weft::this_fiber::worker() != home) placed.store(true, std::memory_order_release);
    for (long i = 0;; ++i) {
      auto v = ping.recv();
      if (!v) break;
      const bool sample = (i & 15) == 0;
      if (sample) {
        ++b_sampled;
        b_crossed += weft::this_fiber::worker() != ping_from;
        pong_from = weft::this_fiber::worker();
      }
      pong.send(*v + 1).value();
    }
  });
  Bounce out;
  if (cross) out.placed = spin_until_set(placed, 1'000'000'000);
  long sum = 0;
  long expect = 0;
  const std::uint64_t t0 = now_ns();
  const std::uint64_t give_up = t0 + limit_ns;
  long i = 0;
  for (; i < r; ++i) {
    const bool sample = (i & 15) == 0;
    if (sample) ping_from = weft::this_fiber::worker();
    ping.send(i).value();
    sum += pong.recv().value();
    expect += i + 1;
    if (sample) {
      ++out.sampled;
      out.crossed += weft::this_fiber::worker() != pong_from;
    }
    if ((i & 1023) == 1023 && now_ns() > give_up) {
      ++i;
      break;
    }
  }
  const std::uint64_t t1 = now_ns();
  ping.close();
  b.join();
  if (sum != expect) {
    std::fprintf(stderr, "pingpong: wrong sum\n");
    std::abort();
  }
  out.rounds = i;
  out.ns = static_cast<double>(t1 - t0);
  out.sampled += b_sampled;
  out.crossed += b_crossed;
  return out;
}

void pingpong(const Args& a) {
  const long r = a.rounds != 0 ? a.rounds : 1'000'000;
  const bool cross = a.placement == "cross";
  const std::uint64_t limit = static_cast<std::uint64_t>(a.max_seconds) * 1'000'000'000;
  (void)bounce(r / 10 + 1, cross, limit);  // warm-up
  const Bounce b = bounce(r, cross, limit);
  if (!b.placed) std::fprintf(stderr, "pingpong: could not start the fibers on two workers\n");
  Line("pingpong", a.workers)
      .add("placement", a.placement)
      .add("rounds", b.rounds)
      .add("ns_per_round", b.ns / static_cast<double>(b.rounds), "%.1f")
      .add("cross_fraction",
           static_cast<double>(b.crossed) / static_cast<double>(b.sampled > 0 ? b.sampled : 1),
           "%.3f")
      .print();
}

// ---- spawn -------------------------------------------------------------------

double spawn_round(long count, std::vector<long>& out) {
  weft::WaitGroup wg;
  wg.add(count);
  const std::uint64_t t0 = now_ns();
  for (long i = 0; i < count; ++i) {
    weft::spawn([&out, &wg, i] {
      out[static_cast<std::size_t>(i)] = i;
      wg.done();
    }).detach();
  }
  if (const std::error_code e = wg.wait()) throw std::system_error(e);
  const std::uint64_t t1 = now_ns();
  return static_cast<double>(count) / (static_cast<double>(t1 - t0) / 1e9);
}

void spawn(const Args& a) {
  const long count = a.fibers != 0 ? a.fibers : 100'000;
  const long r = a.rounds != 0 ? a.rounds : 10;
  std::vector<long> out(static_cast<std::size_t>(count));
  (void)spawn_round(count, out);  // warm-up: stacks and records get pooled
  std::vector<double> rates;
  for (long i = 0; i < r; ++i) rates.push_back(spawn_round(count, out));
  const double m = weft::perf::median(rates);
  Line("spawn", a.workers)
      .add("fibers", count)
      .add("rounds", r)
      .add("stat", "median")
      .add("per_s", m, "%.0f")
      .add("ns_per_fiber", 1e9 / m, "%.1f")
      .print();
}

// ---- spawntree ---------------------------------------------------------------

[[gnu::noinline]] long fib_serial(long k) {
  if (k < 2) return k;
  return fib_serial(k - 1) + fib_serial(k - 2);
}

// How many fibers fib_par(k, cut) spawns, counted apart so that no shared
// counter is touched on the measured path (the Go program does the same).
long spawn_count(long k, long cut) {
  if (k < cut || k < 2) return 0;
  return 1 + spawn_count(k - 1, cut) + spawn_count(k - 2, cut);
}

long fib_par(long k, long cut) {
  if (k < cut || k < 2) return fib_serial(k);
  auto child = weft::spawn([k, cut] { return fib_par(k - 1, cut); });
  const long y = fib_par(k - 2, cut);
  return child.join() + y;
}

// The serial reference runs on the plain main thread before the runtime
// starts (a fiber computing for a second would be reported as a hog).
struct Serial {
  long result = 0;
  double seconds = 0;
};
Serial serial_reference;

void spawntree(const Args& a) {
  const std::uint64_t t0 = now_ns();
  const long result = fib_par(a.n, a.cutoff);
  const std::uint64_t t1 = now_ns();
  if (result != serial_reference.result) {
    std::fprintf(stderr, "spawntree: wrong result\n");
    std::abort();
  }
  Line("spawntree", a.workers)
      .add("n", a.n)
      .add("cutoff", a.cutoff)
      .add("seconds", static_cast<double>(t1 - t0) / 1e9, "%.4f")
      .add("result", result)
      .add("spawned", spawn_count(a.n, a.cutoff))
      .add("serial_seconds", serial_reference.seconds, "%.4f")
      .print();
}

// ---- threads -----------------------------------------------------------------

// Two units of fib_serial(n - 2) split over `workers` plain threads, no
// runtime: what the machine gives two threads that share nothing.
void threads_ceiling(const Args& a) {
  const long units = 2;
  const long k = a.n - 2;
  std::vector<long> results(static_cast<std::size_t>(units), 0);
  const std::uint64_t t0 = now_ns();
  std::vector<std::thread> pool;
  for (long t = 0; t < a.workers; ++t) {
    pool.emplace_back([&, t] {
      for (long u = t; u < units; u += a.workers) results[static_cast<std::size_t>(u)] = fib_serial(k);
    });
  }
  for (std::thread& th : pool) th.join();
  const std::uint64_t t1 = now_ns();
  for (long r : results) {
    if (r != results[0] || r == 0) {
      std::fprintf(stderr, "threads: wrong result\n");
      std::abort();
    }
  }
  Line("threads", a.workers)
      .add("n", k)
      .add("units", units)
      .add("seconds", static_cast<double>(t1 - t0) / 1e9, "%.4f")
      .print();
}

// ---- mutex -------------------------------------------------------------------

void mutex(const Args& a) {
  const long f = a.fibers != 0 ? a.fibers : 8;
  const long k = a.ops;
  weft::Mutex mu;
  long counter = 0;  // guarded by mu
  std::atomic<bool> stop{false};
  std::atomic<long> done_ops{0};
  weft::WaitGroup wg;
  wg.add(f);
  const std::uint64_t t0 = now_ns();
  for (long i = 0; i < f; ++i) {
    weft::spawn([&] {
      long j = 0;
      for (; j < k; ++j) {
        {
          std::lock_guard<weft::Mutex> g(mu);
          ++counter;
        }
        if ((j & 1023) == 1023 && stop.load(std::memory_order_relaxed)) {
          ++j;
          break;
        }
      }
      done_ops.fetch_add(j, std::memory_order_relaxed);
      wg.done();
    }).detach();
  }
  if (wg.wait({.deadline = weft::after(std::chrono::seconds(a.max_seconds))})) {
    stop.store(true, std::memory_order_relaxed);
    if (const std::error_code e = wg.wait()) throw std::system_error(e);
  }
  const std::uint64_t t1 = now_ns();
  if (counter != done_ops.load()) {
    std::fprintf(stderr, "mutex: wrong count %ld, expected %ld\n", counter, done_ops.load());
    std::abort();
  }
  Line("mutex", a.workers)
      .add("fibers", f)
      .add("ops_per_fiber", k)
      .add("ops", counter)
      .add("ns_per_op", static_cast<double>(t1 - t0) / static_cast<double>(counter), "%.1f")
      .print();
}

// ---- rwmutex -----------------------------------------------------------------

// F fibers each make K accesses to a shared table: one in ten a write
// (every slot incremented), the rest reads (every slot summed), `work`
// slots each. Once under an RWMutex (reads shared), once under a Mutex
// (everything exclusive), in one run: ns per access for both.
template <class Lock, class ReadGuard>
double rw_round(const Args& a, long f, long k, long& writes_out) {
  Lock mu;
  std::vector<long> table(static_cast<std::size_t>(a.work), 0);  // guarded by mu
  std::atomic<long> writes{0};
  std::atomic<long> sink{0};
  weft::WaitGroup wg;
  wg.add(f);
  const std::uint64_t t0 = now_ns();
  for (long i = 0; i < f; ++i) {
    weft::spawn([&, i] {
      long local = 0;
      for (long j = 0; j < k; ++j) {
        if ((i + j) % 10 == 0) {
          std::lock_guard<Lock> g(mu);
          for (long& v : table) ++v;
          writes.fetch_add(1, std::memory_order_relaxed);
        } else {
          ReadGuard g(mu);
          for (long v : table) local += v;
        }
      }
      sink.fetch_add(local, std::memory_order_relaxed);
      wg.done();
    }).detach();
  }
  if (const std::error_code e = wg.wait()) throw std::system_error(e);
  const std::uint64_t t1 = now_ns();
  if (table.front() != writes.load()) {
    std::fprintf(stderr, "rwmutex: wrong count %ld, expected %ld\n", table.front(), writes.load());
    std::abort();
  }
  writes_out = writes.load();
  return static_cast<double>(t1 - t0) / static_cast<double>(f * k);
}

void rwmutex(const Args& a) {
  const long f = a.fibers != 0 ? a.fibers : 8;
  const long k = a.ops;
  long writes = 0;
  const double rw = rw_round<weft::RWMutex, std::shared_lock<weft::RWMutex>>(a, f, k, writes);
  const double ex = rw_round<weft::Mutex, std::lock_guard<weft::Mutex>>(a, f, k, writes);
  Line("rwmutex", a.workers)
      .add("fibers", f)
      .add("ops_per_fiber", k)
      .add("work", a.work)
      .add("writes", writes)
      .add("rwmutex_ns_per_op", rw, "%.1f")
      .add("mutex_ns_per_op", ex, "%.1f")
      .add("rwmutex_over_mutex", rw / ex, "%.3f")
      .print();
}

// ---- wakeup ------------------------------------------------------------------

struct Stamp {
  std::uint64_t sent;  // now_ns() just before the send
  std::size_t worker;  // the sender's worker
};

void wakeup(const Args& a) {
  const long s = a.samples;
  const bool spin = a.sender == "spin";
  const bool spin_pause = a.pause == "spin";
  const bool yield_pause = a.pause == "yield";
  weft::Channel<Stamp> ch;
  std::atomic<long> got{0};  // the receiver has taken sample got - 1
  std::atomic<bool> placed{false};
  long late = 0;
  const std::size_t home = weft::this_fiber::worker();
  // The sender: a fiber this (receiving) fiber spawns and then keeps off its
  // own worker by spinning until the sender runs elsewhere.
  auto sender = weft::spawn([&] {
    if (weft::this_fiber::worker() != home) placed.store(true, std::memory_order_release);
    for (long i = 0; i < s; ++i) {
      if (spin_pause || yield_pause) {
        // Busy: the worker stays on this fiber (spin; the monitor may report
        // it as a fiber that does not yield), or busy but yielding (yield).
        const std::uint64_t until = now_ns() + static_cast<std::uint64_t>(a.sleep_us) * 1000;
        while (now_ns() < until) {
          if (yield_pause) {
            weft::yield();
          } else {
            __builtin_ia32_pause();
          }
        }
      } else {
        weft::sleep_for(std::chrono::microseconds(a.sleep_us));
      }
      const std::size_t w = weft::this_fiber::worker();
      ch.send(Stamp{now_ns(), w}).value();
      if (spin) {
        // Keep this worker busy until the receiver has run: it must run on
        // the other worker. Bounded: 10 ms.
        const std::uint64_t limit = now_ns() + 10'000'000;
        while (got.load(std::memory_order_acquire) <= i) {
          if (now_ns() > limit) {
            ++late;
            break;
          }
          __builtin_ia32_pause();
        }
      }
    }
  });
  const bool ok = a.workers < 2 || spin_until_set(placed, 1'000'000'000);
  if (!ok) std::fprintf(stderr, "wakeup: the sender did not start on another worker\n");
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(s));
  long cross = 0;
  const char* slow_env = std::getenv("WEFT_BENCH_SLOW_NS");  // report samples slower than this
  const std::uint64_t slow = slow_env != nullptr ? std::strtoull(slow_env, nullptr, 10) : 0;
  for (long i = 0; i < s; ++i) {
    const std::size_t parked_on = weft::this_fiber::worker();
    const Stamp v = ch.recv().value();
    const std::uint64_t t = now_ns();
    cross += weft::this_fiber::worker() != v.worker;
    if (slow != 0 && t - v.sent > slow) {
      std::fprintf(stderr,
                   "slow sample %ld: %llu ns, receiver parked on %zu, sender on %zu, woke on %zu\n",
                   i, static_cast<unsigned long long>(t - v.sent), parked_on, v.worker,
                   weft::this_fiber::worker());
    }
    lat.push_back(static_cast<double>(t - v.sent));
    got.store(i + 1, std::memory_order_release);
  }
  sender.join();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat[static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1))];
  };
  Line("wakeup", a.workers)
      .add("samples", s)
      .add("sleep_us", a.sleep_us)
      .add("sender", a.sender)
      .add("pause", a.pause)
      .add("p50_ns", pct(0.5), "%.0f")
      .add("p99_ns", pct(0.99), "%.0f")
      .add("max_ns", lat.back(), "%.0f")
      .add("cross_fraction", static_cast<double>(cross) / static_cast<double>(s), "%.3f")
      .add("spin_timeouts", late)
      .print();
}

// ---- ticker -------------------------------------------------------------------

void ticker(const Args& a) {
  const long fibers = a.fibers > 0 ? a.fibers : 10'000;
  const auto period = std::chrono::microseconds(a.period_us);
  std::atomic<bool> stop{false};
  std::atomic<long> started{0};
  std::vector<weft::JoinHandle<void>> busy;
  busy.reserve(static_cast<std::size_t>(fibers));
  for (long i = 0; i < fibers; ++i) {
    busy.push_back(weft::spawn([&] {
      started.fetch_add(1, std::memory_order_relaxed);
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t until = now_ns() + static_cast<std::uint64_t>(a.busy_ns);
        while (now_ns() < until) __builtin_ia32_pause();
        weft::yield();
      }
    }, {.stack_size = 16 << 10}));
  }
  // Every busy fiber has run once: the load is on before the first sample.
  while (started.load(std::memory_order_relaxed) < fibers) weft::yield();
  const std::uint64_t t0 = now_ns();
  auto lateness = [](weft::Deadline due) {
    return static_cast<double>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(weft::Clock::now() - due).count());
  };
  // Each half stops after --samples, or after a third of --max-seconds
  // (a loaded worker may be far behind): bounded in count and time.
  const auto half = std::chrono::milliseconds(a.max_seconds * 1000 / 3);
  std::vector<double> tick_late, sleep_late;
  std::uint64_t missed = 0;
  {
    const weft::Deadline give_up = weft::after(half);
    weft::Ticker tick(period);
    for (long i = 0; i < a.samples && weft::Clock::now() < give_up; ++i) {
      tick_late.push_back(lateness(tick.wait().value()));
    }
    missed = tick.missed();
  }
  {
    // A fresh deadline each time (as a loop that sleeps one period after
    // its work would): each sample is one timer's lateness, not a sum.
    const weft::Deadline give_up = weft::after(half);
    for (long i = 0; i < a.samples && weft::Clock::now() < give_up; ++i) {
      const weft::Deadline due = weft::Clock::now() + period;
      weft::sleep_until(due);
      sleep_late.push_back(lateness(due));
    }
  }
  const double seconds = static_cast<double>(now_ns() - t0) / 1e9;
  stop.store(true);
  for (auto& h : busy) h.join();
  auto worst_at = [](const std::vector<double>& v) {
    return static_cast<long>(std::max_element(v.begin(), v.end()) - v.begin());
  };
  const long tick_worst_at = worst_at(tick_late), sleep_worst_at = worst_at(sleep_late);
  auto pct = [](std::vector<double>& v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))] / 1e3;
  };
  Line("ticker", a.workers)
      .add("fibers", fibers)
      .add("ticks", static_cast<long>(tick_late.size()))
      .add("sleeps", static_cast<long>(sleep_late.size()))
      .add("period_us", a.period_us)
      .add("busy_ns", a.busy_ns)
      .add("ticker_p50_us", pct(tick_late, 0.5), "%.1f")
      .add("ticker_p99_us", pct(tick_late, 0.99), "%.1f")
      .add("ticker_max_us", pct(tick_late, 1.0), "%.1f")
      .add("ticker_max_at", tick_worst_at)
      .add("ticker_missed", static_cast<long>(missed))
      .add("sleep_p50_us", pct(sleep_late, 0.5), "%.1f")
      .add("sleep_p99_us", pct(sleep_late, 0.99), "%.1f")
      .add("sleep_max_us", pct(sleep_late, 1.0), "%.1f")
      .add("sleep_max_at", sleep_worst_at)
      .add("seconds", seconds, "%.2f")
      .print();
}

}  // namespace

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  Args a;
  a.bench = weft::perf::text_option(argc, argv, "--bench", "");
  a.workers =
      weft::perf::option(argc, argv, "--workers", weft::perf::option(argc, argv, "--procs", 1));
  a.rounds = weft::perf::option(argc, argv, "--rounds", 0);
  a.fibers = weft::perf::option(argc, argv, "--fibers", 0);
  a.n = weft::perf::option(argc, argv, "--n", a.n);
  a.cutoff = weft::perf::option(argc, argv, "--cutoff", a.cutoff);
  a.ops = weft::perf::option(argc, argv, "--ops", a.ops);
  a.samples = weft::perf::option(argc, argv, "--samples", a.samples);
  a.sleep_us = weft::perf::option(argc, argv, "--sleep-us", a.sleep_us);
  a.max_seconds = weft::perf::option(argc, argv, "--max-seconds", a.max_seconds);
  a.work = weft::perf::option(argc, argv, "--work", a.work);
  a.pause = weft::perf::text_option(argc, argv, "--pause", a.pause.c_str());
  a.sender = weft::perf::text_option(argc, argv, "--sender", a.sender.c_str());
  a.placement = weft::perf::text_option(argc, argv, "--placement", a.placement.c_str());
  a.period_us = weft::perf::option(argc, argv, "--period-us", a.period_us);
  a.busy_ns = weft::perf::option(argc, argv, "--busy-ns", a.busy_ns);
  void (*body)(const Args&) = nullptr;
  if (a.bench == "pingpong") body = pingpong;
  if (a.bench == "spawn") body = spawn;
  if (a.bench == "spawntree") body = spawntree;
  if (a.bench == "mutex") body = mutex;
  if (a.bench == "rwmutex") body = rwmutex;
  if (a.bench == "wakeup") body = wakeup;
  if (a.bench == "ticker") body = ticker;
  if (a.bench == "threads" && a.workers >= 1 && a.workers <= 2 && a.n >= 4) {
    threads_ceiling(a);  // plain threads: no runtime
    return 0;
  }
  if (body == nullptr || a.workers < 1 || a.samples < 1 || a.ops < 1 || a.work < 1 ||
      a.period_us < 1 || a.busy_ns < 0) {
    weft::perf::bad_usage("weft-bench-sync", "--bench names no benchmark, or a value is out of range",
                          kUsage);
  }
  if (body == wakeup && a.sender == "spin" && a.workers < 2) {
    std::fprintf(stderr,
                 "wakeup: --sender spin needs --workers 2 or more (the receiver runs on "
                 "another worker)\n");
    return 2;
  }
  if (body == spawntree) {
    const std::uint64_t t0 = now_ns();
    serial_reference.result = fib_serial(a.n);
    serial_reference.seconds = static_cast<double>(now_ns() - t0) / 1e9;
  }
  weft::RuntimeOptions options;
  options.workers = static_cast<std::size_t>(a.workers);
  weft::Runtime rt(options);
  rt.run([&] { body(a); });
  if (std::getenv("WEFT_BENCH_WORKER_STATS") != nullptr) {
    // Per worker, on stderr (WEFT_STATS=1 prints only the sums).
    std::fprintf(stderr, "rescued=%llu (fibers the monitor moved off a stuck worker)\n",
                 static_cast<unsigned long long>(rt.last_rescued()));
    const std::vector<weft::Stats> per = rt.worker_stats();
    for (std::size_t i = 0; i < per.size(); ++i) {
      const weft::Stats& s = per[i];
      std::fprintf(
          stderr,
          "worker=%zu spawns=%llu switches=%llu parks=%llu wakeups=%llu rounds=%llu "
          "parks_worker=%llu steals=%llu stolen_in=%llu stolen_out=%llu\n",
          i, static_cast<unsigned long long>(s.spawns), static_cast<unsigned long long>(s.switches),
          static_cast<unsigned long long>(s.parks), static_cast<unsigned long long>(s.wakeups),
          static_cast<unsigned long long>(s.rounds),
          static_cast<unsigned long long>(s.parks_worker),
          static_cast<unsigned long long>(s.steals), static_cast<unsigned long long>(s.stolen_in),
          static_cast<unsigned long long>(s.stolen_out));
    }
  }
  return 0;
}
