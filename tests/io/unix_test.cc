// Unix-domain sockets (stream and datagram, by path and by abstract name),
// peer credentials, passing descriptors, connected UDP, and connecting by
// host name with a deadline. On both backends, with one and two workers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <string>

#include <weft/io/stream.h>

#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::net::Address;
using weft::net::UnixDatagram;
using weft::net::UnixListener;
using weft::net::UnixStream;

namespace {

// A socket path in a fresh directory, removed at the end.
struct SocketPath {
  std::string dir;
  std::string path;
  SocketPath() {
    char tmpl[] = "/tmp/weft-unix-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/s";
  }
  ~SocketPath() { std::system(("rm -rf " + dir).c_str()); }
};

// A name no other test program uses at once.
std::string abstract_name(const char* what) { return "weft-test-" + std::to_string(::getpid()) + "-" + what; }

void echo_once(UnixListener& l) {
  UnixStream c = l.accept().value();
  char buf[64];
  const std::size_t n = c.read(weft::MutableBuffer(buf, sizeof buf)).value();
  c.write_all(weft::ConstBuffer(buf, n)).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(unix_sockets)

BOOST_AUTO_TEST_CASE(a_stream_by_path_carries_bytes_both_ways) {
  SocketPath p;
  weft::test::run([&] {
    const Address at = Address::unix_path(p.path).value();
    BOOST_TEST(at.to_string() == p.path);
    BOOST_TEST(at.family() == AF_UNIX);
    UnixListener l = UnixListener::bind(at).value();
    struct stat st {};
    BOOST_TEST(::stat(p.path.c_str(), &st) == 0);
    BOOST_TEST(S_ISSOCK(st.st_mode));
    auto server = weft::spawn([&] { echo_once(l); });
    UnixStream c = UnixStream::connect(at).value();
    c.write_all(weft::ConstBuffer("hello", 5)).value();
    char buf[5];
    c.read_exact(weft::MutableBuffer(buf, 5)).value();
    server.join();
    BOOST_TEST(std::string(buf, 5) == "hello");
    BOOST_TEST(c.peer_address().value().to_string() == p.path);
    // A path that exists is refused, and says so.
    BOOST_TEST((UnixListener::bind(at).error() == std::errc::address_in_use));
  });
}

BOOST_AUTO_TEST_CASE(an_abstract_name_needs_no_file_and_shows_as_at) {
  weft::test::run([] {
    const std::string name = abstract_name("stream");
    const Address at = Address::abstract(name).value();
    BOOST_TEST(at.to_string() == "@" + name);
    UnixListener l = UnixListener::bind(at).value();
    auto server = weft::spawn([&] { echo_once(l); });
    UnixStream c = UnixStream::connect(at).value();
    c.write_all(weft::ConstBuffer("abc", 3)).value();
    char buf[3];
    c.read_exact(weft::MutableBuffer(buf, 3)).value();
    server.join();
    BOOST_TEST(std::string(buf, 3) == "abc");
  });
}

BOOST_AUTO_TEST_CASE(bad_paths_are_clear_errors) {
  BOOST_TEST((Address::unix_path(std::string(200, 'x')).error() == std::errc::filename_too_long));
  BOOST_TEST((Address::unix_path("").error() == std::errc::invalid_argument));
  BOOST_TEST((Address::unix_path(std::string("a\0b", 3)).error() == std::errc::invalid_argument));
  BOOST_TEST(Address::unix_path(std::string(107, 'x')).has_value());  // the longest that fits
  weft::test::run([] {
    auto missing = UnixStream::connect(Address::unix_path("/nonexistent/weft.sock").value());
    BOOST_TEST((missing.error() == std::errc::no_such_file_or_directory));
    auto nobody = UnixStream::connect(Address::abstract(abstract_name("nobody")).value());
    BOOST_TEST((nobody.error() == std::errc::connection_refused));
  });
}

BOOST_AUTO_TEST_CASE(the_peer_s_credentials_are_this_process) {
  weft::test::run([] {
    auto [a, b] = UnixStream::pair().value();
    const ucred c = a.peer_credentials().value();
    BOOST_TEST(c.pid == ::getpid());
    BOOST_TEST(c.uid == ::getuid());
    BOOST_TEST(c.gid == ::getgid());
    // A TCP socket has none.
    auto l = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
    auto t = weft::net::TcpStream::connect(l.local_address().value()).value();
    BOOST_TEST((t.peer_credentials().error() == std::errc::operation_not_supported));
    // And set_nodelay is TCP's.
    BOOST_TEST(!a.set_nodelay(true));
  });
}

BOOST_AUTO_TEST_CASE(descriptors_passed_arrive_as_working_copies) {
  weft::test::run([] {
    auto [a, b] = UnixStream::pair().value();
    auto [r, w] = weft::os::Stream::pipe().value();
    const int sent[] = {w.native_handle(), r.native_handle()};
    BOOST_TEST(a.send_with_fds(weft::ConstBuffer("p", 1), sent).value() == 1u);
    int got[4] = {-1, -1, -1, -1};
    char byte = 0;
    const auto rec = b.recv_with_fds(weft::MutableBuffer(&byte, 1), got).value();
    BOOST_TEST(rec.size == 1u);
    BOOST_TEST(rec.fds == 2u);
    BOOST_TEST(!rec.fds_truncated);
    BOOST_TEST(byte == 'p');
    BOOST_TEST(got[0] != w.native_handle());  // copies, not the same numbers
    BOOST_TEST((::fcntl(got[0], F_GETFD) & FD_CLOEXEC) != 0);
    // The copy of the write end writes into the original pipe.
    weft::os::Stream w2(got[0]);
    weft::os::Stream r2(got[1]);
    w2.write_all(weft::ConstBuffer("via copy", 8)).value();
    char buf[8];
    r.read_exact(weft::MutableBuffer(buf, 8)).value();
    BOOST_TEST(std::string(buf, 8) == "via copy");
  });
}

BOOST_AUTO_TEST_CASE(more_descriptors_than_room_are_closed_not_leaked) {
  weft::test::run([] {
    auto [a, b] = UnixStream::pair().value();
    auto [r, w] = weft::os::Stream::pipe().value();
    const int sent[] = {r.native_handle(), r.native_handle(), r.native_handle()};
    a.send_with_fds(weft::ConstBuffer("x", 1), sent).value();
    int got[1] = {-1};
    char byte;
    const auto rec = b.recv_with_fds(weft::MutableBuffer(&byte, 1), got).value();
    BOOST_TEST(rec.fds == 1u);
    BOOST_TEST(rec.fds_truncated);
    ::close(got[0]);
    // Bad input: no bytes, or too many descriptors.
    BOOST_TEST((a.send_with_fds(weft::ConstBuffer("", 0), sent).error() == std::errc::invalid_argument));
    int many[UnixStream::kMaxFds + 1];
    for (int& fd : many) fd = r.native_handle();
    BOOST_TEST((a.send_with_fds(weft::ConstBuffer("x", 1), many).error() == std::errc::invalid_argument));
  });
}

BOOST_AUTO_TEST_CASE(datagrams_by_path_and_connected) {
  SocketPath p;
  weft::test::run([&] {
    const Address at = Address::unix_path(p.path).value();
    UnixDatagram server = UnixDatagram::bind(at).value();
    UnixDatagram client = UnixDatagram::connect(at).value();
    BOOST_TEST(client.send(weft::ConstBuffer("ping", 4)).value() == 4u);
    char buf[16];
    const weft::net::Datagram d = server.recv_from(weft::MutableBuffer(buf, sizeof buf)).value();
    BOOST_TEST(d.size == 4u);
    BOOST_TEST(std::string(buf, 4) == "ping");
    BOOST_TEST(d.from.size() == 0u);  // an unbound sender has no address
    auto late = client.recv(weft::MutableBuffer(buf, sizeof buf), {.deadline = weft::after(20ms)});
    BOOST_TEST((late.error() == std::errc::timed_out));
  });
}

BOOST_AUTO_TEST_CASE(connected_udp_hears_only_its_peer) {
  weft::test::run([] {
    auto server = weft::net::UdpSocket::bind({"127.0.0.1", 0}).value();
    auto stranger = weft::net::UdpSocket::bind({"127.0.0.1", 0}).value();
    auto client = weft::net::UdpSocket::connect(server.local_address().value()).value();
    client.send(weft::ConstBuffer("hi", 2)).value();
    char buf[8];
    const auto d = server.recv_from(weft::MutableBuffer(buf, sizeof buf)).value();
    BOOST_TEST(std::string(buf, d.size) == "hi");
    // The stranger's datagram is dropped by the kernel; the peer's arrives.
    stranger.send_to(weft::ConstBuffer("no", 2), client.local_address().value()).value();
    server.send_to(weft::ConstBuffer("yes", 3), d.from).value();
    const std::size_t n = client.recv(weft::MutableBuffer(buf, sizeof buf), {.deadline = weft::after(5s)}).value();
    BOOST_TEST(std::string(buf, n) == "yes");
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(by_name)

BOOST_AUTO_TEST_CASE(connect_by_host_name_tries_its_addresses) {
  weft::test::run([] {
    auto l = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
    const std::uint16_t port = l.local_address().value().port();
    auto server = weft::spawn([&] { (void)l.accept({.deadline = weft::after(10s)}).value(); });
    // "localhost" may give ::1 first (nobody listens there) and then 127.0.0.1.
    auto c = weft::net::TcpStream::connect("localhost", port, {.deadline = weft::after(10s)});
    server.join();
    BOOST_TEST(c.has_value(), (c ? "" : c.error().message()));
    // A numeric host goes straight to connect.
    auto refused = weft::net::TcpStream::connect("127.0.0.1", 1);
    BOOST_TEST((refused.error() == std::errc::connection_refused));
  });
}

BOOST_AUTO_TEST_CASE(a_name_that_does_not_exist_is_the_resolver_s_error) {
  weft::test::run([] {
    auto r = weft::net::TcpStream::connect("no-such-host.invalid", 80, {.deadline = weft::after(3s)});
    BOOST_TEST(!r);
    BOOST_TEST((r.error().category() == weft::net::resolve_category() || r.error() == std::errc::timed_out),
               r.error().message());
  });
}

BOOST_AUTO_TEST_CASE(a_lookup_that_is_cancelled_returns_at_once) {
  weft::test::run([] {
    weft::CancelToken token;
    token.cancel();
    auto r = weft::net::resolve("localhost", 80, {.cancel = &token});
    BOOST_TEST((r.error() == std::errc::operation_canceled));
    auto late = weft::net::resolve("localhost", 80, {.deadline = weft::Clock::now()});
    BOOST_TEST((late.error() == std::errc::timed_out));
    auto ok = weft::net::resolve("localhost", 80, {.deadline = weft::after(10s)});
    BOOST_TEST(ok.has_value());
    BOOST_TEST(!ok->empty());
  });
}

BOOST_AUTO_TEST_SUITE_END()
