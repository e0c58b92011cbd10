#include "perf/showdown/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <system_error>
#include <thread>

namespace weft::showdown {

using std::chrono::steady_clock;

Child::Child(const std::vector<std::string>& argv, const Env& env, const std::string& stderr_path) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  const int err = open(stderr_path.empty() ? "/dev/null" : stderr_path.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err < 0) {
    const int e = errno;
    close(fds[0]);
    close(fds[1]);
    throw std::system_error(e, std::generic_category(), "open " + stderr_path);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execvp(args[0], args.data());
    _exit(127);
  }
  const int fork_errno = errno;
  close(fds[1]);
  close(err);
  out_ = fds[0];
  if (pid_ < 0) {
    close(out_);
    throw std::system_error(fork_errno, std::generic_category(), "fork");
  }
}

Child::~Child() {
  if (!reaped_) stop(std::chrono::milliseconds(500));
  if (out_ >= 0) close(out_);
}

bool Child::fill(steady_clock::time_point until) {
  if (eof_) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{out_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[4096];
  const ssize_t n = read(out_, buf, sizeof buf);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(buf, static_cast<std::size_t>(n));
  return true;
}

bool Child::read_line(std::string* line, std::chrono::milliseconds limit) {
  const auto until = steady_clock::now() + limit;
  for (;;) {
    const std::size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      *line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    if (!fill(until)) return false;
  }
}

bool Child::read_all(std::string* out, std::chrono::milliseconds limit) {
  const auto until = steady_clock::now() + limit;
  while (!eof_) {
    if (!fill(until) && !eof_) {
      stop(std::chrono::milliseconds(100));
      *out = buffer_;
      return false;
    }
  }
  *out = buffer_;
  buffer_.clear();
  stop();
  return true;
}

int Child::stop(std::chrono::milliseconds grace) {
  if (reaped_ || pid_ <= 0) return status_;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) {
    reaped_ = true;
    return status_;
  }
  kill(pid_, SIGTERM);
  const auto until = steady_clock::now() + grace;
  while (steady_clock::now() < until) {
    if (waitpid(pid_, &status_, WNOHANG) == pid_) {
      reaped_ = true;
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status_, 0);
  reaped_ = true;
  return status_;
}

std::map<std::string, std::string> parse_keys(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    const std::size_t eq = word.find('=');
    if (eq != std::string::npos) out[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return out;
}

bool have_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace weft::showdown
