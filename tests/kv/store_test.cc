// The store's commands (examples/kv/store.h), each reply as the bytes a
// client gets: normal answers, wrong types, wrong arities, overflows,
// syntax errors and expiry (on a clock the test sets).
#include <boost/test/unit_test.hpp>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "examples/kv/store.h"

using weft::kv::After;
using weft::kv::Reply;
using weft::kv::Store;

namespace {

const std::string kWrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
const std::string kNotInteger = "-ERR value is not an integer or out of range\r\n";
const std::string kSyntax = "-ERR syntax error\r\n";

// The reply to one command.
std::string run(Store& s, std::initializer_list<std::string_view> args) {
  Reply r;
  const std::vector<std::string_view> v(args);
  (void)s.execute(v, r);
  return r.bytes();
}

std::string bulk(std::string_view s) { return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n"; }

// The bulk strings of an array reply, as a set (for replies in no order).
std::multiset<std::string> members(const std::string& reply) {
  std::multiset<std::string> out;
  std::size_t p = reply.find("\r\n") + 2;
  while (p < reply.size()) {
    BOOST_REQUIRE(reply[p] == '$');
    const std::size_t eol = reply.find("\r\n", p);
    const std::size_t n = std::stoul(reply.substr(p + 1, eol - p - 1));
    out.insert(reply.substr(eol + 2, n));
    p = eol + 2 + n + 2;
  }
  return out;
}

// SCAN's reply ("*2\r\n$<n>\r\n<cursor>\r\n*<m>\r\n..."): the next cursor, and the keys.
std::pair<std::string, std::multiset<std::string>> scan_reply(const std::string& r) {
  const std::size_t len_end = r.find("\r\n", 4);
  const std::size_t n = std::stoul(r.substr(5, len_end - 5));
  return {r.substr(len_end + 2, n), members(r.substr(len_end + 2 + n + 2))};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(store)

BOOST_AUTO_TEST_CASE(names_are_checked_before_anything_runs) {
  Store s;
  BOOST_TEST(run(s, {"PING"}) == "+PONG\r\n");
  BOOST_TEST(run(s, {"pInG", "hi"}) == bulk("hi"));
  BOOST_TEST(run(s, {"ping", "a", "b"}) == "-ERR wrong number of arguments for 'ping' command\r\n");
  BOOST_TEST(run(s, {"GET"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  BOOST_TEST(run(s, {"Get", "a", "b"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  BOOST_TEST(run(s, {"foo", "a", "b"}) == "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
  BOOST_TEST(run(s, {"FOO"}) == "-ERR unknown command 'FOO', with args beginning with: \r\n");
  // The arguments shown stop at 128 characters.
  const std::string long_arg(200, 'x');
  BOOST_TEST(run(s, {"nope", long_arg, "y"}) ==
             "-ERR unknown command 'nope', with args beginning with: '" + std::string(128, 'x') + "' \r\n");
  // A name with a line break cannot break the reply's line.
  BOOST_TEST(run(s, {"a\r\nb"}) == "-ERR unknown command 'a  b', with args beginning with: \r\n");
}

BOOST_AUTO_TEST_CASE(server_commands_answer_as_redis_does) {
  Store s;
  BOOST_TEST(run(s, {"echo", "x y"}) == bulk("x y"));
  BOOST_TEST(run(s, {"select", "0"}) == "+OK\r\n");
  BOOST_TEST(run(s, {"select", "1"}) == "-ERR DB index is out of range\r\n");
  BOOST_TEST(run(s, {"select", "x"}) == kNotInteger);
  BOOST_TEST(run(s, {"set", "a", "1"}) == "+OK\r\n");
  BOOST_TEST(run(s, {"dbsize"}) == ":1\r\n");
  BOOST_TEST(run(s, {"flushdb", "x"}) == kSyntax);
  BOOST_TEST(run(s, {"flushall", "async"}) == "+OK\r\n");
  BOOST_TEST(run(s, {"dbsize"}) == ":0\r\n");
  BOOST_TEST(run(s, {"config", "get", "save"}) == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  BOOST_TEST(run(s, {"CONFIG", "GET", "appendonly"}) == "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  BOOST_TEST(run(s, {"config", "get", "nope"}) == "*0\r\n");
  BOOST_TEST(run(s, {"config"}) == "-ERR wrong number of arguments for 'config' command\r\n");
  BOOST_TEST(run(s, {"config", "get"}) == "-ERR wrong number of arguments for 'config|get' command\r\n");
  BOOST_TEST(run(s, {"config", "foo"}) == "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n");
  BOOST_TEST(run(s, {"command", "foo"}) == "-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n");
  BOOST_TEST(run(s, {"command", "docs"}) == "*0\r\n");
  const std::string count = run(s, {"command", "count"});
  BOOST_TEST(count[0] == ':');
  BOOST_TEST(std::stoi(count.substr(1)) > 50);
  BOOST_TEST(run(s, {"command"}).substr(0, count.size() - 2) == "*" + count.substr(1, count.size() - 3));
  const std::string info = run(s, {"info"});
  BOOST_TEST(info.find("# Server\r\nredis_version:") != std::string::npos);
  BOOST_TEST(info.find("# Clients\r\nconnected_clients:0\r\n") != std::string::npos);
  BOOST_TEST(info.find("# Keyspace") != std::string::npos);
  Reply r;
  const std::vector<std::string_view> quit{"quit"};
  BOOST_TEST((s.execute(quit, r) == After::close));
  BOOST_TEST(r.bytes() == "+OK\r\n");
}

BOOST_AUTO_TEST_CASE(strings_set_get_and_count) {
  Store s;
  BOOST_TEST(run(s, {"get", "k"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"set", "k", "v"}) == "+OK\r\n");
  BOOST_TEST(run(s, {"get", "k"}) == bulk("v"));
  BOOST_TEST(run(s, {"set", "k", "w", "nx"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"set", "k", "w", "xx", "get"}) == bulk("v"));
  BOOST_TEST(run(s, {"set", "new", "w", "xx"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"set", "k", "v", "nx", "xx"}) == kSyntax);
  BOOST_TEST(run(s, {"set", "k", "v", "ex", "10", "px", "10"}) == kSyntax);
  BOOST_TEST(run(s, {"set", "k", "v", "keepttl", "ex", "1"}) == kSyntax);
  BOOST_TEST(run(s, {"set", "k", "v", "ex"}) == kSyntax);
  BOOST_TEST(run(s, {"set", "k", "v", "ex", "x"}) == kNotInteger);
  BOOST_TEST(run(s, {"set", "k", "v", "ex", "0"}) == "-ERR invalid expire time in 'set' command\r\n");
  BOOST_TEST(run(s, {"set", "k", "v", "px", "9223372036854775807"}) ==
             "-ERR invalid expire time in 'set' command\r\n");
  BOOST_TEST(run(s, {"getdel", "k"}) == bulk("w"));
  BOOST_TEST(run(s, {"getdel", "k"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"mset", "a", "1", "b", "2"}) == "+OK\r\n");
  BOOST_TEST(run(s, {"mset", "a", "1", "b"}) == "-ERR wrong number of arguments for 'mset' command\r\n");
  BOOST_TEST(run(s, {"rpush", "l", "x"}) == ":1\r\n");
  BOOST_TEST(run(s, {"mget", "a", "nope", "l", "b"}) == "*4\r\n$1\r\n1\r\n$-1\r\n$-1\r\n$1\r\n2\r\n");
  BOOST_TEST(run(s, {"get", "l"}) == kWrongType);
  BOOST_TEST(run(s, {"set", "l", "v", "get"}) == kWrongType);
  BOOST_TEST(run(s, {"append", "a", "23"}) == ":3\r\n");
  BOOST_TEST(run(s, {"append", "fresh", "xy"}) == ":2\r\n");
  BOOST_TEST(run(s, {"strlen", "a"}) == ":3\r\n");
  BOOST_TEST(run(s, {"strlen", "nope"}) == ":0\r\n");
  BOOST_TEST(run(s, {"strlen", "l"}) == kWrongType);
}

BOOST_AUTO_TEST_CASE(increments_check_integers_and_overflow) {
  Store s;
  BOOST_TEST(run(s, {"incr", "n"}) == ":1\r\n");
  BOOST_TEST(run(s, {"incrby", "n", "-11"}) == ":-10\r\n");
  BOOST_TEST(run(s, {"decr", "n"}) == ":-11\r\n");
  BOOST_TEST(run(s, {"decrby", "n", "9"}) == ":-20\r\n");
  BOOST_TEST(run(s, {"incrby", "n", "x"}) == kNotInteger);
  BOOST_TEST(run(s, {"incrby", "n", "+1"}) == kNotInteger);
  BOOST_TEST(run(s, {"incrby", "n", " 1"}) == kNotInteger);
  for (const char* bad : {"1.5", "01", "", "-0", "x", "99999999999999999999"}) {
    run(s, {"set", "b", bad});
    BOOST_TEST_INFO("value " << bad);
    BOOST_TEST(run(s, {"incr", "b"}) == kNotInteger);
  }
  run(s, {"set", "big", "9223372036854775807"});
  BOOST_TEST(run(s, {"incr", "big"}) == "-ERR increment or decrement would overflow\r\n");
  run(s, {"set", "small", "-9223372036854775808"});
  BOOST_TEST(run(s, {"decr", "small"}) == "-ERR increment or decrement would overflow\r\n");
  BOOST_TEST(run(s, {"incrby", "small", "9223372036854775807"}) == ":-1\r\n");
  BOOST_TEST(run(s, {"decrby", "x", "-9223372036854775808"}) == "-ERR decrement would overflow\r\n");
  run(s, {"sadd", "set", "m"});
  BOOST_TEST(run(s, {"incr", "set"}) == kWrongType);
}

BOOST_AUTO_TEST_CASE(keys_expire_on_the_stores_clock) {
  Store s;
  s.set_time(1'000'000);
  run(s, {"set", "k", "v", "px", "100"});
  BOOST_TEST(run(s, {"pttl", "k"}) == ":100\r\n");
  BOOST_TEST(run(s, {"ttl", "k"}) == ":0\r\n");
  BOOST_TEST(run(s, {"ttl", "nope"}) == ":-2\r\n");
  s.set_time(1'000'099);
  BOOST_TEST(run(s, {"get", "k"}) == bulk("v"));
  s.set_time(1'000'100);
  BOOST_TEST(run(s, {"get", "k"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"exists", "k"}) == ":0\r\n");
  run(s, {"set", "k", "v"});
  BOOST_TEST(run(s, {"ttl", "k"}) == ":-1\r\n");
  BOOST_TEST(run(s, {"expire", "k", "10"}) == ":1\r\n");
  BOOST_TEST(run(s, {"ttl", "k"}) == ":10\r\n");
  BOOST_TEST(run(s, {"expire", "k", "20", "nx"}) == ":0\r\n");
  BOOST_TEST(run(s, {"expire", "k", "5", "gt"}) == ":0\r\n");
  BOOST_TEST(run(s, {"expire", "k", "20", "gt"}) == ":1\r\n");
  BOOST_TEST(run(s, {"pexpire", "k", "5", "lt"}) == ":1\r\n");
  BOOST_TEST(run(s, {"pttl", "k"}) == ":5\r\n");
  BOOST_TEST(run(s, {"set", "k", "w", "keepttl"}) == "+OK\r\n");
  BOOST_TEST(run(s, {"pttl", "k"}) == ":5\r\n");
  BOOST_TEST(run(s, {"incr", "n"}) == ":1\r\n");
  BOOST_TEST(run(s, {"expire", "n", "100"}) == ":1\r\n");
  BOOST_TEST(run(s, {"incr", "n"}) == ":2\r\n");  // keeps its expiry
  BOOST_TEST(run(s, {"ttl", "n"}) == ":100\r\n");
  BOOST_TEST(run(s, {"persist", "n"}) == ":1\r\n");
  BOOST_TEST(run(s, {"persist", "n"}) == ":0\r\n");
  BOOST_TEST(run(s, {"expire", "n", "10", "nx", "xx"}) ==
             "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  BOOST_TEST(run(s, {"expire", "n", "10", "gt", "lt"}) ==
             "-ERR GT and LT options at the same time are not compatible\r\n");
  BOOST_TEST(run(s, {"expire", "n", "10", "foo"}) == "-ERR Unsupported option foo\r\n");
  BOOST_TEST(run(s, {"expire", "n", "x"}) == kNotInteger);
  BOOST_TEST(run(s, {"expire", "n", "9223372036854775807"}) == "-ERR invalid expire time in 'expire' command\r\n");
  BOOST_TEST(run(s, {"expire", "nope", "10"}) == ":0\r\n");
  BOOST_TEST(run(s, {"expire", "n", "-1"}) == ":1\r\n");  // in the past: deleted
  BOOST_TEST(run(s, {"exists", "n"}) == ":0\r\n");
}

BOOST_AUTO_TEST_CASE(the_sweep_deletes_expired_keys_nobody_reads) {
  Store s;
  s.set_time(5'000);
  for (int i = 0; i < 200; ++i) run(s, {"set", "k" + std::to_string(i), "v", "px", "10"});
  run(s, {"set", "stays", "v"});
  BOOST_TEST(s.size() == 201u);
  s.set_time(6'000);
  std::size_t deleted = 0;
  for (int i = 0; i < 100 && s.size() > 1; ++i) deleted += s.sweep_expired();
  BOOST_TEST(deleted == 200u);
  BOOST_TEST(s.size() == 1u);
  BOOST_TEST(run(s, {"get", "stays"}) == bulk("v"));
}

BOOST_AUTO_TEST_CASE(key_commands_count_type_and_match) {
  Store s;
  run(s, {"mset", "one", "1", "two", "2", "three", "3", "h[x]", "4"});
  run(s, {"lpush", "list", "a"});
  BOOST_TEST(run(s, {"del", "one", "one", "nope"}) == ":1\r\n");
  BOOST_TEST(run(s, {"exists", "two", "two", "nope"}) == ":2\r\n");
  BOOST_TEST(run(s, {"type", "two"}) == "+string\r\n");
  BOOST_TEST(run(s, {"type", "list"}) == "+list\r\n");
  BOOST_TEST(run(s, {"type", "nope"}) == "+none\r\n");
  BOOST_TEST(members(run(s, {"keys", "t*"})) == (std::multiset<std::string>{"two", "three"}));
  BOOST_TEST(members(run(s, {"keys", "?wo"})) == (std::multiset<std::string>{"two"}));
  BOOST_TEST(members(run(s, {"keys", "t[wx]*"})) == (std::multiset<std::string>{"two"}));
  BOOST_TEST(members(run(s, {"keys", "t[^w]*"})) == (std::multiset<std::string>{"three"}));
  BOOST_TEST(members(run(s, {"keys", "h\\[x\\]"})) == (std::multiset<std::string>{"h[x]"}));
  BOOST_TEST(members(run(s, {"keys", "[a-l]*"})) == (std::multiset<std::string>{"h[x]", "list"}));
  BOOST_TEST(run(s, {"keys", "zz*"}) == "*0\r\n");
}

BOOST_AUTO_TEST_CASE(a_full_scan_returns_every_key_that_stayed) {
  Store s;
  for (int i = 0; i < 500; ++i) run(s, {"set", "key:" + std::to_string(i), "v"});
  run(s, {"sadd", "aset", "m"});
  std::multiset<std::string> seen;
  std::string cursor = "0";
  int steps = 0;
  do {
    const auto [next, keys] = scan_reply(run(s, {"scan", cursor, "count", "7", "match", "key:*"}));
    cursor = next;
    seen.insert(keys.begin(), keys.end());
    // Keys come and go meanwhile: those that stay are still all seen.
    if (steps == 3) {
      for (int i = 500; i < 1500; ++i) run(s, {"set", "new:" + std::to_string(i), "v"});
    }
    ++steps;
  } while (cursor != "0" && steps < 10000);
  BOOST_TEST(seen.size() == 500u);
  BOOST_TEST(std::set<std::string>(seen.begin(), seen.end()).size() == 500u);
  BOOST_TEST(steps > 10);
  BOOST_TEST(run(s, {"scan", "0", "type", "set", "count", "100000"}) == "*2\r\n$1\r\n0\r\n*1\r\n$4\r\naset\r\n");
  BOOST_TEST(run(s, {"scan", "x"}) == "-ERR invalid cursor\r\n");
  BOOST_TEST(run(s, {"scan", "0", "count", "0"}) == kSyntax);
  BOOST_TEST(run(s, {"scan", "0", "count", "x"}) == kNotInteger);
  BOOST_TEST(run(s, {"scan", "0", "match"}) == kSyntax);
}

BOOST_AUTO_TEST_CASE(lists_push_pop_and_range) {
  Store s;
  BOOST_TEST(run(s, {"rpush", "l", "a", "b", "c"}) == ":3\r\n");
  BOOST_TEST(run(s, {"lpush", "l", "z", "y"}) == ":5\r\n");  // y z a b c
  BOOST_TEST(run(s, {"llen", "l"}) == ":5\r\n");
  BOOST_TEST(run(s, {"lrange", "l", "0", "-1"}) == "*5\r\n" + bulk("y") + bulk("z") + bulk("a") + bulk("b") + bulk("c"));
  BOOST_TEST(run(s, {"lrange", "l", "-2", "100"}) == "*2\r\n" + bulk("b") + bulk("c"));
  BOOST_TEST(run(s, {"lrange", "l", "3", "1"}) == "*0\r\n");
  BOOST_TEST(run(s, {"lrange", "l", "x", "1"}) == kNotInteger);
  BOOST_TEST(run(s, {"lindex", "l", "-1"}) == bulk("c"));
  BOOST_TEST(run(s, {"lindex", "l", "5"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"lindex", "nope", "x"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"lpop", "l"}) == bulk("y"));
  BOOST_TEST(run(s, {"rpop", "l", "2"}) == "*2\r\n" + bulk("c") + bulk("b"));
  BOOST_TEST(run(s, {"lpop", "l", "0"}) == "*0\r\n");
  BOOST_TEST(run(s, {"lpop", "l", "-1"}) == "-ERR value is out of range, must be positive\r\n");
  BOOST_TEST(run(s, {"lpop", "l", "1", "2"}) == "-ERR wrong number of arguments for 'lpop' command\r\n");
  BOOST_TEST(run(s, {"lpop", "l", "10"}) == "*2\r\n" + bulk("z") + bulk("a"));
  BOOST_TEST(run(s, {"exists", "l"}) == ":0\r\n");  // emptied: gone
  BOOST_TEST(run(s, {"lpop", "l"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"lpop", "l", "2"}) == "*-1\r\n");
  run(s, {"set", "str", "v"});
  BOOST_TEST(run(s, {"lpush", "str", "x"}) == kWrongType);
  BOOST_TEST(run(s, {"lrange", "str", "0", "1"}) == kWrongType);
  BOOST_TEST(run(s, {"llen", "str"}) == kWrongType);
}

BOOST_AUTO_TEST_CASE(hashes_set_get_and_increment) {
  Store s;
  BOOST_TEST(run(s, {"hset", "h", "f", "1", "g", "2"}) == ":2\r\n");
  BOOST_TEST(run(s, {"hset", "h", "f", "3"}) == ":0\r\n");
  BOOST_TEST(run(s, {"hset", "h", "f"}) == "-ERR wrong number of arguments for 'hset' command\r\n");
  BOOST_TEST(run(s, {"hset", "h", "f", "1", "g"}) == "-ERR wrong number of arguments for 'hset' command\r\n");
  BOOST_TEST(run(s, {"hget", "h", "f"}) == bulk("3"));
  BOOST_TEST(run(s, {"hget", "h", "nope"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"hlen", "h"}) == ":2\r\n");
  BOOST_TEST(members(run(s, {"hgetall", "h"})) == (std::multiset<std::string>{"f", "3", "g", "2"}));
  BOOST_TEST(run(s, {"hincrby", "h", "f", "4"}) == ":7\r\n");
  BOOST_TEST(run(s, {"hincrby", "h", "new", "-1"}) == ":-1\r\n");
  BOOST_TEST(run(s, {"hincrby", "h", "f", "x"}) == kNotInteger);
  run(s, {"hset", "h", "s", "abc", "max", "9223372036854775807"});
  BOOST_TEST(run(s, {"hincrby", "h", "s", "1"}) == "-ERR hash value is not an integer\r\n");
  BOOST_TEST(run(s, {"hincrby", "h", "max", "1"}) == "-ERR increment or decrement would overflow\r\n");
  BOOST_TEST(run(s, {"hdel", "h", "f", "g", "nope"}) == ":2\r\n");
  BOOST_TEST(run(s, {"hdel", "h", "new", "s", "max"}) == ":3\r\n");
  BOOST_TEST(run(s, {"exists", "h"}) == ":0\r\n");
  BOOST_TEST(run(s, {"hgetall", "h"}) == "*0\r\n");
  run(s, {"set", "str", "v"});
  BOOST_TEST(run(s, {"hget", "str", "f"}) == kWrongType);
  BOOST_TEST(run(s, {"hset", "str", "f", "v"}) == kWrongType);
}

BOOST_AUTO_TEST_CASE(sets_add_remove_and_pop) {
  Store s;
  BOOST_TEST(run(s, {"sadd", "s", "a", "b", "a", "c"}) == ":3\r\n");
  BOOST_TEST(run(s, {"scard", "s"}) == ":3\r\n");
  BOOST_TEST(run(s, {"sismember", "s", "b"}) == ":1\r\n");
  BOOST_TEST(run(s, {"sismember", "s", "x"}) == ":0\r\n");
  BOOST_TEST(members(run(s, {"smembers", "s"})) == (std::multiset<std::string>{"a", "b", "c"}));
  BOOST_TEST(run(s, {"srem", "s", "a", "x"}) == ":1\r\n");
  const std::string one = run(s, {"spop", "s"});
  BOOST_TEST((one == bulk("b") || one == bulk("c")));
  BOOST_TEST(run(s, {"scard", "s"}) == ":1\r\n");
  BOOST_TEST(run(s, {"spop", "s", "-1"}) == "-ERR value is out of range, must be positive\r\n");
  BOOST_TEST(run(s, {"spop", "s", "1", "2"}) == kSyntax);
  BOOST_TEST(run(s, {"spop", "s", "0"}) == "*0\r\n");
  BOOST_TEST(run(s, {"spop", "s", "5"}).substr(0, 4) == "*1\r\n");
  BOOST_TEST(run(s, {"exists", "s"}) == ":0\r\n");
  BOOST_TEST(run(s, {"spop", "s"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"spop", "s", "2"}) == "*0\r\n");
  run(s, {"sadd", "big", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"});
  BOOST_TEST(members(run(s, {"spop", "big", "10"})).size() == 10u);
  run(s, {"set", "str", "v"});
  BOOST_TEST(run(s, {"sadd", "str", "x"}) == kWrongType);
  BOOST_TEST(run(s, {"smembers", "str"}) == kWrongType);
}

BOOST_AUTO_TEST_CASE(sorted_sets_order_by_score_then_member) {
  Store s;
  BOOST_TEST(run(s, {"zadd", "z", "2", "b", "1", "a", "1", "c", "inf", "top"}) == ":4\r\n");
  BOOST_TEST(run(s, {"zrange", "z", "0", "-1"}) == "*4\r\n" + bulk("a") + bulk("c") + bulk("b") + bulk("top"));
  BOOST_TEST(run(s, {"zrange", "z", "0", "1", "withscores"}) == "*4\r\n" + bulk("a") + bulk("1") + bulk("c") + bulk("1"));
  BOOST_TEST(run(s, {"zrange", "z", "0", "0", "rev", "withscores"}) == "*2\r\n" + bulk("top") + bulk("inf"));
  BOOST_TEST(run(s, {"zscore", "z", "b"}) == bulk("2"));
  BOOST_TEST(run(s, {"zscore", "z", "nope"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "1.1", "d"}) == ":1\r\n");
  BOOST_TEST(run(s, {"zscore", "z", "d"}) == bulk("1.1000000000000001"));  // %.17g, as redis-server 7.0
  BOOST_TEST(run(s, {"zadd", "z", "-1e-3", "e"}) == ":1\r\n");
  BOOST_TEST(run(s, {"zscore", "z", "e"}) == bulk("-0.001"));
  BOOST_TEST(run(s, {"zadd", "z", "ch", "5", "a", "9", "new"}) == ":2\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "nx", "7", "a"}) == ":0\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "xx", "7", "absent"}) == ":0\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "gt", "ch", "1", "a"}) == ":0\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "lt", "ch", "1", "a"}) == ":1\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "incr", "0.5", "a"}) == bulk("1.5"));
  BOOST_TEST(run(s, {"zadd", "z", "incr", "nx", "1", "a"}) == "$-1\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "incr", "-inf", "top"}) == "-ERR resulting score is not a number (NaN)\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "x", "a"}) == "-ERR value is not a valid float\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "nan", "a"}) == "-ERR value is not a valid float\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "1", "a", "2"}) == kSyntax);
  BOOST_TEST(run(s, {"zadd", "z", "nx", "xx", "1", "a"}) == "-ERR XX and NX options at the same time are not compatible\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "gt", "lt", "1", "a"}) ==
             "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "incr", "1", "a", "2", "b"}) ==
             "-ERR INCR option supports a single increment-element pair\r\n");
  BOOST_TEST(run(s, {"zadd", "z", "1"}) == "-ERR wrong number of arguments for 'zadd' command\r\n");
  BOOST_TEST(run(s, {"zcard", "z"}) == ":7\r\n");
  BOOST_TEST(run(s, {"zrem", "z", "a", "nope", "new"}) == ":2\r\n");
  BOOST_TEST(run(s, {"zpopmin", "z"}) == "*2\r\n" + bulk("e") + bulk("-0.001"));
  BOOST_TEST(run(s, {"zpopmin", "z", "2"}) == "*4\r\n" + bulk("c") + bulk("1") + bulk("d") + bulk("1.1000000000000001"));
  BOOST_TEST(run(s, {"zpopmin", "z", "-1"}) == "-ERR value is out of range, must be positive\r\n");
  BOOST_TEST(run(s, {"zpopmin", "z", "1", "2"}) == kSyntax);
  BOOST_TEST(run(s, {"zpopmin", "z", "9"}) == "*4\r\n" + bulk("b") + bulk("2") + bulk("top") + bulk("inf"));
  BOOST_TEST(run(s, {"exists", "z"}) == ":0\r\n");
  BOOST_TEST(run(s, {"zpopmin", "z"}) == "*0\r\n");
  BOOST_TEST(run(s, {"zrange", "z", "0", "-1"}) == "*0\r\n");
  BOOST_TEST(run(s, {"zrange", "z", "0", "-1", "limit", "0", "1"}) ==
             "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n");
  run(s, {"set", "str", "v"});
  BOOST_TEST(run(s, {"zadd", "str", "1", "a"}) == kWrongType);
  BOOST_TEST(run(s, {"zscore", "str", "a"}) == kWrongType);
}

BOOST_AUTO_TEST_CASE(blocking_pops_park_on_a_waiter_and_pushes_serve_them) {
  Store s;
  // Alone (no client to park): nothing to pop is an immediate timeout.
  BOOST_TEST(run(s, {"BLPOP", "q", "0"}) == "*-1\r\n");
  BOOST_TEST(run(s, {"BLPOP", "q", "1e400"}) == "-ERR timeout is negative\r\n");
  BOOST_TEST(run(s, {"BLPOP", "q", "-0.001"}) == "*-1\r\n");  // rounds up to 0: no limit
  BOOST_TEST(run(s, {"BLPOP", "q", "nan"}) == "-ERR timeout is not a float or out of range\r\n");
  weft::kv::PopWaiter first, second;
  int woken = 0;
  first.wake = second.wake = [&woken] { ++woken; };
  const auto block = [&s](weft::kv::PopWaiter& w, std::initializer_list<std::string_view> args) {
    Reply r;
    const std::vector<std::string_view> v(args);
    const After a = s.execute(v, r, {}, {.waiter = &w});
    return a == After::block && r.bytes().empty();
  };
  BOOST_TEST(block(first, {"BRPOP", "a", "q", "0.5"}));
  BOOST_TEST(first.timeout_ms == 500);
  BOOST_TEST(block(second, {"BLPOP", "q", "0"}));
  BOOST_TEST(s.blocked() == 2u);
  BOOST_TEST(run(s, {"RPUSH", "q", "x"}) == ":1\r\n");
  BOOST_TEST(woken == 1);
  BOOST_TEST((first.served && first.key == "q" && first.value == "x"));
  BOOST_TEST(run(s, {"EXISTS", "q"}) == ":0\r\n");
  // Served but gone: the value goes back and on to the next waiter.
  s.give_back(first);
  BOOST_TEST(woken == 2);
  BOOST_TEST((second.served && second.value == "x"));
  BOOST_TEST(s.blocked() == 0u);
  s.give_back(second);  // nobody waits now: it stays in the list
  BOOST_TEST(run(s, {"LRANGE", "q", "0", "-1"}) == "*1\r\n" + bulk("x"));
  // A waiter that gives up leaves no trace.
  BOOST_TEST(block(first, {"BLPOP", "e", "0"}));
  s.unblock(first);
  BOOST_TEST(s.blocked() == 0u);
  BOOST_TEST(run(s, {"RPUSH", "e", "v"}) == ":1\r\n");
  BOOST_TEST(woken == 2);
}

BOOST_AUTO_TEST_CASE(shutdown_asks_the_server_to_stop_and_replies_nothing) {
  Store s;
  Reply r;
  const std::vector<std::string_view> shutdown{"SHUTDOWN", "nosave"};
  BOOST_TEST((s.execute(shutdown, r) == After::shutdown));
  BOOST_TEST(r.bytes().empty());
  BOOST_TEST(run(s, {"SHUTDOWN", "abort"}) == "-ERR No shutdown in progress.\r\n");
  BOOST_TEST(run(s, {"SHUTDOWN", "later"}) == kSyntax);
}

BOOST_AUTO_TEST_SUITE_END()
