// weft/io/process.h — child processes for fibers.
//
//   weft::os::Command cmd{.program = "sort", .args = {"-r"}};
//   cmd.input = cmd.output = weft::os::Command::Io::pipe;
//   auto p = weft::os::Process::start(cmd).value();
//   p.input().write_all(bytes).value();
//   p.input().close().value();                 // sort sees the end
//   ... p.output().read(buf) ...
//   weft::os::ExitStatus s = p.wait().value();  // parks this fiber only
//
// start() runs the program (looked up in PATH when it has no slash) with
// posix_spawn, so nothing of the parent runs in the child; its standard
// streams are inherited, piped (as weft::os::Stream), or /dev/null. The
// spawn (until the child has exec'd) runs on the blocking pool: the calling
// fiber parks, its worker does not. wait() parks the calling fiber until
// the child exits (IORING_OP_WAITID where the kernel has it, else the
// child's pidfd), then reaps it. At the deadline wait() returns std::errc::timed_out and the child
// runs on; when the token is cancelled the child is killed (SIGKILL),
// reaped, and wait() returns operation_canceled. A Process destroyed before
// its child was reaped kills and reaps it (on the blocking pool, so the
// destructor never waits): no zombie is left behind, whatever happens to
// the fiber that started it.
//
// Errors: a program that cannot be started is the error of its exec
// (no_such_file_or_directory, permission_denied), a working directory that
// does not exist is its chdir's.
//
// Thread rules: a Process is used by fibers of one runtime, one at a time.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/descriptor.h>
#include <weft/io/stream.h>

namespace weft::os {

struct Command {
  enum class Io { inherit, pipe, null };
  std::string program;            // a path, or a name looked up in PATH
  std::vector<std::string> args;  // after argv[0] (which is `program`)
  // Empty: the parent's environment. Otherwise the child's whole
  // environment, "NAME=value" each.
  std::vector<std::string> env;
  std::string directory;  // empty: the parent's working directory
  Io input = Io::inherit;
  Io output = Io::inherit;
  Io error = Io::inherit;
};

struct ExitStatus {
  bool exited = false;  // by exit(): code is its status
  int code = 0;
  int signal = 0;  // otherwise, the signal that ended it
  bool success() const { return exited && code == 0; }
};

class Process {
 public:
  Process() = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();

  static Result<Process> start(const Command& command);

  pid_t pid() const { return pid_; }
  // The piped ends (closed streams for what was not piped).
  Stream& input() { return in_; }
  Stream& output() { return out_; }
  Stream& error() { return err_; }

  // Parks until the child exits and reaps it (see the top for the deadline
  // and the token). After it has been reaped, returns the same status.
  Result<ExitStatus> wait(const WaitOptions& options = {});
  // Sends `signal` to the child (pidfd_send_signal: never another process
  // that took its number). ESRCH once it has been reaped.
  Result<void> signal(int signal);

 private:
  static Result<Process> start_unnamed(const Command& command);  // start(), its error unnamed
  void kill_and_reap_later() noexcept;

  pid_t pid_ = -1;
  io::Descriptor pidfd_;  // closed through the runtime (the epoll backend may watch it)
  bool reaped_ = false;
  ExitStatus status_;
  Stream in_;
  Stream out_;
  Stream err_;
};

}  // namespace weft::os
