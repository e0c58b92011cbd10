// weft/uring/buffer.h — the memory an I/O call reads into or writes from.
//
// Any contiguous container of trivially copyable elements converts:
//   char buf[4096];            stream.read(buf);
//   std::vector<std::byte> v;  stream.read(v);
//   std::string_view s;        stream.write_all(s);
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
      : data(std::ranges::data(c)), size(std::ranges::size(c) * sizeof(std::ranges::range_value_t<C>)) {}
};

struct ConstBuffer {
  const void* data = nullptr;
  std::size_t size = 0;

  ConstBuffer() = default;
  ConstBuffer(const void* d, std::size_t n) : data(d), size(n) {}
  ConstBuffer(MutableBuffer b) : data(b.data), size(b.size) {}  // NOLINT
  ConstBuffer(std::string_view s) : data(s.data()), size(s.size()) {}  // NOLINT
  ConstBuffer(const char* s) : ConstBuffer(std::string_view(s)) {}  // NOLINT: no trailing NUL
  template <ByteContainer C>
    requires(!std::is_convertible_v<C, std::string_view>)
  ConstBuffer(const C& c)  // NOLINT(google-explicit-constructor)
      : data(std::ranges::data(c)), size(std::ranges::size(c) * sizeof(std::ranges::range_value_t<C>)) {}
};

}  // namespace weft
