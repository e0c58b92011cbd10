// Errors that name what failed: a call given a path, an address, a host or
// a program puts it in front of the system's reason, in error().message()
// and in what() of the exception value() throws; the code still compares
// equal to the std::errc constant. Runs on both backends (CTest).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <optional>
#include <vector>
#include <stdexcept>
#include <string>
#include <system_error>

#include "support/net.h"
#include "support/runtime.h"

using namespace std::chrono_literals;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The message value() throws with, or "" if it did not throw.
template <class T>
std::string thrown_by(const weft::Result<T>& r) {
  try {
    (void)r.value();
  } catch (const std::system_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(error_messages)

BOOST_AUTO_TEST_CASE(an_error_without_context_is_the_system_reason_alone) {
  const weft::Error e(std::make_error_code(std::errc::timed_out));
  BOOST_TEST(e.context().empty());
  BOOST_TEST(e.message() == std::make_error_code(std::errc::timed_out).message());
  BOOST_TEST((e == std::errc::timed_out));
}

BOOST_AUTO_TEST_CASE(copies_moves_and_assignments_keep_the_context) {
  weft::Error a(std::make_error_code(std::errc::no_such_file_or_directory), "open /x");
  weft::Error b = a;  // shares the text
  weft::Error c;
  c = b;
  weft::Error d = std::move(b);
  BOOST_TEST(b.context().empty());  // moved from: the text went with it
  BOOST_TEST(c.context() == "open /x");
  BOOST_TEST(d.context() == "open /x");
  a = weft::Error(std::make_error_code(std::errc::timed_out));  // drops its share
  BOOST_TEST(a.context().empty());
  weft::Error& same = c;
  c = same;  // self-assignment keeps it
  BOOST_TEST(c.message() == "open /x: " + std::make_error_code(std::errc::no_such_file_or_directory).message());
  // As a plain std::error_code it is the code alone.
  const std::error_code plain = d;
  BOOST_TEST((plain == std::errc::no_such_file_or_directory));
}

BOOST_AUTO_TEST_CASE(annotate_names_errors_and_lets_values_through) {
  int described = 0;
  auto describe = [&] {
    ++described;
    return std::string("load config.toml");
  };
  weft::Result<int> ok = weft::annotate(weft::Result<int>(7), describe);
  BOOST_TEST(*ok == 7);
  BOOST_TEST(described == 0);  // only an error is described
  weft::Result<int> bad = weft::annotate(weft::Result<int>(std::make_error_code(std::errc::io_error)), describe);
  BOOST_TEST(bad.error().message() == "load config.toml: " + std::make_error_code(std::errc::io_error).message());
  BOOST_TEST(thrown_by(bad) == bad.error().message());
}

BOOST_AUTO_TEST_CASE(a_missing_file_names_its_path) {
  weft::test::run([] {
    auto f = weft::fs::File::open("/nonexistent-weft/config");
    BOOST_REQUIRE(!f);
    BOOST_TEST((f.error() == std::errc::no_such_file_or_directory));
    BOOST_TEST(f.error().message() == "open /nonexistent-weft/config: No such file or directory");
    BOOST_TEST(thrown_by(f) == "open /nonexistent-weft/config: No such file or directory");
    // read_file says it through the open it made.
    BOOST_TEST(weft::fs::read_file("/nonexistent-weft/config").error().message() ==
               "open /nonexistent-weft/config: No such file or directory");
  });
}

BOOST_AUTO_TEST_CASE(file_system_calls_name_their_paths) {
  weft::test::run([] {
    BOOST_TEST(weft::fs::read_file("/").error().message() == "read /: Is a directory");
    BOOST_TEST(weft::fs::rename("/nonexistent-weft/a", "/tmp/b").error().message() ==
               "rename /nonexistent-weft/a /tmp/b: No such file or directory");
    BOOST_TEST(weft::fs::remove("/nonexistent-weft/a").error().message() ==
               "remove /nonexistent-weft/a: No such file or directory");
    BOOST_TEST(weft::fs::create_directory("/nonexistent-weft/a/b").error().message() ==
               "mkdir /nonexistent-weft/a/b: No such file or directory");
    BOOST_TEST(weft::fs::stat("/nonexistent-weft").error().message() ==
               "stat /nonexistent-weft: No such file or directory");
    BOOST_TEST(weft::fs::list_directory("/nonexistent-weft").error().message() ==
               "list /nonexistent-weft: No such file or directory");
    // The temporary a write goes through is not what the caller named.
    BOOST_TEST(weft::fs::write_file("/nonexistent-weft/out", weft::ConstBuffer("x", 1)).error().message() ==
               "write /nonexistent-weft/out: No such file or directory");
  });
}

BOOST_AUTO_TEST_CASE(addresses_name_the_text_they_could_not_parse) {
  auto bad = weft::net::Address::parse("localhost", 80);
  BOOST_TEST((bad.error() == std::errc::invalid_argument));
  BOOST_TEST(bad.error().message() == "parse address \"localhost\": Invalid argument");
  const std::string long_path = "/tmp/" + std::string(200, 'x');
  auto too_long = weft::net::Address::unix_path(long_path);
  BOOST_TEST((too_long.error() == std::errc::filename_too_long));
  BOOST_TEST(too_long.error().message() == "socket path \"" + long_path + "\": File name too long");
}

BOOST_AUTO_TEST_CASE(a_refused_connection_names_the_address) {
  weft::test::run([] {
    // A port nothing listens on: bind one, note it, close it.
    std::uint16_t port = 0;
    {
      auto l = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
      port = l.local_address().value().port();
    }
    auto s = weft::net::TcpStream::connect({"127.0.0.1", port}, {.deadline = weft::after(5s)});
    BOOST_REQUIRE(!s);
    BOOST_TEST((s.error() == std::errc::connection_refused));
    BOOST_TEST(s.error().message() == "connect 127.0.0.1:" + std::to_string(port) + ": Connection refused");
    // By name: the error names the host and port the caller gave.
    auto by_name = weft::net::TcpStream::connect("localhost", port, {.deadline = weft::after(5s)});
    BOOST_REQUIRE(!by_name);
    BOOST_TEST(starts_with(by_name.error().message(), "connect localhost:" + std::to_string(port) + ": "));
  });
}

BOOST_AUTO_TEST_CASE(a_host_that_does_not_exist_is_named) {
  weft::test::run([] {
    auto s = weft::net::TcpStream::connect("example.invalid", 80, {.deadline = weft::after(10s)});
    BOOST_REQUIRE(!s);
    BOOST_TEST(starts_with(s.error().message(), "connect example.invalid:80: "), s.error().message());
    auto r = weft::net::resolve("example.invalid", 80, {.deadline = weft::after(10s)});
    BOOST_REQUIRE(!r);
    BOOST_TEST(starts_with(r.error().message(), "resolve example.invalid: "), r.error().message());
  });
}

BOOST_AUTO_TEST_CASE(a_port_in_use_names_the_address_bound) {
  weft::test::run([] {
    auto first = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
    const std::uint16_t port = first.local_address().value().port();
    // SO_REUSEADDR does not let a second listener share a listening port.
    auto second = weft::net::TcpListener::bind({"127.0.0.1", port});
    BOOST_REQUIRE(!second);
    BOOST_TEST((second.error() == std::errc::address_in_use));
    BOOST_TEST(second.error().message() == "bind 127.0.0.1:" + std::to_string(port) + ": Address already in use");
  });
}

BOOST_AUTO_TEST_CASE(a_program_that_cannot_start_is_named) {
  weft::test::run([] {
    weft::os::Command c;
    c.program = "/nonexistent-weft/tool";
    auto p = weft::os::Process::start(c);
    BOOST_REQUIRE(!p);
    BOOST_TEST(p.error().message() == "start /nonexistent-weft/tool: No such file or directory");
  });
}

BOOST_AUTO_TEST_CASE(a_signal_that_cannot_be_caught_is_refused_by_name) {
  std::string what;
  try {
    (void)weft::os::Signals::watch({SIGKILL});
  } catch (const std::invalid_argument& e) {
    what = e.what();
  }
  BOOST_TEST(what.find("SIGKILL") != std::string::npos, what);
  BOOST_TEST(what.find("cannot be caught") != std::string::npos, what);
}

// I/O outside a fiber of a running runtime names the operation.
BOOST_AUTO_TEST_CASE(io_outside_a_fiber_names_the_operation) {
  std::string what = "(no exception)";
  try {
    (void)weft::fs::stat("/");
  } catch (const std::logic_error& e) {
    what = e.what();
  }
  BOOST_TEST(what == "weft I/O (statx) must be called from a fiber of a running weft::Runtime");
}

BOOST_AUTO_TEST_CASE(a_missed_deadline_says_so_and_is_not_the_networks_timeout) {
  weft::test::run([] {
    auto check = [](const weft::Error& e, const char* what) {
      BOOST_TEST_CONTEXT(what) {
        BOOST_TEST((e == weft::errc::deadline_exceeded));
        BOOST_TEST((e == std::errc::timed_out));  // still a timeout to code that asks
        BOOST_TEST(e.message() == "deadline exceeded");
      }
    };
    // A select, a pipe read, an accept: each says the deadline passed.
    weft::Channel<int> ch;
    std::optional<int> got;
    auto sel = weft::select({weft::recv_case(ch, got)}, {.deadline = weft::after(10ms)});
    check(sel.error(), "select");
    auto [r, w] = weft::os::Stream::pipe().value();
    char buf[8];
    check(r.read(weft::MutableBuffer(buf, sizeof buf), {.deadline = weft::after(10ms)}).error(),
          "pipe read");
    auto listener = weft::test::listen_any();
    check(listener.accept({.deadline = weft::after(10ms)}).error(), "accept");
    // A connect the peer never answers: a listener whose accept queue is
    // full drops the handshake, so the connect waits past its deadline.
    const int full = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(full, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(::listen(full, 0) == 0);
    socklen_t len = sizeof a;
    BOOST_REQUIRE(::getsockname(full, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    const weft::net::Address queue_full("127.0.0.1", ntohs(a.sin_port));
    std::vector<weft::net::TcpStream> waiting;  // fill the queue (never accepted)
    weft::Error connect_error;
    for (int i = 0; i < 8; ++i) {
      auto c = weft::net::TcpStream::connect(queue_full, {.deadline = weft::after(200ms)});
      if (!c) {
        connect_error = c.error();
        break;
      }
      waiting.push_back(std::move(*c));
    }
    BOOST_TEST(waiting.size() < 8u, "every connect was answered");
    BOOST_TEST((connect_error == weft::errc::deadline_exceeded), connect_error.message());
    // A connect names what it dialled.
    BOOST_TEST(connect_error.message() == "connect " + queue_full.to_string() + ": deadline exceeded");
    waiting.clear();
    ::close(full);
    // A deadline already past fails before it starts, the same way.
    check(ch.recv({.deadline = weft::Clock::now()}).error(), "recv");
    // The kernel's own timeout keeps its code and its words.
    const weft::Error net = weft::errno_error(ETIMEDOUT);
    BOOST_TEST((net == std::errc::timed_out));
    BOOST_TEST((net != weft::errc::deadline_exceeded));
    BOOST_TEST(net.message() == "Connection timed out");
  });
}

BOOST_AUTO_TEST_SUITE_END()
