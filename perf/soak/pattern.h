// The bytes a soak connection sends, and the random choices it makes.
//
// Every byte a connection sends is a function of (key, offset): the key
// comes from the run's seed, the connection's slot and how many times that
// slot has connected, and the offset counts from the first byte of the
// stream (echo) or of the connection's first request body (http). So a
// byte can be made again instead of kept (a connection owns no send or
// receive buffer), and a byte that comes back changed, moved or from
// another connection's stream does not match.
//
// Thread rules: plain values; each belongs to the one thread using it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace weft::soak {

// A 64-bit mixing function (the splitmix64 finaliser): every input bit
// changes about half the output bits.
constexpr std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The key of one connection of one slot.
constexpr std::uint64_t stream_key(std::uint64_t seed, std::uint32_t slot,
                                   std::uint32_t generation) {
  return mix(seed ^ mix((static_cast<std::uint64_t>(slot) << 32) | generation));
}

// The content of one stream: eight bytes per mixed word.
class Pattern {
 public:
  explicit Pattern(std::uint64_t key = 0) : key_(key) {}

  std::uint64_t key() const { return key_; }

  // Writes the bytes at [offset, offset + out.size()) of the stream.
  void fill(std::uint64_t offset, std::span<char> out) const {
    std::size_t i = 0;
    while (i < out.size()) {
      const std::uint64_t at = offset + i;
      const std::uint64_t w = word(at >> 3);
      const std::size_t skip = static_cast<std::size_t>(at & 7);
      const std::size_t n = std::min<std::size_t>(8 - skip, out.size() - i);
      std::memcpy(out.data() + i, reinterpret_cast<const char*>(&w) + skip, n);
      i += n;
    }
  }

  // How many of `got` differ from the stream's bytes at `offset`.
  std::size_t mismatches(std::uint64_t offset, std::span<const char> got) const {
    std::size_t bad = 0;
    std::size_t i = 0;
    while (i < got.size()) {
      const std::uint64_t at = offset + i;
      const std::uint64_t w = word(at >> 3);
      const std::size_t skip = static_cast<std::size_t>(at & 7);
      const std::size_t n = std::min<std::size_t>(8 - skip, got.size() - i);
      if (std::memcmp(got.data() + i, reinterpret_cast<const char*>(&w) + skip, n) != 0) {
        const char* want = reinterpret_cast<const char*>(&w) + skip;
        for (std::size_t k = 0; k < n; ++k) bad += got[i + k] != want[k];
      }
      i += n;
    }
    return bad;
  }

 private:
  std::uint64_t word(std::uint64_t index) const {
    return mix(key_ ^ (index * 0xd6e8feb86659fd93ULL));
  }
  std::uint64_t key_;
};

// A small seeded generator (xorshift64*), for the choices of one connection
// (sizes, depths, endings, pauses).
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(mix(seed) | 1) {}

  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  // A whole number in [low, high].
  std::uint64_t between(std::uint64_t low, std::uint64_t high) {
    return low + next() % (high - low + 1);
  }
  // True with probability `percent` / 100.
  bool percent(unsigned percent) { return next() % 100 < percent; }
  // A size in [low, high], spread evenly over its powers of two, so that
  // small and large messages are both common (an even spread over 1..64 KiB
  // would make nearly all of them large).
  std::size_t size(std::size_t low, std::size_t high) {
    unsigned top = 0;
    while ((std::size_t{1} << top) < high) ++top;
    const unsigned bits = static_cast<unsigned>(between(0, top));
    const std::size_t cap = std::min(high, (std::size_t{1} << bits));
    return static_cast<std::size_t>(between(low, std::max(low, cap)));
  }

 private:
  std::uint64_t state_;
};

}  // namespace weft::soak
