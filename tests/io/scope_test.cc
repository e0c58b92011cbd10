// Scopes over I/O: a CancelScope's deadline and a TaskGroup's cancel end a
// socket read or an accept in flight on either backend, the stream stays
// usable afterwards, and closing a descriptor inside a cancelled scope still
// closes it.
#include <fcntl.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstring>

#include "support/net.h"
#include "support/runtime.h"

using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(io_scopes)

BOOST_AUTO_TEST_CASE(a_scope_deadline_ends_a_read_in_flight_and_the_stream_goes_on) {
  weft::test::run([] {
    auto listener = weft::test::listen_any();
    auto pair = weft::test::connect_pair(listener);
    char buf[16];
    {
      weft::CancelScope scope({.deadline = weft::after(30ms)});
      auto r = pair.server.read(weft::MutableBuffer(buf, sizeof buf));
      BOOST_TEST((r.error() == std::errc::timed_out));
    }
    // Out of the scope, the same stream reads what comes next.
    BOOST_REQUIRE(pair.client.write_all(weft::ConstBuffer("ping", 4)).has_value());
    auto r = pair.server.read(weft::MutableBuffer(buf, sizeof buf), {.deadline = weft::after(5s)});
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(std::string(buf, *r) == "ping");
  });
}

BOOST_AUTO_TEST_CASE(a_failing_child_ends_its_siblings_reads_and_accepts) {
  weft::test::run([] {
    auto listener = weft::test::listen_any();
    auto pair = weft::test::connect_pair(listener);
    std::atomic<int> cancelled{0};
    weft::TaskGroup group;
    group.spawn([&]() -> weft::Result<void> {
      char buf[16];
      auto r = pair.server.read(weft::MutableBuffer(buf, sizeof buf));
      if (r.error() == std::errc::operation_canceled) cancelled.fetch_add(1);
      return r.error();
    });
    group.spawn([&]() -> weft::Result<void> {
      auto c = listener.accept();
      if (c.error() == std::errc::operation_canceled) cancelled.fetch_add(1);
      return c.error();
    });
    group.spawn([]() -> weft::Result<void> {
      weft::sleep_for(20ms);
      return weft::Error(std::make_error_code(std::errc::protocol_error), "handshake");
    });
    auto r = group.wait();
    BOOST_TEST((r.error() == std::errc::protocol_error));
    BOOST_TEST(cancelled.load() == 2);
  });
}

BOOST_AUTO_TEST_CASE(a_close_inside_a_cancelled_scope_still_closes) {
  weft::test::run([] {
    auto listener = weft::test::listen_any();
    auto pair = weft::test::connect_pair(listener);
    const int fd = pair.server.native_handle();
    {
      weft::CancelScope scope;
      scope.cancel();
      BOOST_TEST(pair.server.close().has_value());
    }
    BOOST_TEST(::fcntl(fd, F_GETFD) == -1);  // no descriptor left behind
    // The peer sees the end of the stream.
    char buf[4];
    auto r = pair.client.read(weft::MutableBuffer(buf, sizeof buf), {.deadline = weft::after(5s)});
    BOOST_TEST((r.has_value() && *r == 0));
  });
}

BOOST_AUTO_TEST_SUITE_END()
