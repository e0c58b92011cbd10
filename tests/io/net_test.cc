#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <optional>
#include <numeric>
#include <string>
#include <vector>

#include "support/child.h"
#include "support/net.h"
#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::Clock;
using weft::net::Address;
using weft::net::TcpListener;
using weft::net::TcpStream;
using weft::net::UdpSocket;
using weft::test::connect_pair;
using weft::test::listen_any;
using weft::test::Pair;

BOOST_AUTO_TEST_SUITE(tcp)

// The one list of accept errors a server waits out (the HTTP server and the
// Node loop both use it).
BOOST_AUTO_TEST_CASE(accept_errors_that_pass_by_themselves_are_told_from_the_end) {
  using E = std::errc;
  for (E e : {E::too_many_files_open, E::too_many_files_open_in_system, E::no_buffer_space,
              E::not_enough_memory, E::connection_aborted})
    BOOST_TEST(TcpListener::transient(std::make_error_code(e)));
  for (E e : {E::operation_canceled, E::bad_file_descriptor, E::invalid_argument})
    BOOST_TEST(!TcpListener::transient(std::make_error_code(e)));
}

BOOST_AUTO_TEST_CASE(round_trip_carries_every_byte) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    auto server = weft::spawn([&] {
      TcpStream conn = listener.accept().value();
      char buf[8192];
      std::size_t total = 0;
      for (;;) {
        const std::size_t n = conn.read(buf).value();
        if (n == 0) break;
        conn.write_all(weft::ConstBuffer(buf, n)).value();
        total += n;
      }
      return total;
    });
    TcpStream client = TcpStream::connect(listener.local_address().value()).value();
    std::vector<std::uint8_t> out(1 << 20);
    std::iota(out.begin(), out.end(), 0);
    auto writer = weft::spawn([&] {
      client.write_all(out).value();
      client.shutdown(weft::net::Shutdown::write).value();
    });
    std::vector<std::uint8_t> in(out.size());
    client.read_exact(in).value();
    writer.join();
    BOOST_TEST(server.join() == out.size());
    BOOST_TEST((in == out));
  });
}

// Zero-copy sends (RuntimeOptions::send_zc_min) complete twice on the ring;
// the writer resumes only after the second, so it may overwrite its buffer
// at once. (On epoll the option does nothing and the test still holds.)
BOOST_AUTO_TEST_CASE(zero_copy_sends_carry_every_byte) {
  weft::RuntimeOptions o;
  o.send_zc_min = 4096;
  weft::test::run(
      [] {
        TcpListener listener = listen_any();
        Pair p = connect_pair(listener);
        constexpr std::size_t kChunk = 64 << 10;
        constexpr std::size_t kChunks = 32;
        auto writer = weft::spawn([&] {
          std::vector<std::uint8_t> chunk(kChunk);
          for (std::size_t i = 0; i < kChunks; ++i) {
            std::fill(chunk.begin(), chunk.end(), static_cast<std::uint8_t>(i + 1));
            p.client.write_all(chunk).value();
          }
          // A small one goes out the ordinary way, between zero-copy ones.
          const char tail[3] = {'e', 'n', 'd'};
          p.client.write_all(weft::ConstBuffer(tail, 3)).value();
          p.client.shutdown(weft::net::Shutdown::write).value();
        });
        std::vector<std::uint8_t> in(kChunk * kChunks + 3);
        p.server.read_exact(in).value();
        char extra;
        BOOST_TEST(p.server.read(weft::MutableBuffer(&extra, 1)).value() == 0u);
        writer.join();
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < kChunk * kChunks; ++i) {
          wrong += in[i] != static_cast<std::uint8_t>(i / kChunk + 1);
        }
        BOOST_TEST(wrong == 0u);
        BOOST_TEST(std::string(in.end() - 3, in.end()) == "end");
      },
      o);
}

// Receives through provided buffers (RuntimeOptions::provided_buffers):
// with only two buffers and sixteen connections receiving at once, some
// receives find none free (-ENOBUFS) and go again with their own buffer.
// Every byte must still arrive, in order, on the right connection.
BOOST_AUTO_TEST_CASE(provided_buffer_receives_carry_every_byte_even_when_buffers_run_out, weft::test::ring_only()) {
  weft::RuntimeOptions o;
  o.provided_buffers = 2;
  std::uint64_t misses = 0;
  std::size_t wrong = 0;
  bool provided = false;
  for (int attempt = 0; attempt < 20 && misses == 0; ++attempt) {
    weft::Runtime rt(weft::test::options(o));
    provided = rt.features().provided_buffers;
    rt.run([&] {
      TcpListener listener = listen_any();
      constexpr int kConns = 16;
      constexpr std::size_t kBytes = 40000;  // more than two 16 KiB buffers
      std::vector<Pair> pairs;
      for (int i = 0; i < kConns; ++i) pairs.push_back(connect_pair(listener));
      std::vector<weft::JoinHandle<std::size_t>> readers;
      for (int i = 0; i < kConns; ++i) {
        readers.push_back(weft::spawn([&, i] {
          std::vector<std::uint8_t> in(kBytes);
          pairs[i].server.read_exact(in).value();
          std::size_t bad = 0;
          for (std::size_t k = 0; k < kBytes; ++k) {
            bad += in[k] != static_cast<std::uint8_t>(k * 7 + static_cast<std::size_t>(i));
          }
          return bad;
        }));
      }
      weft::yield();  // the readers park in their receives first
      std::vector<std::vector<std::uint8_t>> out(kConns, std::vector<std::uint8_t>(kBytes));
      std::vector<weft::JoinHandle<void>> writers;
      for (int i = 0; i < kConns; ++i) {
        for (std::size_t k = 0; k < kBytes; ++k) {
          out[i][k] = static_cast<std::uint8_t>(k * 7 + static_cast<std::size_t>(i));
        }
        writers.push_back(weft::spawn([&, i] { pairs[i].client.write_all(out[i]).value(); }));
      }
      for (auto& w : writers) w.join();
      for (auto& r : readers) wrong += r.join();
    });
    misses += rt.last_stats().buffer_ring_misses;
  }
  BOOST_TEST(wrong == 0u);
  if (provided) {
    BOOST_TEST(misses > 0u, "no receive ever found the two buffers taken");
  } else {
    BOOST_TEST_MESSAGE("the kernel has no provided buffer rings: plain receives tested");
  }
}

BOOST_AUTO_TEST_CASE(read_returns_zero_when_the_peer_closes) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    p.server.write_all("last words").value();
    p.server.close().value();
    char buf[64];
    BOOST_TEST(p.client.read(buf).value() == 10u);
    BOOST_TEST(p.client.read(buf).value() == 0u);
    BOOST_TEST(p.client.read(buf).value() == 0u);  // and stays at end of stream
  });
}

BOOST_AUTO_TEST_CASE(read_exact_reports_end_of_stream_when_the_peer_stops_early) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    p.server.write_all("short").value();
    p.server.close().value();
    char buf[64];
    const auto r = p.client.read_exact(buf);
    BOOST_TEST((r.error() == weft::errc::end_of_stream));
  });
}

BOOST_AUTO_TEST_CASE(read_after_peer_reset_returns_econnreset) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    const linger abort_on_close{1, 0};  // close sends RST
    BOOST_REQUIRE(setsockopt(p.server.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
                             sizeof abort_on_close) == 0);
    p.server.close().value();
    char buf[16];
    const auto r = p.client.read(buf);
    BOOST_TEST((r.error() == std::errc::connection_reset), r.error().message());
  });
}

BOOST_AUTO_TEST_CASE(writing_to_a_reset_peer_is_an_error_not_a_signal) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    const linger abort_on_close{1, 0};
    setsockopt(p.server.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
               sizeof abort_on_close);
    p.server.close().value();
    weft::sleep_for(5ms);
    std::vector<char> chunk(64 << 10, 'x');
    std::error_code e;
    for (int i = 0; i < 100 && !e; ++i) e = p.client.write(chunk).error();
    BOOST_TEST((e == std::errc::connection_reset || e == std::errc::broken_pipe), e.message());
  });
}

BOOST_AUTO_TEST_CASE(connect_to_a_closed_port_returns_econnrefused) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    const Address address = listener.local_address().value();
    listener.close().value();  // nothing listens there now
    const auto r = TcpStream::connect(address);
    BOOST_TEST((r.error() == std::errc::connection_refused), r.error().message());
  });
}

BOOST_AUTO_TEST_CASE(read_with_a_deadline_returns_etimedout_and_the_stream_stays_usable) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    char buf[16];
    const auto start = Clock::now();
    const auto r = p.client.read(buf, {.deadline = weft::after(30ms)});
    const auto took = Clock::now() - start;
    BOOST_TEST((r.error() == std::errc::timed_out), r.error().message());
    BOOST_TEST((took >= 30ms));
    BOOST_TEST((took < 2s));
    p.server.write_all("later").value();
    BOOST_TEST(p.client.read(buf, {.deadline = weft::after(5s)}).value() == 5u);
  });
}

BOOST_AUTO_TEST_CASE(a_deadline_that_has_passed_fails_without_waiting) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    char buf[16];
    const auto r = p.client.read(buf, {.deadline = Clock::now() - 1ms});
    BOOST_TEST((r.error() == std::errc::timed_out));
  });
}

BOOST_AUTO_TEST_CASE(cancelling_a_read_from_another_fiber_returns_ecanceled) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    weft::CancelToken token;
    auto reader = weft::spawn([&] {
      char buf[16];
      return p.client.read(buf, {.cancel = &token}).error();
    });
    weft::sleep_for(10ms);
    BOOST_TEST(!reader.finished());
    token.cancel();
    const std::error_code e = reader.join();
    BOOST_TEST((e == std::errc::operation_canceled), e.message());
    // The connection survives a cancelled read.
    p.server.write_all("ok").value();
    char buf[4];
    BOOST_TEST(p.client.read(buf).value() == 2u);
  });
}

BOOST_AUTO_TEST_CASE(closing_a_stream_ends_reads_parked_on_it,
                     weft::test::kernel_feature(weft::test::closing_cancels_waits,
                                                "cancelling requests by descriptor (Linux 5.19)")) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    auto reader = weft::spawn([&] {
      char buf[16];
      return p.client.read(buf).error();
    });
    weft::sleep_for(5ms);
    TcpStream doomed = std::move(p.client);
    doomed.close().value();
    const std::error_code e = reader.join();
    BOOST_TEST((e == std::errc::operation_canceled || e == std::errc::bad_file_descriptor),
               e.message());
  });
}

BOOST_AUTO_TEST_CASE(use_after_close_is_ebadf) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    Pair p = connect_pair(listener);
    p.client.close().value();
    char buf[4];
    BOOST_TEST((p.client.read(buf).error() == std::errc::bad_file_descriptor));
    BOOST_TEST((p.client.write("x").error() == std::errc::bad_file_descriptor));
    BOOST_TEST((p.client.close().error() == std::errc::bad_file_descriptor));
    listener.close().value();
    BOOST_TEST((listener.accept().error() == std::errc::bad_file_descriptor));
  });
}

BOOST_AUTO_TEST_CASE(accept_serves_many_concurrent_connections) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    const Address address = listener.local_address().value();
    constexpr int kClients = 300;
    auto server = weft::spawn([&] {
      std::vector<weft::JoinHandle<void>> conns;
      for (int i = 0; i < kClients; ++i) {
        TcpStream c = listener.accept().value();
        conns.push_back(weft::spawn([c = std::move(c)]() mutable {
          char buf[8];
          c.read_exact(weft::MutableBuffer(buf, 4)).value();
          c.write_all(weft::ConstBuffer(buf, 4)).value();
        }));
      }
      for (auto& h : conns) h.join();
    });
    std::vector<weft::JoinHandle<bool>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(weft::spawn([&address, i] {
        TcpStream s = TcpStream::connect(address).value();
        const std::string msg = std::to_string(1000 + i);
        s.write_all(msg).value();
        char back[4];
        s.read_exact(back).value();
        return std::string(back, 4) == msg;
      }));
    }
    int ok = 0;
    for (auto& c : clients) ok += c.join();
    server.join();
    BOOST_TEST(ok == kClients);
  });
}

BOOST_AUTO_TEST_CASE(accept_with_a_deadline_times_out_and_can_be_cancelled) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    const auto r = listener.accept({.deadline = weft::after(20ms)});
    BOOST_TEST((r.error() == std::errc::timed_out));
    weft::CancelToken token;
    auto acceptor = weft::spawn([&] { return listener.accept({.cancel = &token}).error(); });
    weft::sleep_for(5ms);
    token.cancel();
    BOOST_TEST((acceptor.join() == std::errc::operation_canceled));
    // Still accepting afterwards.
    Pair p = connect_pair(listener);
    BOOST_TEST(p.server.is_open());
  });
}

BOOST_AUTO_TEST_CASE(closing_a_listener_ends_accepts_parked_on_it) {
  weft::test::run([] {
    TcpListener listener = listen_any();
    auto acceptor = weft::spawn([&] { return listener.accept().error(); });
    weft::sleep_for(5ms);
    listener.close().value();
    BOOST_TEST((acceptor.join() == std::errc::operation_canceled));
  });
}

// Once close() or the destructor returns, the port refuses connections, even
// while the backend still winds down an accept it had armed there.
BOOST_AUTO_TEST_CASE(a_closed_or_destroyed_listener_refuses_connections_at_once) {
  weft::test::run([] {
    for (const bool destroy : {false, true}) {
      std::optional<TcpListener> listener(listen_any());
      const Address address = listener->local_address().value();
      auto acceptor = weft::spawn([&] { return listener->accept().error(); });
      weft::sleep_for(5ms);  // the accept is parked (armed in the kernel on io_uring)
      if (destroy) {
        listener.reset();
      } else {
        listener->close().value();
      }
      const auto c = weft::net::TcpStream::connect(address, {.deadline = weft::after(5s)});
      BOOST_TEST((c.error() == std::errc::connection_refused), "destroyed: " << destroy);
      BOOST_TEST((acceptor.join() == std::errc::operation_canceled));
    }
  });
}

BOOST_AUTO_TEST_CASE(running_out_of_descriptors_is_an_error_the_server_survives) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt(weft::test::options());
    rt.run([] {
      TcpListener listener = listen_any();
      const Address address = listener.local_address().value();
      // Room for only a few more descriptors.
      const int base = ::dup(0);
      ::close(base);
      rlimit lim{static_cast<rlim_t>(base + 6), static_cast<rlim_t>(base + 6)};
      WEFT_CHILD_EXPECT(setrlimit(RLIMIT_NOFILE, &lim) == 0);
      std::vector<TcpStream> clients;
      std::vector<TcpStream> accepted;
      std::error_code failure;
      for (int i = 0; i < 8 && !failure; ++i) {
        auto c = TcpStream::connect(address, {.deadline = weft::after(1s)});
        if (!c) {
          failure = c.error();
          break;
        }
        clients.push_back(std::move(*c));
        auto a = listener.accept({.deadline = weft::after(1s)});
        if (!a)
          failure = a.error();
        else
          accepted.push_back(std::move(*a));
      }
      WEFT_CHILD_EXPECT(failure == std::errc::too_many_files_open);
      // Free some descriptors: the same listener works again.
      clients.clear();
      accepted.clear();
      weft::sleep_for(10ms);  // background closes finish within a round
      TcpStream c = TcpStream::connect(address).value();
      auto a = listener.accept({.deadline = weft::after(2s)});
      if (!a) std::fprintf(stderr, "accept after recovery: %s\n", a.error().message().c_str());
      WEFT_CHILD_EXPECT(a.has_value());
    });
  });
  BOOST_TEST(r.exited);
  BOOST_TEST(r.exit_code == 0, r.err);
}

BOOST_AUTO_TEST_CASE(sockets_held_by_abandoned_fibers_are_closed) {
  int client_end = -1;
  {
    weft::Runtime rt(weft::test::options());
    rt.run([&] {
      TcpListener listener = listen_any();
      Pair p = connect_pair(listener);
      // A detached handler owns the server end and is parked in read() when
      // main returns, as in every accept loop.
      weft::spawn([s = std::move(p.server)]() mutable {
        char buf[8];
        (void)s.read(buf);
      }).detach();
      weft::sleep_for(5ms);
      client_end = p.client.release();
    });
  }
  BOOST_REQUIRE(client_end >= 0);
  timeval wait_at_most{1, 0};
  setsockopt(client_end, SOL_SOCKET, SO_RCVTIMEO, &wait_at_most, sizeof wait_at_most);
  char b;
  BOOST_TEST(::recv(client_end, &b, 1, 0) == 0);  // end of stream: the server end was closed
  ::close(client_end);
}

BOOST_AUTO_TEST_CASE(a_listener_moves_to_the_next_runtime) {
  TcpListener listener = listen_any();  // bound outside any runtime
  const Address address = listener.local_address().value();
  {
    weft::Runtime first;
    first.run([&] {
      BOOST_TEST((listener.accept({.deadline = weft::after(5ms)}).error() == std::errc::timed_out));
    });
  }  // that runtime's ring is gone
  weft::test::run([&] {
    auto client = weft::spawn([&] { return TcpStream::connect(address).value(); });
    auto accepted = listener.accept({.deadline = weft::after(5s)});
    BOOST_TEST(accepted.has_value());
    (void)client.join();
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(udp)

BOOST_AUTO_TEST_CASE(datagrams_round_trip_with_the_senders_address) {
  weft::test::run([] {
    UdpSocket a = UdpSocket::bind({"127.0.0.1", 0}).value();
    UdpSocket b = UdpSocket::bind({"127.0.0.1", 0}).value();
    const Address a_addr = a.local_address().value();
    const Address b_addr = b.local_address().value();
    auto receiver = weft::spawn([&] {
      char buf[64];
      weft::net::Datagram d = b.recv_from(buf).value();
      b.send_to(weft::ConstBuffer(buf, d.size), d.from).value();
      return d.from;
    });
    BOOST_TEST(a.send_to("ping!", b_addr).value() == 5u);
    char buf[64];
    weft::net::Datagram d = a.recv_from(buf, {.deadline = weft::after(5s)}).value();
    BOOST_TEST(std::string(buf, d.size) == "ping!");
    BOOST_TEST((d.from == b_addr));
    BOOST_TEST((receiver.join() == a_addr));
  });
}

BOOST_AUTO_TEST_CASE(recv_from_honours_its_deadline) {
  weft::test::run([] {
    UdpSocket s = UdpSocket::bind({"127.0.0.1", 0}).value();
    char buf[8];
    BOOST_TEST((s.recv_from(buf, {.deadline = weft::after(15ms)}).error() == std::errc::timed_out));
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(address)

BOOST_AUTO_TEST_CASE(numeric_addresses_parse_and_print) {
  BOOST_TEST(Address("127.0.0.1", 80).to_string() == "127.0.0.1:80");
  BOOST_TEST(Address("::1", 443).to_string() == "[::1]:443");
  BOOST_TEST(Address("10.1.2.3", 9).port() == 9);
  BOOST_TEST((Address::parse("not-an-ip", 1).error() == std::errc::invalid_argument));
  BOOST_TEST((Address::parse("300.1.1.1", 1).error() == std::errc::invalid_argument));
  BOOST_CHECK_THROW(Address("localhost", 1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(names_resolve_on_the_blocking_pool) {
  weft::test::run([] {
    // localhost comes from /etc/hosts: no network needed.
    auto local = weft::net::resolve("localhost", 8080);
    BOOST_REQUIRE_MESSAGE(local.has_value(), local.error().message());
    BOOST_TEST(!local->empty());
    for (const Address& a : *local) {
      BOOST_TEST(a.port() == 8080);
      BOOST_TEST((a == Address("127.0.0.1", 8080) || a == Address("::1", 8080)), a.to_string());
    }
    // A numeric host resolves to itself.
    auto numeric = weft::net::resolve("127.0.0.1", 7);
    BOOST_REQUIRE(numeric.has_value());
    BOOST_TEST(numeric->size() == 1u);
    BOOST_TEST(((*numeric)[0] == Address("127.0.0.1", 7)));
    // A name that cannot resolve (without asking any server) is a clear error.
    auto bad = weft::net::resolve("", 1);
    BOOST_TEST(!bad.has_value());
    BOOST_TEST(std::string(bad.error().category().name()) == "getaddrinfo");
    BOOST_TEST(!bad.error().message().empty());
  });
}

BOOST_AUTO_TEST_CASE(resolve_outside_a_fiber_is_refused) {
  BOOST_CHECK_THROW((void)weft::net::resolve("localhost", 1), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()
