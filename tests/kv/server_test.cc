// The key-value service end to end, on the runtime under test: commands
// over TCP, pipelining, commands in pieces and larger than the reader's
// buffer, expiry, and bad clients (malformed, vanishing, too many), none of
// which may disturb the others; blocking pops and pub/sub between clients.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kv/test_server.h"
#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::test::KvClient;
using weft::test::KvServer;

BOOST_AUTO_TEST_SUITE(server)

BOOST_AUTO_TEST_CASE(commands_are_answered_over_tcp) {
  weft::test::run([] {
    KvServer server;
    KvClient c(server.address());
    BOOST_TEST(c.call({"PING"}) == "+PONG\r\n");
    BOOST_TEST(c.call({"SET", "k", "hello"}) == "+OK\r\n");
    BOOST_TEST(c.call({"GET", "k"}) == "$5\r\nhello\r\n");
    c.send("get k\r\n");  // inline, as telnet would send it
    BOOST_TEST(c.reply() == "$5\r\nhello\r\n");
    BOOST_TEST(c.call({"nope"}) == "-ERR unknown command 'nope', with args beginning with: \r\n");
    BOOST_TEST(c.call({"INFO", "clients"}).find("connected_clients:1\r\n") != std::string::npos);
    // One store for all connections.
    KvClient other(server.address());
    BOOST_TEST(other.call({"GET", "k"}) == "$5\r\nhello\r\n");
    BOOST_TEST(other.call({"INFO", "server"}).find("tcp_port:" + std::to_string(server.address().port())) !=
               std::string::npos);
  });
}

BOOST_AUTO_TEST_CASE(pipelined_commands_are_answered_in_order_in_one_write) {
  weft::test::run([] {
    KvServer server;
    KvClient c(server.address());
    BOOST_TEST(c.call({"PING"}) == "+PONG\r\n");
    std::string batch;
    for (int i = 0; i < 16; ++i) batch += KvClient::encode({"INCR", "n"});
    const auto writes_before = server.counters().writes.load();
    c.send(batch);
    const auto r = c.replies(16);
    BOOST_REQUIRE(r.size() == 16u);
    for (int i = 0; i < 16; ++i) BOOST_TEST(r[static_cast<std::size_t>(i)] == ":" + std::to_string(i + 1) + "\r\n");
    BOOST_TEST(server.counters().writes.load() - writes_before == 1u);
    // Many more than fit one read or one write of the buffers.
    batch.clear();
    for (int i = 0; i < 3000; ++i) batch += KvClient::encode({"RPUSH", "l", std::to_string(i)});
    batch += "LLEN l\r\n";
    c.send(batch);
    const auto many = c.replies(3001);
    BOOST_REQUIRE(many.size() == 3001u);
    BOOST_TEST(many[2999] == ":3000\r\n");
    BOOST_TEST(many[3000] == ":3000\r\n");
  });
}

BOOST_AUTO_TEST_CASE(a_command_arriving_byte_by_byte_is_waited_for) {
  weft::test::run([] {
    KvServer server;
    KvClient c(server.address());
    const std::string cmd = KvClient::encode({"SET", "key", "value"}) + "GET key\r\n";
    for (char ch : cmd) {
      c.send(std::string_view(&ch, 1));
      weft::sleep_for(1ms);
    }
    const auto r = c.replies(2);
    BOOST_REQUIRE(r.size() == 2u);
    BOOST_TEST(r[0] == "+OK\r\n");
    BOOST_TEST(r[1] == "$5\r\nvalue\r\n");
  });
}

BOOST_AUTO_TEST_CASE(values_larger_than_the_read_buffer_go_through) {
  weft::test::run([] {
    KvServer server;
    KvClient c(server.address());
    std::string big(3 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
    // The big command and small ones before and after it, in one write.
    c.send(KvClient::encode({"SET", "small", "1"}) + KvClient::encode({"SET", "big", big}) +
           KvClient::encode({"STRLEN", "big"}) + KvClient::encode({"INCR", "small"}));
    const auto r = c.replies(4);
    BOOST_REQUIRE(r.size() == 4u);
    BOOST_TEST(r[1] == "+OK\r\n");
    BOOST_TEST(r[2] == ":" + std::to_string(big.size()) + "\r\n");
    BOOST_TEST(r[3] == ":2\r\n");
    BOOST_TEST((c.call({"GET", "big"}) == "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n"));
    // A long inline line too (up to the 64 KiB limit).
    c.send("ECHO " + std::string(60000, 'y') + "\r\n");
    BOOST_TEST(c.reply().size() == 60000u + 10u);  // "$60000\r\n" and the CRLF
  });
}

BOOST_AUTO_TEST_CASE(keys_expire_with_a_short_px) {
  weft::test::run([] {
    weft::kv::ServerOptions o;
    o.sweep_interval = 20ms;
    KvServer server(o);
    KvClient c(server.address());
    BOOST_TEST(c.call({"SET", "k", "v", "PX", "60"}) == "+OK\r\n");
    BOOST_TEST(c.call({"GET", "k"}) == "$1\r\nv\r\n");
    const std::string pttl = c.call({"PTTL", "k"});
    BOOST_TEST((pttl[0] == ':' && std::stoi(pttl.substr(1)) > 0 && std::stoi(pttl.substr(1)) <= 60));
    weft::sleep_for(120ms);
    BOOST_TEST(c.call({"GET", "k"}) == "$-1\r\n");
    BOOST_TEST(c.call({"PTTL", "k"}) == ":-2\r\n");
    // Keys nobody reads again go too: the sweep finds them.
    for (int i = 0; i < 50; ++i) c.send(KvClient::encode({"SET", "t" + std::to_string(i), "v", "PX", "10"}));
    BOOST_TEST(c.replies(50).size() == 50u);
    BOOST_TEST(c.call({"DBSIZE"}) == ":50\r\n");
    std::string size;
    for (int i = 0; i < 100 && size != ":0\r\n"; ++i) {
      weft::sleep_for(20ms);
      size = c.call({"DBSIZE"});
    }
    BOOST_TEST(size == ":0\r\n");
  });
}

BOOST_AUTO_TEST_CASE(malformed_input_closes_only_that_connection) {
  weft::test::run([] {
    KvServer server;
    KvClient good(server.address());
    BOOST_TEST(good.call({"SET", "k", "1"}) == "+OK\r\n");
    const std::pair<const char*, const char*> cases[] = {
        {"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
        {"*1\r\nx\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"},
        {"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
        {"set a \"b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
        // Commands before the fault are answered first.
        {"PING\r\n*2\r\n$3\r\nGET\r\n!\r\n", "+PONG\r\n-ERR Protocol error: expected '$', got '!'\r\n"},
    };
    for (const auto& [input, expected] : cases) {
      KvClient bad(server.address());
      bad.send(input);
      BOOST_TEST_INFO("input " << input);
      BOOST_TEST(bad.closed());
      BOOST_TEST(bad.pending() == expected);
      BOOST_TEST(good.call({"INCR", "k"}).front() == ':');
    }
    // An inline request that never ends, past 64 KiB.
    KvClient endless(server.address());
    endless.send(std::string(70000, 'a'));
    BOOST_TEST(endless.closed());
    BOOST_TEST(endless.pending() == "-ERR Protocol error: too big inline request\r\n");
    BOOST_TEST(good.call({"GET", "k"}) == "$1\r\n6\r\n");
    BOOST_TEST(server.counters().protocol_errors.load() == 6u);
  });
}

BOOST_AUTO_TEST_CASE(a_peer_that_leaves_mid_command_ends_only_its_connection) {
  weft::test::run([] {
    KvServer server;
    KvClient stays(server.address());
    BOOST_TEST(stays.call({"PING"}) == "+PONG\r\n");
    for (const char* partial : {"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc", "*2\r\n", "GET k"}) {
      {
        KvClient leaves(server.address());
        leaves.send(partial);
        weft::sleep_for(5ms);
      }  // closed here
      BOOST_TEST(stays.call({"EXISTS", "k"}) == ":0\r\n");  // the half command never ran
    }
    // The server let go of them: only one client is left.
    std::string info;
    for (int i = 0; i < 100 && info.find("connected_clients:1\r\n") == std::string::npos; ++i) {
      weft::sleep_for(5ms);
      info = stays.call({"INFO", "clients"});
    }
    BOOST_TEST(info.find("connected_clients:1\r\n") != std::string::npos);
  });
}

BOOST_AUTO_TEST_CASE(quit_answers_then_closes) {
  weft::test::run([] {
    KvServer server;
    KvClient c(server.address());
    c.send("QUIT\r\nPING\r\n");
    BOOST_TEST(c.closed());
    BOOST_TEST(c.pending() == "+OK\r\n");
  });
}

BOOST_AUTO_TEST_CASE(clients_over_the_limit_are_told_and_closed) {
  weft::test::run([] {
    weft::kv::ServerOptions o;
    o.max_clients = 2;
    KvServer server(o);
    KvClient a(server.address()), b(server.address());
    BOOST_TEST(a.call({"PING"}) == "+PONG\r\n");
    BOOST_TEST(b.call({"PING"}) == "+PONG\r\n");
    {
      KvClient c(server.address());
      BOOST_TEST(c.closed());
      BOOST_TEST(c.pending() == "-ERR max number of clients reached\r\n");
    }
    BOOST_TEST(server.counters().rejected.load() == 1u);
    BOOST_TEST(a.call({"PING"}) == "+PONG\r\n");
  });
}

// redis's `timeout`: a client idle between commands past idle_timeout is
// closed; one that keeps sending is not, nor is a subscriber waiting for
// messages.
BOOST_AUTO_TEST_CASE(an_idle_client_is_closed_after_the_idle_timeout) {
  weft::test::run([] {
    weft::kv::ServerOptions o;
    o.idle_timeout = std::chrono::milliseconds(200);
    KvServer server(o);
    KvClient idle(server.address()), busy(server.address()), listener(server.address());
    BOOST_TEST(idle.call({"PING"}) == "+PONG\r\n");
    BOOST_TEST(listener.call({"SUBSCRIBE", "news"}) == "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    const auto t0 = weft::Clock::now();
    for (int i = 0; i < 8; ++i) {  // 400 ms of a command every 50 ms
      weft::sleep_for(std::chrono::milliseconds(50));
      BOOST_TEST(busy.call({"PING"}) == "+PONG\r\n");
    }
    BOOST_TEST(idle.closed());
    const bool in_time = weft::Clock::now() - t0 < std::chrono::seconds(5);
    BOOST_TEST(in_time);
    BOOST_TEST(busy.call({"PUBLISH", "news", "hi"}) == ":1\r\n");
    BOOST_TEST(listener.reply() == "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
  });
}

BOOST_AUTO_TEST_CASE(concurrent_clients_see_one_consistent_store) {
  weft::test::run([] {
    KvServer server;
    std::vector<weft::JoinHandle<void>> clients;
    // Counted here and checked on this fiber: Boost.Test's checks are not
    // safe from fibers running at once on two workers.
    std::atomic<int> short_batches{0};
    for (int i = 0; i < 4; ++i) {
      clients.push_back(weft::spawn([&server, &short_batches] {
        KvClient c(server.address());
        std::string batch;
        for (int j = 0; j < 50; ++j) batch += KvClient::encode({"INCR", "counter"});
        for (int round = 0; round < 10; ++round) {
          c.send(batch);
          if (c.replies(50).size() != 50u) short_batches.fetch_add(1);
        }
      }));
    }
    for (auto& h : clients) h.join();
    BOOST_TEST(short_batches.load() == 0);
    KvClient c(server.address());
    BOOST_TEST(c.call({"GET", "counter"}) == "$4\r\n2000\r\n");
  });
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// Gives the server time to park a client that was just sent a BLPOP (so
// that the order in which clients block is the order of the test).
void settle() { weft::sleep_for(30ms); }

std::string pair_reply(std::string_view key, std::string_view value) {
  return "*2\r\n$" + std::to_string(key.size()) + "\r\n" + std::string(key) + "\r\n$" +
         std::to_string(value.size()) + "\r\n" + std::string(value) + "\r\n";
}

std::string message(std::string_view channel, std::string_view payload) {
  return "*3\r\n$7\r\nmessage\r\n$" + std::to_string(channel.size()) + "\r\n" + std::string(channel) + "\r\n$" +
         std::to_string(payload.size()) + "\r\n" + std::string(payload) + "\r\n";
}

std::string pmessage(std::string_view pattern, std::string_view channel, std::string_view payload) {
  return "*4\r\n$8\r\npmessage\r\n$" + std::to_string(pattern.size()) + "\r\n" + std::string(pattern) + "\r\n" +
         message(channel, payload).substr(std::string_view("*3\r\n$7\r\nmessage\r\n").size());
}

// True when nothing arrives on `c` for a while.
bool quiet(KvClient& c) {
  char buf[256];
  auto n = c.stream().read(buf, {.deadline = weft::after(50ms)});
  if (n && *n > 0) c.pending().append(buf, *n);
  return !n && c.pending().empty();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(blocking)

BOOST_AUTO_TEST_CASE(blpop_is_served_by_a_later_push_from_another_client) {
  weft::test::run([] {
    KvServer server;
    KvClient waiter(server.address()), pusher(server.address());
    // The PING after it waits for the BLPOP, as in redis-server.
    waiter.send(KvClient::encode({"BLPOP", "queue", "0"}) + KvClient::encode({"PING"}));
    settle();
    BOOST_TEST(quiet(waiter));
    BOOST_TEST(pusher.call({"RPUSH", "queue", "job"}) == ":1\r\n");  // the length as if nobody waited
    const auto r = waiter.replies(2);
    BOOST_REQUIRE(r.size() == 2u);
    BOOST_TEST(r[0] == pair_reply("queue", "job"));
    BOOST_TEST(r[1] == "+PONG\r\n");
    BOOST_TEST(pusher.call({"EXISTS", "queue"}) == ":0\r\n");
    // With a value there already, it pops at once.
    BOOST_TEST(pusher.call({"RPUSH", "queue", "a", "b"}) == ":2\r\n");
    BOOST_TEST(waiter.call({"BLPOP", "queue", "1"}) == pair_reply("queue", "a"));
  });
}

BOOST_AUTO_TEST_CASE(blocked_clients_are_served_in_the_order_they_blocked) {
  weft::test::run([] {
    KvServer server;
    std::vector<std::unique_ptr<KvClient>> waiters;
    for (int i = 0; i < 3; ++i) {
      waiters.push_back(std::make_unique<KvClient>(server.address()));
      waiters.back()->send(KvClient::encode({i == 1 ? "BRPOP" : "BLPOP", "k", "0"}));
      settle();
    }
    KvClient pusher(server.address());
    // Pushed as LPUSH pushes (the list is d c b a), then served in turn, each
    // from its own end: d to the first, a to the second (BRPOP), c to the third.
    BOOST_TEST(pusher.call({"LPUSH", "k", "a", "b", "c", "d"}) == ":4\r\n");
    BOOST_TEST(waiters[0]->reply() == pair_reply("k", "d"));
    BOOST_TEST(waiters[1]->reply() == pair_reply("k", "a"));
    BOOST_TEST(waiters[2]->reply() == pair_reply("k", "c"));
    BOOST_TEST(pusher.call({"LRANGE", "k", "0", "-1"}) == "*1\r\n$1\r\nb\r\n");
    // One value serves one waiter; the next waits for the next push.
    waiters[0]->send(KvClient::encode({"BLPOP", "j", "0"}));
    settle();
    waiters[1]->send(KvClient::encode({"BLPOP", "j", "0"}));
    settle();
    BOOST_TEST(pusher.call({"RPUSH", "j", "x"}) == ":1\r\n");
    BOOST_TEST(waiters[0]->reply() == pair_reply("j", "x"));
    BOOST_TEST(quiet(*waiters[1]));
    BOOST_TEST(pusher.call({"RPUSH", "j", "y"}) == ":1\r\n");
    BOOST_TEST(waiters[1]->reply() == pair_reply("j", "y"));
  });
}

BOOST_AUTO_TEST_CASE(blpop_times_out_with_the_null_array) {
  weft::test::run([] {
    KvServer server;
    KvClient c(server.address());
    const auto start = weft::Clock::now();
    BOOST_TEST(c.call({"BLPOP", "nothing", "0.05"}) == "*-1\r\n");
    BOOST_TEST((weft::Clock::now() - start >= 45ms));
    // A wait under a millisecond is one millisecond, not forever.
    BOOST_TEST(c.call({"BRPOP", "nothing", "0.0001"}) == "*-1\r\n");
    BOOST_TEST(c.call({"BLPOP", "nothing", "-1"}) == "-ERR timeout is negative\r\n");
    BOOST_TEST(c.call({"BLPOP", "nothing", "soon"}) == "-ERR timeout is not a float or out of range\r\n");
    BOOST_TEST(c.call({"SET", "s", "v"}) == "+OK\r\n");
    BOOST_TEST(c.call({"BLPOP", "nothing", "s", "0"}).starts_with("-WRONGTYPE"));
    BOOST_TEST(c.call({"BLPOP", "k"}) == "-ERR wrong number of arguments for 'blpop' command\r\n");
    // Nothing is left waiting: a later push stays in the list.
    BOOST_TEST(c.call({"RPUSH", "nothing", "v"}) == ":1\r\n");
    BOOST_TEST(c.call({"LLEN", "nothing"}) == ":1\r\n");
  });
}

BOOST_AUTO_TEST_CASE(a_blocked_client_that_disconnects_loses_nothing) {
  weft::test::run([] {
    KvServer server;
    KvClient pusher(server.address());
    KvClient stays(server.address());
    {
      KvClient leaves(server.address());
      leaves.send(KvClient::encode({"BLPOP", "k", "0"}));
      settle();
      stays.send(KvClient::encode({"BLPOP", "k", "0"}));
      settle();
    }  // closed while blocked: the next push goes to the next waiter
    settle();
    BOOST_TEST(pusher.call({"RPUSH", "k", "v1"}) == ":1\r\n");
    BOOST_TEST(stays.reply() == pair_reply("k", "v1"));
    {
      KvClient leaves(server.address());
      leaves.send(KvClient::encode({"BLPOP", "k", "0"}));
      settle();
    }
    settle();
    // Nobody waits now: the value stays in the list.
    BOOST_TEST(pusher.call({"RPUSH", "k", "v2"}) == ":1\r\n");
    BOOST_TEST(pusher.call({"LRANGE", "k", "0", "-1"}) == "*1\r\n$2\r\nv2\r\n");
  });
}

BOOST_AUTO_TEST_CASE(brpop_on_several_keys_pops_the_first_that_has_a_value) {
  weft::test::run([] {
    KvServer server;
    KvClient c(server.address()), pusher(server.address());
    BOOST_TEST(pusher.call({"RPUSH", "b", "1", "2"}) == ":2\r\n");
    BOOST_TEST(c.call({"BRPOP", "a", "b", "0"}) == pair_reply("b", "2"));
    BOOST_TEST(c.call({"BLPOP", "a", "b", "0"}) == pair_reply("b", "1"));
    // Nothing in either: the first pushed to serves it.
    c.send(KvClient::encode({"BRPOP", "a", "b", "c", "0"}));
    settle();
    BOOST_TEST(pusher.call({"RPUSH", "c", "x", "y"}) == ":2\r\n");
    BOOST_TEST(c.reply() == pair_reply("c", "y"));
    BOOST_TEST(pusher.call({"LRANGE", "c", "0", "-1"}) == "*1\r\n$1\r\nx\r\n");
    // Served once: a push to another of its keys later stays there.
    BOOST_TEST(pusher.call({"RPUSH", "a", "z"}) == ":1\r\n");
    BOOST_TEST(pusher.call({"LLEN", "a"}) == ":1\r\n");
  });
}

BOOST_AUTO_TEST_CASE(a_blocked_client_ends_when_the_server_stops) {
  weft::test::run([] {
    std::optional<KvServer> server(std::in_place);
    KvClient c(server->address());
    c.send(KvClient::encode({"BLPOP", "k", "0"}));
    settle();
    const auto start = weft::Clock::now();
    server.reset();  // a graceful stop: the parked client is idle, it closes
    BOOST_TEST((weft::Clock::now() - start < 2s));
    BOOST_TEST(c.closed());
    BOOST_TEST(c.pending().empty());
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pubsub)

BOOST_AUTO_TEST_CASE(subscribe_publish_and_unsubscribe_reply_as_redis) {
  weft::test::run([] {
    KvServer server;
    KvClient sub(server.address()), pub(server.address());
    BOOST_TEST(pub.call({"PUBLISH", "news", "nobody"}) == ":0\r\n");
    sub.send(KvClient::encode({"SUBSCRIBE", "news", "sport", "news"}));
    const auto r = sub.replies(3);
    BOOST_REQUIRE(r.size() == 3u);
    BOOST_TEST(r[0] == "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    BOOST_TEST(r[1] == "*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n");
    BOOST_TEST(r[2] == "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:2\r\n");
    // The message reaches it while it is idle, waiting for input.
    BOOST_TEST(pub.call({"PUBLISH", "news", "hello"}) == ":1\r\n");
    BOOST_TEST(sub.reply() == message("news", "hello"));
    BOOST_TEST(pub.call({"PUBLISH", "sport", ""}) == ":1\r\n");
    BOOST_TEST(sub.reply() == message("sport", ""));
    BOOST_TEST(sub.call({"UNSUBSCRIBE", "news"}) == "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    BOOST_TEST(pub.call({"PUBLISH", "news", "again"}) == ":0\r\n");
    BOOST_TEST(sub.call({"UNSUBSCRIBE"}) == "*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:0\r\n");
    BOOST_TEST(sub.call({"UNSUBSCRIBE"}) == "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    // Out of subscribed mode: commands run again.
    BOOST_TEST(sub.call({"PING"}) == "+PONG\r\n");
    BOOST_TEST(sub.call({"GET", "x"}) == "$-1\r\n");
  });
}

BOOST_AUTO_TEST_CASE(patterns_get_pmessages_and_every_receiver_is_counted) {
  weft::test::run([] {
    KvServer server;
    KvClient both(server.address()), patterns(server.address()), pub(server.address());
    BOOST_TEST(both.call({"SUBSCRIBE", "news.tech"}) == "*3\r\n$9\r\nsubscribe\r\n$9\r\nnews.tech\r\n:1\r\n");
    BOOST_TEST(both.call({"PSUBSCRIBE", "news.*"}) == "*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:2\r\n");
    patterns.send(KvClient::encode({"PSUBSCRIBE", "news.[st]*", "*tech"}));
    BOOST_TEST(patterns.replies(2).size() == 2u);
    // both: the channel and its pattern (two); patterns: two patterns match.
    BOOST_TEST(pub.call({"PUBLISH", "news.tech", "m1"}) == ":4\r\n");
    const auto b = both.replies(2);
    BOOST_REQUIRE(b.size() == 2u);
    BOOST_TEST(b[0] == message("news.tech", "m1"));  // the channel's subscribers first
    BOOST_TEST(b[1] == pmessage("news.*", "news.tech", "m1"));
    const auto p = patterns.replies(2);
    BOOST_TEST((std::set<std::string>(p.begin(), p.end()) ==
                std::set<std::string>{pmessage("news.[st]*", "news.tech", "m1"), pmessage("*tech", "news.tech", "m1")}));
    BOOST_TEST(pub.call({"PUBLISH", "news.sport", "m2"}) == ":2\r\n");
    BOOST_TEST(both.reply() == pmessage("news.*", "news.sport", "m2"));
    BOOST_TEST(patterns.reply() == pmessage("news.[st]*", "news.sport", "m2"));
    BOOST_TEST(patterns.call({"PUNSUBSCRIBE", "*tech"}) == "*3\r\n$12\r\npunsubscribe\r\n$5\r\n*tech\r\n:1\r\n");
    BOOST_TEST(pub.call({"PUBLISH", "weather", "m3"}) == ":0\r\n");
    BOOST_TEST(pub.call({"PUBLISH", "news.tech", "m4"}) == ":3\r\n");
  });
}

BOOST_AUTO_TEST_CASE(subscribed_mode_refuses_other_commands) {
  weft::test::run([] {
    KvServer server;
    KvClient c(server.address());
    BOOST_TEST(c.call({"SUBSCRIBE", "ch"}) == "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    const std::string only =
        "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    BOOST_TEST(c.call({"GET", "k"}) == "-ERR Can't execute 'get" + only);
    BOOST_TEST(c.call({"config", "get", "save"}) == "-ERR Can't execute 'config|get" + only);
    BOOST_TEST(c.call({"GET"}) == "-ERR wrong number of arguments for 'get' command\r\n");  // arity first
    BOOST_TEST(c.call({"PING"}) == "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    BOOST_TEST(c.call({"PING", "hi"}) == "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    BOOST_TEST(c.call({"RESET"}) == "+RESET\r\n");
    BOOST_TEST(c.call({"PING"}) == "+PONG\r\n");
    BOOST_TEST(c.call({"PSUBSCRIBE", "p*"}) == "*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:1\r\n");
    c.send("QUIT\r\n");
    BOOST_TEST(c.closed());
    BOOST_TEST(c.pending() == "+OK\r\n");
  });
}

BOOST_AUTO_TEST_CASE(a_subscriber_that_never_reads_is_dropped_and_publish_never_waits) {
  weft::test::run([] {
    KvServer server;
    KvClient slow(server.address()), reader(server.address()), pub(server.address());
    BOOST_TEST(slow.call({"SUBSCRIBE", "firehose"}) == "*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n");
    BOOST_TEST(reader.call({"SUBSCRIBE", "other"}) == "*3\r\n$9\r\nsubscribe\r\n$5\r\nother\r\n:1\r\n");
    // 64 KiB messages until the slow one is dropped: past the socket
    // buffers, its outbox passes 1 MiB.
    const std::string payload(64 << 10, 'm');
    std::string last;
    auto slowest = weft::Clock::duration::zero();
    int sent = 0;
    for (; sent < 1000 && last != ":0\r\n"; ++sent) {
      const auto start = weft::Clock::now();
      last = pub.call({"PUBLISH", "firehose", payload});
      slowest = std::max(slowest, weft::Clock::now() - start);
      BOOST_REQUIRE(!last.empty());
    }
    BOOST_TEST(last == ":0\r\n");  // it receives nothing more
    BOOST_TEST(sent < 1000);
    BOOST_TEST((slowest < 1s));
    // The others are served as before.
    BOOST_TEST(pub.call({"PUBLISH", "other", "still here"}) == ":1\r\n");
    BOOST_TEST(reader.reply() == message("other", "still here"));
    // Its connection was closed: what was written before ends in a close.
    BOOST_TEST(slow.closed());
  });
}

BOOST_AUTO_TEST_SUITE_END()
