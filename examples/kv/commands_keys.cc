// The server, string and key commands (the table is in store.cc; the
// replies follow redis-server 7.0, see store.h).
#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "examples/kv/commands.h"
#include "examples/kv/text.h"

namespace weft::kv {
namespace {

constexpr std::int64_t kMaxString = 512 << 20;  // proto-max-bulk-len

std::string_view type_name(Type t) {
  switch (t) {
    case Type::string: return "string";
    case Type::list: return "list";
    case Type::hash: return "hash";
    case Type::set: return "set";
    case Type::zset: return "zset";
  }
  return "none";
}

void unknown_subcommand(Call& c, std::string_view container) {
  std::string text = "ERR unknown subcommand '";
  text += c.arg(1).substr(0, 128);
  text += "'. Try ";
  text += container;
  text += " HELP.";
  c.out.error(text);
}

// Whether a subcommand got its argument count (as CommandSpec::arity),
// else the arity error for 'container|sub'.
bool sub_arity(Call& c, int arity, std::string_view full_name) {
  const auto argc = static_cast<int>(c.argc());
  if ((arity > 0 && argc != arity) || argc < -arity) {
    c.wrong_arity(full_name);
    return false;
  }
  return true;
}

void command_info(Reply& out, const CommandSpec& spec) {
  out.array(10);
  out.bulk(spec.name);
  out.integer(spec.arity);
  out.array(0);  // flags
  out.integer(spec.first_key);
  out.integer(spec.last_key);
  out.integer(spec.step);
  out.array(0);  // ACL categories
  out.array(0);  // tips
  out.array(0);  // key specifications
  out.array(0);  // subcommands
}

// The string at args[i], or null with the reply given (WRONGTYPE).
Entry* string_entry(Call& c, std::size_t i, bool* failed) {
  bool wrong = false;
  Entry* e = c.lookup(i, Type::string, &wrong);
  if (wrong) c.wrong_type();
  *failed = wrong;
  return e;
}

void add_to_integer(Call& c, std::int64_t by) {
  bool failed = false;
  Entry* e = string_entry(c, 1, &failed);
  if (failed) return;
  std::int64_t value = 0;
  if (e != nullptr && !parse_int64(std::get<std::string>(e->value), &value)) return c.not_integer();
  if ((by < 0 && value < 0 && by < LLONG_MIN - value) || (by > 0 && value > 0 && by > LLONG_MAX - value))
    return c.out.error("ERR increment or decrement would overflow");
  value += by;
  std::string text;
  append_int64(text, value);
  if (e != nullptr) {
    std::get<std::string>(e->value) = std::move(text);  // the expiry stays
  } else {
    c.keys.put(c.arg(1), std::move(text));
  }
  c.out.integer(value);
}

// EXPIRE and PEXPIRE (relative), EXPIREAT and PEXPIREAT (a time since the
// epoch): `unit` ms per unit of the argument.
void expire_command(Call& c, std::int64_t unit, bool absolute) {
  bool nx = false, xx = false, gt = false, lt = false;
  for (std::size_t i = 3; i < c.argc(); ++i) {
    const std::string_view o = c.arg(i);
    if (iequals(o, "nx")) nx = true;
    else if (iequals(o, "xx")) xx = true;
    else if (iequals(o, "gt")) gt = true;
    else if (iequals(o, "lt")) lt = true;
    else return c.out.error("ERR Unsupported option " + std::string(o));
  }
  if (nx && (xx || gt || lt)) return c.out.error("ERR NX and XX, GT or LT options at the same time are not compatible");
  if (gt && lt) return c.out.error("ERR GT and LT options at the same time are not compatible");
  std::int64_t when = 0;
  if (!c.integer_arg(2, &when)) return;
  const std::string invalid = "ERR invalid expire time in '" + std::string(c.name) + "' command";
  if (unit != 1) {
    if (when > LLONG_MAX / unit || when < LLONG_MIN / unit) return c.out.error(invalid);
    when *= unit;
  }
  if (!absolute) {
    if (when > LLONG_MAX - c.now) return c.out.error(invalid);
    when += c.now;
  }
  Entry* e = c.keys.find(c.arg(1), c.now);
  if (e == nullptr) return c.out.integer(0);
  const bool has = e->expire_at != 0;
  if ((nx && has) || (xx && !has) || (gt && (!has || when <= e->expire_at)) ||
      (lt && has && when >= e->expire_at))
    return c.out.integer(0);
  if (when <= c.now) {
    c.keys.erase(c.arg(1));
  } else {
    c.keys.set_expire(*e, when);
  }
  c.out.integer(1);
}

void ttl_command(Call& c, bool ms) {
  Entry* e = c.keys.find(c.arg(1), c.now);
  if (e == nullptr) return c.out.integer(-2);
  if (e->expire_at == 0) return c.out.integer(-1);
  const std::int64_t left = std::max<std::int64_t>(e->expire_at - c.now, 0);
  c.out.integer(ms ? left : (left + 500) / 1000);
}

}  // namespace

// ---- server -----------------------------------------------------------------

void cmd_ping(Call& c) {
  if (c.argc() > 2) return c.wrong_arity(c.name);
  if (c.client.subscriber != nullptr && c.client.subscriber->subscriptions() > 0) {
    // Subscribed: an array, as a message is.
    c.out.array(2);
    c.out.bulk("pong");
    return c.out.bulk(c.argc() == 2 ? c.arg(1) : std::string_view());
  }
  if (c.argc() == 1) return c.out.simple("PONG");
  c.out.bulk(c.arg(1));
}

void cmd_echo(Call& c) { c.out.bulk(c.arg(1)); }

void cmd_select(Call& c) {
  std::int64_t db = 0;
  if (!parse_int64(c.arg(1), &db) || db > INT_MAX || db < INT_MIN) return c.not_integer();
  if (db != 0) return c.out.error("ERR DB index is out of range");
  c.out.ok();
}

void cmd_dbsize(Call& c) { c.out.integer(static_cast<std::int64_t>(c.keys.size())); }

void cmd_flushdb(Call& c) {
  if (c.argc() > 2 || (c.argc() == 2 && !iequals(c.arg(1), "async") && !iequals(c.arg(1), "sync")))
    return c.syntax_error();
  c.keys.clear();
  c.out.ok();
}

void cmd_info(Call& c) {
  bool server = true, clients = true, persistence = true, keyspace = true;
  if (c.argc() > 1) {
    server = clients = persistence = keyspace = false;
    for (std::size_t i = 1; i < c.argc(); ++i) {
      const std::string s = lower(c.arg(i));
      const bool all = s == "all" || s == "default" || s == "everything";
      server = server || all || s == "server";
      clients = clients || all || s == "clients";
      persistence = persistence || all || s == "persistence";
      keyspace = keyspace || all || s == "keyspace";
    }
  }
  std::string text;
  auto line = [&](std::string_view l) {
    text += l;
    text += "\r\n";
  };
  if (server) {
    line("# Server");
    line("redis_version:7.0.0");
    line("redis_mode:standalone");
    line("weft_kv:1");
    line("tcp_port:" + std::to_string(c.info.tcp_port));
  }
  if (clients) {
    if (!text.empty()) line("");
    line("# Clients");
    line("connected_clients:" + std::to_string(c.info.connected_clients));
    line("blocked_clients:" + std::to_string(c.waiters.size()));
  }
  if (persistence) {
    if (!text.empty()) line("");
    line("# Persistence");
    line(std::string("aof_enabled:") + (c.journal.enabled() ? "1" : "0"));
    line(std::string("aof_rewrite_in_progress:") + (c.journal.rewriting() ? "1" : "0"));
    line(std::string("aof_rewrite_scheduled:") + (c.journal.rewrite_requested() ? "1" : "0"));
    line(std::string("aof_last_write_status:") + (c.journal.failure().empty() ? "ok" : "err"));
  }
  if (keyspace) {
    if (!text.empty()) line("");
    line("# Keyspace");
    if (c.keys.size() > 0)
      line("db0:keys=" + std::to_string(c.keys.size()) + ",expires=" + std::to_string(c.keys.expiring()) +
           ",avg_ttl=0");
  }
  c.out.bulk(text);
}

void cmd_config(Call& c) {
  if (!iequals(c.arg(1), "get")) return unknown_subcommand(c, "CONFIG");
  if (!sub_arity(c, -3, "config|get")) return;
  // What redis-benchmark asks: no snapshots, and whether the log is on.
  const std::pair<std::string_view, std::string_view> kParameters[] = {
      {"save", ""}, {"appendonly", c.journal.enabled() ? "yes" : "no"}};
  std::vector<std::pair<std::string_view, std::string_view>> found;
  for (const auto& p : kParameters) {
    for (std::size_t i = 2; i < c.argc(); ++i) {
      if (glob_match(lower(c.arg(i)), p.first)) {
        found.push_back(p);
        break;
      }
    }
  }
  c.out.array(found.size() * 2);
  for (const auto& [name, value] : found) {
    c.out.bulk(name);
    c.out.bulk(value);
  }
}

void cmd_command(Call& c) {
  const auto table = command_table();
  if (c.argc() == 1) {
    c.out.array(table.size());
    for (const CommandSpec& spec : table) command_info(c.out, spec);
    return;
  }
  const std::string sub = lower(c.arg(1));
  if (sub == "count") {
    if (sub_arity(c, 2, "command|count")) c.out.integer(static_cast<std::int64_t>(table.size()));
  } else if (sub == "docs") {
    if (sub_arity(c, -2, "command|docs")) c.out.array(0);  // no documentation here
  } else if (sub == "list") {
    if (!sub_arity(c, -2, "command|list")) return;
    c.out.array(table.size());
    for (const CommandSpec& spec : table) c.out.bulk(spec.name);
  } else if (sub == "info") {
    if (!sub_arity(c, -2, "command|info")) return;
    c.out.array(c.argc() - 2);
    for (std::size_t i = 2; i < c.argc(); ++i) {
      const std::string name = lower(c.arg(i));
      const auto it = std::find_if(table.begin(), table.end(), [&](const CommandSpec& s) { return s.name == name; });
      if (it == table.end()) {
        c.out.null_array();
      } else {
        command_info(c.out, *it);
      }
    }
  } else {
    unknown_subcommand(c, "COMMAND");
  }
}

void cmd_bgrewriteaof(Call& c) {
  if (!c.journal.enabled()) return c.out.error("ERR appendonly is off: weft-kv rewrites only a log it writes");
  if (!c.journal.request_rewrite())
    return c.out.error("ERR Background append only file rewriting already in progress");
  c.out.simple("Background append only file rewriting started");
}

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the server stops gracefully
// (its log written and synced); nothing is replied. ABORT (a shutdown
// under way cannot be called off here) is an error, as redis-server gives
// it when none waits.
void cmd_shutdown(Call& c) {
  for (std::size_t i = 1; i < c.argc(); ++i) {
    const std::string_view o = c.arg(i);
    if (iequals(o, "abort")) return c.out.error("ERR No shutdown in progress.");
    if (!iequals(o, "nosave") && !iequals(o, "save") && !iequals(o, "now") && !iequals(o, "force"))
      return c.syntax_error();
  }
  c.after = After::shutdown;
}

void cmd_quit(Call& c) {
  c.out.ok();
  c.after = After::close;
}

// ---- strings ----------------------------------------------------------------

void cmd_get(Call& c) {
  bool failed = false;
  Entry* e = string_entry(c, 1, &failed);
  if (failed) return;
  if (e == nullptr) return c.out.null();
  c.out.bulk(std::get<std::string>(e->value));
}

void cmd_set(Call& c) {
  bool nx = false, xx = false, get = false, keepttl = false;
  char expiry = 0;  // 'e'x, 'p'x, 'E'xat, 'P'xat
  std::size_t expiry_arg = 0;
  for (std::size_t i = 3; i < c.argc(); ++i) {
    const std::string_view o = c.arg(i);
    const bool next = i + 1 < c.argc();
    if (iequals(o, "nx") && !xx) {
      nx = true;
    } else if (iequals(o, "xx") && !nx) {
      xx = true;
    } else if (iequals(o, "get")) {
      get = true;
    } else if (iequals(o, "keepttl") && expiry == 0) {
      keepttl = true;
    } else if ((iequals(o, "ex") || iequals(o, "px") || iequals(o, "exat") || iequals(o, "pxat")) && !keepttl &&
               next) {
      const char kind = o.size() == 2 ? static_cast<char>(o[0] | 0x20)
                                      : static_cast<char>((o[0] | 0x20) == 'e' ? 'E' : 'P');
      if (expiry != 0 && expiry != kind) return c.syntax_error();
      expiry = kind;
      expiry_arg = ++i;
    } else {
      return c.syntax_error();
    }
  }
  std::int64_t at = 0;
  if (expiry != 0) {
    if (!c.integer_arg(expiry_arg, &at)) return;
    const std::string invalid = "ERR invalid expire time in 'set' command";
    if (at <= 0) return c.out.error(invalid);
    if (expiry == 'e' || expiry == 'E') {
      if (at > LLONG_MAX / 1000) return c.out.error(invalid);
      at *= 1000;
    }
    if (expiry == 'e' || expiry == 'p') {
      if (at > LLONG_MAX - c.now) return c.out.error(invalid);
      at += c.now;
    }
  }
  Entry* old = c.keys.find(c.arg(1), c.now);
  if (get) {
    if (old != nullptr && old->type() != Type::string) return c.wrong_type();
    if (old == nullptr) {
      c.out.null();
    } else {
      c.out.bulk(std::get<std::string>(old->value));
    }
  }
  if ((nx && old != nullptr) || (xx && old == nullptr)) {
    if (!get) c.out.null();
    return;
  }
  const std::int64_t kept = keepttl && old != nullptr ? old->expire_at : 0;
  Entry& e = c.keys.put(c.arg(1), std::string(c.arg(2)));
  if (at != 0 || kept != 0) c.keys.set_expire(e, at != 0 ? at : kept);
  if (!get) c.out.ok();
}

void cmd_getdel(Call& c) {
  bool failed = false;
  Entry* e = string_entry(c, 1, &failed);
  if (failed) return;
  if (e == nullptr) return c.out.null();
  c.out.bulk(std::get<std::string>(e->value));
  c.keys.erase(c.arg(1));
}

void cmd_mget(Call& c) {
  c.out.array(c.argc() - 1);
  for (std::size_t i = 1; i < c.argc(); ++i) {
    Entry* e = c.keys.find(c.arg(i), c.now);
    if (e == nullptr || e->type() != Type::string) {
      c.out.null();
    } else {
      c.out.bulk(std::get<std::string>(e->value));
    }
  }
}

void cmd_mset(Call& c) {
  if (c.argc() % 2 == 0) return c.wrong_arity(c.name);
  for (std::size_t i = 1; i < c.argc(); i += 2) c.keys.put(c.arg(i), std::string(c.arg(i + 1)));
  c.out.ok();
}

void cmd_incr(Call& c) { add_to_integer(c, 1); }
void cmd_decr(Call& c) { add_to_integer(c, -1); }

void cmd_incrby(Call& c) {
  std::int64_t by = 0;
  if (c.integer_arg(2, &by)) add_to_integer(c, by);
}

void cmd_decrby(Call& c) {
  std::int64_t by = 0;
  if (!c.integer_arg(2, &by)) return;
  if (by == LLONG_MIN) return c.out.error("ERR decrement would overflow");
  add_to_integer(c, -by);
}

void cmd_append(Call& c) {
  bool failed = false;
  Entry* e = string_entry(c, 1, &failed);
  if (failed) return;
  if (e == nullptr) {
    c.keys.put(c.arg(1), std::string(c.arg(2)));
    return c.out.integer(static_cast<std::int64_t>(c.arg(2).size()));
  }
  std::string& s = std::get<std::string>(e->value);
  if (static_cast<std::int64_t>(s.size() + c.arg(2).size()) > kMaxString)
    return c.out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  s += c.arg(2);
  c.out.integer(static_cast<std::int64_t>(s.size()));
}

void cmd_strlen(Call& c) {
  bool failed = false;
  Entry* e = string_entry(c, 1, &failed);
  if (failed) return;
  c.out.integer(e == nullptr ? 0 : static_cast<std::int64_t>(std::get<std::string>(e->value).size()));
}

// ---- keys -------------------------------------------------------------------

void cmd_del(Call& c) {
  std::int64_t n = 0;
  for (std::size_t i = 1; i < c.argc(); ++i)
    if (c.keys.find(c.arg(i), c.now) != nullptr && c.keys.erase(c.arg(i))) ++n;
  c.out.integer(n);
}

void cmd_exists(Call& c) {
  std::int64_t n = 0;
  for (std::size_t i = 1; i < c.argc(); ++i)
    if (c.keys.find(c.arg(i), c.now) != nullptr) ++n;
  c.out.integer(n);
}

void cmd_expire(Call& c) { expire_command(c, 1000, false); }
void cmd_pexpire(Call& c) { expire_command(c, 1, false); }
void cmd_expireat(Call& c) { expire_command(c, 1000, true); }
void cmd_pexpireat(Call& c) { expire_command(c, 1, true); }
void cmd_ttl(Call& c) { ttl_command(c, false); }
void cmd_pttl(Call& c) { ttl_command(c, true); }

void cmd_persist(Call& c) {
  Entry* e = c.keys.find(c.arg(1), c.now);
  if (e == nullptr || e->expire_at == 0) return c.out.integer(0);
  c.keys.set_expire(*e, 0);
  c.out.integer(1);
}

void cmd_type(Call& c) {
  Entry* e = c.keys.find(c.arg(1), c.now);
  c.out.simple(e == nullptr ? "none" : type_name(e->type()));
}

void cmd_keys(Call& c) {
  std::vector<std::string_view> found;
  const bool all = c.arg(1) == "*";
  c.keys.for_each(c.now, [&](const Entry& e) {
    if (all || glob_match(c.arg(1), e.key)) found.push_back(e.key);
  });
  c.out.array(found.size());
  for (std::string_view k : found) c.out.bulk(k);
}

void cmd_scan(Call& c) {
  std::uint64_t cursor = 0;
  if (!parse_cursor(c.arg(1), &cursor)) return c.out.error("ERR invalid cursor");
  std::int64_t count = 10;
  std::string_view pattern, type;
  bool match = false, typed = false;
  for (std::size_t i = 2; i < c.argc(); i += 2) {
    const std::string_view o = c.arg(i);
    const bool value = i + 1 < c.argc();
    if (iequals(o, "count") && value) {
      if (!c.integer_arg(i + 1, &count)) return;
      if (count < 1) return c.syntax_error();
    } else if (iequals(o, "match") && value) {
      pattern = c.arg(i + 1);
      match = pattern != "*";
    } else if (iequals(o, "type") && value) {
      type = c.arg(i + 1);
      typed = true;
    } else {
      return c.syntax_error();
    }
  }
  std::vector<std::string_view> found;
  const std::uint64_t next =
      c.keys.scan(cursor, static_cast<std::size_t>(count), c.now, [&](const Entry& e) {
        if (match && !glob_match(pattern, e.key)) return;
        if (typed && !iequals(type, type_name(e.type()))) return;
        found.push_back(e.key);
      });
  c.out.array(2);
  c.out.bulk(std::to_string(next));
  c.out.array(found.size());
  for (std::string_view k : found) c.out.bulk(k);
}

}  // namespace weft::kv
