// weft::node::Loop beyond ordering: faults reach the callbacks as errors,
// an exception from a callback ends run(), and clearing what already ran is
// harmless.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/weft.h>

#include "node_order/mode.h"

namespace {

// Runs `body` as the main module of a loop on a single-mode runtime.
template <class F>
void on_loop(F body) {
  weft::RuntimeOptions o;
  o.mode = weft::node_order::test_mode();
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

BOOST_AUTO_TEST_CASE(an_exception_with_io_open_closes_it_and_the_loop_can_go) {
  // A server and a connected client are open when a callback throws: run()
  // closes them and waits for its helper fibers, so destroying the loop and
  // going on (here: another loop on the same port) is safe.
  weft::RuntimeOptions o;
  o.mode = weft::node_order::test_mode();
  weft::Runtime rt(o);
  bool threw = false;
  int served = 0;
  rt.run([&] {
    std::uint16_t port = 0;
    {
      auto loop = std::make_unique<weft::node::Loop>();
      try {
        loop->run([&] {
          auto server = loop->create_server([](std::shared_ptr<weft::node::Socket>) {});
          server->listen(0, "127.0.0.1", [&, server] {
            port = server->port();
            auto client = loop->connect(port, "127.0.0.1", [&] { throw std::runtime_error("boom"); });
          });
        });
      } catch (const std::runtime_error&) {
        threw = true;
      }
      std::memset(static_cast<void*>(loop.get()), 0xff, 16);  // nobody may read it any more
      loop.reset();
    }
    weft::node::Loop again;
    again.run([&] {
      auto server = again.create_server([&](std::shared_ptr<weft::node::Socket> s) {
        ++served;
        s->end("bye");
      });
      server->listen(port, "127.0.0.1", [&, server] {
        auto c = again.connect(port, "127.0.0.1", {});
        c->on_close([server] { server->close(); });
      });
    });
  });
  BOOST_TEST(threw);
  BOOST_TEST(served == 1);
}

BOOST_AUTO_TEST_CASE(destroying_a_socket_cancels_its_connect) {
  // A listener whose queue is full and that never accepts: a connect to it
  // hangs (the SYN is dropped) until the socket is destroyed.
  const int full = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  BOOST_REQUIRE(::bind(full, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  BOOST_REQUIRE(::listen(full, 0) == 0);
  BOOST_REQUIRE(::getsockname(full, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const std::uint16_t port = ntohs(a.sin_port);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    (void)::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(c);
  }
  ::usleep(50000);  // the queue fills
  std::vector<std::string> events;
  const auto t0 = std::chrono::steady_clock::now();
  on_loop([&](weft::node::Loop& loop) {
    auto s = loop.connect(port, "127.0.0.1", [&] { events.push_back("connected"); });
    s->on_error([&](std::error_code e) { events.push_back("error " + e.message()); });
    s->on_close([&] { events.push_back("close"); });
    loop.set_timeout([s] { s->destroy(); }, 100);
  });
  const auto took = std::chrono::steady_clock::now() - t0;
  for (int c : fillers) ::close(c);
  ::close(full);
  BOOST_TEST((took < std::chrono::seconds(5)), "run() waited for the connect to time out");
  // Never connected, no error (it was destroyed, not failed): just 'close'.
  BOOST_TEST(events == (std::vector<std::string>{"close"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_host_name_is_resolved_and_a_bad_one_is_an_error) {
  std::vector<std::string> events;
  on_loop([&](weft::node::Loop& loop) {
    auto server = loop.create_server([](std::shared_ptr<weft::node::Socket> s) { s->end(); });
    server->listen(0, "127.0.0.1", [&, server] {
      auto ok = loop.connect(server->port(), "localhost", [&] { events.push_back("localhost connected"); });
      ok->on_close([&, server] {
        events.push_back("localhost closed");
        auto bad = loop.connect(80, "no-such-host.invalid", [&] { events.push_back("bad connected"); });
        bad->on_error([&](std::error_code) { events.push_back("bad: error"); });
        bad->on_close([&, server] {
          events.push_back("bad closed");
          server->close();
        });
      });
    });
  });
  BOOST_TEST(events == (std::vector<std::string>{"localhost connected", "localhost closed", "bad: error", "bad closed"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_write_after_end_is_an_error_not_a_silent_drop) {
  std::vector<std::string> events;
  on_loop([&](weft::node::Loop& loop) {
    auto server = loop.create_server([](std::shared_ptr<weft::node::Socket> s) { s->end(); });
    server->listen(0, "127.0.0.1", [&, server] {
      auto c = loop.connect(server->port(), "127.0.0.1", {});
      c->on_error([&](std::error_code e) {
        events.push_back(e == std::errc::broken_pipe ? "EPIPE" : e.message());
      });
      c->end("last");
      c->write("too late", [&] { events.push_back("written (wrong)"); });
      c->on_close([server] { server->close(); });
    });
  });
  BOOST_TEST(events == (std::vector<std::string>{"EPIPE"}), boost::test_tools::per_element());
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

BOOST_AUTO_TEST_CASE(a_loop_on_a_manual_clock_jumps_to_its_timers_and_never_waits) {
  weft::RuntimeOptions o;
  o.mode = weft::node_order::test_mode();
  weft::Runtime rt(o);
  std::vector<std::string> events;
  const auto began = std::chrono::steady_clock::now();
  rt.run([&] {
    weft::node::ManualClock clock(100);
    weft::node::Loop loop(clock);
    loop.run([&] {
      BOOST_TEST(loop.now() == 100u);  // the clock, read when run() began
      loop.set_timeout([&] { events.push_back("a hour at " + std::to_string(loop.now())); }, 3'600'000);
      loop.set_timeout([&] {
        events.push_back("b at " + std::to_string(loop.now()));
        clock.advance(7);  // this callback computes for 7 ms
        loop.set_timeout([&] { events.push_back("c at " + std::to_string(loop.now())); }, 1);
      }, 50);
      auto never = loop.set_timeout([&] { events.push_back("cleared"); }, 60);
      loop.set_immediate([&, never] { loop.clear_timeout(never); });
    });
  });
  // Timers are due from the clock when set (100): b at 150, c 1 ms after the
  // 7 ms b computed (158), a an hour on, with no real waiting at all.
  const std::vector<std::string> expected = {"b at 150", "c at 158", "a hour at 3600100"};
  BOOST_TEST(events == expected, boost::test_tools::per_element());
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
  BOOST_TEST(took.count() < 5000);  // an hour of timers, at once
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
