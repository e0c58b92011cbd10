#include "perf/soak/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

namespace weft::soak {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

Server::Server(const std::string& path, const std::vector<std::string>& args, long nofile,
               const Env& env) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  if (pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    close(out[0]);
    close(out[1]);
    throw std::system_error(e, std::generic_category(), "pipe");
  }
  std::vector<std::string> argv_text{path};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    // The child: only async-signal-safe calls until exec (setenv is not,
    // but this process has one thread, so no lock can be held).
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    rlimit lim{static_cast<rlim_t>(nofile), static_cast<rlim_t>(nofile)};
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      getrlimit(RLIMIT_NOFILE, &lim);
      lim.rlim_cur = lim.rlim_max;  // the most it may have; the parent reports what it got
      setrlimit(RLIMIT_NOFILE, &lim);
    }
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    close_range(3, ~0U, 0);  // nothing of the client's reaches the server
    execv(argv[0], argv.data());
    const char msg[] = "weft-soak: cannot run the server program\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
  const int fork_errno = errno;
  close(out[1]);
  close(err[1]);
  pipes_[0] = out[0];
  pipes_[1] = err[0];
  if (pid_ < 0) {
    close(pipes_[0]);
    close(pipes_[1]);
    throw std::system_error(fork_errno, std::generic_category(), "fork");
  }
  for (int fd : pipes_) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

Server::~Server() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  for (int fd : pipes_) {
    if (fd >= 0) close(fd);
  }
}

void Server::take(int which, const char* data, std::size_t n) {
  std::string& part = partial_[which];
  part.append(data, n);
  for (std::size_t nl; (nl = part.find('\n')) != std::string::npos;) {
    if (lines_.size() < kKeptLines) {
      lines_.push_back(part.substr(0, nl));
    } else {
      ++dropped_;
    }
    part.erase(0, nl + 1);
  }
}

bool Server::read_some(int which) {
  if (pipes_[which] < 0) return false;
  char buf[4096];
  const ssize_t n = read(pipes_[which], buf, sizeof buf);
  if (n > 0) {
    take(which, buf, static_cast<std::size_t>(n));
    return true;
  }
  if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    if (!partial_[which].empty()) take(which, "\n", 1);
    close(pipes_[which]);
    pipes_[which] = -1;
  }
  return false;
}

void Server::read_output() {
  for (int which = 0; which < 2; ++which) {
    while (read_some(which)) {
    }
  }
}

bool Server::wait_listening(milliseconds limit, std::string* host, int* port) {
  const auto until = steady_clock::now() + limit;
  std::size_t seen = 0;
  for (;;) {
    read_output();
    for (; seen < lines_.size(); ++seen) {
      const std::string& line = lines_[seen];
      const std::size_t at = line.find("listening on ");
      if (at == std::string::npos) continue;
      // "HOST:PORT", up to the first blank ("... (multi, io_uring, 2 workers)").
      const std::string where =
          line.substr(at + 13, line.find_first_of(" \t", at + 13) - (at + 13));
      const std::size_t colon = where.rfind(':');
      if (colon == std::string::npos) continue;
      *host = where.substr(0, colon);
      *port = std::atoi(where.c_str() + colon + 1);
      if (*port > 0) return true;
    }
    if (!running()) return false;
    const auto left = std::chrono::duration_cast<milliseconds>(until - steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p[2] = {{pipes_[0], POLLIN, 0}, {pipes_[1], POLLIN, 0}};
    poll(p, 2, static_cast<int>(std::min<long long>(left, 100)));
  }
}

bool Server::running() {
  if (reaped_) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) {
    reaped_ = true;
    read_output();
    return false;
  }
  return true;
}

void Server::wait_exit(milliseconds limit) {
  const auto until = steady_clock::now() + limit;
  while (running() && steady_clock::now() < until) {
    read_output();
    std::this_thread::sleep_for(milliseconds(5));
  }
}

void Server::stop(milliseconds grace) {
  if (!running()) return;
  kill(pid_, SIGTERM);
  term_sent_ = true;
  wait_exit(grace);
  if (running()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
  read_output();
}

std::string Server::how_it_ended() const {
  if (!reaped_) return "running";
  if (WIFEXITED(status_)) return "exit " + std::to_string(WEXITSTATUS(status_));
  if (WIFSIGNALED(status_)) {
    const char* name = sigabbrev_np(WTERMSIG(status_));
    return std::string("killed by SIG") +
           (name != nullptr ? name : std::to_string(WTERMSIG(status_)).c_str());
  }
  return "ended (status " + std::to_string(status_) + ")";
}

bool Server::ended_cleanly() const {
  if (!reaped_) return false;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_) == 0;
  return term_sent_ && WIFSIGNALED(status_) && WTERMSIG(status_) == SIGTERM;
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace weft::soak
