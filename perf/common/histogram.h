// A latency histogram with logarithmic buckets: 16 buckets per power of two,
// so any recorded value is reported within about 6% of itself, from 1 ns to
// hours, in 1 KiB of counters. Recording is an increment; merging is a sum.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace weft::perf {

class Histogram {
 public:
  void record(std::uint64_t value) {
    ++counts_[index(value)];
    ++total_;
    if (value > max_) max_ = value;
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }

  // The value at quantile q (0..1): the upper edge of the bucket holding it.
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t upper = upper_edge(i);
        return upper < max_ ? upper : max_;
      }
    }
    return max_;
  }

 private:
  static constexpr unsigned kSubBits = 4;  // 16 buckets per octave
  static std::size_t index(std::uint64_t v) {
    if (v < (1u << kSubBits)) return static_cast<std::size_t>(v);
    const unsigned octave = 63u - static_cast<unsigned>(std::countl_zero(v));  // >= kSubBits
    const unsigned sub = static_cast<unsigned>(v >> (octave - kSubBits)) & ((1u << kSubBits) - 1);
    return ((octave - kSubBits + 1) << kSubBits) + sub;
  }
  static std::uint64_t upper_edge(std::size_t i) {
    if (i < (1u << kSubBits)) return i;
    const unsigned octave = static_cast<unsigned>(i >> kSubBits) + kSubBits - 1;
    const std::uint64_t sub = i & ((1u << kSubBits) - 1);
    const std::uint64_t low = (std::uint64_t{1} << octave) | (sub << (octave - kSubBits));
    return low + (std::uint64_t{1} << (octave - kSubBits)) - 1;
  }

  std::array<std::uint64_t, (64 - kSubBits + 1) << kSubBits> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace weft::perf
