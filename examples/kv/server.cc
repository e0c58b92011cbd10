#include "examples/kv/server.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace weft::kv {
namespace {

using Reader = BufferedReader<net::TcpStream>;
using Writer = BufferedWriter<net::TcpStream>;

void count(ServerCounters* c, std::atomic<std::uint64_t> ServerCounters::*field) {
  if (c != nullptr) (c->*field).fetch_add(1, std::memory_order_relaxed);
}

// One connection. Its input is the reader's buffer, or, while a command
// larger than that buffer is gathered (and until what was gathered with it
// is used up), big_ from big_pos_ on.
class Connection {
 public:
  Connection(net::TcpStream stream, std::shared_ptr<Database> db, const ServerOptions& options,
             ServerCounters* counters, GracefulStop* stop)
      : stream_(std::move(stream)),
        db_(std::move(db)),
        options_(options),
        counters_(counters),
        stop_(stop),
        in_(stream_),
        out_(stream_) {}
  ~Connection() { linger(); }

  void run() {
    for (;;) {
      const std::string_view bytes = input();
      const ParseResult p = parse_command(bytes, command_, options_.limits);
      if (p.kind == ParseResult::Kind::error) {
        count(counters_, &ServerCounters::protocol_errors);
        reply_.clear();
        reply_.error(protocol_error_text(p));
        (void)out_.write(std::string_view(reply_.bytes()), writing());
        (void)flush();
        return;
      }
      if (p.kind == ParseResult::Kind::need_more) {
        // Replies to everything buffered go out together, before waiting.
        if (!flush()) return;
        const bool started = !bytes.empty();
        if (!started && stopping()) return;  // idle, and the service stops
        if (!receive(p.needed, started)) return;
        continue;
      }
      After after = After::carry_on;
      if (!command_.args.empty()) {
        count(counters_, &ServerCounters::commands);
        reply_.clear();
        after = db_->execute(command_.args, reply_);
      }
      // The arguments view the input: taken only now that they are used.
      take(p.consumed);
      if (!command_.args.empty() && !out_.write(std::string_view(reply_.bytes()), writing())) return;
      if (after == After::close || stopping()) {
        (void)flush();
        return;
      }
    }
  }

 private:
  bool stopping() const { return stop_ != nullptr && stop_->stop_begun(); }
  CancelToken* cancel_for(bool started) const {
    if (stop_ == nullptr) return nullptr;
    return started ? stop_->cutting() : stop_->stopping();
  }
  WaitOptions writing() const {
    return {.deadline = after(options_.write_timeout), .cancel = cancel_for(true)};
  }

  bool gathering() const { return big_pos_ < big_.size(); }
  std::string_view input() const {
    return gathering() ? std::string_view(big_).substr(big_pos_) : in_.view();
  }
  void take(std::size_t n) {
    if (!gathering()) return in_.consume(n);
    big_pos_ += n;
    if (big_pos_ == big_.size()) {
      big_pos_ = 0;
      big_.clear();
      if (big_.capacity() > (1u << 20)) std::string().swap(big_);  // give a large one back
    }
  }

  bool flush() {
    if (out_.buffered() == 0) return true;
    count(counters_, &ServerCounters::writes);
    return out_.flush(writing()).has_value();
  }

  // Reads more: at least one byte, and up to `needed` in all if the parser
  // knows that much is coming. False when the peer closed or a read failed.
  bool receive(std::size_t needed, bool started) {
    const WaitOptions w{.cancel = cancel_for(started)};
    const std::size_t have = input().size();
    if (!gathering() && std::max(needed, have + 1) <= in_.capacity()) {
      auto got = in_.peek(have + 1, w);
      return got.has_value() && got->size() > have;  // equal: the peer closed
    }
    if (!gathering()) {
      // The command outgrows the reader: gather it here.
      big_.assign(in_.view());
      big_pos_ = 0;
      in_.consume(in_.buffered());
    } else if (big_pos_ > 0) {
      big_.erase(0, big_pos_);
      big_pos_ = 0;
    }
    // At most 1 MiB a read: a length line alone (up to 512 MiB) must not
    // make the connection allocate what the client may never send.
    const std::size_t want = std::clamp<std::size_t>(needed > have ? needed - have : 1, Reader::kDefaultCapacity,
                                                     std::size_t{1} << 20);
    const std::size_t old = big_.size();
    big_.resize(old + want);
    auto n = in_.read(MutableBuffer(big_.data() + old, want), w);
    big_.resize(old + (n ? *n : 0));
    return n.has_value() && *n > 0;
  }

  // Closing with unread input makes the kernel send a reset, which can
  // destroy the last reply on its way: end our side, then drop what the
  // client still sends, briefly.
  void linger() {
    if (!stream_.is_open()) return;
    (void)stream_.shutdown();
    char sink[4096];
    const Deadline until = after(std::chrono::milliseconds(200));
    for (std::size_t dropped = 0; dropped < (256u << 10);) {
      auto n = stream_.read(MutableBuffer(sink, sizeof sink), {.deadline = until});
      if (!n || *n == 0) break;
      dropped += *n;
    }
  }

  net::TcpStream stream_;
  std::shared_ptr<Database> db_;
  const ServerOptions options_;  // a copy: the connection may outlive serve()'s caller
  ServerCounters* counters_;
  GracefulStop* stop_;
  Reader in_;
  Writer out_;
  Command command_;
  Reply reply_;
  std::string big_;  // a command larger than in_'s buffer, and what came after it
  std::size_t big_pos_ = 0;
};

// Tells a connection over the limit so, and closes it.
void refuse(net::TcpStream stream) {
  (void)stream.write_all(std::string_view("-ERR max number of clients reached\r\n"),
                         {.deadline = after(std::chrono::seconds(1))});
  (void)stream.shutdown();
}

}  // namespace

After Database::execute(std::span<const std::string_view> args, Reply& out) {
  std::lock_guard<Mutex> hold(mutex);
  const ServerInfo info{port, clients.load(std::memory_order_relaxed)};
  return store.execute(args, out, info);
}

void serve_connection(net::TcpStream stream, const std::shared_ptr<Database>& db, const ServerOptions& options,
                      ServerCounters* counters, GracefulStop* stop) {
  count(counters, &ServerCounters::connections);
  Connection(std::move(stream), db, options, counters, stop).run();
}

std::error_code serve(net::TcpListener& listener, const ServerOptions& options, ServerCounters* counters,
                      GracefulStop* stop) {
  auto db = std::make_shared<Database>();
  if (auto a = listener.local_address()) db->port = a->port();
  CancelToken done;
  auto sweeper = spawn([db, interval = options.sweep_interval, &done] {
    while (sleep_for(interval, {.cancel = &done})) {
      std::lock_guard<Mutex> hold(db->mutex);
      (void)db->store.sweep_expired();
    }
  }, {.name = "kv-sweep"});
  std::error_code result;
  for (;;) {
    auto conn = listener.accept({.cancel = stop != nullptr ? stop->stopping() : nullptr});
    if (!conn) {
      if (!net::TcpListener::transient(conn.error())) {
        result = conn.error();
        break;
      }
      // Out of descriptors or memory: the connections being served still
      // are; try again shortly instead of spinning.
      sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    char name[32] = "kv-conn";
    if (auto peer = conn->peer_address()) std::snprintf(name, sizeof name, "kv-conn :%u", peer->port());
    if (db->clients.load(std::memory_order_relaxed) >= options.max_clients) {
      count(counters, &ServerCounters::rejected);
      spawn([s = std::move(*conn)]() mutable { refuse(std::move(s)); }, {.name = name}).detach();
      continue;
    }
    db->clients.fetch_add(1, std::memory_order_relaxed);
    // Counted from here: a stop that begins now waits for this one too.
    GracefulStop::Work work = stop != nullptr ? stop->begin_work() : GracefulStop::Work();
    spawn([s = std::move(*conn), db, options, counters, stop, w = std::move(work)]() mutable {
      serve_connection(std::move(s), db, options, counters, stop);
      db->clients.fetch_sub(1, std::memory_order_relaxed);
      w.end();  // after the linger: the connection is gone
    }, {.name = name}).detach();
  }
  done.cancel();
  sweeper.join();
  return result;
}

}  // namespace weft::kv
