// A fresh directory under /tmp for a test, removed with what it holds when
// the test is done.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <string>

namespace weft::test {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/weft-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const char* name) const { return path + "/" + name; }
};

}  // namespace weft::test
