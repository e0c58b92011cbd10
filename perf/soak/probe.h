// What the soak reads about the server from outside: its resident memory
// and open descriptors (/proc/<pid>), its descriptor limit, and its live
// fibers, counted by gdb with weft's own commands (tools/gdb/weft.py,
// `info weft-fibers`: one line per fiber on every worker's list, which is
// also one Stack in use each).
//
// Thread rules: any thread; each call reads /proc or runs gdb afresh.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace weft::soak {

// VmRSS from /proc/<pid>/status, in KiB; -1 if it cannot be read.
long rss_kib(pid_t pid);
// Anonymous memory (user-space: heaps, stacks; no file pages) from
// /proc/<pid>/smaps_rollup, in KiB; -1 if it cannot be read.
long anon_kib(pid_t pid);
// The kernel's memory for sockets on the machine, in KiB: the TCP (IPv4)
// socket objects and every socket's inode (the TCP and sock_inode_cache
// slabs of /proc/slabinfo, objects in use times their size) and TCP's
// buffer pages ("mem" in /proc/net/sockstat); -1 if neither can be read.
// Meant as a difference (with connections, less without): the other
// sockets' inodes cancel out.
long tcp_kernel_kib();
// Room for `need` descriptors in this process (both limits raised when the
// hard one is too low, which needs root); the soft limit now, or -1 if it
// is still below `need`.
long raise_nofile(long need);
// Entries of /proc/<pid>/fd; -1 if it cannot be read.
long fd_count(pid_t pid);
// The soft "Max open files" of /proc/<pid>/limits; -1 if it cannot be read.
long nofile_limit(pid_t pid);
// The targets of /proc/<pid>/fd ("socket:[123]", "anon_inode:[io_uring]"),
// for a report of what leaked.
std::vector<std::string> fd_targets(pid_t pid);

struct FiberCensus {
  bool ok = false;
  long count = 0;                   // fibers listed
  std::vector<std::string> fibers;  // their lines: id, name, state, worker, where it waits
  std::string why;                  // when not ok
  double took_seconds = 0;          // how long the server was stopped for it
};

// The path of a program found in PATH (or `name` if it has a slash and can
// run); empty if none.
std::string find_program(const std::string& name);

// Attaches gdb to `pid`, sources `script` and lists the fibers; gives up
// (and kills gdb) after `limit`.
FiberCensus count_fibers(pid_t pid, const std::string& gdb, const std::string& script,
                         std::chrono::seconds limit);

}  // namespace weft::soak
