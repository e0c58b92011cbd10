// The HTTP/1.1 request parser of the example service: what it accepts, and
// the status it answers to each kind of bad request.
#include <boost/test/unit_test.hpp>
#include <string>

#include "examples/http/request.h"

using weft::http::Limits;
using weft::http::parse_request;
using weft::http::ParseResult;
using Kind = weft::http::ParseResult::Kind;

namespace {

// The status parse_request answers for `text` (0 when it is a request,
// -1 when it wants more bytes).
int status_of(const std::string& text, const Limits& limits = {}) {
  const ParseResult r = parse_request(text, limits);
  if (r.kind == Kind::request) return 0;
  if (r.kind == Kind::need_more) return -1;
  return r.status;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(request)

BOOST_AUTO_TEST_CASE(a_plain_get_is_parsed_with_its_path_and_query) {
  const std::string text = "GET /heavy?ms=20&x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n";
  const ParseResult r = parse_request(text);
  BOOST_TEST((r.kind == Kind::request));
  BOOST_TEST(r.request.method == "GET");
  BOOST_TEST(r.request.path() == "/heavy");
  BOOST_TEST(r.request.query() == "ms=20&x=1");
  BOOST_TEST(weft::http::query_value(r.request.query(), "ms") == "20");
  BOOST_TEST(weft::http::query_value(r.request.query(), "x") == "1");
  BOOST_TEST(weft::http::query_value(r.request.query(), "y").empty());
  BOOST_TEST(r.request.header_bytes == text.size());
  BOOST_TEST(r.request.keep_alive);
  BOOST_TEST(r.request.content_length == 0u);
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_taken_one_at_a_time) {
  const std::string one = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  const std::string two = "GET /ping HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string both = one + two;
  const ParseResult first = parse_request(both);
  BOOST_TEST((first.kind == Kind::request));
  BOOST_TEST(first.request.content_length == 3u);
  const std::size_t used = first.request.header_bytes + first.request.content_length;
  BOOST_TEST(used == one.size());
  const ParseResult second = parse_request(std::string_view(both).substr(used));
  BOOST_TEST((second.kind == Kind::request));
  BOOST_TEST(second.request.path() == "/ping");
}

BOOST_AUTO_TEST_CASE(an_incomplete_request_asks_for_more_at_every_cut) {
  const std::string text = "GET /ping HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n";
  for (std::size_t cut = 0; cut < text.size(); ++cut) {
    BOOST_TEST(status_of(text.substr(0, cut)) == -1, "cut at " << cut);
  }
  BOOST_TEST(status_of(text) == 0);
}

BOOST_AUTO_TEST_CASE(keep_alive_follows_the_version_and_connection) {
  auto keep = [](const std::string& version, const std::string& connection) {
    std::string t = "GET / " + version + "\r\nHost: a\r\n";
    if (!connection.empty()) t += "Connection: " + connection + "\r\n";
    return parse_request(t + "\r\n").request.keep_alive;
  };
  BOOST_TEST(keep("HTTP/1.1", ""));
  BOOST_TEST(!keep("HTTP/1.1", "close"));
  BOOST_TEST(!keep("HTTP/1.1", "Upgrade, CLOSE"));
  BOOST_TEST(!keep("HTTP/1.0", ""));
  BOOST_TEST(keep("HTTP/1.0", "Keep-Alive"));
  // HTTP/1.0 needs no Host.
  BOOST_TEST(status_of("GET / HTTP/1.0\r\n\r\n") == 0);
}

BOOST_AUTO_TEST_CASE(empty_lines_before_a_request_are_skipped_but_not_for_ever) {
  BOOST_TEST(status_of("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
  std::string eight;
  for (int i = 0; i < 8; ++i) eight += "\r\n";
  BOOST_TEST(status_of(eight + "GET / HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
  BOOST_TEST(status_of(eight + "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(status_of(eight + eight) == 400);  // answered before anything else comes
}

BOOST_AUTO_TEST_CASE(malformed_requests_get_400) {
  const char* bad[] = {
      "GET/ping HTTP/1.1\r\nHost: a\r\n\r\n",           // no space
      "GET  /ping HTTP/1.1\r\nHost: a\r\n\r\n",         // empty target
      "G(T /ping HTTP/1.1\r\nHost: a\r\n\r\n",          // not a token
      "GET /ping HTTP/1.1 \r\nHost: a\r\n\r\n",         // trailing space
      "GET /ping HTTX/1.1\r\nHost: a\r\n\r\n",          // not HTTP
      "GET /ping HTTP/1.x\r\nHost: a\r\n\r\n",          // bad minor
      "GET /ping HTTP/1.1\r\n\r\n",                     // no Host
      "GET /ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
      "GET /ping HTTP/1.1\r\nHost : a\r\n\r\n",         // space before the colon
      "GET /ping HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",  // obsolete folding
      "GET /ping HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
      "GET /ping HTTP/1.1\r\nHost: a\x01\r\n\r\n",      // control character
      "GET /ping HTTP/1.1\nHost: a\n\n",                // bare LF
      "GET /ping HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",     // bare CR
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
  };
  for (const char* text : bad) BOOST_TEST(status_of(text) == 400, text);
  // The same Content-Length twice is one length.
  BOOST_TEST(status_of("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n") == 0);
}

BOOST_AUTO_TEST_CASE(a_bad_request_line_is_answered_before_the_header_ends) {
  // A client that sends garbage and waits is told at once.
  BOOST_TEST(status_of("GET /ping HTTX/1.1\r\nHost: a\r\n") == 400);
  BOOST_TEST(status_of("hello\n") == 400);
}

BOOST_AUTO_TEST_CASE(a_control_character_in_an_unfinished_request_line_gets_400_at_once) {
  // No CRLF yet, and none can help: waiting would only hold the connection
  // until the request timeout.
  BOOST_TEST(status_of(std::string("GET /a\0\0\0", 9)) == 400);
  BOOST_TEST(status_of(std::string("\0\0\0\0", 4)) == 400);
  BOOST_TEST(status_of("GET /a\x01") == 400);
  BOOST_TEST(status_of("GET /a\x7f") == 400);
  BOOST_TEST(status_of("GET\t/a") == 400);
  // Printable bytes may still become a request line.
  BOOST_TEST(status_of("GET /a") == -1);
  BOOST_TEST(status_of("GET /caf\xc3\xa9") == -1);  // obs-text in the target
}

BOOST_AUTO_TEST_CASE(a_content_length_with_leading_zeros_is_its_value) {
  const ParseResult r = parse_request("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000003\r\n\r\nabc");
  BOOST_TEST((r.kind == Kind::request));
  BOOST_TEST(r.request.content_length == 3u);
  const std::string zeros(40, '0');
  BOOST_TEST(status_of("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: " + zeros + "\r\n\r\n") == 0);
  BOOST_TEST(status_of("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: " + zeros + "12\r\n\r\n") == 0);
  // Zeros do not make a length conflict with its plain form, nor hide one too large.
  BOOST_TEST(status_of("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\n") == 0);
  Limits limits;
  limits.max_body_bytes = 1000;
  BOOST_TEST(status_of("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: " + zeros + "1001\r\n\r\n", limits) == 413);
  BOOST_TEST(status_of("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: " + zeros + "1000\r\n\r\n", limits) == 0);
}

BOOST_AUTO_TEST_CASE(oversized_requests_get_413_414_431) {
  Limits limits;
  limits.max_header_bytes = 256;
  limits.max_fields = 4;
  limits.max_body_bytes = 1000;
  BOOST_TEST(status_of("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", limits) == 413);
  BOOST_TEST(status_of("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n", limits) == 0);
  BOOST_TEST(status_of("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", limits) == 413);
  BOOST_TEST(status_of("GET /" + std::string(300, 'a'), limits) == 414);
  BOOST_TEST(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'a'), limits) == 431);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 4; ++i) many += "X" + std::to_string(i) + ": y\r\n";
  BOOST_TEST(status_of(many + "\r\n", limits) == 431);
  // A header section of exactly the limit is fine.
  std::string exact = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  exact += std::string(256 - exact.size() - 4, 'b') + "\r\n\r\n";
  BOOST_TEST(exact.size() == 256u);
  BOOST_TEST(status_of(exact, limits) == 0);
}

BOOST_AUTO_TEST_CASE(other_versions_and_encodings_are_refused) {
  BOOST_TEST(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505);
  BOOST_TEST(status_of("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
  const ParseResult r = parse_request("POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n");
  BOOST_TEST(r.request.expect_continue);
}

BOOST_AUTO_TEST_SUITE_END()
