// The runtime options a benchmark takes from its command line: --backend
// uring|epoll (else WEFT_BACKEND, else io_uring with epoll fallback) and
// --workers W (0: WEFT_WORKERS, else one per CPU). A bad --backend ends the
// program with status 2 and a line naming it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include <weft/weft.h>

#include "perf/common/bench.h"

namespace weft::perf {

inline RuntimeOptions runtime_options(int argc, char** argv, const char* program) {
  RuntimeOptions options;
  options.workers = static_cast<std::size_t>(option(argc, argv, "--workers", 0));
  const std::string backend = text_option(argc, argv, "--backend", "");
  if (backend == "uring") {
    options.backend = BackendKind::uring;
  } else if (backend == "epoll") {
    options.backend = BackendKind::epoll;
  } else if (!backend.empty()) {
    std::fprintf(stderr, "%s: --backend must be uring or epoll\n", program);
    std::exit(2);
  }
  return options;
}

}  // namespace weft::perf
