#include <weft/fibers/result.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace weft {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::end_of_stream:
        return "end of stream before the requested bytes arrived";
      case errc::channel_closed:
        return "channel closed";
      case errc::uncaught_exception:
        return "uncaught exception";
      case errc::deadline_exceeded:
        return "deadline exceeded";
    }
    return "unknown weft error";
  }
  // A missed deadline is a timeout to code that asks for one
  // (`e == std::errc::timed_out`), and still told apart from the network's
  // ETIMEDOUT (`e == weft::errc::deadline_exceeded`).
  std::error_condition default_error_condition(int code) const noexcept override {
    if (static_cast<errc>(code) == errc::deadline_exceeded)
      return std::make_error_condition(std::errc::timed_out);
    return std::error_condition(code, *this);
  }
};

}  // namespace

const std::error_category& weft_category() noexcept {
  static const Category category;
  return category;
}

struct Error::Text {
  std::atomic<std::uint32_t> refs;
  std::uint32_t size;
  char chars[1];  // `size` of them, then a NUL
};

Error::Error(std::error_code code, std::string_view context) : std::error_code(code) {
  if (context.empty()) return;
  void* raw = std::malloc(offsetof(Text, chars) + context.size() + 1);
  if (raw == nullptr) return;  // the code alone, rather than a second failure
  text_ = new (raw) Text{{1}, static_cast<std::uint32_t>(context.size()), {}};
  std::memcpy(text_->chars, context.data(), context.size());
  text_->chars[context.size()] = '\0';
}

void Error::hold() const noexcept {
  if (text_ != nullptr) text_->refs.fetch_add(1, std::memory_order_relaxed);
}

void Error::drop() noexcept {
  if (text_ == nullptr) return;
  if (text_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    text_->~Text();
    std::free(text_);
  }
  text_ = nullptr;
}

std::string_view Error::context() const noexcept {
  return text_ == nullptr ? std::string_view() : std::string_view(text_->chars, text_->size);
}

std::string Error::message() const {
  std::string reason = std::error_code::message();
  if (text_ == nullptr) return reason;
  std::string out(context());
  out += ": ";
  out += reason;
  return out;
}

void throw_error(const Error& e) {
  if (e.context().empty()) throw std::system_error(e.code());
  throw std::system_error(e.code(), std::string(e.context()));
}

}  // namespace weft
