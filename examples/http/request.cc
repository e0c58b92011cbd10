#include "examples/http/request.h"

#include <algorithm>

namespace weft::http {
namespace {

constexpr std::size_t kMaxEmptyLines = 8;

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// Visible characters (and obs-text, bytes from 0x80) and, where `tab`, HTAB.
bool is_field_text(std::string_view s) {
  for (unsigned char c : s) {
    if (c == '\t') continue;
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool is_target(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether the comma-separated `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (equals_ci(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

ParseResult bad(int status, std::string_view reason) {
  ParseResult r;
  r.kind = ParseResult::Kind::bad;
  r.status = status;
  r.reason = reason;
  return r;
}

// A line ending in a bare LF, or a CR not followed by LF, anywhere in `s`.
bool has_stray_line_break(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] != '\n') return true;
  }
  return false;
}

// A byte that no request line may hold anywhere: a control character (CR
// and LF end the line and are judged by has_stray_line_break) or DEL.
bool is_control(unsigned char c) { return (c < 0x20 && c != '\r' && c != '\n') || c == 0x7f; }

// Whether the start of a request line (its CRLF not seen yet) already holds
// a byte that can never be part of one, so waiting for more cannot help.
bool cannot_be_request_line(std::string_view start) {
  const std::string_view line = start.substr(0, start.find("\r\n"));
  return std::any_of(line.begin(), line.end(), [](unsigned char c) { return is_control(c); });
}

// The request line, without its CRLF, into `r`; 0 when it is good, else the
// status to answer.
int parse_request_line(std::string_view line, Request& r, std::string_view& why) {
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    why = "the request line is not METHOD TARGET VERSION";
    return 400;
  }
  r.method = line.substr(0, sp1);
  r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(r.method)) {
    why = "bad method";
    return 400;
  }
  if (!is_target(r.target)) {
    why = "bad request target";
    return 400;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    why = "bad HTTP version";
    return 400;
  }
  if (version[5] != '1') {
    why = "only HTTP/1.x is spoken here";
    return 505;
  }
  r.minor_version = version[7] - '0';
  return 0;
}

}  // namespace

ParseResult parse_request(std::string_view bytes, const Limits& limits) {
  // Empty lines before a request are ignored (RFC 9112, 2.2), a few of
  // them: they count against the header limit like any other byte, so a
  // client cannot make the server keep an endless run of them.
  std::size_t start = 0;
  while (bytes.size() - start >= 2 && bytes[start] == '\r' && bytes[start + 1] == '\n') {
    start += 2;
    if (start > kMaxEmptyLines * 2) return bad(400, "too many empty lines before the request");
  }
  const std::size_t window = std::min(bytes.size(), limits.max_header_bytes);
  const std::size_t end = start < window ? bytes.substr(0, window).find("\r\n\r\n", start) : std::string_view::npos;
  if (end == std::string_view::npos) {
    // Incomplete: answer early what is already wrong.
    // In the order a whole header section is judged (below), so that the
    // answer does not depend on how the bytes were split into reads: the
    // request line's own bytes, then the request line, then the lines after.
    const std::string_view seen = start < window ? bytes.substr(start, window - start) : std::string_view();
    const std::size_t eol = seen.find("\r\n");
    // (With the CR of its CRLF: a CR before that one is stray.)
    if (has_stray_line_break(seen.substr(0, eol == std::string_view::npos ? eol : eol + 1)))
      return bad(400, "a line break that is not CRLF");
    if (cannot_be_request_line(seen)) return bad(400, "control character in the request line");
    if (eol != std::string_view::npos) {
      Request r;
      std::string_view why;
      if (const int status = parse_request_line(seen.substr(0, eol), r, why); status != 0)
        return bad(status, why);
      if (has_stray_line_break(seen.substr(eol + 2))) return bad(400, "a line break that is not CRLF");
    }
    if (bytes.size() < limits.max_header_bytes) return {};
    if (eol == std::string_view::npos) return bad(414, "request line too long");
    return bad(431, "header section too long");
  }

  ParseResult out;
  Request& r = out.request;
  r.header_bytes = end + 4;
  std::string_view head = bytes.substr(start, end + 2 - start);  // every line with its CRLF
  std::size_t eol = head.find("\r\n");
  if (has_stray_line_break(head.substr(0, eol + 1))) return bad(400, "a line break that is not CRLF");
  std::string_view why;
  if (const int status = parse_request_line(head.substr(0, eol), r, why); status != 0)
    return bad(status, why);
  head.remove_prefix(eol + 2);
  if (has_stray_line_break(head)) return bad(400, "a line break that is not CRLF");

  bool close = false;
  bool keep_alive = false;
  bool has_length = false;
  bool has_transfer_encoding = false;
  std::size_t hosts = 0;
  std::size_t fields = 0;
  while (!head.empty()) {
    eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (++fields > limits.max_fields) return bad(431, "too many header fields");
    if (line.front() == ' ' || line.front() == '\t') return bad(400, "folded header line");
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return bad(400, "bad header field");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (!is_field_text(value)) return bad(400, "control character in a field value");
    if (equals_ci(name, "content-length")) {
      if (value.empty() ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return bad(400, "bad Content-Length");
      // Leading zeros say nothing (RFC 9110, 8.6: 1*DIGIT): 0003 is 3. Past
      // them, more than 18 digits cannot fit the limit's type, let alone it.
      const std::string_view digits = value.substr(std::min(value.find_first_not_of('0'), value.size() - 1));
      if (digits.size() > 18) return bad(413, "body too large");
      std::size_t n = 0;
      for (char c : digits) n = n * 10 + static_cast<std::size_t>(c - '0');
      if (has_length && n != r.content_length) return bad(400, "conflicting Content-Length");
      has_length = true;
      r.content_length = n;
    } else if (equals_ci(name, "transfer-encoding")) {
      has_transfer_encoding = true;
    } else if (equals_ci(name, "connection")) {
      close |= has_token(value, "close");
      keep_alive |= has_token(value, "keep-alive");
    } else if (equals_ci(name, "host")) {
      ++hosts;
    } else if (equals_ci(name, "expect")) {
      r.expect_continue = equals_ci(value, "100-continue");
    }
  }
  if (has_transfer_encoding && has_length)
    return bad(400, "both Content-Length and Transfer-Encoding");
  if (has_transfer_encoding) return bad(501, "Transfer-Encoding is not supported");
  if (r.minor_version >= 1 && hosts != 1) return bad(400, "HTTP/1.1 needs exactly one Host");
  if (hosts > 1) return bad(400, "more than one Host");
  if (r.content_length > limits.max_body_bytes) return bad(413, "body too large");
  r.keep_alive = !close && (r.minor_version >= 1 || keep_alive);
  out.kind = ParseResult::Kind::request;
  return out;
}

std::string_view query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace weft::http
