// The HTTP workload, for a server with the routes of weft-http
// (examples/http/server.h): GET /ping answers 200 "pong\n", POST /echo
// answers 200 with the request's body.
//
// A connection's plan, chosen when it opens:
//   - how long it lives (1 s to --max-life; the batch that begins after
//     that is its last); each batch is 1 to --max-depth requests written
//     back to back (pipelined), 55% POST /echo with a body of 0 B to
//     --max-size (the bytes of the connection's Pattern, one body after the
//     other), the others GET /ping; the next batch begins once every answer
//     of this one is back (after an idle period, 80% of the time: most
//     connections are quiet at any moment);
//   - a read pause (3% of the answers that come while others are due);
//   - how it ends: a close after the last answer (30%), a half-close after
//     the last batch is written (25%; every answer must still come, then the
//     server's FIN), `Connection: close` on the last request (25%; the
//     answer must carry it too, then the server's FIN), or a reset in the
//     middle of one of the last batch's requests (20%).
// Every answer must be `HTTP/1.1 200`, with the Content-Length due and the
// body due, byte for byte; `Connection: close` only where asked for.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "perf/soak/http_response.h"
#include "perf/soak/session.h"

namespace weft::soak {
namespace {

constexpr std::uint64_t kNoReset = std::numeric_limits<std::uint64_t>::max();
constexpr std::string_view kPong = "pong\n";

class HttpSession final : public PacedSession {
 public:
  HttpSession(const Workload& w, std::uint64_t key, Random rnd, Tally& t, Clock::time_point now)
      : w_(w), pattern_(key), rnd_(rnd), t_(t) {
    last_progress = now;
    life_end_ =
        now + std::chrono::milliseconds(rnd_.between(1000, std::max(1000u, w_.max_life_ms)));
    const unsigned pick = static_cast<unsigned>(rnd_.between(0, 99));
    ending_ = pick < 30   ? Ending::close
              : pick < 55 ? Ending::half_close
              : pick < 80 ? Ending::server_close
                          : Ending::reset;
  }

  bool waiting_on_server(Clock::time_point now) const override {
    if (paused_until_ != Clock::time_point{} && now < paused_until_) return false;
    return due_count_ > 0 || write_blocked_ || shut_ || expect_end_;
  }

  std::uint64_t outstanding() const override {
    std::uint64_t owed = 0;
    for (unsigned i = 0; i < due_count_; ++i) owed += due(i).length;
    return owed - body_got_;
  }

 private:
  enum class Ending { close, half_close, server_close, reset };
  static constexpr unsigned kMostDue = 64;

  struct Due {  // an answer owed
    bool echo = false;
    bool close = false;         // the request asked for `Connection: close`
    std::uint64_t body_at = 0;  // echo: where its body begins in the Pattern
    std::uint64_t length = 0;   // the body's length
  };

  const Due& due(unsigned i) const { return dues_[(first_ + i) % kMostDue]; }

  // The write side: begins batches and requests as the plan allows, and
  // writes them.
  void on_stop() override {
    reset_at_ = kNoReset;
    reset_request_ = 0;
  }

  Next write(Io io, Clock::time_point now, bool* moved, std::size_t* budget) override {
    if (shut_ || expect_end_) return Next::wait;
    if (head_at_ == head_.size() && body_left_ == 0) {  // between requests
      if (stopping_) return half_close(io);
      if (batch_left_ == 0) {
        if (last_batch_ && ending_ == Ending::half_close) return half_close(io);
        if (due_count_ > 0 || asked_close_) return Next::wait;  // the batch is not all back yet
        if (last_batch_) return end();
        if (idle_until_ != Clock::time_point{}) return Next::wait;
        batch_left_ =
            static_cast<unsigned>(rnd_.between(1, std::min<unsigned>(w_.max_depth, kMostDue)));
        last_batch_ = now >= life_end_;
        if (last_batch_ && ending_ == Ending::reset) {
          reset_request_ = static_cast<unsigned>(rnd_.between(1, batch_left_));
        }
      }
      begin_request();
    }
    if (written_ >= reset_at_) {
      ++t_.resets_caused;
      t_.bytes_discarded += outstanding();
      return Next::reset;
    }
    std::span<const char> out;
    if (head_at_ < head_.size()) {
      out = std::span<const char>(head_).subspan(head_at_);
    } else {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, io.scratch.size()));
      pattern_.fill(body_at_, io.scratch.first(n));
      out = io.scratch.first(n);
    }
    const std::uint64_t to_reset = reset_at_ - written_;
    out = out.first(
        static_cast<std::size_t>(std::min<std::uint64_t>({out.size(), to_reset, *budget})));
    if (out.empty()) return Next::wait;
    std::size_t n = 0;
    switch (send_some(io.fd, out, &n)) {
      case IoResult::moved:
        break;
      case IoResult::blocked:
        write_blocked_ = true;
        return Next::wait;
      case IoResult::reset:
        return fail(ErrorKind::reset_by_server);
      default:
        return fail(ErrorKind::socket_error);
    }
    written_ += n;
    t_.bytes_sent += n;
    *budget -= std::min(*budget, n);
    *moved = true;
    write_blocked_ = false;
    last_progress = now;
    if (head_at_ < head_.size()) {
      head_at_ += n;
    } else {
      body_at_ += n;
      body_left_ -= n;
    }
    if (head_at_ == head_.size() && body_left_ == 0) --batch_left_;
    return Next::wait;
  }

  // One more request of the batch: its head in head_, its body to come
  // from the Pattern, its answer owed.
  void begin_request() {
    const bool last = last_batch_ && batch_left_ == 1;
    Due d;
    d.echo = rnd_.percent(55);
    d.close = last && ending_ == Ending::server_close;
    d.length = d.echo ? rnd_.size(0, w_.max_size) : kPong.size();
    d.body_at = body_at_;
    char text[160];
    const int n =
        d.echo
            ? std::snprintf(text, sizeof text,
                            "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: %llu\r\n%s\r\n",
                            static_cast<unsigned long long>(d.length),
                            d.close ? "Connection: close\r\n" : "")
            : std::snprintf(text, sizeof text, "GET /ping HTTP/1.1\r\nHost: soak\r\n%s\r\n",
                            d.close ? "Connection: close\r\n" : "");
    head_.assign(text, static_cast<std::size_t>(n));
    head_at_ = 0;
    body_left_ = d.echo ? d.length : 0;
    asked_close_ = d.close;
    dues_[(first_ + due_count_) % kMostDue] = d;
    ++due_count_;
    if (reset_request_ != 0 && --reset_request_ == 0) {
      reset_at_ = written_ + rnd_.between(0, head_.size() + body_left_ - 1);
    }
  }

  // The last batch is all back: a close, or (never reached: the reset
  // falls inside the batch) a reset.
  Next end() {
    if (ending_ == Ending::reset) {
      ++t_.resets_caused;
      return Next::reset;
    }
    ++t_.closes;
    return Next::finished;
  }

  // No more requests on this connection; the answers due still come, then
  // the server's FIN.
  Next half_close(Io io) {
    if (!stopping_) ++t_.half_closes;
    ::shutdown(io.fd, SHUT_WR);
    shut_ = true;
    return Next::wait;
  }

  // The read side: answers, checked against what is due.
  Next read(Io io, Clock::time_point now, bool* moved, std::size_t* budget) override {
    if (paused_until_ != Clock::time_point{}) return Next::wait;
    std::size_t n = 0;
    switch (recv_some(io.fd, io.scratch, &n)) {
      case IoResult::moved:
        break;
      case IoResult::blocked:
        return Next::wait;
      case IoResult::end:
        if (due_count_ == 0 && (shut_ || expect_end_)) {
          if (expect_end_) ++t_.server_closes;
          return Next::finished;
        }
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
    std::span<const char> in = io.scratch.first(n);
    while (!in.empty()) {
      if (due_count_ == 0 || expect_end_) return bad(ErrorKind::bad_response);
      if (!in_body_) {
        const ResponseHead::Step step = head_reader_.feed(&in);
        if (step == ResponseHead::Step::more) continue;
        if (step == ResponseHead::Step::bad) return bad(ErrorKind::bad_response);
        const Due& d = due(0);
        if (head_reader_.status != 200 ||
            head_reader_.content_length != static_cast<long long>(d.length)) {
          return bad(ErrorKind::bad_response);
        }
        if (head_reader_.close && !d.close) return bad(ErrorKind::unexpected_close);
        if (!head_reader_.close && d.close) return bad(ErrorKind::bad_response);
        in_body_ = true;
        body_got_ = 0;
      }
      const Due& d = due(0);
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), d.length - body_got_));
      const std::span<const char> part = in.first(take);
      std::size_t wrong = 0;
      if (d.echo) {
        wrong = pattern_.mismatches(d.body_at + body_got_, part);
      } else {
        for (std::size_t i = 0; i < take; ++i) wrong += part[i] != kPong[body_got_ + i];
      }
      if (wrong != 0) {
        t_.bytes_corrupt += wrong;
        t_.error(ErrorKind::corrupt);
        return Next::failed;
      }
      t_.bytes_verified += take;
      body_got_ += take;
      in = in.subspan(take);
      if (body_got_ == d.length) answered(d, now);
    }
    return Next::wait;
  }

  void answered(const Due& d, Clock::time_point now) {
    ++t_.requests;
    if (!d.echo) ++t_.pings;
    if (d.close) expect_end_ = true;
    first_ = (first_ + 1) % kMostDue;
    --due_count_;
    in_body_ = false;
    body_got_ = 0;
    head_reader_ = ResponseHead();
    if (stopping_) return;
    const auto some = [&] { return std::chrono::milliseconds(rnd_.between(1, w_.max_idle_ms)); };
    if (due_count_ == 0 && batch_left_ == 0 && !last_batch_ && rnd_.percent(80)) {
      idle_until_ = now + some();
      ++t_.idle_periods;
    } else if (due_count_ > 0 && rnd_.percent(3)) {
      paused_until_ = now + some();
      ++t_.read_pauses;
    }
  }

  Next bad(ErrorKind k) {
    t_.error(k);
    return Next::failed;
  }

  Next fail(ErrorKind k) {
    t_.error(k);
    t_.bytes_lost += outstanding();
    return Next::failed;
  }

  const Workload w_;
  const Pattern pattern_;
  Random rnd_;
  Tally& t_;
  // The request being written: its head, then its body from the Pattern.
  std::string head_;
  std::size_t head_at_ = 0;
  std::uint64_t body_at_ = 0;  // the Pattern offset of the next body byte
  std::uint64_t body_left_ = 0;
  std::uint64_t written_ = 0;  // request bytes written on this connection
  // The answers owed, oldest at first_, and the one being read.
  std::array<Due, kMostDue> dues_{};
  unsigned first_ = 0;
  unsigned due_count_ = 0;
  ResponseHead head_reader_;
  bool in_body_ = false;
  std::uint64_t body_got_ = 0;
  // The plan.
  Clock::time_point life_end_{};  // the batch that begins after it is the last
  bool last_batch_ = false;
  unsigned batch_left_ = 0;     // requests of this batch not yet written in full
  unsigned reset_request_ = 0;  // counts down to the request the reset falls in (0: none)
  std::uint64_t reset_at_ = kNoReset;
  Ending ending_ = Ending::close;
  bool asked_close_ = false;  // the last request written asked for `Connection: close`
  bool expect_end_ = false;   // ... and its answer came: only the server's FIN may follow
  bool shut_ = false;
  bool write_blocked_ = false;
};

}  // namespace

std::unique_ptr<Session> make_http_session(const Workload& w, std::uint64_t key, Random rnd,
                                           Tally& t, Clock::time_point now) {
  return std::make_unique<HttpSession>(w, key, rnd, t, now);
}

}  // namespace weft::soak
