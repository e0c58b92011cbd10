// The echo workload: one stream per connection, written as messages of
// random size (1 B to --max-size, spread over the powers of two), up to
// `depth` of them in flight, and read back byte for byte.
//
// A connection's plan, chosen when it opens:
//   - how long it lives (1 s to --max-life; the burst that begins after
//     that is its last), and how deep its pipeline is (1 to --max-depth):
//     messages go in bursts of 1 to `depth`, a burst's messages all written
//     without waiting for any to come back, the next burst once all are back;
//   - how it ends: a half-close (40%: shutdown(SHUT_WR) as soon as the last
//     burst is written, with its messages still on their way, then read to
//     the server's FIN; every byte must be back), a close (30%: once every
//     byte is back), or a reset (30%: SO_LINGER 0 in the middle of the last
//     burst's last message, with bytes in flight both ways; those bytes are
//     not owed);
//   - after a burst is back, an idle period (80% of the time), so that most
//     connections are quiet at any moment, as most of a server's are; and
//     read pauses (3% of the messages that come back while others are in
//     flight: the server's writes then back up); each up to --max-idle-ms.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <limits>

#include "perf/soak/session.h"

namespace weft::soak {
namespace {

constexpr std::uint64_t kNoReset = std::numeric_limits<std::uint64_t>::max();

class EchoSession final : public PacedSession {
 public:
  EchoSession(const Workload& w, std::uint64_t key, Random rnd, Tally& t, Clock::time_point now)
      : w_(w), pattern_(key), rnd_(rnd), t_(t) {
    last_progress = now;
    life_end_ =
        now + std::chrono::milliseconds(rnd_.between(1000, std::max(1000u, w_.max_life_ms)));
    depth_ =
        static_cast<unsigned>(rnd_.between(1, std::min<unsigned>(w_.max_depth, kMostInFlight)));
    const unsigned pick = static_cast<unsigned>(rnd_.between(0, 99));
    ending_ = pick < 40 ? Ending::half_close : pick < 70 ? Ending::close : Ending::reset;
  }

  bool waiting_on_server(Clock::time_point now) const override {
    if (paused_until_ != Clock::time_point{} && now < paused_until_) return false;
    return received_ < sent_ || write_blocked_ || shut_;
  }

  std::uint64_t outstanding() const override { return sent_ - received_; }

 private:
  enum class Ending { half_close, close, reset };
  static constexpr unsigned kMostInFlight = 64;

  // The write side: begins messages as the plan allows and writes them.
  void on_stop() override { reset_at_ = kNoReset; }

  Next write(Io io, Clock::time_point now, bool* moved, std::size_t* budget) override {
    if (shut_) return Next::wait;
    if (sent_ == message_end_) {  // between messages
      if (stopping_) return half_close(io);
      if (burst_left_ == 0) {
        if (last_burst_) {
          if (ending_ == Ending::half_close) return half_close(io);
          if (ending_ == Ending::reset)
            return reset_now();  // the burst was over before its reset came
          if (in_flight_ > 0) return Next::wait;
          ++t_.closes;
          return Next::finished;
        }
        if (in_flight_ > 0 || idle_until_ != Clock::time_point{}) return Next::wait;
        burst_left_ = static_cast<unsigned>(rnd_.between(1, depth_));
        last_burst_ = now >= life_end_;
      }
      --burst_left_;
      const std::size_t size = rnd_.size(1, w_.max_size);
      message_end_ = sent_ + size;
      ends_[(first_ + in_flight_) % kMostInFlight] = message_end_;
      ++in_flight_;
      if (last_burst_ && burst_left_ == 0 && ending_ == Ending::reset) {
        reset_at_ = sent_ + rnd_.between(0, size - 1);
      }
    }
    if (sent_ >= reset_at_) return reset_now();
    std::uint64_t chunk = std::min<std::uint64_t>(message_end_ - sent_, io.scratch.size());
    chunk = std::min<std::uint64_t>(chunk, std::min<std::uint64_t>(reset_at_ - sent_, *budget));
    if (chunk == 0) return Next::wait;
    const std::span<char> out = io.scratch.first(static_cast<std::size_t>(chunk));
    pattern_.fill(sent_, out);
    std::size_t n = 0;
    switch (send_some(io.fd, out, &n)) {
      case IoResult::moved:
        sent_ += n;
        t_.bytes_sent += n;
        *budget -= std::min(*budget, n);
        *moved = true;
        write_blocked_ = false;
        last_progress = now;
        return Next::wait;
      case IoResult::blocked:
        write_blocked_ = true;
        return Next::wait;
      case IoResult::reset:
        return fail(ErrorKind::reset_by_server);
      default:
        return fail(ErrorKind::socket_error);
    }
  }

  // The read side: checks what came back against the stream.
  Next read(Io io, Clock::time_point now, bool* moved, std::size_t* budget) override {
    if (paused_until_ != Clock::time_point{}) return Next::wait;
    std::size_t n = 0;
    switch (recv_some(io.fd, io.scratch, &n)) {
      case IoResult::moved:
        break;
      case IoResult::blocked:
        return Next::wait;
      case IoResult::end:
        if (shut_ && received_ == sent_) return Next::finished;
        return fail(ErrorKind::early_eof);
      case IoResult::reset:
        return fail(ErrorKind::reset_by_server);
      default:
        return fail(ErrorKind::socket_error);
    }
    *moved = true;
    *budget -= std::min(*budget, n);
    last_progress = now;
    heard = true;
    if (received_ + n > sent_) {  // more than was sent: never an echo
      t_.bytes_corrupt += received_ + n - sent_;
      t_.error(ErrorKind::corrupt);
      return Next::failed;
    }
    const std::size_t bad = pattern_.mismatches(received_, io.scratch.first(n));
    received_ += n;
    if (bad != 0) {
      t_.bytes_corrupt += bad;
      t_.error(ErrorKind::corrupt);
      return Next::failed;
    }
    t_.bytes_verified += n;
    bool completed = false;
    while (in_flight_ > 0 && ends_[first_] <= received_) {
      first_ = (first_ + 1) % kMostInFlight;
      --in_flight_;
      ++t_.messages;
      completed = true;
    }
    if (completed && !stopping_) plan_pause(now);
    return Next::wait;
  }

  void plan_pause(Clock::time_point now) {
    const auto some = [&] { return std::chrono::milliseconds(rnd_.between(1, w_.max_idle_ms)); };
    if (in_flight_ == 0 && burst_left_ == 0 && !last_burst_ && rnd_.percent(80)) {
      idle_until_ = now + some();
      ++t_.idle_periods;
    } else if (in_flight_ > 0 && rnd_.percent(3)) {
      paused_until_ = now + some();
      ++t_.read_pauses;
    }
  }

  Next half_close(Io io) {
    if (!stopping_) ++t_.half_closes;
    ::shutdown(io.fd, SHUT_WR);
    shut_ = true;
    return Next::wait;
  }

  Next reset_now() {
    ++t_.resets_caused;
    t_.bytes_discarded += sent_ - received_;
    return Next::reset;
  }

  Next fail(ErrorKind k) {
    t_.error(k);
    t_.bytes_lost += sent_ - received_;
    return Next::failed;
  }

  const Workload w_;
  const Pattern pattern_;
  Random rnd_;
  Tally& t_;
  // The stream: bytes written and read back; the end of the message being written.
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t message_end_ = 0;
  // The ends of the messages in flight, oldest at first_.
  std::array<std::uint64_t, kMostInFlight> ends_{};
  unsigned first_ = 0;
  unsigned in_flight_ = 0;
  // The plan.
  Clock::time_point life_end_{};  // the burst that begins after it is the last
  bool last_burst_ = false;
  unsigned depth_ = 1;
  unsigned burst_left_ = 0;  // messages of this burst not yet begun
  Ending ending_ = Ending::half_close;
  std::uint64_t reset_at_ = kNoReset;  // the stream offset where the planned reset comes
  bool shut_ = false;
  bool write_blocked_ = false;
};

}  // namespace

std::unique_ptr<Session> make_echo_session(const Workload& w, std::uint64_t key, Random rnd,
                                           Tally& t, Clock::time_point now) {
  return std::make_unique<EchoSession>(w, key, rnd, t, now);
}

}  // namespace weft::soak
