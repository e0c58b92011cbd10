// weft-soak --self-test: the checker is checked. A soak that cannot see a
// wrong byte would pass every server, so each kind of fault is put in on
// purpose and must be caught:
//   1. Pattern: a flipped, moved or foreign byte does not match.
//   2. ResponseHead: answers split anywhere parse the same; bad ones are bad.
//   3. The real sessions (session.h) against a fake peer in this process,
//      over a socketpair, many connections' plans each: a faithful peer
//      gives no error and every session ends as planned; a peer that flips
//      a byte, drops bytes, adds one, closes early, or (http) answers with
//      another status, length or `Connection: close`, makes every session
//      that met the fault fail with the right error, never finish.
// Exits 0 if every check held, 1 if not, one line per check.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "perf/soak/http_response.h"
#include "perf/soak/options.h"
#include "perf/soak/pattern.h"
#include "perf/soak/session.h"
#include "perf/soak/tally.h"

namespace weft::soak {
namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

void check_pattern() {
  const Pattern p(stream_key(7, 3, 1));
  std::vector<char> a(1000), b(1000);
  p.fill(12345, a);
  expect(p.mismatches(12345, a) == 0, "pattern: the bytes made match themselves");
  for (std::size_t split = 1; split < 20; ++split) {  // made in two pieces, at any offset
    p.fill(12345, std::span<char>(b).first(split));
    p.fill(12345 + split, std::span<char>(b).subspan(split));
    if (a != b) {
      expect(false, "pattern: made in pieces, split at " + std::to_string(split));
      return;
    }
  }
  expect(true, "pattern: bytes made in pieces are the same bytes");
  b = a;
  b[500] = static_cast<char>(b[500] ^ 0x10);
  expect(p.mismatches(12345, b) == 1, "pattern: one flipped byte is one mismatch");
  expect(p.mismatches(12346, a) > 900, "pattern: bytes one place off do not match");
  expect(Pattern(stream_key(7, 3, 2)).mismatches(12345, a) > 900,
         "pattern: another connection's bytes do not match");
}

void check_response_head() {
  const std::string text =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-type: text/plain\r\nCONNECTION: "
      "Close\r\n\r\npong\n";
  bool all_same = true;
  for (std::size_t split = 0; split <= text.size(); ++split) {
    ResponseHead h;
    std::span<const char> one(text.data(), split), two(text.data() + split, text.size() - split);
    ResponseHead::Step step = h.feed(&one);
    std::size_t rest = one.size() + two.size();
    if (step == ResponseHead::Step::more) {
      step = h.feed(&two);
      rest = two.size();
    }
    all_same = all_same && step == ResponseHead::Step::done && h.status == 200 &&
               h.content_length == 5 && h.close && rest == 5;
  }
  expect(all_same, "response head: split anywhere, the same status, length, close and body");
  const auto parse = [](const std::string& t) {
    ResponseHead h;
    std::span<const char> in(t.data(), t.size());
    return h.feed(&in);
  };
  expect(parse("HTTP/1.0 200 OK\r\n\r\n") == ResponseHead::Step::bad,
         "response head: HTTP/1.0 is bad");
  expect(parse("HTTP/1.1 2x0 OK\r\n\r\n") == ResponseHead::Step::bad,
         "response head: a bad status is bad");
  expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n") ==
             ResponseHead::Step::bad,
         "response head: two lengths are bad");
  expect(parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n") == ResponseHead::Step::bad,
         "response head: a field without a colon is bad");
  expect(
      parse(std::string("HTTP/1.1 200 OK\r\n") + std::string(9000, 'x')) == ResponseHead::Step::bad,
      "response head: an endless head is bad");
}

// What a fake peer does wrong, once per connection.
enum class Fault { none, flip, drop, extra, close_early, status, length, close_unasked };

const char* fault_name(Fault f) {
  static const char* names[] = {"none",        "flip",   "drop",   "extra",
                                "close_early", "status", "length", "close_unasked"};
  return names[static_cast<int>(f)];
}

// A peer: moves what it can, as the server would, and puts its fault in.
class Peer {
 public:
  Peer(int fd, Fault fault, std::uint64_t at) : fd_(fd), fault_(fault), fault_at_(at) {}
  virtual ~Peer() {
    if (fd_ >= 0) close(fd_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // Reads and writes what it can; true if a byte moved (or it closed).
  bool step() {
    if (fd_ < 0) return false;
    bool moved = false;
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        moved = true;
        take(buf, static_cast<std::size_t>(n));
        if (fd_ < 0) return true;
        continue;
      }
      if (n == 0 && !eof_) {
        eof_ = true;
        moved = true;
      }
      break;
    }
    while (!out_.empty()) {
      const ssize_t n = send(fd_, out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) break;
      out_.erase(0, static_cast<std::size_t>(n));
      moved = true;
    }
    if (out_.empty() && fault_pending_) {
      delivered = true;
      fault_pending_ = false;
    }
    if (out_.empty() && (eof_ || closing_) && !shut_) {
      shutdown(fd_, SHUT_WR);
      shut_ = true;
      moved = true;
    }
    return moved;
  }
  bool delivered = false;  // the fault reached the client

 protected:
  virtual void take(const char* data, std::size_t n) = 0;
  void close_now() {
    close(fd_);
    fd_ = -1;
    delivered = true;
  }
  int fd_;
  const Fault fault_;
  std::uint64_t
      fault_at_;  // where the fault goes (echo: a stream offset; http: an answer's number)
  std::string out_;
  bool fault_pending_ = false;  // delivered once out_ is written
  bool eof_ = false;
  bool closing_ = false;  // shut its side once out_ is written
  bool shut_ = false;
};

// Echoes, with the fault at stream offset fault_at_.
class EchoPeer final : public Peer {
 public:
  using Peer::Peer;

 private:
  void take(const char* data, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i, ++offset_) {
      char c = data[i];
      if (offset_ == fault_at_) {
        switch (fault_) {
          case Fault::flip:
            c = static_cast<char>(c ^ 0x01);
            fault_pending_ = true;
            break;
          case Fault::drop:
            fault_pending_ = true;
            continue;
          case Fault::extra:
            out_.push_back('x');
            fault_pending_ = true;
            break;
          case Fault::close_early:
            return close_now();
          default:
            break;
        }
      }
      out_.push_back(c);
    }
  }
  std::uint64_t offset_ = 0;
};

// Answers GET /ping and POST /echo as weft-http does, with the fault in
// answer number fault_at_ (or the next one that can carry it).
class HttpPeer final : public Peer {
 public:
  using Peer::Peer;

 private:
  void take(const char* data, std::size_t n) override {
    in_.append(data, n);
    for (;;) {
      const std::size_t end = in_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      const std::string head = in_.substr(0, end + 4);
      std::size_t length = 0;
      if (const std::size_t at = head.find("Content-Length: "); at != std::string::npos) {
        length = std::strtoul(head.c_str() + at + 16, nullptr, 10);
      }
      if (in_.size() < head.size() + length) return;
      const bool ping = head.rfind("GET /ping ", 0) == 0;
      std::string body = ping ? std::string("pong\n") : in_.substr(head.size(), length);
      const bool close = head.find("Connection: close\r\n") != std::string::npos;
      in_.erase(0, head.size() + length);
      answer(std::move(body), close);
      if (close || fd_ < 0) return;
    }
  }

  void answer(std::string body, bool close) {
    int status = 200;
    std::size_t length = body.size();
    bool say_close = close;
    if (answers_++ == fault_at_) {
      switch (fault_) {
        case Fault::flip:
          if (body.empty()) {
            ++fault_at_;  // nothing to flip: the next answer
            break;
          }
          body[body.size() / 2] = static_cast<char>(body[body.size() / 2] ^ 0x01);
          fault_pending_ = true;
          break;
        case Fault::status:
          status = 500;
          fault_pending_ = true;
          break;
        case Fault::length:
          length += 1;
          fault_pending_ = true;
          break;
        case Fault::close_unasked:
          if (close) {
            ++fault_at_;  // asked for already: the next answer
            break;
          }
          say_close = true;
          fault_pending_ = true;
          break;
        case Fault::close_early:
          return close_now();
        default:
          break;
      }
    }
    char head[160];
    const int n = std::snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n",
                                status, length, say_close ? "Connection: close\r\n" : "");
    out_.append(head, static_cast<std::size_t>(n));
    out_ += body;
    if (say_close) closing_ = true;
  }

  std::string in_;
  std::uint64_t answers_ = 0;
};

struct Outcome {
  Next end = Next::wait;  // wait: it never ended
  bool delivered = false;
};

// One session against one peer, in simulated time (an idle period or a
// read pause is skipped over at once). A session owed bytes while nothing
// moves on either side is stalled, as the client's sweep would find it.
Outcome play(Protocol protocol, std::uint32_t slot, Fault fault, Tally& t) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return {};
  Random choose(mix(slot) ^ 0xfa017);
  const std::uint64_t at =
      protocol == Protocol::echo ? choose.between(0, 2000) : choose.between(0, 3);
  std::unique_ptr<Peer> peer;
  if (protocol == Protocol::echo) {
    peer = std::make_unique<EchoPeer>(fds[1], fault, at);
  } else {
    peer = std::make_unique<HttpPeer>(fds[1], fault, at);
  }
  Workload w;
  w.max_size = 6000;
  w.max_depth = 4;
  w.max_idle_ms = 50;
  w.max_life_ms = 3000;
  const std::uint64_t key = stream_key(99, slot, 0);
  Clock::time_point now = Clock::now();
  auto session = protocol == Protocol::echo ? make_echo_session(w, key, Random(key ^ 1), t, now)
                                            : make_http_session(w, key, Random(key ^ 1), t, now);
  std::vector<char> scratch(16 << 10);
  Outcome out;
  int still = 0;  // rounds in a row in which nothing moved
  for (int round = 0; round < 200'000 && out.end == Next::wait; ++round) {
    const std::uint64_t owed = session->outstanding();
    const std::uint64_t verified = t.bytes_verified, sent = t.bytes_sent;
    const Next n = session->pump(Io{fds[0], scratch}, now);
    if (n != Next::wait && n != Next::again) {
      out.end = n;
      break;
    }
    const bool peer_moved = peer->step();
    const bool moved = peer_moved || owed != session->outstanding() ||
                       verified != t.bytes_verified || sent != t.bytes_sent;
    const Clock::time_point wake = session->wake_at();
    if (wake != kNever && wake > now) {
      now = wake;
      still = 0;
    } else {
      still = moved ? 0 : still + 1;
    }
    if (still > 100 && session->waiting_on_server(now)) {
      t.error(ErrorKind::stalled);
      t.bytes_lost += session->outstanding();
      out.end = Next::failed;
    }
  }
  out.delivered = peer->delivered;
  close(fds[0]);
  return out;
}

// Many sessions against peers with `fault`: what must and must not happen.
void check_sessions(Protocol protocol, Fault fault, std::initializer_list<ErrorKind> allowed = {}) {
  const char* proto = protocol == Protocol::echo ? "echo" : "http";
  Tally t;
  int met = 0, caught = 0, finished_despite = 0, hung = 0, ended_clean = 0;
  const int n = 300;
  for (int slot = 0; slot < n; ++slot) {
    Tally one;
    const Outcome o = play(protocol, static_cast<std::uint32_t>(slot), fault, one);
    if (o.end == Next::wait) ++hung;
    if (o.delivered) {
      ++met;
      if (o.end == Next::finished) ++finished_despite;
      if (o.end == Next::failed) ++caught;
    } else if (o.end == Next::finished || o.end == Next::reset) {
      ++ended_clean;
    }
    for (std::size_t k = 0; k < t.errors.size(); ++k) t.errors[k] += one.errors[k];
    t.bytes_corrupt += one.bytes_corrupt;
    t.bytes_lost += one.bytes_lost;
    t.bytes_verified += one.bytes_verified;
  }
  const std::string name = std::string(proto) + " sessions, peer fault " + fault_name(fault);
  expect(hung == 0, name + ": every session ended (" + std::to_string(hung) + " did not)");
  if (fault == Fault::none) {
    expect(t.errors_total() == 0 && t.bytes_lost == 0 && t.bytes_corrupt == 0,
           name + ": no error, nothing lost or corrupt (" + std::to_string(t.errors_total()) +
               " errors)");
    expect(ended_clean == n,
           name + ": every session ended as planned (" + std::to_string(ended_clean) + ")");
    expect(t.bytes_verified > 0, name + ": bytes were verified");
    return;
  }
  std::uint64_t of_kind = 0;
  std::string kinds;
  for (ErrorKind k : allowed) {
    of_kind += t.errors[static_cast<std::size_t>(k)];
    kinds += std::string(kinds.empty() ? "" : "/") + error_name(k);
  }
  expect(met > n / 4, name + ": the fault met many sessions (" + std::to_string(met) + " of " +
                          std::to_string(n) + ")");
  expect(finished_despite == 0, name + ": no session that met it finished as if all was well (" +
                                    std::to_string(finished_despite) + " did)");
  expect(caught > 0 && of_kind >= static_cast<std::uint64_t>(caught) && of_kind == t.errors_total(),
         name + ": caught as " + kinds + " (" + std::to_string(caught) + " sessions failed; " +
             std::to_string(of_kind) + " such errors, " + std::to_string(t.errors_total()) +
             " in all)");
  const ErrorKind first = *allowed.begin();
  if (first == ErrorKind::corrupt) {
    expect(t.bytes_corrupt > 0,
           name + ": corrupt bytes counted (" + std::to_string(t.bytes_corrupt) + ")");
  }
  if (first == ErrorKind::early_eof) {
    expect(t.bytes_lost > 0, name + ": lost bytes counted (" + std::to_string(t.bytes_lost) + ")");
  }
}

}  // namespace

int self_test() {
  check_pattern();
  check_response_head();
  using K = ErrorKind;
  check_sessions(Protocol::echo, Fault::none);
  check_sessions(Protocol::echo, Fault::flip, {K::corrupt});
  // A dropped byte moves the rest up; the very last one is missed at the end.
  check_sessions(Protocol::echo, Fault::drop, {K::corrupt, K::early_eof, K::stalled});
  check_sessions(Protocol::echo, Fault::extra, {K::corrupt});
  check_sessions(Protocol::echo, Fault::close_early, {K::early_eof, K::reset_by_server});
  check_sessions(Protocol::http, Fault::none);
  check_sessions(Protocol::http, Fault::flip, {K::corrupt});
  check_sessions(Protocol::http, Fault::status, {K::bad_response});
  check_sessions(Protocol::http, Fault::length, {K::bad_response});
  check_sessions(Protocol::http, Fault::close_unasked, {K::unexpected_close});
  check_sessions(Protocol::http, Fault::close_early, {K::early_eof, K::reset_by_server});
  std::printf("self_test_failures=%d\nverdict=%s\n", failures, failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}

}  // namespace weft::soak
