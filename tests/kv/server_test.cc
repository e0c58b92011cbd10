// The key-value service end to end, on the runtime under test: commands
// over TCP, pipelining, commands in pieces and larger than the reader's
// buffer, expiry, and bad clients (malformed, vanishing, too many), none of
// which may disturb the others.
#include <atomic>
#include <boost/test/unit_test.hpp>
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
