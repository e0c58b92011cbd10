// The reads and writes both protocols' sessions share (session.h).
#include "perf/soak/session.h"

#include <sys/socket.h>

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

}  // namespace weft::soak
