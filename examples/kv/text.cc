#include "examples/kv/text.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace weft::kv {

bool parse_int64(std::string_view s, std::int64_t* value) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    *value = 0;
    return true;
  }
  std::size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) ++i;
  if (i == s.size() || s[i] < '1' || s[i] > '9') return false;
  std::uint64_t magnitude = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(s[i] - '0');
    if (magnitude > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  constexpr std::uint64_t kMaxPositive = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (magnitude > kMaxPositive + 1) return false;
    *value = magnitude == kMaxPositive + 1 ? std::numeric_limits<std::int64_t>::min()
                                           : -static_cast<std::int64_t>(magnitude);
  } else {
    if (magnitude > kMaxPositive) return false;
    *value = static_cast<std::int64_t>(magnitude);
  }
  return true;
}

bool parse_double(std::string_view s, double* value) {
  if (s.empty() || s.size() > 300) return false;  // longer ones are no float a client means
  const unsigned char first = static_cast<unsigned char>(s[0]);
  if (first == ' ' || (first >= '\t' && first <= '\r')) return false;
  const std::string copy(s);  // strtod wants a terminated string
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return false;
  if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL || d == 0)) return false;
  if (std::isnan(d)) return false;
  *value = d;
  return true;
}

bool parse_long_double(std::string_view s, long double* value) {
  if (s.empty() || s.size() > 5120) return false;
  const unsigned char first = static_cast<unsigned char>(s[0]);
  if (first == ' ' || (first >= '\t' && first <= '\r')) return false;
  const std::string copy(s);
  char* end = nullptr;
  errno = 0;
  const long double d = std::strtold(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return false;
  if (errno == ERANGE && (d == HUGE_VALL || d == -HUGE_VALL || d == 0)) return false;
  if (std::isnan(d)) return false;
  *value = d;
  return true;
}

bool parse_cursor(std::string_view s, std::uint64_t* value) {
  std::size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i == s.size()) return false;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  *value = negative ? 0 - v : v;
  return true;
}

std::string format_double(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.17g", value);
  return std::string(buf, static_cast<std::size_t>(n));
}

void append_int64(std::string& out, std::int64_t value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}

namespace {

// Whether `c` is in the class that starts after '[' at pattern[*p]; moves
// *p past the closing ']' (or to the end of the pattern, which closes it).
bool class_match(std::string_view pattern, std::size_t* p, unsigned char c) {
  std::size_t i = *p;
  bool negate = false;
  if (i < pattern.size() && pattern[i] == '^') {
    negate = true;
    ++i;
  }
  bool hit = false;
  while (i < pattern.size() && pattern[i] != ']') {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      if (static_cast<unsigned char>(pattern[i + 1]) == c) hit = true;
      i += 2;
    } else if (i + 2 < pattern.size() && pattern[i + 1] == '-') {
      unsigned char lo = static_cast<unsigned char>(pattern[i]);
      unsigned char hi = static_cast<unsigned char>(pattern[i + 2]);
      if (lo > hi) std::swap(lo, hi);
      if (c >= lo && c <= hi) hit = true;
      i += 3;
    } else {
      if (static_cast<unsigned char>(pattern[i]) == c) hit = true;
      ++i;
    }
  }
  *p = i < pattern.size() ? i + 1 : i;  // past the ']'
  return hit != negate;
}

}  // namespace

// Greedy with one backtracking point, the last '*': every other pattern
// element matches exactly one character, so retrying from the last star
// is enough, and the time is O(pattern * text) at worst.
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        while (p < pattern.size() && pattern[p] == '*') ++p;
        if (p == pattern.size()) return true;
        star = p;
        star_text = t;
        continue;
      }
      const unsigned char c = static_cast<unsigned char>(text[t]);
      std::size_t next = p + 1;
      bool ok;
      if (pc == '?') {
        ok = true;
      } else if (pc == '[') {
        ok = class_match(pattern, &next, c);
      } else if (pc == '\\' && p + 1 < pattern.size()) {
        ok = static_cast<unsigned char>(pattern[p + 1]) == c;
        next = p + 2;
      } else {
        ok = static_cast<unsigned char>(pc) == c;
      }
      if (ok) {
        p = next;
        ++t;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    p = star;
    t = ++star_text;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string lower(std::string_view text) {
  std::string s(text);
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace weft::kv
