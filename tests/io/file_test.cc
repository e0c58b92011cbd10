#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::fs::File;

namespace {

// A fresh directory under /tmp, removed with its files at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/weft-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
  std::string file(const char* name) const { return path + "/" + name; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(files)

BOOST_AUTO_TEST_CASE(write_fsync_read_round_trip) {
  TempDir dir;
  weft::test::run([&] {
    File f = File::open(dir.file("data"), O_RDWR | O_CREAT | O_TRUNC, 0600).value();
    std::vector<std::uint8_t> out(300000);
    std::iota(out.begin(), out.end(), 1);
    f.write_all_at(out, 4096).value();
    f.fsync().value();
    f.fsync(/*data_only=*/true).value();
    std::vector<std::uint8_t> in(out.size());
    std::size_t got = 0;
    while (got < in.size()) {
      const std::size_t n =
          f.read_at(weft::MutableBuffer(in.data() + got, in.size() - got), 4096 + got).value();
      BOOST_REQUIRE(n > 0u);
      got += n;
    }
    BOOST_TEST((in == out));
    const struct statx st = f.stat().value();
    BOOST_TEST(st.stx_size == 4096u + out.size());
    BOOST_TEST(weft::fs::stat(dir.file("data")).value().stx_size == st.stx_size);
    char tail[16];
    BOOST_TEST(f.read_at(tail, st.stx_size).value() == 0u);  // end of file
    f.close().value();
  });
}

BOOST_AUTO_TEST_CASE(opening_a_missing_file_is_enoent) {
  TempDir dir;
  weft::test::run([&] {
    const auto r = File::open(dir.file("absent"));
    BOOST_TEST((r.error() == std::errc::no_such_file_or_directory), r.error().message());
    BOOST_TEST(
        (weft::fs::stat(dir.file("absent")).error() == std::errc::no_such_file_or_directory));
  });
}

BOOST_AUTO_TEST_CASE(permission_and_mode_errors_are_values) {
  TempDir dir;
  weft::test::run([&] {
    File ro = File::open(dir.file("ro"), O_RDONLY | O_CREAT, 0600).value();
    BOOST_TEST((ro.write_at("x", 0).error() == std::errc::bad_file_descriptor));
    BOOST_TEST((File::open(dir.path, O_WRONLY).error() == std::errc::is_a_directory));
    // A directory opened for reading: its read is EISDIR on both backends
    // (epoll cannot watch it, so it goes to the pool like a file).
    File d = File::open(dir.path, O_RDONLY).value();
    char buf[8];
    BOOST_TEST((d.read_at(buf, 0).error() == std::errc::is_a_directory));
    // A character device epoll cannot watch: read and written like a file.
    File null = File::open("/dev/null", O_RDWR).value();
    BOOST_TEST(null.read_at(buf, 0).value() == 0u);
    BOOST_TEST(null.write_at("abc", 0).value() == 3u);
  });
}

BOOST_AUTO_TEST_CASE(a_closed_file_reports_ebadf) {
  TempDir dir;
  weft::test::run([&] {
    File f = File::open(dir.file("c"), O_RDWR | O_CREAT, 0600).value();
    f.close().value();
    char buf[4];
    BOOST_TEST((f.read_at(buf, 0).error() == std::errc::bad_file_descriptor));
    BOOST_TEST((f.fsync().error() == std::errc::bad_file_descriptor));
  });
}

BOOST_AUTO_TEST_CASE(a_read_that_cannot_finish_honours_its_deadline) {
  TempDir dir;
  weft::test::run([&] {
    const std::string fifo = dir.file("fifo");
    BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    File f = File::open(fifo, O_RDWR).value();  // nobody writes: reads block
    char buf[8];
    const auto r = f.read_at(buf, 0, {.deadline = weft::after(20ms)});
    BOOST_TEST((r.error() == std::errc::timed_out), r.error().message());
  });
}

BOOST_AUTO_TEST_SUITE_END()
