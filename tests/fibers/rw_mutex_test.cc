// RWMutex and Once: readers share, writers exclude, a waiting writer holds
// new readers back, a writer's unlock lets the waiting readers in before the
// next writer, a wait that gives up leaves the lock as it was; Once runs its
// function exactly once. On one and on several workers.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/runtime.h"

using namespace std::chrono_literals;

namespace {

// What happened, in the order fibers on any worker said so.
struct Order {
  std::vector<std::string> seen;
  weft::Mutex lock;
  void note(const char* what) {
    std::lock_guard<weft::Mutex> g(lock);
    seen.push_back(what);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(rw_mutex)

BOOST_AUTO_TEST_CASE(readers_hold_it_together) {
  weft::test::run([] {
    weft::RWMutex m;
    weft::WaitGroup inside;
    inside.add(3);
    weft::Event all_in;
    std::vector<weft::JoinHandle<bool>> readers;
    for (int i = 0; i < 3; ++i) {
      readers.push_back(weft::spawn([&] {
        std::shared_lock<weft::RWMutex> r(m);
        inside.done();
        // Only if all three hold it at once does this come true in time.
        return !all_in.wait({.deadline = weft::after(5s)});
      }));
    }
    BOOST_TEST(!inside.wait({.deadline = weft::after(5s)}));
    BOOST_TEST(!m.try_lock());  // readers hold it
    all_in.set();
    for (auto& r : readers) BOOST_TEST(r.join());
    BOOST_TEST(m.try_lock());
    m.unlock();
  });
}

BOOST_AUTO_TEST_CASE(a_writer_excludes_readers_and_writers) {
  weft::test::run([] {
    weft::RWMutex m;
    m.lock();
    BOOST_TEST(!m.try_lock());
    BOOST_TEST(!m.try_lock_shared());
    std::atomic<bool> writer_done{false};
    auto reader = weft::spawn([&] {
      std::shared_lock<weft::RWMutex> r(m);
      return writer_done.load();
    });
    auto writer = weft::spawn([&] {
      std::lock_guard<weft::RWMutex> w(m);
      return writer_done.load();
    });
    weft::sleep_for(20ms);
    writer_done = true;
    m.unlock();
    BOOST_TEST(reader.join());
    BOOST_TEST(writer.join());
  });
}

// R1 holds it; W waits; R2 arrives after W: R2 waits for W, so a stream of
// readers cannot hold a writer off.
BOOST_AUTO_TEST_CASE(a_waiting_writer_holds_new_readers_back) {
  weft::test::run([] {
    weft::RWMutex m;
    Order order;
    auto note = [&](const char* what) { order.note(what); };
    m.lock_shared();  // R1
    auto w = weft::spawn([&] {
      std::lock_guard<weft::RWMutex> g(m);
      note("writer");
    });
    weft::sleep_for(20ms);  // W waits
    BOOST_TEST(!m.try_lock_shared());
    auto r2 = weft::spawn([&] {
      std::shared_lock<weft::RWMutex> g(m);
      note("reader 2");
    });
    weft::sleep_for(20ms);
    note("reader 1 leaves");
    m.unlock_shared();
    w.join();
    r2.join();
    BOOST_TEST((order.seen == std::vector<std::string>{"reader 1 leaves", "writer", "reader 2"}));
  });
}

// W1 holds it; R waits; W2 arrives after R: W1's unlock lets R in before
// W2, so a stream of writers cannot hold readers off.
BOOST_AUTO_TEST_CASE(a_writers_unlock_lets_waiting_readers_in_before_the_next_writer) {
  weft::test::run([] {
    weft::RWMutex m;
    Order order;
    auto note = [&](const char* what) { order.note(what); };
    m.lock();  // W1
    auto r = weft::spawn([&] {
      std::shared_lock<weft::RWMutex> g(m);
      note("reader");
      weft::sleep_for(10ms);
    });
    weft::sleep_for(20ms);
    auto w2 = weft::spawn([&] {
      std::lock_guard<weft::RWMutex> g(m);
      note("writer 2");
    });
    weft::sleep_for(20ms);
    m.unlock();
    r.join();
    w2.join();
    BOOST_TEST((order.seen == std::vector<std::string>{"reader", "writer 2"}));
  });
}

// A writer that gives up (deadline, token) stops holding readers back.
BOOST_AUTO_TEST_CASE(a_writer_that_gives_up_lets_the_readers_behind_it_in) {
  weft::test::run([] {
    weft::RWMutex m;
    m.lock_shared();  // held for the whole test
    auto writer = weft::spawn([&] { return m.lock({.deadline = weft::after(50ms)}); });
    weft::sleep_for(10ms);
    auto reader = weft::spawn([&] {
      const std::error_code e = m.lock_shared({.deadline = weft::after(5s)});
      if (!e) m.unlock_shared();
      return e;
    });
    BOOST_TEST((writer.join() == std::errc::timed_out));
    BOOST_TEST(!reader.join());  // got in beside the first reader, once the writer gave up
    weft::CancelToken token;
    auto cancelled = weft::spawn([&] { return m.lock({.cancel = &token}); });
    weft::sleep_for(10ms);
    token.cancel();
    BOOST_TEST((cancelled.join() == std::errc::operation_canceled));
    m.unlock_shared();
    BOOST_TEST(m.try_lock());  // nothing left behind
    m.unlock();
  });
}

// Many fibers on every worker: writers see nobody else inside, readers see
// no writer inside.
BOOST_AUTO_TEST_CASE(readers_and_writers_on_several_workers_keep_the_invariant) {
  weft::test::run(
      [] {
        weft::RWMutex m;
        std::atomic<int> readers_in{0};
        std::atomic<int> writers_in{0};
        std::atomic<int> broken{0};
        long value = 0;
        std::vector<weft::JoinHandle<void>> fibers;
        for (int f = 0; f < 16; ++f) {
          fibers.push_back(weft::spawn([&, f] {
            for (int i = 0; i < 300; ++i) {
              if ((f + i) % 4 == 0) {
                std::lock_guard<weft::RWMutex> g(m);
                if (writers_in.fetch_add(1) != 0 || readers_in.load() != 0) broken.fetch_add(1);
                ++value;
                if (i % 16 == 0) weft::yield();
                writers_in.fetch_sub(1);
              } else {
                std::shared_lock<weft::RWMutex> g(m);
                readers_in.fetch_add(1);
                if (writers_in.load() != 0) broken.fetch_add(1);
                (void)value;
                if (i % 16 == 0) weft::yield();
                readers_in.fetch_sub(1);
              }
            }
          }));
        }
        for (auto& h : fibers) h.join();
        BOOST_TEST(broken.load() == 0);
        BOOST_TEST(value == 16 * 300 / 4);
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(once)

BOOST_AUTO_TEST_CASE(the_function_runs_once_and_everyone_waits_for_it) {
  weft::test::run([] {
    weft::Once once;
    std::atomic<int> runs{0};
    std::atomic<int> saw_done{0};
    std::vector<weft::JoinHandle<void>> callers;
    for (int i = 0; i < 20; ++i) {
      callers.push_back(weft::spawn([&] {
        once.call([&] {
          weft::sleep_for(10ms);  // the others park meanwhile
          runs.fetch_add(1);
        });
        if (runs.load() == 1) saw_done.fetch_add(1);
      }));
    }
    for (auto& c : callers) c.join();
    BOOST_TEST(runs.load() == 1);
    BOOST_TEST(saw_done.load() == 20);
    BOOST_TEST(once.done());
  });
}

BOOST_AUTO_TEST_CASE(a_function_that_throws_leaves_it_to_the_next_call) {
  weft::test::run([] {
    weft::Once once;
    int runs = 0;
    BOOST_CHECK_THROW(once.call([&] {
      ++runs;
      throw std::runtime_error("not yet");
    }),
                      std::runtime_error);
    BOOST_TEST(!once.done());
    once.call([&] { ++runs; });
    once.call([&] { ++runs; });
    BOOST_TEST(runs == 2);
    BOOST_TEST(once.done());
  });
}

BOOST_AUTO_TEST_SUITE_END()
