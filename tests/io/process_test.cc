// Child processes: piped standard streams, exit statuses, signals, the
// deadline and the token of wait(), and no zombie left behind. On both
// backends, with one and two workers.
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <string>

#include <weft/io/process.h>

#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::os::Command;
using weft::os::Process;

namespace {

std::string read_all(weft::os::Stream& s) {
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = s.read(weft::MutableBuffer(buf, sizeof buf), {.deadline = weft::after(10s)});
    if (!n || *n == 0) return out;
    out.append(buf, *n);
  }
}

// Whether `pid` still exists, as a process or a zombie.
bool exists(pid_t pid) {
  struct stat st {};
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

bool kernel_at_least(int major, int minor) {
  utsname u{};
  int got_major = 0;
  int got_minor = 0;
  if (::uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &got_major, &got_minor) != 2) return false;
  return got_major > major || (got_major == major && got_minor >= minor);
}

Command shell(const std::string& script) {
  Command c{.program = "sh", .args = {"-c", script}};
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(processes)

BOOST_AUTO_TEST_CASE(output_is_read_through_a_pipe_and_the_status_is_the_exit_code) {
  weft::test::run([] {
    Command c = shell("echo hello; echo oops >&2; exit 3");
    c.output = c.error = Command::Io::pipe;
    Process p = Process::start(c).value();
    BOOST_TEST(read_all(p.output()) == "hello\n");
    BOOST_TEST(read_all(p.error()) == "oops\n");
    const weft::os::ExitStatus s = p.wait({.deadline = weft::after(10s)}).value();
    BOOST_TEST(s.exited);
    BOOST_TEST(s.code == 3);
    BOOST_TEST(!s.success());
    BOOST_TEST(p.wait().value().code == 3);  // the same once reaped
    BOOST_TEST(!exists(p.pid()));
  });
}

BOOST_AUTO_TEST_CASE(input_and_output_both_piped_through_a_filter) {
  weft::test::run([] {
    Command c{.program = "tr", .args = {"a-z", "A-Z"}};
    c.input = c.output = Command::Io::pipe;
    Process p = Process::start(c).value();
    std::string text(200'000, 'x');  // more than a pipe holds: both sides must move
    auto writer = weft::spawn([&] {
      p.input().write_all(weft::ConstBuffer(text.data(), text.size())).value();
      p.input().close().value();
    });
    const std::string got = read_all(p.output());
    writer.join();
    BOOST_TEST(got == std::string(200'000, 'X'));
    BOOST_TEST(p.wait().value().success());
  });
}

BOOST_AUTO_TEST_CASE(environment_directory_and_null_streams) {
  weft::test::run([] {
    Command c = shell("echo \"$WEFT_GREETING\"; pwd; cat");
    c.env = {"WEFT_GREETING=hi", "PATH=/usr/bin:/bin"};
    c.directory = "/tmp";
    c.input = Command::Io::null;  // cat reads nothing and ends
    c.output = Command::Io::pipe;
    Process p = Process::start(c).value();
    BOOST_TEST(read_all(p.output()) == "hi\n/tmp\n");
    BOOST_TEST(p.wait().value().success());
    BOOST_TEST(!p.input().is_open());  // not piped
  });
}

BOOST_AUTO_TEST_CASE(a_signal_ends_it_and_the_status_says_which) {
  weft::test::run([] {
    Process p = Process::start(Command{.program = "sleep", .args = {"30"}}).value();
    auto early = p.wait({.deadline = weft::after(30ms)});
    BOOST_TEST((early.error() == std::errc::timed_out));
    BOOST_TEST(exists(p.pid()));  // a deadline leaves it running
    p.signal(SIGTERM).value();
    const weft::os::ExitStatus s = p.wait({.deadline = weft::after(10s)}).value();
    BOOST_TEST(!s.exited);
    BOOST_TEST(s.signal == SIGTERM);
    BOOST_TEST((p.signal(SIGTERM).error() == std::errc::no_such_process));  // reaped: never another's
  });
}

// The ring waits with IORING_OP_WAITID where the kernel has it (6.7); with
// it switched off (an older kernel) a poll on the pidfd stands in. Both
// give the status, honour a deadline and leave no zombie.
BOOST_AUTO_TEST_CASE(wait_works_with_and_without_the_ring_s_waitid) {
  for (const bool waitid : {true, false}) {
    BOOST_TEST_CONTEXT("waitid " << waitid) {
      weft::Runtime rt(weft::test::options({.waitid = waitid}));
      rt.run([&] {
        Process p = Process::start(shell("sleep 0.2; exit 7")).value();
        BOOST_TEST((p.wait({.deadline = weft::after(20ms)}).error() == std::errc::timed_out));
        const weft::os::ExitStatus s = p.wait({.deadline = weft::after(10s)}).value();
        BOOST_TEST(s.exited);
        BOOST_TEST(s.code == 7);
        BOOST_TEST(!exists(p.pid()));
      });
      if (!weft::test::on_epoll()) BOOST_TEST(rt.features().waitid == (waitid && kernel_at_least(6, 7)));
    }
  }
}

// The spawn waits for the child's exec: it runs on the blocking pool, and
// the worker serves other fibers meanwhile.
BOOST_AUTO_TEST_CASE(the_spawn_runs_on_the_blocking_pool) {
  weft::test::run(
      [] {
        const std::uint64_t before = weft::stats().blocking_jobs;
        for (int i = 0; i < 3; ++i) BOOST_TEST(Process::start(Command{.program = "true"}).value().wait().value().success());
        BOOST_TEST(weft::stats().blocking_jobs >= before + 3);
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(a_cancelled_wait_kills_and_reaps_it) {
  weft::test::run([] {
    Process p = Process::start(Command{.program = "sleep", .args = {"30"}}).value();
    weft::CancelToken token;
    auto canceller = weft::spawn([&] {
      weft::sleep_for(20ms);
      token.cancel();
    });
    auto r = p.wait({.cancel = &token});
    canceller.join();
    BOOST_TEST((r.error() == std::errc::operation_canceled));
    BOOST_TEST(!exists(p.pid()));  // killed and reaped: no zombie
    BOOST_TEST(p.wait().value().signal == SIGKILL);
  });
}

BOOST_AUTO_TEST_CASE(a_process_nobody_waits_for_is_killed_and_reaped) {
  pid_t pid = -1;
  weft::test::run([&] {
    {
      Process p = Process::start(Command{.program = "sleep", .args = {"30"}}).value();
      pid = p.pid();
    }
    // Reaped on the blocking pool: give it a moment.
    for (int i = 0; i < 500 && exists(pid); ++i) weft::sleep_for(2ms);
  });
  BOOST_TEST(!exists(pid));
}

BOOST_AUTO_TEST_CASE(a_program_that_cannot_start_is_an_error_and_nothing_leaks) {
  weft::test::run([] {
    auto missing = Process::start(Command{.program = "/nonexistent/program"});
    BOOST_TEST((missing.error() == std::errc::no_such_file_or_directory));
    auto not_in_path = Process::start(Command{.program = "weft-no-such-program"});
    BOOST_TEST((not_in_path.error() == std::errc::no_such_file_or_directory));
    Command bad_dir{.program = "true", .directory = "/nonexistent"};
    BOOST_TEST((Process::start(bad_dir).error() == std::errc::no_such_file_or_directory));
    BOOST_TEST((Process::start(Command{}).error() == std::errc::invalid_argument));
  });
}

BOOST_AUTO_TEST_CASE(the_child_does_not_inherit_the_runtime_s_blocked_sigpipe) {
  weft::test::run([] {
    // A child writing into a closed pipe dies of SIGPIPE, as it would
    // outside weft.
    Command c = shell("sleep 0.2; exec yes");
    c.output = Command::Io::pipe;
    Process p = Process::start(c).value();
    p.output().close().value();
    BOOST_TEST(p.wait({.deadline = weft::after(10s)}).value().signal == SIGPIPE);
  });
}

BOOST_AUTO_TEST_SUITE_END()
