#include "perf/soak/probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace weft::soak {
namespace {

std::string proc_path(pid_t pid, const char* what) {
  return "/proc/" + std::to_string(pid) + "/" + what;
}

// The number after `key` on the line of `path` that begins with it.
long field(const std::string& path, const char* key) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  char line[512];
  long v = -1;
  const std::size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, key, n) != 0) continue;
    const char* p = line + n;
    while (*p != '\0' && !std::isdigit(static_cast<unsigned char>(*p))) ++p;
    if (*p != '\0') v = std::strtol(p, nullptr, 10);
    break;
  }
  std::fclose(f);
  return v;
}

}  // namespace

long rss_kib(pid_t pid) { return field(proc_path(pid, "status"), "VmRSS:"); }

long anon_kib(pid_t pid) { return field(proc_path(pid, "smaps_rollup"), "Anonymous:"); }

long tcp_kernel_kib() {
  long bytes = -1;
  char line[512];
  if (FILE* f = std::fopen("/proc/net/sockstat", "r")) {
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "TCP:", 4) != 0) continue;
      if (const char* m = std::strstr(line, " mem ")) bytes = std::strtol(m + 5, nullptr, 10) * sysconf(_SC_PAGESIZE);
      break;
    }
    std::fclose(f);
  }
  if (FILE* f = std::fopen("/proc/slabinfo", "r")) {
    while (std::fgets(line, sizeof line, f) != nullptr) {
      char name[64];
      long active = 0, total = 0, size = 0;
      if (std::sscanf(line, "%63s %ld %ld %ld", name, &active, &total, &size) != 4) continue;
      if (std::strcmp(name, "TCP") == 0 || std::strcmp(name, "sock_inode_cache") == 0)
        bytes = std::max(bytes, 0L) + active * size;
    }
    std::fclose(f);
  }
  return bytes < 0 ? -1 : bytes / 1024;
}

long raise_nofile(long need) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur >= static_cast<rlim_t>(need)) return static_cast<long>(lim.rlim_cur);
  rlimit want{static_cast<rlim_t>(need), std::max(lim.rlim_max, static_cast<rlim_t>(need))};
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
    want = {lim.rlim_max, lim.rlim_max};
    setrlimit(RLIMIT_NOFILE, &want);
  }
  getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur >= static_cast<rlim_t>(need) ? static_cast<long>(lim.rlim_cur) : -1;
}

long nofile_limit(pid_t pid) { return field(proc_path(pid, "limits"), "Max open files"); }

long fd_count(pid_t pid) {
  DIR* d = opendir(proc_path(pid, "fd").c_str());
  if (d == nullptr) return -1;
  long n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

std::vector<std::string> fd_targets(pid_t pid) {
  std::vector<std::string> out;
  const std::string dir = proc_path(pid, "fd");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256];
    const ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n < 0) continue;
    target[n] = '\0';
    out.push_back(std::string(e->d_name) + " -> " + target);
  }
  closedir(d);
  return out;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string full = dir + "/" + name;
    if (!dir.empty() && access(full.c_str(), X_OK) == 0) return full;
  }
  return "";
}

FiberCensus count_fibers(pid_t pid, const std::string& gdb, const std::string& script,
                         std::chrono::seconds limit) {
  FiberCensus c;
  if (gdb.empty()) {
    c.why = "gdb not found";
    return c;
  }
  if (access(script.c_str(), R_OK) != 0) {
    c.why = "no gdb script at " + script + " (--gdb-script)";
    return c;
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    c.why = std::string("pipe: ") + std::strerror(errno);
    return c;
  }
  const std::string pid_text = std::to_string(pid);
  const std::string source = "source " + script;
  std::vector<const char*> argv = {
      gdb.c_str(), "-q",           "-nx", "-batch",           "-p",   pid_text.c_str(),
      "-ex",       source.c_str(), "-ex", "info weft-fibers", nullptr};
  const auto start = std::chrono::steady_clock::now();
  const pid_t child = fork();
  if (child == 0) {
    const int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    close_range(3, ~0U, 0);
    execv(argv[0], const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  close(out[1]);
  if (child < 0) {
    close(out[0]);
    c.why = std::string("fork: ") + std::strerror(errno);
    return c;
  }
  std::string text;
  const auto until = start + limit;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[8192];
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(out[0]);
  if (timed_out) kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  c.took_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (timed_out) {
    c.why = "gdb took longer than " + std::to_string(limit.count()) + " s";
    return c;
  }
  // The table: a header line "id name state worker waits in", then one
  // line per fiber, each beginning with its id.
  std::istringstream lines(text);
  std::string line, last;
  bool header = false;
  while (std::getline(lines, line)) {
    if (line.rfind("id ", 0) == 0 && line.find("state") != std::string::npos) {
      header = true;
      continue;
    }
    if (header && !line.empty() && std::isdigit(static_cast<unsigned char>(line[0]))) {
      c.fibers.push_back(line);
      continue;
    }
    if (line.find("weft: no live fibers") != std::string::npos) header = true;
    if (!line.empty() && line[0] != '[') last = line;
  }
  if (!header) {
    c.why = "gdb listed no fibers (" + (last.empty() ? std::string("no output") : last) + ")";
    return c;
  }
  c.ok = true;
  c.count = static_cast<long>(c.fibers.size());
  return c;
}

}  // namespace weft::soak
