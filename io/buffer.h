// weft/io/buffer.h — the memory an I/O call reads into or writes from.
//
// Any contiguous container of trivially copyable elements converts:
//   char buf[4096];            stream.read(buf);
//   std::vector<std::byte> v;  stream.read(v);
//   std::string_view s;        stream.write_all(s);
//   stream.write_all("ping");  // 4 bytes: a literal's NUL is not sent
// The memory must stay valid until the call returns (it always does: the
// calling fiber is parked for exactly that long).
#pragma once

#include <cstddef>
#include <iterator>
#include <ranges>
#include <string_view>
#include <type_traits>

namespace weft {

template <class C>
concept ByteContainer = std::ranges::contiguous_range<C> && std::ranges::sized_range<C> &&
    std::is_trivially_copyable_v<std::ranges::range_value_t<C>>;

struct MutableBuffer {
  void* data = nullptr;
  std::size_t size = 0;

  MutableBuffer() = default;
  MutableBuffer(void* d, std::size_t n) : data(d), size(n) {}
  template <ByteContainer C>
  requires(!std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<C>>>)
      MutableBuffer(C&& c)  // NOLINT(google-explicit-constructor)
      : data(std::ranges::data(c)),
        size(std::ranges::size(c) * sizeof(std::ranges::range_value_t<C>)) {}
};

struct ConstBuffer {
  const void* data = nullptr;
  std::size_t size = 0;

  ConstBuffer() = default;
  ConstBuffer(const void* d, std::size_t n) : data(d), size(n) {}
  ConstBuffer(MutableBuffer b) : data(b.data), size(b.size) {}         // NOLINT
  ConstBuffer(std::string_view s) : data(s.data()), size(s.size()) {}  // NOLINT
  // A string literal: its terminating NUL is not part of the message.
  template <std::size_t N>
  ConstBuffer(const char (&s)[N])  // NOLINT(google-explicit-constructor)
      : data(s), size(N > 0 && s[N - 1] == '\0' ? N - 1 : N) {}
  // A writable char array holds bytes, not a string: all of it.
  template <std::size_t N>
  ConstBuffer(char (&s)[N]) : data(s), size(N) {}  // NOLINT(google-explicit-constructor)
  // (A range of buffers is a list of pieces, not bytes: see write_vectored.)
  template <ByteContainer C>
  requires(!std::is_array_v<std::remove_cvref_t<C>> &&
           !std::is_same_v<std::ranges::range_value_t<C>, ConstBuffer> &&
           !std::is_same_v<std::ranges::range_value_t<C>, MutableBuffer>)
      ConstBuffer(const C& c)  // NOLINT(google-explicit-constructor)
      : data(std::ranges::data(c)),
        size(std::ranges::size(c) * sizeof(std::ranges::range_value_t<C>)) {}
  template <class T, std::size_t N>
  requires(std::is_trivially_copyable_v<T> && !std::is_same_v<std::remove_cv_t<T>, char> &&
           !std::is_same_v<std::remove_cv_t<T>, ConstBuffer> &&
           !std::is_same_v<std::remove_cv_t<T>, MutableBuffer>)
      ConstBuffer(const T (&a)[N])
      : data(a), size(N * sizeof(T)) {}  // NOLINT
};

}  // namespace weft
