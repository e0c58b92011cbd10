#include <weft/fibers/result.h>

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
    }
    return "unknown weft error";
  }
};

}  // namespace

const std::error_category& weft_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace weft
