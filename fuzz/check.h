// What the fuzz targets do when an invariant breaks: say which one, then
// abort, which libFuzzer reports as a crash (and keeps the input as
// crash-<sha1>) and the replay executables (replay_main.cc) as a failed
// test. An invariant is named by a phrase that says what must hold, so the
// message alone tells what broke.
//
// Thread rules: none; the targets are single-threaded.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace weft::fuzz {

// Aborts, naming `invariant`, unless `ok`.
inline void check(bool ok, const char* invariant) {
  if (ok) return;
  std::fprintf(stderr, "weft-fuzz: invariant broken: %s\n", invariant);
  std::abort();
}

}  // namespace weft::fuzz
