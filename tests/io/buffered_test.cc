// BufferedReader and BufferedWriter over real streams (TCP, a pipe) and a
// counting sink: lines split across reads, the end of the stream, an
// overlong line that loses nothing, peek, exact reads, a deadline, batched
// and direct writes, a closed peer; gathered writes over TCP, a pipe and a
// file; and no allocation per call once warm. On both backends.
#include <boost/test/unit_test.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "allocation_count.h"
#include "support/runtime.h"
#include "support/temp_dir.h"

using namespace std::chrono_literals;
using weft::net::TcpListener;
using weft::net::TcpStream;

namespace {

struct Pair {
  TcpStream client;
  TcpStream server;
};

Pair connected() {
  auto listener = TcpListener::bind({"127.0.0.1", 0}).value();
  auto client = TcpStream::connect(listener.local_address().value()).value();
  auto server = listener.accept().value();
  return {std::move(client), std::move(server)};
}

// 40 pieces of varied sizes up to `largest` bytes (empty ones among them):
// several gathered batches, and short writes resumed inside a piece.
std::vector<std::string> varied_pieces(std::size_t largest) {
  std::vector<std::string> pieces;
  for (int i = 0; i < 40; ++i) {
    pieces.emplace_back(static_cast<std::size_t>(1 + (i * 7919) % largest), static_cast<char>('a' + i % 26));
    if (i % 9 == 4) pieces.emplace_back();  // empty pieces are skipped
  }
  return pieces;
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string all;
  for (const auto& s : pieces) all += s;
  return all;
}

// A sink that records each write_all it was given.
struct CountingSink {
  std::vector<std::string> writes;
  weft::Result<void> write_all(weft::ConstBuffer b, const weft::WaitOptions& = {}) {
    writes.emplace_back(static_cast<const char*>(b.data), b.size);
    return {};
  }
};

// A sink that gathers: records each call as the list of pieces it got.
struct GatheringSink {
  std::vector<std::vector<std::string>> calls;
  weft::Result<void> write_all(weft::ConstBuffer b, const weft::WaitOptions& = {}) {
    calls.push_back({std::string(static_cast<const char*>(b.data), b.size)});
    return {};
  }
  weft::Result<void> write_all_vectored(std::span<const weft::ConstBuffer> pieces,
                                        const weft::WaitOptions& = {}) {
    auto& call = calls.emplace_back();
    for (const auto& b : pieces) call.emplace_back(static_cast<const char*>(b.data), b.size);
    return {};
  }
};

static_assert(weft::BufferedWriter<TcpStream>::kVectored);
static_assert(weft::BufferedWriter<GatheringSink>::kVectored);
static_assert(!weft::BufferedWriter<CountingSink>::kVectored);
static_assert(weft::BufferedWriter<weft::os::Stream>::kVectored);

}  // namespace

BOOST_AUTO_TEST_SUITE(buffered)

BOOST_AUTO_TEST_CASE(lines_split_across_reads_come_out_whole) {
  weft::test::run([] {
    Pair p = connected();
    auto writer = weft::spawn([&] {
      for (std::string_view piece : {"GET / HT", "TP/1.1\r\nHost: x\r", "\n\r\n", "tail without newline"}) {
        if (!p.client.write_all(piece)) return false;
        weft::sleep_for(2ms);  // separate reads
      }
      return p.client.shutdown(weft::net::Shutdown::write).has_value();
    });
    weft::BufferedReader in(p.server, 64);
    std::vector<std::string> lines;
    for (;;) {
      auto line = in.read_line({.deadline = weft::after(5s)});
      if (!line) {
        BOOST_TEST((line.error() == weft::errc::end_of_stream), line.error().message());
        break;
      }
      lines.emplace_back(*line);
    }
    BOOST_TEST(writer.join());
    BOOST_TEST((lines == std::vector<std::string>{"GET / HTTP/1.1", "Host: x", "", "tail without newline"}));
  });
}

BOOST_AUTO_TEST_CASE(a_line_longer_than_the_buffer_is_an_error_that_loses_nothing) {
  weft::test::run([] {
    Pair p = connected();
    const std::string long_line(100, 'a');
    p.client.write_all(long_line + "\nnext\n").value();
    weft::BufferedReader in(p.server, 32);
    auto r = in.read_line({.deadline = weft::after(5s)});
    BOOST_TEST((r.error() == std::errc::value_too_large));
    std::string got(in.buffered(), '\0');
    in.read_exact(weft::MutableBuffer(got.data(), got.size())).value();  // the 32 bytes it held
    char rest[69];
    in.read_exact(rest).value();  // the other 68 and the newline
    BOOST_TEST(got + std::string(rest, 68) == long_line);
    BOOST_TEST(rest[68] == '\n');
    BOOST_TEST(in.read_line().value() == "next");
  });
}

BOOST_AUTO_TEST_CASE(peek_consume_exact_and_large_reads) {
  weft::test::run([] {
    auto [r, w] = weft::os::Stream::pipe().value();
    std::string data;
    for (int i = 0; i < 1000; ++i) data += static_cast<char>('a' + i % 26);
    auto writer = weft::spawn([&w = w, &data] {
      const bool ok = w.write_all(data).has_value();
      (void)w.close();
      return ok;
    });
    weft::BufferedReader in(r, 16);
    BOOST_TEST(in.peek(4).value() == "abcd");
    BOOST_TEST(in.peek(4).value() == "abcd");  // not taken
    BOOST_TEST(in.view().substr(0, 4) == "abcd");  // what is buffered, no read
    BOOST_TEST(in.view().size() == in.buffered());
    in.consume(2);
    BOOST_TEST(in.view().substr(0, 2) == "cd");
    char exact[20];
    in.read_exact(exact).value();  // across two fills of 16
    BOOST_TEST(std::string(exact, 20) == data.substr(2, 20));
    BOOST_TEST((in.peek(17).error() == std::errc::invalid_argument));
    std::string rest;
    char big[256];  // larger than the buffer: straight from the source once it is empty
    for (;;) {
      auto n = in.read(big);
      BOOST_REQUIRE(n.has_value());
      if (*n == 0) break;
      rest.append(big, *n);
    }
    BOOST_TEST(writer.join());
    BOOST_TEST(rest == data.substr(22));
    BOOST_TEST((in.read_exact(exact).error() == weft::errc::end_of_stream));
  });
}

BOOST_AUTO_TEST_CASE(a_deadline_on_a_line_loses_nothing_already_read) {
  weft::test::run([] {
    Pair p = connected();
    p.client.write_all("par").value();
    weft::BufferedReader in(p.server);
    auto early = in.read_line({.deadline = weft::after(30ms)});
    BOOST_TEST((early.error() == std::errc::timed_out));
    p.client.write_all("tial\n").value();
    BOOST_TEST(in.read_line({.deadline = weft::after(5s)}).value() == "partial");
  });
}

BOOST_AUTO_TEST_CASE(the_writer_batches_small_writes_and_passes_large_ones_through) {
  weft::test::run([] {
    CountingSink sink;
    weft::BufferedWriter out(sink, 64);
    for (int i = 0; i < 20; ++i) out.write("0123456789").value();  // 200 bytes
    BOOST_TEST(sink.writes.size() == 3u);  // three full buffers of 64
    BOOST_TEST(out.buffered() == 200u - 3 * 64);
    out.write(std::string(100, 'x')).value();  // tops up 56, hands on, keeps 44
    BOOST_TEST(sink.writes.size() == 4u);
    BOOST_TEST(out.buffered() == 44u);
    out.write(std::string(200, 'y')).value();  // tops up 20, hands on, the other 180 go direct
    BOOST_TEST(sink.writes.size() == 6u);
    BOOST_TEST(sink.writes.back() == std::string(180, 'y'));
    BOOST_TEST(out.buffered() == 0u);
    out.write("end").value();
    out.flush().value();
    out.flush().value();  // nothing left: no write
    BOOST_TEST(sink.writes.size() == 7u);
    std::string all;
    for (const auto& w : sink.writes) all += w;
    std::string expected;
    for (int i = 0; i < 20; ++i) expected += "0123456789";
    expected += std::string(100, 'x') + std::string(200, 'y') + "end";
    BOOST_TEST(all == expected);
  });
}

BOOST_AUTO_TEST_CASE(the_writer_over_tcp_delivers_everything_and_reports_a_closed_peer) {
  weft::test::run([] {
    Pair p = connected();
    weft::BufferedWriter out(p.client, 1024);
    for (int i = 0; i < 500; ++i) out.write("line " + std::to_string(i) + "\n").value();
    out.flush().value();
    weft::BufferedReader in(p.server, 128);
    for (int i = 0; i < 500; ++i) {
      auto line = in.read_line({.deadline = weft::after(5s)});
      BOOST_REQUIRE(line.has_value());
      BOOST_TEST(*line == "line " + std::to_string(i));
    }
    p.server.close().value();
    weft::Result<void> r;
    for (int i = 0; i < 200 && r; ++i) {  // the peer's reset arrives after a write or two
      r = out.write(std::string(4096, 'z'));
      if (r) r = out.flush();
      weft::sleep_for(1ms);
    }
    BOOST_TEST(!r);
    BOOST_TEST(((r.error() == std::errc::broken_pipe) || (r.error() == std::errc::connection_reset)),
               r.error().message());
  });
}

BOOST_AUTO_TEST_CASE(a_vectored_sink_takes_the_buffer_and_the_overflow_in_one_call) {
  weft::test::run([] {
    GatheringSink sink;
    weft::BufferedWriter out(sink, 64);
    out.write(std::string(60, 'a')).value();
    BOOST_TEST(sink.calls.empty());
    out.write(std::string(10, 'b')).value();  // does not fit: buffer + piece, no copy
    BOOST_REQUIRE(sink.calls.size() == 1u);
    BOOST_TEST((sink.calls[0] == std::vector<std::string>{std::string(60, 'a'), std::string(10, 'b')}));
    BOOST_TEST(out.buffered() == 0u);
    out.write(std::string(100, 'c')).value();  // larger than the buffer, nothing held: alone
    BOOST_REQUIRE(sink.calls.size() == 2u);
    BOOST_TEST((sink.calls[1] == std::vector<std::string>{std::string(100, 'c')}));
    // Pieces that fit are copied; pieces that do not go out with the buffer.
    const std::string head = "HTTP/1.1 200 OK\r\n\r\n";
    const std::string body(50, 'd');
    weft::ConstBuffer small[] = {head, std::string_view("x")};
    out.write(small).value();
    BOOST_TEST(sink.calls.size() == 2u);
    BOOST_TEST(out.buffered() == head.size() + 1);
    weft::ConstBuffer reply[] = {head, body};
    out.write(reply).value();
    BOOST_REQUIRE(sink.calls.size() == 3u);
    BOOST_TEST((sink.calls[2] == std::vector<std::string>{head + "x", head, body}));
    BOOST_TEST(out.buffered() == 0u);
    // More pieces than one batch holds: several gathered calls, in order.
    std::vector<std::string> many;
    for (int i = 0; i < 40; ++i) many.push_back(std::string(3, static_cast<char>('A' + i % 26)));
    std::vector<weft::ConstBuffer> views(many.begin(), many.end());
    out.write(std::string(10, 'e')).value();
    out.write(views).value();
    // 130 bytes do not fit in 64: the buffer and 40 pieces, 16 at a time.
    BOOST_REQUIRE(sink.calls.size() == 6u);
    BOOST_TEST(sink.calls[3].size() == 16u);
    BOOST_TEST(sink.calls[3].front() == std::string(10, 'e'));
    BOOST_TEST(sink.calls[5].size() == 41u - 32u);
    std::string all;
    for (const auto& call : sink.calls)
      for (const auto& piece : call) all += piece;
    std::string expected = std::string(60, 'a') + std::string(10, 'b') + std::string(100, 'c') + head + "x" +
                           head + body + std::string(10, 'e');
    for (const auto& m : many) expected += m;
    BOOST_TEST(all == expected);
  });
}

BOOST_AUTO_TEST_CASE(write_vectored_over_tcp_delivers_every_piece_in_order) {
  weft::test::run([] {
    Pair p = connected();
    // 40 pieces of varied sizes, 1.3 MB in all: several sendmsg batches and
    // short sends resumed in the middle of a piece.
    std::vector<std::string> pieces;
    for (int i = 0; i < 40; ++i) {
      pieces.emplace_back(static_cast<std::size_t>(1 + (i * 7919) % 65536), static_cast<char>('a' + i % 26));
      if (i % 9 == 4) pieces.emplace_back();  // empty pieces are skipped
    }
    std::string expected;
    for (const auto& s : pieces) expected += s;
    std::vector<weft::ConstBuffer> views(pieces.begin(), pieces.end());
    auto reader = weft::spawn([&] {
      std::string got(expected.size(), '\0');
      auto r = p.server.read_exact(weft::MutableBuffer(got.data(), got.size()), {.deadline = weft::after(10s)});
      return r.has_value() && got == expected;
    });
    auto w = p.client.write_all_vectored(views, {.deadline = weft::after(10s)});
    BOOST_TEST(w.has_value(), (w ? "" : w.error().message()));
    BOOST_TEST(reader.join());
    // One call takes at most kMaxBuffers pieces.
    const std::vector<std::string> ones(20, "z");
    std::vector<weft::ConstBuffer> one_views(ones.begin(), ones.end());
    auto n = p.client.write_vectored(one_views);
    BOOST_TEST(n.value() == weft::net::StreamSocket::kMaxBuffers);
    BOOST_TEST(p.client.write_vectored(std::span<const weft::ConstBuffer>()).value() == 0u);
  });
}

BOOST_AUTO_TEST_CASE(write_vectored_reports_a_closed_peer_and_a_closed_socket) {
  weft::test::run([] {
    Pair p = connected();
    p.server.close().value();
    const std::string big(64 << 10, 'q');
    weft::ConstBuffer two[] = {big, big};
    weft::Result<void> r;
    for (int i = 0; i < 200 && r; ++i) {  // the peer's reset arrives after a send or two
      r = p.client.write_all_vectored(two, {.deadline = weft::after(5s)});
      weft::sleep_for(1ms);
    }
    BOOST_TEST(!r);
    BOOST_TEST(((r.error() == std::errc::broken_pipe) || (r.error() == std::errc::connection_reset)),
               r.error().message());
    p.client.close().value();
    auto after = p.client.write_vectored(two);
    BOOST_TEST((after.error() == std::errc::bad_file_descriptor));
  });
}

BOOST_AUTO_TEST_CASE(write_vectored_over_a_pipe_delivers_every_piece_in_order) {
  weft::test::run([] {
    auto [r, w] = weft::os::Stream::pipe().value();
    // ~650 KB through a 64 KiB pipe: the writer parks, short writes resume.
    const std::vector<std::string> pieces = varied_pieces(32768);
    const std::string expected = joined(pieces);
    std::vector<weft::ConstBuffer> views(pieces.begin(), pieces.end());
    auto reader = weft::spawn([&, &r = r] {
      std::string got(expected.size(), '\0');
      auto done = r.read_exact(weft::MutableBuffer(got.data(), got.size()), {.deadline = weft::after(10s)});
      return done.has_value() && got == expected;
    });
    auto written = w.write_all_vectored(views, {.deadline = weft::after(10s)});
    BOOST_TEST(written.has_value(), (written ? "" : written.error().message()));
    BOOST_TEST(reader.join());
    const std::vector<std::string> ones(20, "z");
    std::vector<weft::ConstBuffer> one_views(ones.begin(), ones.end());
    BOOST_TEST(w.write_vectored(one_views).value() == weft::os::Stream::kMaxBuffers);
    BOOST_TEST(w.write_vectored(std::span<const weft::ConstBuffer>()).value() == 0u);
    // A BufferedWriter over the pipe gathers its buffer and an overflow.
    weft::BufferedWriter out(w, 64);
    out.write(std::string(60, 'a')).value();
    out.write(std::string(100, 'b')).value();
    char back[16 + 160];
    r.read_exact(weft::MutableBuffer(back, sizeof back), {.deadline = weft::after(5s)}).value();
    BOOST_TEST(std::string(back, 16) == std::string(16, 'z'));
    BOOST_TEST(std::string(back + 16, 160) == std::string(60, 'a') + std::string(100, 'b'));
  });
}

BOOST_AUTO_TEST_CASE(write_vectored_on_a_pipe_reports_a_gone_reader_a_deadline_and_a_closed_stream) {
  weft::test::run([] {
    auto [r, w] = weft::os::Stream::pipe().value();
    const std::string big(64 << 10, 'q');
    weft::ConstBuffer two[] = {big, big};
    // Nobody reads: the pipe fills, and the deadline ends the write.
    auto full = w.write_all_vectored(two, {.deadline = weft::after(30ms)});
    BOOST_TEST((full.error() == weft::errc::deadline_exceeded), full.error().message());
    r.close().value();
    auto gone = w.write_vectored(two);
    BOOST_TEST((gone.error() == std::errc::broken_pipe), gone.error().message());
    w.close().value();
    BOOST_TEST((w.write_vectored(two).error() == std::errc::bad_file_descriptor));
  });
}

BOOST_AUTO_TEST_CASE(a_vectored_write_off_a_fiber_names_the_operation_and_writes_nothing) {
  auto [r, w] = weft::os::Stream::pipe().value();
  weft::ConstBuffer one[] = {std::string_view("lost?")};
  std::string what = "(no exception)";
  try {
    (void)w.write_vectored(one);
  } catch (const std::logic_error& e) {
    what = e.what();
  }
  BOOST_TEST(what == "weft I/O (writev) must be called from a fiber of a running weft::Runtime");
  weft::test::run([&, &r = r] {
    char b;
    BOOST_TEST((r.read(weft::MutableBuffer(&b, 1), {.deadline = weft::after(10ms)}).error() ==
                weft::errc::deadline_exceeded));
  });
}

BOOST_AUTO_TEST_CASE(a_files_vectored_write_puts_every_piece_at_its_offset) {
  weft::test::TempDir dir;
  weft::test::run([&] {
    const std::string path = dir.file("gathered");
    auto f = weft::fs::File::open(path, O_RDWR | O_CREAT | O_TRUNC).value();
    const std::vector<std::string> pieces = varied_pieces(8192);
    const std::string expected = joined(pieces);
    std::vector<weft::ConstBuffer> views(pieces.begin(), pieces.end());
    f.write_all_vectored_at(views, 100).value();
    weft::ConstBuffer head[] = {std::string_view("0123"), std::string_view(""), std::string_view("45")};
    BOOST_TEST(f.write_vectored_at(head, 0).value() == 6u);
    f.close().value();
    const std::string back = weft::fs::read_file(path).value();
    BOOST_REQUIRE(back.size() == 100 + expected.size());
    BOOST_TEST(back.substr(0, 6) == "012345");
    BOOST_TEST(back.substr(6, 94) == std::string(94, '\0'));  // the hole before offset 100
    BOOST_TEST(back.substr(100) == expected);
    BOOST_TEST((f.write_vectored_at(head, 0).error() == std::errc::bad_file_descriptor));
  });
}

// The promise of io/buffered.h: a fixed buffer and no allocation per call.
// Counted with the executable's own operator new (allocation_count.cc): the
// calls of a warmed-up reader and writer, over TCP and over a pipe, with a
// deadline on each, make none. What this counts is the global operator new:
// the reader's and writer's code and the standard library's. The runtime's
// own records (an operation a call, from a per-thread cache on mimalloc)
// are not counted here.
BOOST_AUTO_TEST_CASE(buffered_reads_and_writes_allocate_nothing_per_call) {
  weft::test::run([] {
    Pair tcp = connected();
    auto [r, w] = weft::os::Stream::pipe().value();
    auto exercise = [](auto& sink, auto& source) -> std::uint64_t {
      weft::BufferedWriter out(sink, 4096);
      weft::BufferedReader in(source, 4096);
      const weft::ConstBuffer reply[] = {std::string_view("head:"), std::string_view("body\n")};
      char exact[4];
      auto round = [&] {
        const weft::WaitOptions wait{.deadline = weft::after(5s)};
        bool ok = out.write(std::string_view("line one\n"), wait).has_value();
        ok &= out.write(reply, wait).has_value();
        ok &= out.write(std::string_view("tail"), wait).has_value();
        ok &= out.flush(wait).has_value();
        auto first = in.read_line(wait);
        ok &= first.has_value() && *first == "line one";
        auto second = in.read_until('\n', wait);
        ok &= second.has_value() && *second == "head:body\n";
        auto peeked = in.peek(4, wait);
        ok &= peeked.has_value() && peeked->size() >= 4;
        ok &= in.read_exact(weft::MutableBuffer(exact, 4), wait).has_value();
        ok &= std::string_view(exact, 4) == "tail";
        return ok;
      };
      for (int i = 0; i < 100; ++i) BOOST_REQUIRE(round());  // warm: operation cache, timers, rings
      const std::uint64_t before = weft::test::allocations();
      bool all = true;
      for (int i = 0; i < 2000; ++i) all &= round();
      const std::uint64_t made = weft::test::allocations() - before;
      BOOST_TEST(all);
      return made;
    };
    BOOST_TEST(exercise(tcp.client, tcp.server) == 0u);
    BOOST_TEST(exercise(w, r) == 0u);
  });
}

BOOST_AUTO_TEST_SUITE_END()
