#include <weft/io/process.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <weft/fibers/blocking.h>
#include <weft/io/io.h>

extern char** environ;

namespace weft::os {
namespace {

// glibc 2.36 has no wrappers for these on every build; the numbers are
// fixed on x86-64.
int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int send_to_pidfd(int pidfd, int sig) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }
constexpr auto kByPidfd = static_cast<idtype_t>(3);  // P_PIDFD (Linux 5.4)

// Blocks until `pid` (a child not yet reaped) exits, and reaps it.
void reap_by_pid(pid_t pid) {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) != 0 && errno == EINTR) {
  }
}

ExitStatus status_of(const siginfo_t& info) {
  ExitStatus s;
  if (info.si_code == CLD_EXITED) {
    s.exited = true;
    s.code = info.si_status;
  } else {
    s.signal = info.si_status;
  }
  return s;
}

// The file actions and pipes of one start(): the child's ends close in the
// parent whatever happens.
struct Plumbing {
  posix_spawn_file_actions_t actions;
  int child_ends[3] = {-1, -1, -1};
  int parent_ends[3] = {-1, -1, -1};
  Plumbing() { posix_spawn_file_actions_init(&actions); }
  ~Plumbing() {
    posix_spawn_file_actions_destroy(&actions);
    for (int& fd : child_ends) {
      if (fd >= 0) ::close(fd);
    }
    for (int& fd : parent_ends) {
      if (fd >= 0) ::close(fd);
    }
  }
  // 0 or an errno.
  int connect(int target, Command::Io how) {
    if (how == Command::Io::inherit) return 0;
    if (how == Command::Io::null) {
      return posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
    // The child reads its input from the pipe, and writes the others to it.
    child_ends[target] = target == 0 ? fds[0] : fds[1];
    parent_ends[target] = target == 0 ? fds[1] : fds[0];
    return posix_spawn_file_actions_adddup2(&actions, child_ends[target], target);
  }
};

}  // namespace

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      reaped_(other.reaped_),
      status_(other.status_),
      in_(std::move(other.in_)),
      out_(std::move(other.out_)),
      err_(std::move(other.err_)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    kill_and_reap_later();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    reaped_ = other.reaped_;
    status_ = other.status_;
    in_ = std::move(other.in_);
    out_ = std::move(other.out_);
    err_ = std::move(other.err_);
  }
  return *this;
}

Process::~Process() { kill_and_reap_later(); }

Result<Process> Process::start(const Command& command) {
  return annotate(start_unnamed(command), [&] { return "start " + command.program; });
}

Result<Process> Process::start_unnamed(const Command& command) {
  if (command.program.empty()) return errno_error(EINVAL);
  Plumbing p;
  if (int e = p.connect(0, command.input); e != 0) return errno_error(e);
  if (int e = p.connect(1, command.output); e != 0) return errno_error(e);
  if (int e = p.connect(2, command.error); e != 0) return errno_error(e);
  if (!command.directory.empty()) {
    if (int e = posix_spawn_file_actions_addchdir_np(&p.actions, command.directory.c_str()); e != 0)
      return errno_error(e);
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(command.program.c_str()));
  for (const std::string& a : command.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : command.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // The child starts with no signal blocked (a runtime's threads block
  // SIGPIPE) and default handling of what weft's Signals watch.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  // posix_spawnp returns once the child has exec'd (0.5-1 ms): on the
  // blocking pool, so the worker runs other fibers meanwhile. Inline where
  // there is no pool to ask (outside a fiber, or no helper thread).
  auto spawn = [&] {
    return posix_spawnp(&pid, command.program.c_str(), &p.actions, &attr, argv.data(),
                        command.env.empty() ? environ : envp.data());
  };
  int rc = 0;
  try {
    rc = blocking(spawn);
  } catch (const std::logic_error&) {
    rc = spawn();
  } catch (const std::system_error&) {
    rc = spawn();
  }
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errno_error(rc);
  Process proc;
  proc.pid_ = pid;
  // Not reaped yet, so the number is still the child's.
  proc.pidfd_.reset(open_pidfd(pid));
  if (proc.pidfd_ < 0) {
    const int e = errno;
    ::kill(pid, SIGKILL);
    reap_by_pid(pid);
    proc.pid_ = -1;
    return errno_error(e);
  }
  proc.in_ = Stream(std::exchange(p.parent_ends[0], -1));
  proc.out_ = Stream(std::exchange(p.parent_ends[1], -1));
  proc.err_ = Stream(std::exchange(p.parent_ends[2], -1));
  return proc;
}

Result<ExitStatus> Process::wait(const WaitOptions& options) {
  if (reaped_) return status_;
  if (pidfd_ < 0) return errno_error(ECHILD);
  for (;;) {
    // One request: IORING_OP_WAITID reaps the child when it exits; the
    // epoll backend tries waitid and then watches the pidfd; an older ring
    // only watches it (a result above 0), and the child is reaped here.
    siginfo_t info{};
    auto op = io::make_operation(io::OpKind::waitid, pidfd_, options);
    op->buf = &info;
    const std::int64_t r = io::perform(*op);
    if (r > 0 && ::waitid(kByPidfd, static_cast<id_t>(pidfd_), &info, WEXITED | WNOHANG) != 0)
      return errno_error(errno);
    if (r >= 0) {
      if (info.si_pid == 0) continue;  // woke before it exited
      status_ = status_of(info);
      reaped_ = true;
      io::close_descriptor_quietly(pidfd_);
      return status_;
    }
    if (r == -ECANCELED) {  // the caller gave up waiting: it dies at once, and is reaped here
      (void)send_to_pidfd(pidfd_, SIGKILL);
      if (Result<ExitStatus> killed = wait(); !killed) return killed.error();
    }
    return errno_error(static_cast<int>(-r));
  }
}

Result<void> Process::signal(int sig) {
  if (reaped_ || pidfd_ < 0) return errno_error(ESRCH);
  if (send_to_pidfd(pidfd_, sig) != 0) return errno_error(errno);
  return {};
}

// Kills a child nobody waited for and reaps it on the blocking pool (by
// pid: it is not reaped, so the number is still its own).
void Process::kill_and_reap_later() noexcept {
  if (pidfd_ < 0 || reaped_) return;
  (void)send_to_pidfd(pidfd_, SIGKILL);
  io::close_descriptor_quietly(pidfd_);
  struct Reap : fibers::BlockingJob {
    pid_t pid;
  };
  auto* job = new (std::nothrow) Reap;
  if (job != nullptr) {
    job->pid = pid_;
    job->run = [](fibers::BlockingJob* base) noexcept {
      auto* r = static_cast<Reap*>(base);
      reap_by_pid(r->pid);
      delete r;
    };
    if (fibers::submit_detached(*job) == 0) return;
    delete job;
  }
  reap_by_pid(pid_);  // no helper thread: here (a killed child goes at once)
}

}  // namespace weft::os
