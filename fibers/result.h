// weft/fibers/result.h — errors as values.
//
// Every fallible weft call returns Result<T>: a T or an Error. An Error is a
// std::error_code (it derives from it) that may also say what failed: calls
// that name something — a path, an address, a host, a program — put it in
// front of the system's message ("open /etc/x: No such file or directory").
// Calls on the hot path (a read, a write, an accept) carry the bare code:
// their caller knows what it was reading. Errors from the kernel use
// std::generic_category, so they compare equal to the std::errc constants
// (`r.error() == std::errc::timed_out`). value() on an error throws
// std::system_error whose what() is that same message, so code that has no
// plan for a failure can write `.value()` and let it surface.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace weft {

// Errors weft reports that no errno describes.
enum class errc {
  end_of_stream = 1,   // the peer closed before the requested bytes arrived
  channel_closed = 2,  // a send on, or a receive from a drained, closed channel
  uncaught_exception = 3,  // a TaskGroup child threw (the cause its group is cancelled with)
  deadline_exceeded = 4,   // a weft deadline passed (equal to std::errc::timed_out)
};
const std::error_category& weft_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), weft_category()};
}

namespace fibers {
// The outcome of a wait whose weft deadline passed: kept apart from the
// kernel's ETIMEDOUT (no errno is this large), and turned into
// errc::deadline_exceeded by errno_error().
inline constexpr int kDeadlineExceeded = 4095;
}  // namespace fibers

// An errno value (positive) as an error code; fibers::kDeadlineExceeded
// gives errc::deadline_exceeded.
inline std::error_code errno_error(int errno_value) noexcept {
  if (errno_value == fibers::kDeadlineExceeded) [[unlikely]]
    return make_error_code(errc::deadline_exceeded);
  return {errno_value, std::generic_category()};
}

// An error code and, when the failed call named something, what it was doing
// to what ("open /etc/x"). Copies share the text; a code without one costs
// nothing more than a std::error_code.
class Error : public std::error_code {
 public:
  Error() noexcept = default;
  Error(std::error_code code) noexcept : std::error_code(code) {}
  Error(errc code) noexcept : std::error_code(make_error_code(code)) {}
  // `context` says what failed, without the reason: "connect example.org:80".
  Error(std::error_code code, std::string_view context);

  Error(const Error& other) noexcept : std::error_code(other), text_(other.text_) { hold(); }
  Error(Error&& other) noexcept : std::error_code(other), text_(other.text_) {
    other.text_ = nullptr;
  }
  Error& operator=(const Error& other) noexcept {
    if (this != &other) {
      other.hold();
      drop();
      std::error_code::operator=(other);
      text_ = other.text_;
    }
    return *this;
  }
  Error& operator=(Error&& other) noexcept {
    if (this != &other) {
      drop();
      std::error_code::operator=(other);
      text_ = other.text_;
      other.text_ = nullptr;
    }
    return *this;
  }
  ~Error() { drop(); }

  // The code alone (what the kernel or weft said).
  const std::error_code& code() const noexcept { return *this; }
  // What failed, or "" when the call did not say.
  std::string_view context() const noexcept;
  // "context: reason", or the reason alone.
  std::string message() const;

 private:
  struct Text;  // shared, immutable: a count and the characters
  void hold() const noexcept;
  void drop() noexcept;
  Text* text_ = nullptr;
};

// Throws std::system_error(e.code(), e.context()): its what() is e.message().
[[noreturn]] void throw_error(const Error& e);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(std::error_code error) : v_(std::in_place_index<1>, error) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}
  Result(errc error) : v_(std::in_place_index<1>, make_error_code(error)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  // The error, or an empty one when there is a value.
  const Error& error() const noexcept { return has_value() ? no_error() : std::get<1>(v_); }

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
    if (!has_value()) throw_error(std::get<1>(v_));
  }
  static const Error& no_error() noexcept {
    static const Error none;
    return none;
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(std::error_code error) : error_(error) {}
  Result(Error error) : error_(std::move(error)) {}
  Result(errc error) : error_(make_error_code(error)) {}

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  const Error& error() const noexcept { return error_; }
  void value() const {
    if (error_) throw_error(error_);
  }

 private:
  Error error_;
};

// `r`, its error (if any) saying what failed: describe() gives the context,
// and is called only on an error ("open " + path). The code is kept; a
// context the error already had is replaced.
template <class T, class Describe>
Result<T> annotate(Result<T> r, Describe&& describe) {
  if (r) return r;
  return Error(r.error().code(), describe());
}

}  // namespace weft

template <>
struct std::is_error_code_enum<weft::errc> : std::true_type {};
