#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "support/runtime.h"
#include "support/temp_dir.h"

using namespace std::chrono_literals;
using weft::fs::File;

using weft::test::TempDir;

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

// On epoll a path in the dentry cache opens without the blocking pool
// (openat2 with RESOLVE_CACHED); creating a file still takes the pool.
BOOST_AUTO_TEST_CASE(a_cached_path_opens_without_a_pool_thread_on_epoll) {
  TempDir dir;
  weft::test::run(
      [&] {
        const std::string path = dir.file("cached");
        const std::uint64_t before_create = weft::stats().blocking_jobs;
        File::open(path, O_WRONLY | O_CREAT, 0600).value().close().value();
        BOOST_TEST(weft::stats().blocking_jobs > before_create);
        const std::uint64_t before = weft::stats().blocking_jobs;
        for (int i = 0; i < 10; ++i) {
          File f = File::open(path).value();
          BOOST_TEST(!(::fcntl(f.native_handle(), F_GETFL) & O_NONBLOCK));  // as open(2) left it
        }
        BOOST_TEST(weft::stats().blocking_jobs == before);
        BOOST_TEST((File::open(dir.file("absent")).error() == std::errc::no_such_file_or_directory));
      },
      weft::test::one_worker({.backend = weft::BackendKind::epoll}));
}

// open(2) of a FIFO waits for its other end: the fiber waits, as open(2)
// would, and the worker goes on (the epoll backend opens cached paths
// inline, but never a FIFO).
BOOST_AUTO_TEST_CASE(opening_a_fifo_waits_for_its_writer_in_the_fiber) {
  TempDir dir;
  weft::test::run([&] {
    const std::string fifo = dir.file("fifo");
    BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    std::atomic<bool> writer_opened{false};
    auto writer = weft::spawn([&] {
      weft::sleep_for(30ms);
      File w = File::open(fifo, O_WRONLY).value();
      writer_opened = true;
      return w.write_at(weft::ConstBuffer("hi", 2), 0).value_or(0);
    });
    File r = File::open(fifo, O_RDONLY).value();
    char buf[4] = {};
    const auto n = r.read_at(weft::MutableBuffer(buf, sizeof buf), 0, {.deadline = weft::after(10s)});
    BOOST_TEST(writer.join() == 2u);
    BOOST_TEST(writer_opened.load());
    BOOST_TEST(n.value_or(0) == 2u);
    BOOST_TEST(std::string(buf, 2) == "hi");
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(file_system)

BOOST_AUTO_TEST_CASE(directories_links_renames_and_removal) {
  TempDir dir;
  weft::test::run([&] {
    namespace fs = weft::fs;
    const std::string sub = dir.file("sub");
    fs::create_directory(sub, 0700).value();
    BOOST_TEST(S_ISDIR(fs::stat(sub).value().stx_mode));
    BOOST_TEST((fs::create_directory(sub).error() == std::errc::file_exists));
    fs::write_file(sub + "/a", weft::ConstBuffer("alpha", 5)).value();
    fs::hard_link(sub + "/a", sub + "/b").value();
    fs::symlink("a", sub + "/c").value();
    fs::rename(sub + "/b", sub + "/d").value();
    auto names = fs::list_directory(sub).value();
    std::sort(names.begin(), names.end());
    BOOST_TEST((names == std::vector<std::string>{"a", "c", "d"}));
    BOOST_TEST(fs::read_file(sub + "/c").value() == "alpha");  // through the link
    BOOST_TEST(fs::stat(sub + "/a").value().stx_nlink == 2u);
    BOOST_TEST((fs::remove_directory(sub).error() == std::errc::directory_not_empty));
    for (const char* n : {"/a", "/c", "/d"}) fs::remove(sub + n).value();
    fs::remove_directory(sub).value();
    BOOST_TEST((fs::stat(sub).error() == std::errc::no_such_file_or_directory));
    BOOST_TEST((fs::remove(sub + "/a").error() == std::errc::no_such_file_or_directory));
    BOOST_TEST((fs::list_directory(sub).error() == std::errc::no_such_file_or_directory));
    BOOST_TEST((fs::rename(dir.file("none"), dir.file("x")).error() == std::errc::no_such_file_or_directory));
  });
}

BOOST_AUTO_TEST_CASE(write_file_replaces_atomically_and_read_file_reads_it_whole) {
  TempDir dir;
  weft::test::run([&] {
    namespace fs = weft::fs;
    const std::string path = dir.file("config");
    fs::write_file(path, weft::ConstBuffer("old", 3)).value();
    std::string big(300'000, 'n');
    big[12345] = 'x';
    fs::write_file(path, weft::ConstBuffer(big.data(), big.size()), 0600).value();
    BOOST_TEST(fs::read_file(path).value() == big);
    BOOST_TEST((fs::stat(path).value().stx_mode & 0777) == 0600u);
    // Nothing but the file itself is left in the directory.
    BOOST_TEST((fs::list_directory(dir.path).value() == std::vector<std::string>{"config"}));
    // A directory that does not exist: an error, and no temporary left.
    BOOST_TEST((fs::write_file(dir.file("no/such"), weft::ConstBuffer("x", 1)).error() ==
                std::errc::no_such_file_or_directory));
    BOOST_TEST((fs::read_file(dir.file("missing")).error() == std::errc::no_such_file_or_directory));
    BOOST_TEST(fs::read_file("/dev/null").value().empty());
  });
}

BOOST_AUTO_TEST_SUITE_END()
