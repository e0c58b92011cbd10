// Mutex, CondVar, Semaphore and WaitGroup: they exclude, hand over, time out
// and cancel, and lose no wake-up with many fibers on one or several workers.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/runtime.h"

using namespace std::chrono_literals;

namespace {

// Spawns n fibers running fn(i) and joins them all.
template <class F>
void spawn_all(int n, F fn) {
  std::vector<weft::JoinHandle<void>> hs;
  for (int i = 0; i < n; ++i) hs.push_back(weft::spawn([&fn, i] { fn(i); }));
  for (auto& h : hs) h.join();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_primitives)

BOOST_AUTO_TEST_CASE(mutex_excludes_fibers_that_park_inside) {
  weft::test::run([] {
    weft::Mutex m;
    long counter = 0;
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    spawn_all(64, [&](int) {
      for (int k = 0; k < 200; ++k) {
        std::lock_guard<weft::Mutex> g(m);
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        const long seen = counter;
        if (k % 8 == 0) weft::yield();  // others queue on the lock meanwhile
        counter = seen + 1;
        inside.fetch_sub(1);
      }
    });
    BOOST_TEST(counter == 64 * 200);
    BOOST_TEST(overlaps.load() == 0);
  });
}

BOOST_AUTO_TEST_CASE(mutex_hands_over_in_arrival_order) {
  weft::test::run(
      [] {
        weft::Mutex m;
        std::vector<int> order;
        m.lock();
        std::vector<weft::JoinHandle<void>> hs;
        for (int i = 0; i < 5; ++i) {
          hs.push_back(weft::spawn([&, i] {
            std::lock_guard<weft::Mutex> g(m);
            order.push_back(i);
          }));
          weft::yield();  // fiber i queues before fiber i+1 starts
        }
        m.unlock();
        for (auto& h : hs) h.join();
        BOOST_TEST(order == (std::vector<int>{0, 1, 2, 3, 4}), boost::test_tools::per_element());
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(mutex_lock_times_out_and_is_cancelled) {
  weft::test::run([] {
    weft::Mutex m;
    m.lock();
    weft::CancelToken token;
    auto timed = weft::spawn([&] { return m.lock({.deadline = weft::after(20ms)}); });
    auto cancelled = weft::spawn([&] { return m.lock({.cancel = &token}); });
    BOOST_TEST((timed.join() == std::errc::timed_out));
    token.cancel();
    BOOST_TEST((cancelled.join() == std::errc::operation_canceled));
    BOOST_TEST(!m.try_lock());
    m.unlock();
    // Neither failed wait left anything behind: the lock is simply free.
    BOOST_TEST(m.try_lock());
    m.unlock();
    BOOST_TEST(!m.lock({.deadline = weft::after(1s)}));
    m.unlock();
  });
}

BOOST_AUTO_TEST_CASE(mutex_lock_outside_a_fiber_is_refused_when_it_would_wait) {
  weft::Mutex m;
  BOOST_TEST(m.try_lock());
  BOOST_CHECK_THROW(m.lock(), std::logic_error);
  m.unlock();
}

BOOST_AUTO_TEST_CASE(condvar_producers_and_consumers_lose_nothing) {
  weft::test::run([] {
    weft::Mutex m;
    weft::CondVar not_empty;
    std::vector<int> queue;
    bool finished = false;
    constexpr int kProducers = 8, kEach = 500, kConsumers = 8;
    std::atomic<long> sum{0};
    std::atomic<int> got{0};
    std::atomic<int> failed_waits{0};  // Boost.Test checks stay on the main fiber
    std::vector<weft::JoinHandle<void>> consumers;
    for (int c = 0; c < kConsumers; ++c) {
      consumers.push_back(weft::spawn([&] {
        std::unique_lock<weft::Mutex> lk(m);
        for (;;) {
          if (not_empty.wait(lk, [&] { return !queue.empty() || finished; })) {
            failed_waits.fetch_add(1);
            return;
          }
          if (queue.empty()) return;
          const int v = queue.back();
          queue.pop_back();
          lk.unlock();
          sum.fetch_add(v);
          got.fetch_add(1);
          lk.lock();
        }
      }));
    }
    spawn_all(kProducers, [&](int p) {
      for (int k = 1; k <= kEach; ++k) {
        {
          std::lock_guard<weft::Mutex> g(m);
          queue.push_back(p * kEach + k);
        }
        not_empty.notify_one();
        if (k % 16 == 0) weft::yield();
      }
    });
    {
      std::lock_guard<weft::Mutex> g(m);
      finished = true;
    }
    not_empty.notify_all();
    for (auto& c : consumers) c.join();
    const long n = kProducers * kEach;
    BOOST_TEST(failed_waits.load() == 0);
    BOOST_TEST(got.load() == n);
    BOOST_TEST(sum.load() == n * (n + 1) / 2);
  });
}

BOOST_AUTO_TEST_CASE(condvar_wait_times_out_holding_the_mutex_again) {
  weft::test::run([] {
    weft::Mutex m;
    weft::CondVar cv;
    std::unique_lock<weft::Mutex> lk(m);
    const auto e = cv.wait(lk, [] { return false; }, {.deadline = weft::after(20ms)});
    BOOST_TEST((e == std::errc::timed_out));
    BOOST_TEST(lk.owns_lock());
    // Really held: another fiber cannot take it until we let go.
    auto other = weft::spawn([&] { return m.try_lock(); });
    BOOST_TEST(!other.join());
    lk.unlock();
  });
}

BOOST_AUTO_TEST_CASE(condvar_notify_all_wakes_every_waiter) {
  weft::test::run([] {
    weft::Mutex m;
    weft::CondVar cv;
    int generation = 0;
    std::atomic<int> woke{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < 32; ++i) {
      hs.push_back(weft::spawn([&] {
        std::unique_lock<weft::Mutex> lk(m);
        if (!cv.wait(lk, [&] { return generation == 1; }, {.deadline = weft::after(10s)}))
          woke.fetch_add(1);
      }));
    }
    weft::sleep_for(5ms);
    {
      std::lock_guard<weft::Mutex> g(m);
      generation = 1;
    }
    cv.notify_all();
    for (auto& h : hs) h.join();
    BOOST_TEST(woke.load() == 32);
  });
}

BOOST_AUTO_TEST_CASE(semaphore_bounds_how_many_are_inside) {
  weft::test::run([] {
    weft::Semaphore slots(3);
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    spawn_all(100, [&](int) {
      if (slots.acquire()) std::abort();  // cannot fail: no deadline, no token
      const int now = inside.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      weft::yield();
      inside.fetch_sub(1);
      slots.release();
    });
    BOOST_TEST(most.load() <= 3);
    BOOST_TEST(most.load() >= 1);
    BOOST_TEST(slots.available() == 3u);
  });
}

BOOST_AUTO_TEST_CASE(semaphore_acquire_times_out_and_release_n_wakes_n) {
  weft::test::run([] {
    weft::Semaphore s(0);
    BOOST_TEST(!s.try_acquire());
    BOOST_TEST((s.acquire({.deadline = weft::after(10ms)}) == std::errc::timed_out));
    std::atomic<int> through{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(weft::spawn([&] {
        if (!s.acquire({.deadline = weft::after(10s)})) through.fetch_add(1);
      }));
    }
    weft::sleep_for(5ms);
    s.release(3);
    BOOST_TEST(weft::test::spin_until([&] {
      weft::yield();
      return through.load() == 3;
    }));
    weft::sleep_for(5ms);
    BOOST_TEST(through.load() == 3);  // the fourth still waits: no permit for it
    s.release();
    for (auto& h : hs) h.join();
    BOOST_TEST(through.load() == 4);
    BOOST_TEST(s.available() == 0u);
  });
}

BOOST_AUTO_TEST_CASE(wait_group_waits_for_every_fiber) {
  weft::test::run([] {
    weft::WaitGroup wg;
    BOOST_TEST(!wg.wait());  // zero: returns at once
    std::atomic<int> done{0};
    constexpr int kFibers = 1000;
    wg.add(kFibers);
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < kFibers; ++i) {
      hs.push_back(weft::spawn([&, i] {
        if (i % 3 == 0) weft::yield();
        done.fetch_add(1);
        wg.done();
      }));
    }
    // Several waiters, all released together.
    auto other = weft::spawn([&] { return wg.wait({.deadline = weft::after(10s)}); });
    BOOST_TEST(!wg.wait({.deadline = weft::after(10s)}));
    BOOST_TEST(done.load() == kFibers);
    BOOST_TEST(!other.join());
    BOOST_TEST(wg.count() == 0);
    for (auto& h : hs) h.join();
  });
}

BOOST_AUTO_TEST_CASE(wait_group_wait_times_out_and_refuses_to_go_negative) {
  weft::test::run([] {
    weft::WaitGroup wg;
    wg.add(1);
    BOOST_TEST((wg.wait({.deadline = weft::after(10ms)}) == std::errc::timed_out));
    wg.done();
    BOOST_TEST(!wg.wait());
    BOOST_CHECK_THROW(wg.done(), std::logic_error);
  });
}

BOOST_AUTO_TEST_CASE(plain_threads_signal_fibers) {
  weft::test::run([] {
    weft::WaitGroup wg;
    weft::Semaphore s;
    wg.add(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] {
      s.release();
      wg.done();
    });
    BOOST_TEST(!wg.wait({.deadline = weft::after(10s)}));
    for (int i = 0; i < 4; ++i) BOOST_TEST(!s.acquire({.deadline = weft::after(10s)}));
    for (auto& t : threads) t.join();
  });
}

BOOST_AUTO_TEST_SUITE_END()
