// weft::node::Loop beyond ordering: faults reach the callbacks as errors,
// an exception from a callback ends run(), and clearing what already ran is
// harmless.
#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/weft.h>

namespace {

// Runs `body` as the main module of a loop on a single-mode runtime.
template <class F>
void on_loop(F body) {
  weft::RuntimeOptions o;
  o.mode = weft::Mode::single;
  weft::Runtime rt(o);
  rt.run([&] {
    weft::node::Loop loop;
    loop.run([&] { body(loop); });
  });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(loop)

BOOST_AUTO_TEST_CASE(a_refused_connection_reports_an_error_then_closes) {
  // A port nobody listens on: bind one, note it, close it.
  std::uint16_t port = 0;
  {
    weft::Runtime rt;
    rt.run([&] {
      auto l = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
      port = l.local_address().value().port();
    });
  }
  std::vector<std::string> events;
  on_loop([&](weft::node::Loop& loop) {
    auto s = loop.connect(port, "127.0.0.1", [&] { events.push_back("connected"); });
    s->on_error([&](std::error_code e) {
      events.push_back(e == std::errc::connection_refused ? "refused" : "error " + e.message());
    });
    s->on_close([&] { events.push_back("close"); });
  });
  BOOST_TEST(events == (std::vector<std::string>{"refused", "close"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(reading_a_directory_or_a_missing_file_reports_the_error) {
  std::vector<std::error_code> errors;
  on_loop([&](weft::node::Loop& loop) {
    loop.read_file("/", [&](std::error_code e, std::string) { errors.push_back(e); });
    loop.read_file("/nonexistent/weft/file", [&](std::error_code e, std::string) { errors.push_back(e); });
  });
  BOOST_REQUIRE(errors.size() == 2u);
  for (const auto& e : errors) {
    BOOST_TEST((e == std::errc::is_a_directory || e == std::errc::no_such_file_or_directory), e.message());
  }
}

BOOST_AUTO_TEST_CASE(an_exception_from_a_callback_ends_run) {
  int after = 0;
  BOOST_CHECK_THROW(on_loop([&](weft::node::Loop& loop) {
                      loop.set_timeout([] { throw std::runtime_error("boom"); }, 1);
                      loop.set_timeout([&] { ++after; }, 50);
                    }),
                    std::runtime_error);
  BOOST_TEST(after == 0);
}

BOOST_AUTO_TEST_CASE(clearing_what_already_ran_or_never_was_is_harmless) {
  int runs = 0;
  on_loop([&](weft::node::Loop& loop) {
    const auto t = loop.set_timeout([&] { ++runs; }, 1);
    const auto i = loop.set_immediate([&] { ++runs; });
    loop.set_timeout(
        [&loop, &runs, t, i] {
          loop.clear_timeout(t);
          loop.clear_immediate(i);
          loop.clear_timeout({});
          loop.clear_interval({12345});
          ++runs;
        },
        10);
  });
  BOOST_TEST(runs == 3);
}

BOOST_AUTO_TEST_CASE(listening_on_a_taken_port_throws) {
  on_loop([&](weft::node::Loop& loop) {
    auto a = loop.create_server([](std::shared_ptr<weft::node::Socket>) {});
    a->listen(0);
    auto b = loop.create_server([](std::shared_ptr<weft::node::Socket>) {});
    BOOST_CHECK_THROW(b->listen(a->port()), std::system_error);
    a->close();
  });
}

BOOST_AUTO_TEST_CASE(a_computing_callback_holds_up_the_timers_as_in_node) {
  // The loop's clock: a timer due in 5 ms, behind a callback that computes
  // for 30 ms, runs late, never early.
  std::uint64_t set_at = 0;
  std::uint64_t ran_at = 0;
  on_loop([&](weft::node::Loop& loop) {
    loop.set_immediate([&] {
      set_at = loop.now();
      loop.set_timeout([&] { ran_at = loop.now(); }, 5);
      const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
      while (std::chrono::steady_clock::now() < end) {
      }
    });
  });
  BOOST_TEST(ran_at >= set_at + 30);
}

BOOST_AUTO_TEST_SUITE_END()
