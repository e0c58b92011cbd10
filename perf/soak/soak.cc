// weft-soak: holds many connections to a server for a long time, doing
// everything a client may do, checks every byte, and says whether the
// server lost or corrupted any, leaked descriptors or fibers, or grew.
//
//   weft-soak --server build/bin/weft-echo -- --port @PORT@
//   weft-soak --protocol http --seconds 1800 --server build/bin/weft-http -- --port 0 --mode single
//   weft-soak --self-test
//
// Not a weft program: one thread, one epoll loop, non-blocking sockets
// (client.h), so that a bug in weft cannot hide a bug in the server.
//
// A run, step by step:
//   1. Raise this process's RLIMIT_NOFILE to what N connections need (the
//      hard limit too, where permitted; exit 77 saying so if not).
//   2. Start the server (server.h) with its own limit raised before exec
//      and WEFT_STATS=1, and read its 'listening on HOST:PORT' line.
//   3. Sample it idle: RSS, descriptors, fibers (gdb, probe.h).
//   4. Open N connections and play the workload on them (echo or http,
//      session.h); --warmup seconds after the last one opened, sample it
//      loaded ("start").
//   5. Play on until --seconds; sample it again ("last"), then drain:
//      every connection ends with a half-close, all owed bytes checked.
//   6. Wait until its descriptors are back to the idle count (or
//      --settle-timeout), then sample it ("end"), fibers included.
//   7. SIGTERM; read what it says as it stops (weft-http's graceful-stop
//      line, the runtime's counters).
//   8. Print the summary and the verdict (report.h lists the checks).
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "perf/common/proc_stat.h"
#include "perf/soak/client.h"
#include "perf/soak/options.h"
#include "perf/soak/probe.h"
#include "perf/soak/report.h"
#include "perf/soak/server.h"

#ifndef WEFT_SOURCE_DIR
#define WEFT_SOURCE_DIR "."
#endif

namespace weft::soak {

int self_test();  // self_test.cc

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kCannotRunHere = 77;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Clock::duration span(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

class Run {
 public:
  explicit Run(const Options& o) : o_(o) {
    f_.options = &o_;
    gdb_ = find_program("gdb");
    script_ =
        o_.gdb_script.empty() ? std::string(WEFT_SOURCE_DIR) + "/tools/gdb/weft.py" : o_.gdb_script;
  }

  int go() {
    const long need = o_.connections + 64L;
    f_.client_nofile = raise_nofile(need);
    if (f_.client_nofile < 0) {
      rlimit lim{};
      getrlimit(RLIMIT_NOFILE, &lim);
      std::fprintf(
          stderr,
          "weft-soak: cannot run here: %d connections need %ld descriptors, and RLIMIT_NOFILE "
          "stays at %llu (hard limit %llu; raising it needs root or CAP_SYS_RESOURCE): use fewer "
          "--connections or raise `ulimit -Hn`\n",
          o_.connections, need, static_cast<unsigned long long>(lim.rlim_cur),
          static_cast<unsigned long long>(lim.rlim_max));
      return kCannotRunHere;
    }
    std::vector<std::string> args = o_.server_args;
    f_.server_command = o_.server;
    for (std::string& a : args) {
      if (a == "@PORT@") a = std::to_string(free_port());
      f_.server_command += " " + a;
    }
    server_.emplace(o_.server, args, o_.server_nofile, Env{{"WEFT_STATS", "1"}});
    f_.server_pid = server_->pid();
    std::string host;
    int port = 0;
    if (!server_->wait_listening(seconds(20), &host, &port)) {
      server_->stop(milliseconds(2000));
      std::fprintf(stderr, "weft-soak: the server did not say 'listening on HOST:PORT' (%s)\n",
                   server_->how_it_ended().c_str());
      for (const std::string& line : server_->lines()) std::fprintf(stderr, "  %s\n", line.c_str());
      return 1;
    }
    if (host == "0.0.0.0") host = "127.0.0.1";
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
      std::fprintf(stderr,
                   "weft-soak: the server listens on '%s': only numeric IPv4 is spoken here\n",
                   host.c_str());
      return 1;
    }
    f_.server_nofile = nofile_limit(server_->pid());
    if (f_.server_nofile >= 0 && f_.server_nofile < need) {
      std::fprintf(stderr,
                   "weft-soak: cannot run here: the server's RLIMIT_NOFILE is %ld, below the %ld "
                   "that %d connections need (--server-nofile; raising it needs root)\n",
                   f_.server_nofile, need, o_.connections);
      return kCannotRunHere;
    }
    std::fprintf(stderr, "weft-soak: %s listens on %s:%d (pid %d); %d connections, %.0f s\n",
                 o_.server.c_str(), host.c_str(), port, static_cast<int>(server_->pid()),
                 o_.connections, o_.seconds);
    soak(address);
    f_.server_lines = server_->lines();
    return report(f_);
  }

 private:
  // Steps 3 to 7.
  void soak(const sockaddr_in& address) {
    std::this_thread::sleep_for(milliseconds(200));  // let it finish starting
    server_->read_output();
    f_.fds_idle_targets = fd_targets(server_->pid());
    sample(&f_.idle, o_.fibers != FiberCount::none);
    Client client(o_, address, f_.tally);
    client_ = &client;
    load_start_ = Clock::now();
    next_progress_ = load_start_ + span(o_.progress_every);
    const Client::Tick tick = [this] { return this->tick(); };
    Clock::time_point load_end = load_start_ + span(o_.seconds);
    f_.all_opened = client.open(std::min(load_end, load_start_ + seconds(60)), tick);
    f_.open_seconds = since(load_start_);
    if (!alive()) return finish();
    // The warm-up counts from when every connection was open: the first
    // loaded sample is of a server that has seen all of them at work.
    client.run_until(std::min(load_end, Clock::now() + span(o_.warmup_seconds())), tick);
    if (!alive()) return finish();
    const Clock::time_point before = Clock::now();
    sample(&f_.start, o_.fibers == FiberCount::all);
    load_end += Clock::now() - before;  // the server was stopped meanwhile: not load
    client.forgive(Clock::now());
    client.run_until(load_end, tick);
    if (!alive()) return finish();
    sample(&f_.last, false);
    finish();
  }

  // Steps 5 (the drain) to 7, also after the server died.
  void finish() {
    f_.load_seconds = since(load_start_);
    f_.peak = client_->peak();
    const Clock::time_point drain_start = Clock::now();
    f_.drained =
        client_->drain(drain_start + span(o_.drain_timeout), [this] { return this->tick(); });
    f_.drain_seconds = since(drain_start);
    if (alive()) {
      const Clock::time_point settle_start = Clock::now();
      const Clock::time_point give_up = settle_start + span(o_.settle_timeout);
      while (fd_count(server_->pid()) != f_.idle.fds && Clock::now() < give_up) {
        server_->read_output();
        std::this_thread::sleep_for(milliseconds(50));
      }
      f_.settle_seconds = since(settle_start);
      f_.fds_end_targets = fd_targets(server_->pid());
      sample(&f_.end, o_.fibers != FiberCount::none);
    }
    if (f_.last.rss_kib < 0) f_.last = f_.end;  // the load was cut short
    if (f_.start.rss_kib < 0) f_.start = f_.last;
    if (const perf::CpuTime cpu = perf::cpu_time_of(server_->pid()); cpu.ok) {
      f_.server_cpu_seconds = cpu.user + cpu.system;
    }
    rusage self{};
    getrusage(RUSAGE_SELF, &self);
    const auto secs = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
    };
    f_.client_cpu_seconds = secs(self.ru_utime) + secs(self.ru_stime);
    f_.server_died = !server_->running() && !server_->stopped_by_us();
    server_->stop(milliseconds(15000));
    f_.server_end = server_->how_it_ended();
    f_.server_clean = server_->ended_cleanly();
  }

  void sample(Sample* s, bool fibers) {
    s->at_seconds = load_start_ == Clock::time_point{} ? 0 : since(load_start_);
    s->rss_kib = rss_kib(server_->pid());
    s->fds = fd_count(server_->pid());
    s->held = client_ != nullptr ? client_->held() : 0;
    if (fibers) {
      s->fibers_taken = true;
      s->fibers = count_fibers(server_->pid(), gdb_, script_, seconds(120));
    }
  }

  bool alive() { return server_->running(); }

  // Every 100 ms of a phase: the server's output, whether it lives, progress.
  bool tick() {
    server_->read_output();
    if (!server_->running()) {
      std::fprintf(stderr, "weft-soak: the server ended (%s)\n", server_->how_it_ended().c_str());
      return false;
    }
    if (o_.progress_every > 0 && Clock::now() >= next_progress_) {
      next_progress_ += span(o_.progress_every);
      const Tally& t = f_.tally;
      std::fprintf(
          stderr,
          "weft-soak: %4.0f s: held %d (connecting %d, waiting %zu), connects %llu, verified "
          "%.1f MiB, errors %llu, server RSS %ld KiB, fds %ld\n",
          since(load_start_), client_->held(), client_->connecting(), client_->waiting(),
          static_cast<unsigned long long>(t.connects),
          static_cast<double>(t.bytes_verified) / (1 << 20),
          static_cast<unsigned long long>(t.errors_total()), rss_kib(server_->pid()),
          fd_count(server_->pid()));
    }
    return true;
  }

  const Options& o_;
  Findings f_;
  std::optional<Server> server_;
  Client* client_ = nullptr;
  std::string gdb_, script_;
  Clock::time_point load_start_{};
  Clock::time_point next_progress_{};
};

}  // namespace
}  // namespace weft::soak

int main(int argc, char** argv) {
  const weft::soak::Options o = weft::soak::parse_options(argc, argv);
  if (o.self_test) return weft::soak::self_test();
  try {
    weft::soak::Run run(o);
    return run.go();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-soak: %s\n", e.what());
    return 1;
  }
}
