// weft/fibers/result.h — errors as values.
//
// Every fallible weft call returns Result<T>: a T or a std::error_code. Errors
// from the kernel use std::generic_category, so they compare equal to the
// std::errc constants (`r.error() == std::errc::timed_out`). value() on an
// error throws std::system_error, so code that has no plan for a failure can
// write `.value()` and let it surface.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace weft {

// Errors weft reports that no errno describes.
enum class errc {
  end_of_stream = 1,   // the peer closed before the requested bytes arrived
  channel_closed = 2,  // a send on, or a receive from a drained, closed channel
};
const std::error_category& weft_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), weft_category()};
}

// An errno value (positive) as an error code.
inline std::error_code errno_error(int errno_value) noexcept {
  return {errno_value, std::generic_category()};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(std::error_code error) : v_(std::in_place_index<1>, error) {}
  Result(errc error) : v_(std::in_place_index<1>, make_error_code(error)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  // The error, or an empty error_code when there is a value.
  std::error_code error() const noexcept {
    return has_value() ? std::error_code() : std::get<1>(v_);
  }

  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check() const {
    if (!has_value()) throw std::system_error(std::get<1>(v_));
  }
  std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(std::error_code error) : error_(error) {}
  Result(errc error) : error_(make_error_code(error)) {}

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return error_; }
  void value() const {
    if (error_) throw std::system_error(error_);
  }

 private:
  std::error_code error_;
};

}  // namespace weft

template <>
struct std::is_error_code_enum<weft::errc> : std::true_type {};
