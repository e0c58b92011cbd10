// The HTTP/1.1 example service end to end, on the runtime under test: keep-
// alive, pipelining, bodies, and every kind of bad client (malformed,
// oversized, slow, silent, reset), none of which may disturb the others.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>
#include <vector>

#include "examples/http/server.h"
#include "http/test_server.h"
#include "support/net.h"
#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::net::TcpListener;
using weft::net::TcpStream;

using weft::test::TestServer;

namespace {

// Reads until the peer closes (or 5 s pass); what arrived.
std::string read_to_end(TcpStream& c) {
  std::string got;
  char buf[4096];
  for (;;) {
    auto n = c.read(buf, {.deadline = weft::after(5s)});
    if (!n || *n == 0) return got;
    got.append(buf, *n);
  }
}

// Reads until `count` complete responses (by their Content-Length) arrived.
std::vector<std::string> read_responses(TcpStream& c, std::size_t count) {
  std::vector<std::string> out;
  std::string got;
  char buf[4096];
  while (out.size() < count) {
    const std::size_t end = got.find("\r\n\r\n");
    if (end != std::string::npos) {
      const std::size_t cl = got.find("Content-Length: ");
      const std::size_t len = cl < end ? std::stoul(got.substr(cl + 16)) : 0;
      if (got.size() >= end + 4 + len) {
        out.push_back(got.substr(0, end + 4 + len));
        got.erase(0, end + 4 + len);
        continue;
      }
    }
    auto n = c.read(buf, {.deadline = weft::after(5s)});
    if (!n || *n == 0) break;
    got.append(buf, *n);
  }
  return out;
}

std::string empty_lines(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "\r\n";
  return s;
}

// A client that knows nothing of weft, as curl is: a blocking socket to
// 127.0.0.1:`port` (for a helper thread, never a worker). Sends `request` on
// `fd` and reads until the peer closes, 10 s at most; what arrived.
std::string plain_exchange(int fd, const std::string& request) {
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  return got;
}

using weft::test::plain_connect;

// One request on a connection of its own, read to its end.
std::string plain_request(std::uint16_t port, const std::string& request) {
  const int fd = plain_connect(port);
  if (fd < 0) return {};
  std::string got = plain_exchange(fd, request);
  ::close(fd);
  return got;
}

// One /heavy?ms=`hog_ms` request, and while it computes, a /ping on a new
// connection and one on a connection opened before the hog, all from plain
// blocking sockets on helper threads. Run on the blocking pool (never on a
// worker, which would then be one fewer to serve).
struct HogRound {
  using Clock = std::chrono::steady_clock;
  std::string hog, fresh, kept;
  // The hog computes until hog_sent + its ms at the earliest: a ping
  // answered before then did not wait for it.
  Clock::time_point hog_sent, fresh_end, kept_end;
  Clock::duration fresh_took{}, kept_took{};
  bool hog_started = false;
};

HogRound pings_during_a_hog(std::uint16_t port, const weft::http::ServerCounters& counters, int hog_ms) {
  using Clock = HogRound::Clock;
  const std::string ping = "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  HogRound seen;
  const int kept = plain_connect(port);  // opened before the hog
  const std::uint64_t before = counters.requests.load();
  seen.hog_sent = Clock::now();
  std::thread hog([&] {
    seen.hog = plain_request(port, "GET /heavy?ms=" + std::to_string(hog_ms) +
                                       " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  });
  // The hog computes once its request is counted (route() follows).
  for (int i = 0; i < 1000 && !seen.hog_started; ++i) {
    seen.hog_started = counters.requests.load() > before;
    if (!seen.hog_started) std::this_thread::sleep_for(5ms);
  }
  if (seen.hog_started) {
    std::this_thread::sleep_for(50ms);  // well inside the computation
    // Both pings at once: one that waits must not delay the other.
    std::thread on_kept([&] {
      const auto t0 = Clock::now();
      if (kept >= 0) seen.kept = plain_exchange(kept, ping);
      seen.kept_end = Clock::now();
      seen.kept_took = seen.kept_end - t0;
    });
    const auto t0 = Clock::now();
    seen.fresh = plain_request(port, ping);
    seen.fresh_end = Clock::now();
    seen.fresh_took = seen.fresh_end - t0;
    on_kept.join();
  }
  hog.join();
  if (kept >= 0) ::close(kept);
  return seen;
}

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }
std::string body_of(const std::string& response) { return response.substr(response.find("\r\n\r\n") + 4); }

}  // namespace

BOOST_AUTO_TEST_SUITE(server)

BOOST_AUTO_TEST_CASE(keep_alive_serves_several_requests_on_one_connection) {
  weft::test::run([] {
    TestServer server;
    auto c = TcpStream::connect(server.address()).value();
    for (int i = 0; i < 3; ++i) {
      c.write_all(std::string_view("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")).value();
      const auto r = read_responses(c, 1);
      BOOST_REQUIRE(r.size() == 1u);
      BOOST_TEST(status_line(r[0]) == "HTTP/1.1 200 OK");
      BOOST_TEST(body_of(r[0]) == "pong\n");
      BOOST_TEST(r[0].find("Connection: close") == std::string::npos);
    }
    c.write_all(std::string_view("GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")).value();
    const std::string last = read_to_end(c);  // the server closes after it
    BOOST_TEST(status_line(last) == "HTTP/1.1 404 Not Found");
    BOOST_TEST(last.find("Connection: close") != std::string::npos);
    BOOST_TEST(server.counters().requests.load() == 4u);
  });
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  weft::test::run([] {
    TestServer server;
    auto c = TcpStream::connect(server.address()).value();
    std::string batch;
    batch += "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n";
    batch += "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nfirst!";
    batch += "HEAD /ping HTTP/1.1\r\nHost: t\r\n\r\n";
    batch += "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecond";
    c.write_all(batch).value();
    const std::string all = read_to_end(c);
    // Four answers in the order asked (HEAD: the length of a GET, no body).
    const std::size_t a = all.find("pong\n");
    const std::size_t b = all.find("first!");
    const std::size_t h = all.find("HTTP/1.1 200 OK", all.find("first!"));
    const std::size_t d = all.find("second");
    BOOST_TEST((a != std::string::npos && b != std::string::npos && d != std::string::npos));
    BOOST_TEST((a < b && b < h && h < d));
    BOOST_TEST(all.find("pong\n", a + 1) == std::string::npos);  // HEAD sent no body
  });
}

BOOST_AUTO_TEST_CASE(a_body_arriving_in_pieces_is_waited_for) {
  weft::test::run([] {
    TestServer server;
    auto c = TcpStream::connect(server.address()).value();
    const std::string body(20000, 'z');
    c.write_all(std::string_view("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n")).value();
    for (std::size_t off = 0; off < body.size(); off += 5000) {
      weft::sleep_for(2ms);
      c.write_all(std::string_view(body).substr(off, 5000)).value();
    }
    const auto r = read_responses(c, 1);
    BOOST_REQUIRE(r.size() == 1u);
    BOOST_TEST(status_line(r[0]) == "HTTP/1.1 200 OK");
    BOOST_TEST(body_of(r[0]) == body);
  });
}

BOOST_AUTO_TEST_CASE(expect_continue_gets_the_interim_answer_once) {
  weft::test::run([] {
    TestServer server;
    auto c = TcpStream::connect(server.address()).value();
    c.write_all(std::string_view(
                    "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 8\r\n\r\n"))
        .value();
    char buf[64];
    const std::size_t n = c.read(buf, {.deadline = weft::after(5s)}).value();
    BOOST_TEST(std::string(buf, n) == "HTTP/1.1 100 Continue\r\n\r\n");
    // The body in pieces: no second interim answer.
    for (const char* piece : {"bo", "dy", "bo", "dy"}) {
      weft::sleep_for(5ms);
      c.write_all(std::string_view(piece)).value();
    }
    const auto r = read_responses(c, 1);
    BOOST_REQUIRE(r.size() == 1u);
    BOOST_TEST(status_line(r[0]) == "HTTP/1.1 200 OK");
    BOOST_TEST(body_of(r[0]) == "bodybody");
  });
}

BOOST_AUTO_TEST_CASE(heavy_computes_and_checks_its_argument) {
  weft::test::run([] {
    TestServer server;
    auto c = TcpStream::connect(server.address()).value();
    const auto t0 = weft::Clock::now();
    c.write_all(std::string_view("GET /heavy?ms=30 HTTP/1.1\r\nHost: t\r\n\r\n")).value();
    auto r = read_responses(c, 1);
    BOOST_REQUIRE(r.size() == 1u);
    BOOST_TEST(body_of(r[0]) == "computed 30 ms\n");
    BOOST_TEST((weft::Clock::now() - t0 >= 30ms));
    for (const char* q : {"/heavy", "/heavy?ms=", "/heavy?ms=abc", "/heavy?ms=-1", "/heavy?ms=60001"}) {
      c.write_all("GET " + std::string(q) + " HTTP/1.1\r\nHost: t\r\n\r\n").value();
      r = read_responses(c, 1);
      BOOST_REQUIRE(r.size() == 1u);
      BOOST_TEST(status_line(r[0]) == "HTTP/1.1 400 Bad Request", q);
    }
    c.write_all(std::string_view("POST /ping HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")).value();
    r = read_responses(c, 1);
    BOOST_REQUIRE(r.size() == 1u);
    BOOST_TEST(status_line(r[0]) == "HTTP/1.1 405 Method Not Allowed");
    BOOST_TEST(r[0].find("Allow: GET, HEAD\r\n") != std::string::npos);
  });
}

BOOST_AUTO_TEST_CASE(bad_requests_are_answered_and_closed_without_harm_to_others) {
  weft::test::run([] {
    weft::http::ServerOptions options;
    options.limits.max_body_bytes = 1000;
    TestServer server(options);
    // A well-behaved client holds a connection open through all of it.
    auto good = TcpStream::connect(server.address()).value();
    struct Case {
      std::string request;
      const char* status;
    };
    const std::vector<Case> cases = {
        {"this is not http\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {empty_lines(1000), "HTTP/1.1 400 Bad Request"},  // an endless run of empty lines
        {"GET /ping HTTP/1.1\n\n", "HTTP/1.1 400 Bad Request"},
        {"GET /ping HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},  // no Host
        {std::string("GET /ping HTTP/1.1\r\nHost: \x7f\r\n\r\n"), "HTTP/1.1 400 Bad Request"},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", "HTTP/1.1 413 Content Too Large"},
        {"GET /" + std::string(10000, 'a') + " HTTP/1.1\r\n", "HTTP/1.1 414 URI Too Long"},
        {"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(10000, 'b') + "\r\n\r\n",
         "HTTP/1.1 431 Request Header Fields Too Large"},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 501 Not Implemented"},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
        // NUL bytes and no CRLF: answered at once, not after the request
        // timeout (10 s, past read_to_end's 5 s).
        {std::string("GET /\0\0\0\0", 9), "HTTP/1.1 400 Bad Request"},
    };
    for (const Case& k : cases) {
      auto c = TcpStream::connect(server.address()).value();
      (void)c.write_all(k.request);  // the server may close before it read everything
      const std::string got = read_to_end(c);
      BOOST_TEST(status_line(got) == k.status, k.request.substr(0, 40));
      BOOST_TEST(got.find("Connection: close") != std::string::npos);
      good.write_all(std::string_view("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")).value();
      const auto r = read_responses(good, 1);
      BOOST_REQUIRE(r.size() == 1u);
      BOOST_TEST(body_of(r[0]) == "pong\n");
    }
    BOOST_TEST(server.counters().bad_requests.load() == cases.size());
  });
}

BOOST_AUTO_TEST_CASE(idle_and_slow_clients_are_timed_out) {
  weft::test::run([] {
    weft::http::ServerOptions options;
    options.idle_timeout = 100ms;
    options.request_timeout = 150ms;
    TestServer server(options);
    // Idle between requests: closed without an answer.
    auto idle = TcpStream::connect(server.address()).value();
    const auto t0 = weft::Clock::now();
    BOOST_TEST(read_to_end(idle).empty());
    BOOST_TEST((weft::Clock::now() - t0 >= 100ms));
    // Half a request, then silence: 408.
    auto slow = TcpStream::connect(server.address()).value();
    slow.write_all(std::string_view("GET /ping HTTP/1.1\r\nHo")).value();
    BOOST_TEST(status_line(read_to_end(slow)) == "HTTP/1.1 408 Request Timeout");
    // A body that never comes: 408 too.
    auto no_body = TcpStream::connect(server.address()).value();
    no_body.write_all(std::string_view("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")).value();
    BOOST_TEST(status_line(read_to_end(no_body)) == "HTTP/1.1 408 Request Timeout");
  });
}

BOOST_AUTO_TEST_CASE(a_client_that_resets_mid_request_harms_nobody) {
  weft::test::run([] {
    TestServer server;
    for (int i = 0; i < 20; ++i) {
      auto c = TcpStream::connect(server.address()).value();
      (void)c.write_all(std::string_view("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nab"));
      // SO_LINGER 0: close sends a reset instead of a FIN.
      linger l{1, 0};
      ::setsockopt(c.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
      (void)c.close();
    }
    auto c = TcpStream::connect(server.address()).value();
    c.write_all(std::string_view("GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")).value();
    BOOST_TEST(body_of(read_to_end(c)) == "pong\n");
  });
}

// Issue 14: while one request computes without yielding, a /ping on a *new*
// connection (as curl or any HTTP/1.0 client makes) is answered: with two
// workers the other one accepts and serves it, on both backends. So is a
// ping on a connection opened before the hog. Whether the hog lands on the
// worker holding the accept is the scheduler's choice, so three rounds (one
// that waits ends the test). Asserted: each ping's answer arrives before the
// hog can have ended (1.5 s after its request was sent; about 1.4 s of
// margin), nothing about how fast.
BOOST_AUTO_TEST_CASE(a_new_connection_is_served_while_another_request_computes) {
  weft::test::run(
      [] {
        constexpr int kHogMs = 1500;
        constexpr int kRounds = 3;
        TestServer server;
        const auto ms = [](HogRound::Clock::duration d) {
          return std::chrono::duration<double, std::milli>(d).count();
        };
        for (int round = 1; round <= kRounds; ++round) {
          const HogRound seen = weft::blocking(
              [&] { return pings_during_a_hog(server.address().port(), server.counters(), kHogMs); });
          BOOST_REQUIRE_MESSAGE(seen.hog_started, "the /heavy request never began");
          BOOST_TEST(body_of(seen.hog) == "computed 1500 ms\n");
          BOOST_TEST_MESSAGE("round " << round << ", during a " << kHogMs
                                      << " ms hog: /ping on a new connection took "
                                      << ms(seen.fresh_took) << " ms, on an open one "
                                      << ms(seen.kept_took) << " ms");
          BOOST_TEST(body_of(seen.fresh) == "pong\n");
          BOOST_TEST(body_of(seen.kept) == "pong\n");
          const auto hog_end = seen.hog_sent + std::chrono::milliseconds(kHogMs);
          BOOST_TEST((seen.kept_end < hog_end),
                     "round " << round << ": the open connection's /ping waited for the hog: "
                              << ms(seen.kept_took) << " ms");
          BOOST_TEST_REQUIRE((seen.fresh_end < hog_end),
                             "round " << round << ": the new connection's /ping waited for the hog: "
                                      << ms(seen.fresh_took) << " ms");
        }
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_SUITE_END()
