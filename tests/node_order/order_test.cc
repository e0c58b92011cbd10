// weft::node::Loop against real Node: each program in this folder runs as
// its C++ twin (twins.cc) on a single-mode runtime, and its printed lines
// must equal the checked-in <name>.out, line for line. Where `node` is
// installed, the .js file is run too and must print the same .out, so the
// expected output is Node's own and stays so. Without Node the checked-in
// files still hold the twins to it.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <weft/weft.h>

#include "node_order/mode.h"
#include "node_order/twins.h"

namespace {

std::string dir() { return std::string(WEFT_SOURCE_DIR) + "/tests/node_order/"; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool have_node() { return std::system("command -v node >/dev/null 2>&1") == 0; }

std::string run_node(const std::string& script) {
  std::string out;
  FILE* p = popen(("node " + script + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  pclose(p);
  return out;
}

std::vector<std::string> run_twin(const weft::node_order::Twin& twin) {
  std::vector<std::string> printed;
  weft::RuntimeOptions o;
  o.mode = weft::node_order::test_mode();
  weft::Runtime rt(o);
  rt.run([&] {
    weft::node::Loop loop;
    const weft::node_order::Print log = [&printed](const std::string& s) { printed.push_back(s); };
    loop.run([&] { twin.main(loop, log); });
  });
  return printed;
}

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& t : weft::node_order::twins()) out.emplace_back(t.name);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(node_order)

BOOST_AUTO_TEST_CASE(there_are_at_least_twelve_programs_each_with_js_and_out) {
  BOOST_TEST(weft::node_order::twins().size() >= 12u);
  for (const auto& t : weft::node_order::twins()) {
    BOOST_TEST(!file(dir() + t.name + ".js").empty(), t.name);
    BOOST_TEST(!file(dir() + t.name + ".out").empty(), t.name);
  }
}

BOOST_DATA_TEST_CASE(the_twin_prints_what_node_prints, boost::unit_test::data::make(names()), name) {
  const weft::node_order::Twin* twin = nullptr;
  for (const auto& t : weft::node_order::twins()) {
    if (t.name == name) twin = &t;
  }
  BOOST_REQUIRE(twin != nullptr);
  const std::vector<std::string> expected = lines_of(file(dir() + name + ".out"));
  BOOST_REQUIRE(!expected.empty());
  const std::vector<std::string> got = run_twin(*twin);
  BOOST_TEST(got == expected, boost::test_tools::per_element());
  if (have_node()) {
    // Node reads the clock afresh at each setTimeout, so on a loaded
    // machine a slow start can reorder timers set in separate calls: a
    // mismatch is run again (twice at most) before it counts.
    std::vector<std::string> node = lines_of(run_node(dir() + name + ".js"));
    for (int again = 0; again < 2 && node != expected; ++again) {
      BOOST_TEST_MESSAGE(name << ": node printed another order; running it again");
      node = lines_of(run_node(dir() + name + ".js"));
    }
    BOOST_TEST(node == expected, boost::test_tools::per_element());
  } else {
    BOOST_TEST_MESSAGE(name << ": node is not installed; checked against the .out file only");
  }
}

BOOST_AUTO_TEST_SUITE_END()
