// Running a piece of a test in a forked child: for behaviour that ends the
// process (stack overflow, an exception escaping a detached fiber) or that
// must not leak into the rest of the test program (seccomp filters, rlimits).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>

namespace weft::test {

struct ChildResult {
  bool exited = false;  // ended by exit()
  int exit_code = -1;
  int signal = 0;   // the signal that ended it, if one did
  std::string err;  // what it wrote to stderr
};

// The child died of a signal or exited with a failure code.
inline bool crashed(const ChildResult& r) { return !r.exited || r.exit_code != 0; }

// Runs `body` in a child process; the child exits 0 when body returns.
inline ChildResult run_in_child(const std::function<void()>& body) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    // The child starts with default fault handling (the test framework's
    // handlers would turn a crash into a report and carry on).
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) signal(sig, SIG_DFL);
    close(pipe_fds[0]);
    dup2(pipe_fds[1], STDERR_FILENO);
    // Whatever happens, the child never returns into the test runner (it
    // would go on running the rest of the suite as a second process).
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: uncaught exception: %s\n", e.what());
      std::_Exit(3);
    } catch (...) {
      std::fprintf(stderr, "child: uncaught exception\n");
      std::_Exit(3);
    }
    std::_Exit(0);
  }
  close(pipe_fds[1]);
  ChildResult r;
  char buf[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) > 0;)
    r.err.append(buf, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) {
    r.exited = true;
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

}  // namespace weft::test
