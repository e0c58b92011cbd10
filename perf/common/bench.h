// Small helpers shared by the benchmark programs: a monotonic clock in
// nanoseconds, the median of repeated runs, key=value output, and options
// (--help and bad options: usage.h).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace weft::perf {

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline void kv(const char* key, double value, const char* fmt = "%.2f") {
  std::printf("%s=", key);
  std::printf(fmt, value);
  std::printf("\n");
}

inline void kv(const char* key, const std::string& value) {
  std::printf("%s=%s\n", key, value.c_str());
}

// The text after --name, or `fallback`.
inline const char* text_option(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

// --name N style option, or `fallback`.
inline long option(int argc, char** argv, const char* name, long fallback) {
  const char* text = text_option(argc, argv, name, nullptr);
  return text != nullptr ? std::atol(text) : fallback;
}

}  // namespace weft::perf
