// weft-showdown: the same HTTP service run Go's way and Node's way, side by
// side, under load and under a CPU hog. weft's main job (scripts/run).
//
//   weft-showdown                      # ~1-2 min; table on stdout
//   weft-showdown --out perf/results   # also showdown.md and showdown.csv there
//   weft-showdown --quick --only weft  # shorter windows, weft rows only
//
// Rows: weft-http (examples/http) as multi+io_uring, multi+epoll,
// single+io_uring (Node's model) and single+epoll, then the same service in
// Go (net/http, GOMAXPROCS = CPUs) and in Node (the http module) when `go`
// built its peer and `node` is installed. For each, weft-loadgen (one
// thread, --protocol http) measures:
//   1. no hog: /ping in closed loop, 32 connections, 3 s: requests per
//      second, latency, and the server's CPU time per request;
//   2. hog: for 4 s, two load generators side by side: /ping in open loop
//      at 1000/s over 16 kept-alive connections, and /ping at 100/s from 4
//      clients that open a new connection for every request (--fresh: as
//      curl or any HTTP/1.0 client does; the connect and the server's
//      accept count in the latency). 0.5 s into that window one
//      `GET /heavy?ms=2000` (a handler that computes for 2 s without
//      yielding). Open loop: a ping's latency runs from when it was due, so
//      pings held up behind the hog count in full.
// Each row ends with a one-line verdict that weighs both kinds of ping: a
// server whose new connections waited for the hog did not keep serving,
// however its open connections fared. The load generators and the server
// share the machine's cores: on 2 cores the generators take about one.
//
// Thread rules: one thread; the services and the generator are child
// processes (process.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "perf/common/usage.h"
#include "perf/showdown/process.h"

using namespace std::chrono_literals;
using weft::showdown::Child;
using weft::showdown::Env;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  bool quick = false;
  std::string only;  // "weft": no peers
  std::string out_dir;
  int hog_ms = 2000;
};

struct Config {
  std::string server;  // "weft", "Go 1.19", "Node 20"
  std::string setup;   // "multi + io_uring", ...
  std::string model;   // "Go's (M:N)" or "Node's (one thread)"
  std::vector<std::string> argv;
  Env env;
  std::string missing;  // why it cannot run here (empty: it can)
};

struct Row {
  Config config;
  bool ran = false;
  std::string failure;
  double rps = 0, p50_ms = 0, p99_ms = 0, cpu_us = 0;
  double hog_p50_ms = 0, hog_p99_ms = 0, hog_max_ms = 0;        // pings on open connections
  double fresh_p50_ms = 0, fresh_p99_ms = 0, fresh_max_ms = 0;  // pings on new connections
  double hog_ms = 0;  // how long the /heavy request took, as its client saw it
  unsigned long errors = 0;
  std::string verdict;
};

constexpr const char* kUsage =
    "usage: weft-showdown [--quick] [--only weft] [--out DIR] [--hog-ms N]\n"
    "  --quick    shorter windows (a smoke test)\n"
    "  --only     weft: the four weft rows, not Go's and Node's\n"
    "  --out      also write showdown.md and showdown.csv in DIR\n"
    "  --hog-ms   how long the hog request computes, 100 to 10000 (2000)\n"
    "runs weft-http four ways and the Go and Node peers, each measured by weft-loadgen\n"
    "with no hog and during a hog; prints one table\n";

[[noreturn]] void usage(const std::string& why) { weft::perf::bad_usage("weft-showdown", why, kUsage); }

Options parse(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      o.quick = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value after " + a);
    const std::string v = argv[++i];
    if (a == "--only") {
      if (v != "weft") usage("--only takes weft");
      o.only = v;
    } else if (a == "--out") {
      o.out_dir = v;
    } else if (a == "--hog-ms") {
      o.hog_ms = std::atoi(v.c_str());
      if (o.hog_ms < 100 || o.hog_ms > 10000) usage("--hog-ms must be 100 to 10000");
    } else {
      usage("unknown option " + a);
    }
  }
  return o;
}

std::string own_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

std::vector<Config> configurations(const Options& o) {
  const std::string bin = own_dir();
  std::vector<Config> out;
  const std::string http = bin + "/weft-http";
  for (const char* mode : {"multi", "single"}) {
    for (const char* backend : {"uring", "epoll"}) {
      Config c;
      c.server = "weft";
      c.setup = std::string(mode) + " + " + (backend == std::string("uring") ? "io_uring" : "epoll");
      c.model = mode == std::string("multi") ? "Go's (M:N)" : "Node's (one thread)";
      c.argv = {http, "--port", "0", "--seconds", "120"};
      c.env = {{"WEFT_MODE", mode}, {"WEFT_BACKEND", backend}, {"WEFT_HOG_MS", "0"}};
      if (!weft::showdown::have_program(http)) c.missing = http + " is missing";
      out.push_back(c);
    }
  }
  if (o.only == "weft") return out;
  Config go;
  go.server = "Go";
  go.setup = "net/http";
  go.model = "Go's (M:N)";
  go.argv = {bin + "/weft-peer-go-http", "--port", "0"};
  if (!weft::showdown::have_program(go.argv[0]))
    go.missing = "no Go peer (apt-get install golang-go, then rebuild)";
  out.push_back(go);
  Config node;
  node.server = "Node";
  node.setup = "http module";
  node.model = "Node's (one thread)";
  node.argv = {"node", WEFT_SOURCE_DIR "/perf/peers/node/http.js", "--port", "0"};
  if (!weft::showdown::have_program("node")) node.missing = "node is not installed";
  out.push_back(node);
  return out;
}

// One request on its own connection, as a plain client; milliseconds until
// the whole response came back, or a negative number on failure.
double timed_request(int port, const std::string& target) {
  const auto t0 = Clock::now();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  if (got.compare(0, 12, "HTTP/1.1 200") != 0) return -1;
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double num(const std::map<std::string, std::string>& m, const char* key) {
  const auto it = m.find(key);
  return it == m.end() ? 0 : std::atof(it->second.c_str());
}

// Runs weft-loadgen with `args` to completion; its key=value line.
bool loadgen(const std::vector<std::string>& args, std::map<std::string, std::string>* keys,
             std::string* why) {
  std::vector<std::string> argv = {own_dir() + "/weft-loadgen", "--protocol", "http"};
  argv.insert(argv.end(), args.begin(), args.end());
  Child gen(argv, {});
  std::string out;
  if (!gen.read_all(&out, 40s)) {
    *why = "the load generator did not finish";
    return false;
  }
  *keys = weft::showdown::parse_keys(out);
  if (keys->find("rps") == keys->end()) {
    *why = "the load generator printed nothing";
    return false;
  }
  return true;
}

// Waits for a hog-phase load generator; its figures, or false (and why)
// when it did not finish or measured nothing.
bool hog_figures(Child& gen, std::map<std::string, std::string>* keys, std::string* why) {
  std::string out;
  if (!gen.read_all(&out, 40s)) {
    *why = "the load generator did not finish";
    return false;
  }
  *keys = weft::showdown::parse_keys(out);
  if (keys->find("rps") == keys->end() || num(*keys, "requests") <= 0) {
    // No figures is not "no delay": the row fails.
    *why = "the load generator measured nothing during the hog";
    return false;
  }
  return true;
}

// What the hog did to the pings, in one line. A kind of ping waited for the
// hog when its worst latency reached half the hog's length.
std::string verdict(const Row& r) {
  if (r.hog_ms < 0) return "the /heavy request failed";
  const bool kept_waited = r.hog_max_ms >= 0.5 * r.hog_ms;
  const bool fresh_waited = r.fresh_max_ms >= 0.5 * r.hog_ms;
  char v[200];
  if (kept_waited && fresh_waited) {
    std::snprintf(v, sizeof v, "every ping that came during the hog waited for it: max %.1f s",
                  std::max(r.hog_max_ms, r.fresh_max_ms) / 1000);
  } else if (fresh_waited) {
    std::snprintf(v, sizeof v,
                  "open connections kept flowing (p99 %.1f ms), but new connections waited for "
                  "the hog: max %.1f s",
                  r.hog_p99_ms, r.fresh_max_ms / 1000);
  } else if (kept_waited) {
    std::snprintf(v, sizeof v,
                  "new connections were served (p99 %.1f ms), but open connections waited for "
                  "the hog: max %.1f s",
                  r.fresh_p99_ms, r.hog_max_ms / 1000);
  } else {
    std::snprintf(v, sizeof v,
                  "pings kept flowing through the hog, on open and new connections: p99 %.1f / "
                  "%.1f ms, max %.0f ms",
                  r.hog_p99_ms, r.fresh_p99_ms, std::max(r.hog_max_ms, r.fresh_max_ms));
  }
  return v;
}

// Progress on stderr, as it happens.
void say(const std::string& text) {
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

Row measure(const Config& c, const Options& o, std::size_t index, std::size_t total) {
  Row row;
  row.config = c;
  const std::string label = c.server + " " + c.setup;
  std::fprintf(stderr, "[%zu/%zu] %s: ", index, total, label.c_str());
  if (!c.missing.empty()) {
    say("skipped (" + c.missing + ")\n");
    row.failure = c.missing;
    return row;
  }
  const std::string err_path =
      "/tmp/weft-showdown-" + std::to_string(getpid()) + "-row" + std::to_string(index) + ".err";
  Child server(c.argv, c.env, err_path);
  std::string line;
  if (!server.read_line(&line, 10s) || line.rfind("listening on ", 0) != 0) {
    row.failure = "the server did not start (see " + err_path + ")";
    say(row.failure + "\n");
    return row;
  }
  const std::size_t colon = line.find(':', 13);
  const int port = colon == std::string::npos ? 0 : std::atoi(line.c_str() + colon + 1);
  if (port <= 0) {
    row.failure = "the server printed no port: " + line;
    say(row.failure + "\n");
    return row;
  }
  const std::string p = std::to_string(port);
  const std::string pid = std::to_string(server.pid());
  const std::string window = o.quick ? "1" : "3";
  say("/ping for " + window + " s... ");
  std::map<std::string, std::string> k;
  std::string why;
  if (!loadgen({"--port", p, "--path", "/ping", "--connections", "32", "--seconds", window,
                "--warmup", "0.5", "--server-pid", pid},
               &k, &why)) {
    row.failure = why;
    say(why + "\n");
    return row;
  }
  row.rps = num(k, "rps");
  row.p50_ms = num(k, "p50_us") / 1000;
  row.p99_ms = num(k, "p99_us") / 1000;
  row.cpu_us = num(k, "server_cpu_us_per_req");
  row.errors = static_cast<unsigned long>(num(k, "errors"));

  say("/ping at 1000/s on open connections and 100/s on new ones, with a " +
      std::to_string(o.hog_ms) + " ms hog... ");
  const std::string hog_window = std::to_string(o.hog_ms / 1000.0 + (o.quick ? 1.0 : 2.0));
  const std::string gen_bin = own_dir() + "/weft-loadgen";
  Child kept_gen({gen_bin, "--protocol", "http", "--port", p, "--path", "/ping", "--connections",
                  "16", "--rate", "1000", "--seconds", hog_window, "--warmup", "0.5"},
                 {});
  Child fresh_gen({gen_bin, "--protocol", "http", "--port", p, "--path", "/ping", "--fresh",
                   "--connections", "4", "--rate", "100", "--seconds", hog_window, "--warmup", "0.5"},
                  {});
  std::this_thread::sleep_for(1000ms);  // 0.5 s into the measured windows
  row.hog_ms = timed_request(port, "/heavy?ms=" + std::to_string(o.hog_ms));
  std::map<std::string, std::string> kept, fresh;
  if (!hog_figures(kept_gen, &kept, &why) || !hog_figures(fresh_gen, &fresh, &why)) {
    row.failure = why;
    say(row.failure + "\n");
    return row;
  }
  row.hog_p50_ms = num(kept, "p50_us") / 1000;
  row.hog_p99_ms = num(kept, "p99_us") / 1000;
  row.hog_max_ms = num(kept, "max_us") / 1000;
  row.fresh_p50_ms = num(fresh, "p50_us") / 1000;
  row.fresh_p99_ms = num(fresh, "p99_us") / 1000;
  row.fresh_max_ms = num(fresh, "max_us") / 1000;
  row.errors += static_cast<unsigned long>(num(kept, "errors") + num(fresh, "errors"));
  server.stop();
  unlink(err_path.c_str());
  row.ran = true;
  row.verdict = verdict(row);
  if (row.errors > 0) row.verdict += " (" + std::to_string(row.errors) + " failed requests)";
  say("done\n");
  return row;
}

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

std::string table(const std::vector<Row>& rows, const Options& o) {
  std::string t;
  const auto triple = [](double p50, double p99, double max) {
    return fmt("%.1f", p50) + " / " + fmt("%.1f", p99) + " / " + fmt("%.0f", max);
  };
  t += "| server | setup | model | /ping req/s | p50 / p99 ms | CPU µs/req | during a " +
       std::to_string(o.hog_ms) +
       " ms hog: ping on open connections p50 / p99 / max ms | ping on new connections p50 / p99 "
       "/ max ms | hog took ms | verdict |\n";
  t += "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n";
  for (const Row& r : rows) {
    const Config& c = r.config;
    if (!r.ran) {
      t += "| " + c.server + " | " + c.setup + " | " + c.model +
           " | — | — | — | — | — | — | not run: " + r.failure + " |\n";
      continue;
    }
    t += "| " + c.server + " | " + c.setup + " | " + c.model + " | " + fmt("%.0f", r.rps) + " | " +
         fmt("%.2f", r.p50_ms) + " / " + fmt("%.2f", r.p99_ms) + " | " + fmt("%.1f", r.cpu_us) +
         " | " + triple(r.hog_p50_ms, r.hog_p99_ms, r.hog_max_ms) + " | " +
         triple(r.fresh_p50_ms, r.fresh_p99_ms, r.fresh_max_ms) + " | " + fmt("%.0f", r.hog_ms) +
         " | " + r.verdict + " |\n";
  }
  return t;
}

std::string csv(const std::vector<Row>& rows) {
  std::string t =
      "server,setup,model,ran,rps,p50_ms,p99_ms,cpu_us_per_req,hog_p50_ms,hog_p99_ms,hog_max_ms,"
      "fresh_p50_ms,fresh_p99_ms,fresh_max_ms,hog_ms,errors,verdict\n";
  for (const Row& r : rows) {
    const Config& c = r.config;
    t += c.server + "," + c.setup + "," + c.model + "," + (r.ran ? "yes" : "no") + "," +
         fmt("%.0f", r.rps) + "," + fmt("%.3f", r.p50_ms) + "," + fmt("%.3f", r.p99_ms) + "," +
         fmt("%.2f", r.cpu_us) + "," + fmt("%.3f", r.hog_p50_ms) + "," + fmt("%.3f", r.hog_p99_ms) +
         "," + fmt("%.3f", r.hog_max_ms) + "," + fmt("%.3f", r.fresh_p50_ms) + "," +
         fmt("%.3f", r.fresh_p99_ms) + "," + fmt("%.3f", r.fresh_max_ms) + "," + fmt("%.1f", r.hog_ms) + "," +
         std::to_string(r.errors) + ",\"" + (r.ran ? r.verdict : r.failure) + "\"\n";
  }
  return t;
}

// The headline: weft's best no-hog throughput against each peer's.
std::string summary(const std::vector<Row>& rows) {
  double weft = 0, go = 0, node = 0;
  for (const Row& r : rows) {
    if (!r.ran) continue;
    double& best = r.config.server == "weft" ? weft : r.config.server == "Go" ? go : node;
    if (r.rps > best) best = r.rps;
  }
  std::string s = "no hog, /ping: weft's best " + fmt("%.0f", weft) + " req/s";
  if (go > 0) s += ", " + fmt("%.2f", weft / go) + "x Go's " + fmt("%.0f", go);
  if (node > 0) s += ", " + fmt("%.2f", weft / node) + "x Node's " + fmt("%.0f", node);
  return s + ".";
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::vector<Config> configs = configurations(o);
  const unsigned cpus = std::thread::hardware_concurrency();
  std::fprintf(stderr,
               "weft-showdown: one HTTP service, %zu ways; %u CPUs shared by the server and the "
               "load generators\n",
               configs.size(), cpus);
  const auto t0 = Clock::now();
  std::vector<Row> rows;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    try {
      rows.push_back(measure(configs[i], o, i + 1, configs.size()));
    } catch (const std::exception& e) {  // e.g. a child that cannot be started
      Row failed;
      failed.config = configs[i];
      failed.failure = e.what();
      say(std::string(e.what()) + "\n");
      rows.push_back(failed);
    }
  }
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();

  const std::string t = table(rows, o);
  std::printf("\n%s\n%s\n", t.c_str(), summary(rows).c_str());
  std::printf(
      "Go's model: a fiber that computes holds one worker; the others serve on. Node's model: one "
      "thread, so\nevery request waits for the one that computes. During the hog, pings on 16 open "
      "connections and on new\nconnections (one per request, as curl makes: the server's accept "
      "counts). %u CPUs, the load\ngenerators on the same machine; %.0f s.\n",
      cpus, took);
  if (!o.out_dir.empty()) {
    std::ofstream md(o.out_dir + "/showdown.md");
    md << "# weft-showdown\n\n" << t << "\n" << summary(rows) << "\n";
    std::ofstream(o.out_dir + "/showdown.csv") << csv(rows);
    std::printf("written: %s/showdown.md, %s/showdown.csv\n", o.out_dir.c_str(), o.out_dir.c_str());
  }
  for (const Row& r : rows) {
    if (r.config.server == "weft" && !r.ran) return 1;
  }
  return 0;
}
