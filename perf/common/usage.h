// The command-line conventions every program in perf/ and examples/ shares:
// `--help` (or `-h`) prints the usage on stdout and exits 0; a bad option
// prints what is wrong and the usage on stderr and exits 2. Each program
// keeps its usage text in one constant and hands it to both.
//
// Thread rules: main() only, before any thread or runtime starts.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace weft::perf {

// Exits 0 after printing `usage` on stdout when any argument is --help or -h.
inline void exit_if_help(int argc, char** argv, const char* usage) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(usage, stdout);
      std::exit(0);
    }
  }
}

// Prints "<program>: <why>" and `usage` on stderr, and exits 2.
[[noreturn]] inline void bad_usage(const char* program, const std::string& why,
                                   const char* usage) {
  std::fprintf(stderr, "%s: %s\n%s", program, why.c_str(), usage);
  std::exit(2);
}

}  // namespace weft::perf
