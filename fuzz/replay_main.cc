// The main of the replay executables (weft-fuzz-replay-<name>): runs a fuzz
// target's LLVMFuzzerTestOneInput over every file of a corpus, with no
// libFuzzer, so that any compiler builds it and CTest replays the checked-in
// corpus (fuzz/corpus/<name>/) on every test run (fuzz_replay_<name>).
//
//   weft-fuzz-replay-resp_command fuzz/corpus/resp_command    # every file in it
//   weft-fuzz-replay-resp_command crash-1f2e...               # one input
//
// Each argument is a directory (its regular files, in name order, not
// recursing) or a file. Prints the name of each input before running it,
// so that a failed check's message follows the input that broke it, then
// "ran <N> inputs". Exit status 1 when no input was found (an empty or
// missing corpus must not pass as a replayed one), 2 for a bad argument; a
// broken invariant aborts (fuzz/check.h).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

// The inputs an argument names, or false (and a message) if it names none
// that can be read.
bool inputs_of(const char* arg, std::vector<fs::path>& out) {
  std::error_code e;
  const fs::path p(arg);
  if (fs::is_directory(p, e)) {
    std::vector<fs::path> files;
    for (const fs::directory_entry& entry : fs::directory_iterator(p, e)) {
      if (entry.is_regular_file(e)) files.push_back(entry.path());
    }
    if (e) {
      std::fprintf(stderr, "weft-fuzz-replay: %s: %s\n", arg, e.message().c_str());
      return false;
    }
    std::sort(files.begin(), files.end());
    out.insert(out.end(), files.begin(), files.end());
    return true;
  }
  if (fs::is_regular_file(p, e)) {
    out.push_back(p);
    return true;
  }
  std::fprintf(stderr, "weft-fuzz-replay: %s: not a directory or a file\n", arg);
  return false;
}

bool read_whole(const fs::path& path, std::string& bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::printf(
        "usage: %s CORPUS-DIR|FILE...\n"
        "Runs the fuzz target over every file of each directory (and each file) given;\n"
        "fails if there is none.\n",
        argv[0]);
    return argc < 2 ? 2 : 0;
  }
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!inputs_of(argv[i], inputs)) return 2;
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "weft-fuzz-replay: no input found (is the corpus empty?)\n");
    return 1;
  }
  std::string bytes;
  for (const fs::path& path : inputs) {
    if (!read_whole(path, bytes)) {
      std::fprintf(stderr, "weft-fuzz-replay: cannot read %s\n", path.c_str());
      return 2;
    }
    std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
    std::fflush(stdout);
    // The input in a buffer of its own size, as libFuzzer passes it, so
    // that a read past its end is one past an allocation for ASan.
    std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
    (void)LLVMFuzzerTestOneInput(copy.data(), copy.size());
  }
  std::printf("ran %zu inputs\n", inputs.size());
  return 0;
}
