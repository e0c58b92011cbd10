// weft-bench-switch: the cost of one context switch.
//
// Two contexts bounce control back and forth N times (2N switches), with
//   weft     weft's own switch (fibers/context_x86_64.S), no scheduler
//   boost    Boost.Context's jump_fcontext, the same bounce
//   ucontext glibc's swapcontext (it saves the signal mask: a system call)
// and, through the scheduler, two fibers that weft::yield() to each other.
// Rounds alternate between the contenders so drift on a shared machine hits
// all alike; each figure is the median over the rounds.
//
//   weft-bench-switch [--iterations N] [--rounds R]
#include <sys/mman.h>
#include <ucontext.h>

#include <boost/context/detail/fcontext.hpp>
#include <cstdio>

#include <weft/fibers/context.h>
#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/usage.h"

namespace ctx = boost::context::detail;
using weft::perf::now_ns;

namespace {

constexpr std::size_t kStackBytes = 64 << 10;

char* make_stack() {
  void* p = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::abort();
  return static_cast<char*>(p);
}

// ---- weft's raw switch ---------------------------------------------------------
struct WeftBounce {
  void* main_sp = nullptr;
  void* other_sp = nullptr;
};

void weft_other(void* arg, void*) {
  auto* b = static_cast<WeftBounce*>(arg);
  for (;;) weft_context_switch(&b->other_sp, b->main_sp, nullptr);
}

double weft_raw(long n) {
  static char* stack = make_stack();
  WeftBounce b;
  b.other_sp = weft::fibers::make_initial_frame(stack + kStackBytes, &weft_other, &b,
                                                weft::fibers::capture_fp_control());
  weft_context_switch(&b.main_sp, b.other_sp, nullptr);  // warm up
  const auto t0 = now_ns();
  for (long i = 0; i < n; ++i) weft_context_switch(&b.main_sp, b.other_sp, nullptr);
  return static_cast<double>(now_ns() - t0) / (2.0 * static_cast<double>(n));
}

// ---- Boost.Context -------------------------------------------------------------
void boost_other(ctx::transfer_t t) {
  for (;;) t = ctx::jump_fcontext(t.fctx, nullptr);
}

double boost_fcontext(long n) {
  static char* stack = make_stack();
  ctx::fcontext_t other = ctx::make_fcontext(stack + kStackBytes, kStackBytes, &boost_other);
  ctx::transfer_t t = ctx::jump_fcontext(other, nullptr);  // warm up
  const auto t0 = now_ns();
  for (long i = 0; i < n; ++i) t = ctx::jump_fcontext(t.fctx, nullptr);
  return static_cast<double>(now_ns() - t0) / (2.0 * static_cast<double>(n));
}

// ---- swapcontext ---------------------------------------------------------------
ucontext_t g_main_uc, g_other_uc;

void ucontext_other() {
  for (;;) swapcontext(&g_other_uc, &g_main_uc);
}

double ucontext_swap(long n) {
  static char* stack = make_stack();
  getcontext(&g_other_uc);
  g_other_uc.uc_stack.ss_sp = stack;
  g_other_uc.uc_stack.ss_size = kStackBytes;
  g_other_uc.uc_link = nullptr;
  makecontext(&g_other_uc, &ucontext_other, 0);
  swapcontext(&g_main_uc, &g_other_uc);
  const auto t0 = now_ns();
  for (long i = 0; i < n; ++i) swapcontext(&g_main_uc, &g_other_uc);
  return static_cast<double>(now_ns() - t0) / (2.0 * static_cast<double>(n));
}

// ---- weft::yield through the scheduler ----------------------------------------
double weft_yield(weft::Runtime& rt, long n) {
  return rt.run([n] {
    auto other = weft::spawn([n] {
      for (long i = 0; i < n; ++i) weft::yield();
    });
    const auto t0 = now_ns();
    for (long i = 0; i < n; ++i) weft::yield();
    other.join();
    return static_cast<double>(now_ns() - t0) / (2.0 * static_cast<double>(n));
  });
}

}  // namespace

constexpr const char* kUsage =
    "usage: weft-bench-switch [--iterations N] [--rounds R]\n"
    "  --iterations   bounces per contender and round (10000000)\n"
    "  --rounds       rounds; each figure is their median (7)\n"
    "the cost of one context switch: weft's, Boost.Context's, swapcontext, and\n"
    "weft::yield through the scheduler; prints key=value lines\n";

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  const long n = weft::perf::option(argc, argv, "--iterations", 10'000'000);
  const long rounds = weft::perf::option(argc, argv, "--rounds", 7);
  weft::Runtime rt;
  std::vector<double> w, b, u, y;
  for (long r = 0; r < rounds; ++r) {
    w.push_back(weft_raw(n));
    b.push_back(boost_fcontext(n));
    u.push_back(ucontext_swap(n / 20));
    y.push_back(weft_yield(rt, n / 4));
  }
  const double weft_ns = weft::perf::median(w), boost_ns = weft::perf::median(b);
  const double uc_ns = weft::perf::median(u), yield_ns = weft::perf::median(y);
  weft::perf::kv("iterations", static_cast<double>(n), "%.0f");
  weft::perf::kv("rounds", static_cast<double>(rounds), "%.0f");
  weft::perf::kv("weft_switch_ns", weft_ns);
  weft::perf::kv("boost_fcontext_switch_ns", boost_ns);
  weft::perf::kv("swapcontext_switch_ns", uc_ns);
  weft::perf::kv("weft_yield_ns", yield_ns);
  weft::perf::kv("weft_vs_boost_ratio", weft_ns / boost_ns, "%.3f");
  weft::perf::kv("swapcontext_vs_weft_ratio", uc_ns / weft_ns, "%.1f");
  return 0;
}
