// weft-greeter: the service docs/GUIDE.md builds, step by step. It reads
// its config, logs to stdout, asks a helper program for a word to put in
// its greeting, answers each line a client sends with a greeting, and stops
// gracefully on SIGTERM or SIGINT. The regions between "// [name]" and
// "// [/name]" are quoted in the guide (tools/check_docs.py keeps the two
// equal); tests/guide/greeter_check.py runs it as a user would.
//
//   weft-greeter CONFIG
//
// CONFIG holds "key = value" lines ('#' starts a comment):
//   port = 7879          (0: any free port; the log says which)
//   greeting = Hello
//   helper = uname -s    (its first line of output goes in the greeting)
//   grace_ms = 5000      (how long a stop waits for requests under way)
#include <csignal>
#include <cstdio>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include <weft/weft.h>

namespace {

using namespace std::chrono_literals;

// [log]
// One line to stdout. A line is written with one write, so lines from
// fibers on different workers do not interleave.
void log(std::string line) {
  static weft::os::Stream out = weft::os::Stream::standard_output().value();
  line += '\n';
  (void)out.write_all(weft::ConstBuffer(line));
}
// [/log]

// [config]
using Config = std::map<std::string, std::string>;

// "key = value" lines; '#' starts a comment. The error names the file.
weft::Result<Config> read_config(const std::string& path) {
  weft::Result<std::string> text = weft::fs::read_file(path);
  if (!text) return text.error();  // "open /etc/greeter.conf: No such file or directory"
  Config config;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    line = line.substr(0, line.find('#'));
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    config[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return config;
}
// [/config]

// [helper]
// Runs `command_line` (words split on spaces) and returns the first line it
// prints. A program that cannot start, fails or takes over 5 s is an error.
weft::Result<std::string> ask_helper(const std::string& command_line) {
  weft::os::Command command;
  std::istringstream words(command_line);
  words >> command.program;
  for (std::string w; words >> w;) command.args.push_back(w);
  command.output = weft::os::Command::Io::pipe;
  weft::Result<weft::os::Process> helper = weft::os::Process::start(command);
  if (!helper) return helper.error();  // "start uname: No such file or directory"
  const weft::WaitOptions in_time{.deadline = weft::after(5s)};
  std::string said;
  char buf[256];
  for (;;) {
    weft::Result<std::size_t> n = helper->output().read(weft::MutableBuffer(buf, sizeof buf), in_time);
    if (!n) return n.error();
    if (*n == 0) break;
    said.append(buf, *n);
  }
  weft::Result<weft::os::ExitStatus> status = helper->wait(in_time);  // a cancel or deadline kills it
  if (!status) return status.error();
  if (!status->success()) return std::make_error_code(std::errc::io_error);
  return said.substr(0, said.find('\n'));
}
// [/helper]

// [serve]
// One client: a greeting for each line it sends. Between requests the
// connection waits with stop.stopping(), so a stop ends it at once; a
// request under way is counted (begin_work) and finishes unless the grace
// period ends first (stop.cutting()). The replies to lines that came in
// together leave in one write.
void serve(weft::net::TcpStream client, const std::string& greeting, weft::GracefulStop& stop) {
  weft::BufferedReader in(client, 4096);
  weft::BufferedWriter out(client, 4096);
  for (;;) {
    weft::Result<std::string_view> line =
        in.read_line({.deadline = weft::after(60s), .cancel = stop.stopping()});
    if (!line) return;  // closed, idle for a minute, or stopping
    auto work = stop.begin_work();
    const weft::WaitOptions cut{.cancel = stop.cutting()};
    const weft::ConstBuffer reply[] = {greeting, ", ", *line, "\n"};
    if (!out.write(std::span<const weft::ConstBuffer>(reply), cut)) return;
    const bool next_line_here = in.view().find('\n') != std::string_view::npos;
    if (!next_line_here && !out.flush(cut)) return;
  }
}
// [/serve]

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string_view(argv[1]) == "--help") {
    std::fputs("usage: weft-greeter CONFIG   (see examples/guide/greeter.cc)\n", argc == 2 ? stdout : stderr);
    return argc == 2 ? 0 : 2;
  }
  const std::string config_path = argv[1];
  weft::Runtime runtime;
  return runtime.run([&] {
    // [main]
    weft::Result<Config> config = read_config(config_path);
    if (!config) {
      log("weft-greeter: " + config.error().message());
      return 1;
    }
    std::string greeting = (*config)["greeting"].empty() ? "Hello" : (*config)["greeting"];
    if (const std::string& helper = (*config)["helper"]; !helper.empty()) {
      weft::Result<std::string> word = ask_helper(helper);
      if (!word) {
        log("weft-greeter: helper: " + word.error().message());
        return 1;
      }
      greeting += " from " + *word;
    }
    const int port = std::atoi((*config)["port"].c_str());
    weft::Result<weft::net::TcpListener> listener =
        weft::net::TcpListener::bind({"127.0.0.1", static_cast<std::uint16_t>(port)});
    if (!listener) {
      log("weft-greeter: " + listener.error().message());  // "bind 127.0.0.1:7879: Address already in use"
      return 1;
    }
    log("weft-greeter: listening on " + listener->local_address().value().to_string());

    weft::GracefulStop stop;
    // SIGTERM and SIGINT become events this fiber waits for.
    weft::os::Signals signals = weft::os::Signals::watch({SIGTERM, SIGINT}).value();
    auto stopper = weft::spawn([&] {
      const int sig = signals.wait().value();
      char name[24];
      log(std::string("weft-greeter: ") + weft::os::Signals::name(sig, name) + ", stopping");
      const auto grace = std::chrono::milliseconds(std::atoi((*config)["grace_ms"].c_str()));
      const weft::GracefulStop::Report report = stop.stop(grace.count() > 0 ? grace : 5000ms);
      log("weft-greeter: stopped in " + std::to_string(report.took.count()) + " ms, " +
          std::to_string(report.finished) + " finished, " + std::to_string(report.cut_off) + " cut off");
    });
    weft::TaskGroup clients;  // no client outlives main()
    for (;;) {
      weft::Result<weft::net::TcpStream> client = listener->accept({.cancel = stop.stopping()});
      if (!client) {
        if (stop.stop_begun()) break;
        continue;  // e.g. out of descriptors for a moment: the error is a value
      }
      clients.spawn([&, c = std::move(*client)]() mutable { serve(std::move(c), greeting, stop); });
    }
    stopper.join();
    (void)clients.wait();
    return 0;
    // [/main]
  });
}
