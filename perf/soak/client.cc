#include "perf/soak/client.h"

#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace weft::soak {
namespace {

using std::chrono::milliseconds;

constexpr auto kRetryDelay = milliseconds(100);  // after a connection failed
constexpr auto kTickEvery = milliseconds(100);
constexpr auto kSweepEvery = milliseconds(1000);

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::uint64_t event_data(std::uint32_t slot, std::uint32_t generation) {
  return (static_cast<std::uint64_t>(generation) << 32) | slot;
}

ErrorKind connect_error(int e) {
  switch (e) {
    case ECONNREFUSED:
      return ErrorKind::connect_refused;
    case ETIMEDOUT:
      return ErrorKind::connect_timeout;
    case EADDRNOTAVAIL:
      return ErrorKind::client_out_of_ports;
    case EMFILE:
    case ENFILE:
      return ErrorKind::client_out_of_fds;
    default:
      return ErrorKind::connect_failed;
  }
}

}  // namespace

Client::Client(const Options& options, const sockaddr_in& server, Tally& tally)
    : o_(options), server_(server), t_(tally) {
  workload_.max_size = o_.max_size;
  workload_.max_depth = o_.max_depth;
  workload_.max_idle_ms = o_.max_idle_ms;
  workload_.max_life_ms = static_cast<unsigned>(o_.max_life * 1000);
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  slots_.resize(static_cast<std::size_t>(o_.connections));
  scratch_.resize(64 << 10);
  for (std::uint32_t i = 0; i < slots_.size(); ++i) to_connect_.push_back(i);
}

Client::~Client() {
  for (Slot& s : slots_) {
    if (s.fd >= 0) close(s.fd);
  }
  if (epoll_ >= 0) close(epoll_);
}

void Client::arm(std::uint32_t i, Clock::time_point at) {
  Slot& s = slots_[i];
  if (at == s.timer_at) return;  // that entry is in the heap already
  s.timer_at = at;
  ++s.timer_seq;
  if (at != kNever) timers_.push({at, i, s.generation, s.timer_seq});
}

void Client::start_connect(std::uint32_t i, Clock::time_point now) {
  Slot& s = slots_[i];
  const auto give_up = [&](ErrorKind k) {
    t_.error(k);
    if (s.fd >= 0) close(s.fd);
    s.fd = -1;
    s.state = State::down;
    arm(i, now + kRetryDelay);
  };
  s.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return give_up(connect_error(errno));
  const int one = 1;
  setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = event_data(i, s.generation);
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, s.fd, &ev) != 0) return give_up(connect_error(errno));
  if (connect(s.fd, reinterpret_cast<const sockaddr*>(&server_), sizeof server_) != 0 &&
      errno != EINPROGRESS) {
    return give_up(connect_error(errno));
  }
  s.state = State::connecting;
  ++connecting_;
  arm(i, now + seconds(o_.connect_timeout));
}

void Client::connected(std::uint32_t i, Clock::time_point now) {
  Slot& s = slots_[i];
  --connecting_;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    t_.error(connect_error(err));
    close(s.fd);
    s.fd = -1;
    s.state = State::down;
    ++s.generation;
    arm(i, now + kRetryDelay);
    return;
  }
  s.state = State::open;
  s.confirmed = false;
  ++unconfirmed_;
  ++t_.connects;
  if (++open_ > peak_) peak_ = open_;
  if (s.generation == 0) ++opened_once_;
  arm(i, kNever);  // the connect timeout
  const std::uint64_t key = stream_key(o_.seed, i, s.generation);
  const Random rnd(stream_key(o_.seed ^ 0x736f616bULL, i, s.generation));
  s.session = o_.protocol == Protocol::echo ? make_echo_session(workload_, key, rnd, t_, now)
                                            : make_http_session(workload_, key, rnd, t_, now);
  if (stopping_) s.session->stop(now);
  pump(i, now);
}

void Client::pump(std::uint32_t i, Clock::time_point now) {
  Slot& s = slots_[i];
  const Next n = s.session->pump(Io{s.fd, scratch_}, now);
  if (!s.confirmed && s.session->heard) {
    s.confirmed = true;
    --unconfirmed_;
  }
  switch (n) {
    case Next::wait:
      arm(i, s.session->wake_at());
      return;
    case Next::again:
      if (!s.ready) {
        s.ready = true;
        ready_.push_back(i);
      }
      return;
    default:
      end(i, n, now);
  }
}

void Client::end(std::uint32_t i, Next how, Clock::time_point now) {
  Slot& s = slots_[i];
  if (how != Next::finished) {
    const linger now_and_hard{1, 0};  // close sends a reset
    setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &now_and_hard, sizeof now_and_hard);
  }
  close(s.fd);
  s.fd = -1;
  s.session.reset();
  --open_;
  if (!s.confirmed) --unconfirmed_;
  s.confirmed = false;
  ++s.generation;
  if (stopping_) {
    s.state = State::done;
    ++done_;
    arm(i, kNever);
    return;
  }
  s.state = State::down;
  if (how == Next::failed) {
    arm(i, now + kRetryDelay);
  } else {
    arm(i, kNever);
    to_connect_.push_back(i);
  }
}

void Client::fire_timers(Clock::time_point now) {
  while (!timers_.empty() && timers_.top().at <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    Slot& s = slots_[t.slot];
    if (t.generation != s.generation || t.seq != s.timer_seq) continue;  // stale
    s.timer_at = kNever;
    switch (s.state) {
      case State::connecting:
        t_.error(ErrorKind::connect_timeout);
        --connecting_;
        close(s.fd);
        s.fd = -1;
        s.state = State::down;
        ++s.generation;
        arm(t.slot, now + kRetryDelay);
        break;
      case State::open:
        pump(t.slot, now);
        break;
      case State::down:
        if (!stopping_) to_connect_.push_back(t.slot);
        break;
      case State::done:
        break;
    }
  }
}

void Client::sweep_stalls(Clock::time_point now) {
  const Clock::duration limit = seconds(o_.stall_timeout);
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.state != State::open || !s.session->waiting_on_server(now)) continue;
    if (now - s.session->last_progress < limit) continue;
    t_.error(ErrorKind::stalled);
    t_.bytes_lost += s.session->outstanding();
    end(i, Next::failed, now);
  }
}

void Client::connect_more(Clock::time_point now) {
  while (!stopping_ && connecting_ + unconfirmed_ < o_.max_connecting && !to_connect_.empty()) {
    const std::uint32_t i = to_connect_.front();
    to_connect_.pop_front();
    if (slots_[i].state == State::down) start_connect(i, now);
  }
}

void Client::poll_once(Clock::time_point until) {
  Clock::time_point now = Clock::now();
  Clock::time_point wake = std::min({until, now + kTickEvery, next_sweep_});
  if (!timers_.empty()) wake = std::min(wake, timers_.top().at);
  int timeout = 0;
  if (ready_.empty() && wake > now) {
    timeout = static_cast<int>(std::chrono::ceil<milliseconds>(wake - now).count());
  }
  epoll_event events[512];
  const int n = epoll_wait(epoll_, events, 512, timeout);
  now = Clock::now();
  for (int k = 0; k < n; ++k) {
    const std::uint32_t i = static_cast<std::uint32_t>(events[k].data.u64 & 0xffffffffu);
    const std::uint32_t generation = static_cast<std::uint32_t>(events[k].data.u64 >> 32);
    Slot& s = slots_[i];
    if (s.generation != generation) continue;  // for a connection already gone
    if (s.state == State::connecting) {
      if ((events[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) connected(i, now);
    } else if (s.state == State::open) {
      pump(i, now);
    }
  }
  std::vector<std::uint32_t> again;
  again.swap(ready_);
  for (std::uint32_t i : again) {
    Slot& s = slots_[i];
    s.ready = false;
    if (s.state == State::open) pump(i, now);
  }
  fire_timers(now);
  if (now >= next_sweep_) {
    sweep_stalls(now);
    next_sweep_ = now + kSweepEvery;
  }
  connect_more(now);
}

bool Client::loop(Clock::time_point until, const Tick& tick, const std::function<bool()>& done) {
  Clock::time_point next_tick = Clock::now() + kTickEvery;
  if (next_sweep_ == Clock::time_point{}) next_sweep_ = Clock::now() + kSweepEvery;
  while (!done() && Clock::now() < until) {
    poll_once(until);
    if (Clock::now() >= next_tick) {
      if (!tick()) return false;
      next_tick = Clock::now() + kTickEvery;
    }
  }
  return true;
}

bool Client::open(Clock::time_point deadline, const Tick& tick) {
  connect_more(Clock::now());
  const std::size_t n = slots_.size();
  return loop(deadline, tick, [&] { return opened_once_ == n; }) && opened_once_ == n;
}

bool Client::run_until(Clock::time_point end, const Tick& tick) {
  return loop(end, tick, [] { return false; });
}

bool Client::drain(Clock::time_point deadline, const Tick& tick) {
  stopping_ = true;
  to_connect_.clear();
  const Clock::time_point now = Clock::now();
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    switch (s.state) {
      case State::connecting:  // a handshake under way: closed as it is
        --connecting_;
        close(s.fd);
        s.fd = -1;
        ++s.generation;
        [[fallthrough]];
      case State::down:
        s.state = State::done;
        ++done_;
        arm(i, kNever);
        break;
      case State::open:
        s.session->stop(now);
        pump(i, now);
        break;
      case State::done:
        break;
    }
  }
  const std::size_t n = slots_.size();
  const bool ok = loop(deadline, tick, [&] { return done_ == n; });
  if (done_ == n) return ok;
  const Clock::time_point late = Clock::now();
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.state != State::open) continue;
    t_.error(ErrorKind::stalled_at_end);
    t_.bytes_lost += s.session->outstanding();
    end(i, Next::failed, late);
  }
  return false;
}

void Client::forgive(Clock::time_point now) {
  for (Slot& s : slots_) {
    if (s.state == State::open) s.session->last_progress = now;
  }
}

}  // namespace weft::soak
