// The append-only log's content (examples/kv/journal.h) and its replay
// (examples/kv/aof.h's replay_log), without files: what a store records, replayed into
// a fresh store, rebuilds the same state; and a rewrite taken step by step
// while random commands keep changing the store (the copy-on-write
// snapshot and the tail) rebuilds it too. Also the records of what is not a
// function of the store (SPOP, a value handed to a parked BLPOP and given
// back), replies that are errors, and logs that are cut short or are not
// logs at all.
#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "examples/kv/aof.h"
#include "examples/kv/store.h"
#include "examples/kv/text.h"

using weft::kv::Entry;
using weft::kv::Reply;
using weft::kv::Store;

namespace {

std::string run(Store& s, std::initializer_list<std::string_view> args) {
  Reply r;
  const std::vector<std::string_view> v(args);
  (void)s.execute(v, r);
  return r.bytes();
}

std::string run(Store& s, const std::vector<std::string>& args) {
  Reply r;
  const std::vector<std::string_view> v(args.begin(), args.end());
  (void)s.execute(v, r);
  return r.bytes();
}

// Every live key at `now`, each as a canonical text (type, expiry, sorted
// elements where the type has no order), sorted.
std::vector<std::string> state(Store& s, std::int64_t now) {
  std::vector<std::string> out;
  s.keys().for_each(now, [&](const Entry& e) {
    std::string t = std::string(e.key) + " @" + std::to_string(e.expire_at) + " ";
    std::vector<std::string> parts;
    switch (e.type()) {
      case weft::kv::Type::string:
        t += "string " + std::get<std::string>(e.value);
        break;
      case weft::kv::Type::list:
        t += "list";
        for (const auto& v : std::get<weft::kv::List>(e.value)) t += " " + v;
        break;
      case weft::kv::Type::hash:
        t += "hash";
        for (const auto& [f, v] : std::get<weft::kv::Hash>(e.value)) parts.push_back(f + "=" + v);
        break;
      case weft::kv::Type::set:
        t += "set";
        for (const auto& m : std::get<weft::kv::Set>(e.value)) parts.push_back(m);
        break;
      case weft::kv::Type::zset:
        t += "zset";
        for (const auto& [score, m] : std::get<weft::kv::ZSet>(e.value).order)
          parts.push_back(weft::kv::format_double(score) + ":" + m);
        break;
    }
    std::sort(parts.begin(), parts.end());
    for (const auto& p : parts) t += " " + p;
    out.push_back(t);
  });
  std::sort(out.begin(), out.end());
  return out;
}

// A random write (or read) over a few keys of each type, with expiries
// short enough that the clock passes them.
std::vector<std::string> random_command(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::string k = std::string(1, "sslhzx"[pick(6)]) + std::to_string(pick(6));
  const std::string v = "v" + std::to_string(pick(20));
  switch (pick(26)) {
    case 0: return {"SET", k, v};
    case 1: return {"SET", k, v, "PX", std::to_string(1 + pick(50))};
    case 2: return {"INCR", k};
    case 3: return {"APPEND", k, v};
    case 4: return {"DEL", k};
    case 5: return {"PEXPIRE", k, std::to_string(pick(60) - 5)};
    case 6: return {"EXPIRE", k, "100"};
    case 7: return {"LPUSH", k, v, v + "b"};
    case 8: return {"RPUSH", k, v};
    case 9: return {"LPOP", k};
    case 10: return {"RPOP", k, "2"};
    case 11: return {"HSET", k, "f" + std::to_string(pick(4)), v};
    case 12: return {"HDEL", k, "f" + std::to_string(pick(4))};
    case 13: return {"HINCRBY", k, "n", std::to_string(pick(9))};
    case 14: return {"SADD", k, v, "m" + std::to_string(pick(5))};
    case 15: return {"SREM", k, v};
    case 16: return {"SPOP", k, std::to_string(pick(3))};
    case 17: return {"ZADD", k, std::to_string(pick(10)) + ".25", v};
    case 18: return {"ZREM", k, v};
    case 19: return {"ZPOPMIN", k};
    case 20: return {"GETDEL", k};
    case 21: return {"MSET", k, v, "s" + std::to_string(pick(6)), v};
    case 22: return {"PERSIST", k};
    case 23: return {"GET", k};
    case 24: return {"PEXPIREAT", k, std::to_string(1'000'000 + pick(2000))};
    default: return pick(40) == 0 ? std::vector<std::string>{"FLUSHDB"} : std::vector<std::string>{"SPOP", k};
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(journal)

BOOST_AUTO_TEST_CASE(records_writes_with_their_time_and_not_errors_or_reads) {
  Store s;
  s.journal().set_enabled(true);
  s.set_time(1'000);
  BOOST_TEST(run(s, {"SET", "a", "1"}) == "+OK\r\n");
  BOOST_TEST(run(s, {"GET", "a"}) == "$1\r\n1\r\n");
  BOOST_TEST(run(s, {"LPUSH", "a", "x"}).substr(0, 10) == "-WRONGTYPE");
  s.set_time(2'000);
  BOOST_TEST(run(s, {"INCR", "a"}) == ":2\r\n");
  BOOST_TEST(s.journal().pending() ==
             "#T 1000\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
             "#T 2000\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n");
  BOOST_TEST(s.journal().appended() == s.journal().pending().size());
}

BOOST_AUTO_TEST_CASE(spop_is_recorded_as_the_members_it_chose) {
  Store s;
  s.set_time(1'000);
  (void)run(s, {"SADD", "s", "a", "b", "c"});
  s.journal().set_enabled(true);
  const std::string popped = run(s, {"SPOP", "s"});
  const std::string member = popped.substr(popped.size() - 3, 1);
  BOOST_TEST(s.journal().pending() == "#T 1000\r\n*3\r\n$4\r\nSREM\r\n$1\r\ns\r\n$1\r\n" + member + "\r\n");
  s.journal().pending().clear();
  (void)run(s, {"SPOP", "nothing", "3"});
  BOOST_TEST(s.journal().pending().empty());  // popped nothing: nothing to record
}

BOOST_AUTO_TEST_CASE(a_value_handed_to_a_parked_pop_and_given_back_is_recorded) {
  Store s;
  s.journal().set_enabled(true);
  s.set_time(5'000);
  weft::kv::PopWaiter w;
  Reply r;
  const std::vector<std::string_view> blpop{"BLPOP", "q", "0"};
  BOOST_TEST((s.execute(blpop, r, {}, {.waiter = &w}) == weft::kv::After::block));
  BOOST_TEST(s.journal().pending().empty());  // parked: not recorded
  BOOST_TEST(run(s, {"RPUSH", "q", "job"}) == ":1\r\n");
  BOOST_TEST(w.served);
  BOOST_TEST(s.journal().pending() ==
             "#T 5000\r\n*3\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n$3\r\njob\r\n*2\r\n$4\r\nLPOP\r\n$1\r\nq\r\n");
  s.give_back(w);
  BOOST_TEST(s.journal().pending().ends_with("*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$3\r\njob\r\n"));
  // Replayed, the log leaves what the store holds: the job, back in the list.
  Store replayed;
  const auto result = weft::kv::replay_log(s.journal().pending(), replayed);
  BOOST_TEST(result.error.empty());
  BOOST_TEST(result.commands == 3u);
  BOOST_TEST(state(replayed, 5'000) == state(s, 5'000));
}

BOOST_AUTO_TEST_CASE(refused_while_writing_fails) {
  Store s;
  s.journal().set_enabled(true);
  s.journal().set_failure("MISCONF Errors writing to the AOF file: No space left on device");
  BOOST_TEST(run(s, {"SET", "a", "1"}) == "-MISCONF Errors writing to the AOF file: No space left on device\r\n");
  BOOST_TEST(run(s, {"GET", "a"}) == "$-1\r\n");  // reads go on
  s.journal().set_failure("");
  BOOST_TEST(run(s, {"SET", "a", "1"}) == "+OK\r\n");
}

BOOST_AUTO_TEST_CASE(random_commands_replayed_rebuild_the_same_store) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    Store s;
    s.journal().set_enabled(true);
    std::int64_t now = 1'000'000;
    for (int i = 0; i < 2000; ++i) {
      now += static_cast<std::int64_t>(rng() % 3);
      s.set_time(now);
      (void)run(s, random_command(rng));
    }
    Store replayed;
    const auto result = weft::kv::replay_log(s.journal().pending(), replayed);
    BOOST_TEST(result.error.empty());
    BOOST_TEST(result.failed == 0u);
    BOOST_TEST(result.consumed == s.journal().pending().size());
    BOOST_TEST(state(replayed, now) == state(s, now), "seed " << seed);
  }
}

BOOST_AUTO_TEST_CASE(a_rewrite_taken_while_commands_run_rebuilds_the_same_store) {
  for (unsigned seed = 1; seed <= 30; ++seed) {
    std::mt19937 rng(seed);
    Store s;
    s.journal().set_enabled(true);
    std::int64_t now = 1'000'000;
    auto some_commands = [&](int n) {
      for (int i = 0; i < n; ++i) {
        now += static_cast<std::int64_t>(rng() % 3);
        s.set_time(now);
        (void)run(s, random_command(rng));
      }
    };
    some_commands(1500);
    // The rewrite: a snapshot a few keys per step with commands between
    // the steps, then the tail taken in pieces, as the server does it.
    s.journal().begin_rewrite(s.keys(), now);
    std::string file;
    for (bool walked = false; !walked;) {
      walked = s.journal().dump_step(s.keys(), now, 1 + rng() % 4);
      file += s.journal().take_snapshot();
      some_commands(static_cast<int>(rng() % 8));
    }
    for (int piece = 0; piece < 3; ++piece) {
      some_commands(static_cast<int>(rng() % 50));
      file += s.journal().take_tail();
    }
    some_commands(20);
    s.journal().finish_rewrite();
    // What the writer's next round writes to the new file, and after it.
    some_commands(200);
    file += s.journal().pending();
    Store replayed;
    const auto result = weft::kv::replay_log(file, replayed);
    BOOST_TEST(result.error.empty(), "seed " << seed << ": " << result.error);
    BOOST_TEST(result.failed == 0u, "seed " << seed);
    BOOST_TEST(state(replayed, now) == state(s, now), "seed " << seed);
  }
}

BOOST_AUTO_TEST_CASE(a_log_cut_inside_a_record_replays_up_to_it) {
  Store s;
  s.journal().set_enabled(true);
  s.set_time(1'000);
  (void)run(s, {"SET", "a", "1"});
  const std::size_t whole = s.journal().pending().size();
  (void)run(s, {"SET", "b", "2"});
  const std::string log = s.journal().pending();
  for (std::size_t cut = whole; cut < log.size(); ++cut) {
    Store replayed;
    const auto r = weft::kv::replay_log(std::string_view(log).substr(0, cut), replayed);
    BOOST_TEST(r.error.empty());
    BOOST_TEST(r.consumed == whole);
    BOOST_TEST(r.commands == 1u);
    BOOST_TEST(run(replayed, {"EXISTS", "b"}) == ":0\r\n");
  }
}

BOOST_AUTO_TEST_CASE(bytes_that_are_not_a_log_are_an_error_with_the_place) {
  for (const std::string bad : {"SET a 1\r\n", "#X 12\r\n", "#T abc\r\n", "*1\r\n+PING\r\n"}) {
    Store s;
    const std::string log = "*1\r\n$4\r\nPING\r\n" + bad;
    const auto r = weft::kv::replay_log(log, s);
    BOOST_TEST(!r.error.empty(), bad);
    BOOST_TEST(r.consumed == 14u, bad);
  }
}

BOOST_AUTO_TEST_SUITE_END()
