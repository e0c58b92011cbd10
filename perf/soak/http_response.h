// The head of one HTTP/1.1 response, read as its bytes arrive: the status,
// Content-Length and whether it says `Connection: close`. Only what the
// soak checks; a head it cannot read is `bad`.
//
// Thread rules: a plain value, owned by one session.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace weft::soak {

class ResponseHead {
 public:
  enum class Step { more, done, bad };

  // Takes bytes from the front of `*in` up to the end of the head (the
  // empty line) and leaves the rest there (the body, or the next answer).
  // more: the head goes on in later bytes; done: the fields below are set.
  Step feed(std::span<const char>* in);

  int status = 0;
  long long content_length = -1;  // -1: none given
  bool close = false;             // `Connection: close`

  static constexpr std::size_t kLongest = 8 << 10;  // a longer head is bad

 private:
  Step parse(std::string_view head);
  std::string text_;
};

}  // namespace weft::soak
