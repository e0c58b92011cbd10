// weft-loadgen's command line.
#pragma once

#include <cstddef>
#include <string>

namespace weft::loadgen {

struct Options {
  std::string host = "127.0.0.1";
  int port = 7878;
  int connections = 64;
  std::size_t size = 64;  // bytes per message
  double seconds = 5;     // measured window
  double warmup = 1;      // run before the window, not counted
  double rate = 0;        // requests per second, all connections together; 0 = closed loop
  int server_pid = 0;     // 0 = do not report the server's CPU time
  std::string protocol = "echo";
  std::string path = "/ping";  // http: the request target
  bool fresh = false;  // a new TCP connection for every request (--fresh)

  bool open_loop() const { return rate > 0; }
};

// Parses argv; prints the usage and exits with status 2 on a bad option.
Options parse_options(int argc, char** argv);

}  // namespace weft::loadgen
