// The key-value store: database 0 of a redis-like server, and the commands
// that read and change it. execute() takes one command's arguments and
// appends its RESP2 reply; the replies, errors included, are those
// redis-server 7.0 gives, byte for byte (checked by tests/kv/differential.py).
//
// Commands (names case-insensitive)
//   server   PING ECHO SELECT(0 only) DBSIZE FLUSHDB FLUSHALL INFO CONFIG GET
//            COMMAND [COUNT|DOCS|INFO|LIST] QUIT SHUTDOWN BGREWRITEAOF
//   strings  GET SET[EX|PX|EXAT|PXAT|KEEPTTL|NX|XX|GET] GETDEL MGET MSET INCR DECR
//            INCRBY DECRBY APPEND STRLEN
//   keys     DEL EXISTS EXPIRE PEXPIRE [NX|XX|GT|LT] TTL PTTL PERSIST TYPE KEYS
//            SCAN [MATCH|COUNT|TYPE]
//   lists    LPUSH RPUSH LPOP RPOP [count] LLEN LRANGE LINDEX BLPOP BRPOP
//   hashes   HSET HGET HDEL HGETALL HLEN HINCRBY
//   sets     SADD SREM SMEMBERS SISMEMBER SCARD SPOP [count]
//   zsets    ZADD [NX|XX|GT|LT|CH|INCR] ZREM ZSCORE ZRANGE [REV] [WITHSCORES]
//            (index ranges) ZCARD ZPOPMIN [count]
//   pub/sub  SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH RESET
// Before a command runs: an unknown name is "ERR unknown command '<name>',
// with args beginning with: '<arg>' ..."; a wrong argument count is "ERR
// wrong number of arguments for '<name>' command" (the name in lower case).
//
// In subscribed mode (the client has a channel or pattern) only the pub/sub
// commands, PING (which then replies *2 pong <arg or "">), QUIT and RESET
// run; any other is "ERR Can't execute '<name>': only (P|S)SUBSCRIBE /
// (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
// after the name and arity checks ('config|get' for a known subcommand).
//
// Blocking. BLPOP and BRPOP with every list empty return After::block with
// the client's PopWaiter queued (blocking.h); the server parks the client
// and later asks unblock() or give_back(). Without a waiter (the store used
// alone) they reply the null array at once, as if timed out.
//
// Expiry in milliseconds (keyspace.h): lazy on every lookup, plus
// sweep_expired(), which the server calls periodically.
//
// Persistence (journal.h). With journal() enabled, every write command that
// did not fail is recorded there (for the server's append-only file), and
// while a rewrite runs, the keys a write command names are dumped first if
// the rewrite has not yet. While journal().failure() is set, write
// commands are refused with it.
//
// Thread rules: not thread-safe; one caller at a time (the server holds one
// weft::Mutex around each call, server.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "examples/kv/blocking.h"
#include "examples/kv/journal.h"
#include "examples/kv/keyspace.h"
#include "examples/kv/pubsub.h"
#include "examples/kv/resp.h"

namespace weft::kv {

struct CommandSpec;  // commands.h

// What commands report of the server they run in (INFO).
struct ServerInfo {
  std::uint16_t tcp_port = 0;
  std::uint64_t connected_clients = 0;
};

// After a command's reply: carry on, close the connection (QUIT), park the
// client (BLPOP with nothing to pop: no reply yet), or stop the server
// (SHUTDOWN: no reply, as redis-server; the server says whether it can).
enum class After : std::uint8_t { carry_on, close, block, shutdown };

// The client a command comes from, as far as commands need it (all null:
// none, the store used alone).
struct Client {
  PubSub* pubsub = nullptr;          // the server's hub
  Subscriber* subscriber = nullptr;  // the client's side of it
  PopWaiter* waiter = nullptr;       // where BLPOP/BRPOP park
};

class Store {
 public:
  // Runs one command (args[0] is its name; at least one argument) and
  // appends its reply to `out`.
  After execute(std::span<const std::string_view> args, Reply& out, const ServerInfo& info = {},
                const Client& client = {});

  // A parked client gives up (timed out, gone, the server stops): its
  // waiter leaves every queue. Nothing if it was served meanwhile.
  void unblock(PopWaiter& w) { waiters_.remove(w); }
  // A served client that can no longer reply: its value goes back to the
  // end of the list it came from (unless the key was replaced meanwhile by
  // another type) and serves the next waiter there, if any.
  void give_back(PopWaiter& w);
  // Clients parked in BLPOP/BRPOP.
  std::size_t blocked() const { return waiters_.size(); }

  // Active expiry, one round: random samples of keys with an expiry,
  // repeated while more than a quarter of a sample had expired (at most
  // `rounds` samples). Returns how many keys it deleted.
  std::size_t sweep_expired(int rounds = 16);

  std::size_t size() const { return keys_.size(); }

  Journal& journal() { return journal_; }
  Keyspace& keys() { return keys_; }

  // The store's clock, in ms since the epoch: the system clock, or for
  // tests a fixed time (0 goes back to the system clock).
  std::int64_t now() const;
  void set_time(std::int64_t ms) { fixed_time_ = ms; }

 private:
  // While a rewrite runs: dumps the keys `args` names before the command
  // changes them (journal.h).
  void before_change(const CommandSpec& spec, std::span<const std::string_view> args, std::int64_t t);

  Keyspace keys_;
  Waiters waiters_;
  Journal journal_;
  std::int64_t fixed_time_ = 0;
};

}  // namespace weft::kv
