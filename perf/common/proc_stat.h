// CPU time a process has used so far, from /proc/<pid>/stat (user and
// system, in seconds). Lets a load generator report what a server spent per
// request, the figure that ranks servers reliably on a shared machine.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace weft::perf {

struct CpuTime {
  double user = 0;
  double system = 0;
  bool ok = false;
};

inline CpuTime cpu_time_of(int pid) {
  CpuTime t;
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return t;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // Fields after the command name, which is in parentheses and may hold spaces.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return t;
  unsigned long utime = 0, stime = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
      2) {
    return t;
  }
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  t.user = static_cast<double>(utime) / tick;
  t.system = static_cast<double>(stime) / tick;
  t.ok = true;
  return t;
}

}  // namespace weft::perf
