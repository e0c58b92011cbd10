// The command table and what a command's code sees (source-side, for
// store.cc and the commands_*.cc files that implement the commands).
//
// A Handler runs after the store checked the name and the argument count
// (CommandSpec::arity: N exactly N arguments with the name, -N at least N,
// as redis counts them); it replies exactly once through call.out, and
// reads the time once, as call.now, so that one command sees one instant.
// A handler that pushes to a list marks its key ready (call.waiters), so
// that clients parked on it are served once it has replied (blocking.h).
// A kWrite command that replied anything but an error is recorded in the
// journal by the store, after the handler (or what it put in logged_as).
//
// Thread rules: as for the store (store.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "examples/kv/journal.h"
#include "examples/kv/keyspace.h"
#include "examples/kv/resp.h"
#include "examples/kv/store.h"

namespace weft::kv {

struct Call {
  std::string_view name;  // lower case, as error messages print it ("get")
  Keyspace& keys;
  std::span<const std::string_view> args;
  Reply& out;
  const ServerInfo& info;
  std::int64_t now;
  Waiters& waiters;
  Journal& journal;
  const Client& client;
  After after = After::carry_on;
  // A write command whose effect is not a function of the store and the
  // time (SPOP's random choice) says what the log records instead; empty
  // with logged_as_set: nothing (journal.h).
  bool logged_as_set = false;
  std::vector<std::string> logged_as;

  std::size_t argc() const { return args.size(); }
  std::string_view arg(std::size_t i) const { return args[i]; }

  // Errors every command may give, in redis-server's words.
  void wrong_type() { out.error("WRONGTYPE Operation against a key holding the wrong kind of value"); }
  void syntax_error() { out.error("ERR syntax error"); }
  void not_integer() { out.error("ERR value is not an integer or out of range"); }
  void not_float() { out.error("ERR value is not a valid float"); }
  void wrong_arity(std::string_view full_name);
  // An integer argument, or (false) the error already replied.
  bool integer_arg(std::size_t i, std::int64_t* value);
  // A count that must be 0 or more ("value is out of range, must be positive").
  bool count_arg(std::size_t i, std::int64_t* value);

  // The live entry of args[i] if it has type `t`. Null with *wrong set when
  // it has another type (the caller replies wrong_type()).
  Entry* lookup(std::size_t i, Type t, bool* wrong);
};

using Handler = void (*)(Call&);

// CommandSpec::flags.
constexpr std::uint8_t kSubscribedOk = 1;  // runs in subscribed mode too
constexpr std::uint8_t kWrite = 2;         // may change the store: logged (journal.h)

struct CommandSpec {
  std::string_view name;  // lower case
  int arity;
  Handler handler;
  int first_key, last_key, step;  // COMMAND INFO's key positions (also the keys a write changes)
  std::uint8_t flags = 0;
};

// Every command, for dispatch and COMMAND.
std::span<const CommandSpec> command_table();

// The handlers, by group.
void cmd_ping(Call&);
void cmd_echo(Call&);
void cmd_select(Call&);
void cmd_dbsize(Call&);
void cmd_flushdb(Call&);
void cmd_info(Call&);
void cmd_config(Call&);
void cmd_command(Call&);
void cmd_quit(Call&);
void cmd_bgrewriteaof(Call&);
void cmd_shutdown(Call&);

void cmd_get(Call&);
void cmd_set(Call&);
void cmd_getdel(Call&);
void cmd_mget(Call&);
void cmd_mset(Call&);
void cmd_incr(Call&);
void cmd_decr(Call&);
void cmd_incrby(Call&);
void cmd_decrby(Call&);
void cmd_append(Call&);
void cmd_strlen(Call&);

void cmd_del(Call&);
void cmd_exists(Call&);
void cmd_expire(Call&);
void cmd_pexpire(Call&);
void cmd_expireat(Call&);
void cmd_pexpireat(Call&);
void cmd_ttl(Call&);
void cmd_pttl(Call&);
void cmd_persist(Call&);
void cmd_type(Call&);
void cmd_keys(Call&);
void cmd_scan(Call&);

void cmd_lpush(Call&);
void cmd_rpush(Call&);
void cmd_lpop(Call&);
void cmd_rpop(Call&);
void cmd_llen(Call&);
void cmd_lrange(Call&);
void cmd_lindex(Call&);
void cmd_blpop(Call&);
void cmd_brpop(Call&);

void cmd_hset(Call&);
void cmd_hget(Call&);
void cmd_hdel(Call&);
void cmd_hgetall(Call&);
void cmd_hlen(Call&);
void cmd_hincrby(Call&);

void cmd_sadd(Call&);
void cmd_srem(Call&);
void cmd_smembers(Call&);
void cmd_sismember(Call&);
void cmd_scard(Call&);
void cmd_spop(Call&);

void cmd_zadd(Call&);
void cmd_zrem(Call&);
void cmd_zscore(Call&);
void cmd_zrange(Call&);
void cmd_zcard(Call&);
void cmd_zpopmin(Call&);

void cmd_subscribe(Call&);
void cmd_unsubscribe(Call&);
void cmd_psubscribe(Call&);
void cmd_punsubscribe(Call&);
void cmd_publish(Call&);
void cmd_reset(Call&);

}  // namespace weft::kv
