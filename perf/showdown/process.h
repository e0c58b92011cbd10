// Child processes for weft-showdown: a server started in the background
// (its first line of output tells where it listens) and a load generator run
// to completion (its one line of key=value results). Plain POSIX: the
// showdown is a conductor, not a weft program.
//
// Thread rules: one thread (the showdown's main thread) owns each Child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace weft::showdown {

using Env = std::vector<std::pair<std::string, std::string>>;

class Child {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH) with `env` added to
  // this process's environment; its stdout comes through a pipe, its stderr
  // goes to `stderr_path` (empty: /dev/null). Throws std::system_error if
  // the process cannot be started.
  Child(const std::vector<std::string>& argv, const Env& env, const std::string& stderr_path = {});
  ~Child();  // kills the process if it still runs
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The next line of its stdout, waiting at most `limit`; false at its end
  // or on timeout.
  bool read_line(std::string* line, std::chrono::milliseconds limit);
  // All of its stdout until it exits, at most `limit`; false on timeout (the
  // process is then killed).
  bool read_all(std::string* out, std::chrono::milliseconds limit);
  // SIGTERM, then SIGKILL after `grace`; returns the wait status.
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));
  pid_t pid() const { return pid_; }

 private:
  bool fill(std::chrono::steady_clock::time_point until);  // more bytes into buffer_
  pid_t pid_ = -1;
  int out_ = -1;
  bool eof_ = false;
  bool reaped_ = false;
  int status_ = 0;
  std::string buffer_;
};

// "a=1 b=x" -> {a: 1, b: x}.
std::map<std::string, std::string> parse_keys(const std::string& line);

// Whether `name` runs from PATH (or is an executable path).
bool have_program(const std::string& name);

}  // namespace weft::showdown
