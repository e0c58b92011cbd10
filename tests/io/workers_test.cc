// I/O with several workers: a request lives on the ring (or epoll set) of
// the worker that started it, and is cancelled, closed under and served
// from any other thread. These tests ask for two workers whatever
// WEFT_TEST_WORKERS says; CTest runs them on both backends.
#include <fcntl.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/net.h"
#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::Clock;
using weft::net::TcpListener;
using weft::net::TcpStream;
using weft::test::connect_pair;
using weft::test::listen_any;
using weft::test::Pair;

namespace {

// Starts a read of `s` that parks on the other worker: the calling fiber
// spins (keeping its own worker busy) until the reader has begun there, then
// gives the read a moment to reach its ring or epoll set.
weft::JoinHandle<std::error_code> read_on_the_other_worker(TcpStream& s, weft::WaitOptions o) {
  std::atomic<bool> reading{false};
  std::atomic<std::size_t> reader_worker{SIZE_MAX};
  auto reader = weft::spawn([&s, o, &reading, &reader_worker]() -> std::error_code {
    char buf[8];
    reader_worker.store(weft::this_fiber::worker());
    reading.store(true);
    return s.read(buf, o).error();
  });
  BOOST_TEST(weft::test::spin_until([&] { return reading.load(); }));
  BOOST_TEST(reader_worker.load() != weft::this_fiber::worker());
  std::this_thread::sleep_for(2ms);
  return reader;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(workers)

BOOST_AUTO_TEST_CASE(a_token_cancelled_by_a_plain_thread_ends_a_read) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    weft::CancelToken token;
    std::thread canceller([&] {
      std::this_thread::sleep_for(10ms);
      token.cancel();
    });
    char buf[8];
    const auto start = Clock::now();
    const auto r = p.client.read(buf, {.deadline = weft::after(10s), .cancel = &token});
    canceller.join();
    BOOST_TEST((r.error() == std::errc::operation_canceled));
    BOOST_TEST((Clock::now() - start < 5s));
    // The stream is still usable.
    BOOST_TEST(p.server.write_all("ok").has_value());
    BOOST_TEST(p.client.read_exact({buf, 2}).has_value());
    BOOST_TEST(std::string(buf, 2) == "ok");
  });
}

BOOST_AUTO_TEST_CASE(a_token_cancelled_on_another_worker_ends_a_read) {
  weft::test::run(
      [] {
        TcpListener listener = listen_any();
        Pair p = connect_pair(listener);
        weft::CancelToken token;
        auto reader =
            read_on_the_other_worker(p.client, {.deadline = weft::after(10s), .cancel = &token});
        token.cancel();
        BOOST_TEST((reader.join() == std::errc::operation_canceled));
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_CASE(closing_a_stream_ends_a_read_parked_on_another_worker,
                     weft::test::kernel_feature(weft::test::closing_cancels_waits,
                                                "cancelling requests by descriptor (Linux 5.19)")) {
  weft::test::run(
      [] {
        TcpListener listener = listen_any();
        Pair p = connect_pair(listener);
        auto reader = read_on_the_other_worker(p.client, {.deadline = weft::after(10s)});
        const auto start = Clock::now();
        BOOST_TEST(p.client.close().has_value());
        const std::error_code e = reader.join();
        BOOST_TEST((e == std::errc::operation_canceled || e == std::errc::bad_file_descriptor),
                   e.message());
        BOOST_TEST((Clock::now() - start < 5s));
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_CASE(closing_a_listener_ends_an_accept_parked_on_another_worker) {
  weft::test::run(
      [] {
        TcpListener listener = listen_any();
        std::atomic<bool> accepting{false};
        auto acceptor = weft::spawn([&] {
          accepting.store(true);
          return listener.accept({.deadline = weft::after(10s)}).error();
        });
        BOOST_TEST(weft::test::spin_until([&] { return accepting.load(); }));
        std::this_thread::sleep_for(2ms);
        BOOST_TEST(listener.close().has_value());
        BOOST_TEST((acceptor.join() == std::errc::operation_canceled));
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_CASE(dropping_streams_on_other_workers_closes_them_everywhere) {
  // Each stream is read on one worker and destroyed on whichever worker its
  // fiber ends on: the descriptor must be closed (the peer sees the end)
  // and never leak.
  const auto open_descriptors = [] {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd) n += ::fcntl(fd, F_GETFD) != -1;
    return n;
  };
  const int before = open_descriptors();
  weft::test::run(
      [] {
        TcpListener listener = listen_any();
        for (int i = 0; i < 50; ++i) {
          Pair p = connect_pair(listener);
          auto owner = weft::spawn([s = std::move(p.server)]() mutable {
            char buf[4];
            (void)s.read(buf, {.deadline = weft::after(1ms)});
            weft::yield();
          });
          owner.join();
          char buf[4];
          BOOST_TEST(p.client.read(buf, {.deadline = weft::after(5s)}).value() == 0u);
        }
      },
      weft::test::two_workers());
  BOOST_TEST(open_descriptors() == before);
}

// Every client is served in full, each time. That the handlers ran on both
// workers is asserted over up to five tries: under a parallel ctest a worker
// thread can go without a CPU for a whole try, and the other then serves
// everyone (correctly).
BOOST_AUTO_TEST_CASE(a_server_on_two_workers_serves_every_client) {
  bool spread = false;
  for (int attempt = 0; attempt < 5 && !spread; ++attempt) {
    weft::test::run(
        [&] {
          TcpListener listener = listen_any();
          const auto address = listener.local_address().value();
          constexpr int kClients = 64;
          constexpr int kRounds = 20;
          std::atomic<unsigned> handler_workers{0};
          std::atomic<int> served{0};
          std::atomic<int> handlers_done{0};
          // Two acceptors, one per worker if they spread.
          std::vector<weft::JoinHandle<void>> acceptors;
          for (int a = 0; a < 2; ++a) {
            acceptors.push_back(weft::spawn([&] {
              while (served.load() < kClients) {
                auto c = listener.accept({.deadline = weft::after(200ms)});
                if (!c) continue;
                served.fetch_add(1);
                weft::spawn([&, s = std::move(*c)]() mutable {
                  char buf[64];
                  for (;;) {
                    handler_workers.fetch_or(1u << weft::this_fiber::worker());
                    auto n = s.read(buf, {.deadline = weft::after(10s)});
                    if (!n || *n == 0 || !s.write_all({buf, *n})) break;
                  }
                  handlers_done.fetch_add(1);
                }).detach();
              }
            }));
          }
          std::vector<weft::JoinHandle<int>> clients;
          for (int i = 0; i < kClients; ++i) {
            clients.push_back(weft::spawn([&, i] {
              TcpStream c = TcpStream::connect(address, {.deadline = weft::after(10s)}).value();
              int good = 0;
              for (int r = 0; r < kRounds; ++r) {
                const std::string msg = std::to_string(i) + ":" + std::to_string(r);
                char buf[64];
                if (!c.write_all(msg)) break;
                if (!c.read_exact({buf, msg.size()}, {.deadline = weft::after(10s)})) break;
                good += std::string(buf, msg.size()) == msg;
              }
              return good;
            }));
          }
          int good = 0;
          for (auto& c : clients) good += c.join();
          for (auto& a : acceptors) a.join();
          BOOST_TEST(good == kClients * kRounds);
          spread = handler_workers.load() == 3u;
          // The detached handlers see their clients' end and finish.
          const auto give_up = Clock::now() + 10s;
          while (handlers_done.load() < kClients && Clock::now() < give_up) weft::sleep_for(1ms);
          BOOST_TEST(handlers_done.load() == kClients);
          // A handler counts itself done just before it ends: let the last end.
          while (weft::stats().fibers_live > 1 && Clock::now() < give_up) weft::sleep_for(1ms);
        },
        weft::test::two_workers());
  }
  BOOST_TEST(spread);
}

BOOST_AUTO_TEST_SUITE_END()
