// Fuzz target: the HTTP/1.1 request parser of the example service
// (examples/http/request.h), driven as a connection drives it.
//
// The input is the byte stream a client sends on one connection. It is
// delivered to a simulated connection (drive()) that does what
// examples/http/server.cc does with parse_request(): parse the unconsumed
// bytes; a bad request ends the connection; a request whose body has come
// is taken (header_bytes + content_length consumed) and parsing goes on
// with the next, pipelined one; otherwise it waits for more bytes. The
// stream is delivered
//   - whole, at once;
//   - in two parts, cut at a point the first byte chooses (its value as a
//     fraction of the length), which exercises a request begun in one read
//     and finished in the next;
//   - a byte at a time, for streams of up to kByteAtATimeMax bytes;
// and each delivery under the default Limits and under tight ones (so that
// small inputs reach the 413, 414 and 431 answers).
//
// Invariants, each checked with fuzz/check.h (abort on violation):
//   every parse   is deterministic: the same bytes parse to the same result,
//                 views included; a request's header section lies inside
//                 the bytes, ends in CRLF CRLF and fits max_header_bytes,
//                 its method and target are non-empty views inside it, its
//                 path() and query() views inside the target, its version
//                 HTTP/1.0 to 1.9, its Content-Length within max_body_bytes;
//                 a bad request has a status this server has a reason phrase
//                 for and a reason; "need more" only while fewer than
//                 max_header_bytes bytes are buffered (else a client could
//                 hold a connection waiting for ever);
//   per position  a request parsed from a prefix of the stream is the same
//                 request once more bytes follow (while the connection waits
//                 for its body, it is parsed again at each read);
//   per delivery  every delivery of the same stream takes the same requests
//                 (the same fields, at the same offsets) and ends with the
//                 same status, however the bytes were split (the reason
//                 phrase of a bad request may differ: an incomplete request
//                 line is judged before its CRLF comes).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "examples/http/request.h"
#include "fuzz/check.h"

namespace weft::fuzz {
namespace {

using http::Limits;
using http::ParseResult;
using http::Request;
using Kind = ParseResult::Kind;

constexpr std::size_t kByteAtATimeMax = 256;

// Small enough that a few dozen bytes reach every limit.
constexpr Limits kTightLimits{.max_header_bytes = 64, .max_fields = 3, .max_body_bytes = 8};

// A view's place in the stream, so that deliveries can be compared.
struct Span {
  std::size_t at = 0;
  std::size_t size = 0;
  bool operator==(const Span&) const = default;
};

// What a connection did at one position of the stream: took a request, or
// answered a bad one (and closed).
struct Event {
  Kind kind = Kind::need_more;
  int status = 0;
  std::size_t at = 0;  // the offset of the parsed bytes in the stream
  Span method, target;
  int minor_version = 0;
  bool keep_alive = false;
  bool expect_continue = false;
  std::size_t content_length = 0;
  std::size_t header_bytes = 0;
  bool operator==(const Event&) const = default;
};

bool inside(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

Span span_of(std::string_view v, std::string_view stream) {
  return {static_cast<std::size_t>(v.data() - stream.data()), v.size()};
}

Event event_of(const ParseResult& r, std::string_view bytes, std::string_view stream) {
  Event e;
  e.kind = r.kind;
  e.status = r.status;
  e.at = static_cast<std::size_t>(bytes.data() - stream.data());
  if (r.kind == Kind::request) {
    const Request& q = r.request;
    e.method = span_of(q.method, stream);
    e.target = span_of(q.target, stream);
    e.minor_version = q.minor_version;
    e.keep_alive = q.keep_alive;
    e.expect_continue = q.expect_continue;
    e.content_length = q.content_length;
    e.header_bytes = q.header_bytes;
  }
  return e;
}

bool same_result(const ParseResult& a, const ParseResult& b) {
  const Request& x = a.request;
  const Request& y = b.request;
  // Views compared by where they point, not only by their bytes.
  auto same_view = [](std::string_view u, std::string_view v) {
    return u.data() == v.data() && u.size() == v.size();
  };
  return a.kind == b.kind && a.status == b.status && a.reason == b.reason &&
         same_view(x.method, y.method) && same_view(x.target, y.target) &&
         x.minor_version == y.minor_version && x.keep_alive == y.keep_alive &&
         x.expect_continue == y.expect_continue && x.content_length == y.content_length &&
         x.header_bytes == y.header_bytes;
}

bool known_status(int status) {
  switch (status) {
    case 400:
    case 413:
    case 414:
    case 431:
    case 501:
    case 505:
      return true;
    default:
      return false;
  }
}

// The invariants of one parse of `bytes`, whatever came before.
void check_parse(std::string_view bytes, const ParseResult& r, const Limits& limits) {
  check(same_result(r, http::parse_request(bytes, limits)),
        "the same bytes parse to the same result");
  switch (r.kind) {
    case Kind::need_more:
      check(bytes.size() < limits.max_header_bytes,
            "a parser waits only while the header window is not full");
      check(r.status == 0, "a wait has no status");
      break;
    case Kind::bad:
      check(known_status(r.status), "a bad request's status is one the header documents");
      check(http::reason_phrase(r.status) != "Unknown",
            "a bad request's status has a reason phrase");
      check(!r.reason.empty(), "a bad request has a reason");
      break;
    case Kind::request: {
      const Request& q = r.request;
      check(q.header_bytes >= 4 && q.header_bytes <= bytes.size(),
            "the header section lies in the bytes");
      check(q.header_bytes <= limits.max_header_bytes, "the header section fits max_header_bytes");
      const std::string_view head = bytes.substr(0, q.header_bytes);
      check(head.substr(head.size() - 4) == "\r\n\r\n", "the header section ends in CRLF CRLF");
      check(!q.method.empty() && inside(q.method, head),
            "the method is a view of the request line");
      check(!q.target.empty() && inside(q.target, head),
            "the target is a view of the request line");
      check(q.method.data() + q.method.size() < q.target.data(),
            "the target comes after the method");
      check(q.target.find_first_of(" \r\n") == std::string_view::npos,
            "the target holds no space or line break");
      check(q.minor_version >= 0 && q.minor_version <= 9, "the version is HTTP/1.0 to HTTP/1.9");
      check(q.content_length <= limits.max_body_bytes, "Content-Length is within max_body_bytes");
      const std::string_view path = q.path();
      const std::string_view query = q.query();
      check(inside(path, q.target) && path.data() == q.target.data(), "path() begins the target");
      check(query.empty() ||
                (inside(query, q.target) && query.data() == path.data() + path.size() + 1),
            "query() is the target after the path's '?'");
      const std::string_view ms = http::query_value(query, "ms");
      check(ms.empty() || inside(ms, query), "query_value() is a view of the query");
      check(r.status == 0, "a request has no status");
      break;
    }
  }
}

// Delivers `stream` in parts ending at each of `cuts` (increasing, the last
// the stream's size) and returns what the connection did.
std::vector<Event> drive(std::string_view stream, const std::vector<std::size_t>& cuts,
                         const Limits& limits) {
  std::vector<Event> events;
  std::size_t consumed = 0;
  std::size_t next_cut = 0;
  std::size_t received = cuts[next_cut++];
  // The request parsed at `consumed` while its body is still coming.
  std::optional<ParseResult> waiting_for_body;
  for (;;) {
    const std::string_view bytes = stream.substr(consumed, received - consumed);
    const ParseResult r = http::parse_request(bytes, limits);
    check_parse(bytes, r, limits);
    if (waiting_for_body) {
      check(same_result(*waiting_for_body, r),
            "a request parsed from a prefix is the same when more bytes follow");
    }
    if (r.kind == Kind::bad) {
      events.push_back(event_of(r, bytes, stream));
      return events;
    }
    if (r.kind == Kind::request) {
      const std::size_t whole = r.request.header_bytes + r.request.content_length;
      if (bytes.size() >= whole) {
        events.push_back(event_of(r, bytes, stream));
        consumed += whole;
        waiting_for_body.reset();
        continue;
      }
      waiting_for_body = r;
    }
    if (next_cut == cuts.size()) return events;  // the client sent no more
    received = cuts[next_cut++];
  }
}

// The requests and statuses must agree (a bad request's reason may not).
void check_same_events(const std::vector<Event>& a, const std::vector<Event>& b) {
  check(a.size() == b.size(), "every split of the stream takes as many requests");
  for (std::size_t i = 0; i < a.size(); ++i) {
    check(a[i] == b[i],
          "every split of the stream takes the same requests and ends the same way");
  }
}

void fuzz_stream(std::string_view stream, std::size_t split, const Limits& limits) {
  const std::vector<Event> whole = drive(stream, {stream.size()}, limits);
  if (split > 0 && split < stream.size()) {
    check_same_events(whole, drive(stream, {split, stream.size()}, limits));
  }
  if (stream.size() <= kByteAtATimeMax) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i <= stream.size(); ++i) cuts.push_back(i);
    if (cuts.empty()) cuts.push_back(0);
    check_same_events(whole, drive(stream, cuts, limits));
  }
}

}  // namespace
}  // namespace weft::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  const std::size_t split = size == 0 ? 0 : data[0] * (size + 1) / 256;
  weft::fuzz::fuzz_stream(stream, split, weft::http::Limits{});
  weft::fuzz::fuzz_stream(stream, split, weft::fuzz::kTightLimits);
  return 0;
}
