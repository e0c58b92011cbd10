#include "examples/kv/server.h"

#include "examples/service/service.h"

#include <algorithm>
#include <chrono>
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

// The token of one wait that someone else may end: cancelled by hand (a
// push serving a parked BLPOP, a publish to an idle subscriber) or when
// `parent` (may be null: the stop's token) is.
class WaitToken {
 public:
  explicit WaitToken(CancelToken* parent) {
    if (parent != nullptr) link_.attach(*parent, token_);
  }
  CancelToken* get() { return &token_; }

 private:
  CancelToken token_;
  CancelToken::Link link_;  // destroyed first
};

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
        out_(stream_),
        subscriber_(options_.subscriber_limit, stop != nullptr ? stop->cutting() : nullptr) {}
  ~Connection() {
    end_batch();
    db_->pubsub.leave(subscriber_);  // before anything more is queued for it
    linger();
  }

  void run() {
    for (;;) {
      const std::string_view bytes = input();
      const ParseResult p = parse_command(bytes, command_, options_.limits);
      if (p.kind == ParseResult::Kind::error) {
        end_batch();
        count(counters_, &ServerCounters::protocol_errors);
        reply_.clear();
        reply_.error(protocol_error_text(p));
        (void)out_.write(std::string_view(reply_.bytes()), writing());
        (void)flush();
        return;
      }
      if (p.kind == ParseResult::Kind::need_more) {
        end_batch();
        // Replies to everything buffered go out together, before waiting.
        if (!flush()) return;
        const bool started = !bytes.empty();
        if (!started && stopping()) return;  // idle, and the service stops
        if (!receive_or_deliver(p.needed, started)) return;
        continue;
      }
      After after = After::carry_on;
      if (!command_.args.empty()) {
        count(counters_, &ServerCounters::commands);
        reply_.clear();
        if (!batch_.owns_lock()) batch_.lock();
        ++batched_;
        after = db_->execute_locked(command_.args, reply_, {&db_->pubsub, &subscriber_, &waiter_}, &log_wait_);
      }
      // The arguments view the input: taken only now that they are used.
      take(p.consumed);
      // A reply that would not fit the writer would go out at once: no lock
      // across I/O, and what it acknowledges must be durable first.
      const bool overflows = out_.buffered() + reply_.bytes().size() > out_.capacity();
      if (after != After::carry_on || overflows || stopping() || batched_ >= kBatch) end_batch();
      if (after == After::block && !park()) return;
      if (after == After::shutdown) {
        if (options_.shutdown) {
          options_.shutdown();  // the stop closes this connection with the rest
          continue;
        }
        reply_.clear();
        reply_.error("ERR Errors trying to SHUTDOWN. Check logs.");
      }
      if (log_wait_ != 0 && overflows && !logged()) return;
      if (!command_.args.empty() && !out_.write(std::string_view(reply_.bytes()), writing())) return;
      if (after == After::close || stopping()) {
        (void)flush();
        return;
      }
    }
  }

 private:
  // Commands run under the store's lock at most this many in a row (the
  // others' turn comes between batches).
  static constexpr int kBatch = 64;

  // The lock a batch of pipelined commands runs under: taken by the first,
  // kept while the next is already buffered, given up before any wait or
  // I/O (see "The store" in server.h).
  void end_batch() {
    if (batch_.owns_lock()) batch_.unlock();
    batched_ = 0;
  }

  bool stopping() const { return stop_ != nullptr && stop_->stop_begun(); }
  bool subscribed() const { return subscriber_.subscriptions() > 0; }
  CancelToken* cancel_for(bool started) const {
    if (stop_ == nullptr) return nullptr;
    return started ? stop_->cutting() : stop_->stopping();
  }
  // Writes end at the cut, or when the subscriber is dropped (its token is
  // a child of cutting()).
  WaitOptions writing() {
    return {.deadline = after(options_.write_timeout), .cancel = subscriber_.dropped()};
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
    if (subscribed()) {
      // The messages published to it since the last flush go with the replies.
      messages_.clear();
      if (!db_->pubsub.take(subscriber_, messages_)) return false;  // dropped
      if (!messages_.empty() && !out_.write(std::string_view(messages_), writing())) return false;
    }
    if (out_.buffered() == 0) return true;
    if (!logged()) return false;
    count(counters_, &ServerCounters::writes);
    return out_.flush(writing()).has_value();
  }

  // The records of the commands answered so far are durable (or there is
  // no log). False: writing the log failed, and the connection closes
  // without acknowledging them.
  bool logged() {
    if (log_wait_ == 0) return true;
    const bool ok = db_->aof->wait(log_wait_, cancel_for(true));
    log_wait_ = 0;
    return ok;
  }

  // Reads more, as receive() does; while subscribed, a message published to
  // it meanwhile ends the read, and is written out, and the read goes on.
  bool receive_or_deliver(std::size_t needed, bool started) {
    if (!subscribed()) {
      // Closed after idle_timeout (if one is set) with nothing received,
      // between commands or part-way through one, as redis-server does; a
      // subscriber is not timed out.
      const bool timed = options_.idle_timeout.count() > 0;
      return receive(needed, cancel_for(started), timed ? after(options_.idle_timeout) : kNoDeadline);
    }
    for (;;) {
      if (!flush()) return false;
      WaitToken wake(cancel_for(started));
      if (db_->pubsub.wake_with(subscriber_, wake.get())) continue;  // one came already
      const bool got = receive(needed, wake.get());
      (void)db_->pubsub.wake_with(subscriber_, nullptr);
      if (got) return true;
      // Not a publish's wake-up: the peer left, the read failed, the stop.
      if (!wake.get()->cancelled() || stopping()) return false;
    }
  }

  // Reads more: at least one byte, and up to `needed` in all if the parser
  // knows that much is coming. False when the peer closed or a read failed
  // (or `cancel` was cancelled).
  bool receive(std::size_t needed, CancelToken* cancel, Deadline deadline = kNoDeadline) {
    const WaitOptions w{.deadline = deadline, .cancel = cancel};
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
    // A read at most doubles what was gathered (and at most 1 MiB): a length
    // line alone (up to 512 MiB) must not make the connection allocate, and
    // touch, what the client may never send.
    const std::size_t old = big_.size();
    const std::size_t most = std::clamp<std::size_t>(old, Reader::kDefaultCapacity, std::size_t{1} << 20);
    const std::size_t want = std::clamp<std::size_t>(needed > have ? needed - have : 1, Reader::kDefaultCapacity, most);
    big_.resize(old + want);
    auto n = in_.read(MutableBuffer(big_.data() + old, want), w);
    big_.resize(old + (n ? *n : 0));
    return n.has_value() && *n > 0;
  }

  // BLPOP/BRPOP queued waiter_ and found nothing (see "Blocking pops" in
  // server.h): waits with the store's lock released, then fills reply_.
  // False: the connection closes without a reply.
  bool park() {
    bool gone = !flush();  // the replies before it go out now
    // Beyond ten years is no limit (and stays clear of the clock's range).
    constexpr std::int64_t kForever = std::int64_t{10} * 365 * 24 * 3600 * 1000;
    const Deadline until = waiter_.timeout_ms == 0 || waiter_.timeout_ms > kForever
                               ? kNoDeadline
                               : after(std::chrono::milliseconds(waiter_.timeout_ms));
    WaitToken wake(cancel_for(false));  // a parked client is idle: the stop ends it
    bool served = false;
    {
      std::lock_guard<Mutex> hold(db_->mutex);
      served = waiter_.served;  // a push may have come before this
      waiter_.wake = [t = wake.get()] { t->cancel(); };
    }
    while (!gone && !served) {
      const std::size_t have = in_.buffered();
      const WaitOptions w{.deadline = until, .cancel = wake.get()};
      if (have == in_.capacity()) {
        // Its buffer is full of what it sent since: wait without reading.
        (void)sleep_until(until, w);
        break;
      }
      auto got = in_.peek(have + 1, w);
      if (got && got->size() > have) continue;  // input for later: keep waiting
      if (got || (got.error() != std::errc::timed_out && got.error() != std::errc::operation_canceled)) {
        gone = true;  // the peer closed, or the read failed
      }
      break;
    }
    std::lock_guard<Mutex> hold(db_->mutex);
    waiter_.wake = nullptr;
    if (waiter_.served) {
      if (gone) {
        db_->store.give_back(waiter_);
        return false;
      }
      reply_.array(2);
      reply_.bulk(waiter_.key);
      reply_.bulk(waiter_.value);
      waiter_.served = false;
      if (db_->aof) log_wait_ = db_->store.journal().appended();  // the pop's record is in by now
      return true;
    }
    db_->store.unblock(waiter_);
    if (gone || stopping()) return false;
    reply_.null_array();  // timed out
    return true;
  }

  void linger() { service::linger(stream_); }  // the last answer is not reset away

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
  PopWaiter waiter_;         // while parked in BLPOP/BRPOP, the store points at it
  Subscriber subscriber_;    // its channels and patterns, and its outbox
  std::string messages_;     // messages taken from the outbox, being written
  std::uint64_t log_wait_ = 0;  // the log's sequence the buffered replies wait for (0: none)
  std::unique_lock<Mutex> batch_{db_->mutex, std::defer_lock};
  int batched_ = 0;
};

// Tells a connection over the limit so, and closes it.
void refuse(net::TcpStream stream) {
  (void)stream.write_all(std::string_view("-ERR max number of clients reached\r\n"),
                         {.deadline = after(std::chrono::seconds(1))});
  (void)stream.shutdown();
}

}  // namespace

After Database::execute(std::span<const std::string_view> args, Reply& out, const Client& client,
                        std::uint64_t* logged) {
  std::lock_guard<Mutex> hold(mutex);
  return execute_locked(args, out, client, logged);
}

After Database::execute_locked(std::span<const std::string_view> args, Reply& out, const Client& client,
                               std::uint64_t* logged) {
  const ServerInfo info{port, clients.load(std::memory_order_relaxed)};
  const std::uint64_t before = store.journal().appended();
  const After after = store.execute(args, out, info, client);
  if (logged != nullptr && store.journal().appended() != before) *logged = store.journal().appended();
  return after;
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
  if (options.aof.enabled) {
    db->aof = std::make_unique<AppendOnlyFile>(db->mutex, db->store, options.aof);
    auto loaded = db->aof->open();
    if (!loaded) {
      std::fprintf(stderr, "weft-kv: cannot load the append-only file: %s\n", loaded.error().message().c_str());
      return loaded.error();
    }
    if (loaded->commands > 0 || loaded->bytes > 0)
      std::fprintf(stderr, "weft-kv: %s: %llu commands replayed (%llu bytes)\n", db->aof->path().c_str(),
                   static_cast<unsigned long long>(loaded->commands),
                   static_cast<unsigned long long>(loaded->bytes));
    if (loaded->failed > 0)
      std::fprintf(stderr, "weft-kv: %s: %llu replayed commands replied an error\n", db->aof->path().c_str(),
                   static_cast<unsigned long long>(loaded->failed));
    db->aof->start();
  }
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
  if (db->aof) {
    // The connections' last commands go into the file: wait for them (the
    // stop cuts off any that outlast its grace period), then the last write.
    if (stop != nullptr && stop->stop_begun()) {
      while (db->clients.load(std::memory_order_relaxed) > 0) sleep_for(std::chrono::milliseconds(5));
    }
    db->aof->stop();
  }
  return result;
}

}  // namespace weft::kv
