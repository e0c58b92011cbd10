// os::copy: bytes between files, sockets and pipes without a user-space
// buffer — each pairing, a slice of a file, a source that ends early, and
// the faults: a deadline, a cancel, a destination that closed, a closed
// descriptor. Runs on both backends, with one worker and with two (CTest).
#include <fcntl.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <string>

#include "support/net.h"
#include "support/runtime.h"
#include "support/temp_dir.h"

using namespace std::chrono_literals;
using weft::fs::File;
using weft::net::TcpStream;

using weft::test::TempDir;

namespace {

// Bytes no two offsets of which repeat in a short period: a misplaced chunk shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 2463534242u;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

// A new file in `dir` holding `data`, open for reading.
File written(const TempDir& dir, const char* name, const std::string& data) {
  weft::fs::write_file(dir.file(name), weft::ConstBuffer(data)).value();
  return File::open(dir.file(name)).value();
}

// Reads `s` until its peer shuts down.
std::string read_all(TcpStream& s) {
  std::string out;
  char buf[65536];
  for (;;) {
    auto n = s.read(weft::MutableBuffer(buf, sizeof buf), {.deadline = weft::after(20s)});
    if (!n || *n == 0) return out;
    out.append(buf, *n);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(copy)

BOOST_AUTO_TEST_CASE(a_file_goes_to_a_socket_whole_and_in_order) {
  TempDir dir;
  const std::string data = pattern(3 * 1024 * 1024 + 123);
  weft::test::run([&] {
    File f = written(dir, "f", data);
    auto listener = weft::test::listen_any();
    auto [client, server] = weft::test::connect_pair(listener);
    auto reader = weft::spawn([&client = client] { return read_all(client); });
    auto n = weft::os::copy(f, server, weft::os::kToTheEnd, {.deadline = weft::after(20s)});
    BOOST_REQUIRE(n.has_value());
    BOOST_TEST(*n == data.size());
    server.shutdown().value();
    BOOST_TEST((reader.join() == data));
  });
}

BOOST_AUTO_TEST_CASE(a_slice_of_a_file_is_copied_from_its_offset) {
  TempDir dir;
  const std::string data = pattern(100000);
  weft::test::run([&] {
    File f = written(dir, "f", data);
    auto listener = weft::test::listen_any();
    auto [client, server] = weft::test::connect_pair(listener);
    auto reader = weft::spawn([&client = client] { return read_all(client); });
    BOOST_TEST(weft::os::copy({f, 1000}, server, 5000).value() == 5000u);
    // Asked for more than is left: what there is.
    BOOST_TEST(weft::os::copy({f, 99000}, server, 1 << 20).value() == 1000u);
    server.shutdown().value();
    BOOST_TEST((reader.join() == data.substr(1000, 5000) + data.substr(99000)));
  });
}

BOOST_AUTO_TEST_CASE(a_socket_goes_to_a_file_until_the_peer_shuts_down) {
  TempDir dir;
  const std::string data = pattern(2 * 1024 * 1024 + 7);
  weft::test::run([&] {
    File f = File::open(dir.file("upload"), O_WRONLY | O_CREAT | O_TRUNC).value();
    auto listener = weft::test::listen_any();
    auto [client, server] = weft::test::connect_pair(listener);
    auto writer = weft::spawn([&client = client, &data] {
      const bool ok = client.write_all(weft::ConstBuffer(data)).has_value();
      return ok && client.shutdown().has_value();
    });
    auto n = weft::os::copy(server, {f, 10}, weft::os::kToTheEnd, {.deadline = weft::after(20s)});
    BOOST_TEST(writer.join());
    BOOST_REQUIRE(n.has_value());
    BOOST_TEST(*n == data.size());
    f.close().value();
    BOOST_TEST((weft::fs::read_file(dir.file("upload")).value() == std::string(10, '\0') + data));
  });
}

BOOST_AUTO_TEST_CASE(a_socket_goes_to_a_socket_as_a_proxy_would) {
  const std::string data = pattern(1024 * 1024 + 5);
  weft::test::run([&] {
    auto listener = weft::test::listen_any();
    auto [in_client, in_server] = weft::test::connect_pair(listener);
    auto [out_client, out_server] = weft::test::connect_pair(listener);
    auto writer = weft::spawn([&c = in_client, &data] {
      return c.write_all(weft::ConstBuffer(data)).has_value() && c.shutdown().has_value();
    });
    auto reader = weft::spawn([&c = out_client] { return read_all(c); });
    auto n = weft::os::copy(in_server, out_server, weft::os::kToTheEnd, {.deadline = weft::after(20s)});
    BOOST_TEST(writer.join());
    BOOST_TEST(n.value() == data.size());
    out_server.shutdown().value();
    BOOST_TEST((reader.join() == data));
  });
}

BOOST_AUTO_TEST_CASE(a_file_goes_to_a_file_and_through_pipes) {
  TempDir dir;
  const std::string data = pattern(5 * 1024 * 1024 + 3);
  weft::test::run([&] {
    File a = written(dir, "a", data);
    File b = File::open(dir.file("b"), O_WRONLY | O_CREAT | O_TRUNC).value();
    BOOST_TEST(weft::os::copy(a, b).value() == data.size());
    b.close().value();
    BOOST_TEST((weft::fs::read_file(dir.file("b")).value() == data));
    // A file into a pipe, the pipe into another file.
    auto [pipe_out, pipe_in] = weft::os::Stream::pipe().value();
    File c = File::open(dir.file("c"), O_WRONLY | O_CREAT | O_TRUNC).value();
    auto drain = weft::spawn([&c, &pipe_out = pipe_out] { return weft::os::copy(pipe_out, c).value(); });
    BOOST_TEST(weft::os::copy(a, pipe_in).value() == data.size());
    pipe_in.close().value();
    BOOST_TEST(drain.join() == data.size());
    c.close().value();
    BOOST_TEST((weft::fs::read_file(dir.file("c")).value() == data));
  });
}

BOOST_AUTO_TEST_CASE(a_silent_source_times_out_and_a_cancel_ends_the_copy) {
  weft::test::run([&] {
    auto listener = weft::test::listen_any();
    auto [client, server] = weft::test::connect_pair(listener);
    auto [sink_reader, sink_writer] = weft::os::Stream::pipe().value();
    const auto start = weft::Clock::now();
    auto timed = weft::os::copy(server, sink_writer, weft::os::kToTheEnd, {.deadline = weft::after(50ms)});
    BOOST_TEST((timed.error() == std::errc::timed_out));
    BOOST_TEST((weft::Clock::now() - start >= 50ms));
    weft::CancelToken token;
    auto copier = weft::spawn([&server = server, &sink_writer = sink_writer, &token] {
      return weft::os::copy(server, sink_writer, weft::os::kToTheEnd, {.cancel = &token}).error().code();
    });
    weft::sleep_for(10ms);
    token.cancel();
    BOOST_TEST((copier.join() == std::errc::operation_canceled));
    // The connection is still good afterwards.
    client.write_all(weft::ConstBuffer("ok", 2)).value();
    client.shutdown().value();
    BOOST_TEST(weft::os::copy(server, sink_writer).value() == 2u);
    char buf[2];
    BOOST_TEST(sink_reader.read_exact(weft::MutableBuffer(buf, 2)).has_value());
    BOOST_TEST(std::string(buf, 2) == "ok");
  });
}

BOOST_AUTO_TEST_CASE(a_destination_that_closed_is_an_error_not_a_signal) {
  TempDir dir;
  const std::string data = pattern(4 * 1024 * 1024);
  weft::test::run([&] {
    File f = written(dir, "f", data);
    auto listener = weft::test::listen_any();
    auto [client, server] = weft::test::connect_pair(listener);
    client.close().value();  // nobody will read
    auto n = weft::os::copy(f, server, weft::os::kToTheEnd, {.deadline = weft::after(20s)});
    BOOST_REQUIRE(!n);
    BOOST_TEST((n.error() == std::errc::broken_pipe || n.error() == std::errc::connection_reset),
               n.error().message());
    // A closed descriptor: EBADF at once.
    f.close().value();
    BOOST_TEST((weft::os::copy(f, server).error() == std::errc::bad_file_descriptor));
  });
}

BOOST_AUTO_TEST_SUITE_END()
