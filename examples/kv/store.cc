#include "examples/kv/store.h"

#include <chrono>
#include <cstring>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "examples/kv/commands.h"
#include "examples/kv/text.h"

namespace weft::kv {
namespace {

constexpr CommandSpec kCommands[] = {
    // server
    {"ping", -1, cmd_ping, 0, 0, 0, kSubscribedOk},
    {"echo", 2, cmd_echo, 0, 0, 0},
    {"select", 2, cmd_select, 0, 0, 0},
    {"dbsize", 1, cmd_dbsize, 0, 0, 0},
    {"flushdb", -1, cmd_flushdb, 0, 0, 0, kWrite},
    {"flushall", -1, cmd_flushdb, 0, 0, 0, kWrite},
    {"info", -1, cmd_info, 0, 0, 0},
    {"config", -2, cmd_config, 0, 0, 0},
    {"command", -1, cmd_command, 0, 0, 0},
    {"quit", -1, cmd_quit, 0, 0, 0, kSubscribedOk},
    {"reset", 1, cmd_reset, 0, 0, 0, kSubscribedOk},
    {"bgrewriteaof", 1, cmd_bgrewriteaof, 0, 0, 0},
    {"shutdown", -1, cmd_shutdown, 0, 0, 0},
    // strings
    {"get", 2, cmd_get, 1, 1, 1},
    {"set", -3, cmd_set, 1, 1, 1, kWrite},
    {"getdel", 2, cmd_getdel, 1, 1, 1, kWrite},
    {"mget", -2, cmd_mget, 1, -1, 1},
    {"mset", -3, cmd_mset, 1, -1, 2, kWrite},
    {"incr", 2, cmd_incr, 1, 1, 1, kWrite},
    {"decr", 2, cmd_decr, 1, 1, 1, kWrite},
    {"incrby", 3, cmd_incrby, 1, 1, 1, kWrite},
    {"decrby", 3, cmd_decrby, 1, 1, 1, kWrite},
    {"append", 3, cmd_append, 1, 1, 1, kWrite},
    {"strlen", 2, cmd_strlen, 1, 1, 1},
    // keys
    {"del", -2, cmd_del, 1, -1, 1, kWrite},
    {"exists", -2, cmd_exists, 1, -1, 1},
    {"expire", -3, cmd_expire, 1, 1, 1, kWrite},
    {"pexpire", -3, cmd_pexpire, 1, 1, 1, kWrite},
    {"expireat", -3, cmd_expireat, 1, 1, 1, kWrite},
    {"pexpireat", -3, cmd_pexpireat, 1, 1, 1, kWrite},
    {"ttl", 2, cmd_ttl, 1, 1, 1},
    {"pttl", 2, cmd_pttl, 1, 1, 1},
    {"persist", 2, cmd_persist, 1, 1, 1, kWrite},
    {"type", 2, cmd_type, 1, 1, 1},
    {"keys", 2, cmd_keys, 0, 0, 0},
    {"scan", -2, cmd_scan, 0, 0, 0},
    // lists
    {"lpush", -3, cmd_lpush, 1, 1, 1, kWrite},
    {"rpush", -3, cmd_rpush, 1, 1, 1, kWrite},
    {"lpop", -2, cmd_lpop, 1, 1, 1, kWrite},
    {"rpop", -2, cmd_rpop, 1, 1, 1, kWrite},
    {"llen", 2, cmd_llen, 1, 1, 1},
    {"lrange", 4, cmd_lrange, 1, 1, 1},
    {"lindex", 3, cmd_lindex, 1, 1, 1},
    {"blpop", -3, cmd_blpop, 1, -2, 1, kWrite},
    {"brpop", -3, cmd_brpop, 1, -2, 1, kWrite},
    // hashes
    {"hset", -4, cmd_hset, 1, 1, 1, kWrite},
    {"hget", 3, cmd_hget, 1, 1, 1},
    {"hdel", -3, cmd_hdel, 1, 1, 1, kWrite},
    {"hgetall", 2, cmd_hgetall, 1, 1, 1},
    {"hlen", 2, cmd_hlen, 1, 1, 1},
    {"hincrby", 4, cmd_hincrby, 1, 1, 1, kWrite},
    // sets
    {"sadd", -3, cmd_sadd, 1, 1, 1, kWrite},
    {"srem", -3, cmd_srem, 1, 1, 1, kWrite},
    {"smembers", 2, cmd_smembers, 1, 1, 1},
    {"sismember", 3, cmd_sismember, 1, 1, 1},
    {"scard", 2, cmd_scard, 1, 1, 1},
    {"spop", -2, cmd_spop, 1, 1, 1, kWrite},
    // sorted sets
    {"zadd", -4, cmd_zadd, 1, 1, 1, kWrite},
    {"zrem", -3, cmd_zrem, 1, 1, 1, kWrite},
    {"zscore", 3, cmd_zscore, 1, 1, 1},
    {"zrange", -4, cmd_zrange, 1, 1, 1},
    {"zcard", 2, cmd_zcard, 1, 1, 1},
    {"zpopmin", -2, cmd_zpopmin, 1, 1, 1, kWrite},
    // pub/sub
    {"subscribe", -2, cmd_subscribe, 0, 0, 0, kSubscribedOk},
    {"unsubscribe", -1, cmd_unsubscribe, 0, 0, 0, kSubscribedOk},
    {"psubscribe", -2, cmd_psubscribe, 0, 0, 0, kSubscribedOk},
    {"punsubscribe", -1, cmd_punsubscribe, 0, 0, 0, kSubscribedOk},
    {"publish", 3, cmd_publish, 0, 0, 0},
};

// The subcommands redis-server 7.0 knows, which name a refused command
// ('config|get') in subscribed mode.
bool known_subcommand(std::string_view command, std::string_view sub) {
  static constexpr std::string_view kConfig[] = {"get", "set", "resetstat", "rewrite", "help"};
  static constexpr std::string_view kCommand[] = {"count", "docs", "getkeys", "getkeysandflags", "help", "info",
                                                  "list"};
  const std::span<const std::string_view> known =
      command == "config" ? std::span<const std::string_view>(kConfig)
                          : command == "command" ? std::span<const std::string_view>(kCommand)
                                                 : std::span<const std::string_view>();
  for (std::string_view k : known) {
    if (iequals(k, sub)) return true;
  }
  return false;
}

// In subscribed mode, a command that may not run: true, the error replied.
// An unknown subcommand is left to the handler's own error.
bool refused_while_subscribed(const CommandSpec& spec, std::span<const std::string_view> args, Reply& out) {
  if (spec.flags & kSubscribedOk) return false;
  std::string name(spec.name);
  if (spec.name == "config" || spec.name == "command") {
    if (args.size() >= 2) {
      if (!known_subcommand(spec.name, args[1])) return false;
      name += '|';
      name += lower(args[1]);
    }
  }
  out.error("ERR Can't execute '" + name +
            "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
  return true;
}

const CommandSpec* find_command(std::string_view name) {
  static const auto* const by_name = [] {
    auto* m = new std::unordered_map<std::string_view, const CommandSpec*>;
    for (const CommandSpec& c : kCommands) m->emplace(c.name, &c);
    return m;
  }();
  char lowered[32];
  if (name.size() > sizeof lowered) return nullptr;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    lowered[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const auto it = by_name->find(std::string_view(lowered, name.size()));
  return it == by_name->end() ? nullptr : it->second;
}

// At most `max` bytes of `s`, and none from its first NUL on (what printf's
// %.*s shows of it, as in redis-server's messages).
std::string_view shown(std::string_view s, std::size_t max) {
  if (const void* nul = std::memchr(s.data(), '\0', s.size()))
    s = s.substr(0, static_cast<std::size_t>(static_cast<const char*>(nul) - s.data()));
  return s.substr(0, max);
}

void unknown_command(std::span<const std::string_view> args, Reply& out) {
  std::string listed;
  for (std::size_t i = 1; i < args.size() && listed.size() < 128; ++i) {
    const std::size_t room = 128 - listed.size();
    listed += '\'';
    listed += shown(args[i], room);
    listed += "' ";
  }
  std::string text = "ERR unknown command '";
  text += shown(args[0], 128);
  text += "', with args beginning with: ";
  text += listed;
  out.error(text);
}

}  // namespace

std::span<const CommandSpec> command_table() { return kCommands; }

void Call::wrong_arity(std::string_view full_name) {
  std::string text = "ERR wrong number of arguments for '";
  text += full_name;
  text += "' command";
  out.error(text);
}

bool Call::integer_arg(std::size_t i, std::int64_t* value) {
  if (parse_int64(args[i], value)) return true;
  not_integer();
  return false;
}

bool Call::count_arg(std::size_t i, std::int64_t* value) {
  if (parse_int64(args[i], value) && *value >= 0) return true;
  out.error("ERR value is out of range, must be positive");
  return false;
}

Entry* Call::lookup(std::size_t i, Type t, bool* wrong) {
  Entry* e = keys.find(args[i], now);
  *wrong = e != nullptr && e->type() != t;
  return *wrong ? nullptr : e;
}

After Store::execute(std::span<const std::string_view> args, Reply& out, const ServerInfo& info,
                     const Client& client) {
  const CommandSpec* spec = find_command(args[0]);
  if (spec == nullptr) {
    unknown_command(args, out);
    return After::carry_on;
  }
  Call call{spec->name, keys_, args, out, info, now(), waiters_, journal_, client};
  const auto argc = static_cast<int>(args.size());
  if ((spec->arity > 0 && argc != spec->arity) || argc < -spec->arity) {
    call.wrong_arity(spec->name);
    return After::carry_on;
  }
  if (client.subscriber != nullptr && client.subscriber->subscriptions() > 0 &&
      refused_while_subscribed(*spec, args, out)) {
    return After::carry_on;
  }
  const bool logged = (spec->flags & kWrite) != 0 && journal_.enabled();
  if (logged && !journal_.failure().empty()) {
    out.error(journal_.failure());
    return After::carry_on;
  }
  if (logged && journal_.rewriting()) before_change(*spec, args, call.now);
  const std::size_t reply_at = out.bytes().size();
  spec->handler(call);
  const bool failed = out.bytes().size() > reply_at && out.bytes()[reply_at] == '-';
  if (logged && !failed && call.after != After::block) {
    if (!call.logged_as_set) {
      journal_.record(args, call.now);
    } else if (!call.logged_as.empty()) {
      std::vector<std::string_view> as(call.logged_as.begin(), call.logged_as.end());
      journal_.record(as, call.now);
    }
  }
  // After the reply: the pushes of this command serve the parked clients.
  waiters_.serve(keys_, call.now, journal_);
  return call.after;
}

void Store::before_change(const CommandSpec& spec, std::span<const std::string_view> args, std::int64_t t) {
  if (spec.handler == cmd_flushdb) return journal_.flushed();
  if (spec.first_key <= 0) return;
  const auto argc = static_cast<int>(args.size());
  const int last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
  for (int i = spec.first_key; i <= last && i < argc; i += spec.step) journal_.before_change(keys_, args[i], t);
}

void Store::give_back(PopWaiter& w) {
  if (!w.served) return;
  w.served = false;
  const std::int64_t t = now();
  journal_.before_change(keys_, w.key, t);
  Entry* e = keys_.find(w.key, t);
  if (e == nullptr) e = &keys_.put(w.key, List{});
  if (e->type() != Type::list) return;  // replaced meanwhile: nowhere to go
  List& l = std::get<List>(e->value);
  if (journal_.enabled()) journal_.record({w.left ? "LPUSH" : "RPUSH", w.key, w.value}, t);
  if (w.left) {
    l.push_front(std::move(w.value));
  } else {
    l.push_back(std::move(w.value));
  }
  waiters_.mark_ready(w.key);
  waiters_.serve(keys_, t, journal_);
}

std::size_t Store::sweep_expired(int rounds) {
  constexpr std::size_t kSample = 20;
  const std::int64_t t = now();
  std::size_t deleted = 0;
  for (int i = 0; i < rounds; ++i) {
    const std::size_t n = keys_.sweep_sample(t, kSample);
    deleted += n;
    if (n <= kSample / 4) break;
  }
  return deleted;
}

std::int64_t Store::now() const {
  if (fixed_time_ != 0) return fixed_time_;
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace weft::kv
