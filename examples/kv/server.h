// The key-value example service: a redis-protocol (RESP2) server, a fiber
// per connection, the commands of store.h.
//
// Connections. Each has a BufferedReader and a BufferedWriter. Every
// complete command already buffered is parsed (resp.h) and run, its reply
// appended to the writer; the writer is flushed only when no complete
// command is left, so a pipeline of N commands that arrived together is
// answered in one write (redis-benchmark -P 16 gets its 16 replies in one
// send). A command larger than the reader's buffer is gathered in a string
// of the connection's own, up to Limits::max_bulk per argument. A protocol
// error gets its error reply and the connection closes; QUIT gets +OK and
// closes; other connections never notice either. Beyond
// ServerOptions::max_clients connections, a new one is told "ERR max number
// of clients reached" and closed. A client that sends nothing for
// ServerOptions::idle_timeout, between commands or part-way through one, is
// closed (none by default, as redis; a subscriber or a client parked in
// BLPOP is not timed out, as in redis).
//
// The store. One Store for all the connections of a serve(), behind one
// weft::Mutex, never held across I/O or a wait (the replies are built in
// memory, then written). A connection takes it once for a batch of
// pipelined commands: held from the first while the next is already
// buffered, up to 64 in a row, and given up before the batch's replies
// would overflow its writer, before a BLPOP parks, at QUIT and at the stop.
// Taking it per command made every command of a -P 16 pipeline a chance to
// collide, and with two workers and 1000 clients it became a convoy (one
// park per command; perf/RESULTS.md, "weft-kv against redis-server"). One
// store rather than shards, by measurement on this 2-core machine: two
// independent one-worker processes (sharding's upper bound, with nothing
// between the shards) served no more than one two-worker process.
//
// Blocking pops (blocking.h). A BLPOP or BRPOP with nothing to pop queues
// the connection's PopWaiter under the store's lock and parks its fiber
// with the lock released: the replies before it are flushed, then the
// fiber waits in a read of its socket (input that arrives meanwhile is kept
// for after; the peer closing is seen at once) that ends at the command's
// timeout, when the stop begins, or when a push serves it (the push cancels
// the read's token). Then, under the lock again: served, it replies [key,
// value] (or, if its peer left, gives the value back, so the next waiter or
// the list gets it); not served, it leaves the queues and replies the null
// array (timeout) or closes without a reply (peer gone, stop). Commands
// pipelined after the BLPOP wait for it, as in redis-server.
//
// Pub/sub (pubsub.h). A connection's Subscriber lives as long as it does.
// While it has subscriptions its fiber, idle, waits in a read that a
// publish to it cancels (the same mechanism as a parked BLPOP): it takes
// the messages from its outbox, writes them with its replies, and reads
// again. The fiber stays the socket's only writer, so replies and messages
// never interleave mid-reply. A subscriber that does not read its socket
// makes nobody wait: PUBLISH only appends to its outbox, and once that
// would pass ServerOptions::subscriber_limit bytes (1 MiB by default, the
// counterpart of redis-server's client-output-buffer-limit pubsub) the
// subscriber is dropped: it gets nothing more, its pending write is
// cancelled and the connection closes.
//
// Persistence (aof.h). With ServerOptions::aof enabled, serve() replays the
// file before it accepts, and every write command is recorded; a connection
// holds the replies of a batch that ran write commands until the file has
// them as durably as appendfsync says (the replies are in its writer
// meanwhile; one that would overflow it waits first), so a reply a client
// has seen is never lost to a crash the policy covers. A client served by a
// push while parked in BLPOP waits the same way for the pop's record.
//
// Expiry. Besides the lazy expiry of every lookup, a fiber of serve()
// sweeps a sample of the keys with an expiry every
// ServerOptions::sweep_interval (store.h).
//
// Stopping. serve() with a GracefulStop (sync/graceful_stop.h): once the
// stop begins, accepting ends and a connection with nothing buffered
// closes; one with a command under way finishes it, answers, and closes.
// A parked BLPOP and an idle subscriber count as idle: they close at once.
// Each connection is one piece of work until it has closed. After the
// grace period, reads and writes still under way end.
//
// Thread rules: serve() and serve_connection() run on fibers; with several
// workers, connections are spread over them like any fiber, and the store's
// mutex serializes their commands.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <weft/weft.h>

#include "examples/kv/aof.h"
#include "examples/kv/pubsub.h"
#include "examples/kv/resp.h"
#include "examples/kv/store.h"

namespace weft::kv {

struct ServerOptions {
  Limits limits;
  std::size_t max_clients = 10'000;
  std::chrono::milliseconds write_timeout{30'000};  // a client that does not read is dropped
  // A client idle this long between commands is closed (redis's `timeout`);
  // zero, the default as in redis, never. Subscribers and clients blocked
  // in BLPOP/BRPOP are not idle.
  std::chrono::milliseconds idle_timeout{0};
  std::chrono::milliseconds sweep_interval{100};
  std::size_t subscriber_limit = 1u << 20;  // bytes a subscriber's outbox may hold
  AofOptions aof;  // the append-only file (off by default, as in redis)
  // SHUTDOWN asks this to stop the server (weft-kv: as SIGTERM does); unset,
  // SHUTDOWN is refused ("ERR Errors trying to SHUTDOWN. Check logs.").
  std::function<void()> shutdown;
};

// What a server did, for its owner (relaxed counters, any thread).
struct ServerCounters {
  std::atomic<std::uint64_t> connections{0};  // accepted and served
  std::atomic<std::uint64_t> rejected{0};     // over max_clients
  std::atomic<std::uint64_t> commands{0};     // run (answered or not)
  std::atomic<std::uint64_t> writes{0};       // flushes that sent replies
  std::atomic<std::uint64_t> protocol_errors{0};
};

// The store of one serve(), shared by its connections (and its sweeper),
// and its pub/sub hub (which has a lock of its own, taken after mutex when
// both are).
struct Database {
  Mutex mutex;
  Store store;  // guarded by mutex
  PubSub pubsub;
  std::atomic<std::uint64_t> clients{0};
  std::uint16_t port = 0;  // for INFO
  std::unique_ptr<AppendOnlyFile> aof;  // when persistence is on

  // Runs one command under the mutex, for `client` (a BLPOP may queue its
  // waiter and return After::block). A command the journal recorded sets
  // *logged to the sequence its reply must wait for (AppendOnlyFile::wait).
  After execute(std::span<const std::string_view> args, Reply& out, const Client& client = {},
                std::uint64_t* logged = nullptr);
  // The same, for a caller that holds mutex.
  After execute_locked(std::span<const std::string_view> args, Reply& out, const Client& client = {},
                       std::uint64_t* logged = nullptr);
};

// Serves one accepted connection on `db` until it closes or fails (or
// `stop`, if given, says so; see "Stopping").
void serve_connection(net::TcpStream stream, const std::shared_ptr<Database>& db, const ServerOptions& options,
                      ServerCounters* counters = nullptr, GracefulStop* stop = nullptr);

// Accepts on `listener` until it is closed or the stop begins, a detached
// fiber per connection, all on one new Database. Returns the accept error
// that ended it (operation_canceled for a stop), or the append-only file's
// error if it cannot be loaded (said on stderr; nothing was accepted).
// With persistence on, after a stop it waits for the connections to end,
// then writes and syncs the file's last records.
std::error_code serve(net::TcpListener& listener, const ServerOptions& options,
                      ServerCounters* counters = nullptr, GracefulStop* stop = nullptr);

}  // namespace weft::kv
