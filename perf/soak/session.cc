// The reads and writes both protocols' sessions share (session.h).
#include "perf/soak/session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace weft::soak {

IoResult send_some(int fd, std::span<const char> data, std::size_t* n) {
  *n = 0;
  for (;;) {
    const ssize_t r = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r >= 0) {
      *n = static_cast<std::size_t>(r);
      return r > 0 ? IoResult::moved : IoResult::blocked;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::blocked;
    if (errno == ECONNRESET || errno == EPIPE) return IoResult::reset;
    return IoResult::failed;
  }
}

IoResult recv_some(int fd, std::span<char> into, std::size_t* n) {
  *n = 0;
  for (;;) {
    const ssize_t r = ::recv(fd, into.data(), into.size(), MSG_DONTWAIT);
    if (r > 0) {
      *n = static_cast<std::size_t>(r);
      return IoResult::moved;
    }
    if (r == 0) return IoResult::end;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::blocked;
    if (errno == ECONNRESET || errno == EPIPE) return IoResult::reset;
    return IoResult::failed;
  }
}

Next PacedSession::pump(Io io, Clock::time_point now) {
  if (idle_until_ != Clock::time_point{} && now >= idle_until_) {
    idle_until_ = {};
    last_progress = now;
  }
  if (paused_until_ != Clock::time_point{} && now >= paused_until_) {
    paused_until_ = {};
    last_progress = now;
  }
  std::size_t budget = kPumpBudget;
  for (;;) {
    bool moved = false;
    if (const Next n = write(io, now, &moved, &budget); n != Next::wait) return n;
    if (const Next n = read(io, now, &moved, &budget); n != Next::wait) return n;
    if (!moved) return Next::wait;
    if (budget == 0) return Next::again;
  }
}

void PacedSession::stop(Clock::time_point now) {
  stopping_ = true;
  idle_until_ = {};
  paused_until_ = {};
  on_stop();
  last_progress = now;
}

Clock::time_point PacedSession::wake_at() const {
  Clock::time_point at = kNever;
  if (idle_until_ != Clock::time_point{}) at = std::min(at, idle_until_);
  if (paused_until_ != Clock::time_point{}) at = std::min(at, paused_until_);
  return at;
}

}  // namespace weft::soak
