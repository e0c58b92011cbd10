#include <weft/node/loop.h>

#include <sys/socket.h>

#include <array>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include <weft/weft.h>

namespace weft::node {

struct Socket::Private {};
struct Server::Private {};

struct Socket::State {
  // Guarded by mu (the writer fiber and the loop fiber both touch them).
  std::mutex mu;
  std::deque<std::pair<std::string, Callback>> out;
  bool connected = false;
  bool writing = false;  // a writer fiber runs
  bool end_requested = false;
  bool fin_sent = false;
  // The stream: set on the loop fiber before any helper uses it.
  net::TcpStream stream;
  CancelToken connecting;  // cancels a connect in progress (destroy)
  // Loop fiber only.
  bool read_done = false;
  bool write_done = false;
  bool destroyed = false;
};

struct Server::State {
  net::TcpListener listener;
  CancelToken stop;
  bool listening = false;
};

// ---- the loop --------------------------------------------------------------------

Loop::Loop() : origin_(Clock::now()) {}

Loop::Loop(ManualClock& clock) : origin_(Clock::now()), manual_(&clock) {}

Loop::~Loop() = default;

void Loop::helper(const char* name, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(helpers_mutex_);
    ++helpers_;
  }
  spawn([this, fn = std::move(fn)] {
    fn();
    std::lock_guard<std::mutex> g(helpers_mutex_);
    if (--helpers_ == 0) helpers_idle_.set();
  }, {.name = name}).detach();
}

void Loop::wait_for_helpers() {
  for (;;) {
    {
      std::lock_guard<std::mutex> g(helpers_mutex_);
      if (helpers_ == 0) break;
      helpers_idle_.reset();
    }
    (void)helpers_idle_.wait({.scoped = false});
  }
  std::lock_guard<std::mutex> g(posted_mutex_);
  posted_.clear();
}

void Loop::close_everything() {
  auto open = std::move(open_);
  open_.clear();
  for (auto& [handle, close_now] : open) close_now();  // each holds its handle weakly
}

void Loop::update_time() {
  if (manual_ != nullptr) {
    now_ = manual_->now_ms();
    return;
  }
  now_ = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - origin_).count());
}

void Loop::drain_ticks() {
  do {
    while (!ticks_.empty()) {
      Callback cb = std::move(ticks_.front());
      ticks_.pop_front();
      cb();
    }
    while (!microtasks_.empty()) {
      Callback cb = std::move(microtasks_.front());
      microtasks_.pop_front();
      cb();
    }
  } while (!ticks_.empty());
}

void Loop::invoke(const Callback& cb) {
  if (cb) cb();
  drain_ticks();
}

bool Loop::alive() const {
  return !timers_.empty() || !live_immediates_.empty() || active_ > 0 || !closing_.empty() ||
         !pending_.empty();
}

void Loop::run(const Callback& main) {
  try {
    update_time();  // the loop's time at its start, as libuv's uv_loop_init reads it
    invoke(main);
    bool more = alive();
    if (more) {
      update_time();
      run_timers();
    }
    while (more) {
      run_pending();
      poll();
      // libuv 1.45+ runs what the poll phase's callbacks deferred (a
      // shutdown) before the check phase, up to eight rounds.
      for (int round = 0; round < 8 && !pending_.empty(); ++round) run_pending();
      run_check();
      run_closing();
      update_time();
      run_timers();
      more = alive();
    }
  } catch (...) {
    // Like an uncaught exception in Node, it ends the loop; first every
    // open handle is closed, so the helper fibers end and none outlives us.
    close_everything();
    wait_for_helpers();
    throw;
  }
  // Helper fibers finishing their last step (a cancelled read) must not
  // outlive the loop they post to.
  wait_for_helpers();
}

TimerHandle Loop::add_timer(Callback cb, long delay_ms, bool repeat) {
  // Node: a delay below 1 (or not a number) is 1. The start is the clock
  // now, read afresh (Node's getLibuvNow updates the loop's time).
  if (delay_ms < 1) delay_ms = 1;
  update_time();
  const std::uint64_t id = next_id_++;
  const TimerKey key{now_ + static_cast<std::uint64_t>(delay_ms), next_order_++};
  timers_.emplace(key, Timer{id, delay_ms, repeat, std::move(cb)});
  timer_keys_[id] = key;
  return {id};
}

TimerHandle Loop::set_timeout(Callback cb, long delay_ms) { return add_timer(std::move(cb), delay_ms, false); }
TimerHandle Loop::set_interval(Callback cb, long delay_ms) { return add_timer(std::move(cb), delay_ms, true); }

void Loop::clear_timeout(TimerHandle t) {
  if (t.id != 0 && t.id == running_timer_) running_timer_cleared_ = true;
  auto it = timer_keys_.find(t.id);
  if (it == timer_keys_.end()) return;
  timers_.erase(it->second);
  timer_keys_.erase(it);
}

ImmediateHandle Loop::set_immediate(Callback cb) {
  const std::uint64_t id = next_id_++;
  immediates_.push_back({id, std::move(cb)});
  live_immediates_.insert(id);
  return {id};
}

void Loop::clear_immediate(ImmediateHandle i) { live_immediates_.erase(i.id); }

void Loop::next_tick(Callback cb) { ticks_.push_back(std::move(cb)); }
void Loop::queue_microtask(Callback cb) { microtasks_.push_back(std::move(cb)); }

void Loop::run_timers() {
  // The phase's time is fixed: timers set by its callbacks (which read the
  // clock afresh) wait for the next phase, as in Node.
  const std::uint64_t phase_now = now_;
  while (!timers_.empty()) {
    auto it = timers_.begin();
    if (it->first.first > phase_now) break;
    Timer t = std::move(it->second);
    timers_.erase(it);
    if (!t.repeat) timer_keys_.erase(t.id);
    running_timer_ = t.id;
    running_timer_cleared_ = false;
    invoke(t.cb);
    running_timer_ = 0;
    if (t.repeat && !running_timer_cleared_) {
      // Rescheduled from the phase's time, taken before the callback.
      const TimerKey key{phase_now + static_cast<std::uint64_t>(t.delay), next_order_++};
      timer_keys_[t.id] = key;
      timers_.emplace(key, std::move(t));
    }
  }
}

void Loop::post(Callback cb) {
  {
    std::lock_guard<std::mutex> g(posted_mutex_);
    posted_.push_back(std::move(cb));
  }
  posted_event_.set();
}

void Loop::poll() {
  auto take = [this] {
    std::lock_guard<std::mutex> g(posted_mutex_);
    std::deque<Callback> got;
    got.swap(posted_);
    return got;
  };
  // libuv's timeout: none when something waits to run now, else until the
  // next timer, else for ever (until I/O).
  const bool now_work = !live_immediates_.empty() || !closing_.empty() || !pending_.empty() ||
                        (active_ == 0 && timers_.empty());
  std::deque<Callback> got = take();
  if (got.empty()) {
    if (now_work) {
      // A zero-timeout poll still collects what is ready, as libuv's
      // epoll_wait(0) does: park until the worker has polled the backend
      // once (a sleep of 0 parks and comes back after it), then yield so
      // the helper fibers that poll readied run and post first. A yield
      // alone would not poll: with nothing else runnable it just returns.
      sleep_for(Clock::duration::zero());
      yield();
    } else {
      posted_event_.reset();
      got = take();
      if (got.empty() && manual_ != nullptr && !timers_.empty()) {
        // Paused time: no wait. I/O in flight gets its turn first (a poll
        // that does not wait), then the clock jumps to the next timer.
        if (active_ > 0) {
          sleep_for(Clock::duration::zero());
          yield();
          got = take();
        }
        if (got.empty()) manual_->skip_to(timers_.begin()->first.first);
      } else if (got.empty()) {
        WaitOptions o{.scoped = false};
        if (!timers_.empty()) o.deadline = origin_ + std::chrono::milliseconds(timers_.begin()->first.first);
        (void)posted_event_.wait(o);
      }
    }
    if (got.empty()) got = take();
  }
  for (const Callback& cb : got) invoke(cb);
}

void Loop::run_check() {
  std::deque<Immediate> batch;
  batch.swap(immediates_);
  for (const Immediate& im : batch) {
    if (live_immediates_.erase(im.id) == 0) continue;  // cleared
    invoke(im.cb);
  }
}

void Loop::run_pending() {
  std::deque<Callback> batch;
  batch.swap(pending_);
  for (const Callback& cb : batch) invoke(cb);
}

void Loop::run_closing() {
  std::deque<Callback> batch;
  batch.swap(closing_);
  for (const Callback& cb : batch) invoke(cb);
}

void Loop::read_file(const std::string& path, std::function<void(std::error_code, std::string)> cb) {
  hold();
  helper("node-readfile", [this, path, cb = std::move(cb)]() mutable {
    std::error_code e;
    std::string data;
    if (auto f = fs::File::open(path)) {
      char buf[64 << 10];
      for (std::uint64_t off = 0;;) {
        auto n = f->read_at(MutableBuffer(buf, sizeof buf), off);
        if (!n) {
          e = n.error();
          break;
        }
        if (*n == 0) break;
        data.append(buf, *n);
        off += *n;
      }
    } else {
      e = f.error();
    }
    post([this, cb = std::move(cb), e, data = std::move(data)] {
      release();
      cb(e, data);
    });
  });
}

std::shared_ptr<Server> Loop::create_server(std::function<void(std::shared_ptr<Socket>)> on_connection) {
  return std::make_shared<Server>(*this, std::move(on_connection), Server::Private{});
}

std::shared_ptr<Socket> Loop::connect(std::uint16_t port, const std::string& host, Callback on_connect) {
  auto sock = std::make_shared<Socket>(*this, Socket::Private{});
  sock->track();
  CancelToken* token = &sock->s_->connecting;
  helper("node-connect", [this, sock, token, port, host, on_connect = std::move(on_connect)]() mutable {
    // A numeric address, else a name to resolve (Node's dns.lookup).
    Result<net::TcpStream> s = std::make_error_code(std::errc::invalid_argument);
    Result<net::Address> address = net::Address::parse(host, port);
    if (!address) {
      if (auto found = net::resolve(host, port); found && !found->empty()) address = found->front();
      else address = found ? Error(std::make_error_code(std::errc::host_unreachable)) : found.error();
    }
    if (address) s = net::TcpStream::connect(*address, {.cancel = token});
    else s = address.error();
    // Shared: a posted callback must be copyable, a stream is not.
    auto result = std::make_shared<Result<net::TcpStream>>(std::move(s));
    post([sock, result, on_connect = std::move(on_connect)] {
      if (sock->s_->destroyed) return;
      if (!*result) {
        sock->fail(result->error());
        return;
      }
      sock->s_->stream = std::move(**result);
      sock->connected();
      if (on_connect) on_connect();
      sock->start_reading();
    });
  });
  return sock;
}

// ---- sockets -----------------------------------------------------------------------

Socket::Socket(Loop& loop, const Private&) : loop_(loop), s_(std::make_unique<State>()) { loop_.hold(); }

void Socket::track() {
  loop_.track(this, [weak = weak_from_this()] {
    if (auto s = weak.lock()) s->destroy();
  });
}

Socket::~Socket() = default;

void Socket::connected() {
  std::lock_guard<std::mutex> g(s_->mu);
  s_->connected = true;
  flush();
}

// With s_->mu held, connected: what is queued goes to the writer fiber, which
// ends this side after it; with nothing queued or being written, a pending
// callback ends it (libuv: uv_shutdown with an empty write queue).
void Socket::flush() {
  if (s_->writing) return;  // the writer takes what is queued, and the FIN
  if (!s_->out.empty()) {
    start_writer();
  } else if (s_->end_requested && !s_->fin_sent) {
    s_->fin_sent = true;
    loop_.defer_pending([self = shared_from_this()] { self->send_fin(); });
  }
}

// Loop fiber only. shutdown(2) on a TCP socket does not wait, and libuv
// calls it directly; so does this, so the FIN leaves when Node's does (the
// backend's shutdown operation would complete only after the loop next
// parks, on io_uring a round later).
void Socket::send_fin() {
  if (s_->destroyed) return;
  (void)::shutdown(s_->stream.native_handle(), SHUT_WR);
  write_side_done();
}

void Socket::start_reading() {
  auto self = shared_from_this();
  loop_.helper("node-reader", [self] {
    std::vector<char> buf(64 << 10);
    for (;;) {
      auto n = self->s_->stream.read(MutableBuffer(buf.data(), buf.size()));
      if (!n) {
        self->loop_.post([self, e = n.error()] { self->fail(e); });
        return;
      }
      if (*n == 0) {
        self->loop_.post([self] { self->peer_ended(); });
        return;
      }
      self->loop_.post([self, data = std::string(buf.data(), *n)] {
        if (!self->s_->destroyed && self->on_data_) self->on_data_(data);
      });
    }
  });
}

void Socket::write(std::string data, Callback done) {
  if (s_->destroyed) return;
  std::lock_guard<std::mutex> g(s_->mu);
  if (s_->end_requested) {
    auto self = shared_from_this();
    loop_.next_tick([self] {
      if (self->on_error_ && !self->s_->destroyed) self->on_error_(std::make_error_code(std::errc::broken_pipe));
    });
    return;
  }
  s_->out.emplace_back(std::move(data), std::move(done));
  if (s_->connected) flush();
}

void Socket::end(std::string data) {
  if (s_->destroyed) return;
  if (!data.empty()) write(std::move(data));
  std::lock_guard<std::mutex> g(s_->mu);
  if (s_->end_requested) return;
  s_->end_requested = true;
  if (s_->connected) flush();
}

// With s_->mu held: a writer fiber sends the queue in order; if end() asked
// for the FIN, the loop sends it once the queue is out (in the poll phase,
// as libuv's shutdown after its write queue drains). The loop fiber, not
// this one, calls shutdown(2): only it closes the descriptor (destroy), so
// the number cannot be another socket's by then.
void Socket::start_writer() {
  s_->writing = true;
  auto self = shared_from_this();
  loop_.helper("node-writer", [self] {
    State& s = *self->s_;
    for (;;) {
      std::unique_lock<std::mutex> g(s.mu);
      if (s.out.empty()) {
        if (s.end_requested && !s.fin_sent) {
          s.fin_sent = true;
          self->loop_.post([self] { self->send_fin(); });
        }
        s.writing = false;
        return;
      }
      // What is queued goes out in one gathered send (up to kBatch writes),
      // as libuv writes its queue with writev.
      constexpr std::size_t kBatch = net::StreamSocket::kMaxBuffers;
      // Only the slots taken are made (a whole array of strings and
      // callbacks cost a one-write reply 5% more instructions).
      std::array<std::optional<std::pair<std::string, Callback>>, kBatch> taken;
      std::array<ConstBuffer, kBatch> pieces;
      std::size_t n = 0;
      for (; n < kBatch && !s.out.empty(); ++n) {
        taken[n].emplace(std::move(s.out.front()));
        s.out.pop_front();
        pieces[n] = ConstBuffer(taken[n]->first.data(), taken[n]->first.size());
      }
      g.unlock();
      auto r = s.stream.write_all_vectored(std::span<const ConstBuffer>(pieces.data(), n));
      if (!r) {
        self->loop_.post([self, e = r.error()] { self->fail(e); });
        g.lock();
        s.writing = false;
        return;
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (Callback& done = taken[i]->second) self->loop_.post([self, done = std::move(done)] {
          if (!self->s_->destroyed) done();
        });
      }
    }
  });
}

void Socket::write_side_done() {
  s_->write_done = true;
  maybe_close();
}

void Socket::peer_ended() {
  if (s_->destroyed) return;
  s_->read_done = true;
  if (on_end_) on_end_();
  end();  // allowHalfOpen is false: end this side too
  maybe_close();
}

void Socket::maybe_close() {
  if (s_->read_done && s_->write_done) destroy();
}

void Socket::fail(std::error_code e) {
  if (s_->destroyed) return;
  if (on_error_) on_error_(e);
  destroy();
}

void Socket::destroy() {
  if (s_->destroyed) return;
  s_->destroyed = true;
  s_->connecting.cancel();   // a connect in progress ends at once
  (void)s_->stream.close();  // ends the reader's and the writer's calls
  auto self = shared_from_this();
  loop_.untrack(this);
  // The server counts the connection out now, not at 'close': Node drops
  // _connections in _destroy, so its 'close' may come before this one's.
  if (std::shared_ptr<Server> server = std::move(server_)) server->connection_closed();
  loop_.defer_close([self] {
    Callback on_close = std::move(self->on_close_);
    // Let go of the callbacks: one that holds the socket no longer keeps it.
    self->on_data_ = nullptr;
    self->on_end_ = nullptr;
    self->on_error_ = nullptr;
    self->on_close_ = nullptr;
    if (on_close) on_close();
    self->loop_.release();
  });
}

// ---- servers -----------------------------------------------------------------------

Server::Server(Loop& loop, std::function<void(std::shared_ptr<Socket>)> on_connection, const Private&)
    : loop_(loop), on_connection_(std::move(on_connection)), s_(std::make_unique<State>()) {}

Server::~Server() = default;

void Server::listen(std::uint16_t port, const std::string& host, Callback on_listening) {
  if (s_->listening || closing_) throw std::logic_error("weft::node::Server::listen: already listening or closed");
  const net::Address address = net::Address::parse(host, port).value();  // system_error if not numeric
  s_->listener = net::TcpListener::bind(address).value();
  s_->listening = true;
  loop_.hold();
  loop_.track(this, [weak = weak_from_this()] {
    if (auto server = weak.lock()) server->close();
  });
  if (on_listening) loop_.next_tick(std::move(on_listening));
  auto self = shared_from_this();
  loop_.helper("node-acceptor", [self] {
    for (;;) {
      auto conn = self->s_->listener.accept({.cancel = &self->s_->stop});
      if (!conn) {
        if (net::TcpListener::transient(conn.error())) {
          sleep_for(std::chrono::milliseconds(10));  // out of descriptors: try again shortly
          continue;
        }
        return;  // closed (cancelled), or a failure retrying cannot mend
      }
      auto stream = std::make_shared<net::TcpStream>(std::move(*conn));
      self->loop_.post([self, stream] {
        if (self->closing_) return;  // accepted as it closed: dropped
        auto sock = std::make_shared<Socket>(self->loop_, Socket::Private{});
        sock->track();
        sock->s_->stream = std::move(*stream);
        sock->s_->connected = true;
        sock->server_ = self;
        ++self->connections_;
        if (self->on_connection_) self->on_connection_(sock);
        sock->start_reading();
      });
    }
  });
}

std::uint16_t Server::port() const { return s_->listener.local_address().value().port(); }

void Server::close(Callback on_close) {
  if (closing_) return;
  closing_ = true;
  on_close_ = std::move(on_close);
  if (s_->listening) {
    s_->stop.cancel();
    (void)s_->listener.close();
    loop_.release();
    loop_.untrack(this);
  }
  if (connections_ == 0 && on_close_) loop_.next_tick(std::move(on_close_));
}

void Server::connection_closed() {
  --connections_;
  if (closing_ && connections_ == 0 && on_close_) loop_.next_tick(std::move(on_close_));
}

}  // namespace weft::node
