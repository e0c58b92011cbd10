#include <weft/sync/graceful_stop.h>

namespace weft {

GracefulStop::Work& GracefulStop::Work::operator=(Work&& other) noexcept {
  if (this != &other) {
    end();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

void GracefulStop::Work::end() {
  if (owner_ == nullptr) return;
  owner_->work_.done();
  owner_ = nullptr;
}

GracefulStop::Work GracefulStop::begin_work() {
  work_.add(1);
  return Work(this);
}

GracefulStop::Report GracefulStop::stop(std::chrono::milliseconds grace) {
  const auto began = Clock::now();
  Report report;
  const std::uint64_t at_start = in_flight();
  stopping_.cancel();
  if (work_.wait({.deadline = began + grace, .scoped = false})) {
    // The grace is over: cut what is left, and wait for it to notice.
    report.cut_off = in_flight();
    cutting_.cancel();
    (void)work_.wait({.scoped = false});
  }
  report.finished = at_start > report.cut_off ? at_start - report.cut_off : 0;
  report.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
  return report;
}

}  // namespace weft
