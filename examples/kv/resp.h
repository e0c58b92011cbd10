// RESP2, the protocol of redis clients: commands parsed from the bytes a
// connection has buffered, and the replies written back.
//
// parse_command() looks at the bytes received so far and says one of three
// things: more bytes are needed (at least `needed` in all); here is one
// command, which took `consumed` bytes; or the bytes break the protocol,
// with the error line to send before closing the connection. It keeps no
// state between calls: a caller that read more calls it again on the whole
// unconsumed prefix (a bulk string is skipped by its length, so a repeated
// call costs a step per argument, not per byte).
//
// Two forms, chosen by the first byte, as redis-server chooses:
//   *<n>\r\n then n times $<len>\r\n<len bytes>\r\n   an array of bulk strings
//   anything else: one line, split at spaces           an inline command
// Inline arguments may be quoted: "..." with \n \r \t \b \a \\ \" and \xHH
// escapes, '...' with \' only; a closing quote must be followed by a space
// or the end of the line. An array of 0 (or a negative count) and an empty
// line are commands without arguments, which a server skips.
//
// Protocol errors, with the text redis-server 7 sends (Reply::error adds
// the '-'):
//   ERR Protocol error: invalid multibulk length   count not a number, or above Limits::max_args
//   ERR Protocol error: expected '$', got 'x'      an array element that is not a bulk string
//   ERR Protocol error: invalid bulk length        length not a number, negative, or above max_bulk
//   ERR Protocol error: too big mbulk count string a count line longer than max_inline
//   ERR Protocol error: too big bulk count string  a length line longer than max_inline
//   ERR Protocol error: too big inline request     an inline line longer than max_inline
//   ERR Protocol error: unbalanced quotes in request
// Like redis-server, the two bytes after a bulk string's data are taken as
// its CRLF without being looked at.
//
// Replies: Reply appends RESP2 values to a string that the connection
// writes out (simple strings, errors, integers, bulk strings, the null bulk
// string $-1, arrays and the null array *-1).
//
// Thread rules: none; parse_command() is a pure function of its input, a
// Reply belongs to whoever made it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft::kv {

struct Limits {
  std::size_t max_bulk = 512u << 20;     // redis-server's proto-max-bulk-len
  std::size_t max_args = 1024 * 1024;    // arguments of one command
  std::size_t max_inline = 64u << 10;    // an inline line, a count or length line
};

// One command's arguments: views into the caller's bytes (an array) or into
// `unquoted` (an inline command, whose quotes and escapes are resolved).
// Valid while those bytes stay put and until the next parse into it.
struct Command {
  std::vector<std::string_view> args;
  std::string unquoted;
};

struct ParseResult {
  enum class Kind : std::uint8_t { need_more, command, error };
  Kind kind = Kind::need_more;
  std::size_t consumed = 0;  // command: the bytes it took
  std::size_t needed = 0;    // need_more: the fewest bytes that could hold it
  // error: the reply's text ("ERR Protocol error: ..."), with %c where
  // error_byte goes (protocol_error_text() puts it there).
  std::string_view error;
  char error_byte = 0;
};

ParseResult parse_command(std::string_view bytes, Command& command, const Limits& limits = {});

// The error text of a ParseResult, whole ("ERR Protocol error: expected
// '$', got 'x'" with its byte in place).
std::string protocol_error_text(const ParseResult& result);

// RESP2 replies, appended to one string.
class Reply {
 public:
  void simple(std::string_view text);     // +text
  void error(std::string_view text);      // -text (CR and LF become spaces)
  void integer(std::int64_t value);       // :value
  void bulk(std::string_view bytes);      // $len bytes
  void null();                            // $-1
  void array(std::size_t count);          // *count, then count values
  void null_array();                      // *-1
  void score(double value);               // a bulk string, as text.h formats doubles
  void ok() { simple("OK"); }

  std::string& bytes() { return bytes_; }
  void clear() { bytes_.clear(); }

 private:
  void header(char type, std::int64_t n);
  std::string bytes_;
};

}  // namespace weft::kv
