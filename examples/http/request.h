// HTTP/1.1 requests: the header section parsed from bytes a connection has
// buffered. The subset a service needs behind a load balancer or in front of
// a load generator: one request line, header fields, and a body framed by
// Content-Length. Chunked bodies are refused (501), not guessed at.
//
// parse_request() looks at the bytes received so far and says one of three
// things: more bytes are needed; here is a request whose header section
// takes `header_bytes` (its body, `content_length` bytes, follows); or the
// request is bad, with the status to answer before closing. It keeps no
// state between calls: a caller that read more calls it again on the whole
// unconsumed prefix. The scan for the end of the header section is the only
// work repeated, and it is bounded by Limits::max_header_bytes.
//
// What is already wrong in an incomplete request is answered at once, not
// after the request timeout: a bare LF or CR, a control character (NUL and
// the like) in the request line before its CRLF came, or a complete request
// line that is bad.
//
// Status for each fault (the connection is closed after answering):
//   400  malformed request line or field, missing Host in HTTP/1.1, a bad or
//        conflicting Content-Length (leading zeros are fine: 003 is 3),
//        Content-Length with Transfer-Encoding,
//        a bare LF or a control character where none may be, more than 8
//        empty lines before the request line
//   413  Content-Length above Limits::max_body_bytes
//   414  a request line longer than Limits::max_header_bytes
//   431  a header section longer than Limits::max_header_bytes (counted
//        from the first byte, empty lines before it included), or more
//        than Limits::max_fields fields
//   501  Transfer-Encoding (chunked bodies are not supported)
//   505  an HTTP major version other than 1
//
// Thread rules: none; a pure function of its input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace weft::http {

struct Limits {
  std::size_t max_header_bytes = 8 << 10;  // request line and fields, with CRLFs
  std::size_t max_fields = 100;
  std::size_t max_body_bytes = 1 << 20;
};

// Views into the caller's buffer: valid while those bytes stay put.
struct Request {
  std::string_view method;
  std::string_view target;  // origin form: path, then ?query
  int minor_version = 1;    // HTTP/1.<minor>
  bool keep_alive = true;   // after Connection and the version's default
  bool expect_continue = false;
  std::size_t content_length = 0;
  std::size_t header_bytes = 0;  // request line + fields + the empty line

  std::string_view path() const { return target.substr(0, target.find('?')); }
  std::string_view query() const {
    const std::size_t q = target.find('?');
    return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  }
};

struct ParseResult {
  enum class Kind : std::uint8_t { need_more, request, bad };
  Kind kind = Kind::need_more;
  int status = 0;            // bad: what to answer
  std::string_view reason;   // bad: a short phrase for the body
  Request request;           // request: the parsed header section
};

ParseResult parse_request(std::string_view bytes, const Limits& limits = {});

// The value of `name` in a query string ("ms=20&x=1"), or an empty view.
std::string_view query_value(std::string_view query, std::string_view name);

// The standard reason phrase of a status code this server sends.
std::string_view reason_phrase(int status);

}  // namespace weft::http
