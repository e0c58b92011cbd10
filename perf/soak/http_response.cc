#include "perf/soak/http_response.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace weft::soak {
namespace {

bool same_text(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

ResponseHead::Step ResponseHead::feed(std::span<const char>* in) {
  const std::size_t had = text_.size();
  const std::size_t room = kLongest + 1 - had;
  const std::size_t take = std::min(room, in->size());
  text_.append(in->data(), take);
  const std::size_t from = had >= 3 ? had - 3 : 0;
  const std::size_t end = text_.find("\r\n\r\n", from);
  if (end == std::string::npos) {
    *in = in->subspan(take);
    return text_.size() > kLongest ? Step::bad : Step::more;
  }
  const std::size_t head_size = end + 4;
  *in = in->subspan(head_size - had);
  return parse(std::string_view(text_).substr(0, head_size - 2));  // each line with its CRLF
}

ResponseHead::Step ResponseHead::parse(std::string_view head) {
  // "HTTP/1.1 200 OK\r\n"
  std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || line.substr(0, 9) != "HTTP/1.1 " ||
      (line.size() > 12 && line[12] != ' ')) {
    return Step::bad;
  }
  const auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc() || p != line.data() + 12) return Step::bad;
  for (std::size_t at = eol + 2; at < head.size(); at = eol + 2) {
    eol = head.find("\r\n", at);
    if (eol == std::string_view::npos) return Step::bad;
    const std::string_view field = head.substr(at, eol - at);
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return Step::bad;
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim(field.substr(colon + 1));
    if (same_text(name, "Content-Length")) {
      long long n = -1;
      const auto [q, e] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (e != std::errc() || q != value.data() + value.size() || n < 0 || content_length >= 0) {
        return Step::bad;  // not a number, or given twice
      }
      content_length = n;
    } else if (same_text(name, "Connection")) {
      close = close || same_text(value, "close");
    }
  }
  return Step::done;
}

}  // namespace weft::soak
