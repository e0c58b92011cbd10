// The trace's API and its faults (fibers/trace.h). The file's contents for
// a known program are checked by trace_check.py.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>

#include <weft/weft.h>

namespace {

std::string temp_path(const char* name) {
  return "/tmp/weft-trace-test-" + std::to_string(::getpid()) + "-" + name + ".json";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Two fibers yielding to each other: 80000 switches, more records than a
// 2 MiB buffer holds.
void switch_80000_times() {
  auto a = weft::spawn([] { for (int i = 0; i < 40000; ++i) weft::yield(); });
  for (int i = 0; i < 40000; ++i) weft::yield();
  a.join();
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Whether Python's strict JSON reader (UTF-8 too) takes the file; true,
// with a message, where python3 is missing (scripts/ install it).
bool parses_as_json(const std::string& path) {
  const std::string command =
      "python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding=\"utf-8\"))' " + path;
  const int rc = std::system(command.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 127) {
    BOOST_TEST_MESSAGE("python3 missing: JSON not checked");
    return true;
  }
  return rc == 0;
}

weft::RuntimeOptions traced(const std::string& path) {
  weft::RuntimeOptions o;
  o.trace_path = path;
  o.hog_threshold = std::chrono::milliseconds(0);
  return o;
}

struct NoTraceEnv {
  NoTraceEnv() {
    ::unsetenv("WEFT_TRACE");
    ::unsetenv("WEFT_TRACE_MB");
  }
  ~NoTraceEnv() {
    ::unsetenv("WEFT_TRACE");
    ::unsetenv("WEFT_TRACE_MB");
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(trace, NoTraceEnv)

BOOST_AUTO_TEST_CASE(off_unless_asked_and_write_then_says_so) {
  weft::Runtime rt;
  bool active = true;
  std::error_code error;
  rt.run([&] {
    active = weft::trace::active();
    error = weft::trace::write().error();
  });
  BOOST_CHECK(!active);
  BOOST_CHECK(error == std::errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(names_are_escaped_and_invalid_utf8_replaced) {
  const std::string path = temp_path("names");
  weft::Runtime rt(traced(path));
  rt.run([] {
    weft::spawn([] {}, {.name = "q\"b\\s\tt\xff"}).join();
    weft::spawn([] {}, {.name = "\xc5\xbc\xc3\xb3\xc5\x82w"}).join();  // "żółw"
    // Mid-name: an overlong form, a surrogate, a lead byte above U+10FFFF.
    weft::spawn([] {}, {.name = "a\xe0\x80\x80" "b\xed\xa0\x80" "c\xf4\x90\x80\x80" "d"}).join();
  });
  const std::string text = slurp(path);
  BOOST_CHECK(text.find(R"("q\"b\\s\u0009t\ufffd")") != std::string::npos);
  BOOST_CHECK(text.find(R"("a\ufffd\ufffd\ufffdb\ufffd\ufffd\ufffdc\ufffd\ufffd\ufffd\ufffdd")") !=
              std::string::npos);
  BOOST_CHECK(text.find("\"\xc5\xbc\xc3\xb3\xc5\x82w\"") != std::string::npos);
  BOOST_CHECK(parses_as_json(path));
  BOOST_CHECK(!weft::trace::active());
  ::unlink(path.c_str());
}

BOOST_AUTO_TEST_CASE(write_on_demand_gives_a_whole_file_while_the_run_goes_on) {
  const std::string path = temp_path("demand");
  weft::Runtime rt(traced(path));
  bool active = false;
  std::error_code error;
  std::string middle;
  rt.run([&] {
    active = weft::trace::active();
    weft::spawn([] { weft::yield(); }, {.name = "early"}).join();
    error = weft::trace::write().error();
    middle = slurp(path);
    weft::spawn([] { weft::yield(); }, {.name = "late"}).join();
  });
  BOOST_CHECK(active);
  BOOST_CHECK(!error);
  BOOST_CHECK(middle.find("\"early\"") != std::string::npos);
  BOOST_CHECK(middle.find("\"late\"") == std::string::npos);
  BOOST_CHECK(middle.size() > 2 && middle.compare(middle.size() - 2, 2, "}\n") == 0);
  BOOST_CHECK(parses_as_json(path));
  const std::string final_text = slurp(path);
  BOOST_CHECK(final_text.find("\"late\"") != std::string::npos);
  BOOST_CHECK(!exists(path + ".part" + std::to_string(::getpid())));
  ::unlink(path.c_str());
}

BOOST_AUTO_TEST_CASE(an_unwritable_path_leaves_the_run_untraced_and_whole) {
  const std::string path = "/nonexistent-weft-dir/trace.json";
  weft::Runtime rt(traced(path));
  bool active = true;
  const int got = rt.run([&] {
    active = weft::trace::active();
    return weft::spawn([] { return 7; }).join();
  });
  BOOST_CHECK_EQUAL(got, 7);
  BOOST_CHECK(!active);
  BOOST_CHECK(!exists(path));
}

BOOST_AUTO_TEST_CASE(a_second_runtime_tracing_at_the_same_time_is_not_traced) {
  const std::string first = temp_path("first");
  const std::string second = temp_path("second");
  weft::Runtime rt(traced(first));
  bool second_ran = false;
  rt.run([&] {
    // A plain thread with a runtime of its own, while this one traces.
    std::thread other([&] {
      weft::Runtime rt2(traced(second));
      rt2.run([&] { second_ran = true; });
    });
    other.join();
  });
  BOOST_CHECK(second_ran);
  BOOST_CHECK(exists(first));
  BOOST_CHECK(!exists(second));
  // Nothing of the second runtime's worker 0 landed on the first's track.
  const std::string text = slurp(first);
  const std::string track = "\"name\":\"worker 0\"";
  const auto at = text.find(track);
  BOOST_CHECK(at != std::string::npos && text.find(track, at + 1) == std::string::npos);
  ::unlink(first.c_str());
  ::unlink(second.c_str());
}

BOOST_AUTO_TEST_CASE(a_full_buffer_drops_records_and_the_file_says_how_many) {
  const std::string path = temp_path("full");
  ::setenv("WEFT_TRACE_MB", "1", 1);  // one 2 MiB chunk: 65536 records per thread
  weft::RuntimeOptions o = traced(path);
  o.workers = 1;
  weft::Runtime rt(o);
  rt.run(switch_80000_times);
  const std::string text = slurp(path);
  const auto at = text.find("\"dropped_records\":");
  BOOST_REQUIRE(at != std::string::npos);
  BOOST_CHECK(std::strtoull(text.c_str() + at + 18, nullptr, 10) > 0);
  BOOST_CHECK(text.size() > 2 && text.compare(text.size() - 2, 2, "}\n") == 0);
  BOOST_CHECK(parses_as_json(path));
  // The cap was that run's: the next one, without WEFT_TRACE_MB, has room.
  ::unsetenv("WEFT_TRACE_MB");
  weft::Runtime again(o);
  again.run(switch_80000_times);
  const std::string second = slurp(path);
  BOOST_CHECK(second.find("\"dropped_records\":0}") != std::string::npos);
  ::unlink(path.c_str());
}

BOOST_AUTO_TEST_CASE(a_thread_that_woke_a_traced_fiber_then_runs_its_own_runtime_stays_out) {
  const std::string path = temp_path("cross");
  weft::Runtime rt(traced(path));
  rt.run([] {
    weft::Event woken;
    weft::Event done;
    auto waiter = weft::spawn([&] { (void)woken.wait(); }, {.name = "waiter"});
    weft::yield();  // it parks
    std::thread plain([&] {
      woken.set();  // a wake into the traced runtime: this thread gets a track
      weft::Runtime other;
      other.run([] { weft::spawn([] { weft::yield(); }, {.name = "from-other"}).join(); });
      done.set();
    });
    (void)done.wait();
    waiter.join();
    plain.join();
  });
  const std::string text = slurp(path);
  BOOST_CHECK(text.find("\"waiter\"") != std::string::npos);
  BOOST_CHECK(text.find("\"name\":\"thread\"") != std::string::npos);  // the wake was recorded
  BOOST_CHECK(text.find("from-other") == std::string::npos);
  ::unlink(path.c_str());
}

BOOST_AUTO_TEST_CASE(percent_p_in_the_path_is_the_process_id) {
  const std::string pattern = "/tmp/weft-trace-test-pid-%p.json";
  const std::string path = "/tmp/weft-trace-test-pid-" + std::to_string(::getpid()) + ".json";
  weft::Runtime rt(traced(pattern));
  rt.run([] { weft::yield(); });
  BOOST_CHECK(exists(path));
  BOOST_CHECK(!exists(pattern));
  ::unlink(path.c_str());
}

BOOST_AUTO_TEST_CASE(the_environment_wins_over_the_option) {
  const std::string option = temp_path("option");
  const std::string env = temp_path("env");
  ::setenv("WEFT_TRACE", env.c_str(), 1);
  weft::Runtime rt(traced(option));
  rt.run([] { weft::yield(); });
  BOOST_CHECK(exists(env));
  BOOST_CHECK(!exists(option));
  ::unlink(env.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
