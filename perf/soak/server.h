// The server under soak, as a child process: started with the descriptor
// limit it needs, its stdout and stderr read through pipes (its 'listening
// on HOST:PORT' line gives the port; every other line is kept for the
// summary), and stopped with SIGTERM at the end.
//
// Plain POSIX, no weft: a bug in weft must not hide a bug in the server.
// (perf/showdown/process.h starts servers too, but inherits the caller's
// limits and descriptors and drops stderr; a soak needs all three.)
//
// Thread rules: one thread owns a Server.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace weft::soak {

using Env = std::vector<std::pair<std::string, std::string>>;

class Server {
 public:
  // Starts `path` with `args`, RLIMIT_NOFILE raised to `nofile` (soft and
  // hard; the hard limit if that fails) and `env` added to the environment;
  // no descriptor of this process but the two pipes reaches it. Throws
  // std::system_error if it cannot be started.
  Server(const std::string& path, const std::vector<std::string>& args, long nofile,
         const Env& env);
  ~Server();  // kills it if it still runs
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Waits at most `limit` for a line that holds "listening on HOST:PORT";
  // false if the server exits or says nothing of the kind in time.
  bool wait_listening(std::chrono::milliseconds limit, std::string* host, int* port);
  // Keeps whatever output has arrived; never blocks.
  void read_output();
  // Whether it still runs (reaps it when it has ended).
  bool running();
  // SIGTERM, then SIGKILL after `grace`; keeps the rest of its output.
  void stop(std::chrono::milliseconds grace);
  // "exit 0", "killed by SIGTERM", "running".
  std::string how_it_ended() const;
  // Ended with status 0, or by the SIGTERM stop() sent.
  bool ended_cleanly() const;
  bool stopped_by_us() const { return term_sent_; }

  pid_t pid() const { return pid_; }
  // Its output lines so far, stdout and stderr mixed in arrival order (the
  // first kKeptLines; later ones are only counted).
  const std::vector<std::string>& lines() const { return lines_; }
  std::size_t lines_dropped() const { return dropped_; }

  static constexpr std::size_t kKeptLines = 4096;

 private:
  void take(int which, const char* data, std::size_t n);
  bool read_some(int which);  // false at its end or when nothing is there
  void wait_exit(std::chrono::milliseconds limit);

  pid_t pid_ = -1;
  int pipes_[2] = {-1, -1};  // its stdout, its stderr
  std::string partial_[2];
  std::vector<std::string> lines_;
  std::size_t dropped_ = 0;
  bool reaped_ = false;
  bool term_sent_ = false;
  int status_ = 0;
};

// A TCP port on 127.0.0.1 that was free a moment ago (for servers that
// cannot be told to pick one: "@PORT@" in their arguments).
int free_port();

}  // namespace weft::soak
