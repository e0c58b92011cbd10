#include <fpu_control.h>
#include <sys/mman.h>
#include <xmmintrin.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <vector>

#include <weft/fibers/context.h>

#include "support/runtime.h"

extern "C" int weft_test_check_callee_saved(void (*fn)(void*), void* arg, std::uint64_t seed);

namespace {

void yield_a_few_times(void*) {
  for (int i = 0; i < 5; ++i) weft::yield();
}

// Two raw contexts bouncing between each other, no scheduler involved.
struct PingPong {
  void* main_sp = nullptr;
  void* other_sp = nullptr;
  int bounces = 0;
};

void other_entry(void* arg, void* /*from*/) {
  auto* p = static_cast<PingPong*>(arg);
  for (;;) {
    ++p->bounces;
    weft_context_switch(&p->other_sp, p->main_sp, nullptr);
  }
}

void bounce(void* arg) {
  auto* p = static_cast<PingPong*>(arg);
  for (int i = 0; i < 3; ++i) weft_context_switch(&p->main_sp, p->other_sp, nullptr);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(context)

BOOST_AUTO_TEST_CASE(raw_switch_preserves_callee_saved_registers) {
  const std::size_t size = 64 << 10;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_REQUIRE(mem != MAP_FAILED);
  PingPong p;
  p.other_sp = weft::fibers::make_initial_frame(static_cast<char*>(mem) + size, &other_entry, &p,
                                                weft::fibers::capture_fp_control());
  BOOST_TEST(weft_test_check_callee_saved(&bounce, &p, 0x1000) == 0);
  BOOST_TEST(p.bounces == 3);
  munmap(mem, size);
}

BOOST_AUTO_TEST_CASE(switch_hands_its_value_to_the_resumed_side) {
  const std::size_t size = 64 << 10;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_REQUIRE(mem != MAP_FAILED);
  struct State {
    void* main_sp;
    void* other_sp;
    void* seen_from;
  } st{};
  st.other_sp = weft::fibers::make_initial_frame(
      static_cast<char*>(mem) + size,
      [](void* arg, void* from) {
        auto* s = static_cast<State*>(arg);
        s->seen_from = from;
        void* back = weft_context_switch(&s->other_sp, s->main_sp, reinterpret_cast<void*>(0x5678));
        s->seen_from = back;
        weft_context_switch(&s->other_sp, s->main_sp, nullptr);
      },
      &st, weft::fibers::capture_fp_control());
  void* got = weft_context_switch(&st.main_sp, st.other_sp, reinterpret_cast<void*>(0x1234));
  BOOST_TEST(st.seen_from == reinterpret_cast<void*>(0x1234));
  BOOST_TEST(got == reinterpret_cast<void*>(0x5678));
  weft_context_switch(&st.main_sp, st.other_sp, reinterpret_cast<void*>(0x9abc));
  BOOST_TEST(st.seen_from == reinterpret_cast<void*>(0x9abc));
  munmap(mem, size);
}

BOOST_AUTO_TEST_CASE(callee_saved_registers_survive_yields_between_fibers) {
  weft::test::run([] {
    int masks[3] = {-1, -1, -1};
    std::vector<weft::JoinHandle<void>> fibers;
    for (int i = 0; i < 3; ++i) {
      fibers.push_back(weft::spawn([i, &masks] {
        masks[i] = weft_test_check_callee_saved(&yield_a_few_times, nullptr, 0x100000u * (i + 1));
      }));
    }
    for (auto& f : fibers) f.join();
    for (int m : masks) BOOST_TEST(m == 0);
  });
}

BOOST_AUTO_TEST_CASE(mxcsr_rounding_mode_is_per_fiber) {
  weft::test::run([] {
    constexpr unsigned kRoundingBits = 0x6000, kTowardZero = 0x6000, kUpward = 0x4000;
    const unsigned initial = _mm_getcsr();
    unsigned a_after = 0, b_before = 0, b_after = 0;
    double b_third = 0;
    auto a = weft::spawn([&] {
      _mm_setcsr((_mm_getcsr() & ~kRoundingBits) | kTowardZero);
      weft::yield();
      weft::yield();
      a_after = _mm_getcsr();
    });
    auto b = weft::spawn([&] {
      b_before = _mm_getcsr();
      _mm_setcsr((_mm_getcsr() & ~kRoundingBits) | kUpward);
      weft::yield();
      weft::yield();
      b_after = _mm_getcsr();
      volatile double one = 1.0, three = 3.0;
      b_third = one / three;
    });
    a.join();
    b.join();
    BOOST_TEST((a_after & kRoundingBits) == kTowardZero);
    BOOST_TEST(b_before == initial);  // a new fiber starts with the thread's state
    BOOST_TEST((b_after & kRoundingBits) == kUpward);
    BOOST_TEST(b_third > 0.33333333333333331);  // rounded up, as B asked
    BOOST_TEST(_mm_getcsr() == initial);        // main never changed its own
  });
}

BOOST_AUTO_TEST_CASE(x87_control_word_is_per_fiber) {
  weft::test::run([] {
    fpu_control_t mine;
    _FPU_GETCW(mine);
    fpu_control_t seen_a = 0, seen_b = 0;
    const fpu_control_t single = static_cast<fpu_control_t>((mine & ~_FPU_EXTENDED) | _FPU_SINGLE);
    auto a = weft::spawn([&] {
      fpu_control_t cw = single;
      _FPU_SETCW(cw);
      weft::yield();
      _FPU_GETCW(seen_a);
    });
    auto b = weft::spawn([&] {
      weft::yield();
      _FPU_GETCW(seen_b);
    });
    a.join();
    b.join();
    fpu_control_t now;
    _FPU_GETCW(now);
    BOOST_TEST(seen_a == single);
    BOOST_TEST(seen_b == mine);
    BOOST_TEST(now == mine);
  });
}

BOOST_AUTO_TEST_SUITE_END()
