// Timer and Ticker: a timer fires once, at its time, through a channel a
// select waits on; stop() and reset() take back what is pending and a stale
// tick never shows; a ticker ticks every period, drops and counts ticks a
// slow receiver missed, and skips ahead when it fell behind. On one and on
// several workers.
#include <boost/test/unit_test.hpp>
#include <optional>
#include <stdexcept>

#include "support/runtime.h"

using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(timers)

BOOST_AUTO_TEST_CASE(a_timer_fires_once_at_its_time) {
  weft::test::run([] {
    const auto began = weft::Clock::now();
    weft::Timer t(20ms);
    auto due = t.wait({.deadline = weft::after(5s)});
    BOOST_REQUIRE(due.has_value());
    BOOST_TEST((*due >= began + 20ms));
    BOOST_TEST((weft::Clock::now() >= *due));
    // Once: nothing more comes.
    BOOST_TEST((t.wait({.deadline = weft::after(40ms)}).error() == weft::errc::deadline_exceeded));
    BOOST_TEST(!t.stop());  // it had fired
  });
}

BOOST_AUTO_TEST_CASE(a_timer_takes_part_in_a_select) {
  weft::test::run([] {
    weft::Channel<int> work;
    weft::Timer give_up(30ms);
    std::optional<int> got;
    std::optional<weft::Deadline> fired;
    auto s = weft::select({weft::recv_case(work, got), weft::recv_case(give_up.channel(), fired)},
                          {.deadline = weft::after(5s)});
    BOOST_REQUIRE(s.has_value());
    BOOST_TEST(s->index == 1u);
    BOOST_TEST(fired.has_value());
    BOOST_TEST(!got.has_value());
  });
}

BOOST_AUTO_TEST_CASE(stop_and_reset_take_back_what_is_pending) {
  weft::test::run([] {
    weft::Timer t(10ms);
    BOOST_TEST(t.stop());  // pending: it had not fired
    BOOST_TEST((t.wait({.deadline = weft::after(40ms)}).error() == std::errc::timed_out));
    // Fired and unread, then reset: the old tick is gone, the new one comes.
    weft::Timer u(5ms);
    weft::sleep_for(30ms);
    const auto reset_at = weft::Clock::now();
    BOOST_TEST(!u.reset(30ms));
    auto due = u.wait({.deadline = weft::after(5s)});
    BOOST_REQUIRE(due.has_value());
    BOOST_TEST((*due >= reset_at + 30ms));
    // A timer made stopped fires only once armed.
    weft::Timer idle;
    BOOST_TEST((idle.wait({.deadline = weft::after(20ms)}).error() == std::errc::timed_out));
    BOOST_TEST(!idle.reset(5ms));
    BOOST_TEST(idle.wait({.deadline = weft::after(5s)}).has_value());
  });
}

BOOST_AUTO_TEST_CASE(a_ticker_ticks_every_period) {
  weft::test::run([] {
    weft::Ticker tick(10ms);
    weft::Deadline last{};
    for (int i = 0; i < 5; ++i) {
      auto due = tick.wait({.deadline = weft::after(5s)});
      BOOST_REQUIRE(due.has_value());
      if (i > 0) BOOST_TEST((*due - last >= 10ms));  // due times a whole period apart
      last = *due;
    }
    tick.stop();
    BOOST_TEST((tick.wait({.deadline = weft::after(40ms)}).error() == std::errc::timed_out));
  });
}

BOOST_AUTO_TEST_CASE(a_slow_receiver_misses_ticks_and_they_are_counted) {
  weft::test::run([] {
    weft::Ticker tick(5ms);
    weft::sleep_for(60ms);  // about 12 periods, one tick held in the channel
    BOOST_TEST(tick.missed() >= 5u);
    // One tick waits; the next is a fresh one, due after now.
    auto old = tick.wait({.deadline = weft::after(5s)});
    BOOST_REQUIRE(old.has_value());
    const auto now = weft::Clock::now();
    auto fresh = tick.wait({.deadline = weft::after(5s)});
    BOOST_REQUIRE(fresh.has_value());
    BOOST_TEST((*fresh >= now - 5ms));
  });
}

BOOST_AUTO_TEST_CASE(a_ticker_with_no_period_is_refused) {
  weft::test::run([] {
    BOOST_CHECK_THROW(weft::Ticker(0ms), std::invalid_argument);
    weft::Ticker t(1h);
    BOOST_CHECK_THROW(t.reset(-1ms), std::invalid_argument);
  });
}

BOOST_AUTO_TEST_CASE(a_timer_off_a_fiber_is_refused_naming_itself) {
  for (const bool ticker : {false, true}) {
    try {
      if (ticker)
        weft::Ticker t(1ms);
      else
        weft::Timer t(1ms);
      BOOST_TEST(false, "made off a fiber");
    } catch (const std::logic_error& e) {
      const std::string expected = std::string(ticker ? "weft::Ticker" : "weft::Timer") +
                                   " must be called from a weft fiber";
      BOOST_TEST(e.what() == expected);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
