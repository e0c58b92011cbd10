#include "examples/kv/resp.h"

#include <climits>
#include <cstring>

#include "examples/kv/text.h"

namespace weft::kv {
namespace {

using Kind = ParseResult::Kind;

ParseResult need(std::size_t bytes) {
  ParseResult r;
  r.kind = Kind::need_more;
  r.needed = bytes;
  return r;
}

ParseResult fail(std::string_view text, char byte = 0) {
  ParseResult r;
  r.kind = Kind::error;
  r.error = text;
  r.error_byte = byte;
  return r;
}

ParseResult done(std::size_t consumed) {
  ParseResult r;
  r.kind = Kind::command;
  r.consumed = consumed;
  return r;
}

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits an inline line into arguments (the quoting rules at the top of
// resp.h), written to `out` (reserved to the line's size: the views into it
// stay valid). False for unbalanced quotes.
bool split_inline(std::string_view line, std::string& out, std::vector<std::string_view>& args) {
  out.clear();
  out.reserve(line.size());
  std::size_t p = 0;
  const std::size_t n = line.size();
  for (;;) {
    while (p < n && is_space(line[p])) ++p;
    if (p == n) return true;
    const std::size_t start = out.size();
    bool in_double = false, in_single = false, done = false;
    while (!done) {
      if (in_double) {
        if (p == n) return false;
        if (line[p] == '\\' && p + 3 < n && line[p + 1] == 'x' && hex_value(line[p + 2]) >= 0 &&
            hex_value(line[p + 3]) >= 0) {
          out.push_back(static_cast<char>(hex_value(line[p + 2]) * 16 + hex_value(line[p + 3])));
          p += 3;
        } else if (line[p] == '\\' && p + 1 < n) {
          ++p;
          switch (line[p]) {
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'b': out.push_back('\b'); break;
            case 'a': out.push_back('\a'); break;
            default: out.push_back(line[p]); break;
          }
        } else if (line[p] == '"') {
          if (p + 1 < n && !is_space(line[p + 1])) return false;
          done = true;
        } else {
          out.push_back(line[p]);
        }
      } else if (in_single) {
        if (p == n) return false;
        if (line[p] == '\\' && p + 1 < n && line[p + 1] == '\'') {
          ++p;
          out.push_back('\'');
        } else if (line[p] == '\'') {
          if (p + 1 < n && !is_space(line[p + 1])) return false;
          done = true;
        } else {
          out.push_back(line[p]);
        }
      } else if (p == n) {
        done = true;
      } else {
        switch (line[p]) {
          case ' ': case '\n': case '\r': case '\t': case '\0': done = true; break;
          case '"': in_double = true; break;
          case '\'': in_single = true; break;
          default: out.push_back(line[p]); break;
        }
      }
      if (p < n) ++p;
    }
    args.emplace_back(out.data() + start, out.size() - start);
  }
}

ParseResult parse_inline(std::string_view b, Command& cmd, const Limits& limits) {
  const void* nl = std::memchr(b.data(), '\n', b.size());
  if (nl == nullptr) {
    if (b.size() > limits.max_inline) return fail("ERR Protocol error: too big inline request");
    return need(b.size() + 1);
  }
  const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - b.data());
  std::string_view line = b.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // The line ends at a NUL too, as it does for redis-server.
  if (const void* nul = std::memchr(line.data(), '\0', line.size()))
    line = line.substr(0, static_cast<std::size_t>(static_cast<const char*>(nul) - line.data()));
  if (!split_inline(line, cmd.unquoted, cmd.args)) {
    cmd.args.clear();
    return fail("ERR Protocol error: unbalanced quotes in request");
  }
  return done(end + 1);
}

// The number on a line that starts at b[pos] with `type` ('*' or '$') and
// ends in CRLF. found: a whole line, with its number in *value (parse
// failed: ok false); *line_end is past the CRLF.
enum class Line : std::uint8_t { incomplete, found };
Line number_line(std::string_view b, std::size_t pos, std::int64_t* value, bool* ok, std::size_t* line_end) {
  const void* cr = std::memchr(b.data() + pos, '\r', b.size() - pos);
  if (cr == nullptr) return Line::incomplete;
  const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cr) - b.data());
  if (at + 1 >= b.size()) return Line::incomplete;  // the LF is still to come
  *ok = parse_int64(b.substr(pos + 1, at - pos - 1), value);
  *line_end = at + 2;
  return Line::found;
}

ParseResult parse_array(std::string_view b, Command& cmd, const Limits& limits) {
  std::int64_t count = 0;
  bool ok = false;
  std::size_t pos = 0;
  if (number_line(b, 0, &count, &ok, &pos) == Line::incomplete) {
    if (b.size() > limits.max_inline) return fail("ERR Protocol error: too big mbulk count string");
    return need(b.size() + 1);
  }
  if (!ok || count > static_cast<std::int64_t>(limits.max_args) || count > INT_MAX)
    return fail("ERR Protocol error: invalid multibulk length");
  if (count <= 0) return done(pos);
  // Not reserved to `count`: a client can claim a million arguments and
  // send none.
  for (std::int64_t i = 0; i < count; ++i) {
    if (pos >= b.size()) return need(pos + 4);  // "$0\r\n" at least
    std::int64_t len = 0;
    std::size_t data = 0;
    if (number_line(b, pos, &len, &ok, &data) == Line::incomplete) {
      if (b.size() - pos > limits.max_inline) return fail("ERR Protocol error: too big bulk count string");
      return need(b.size() + 1);
    }
    if (b[pos] != '$') return fail("ERR Protocol error: expected '$', got '%c'", b[pos]);
    if (!ok || len < 0 || static_cast<std::uint64_t>(len) > limits.max_bulk)
      return fail("ERR Protocol error: invalid bulk length");
    const std::size_t n = static_cast<std::size_t>(len);
    if (b.size() - data < n + 2) return need(data + n + 2);
    cmd.args.emplace_back(b.data() + data, n);
    pos = data + n + 2;
  }
  return done(pos);
}

}  // namespace

ParseResult parse_command(std::string_view bytes, Command& command, const Limits& limits) {
  command.args.clear();
  if (bytes.empty()) return need(1);
  ParseResult r = bytes[0] == '*' ? parse_array(bytes, command, limits) : parse_inline(bytes, command, limits);
  if (r.kind != Kind::command) command.args.clear();
  return r;
}

std::string protocol_error_text(const ParseResult& result) {
  std::string text(result.error);
  const std::size_t at = text.find("%c");
  if (at != std::string::npos) text.replace(at, 2, 1, result.error_byte);
  return text;
}

void Reply::header(char type, std::int64_t n) {
  bytes_.push_back(type);
  append_int64(bytes_, n);
  bytes_.append("\r\n", 2);
}

void Reply::simple(std::string_view text) {
  bytes_.push_back('+');
  bytes_.append(text);
  bytes_.append("\r\n", 2);
}

void Reply::error(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
  bytes_.push_back('-');
  const std::size_t from = bytes_.size();
  bytes_.append(text);
  for (std::size_t i = from; i < bytes_.size(); ++i)
    if (bytes_[i] == '\r' || bytes_[i] == '\n') bytes_[i] = ' ';
  bytes_.append("\r\n", 2);
}

void Reply::integer(std::int64_t value) { header(':', value); }

void Reply::bulk(std::string_view b) {
  header('$', static_cast<std::int64_t>(b.size()));
  bytes_.append(b);
  bytes_.append("\r\n", 2);
}

void Reply::null() { bytes_.append("$-1\r\n", 5); }
void Reply::array(std::size_t count) { header('*', static_cast<std::int64_t>(count)); }
void Reply::null_array() { bytes_.append("*-1\r\n", 5); }
void Reply::score(double value) { bulk(format_double(value)); }

}  // namespace weft::kv
