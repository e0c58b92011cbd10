// Channels and select: order, buffering, close, deadlines, cancellation,
// plain threads, fairness, and no value lost or doubled under stress on one
// or several workers.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::Channel;

BOOST_AUTO_TEST_SUITE(channel)

BOOST_AUTO_TEST_CASE(unbuffered_values_arrive_in_order) {
  weft::test::run([] {
    Channel<int> ch;
    auto producer = weft::spawn([&] {
      int sent = 0;
      for (int i = 0; i < 1000; ++i) sent += ch.send(i).has_value() ? 1 : 0;
      ch.close();
      return sent;
    });
    int expected = 0;
    for (int v : ch) BOOST_REQUIRE(v == expected++);
    BOOST_TEST(expected == 1000);
    BOOST_TEST(producer.join() == 1000);
  });
}

BOOST_AUTO_TEST_CASE(unbuffered_send_waits_for_a_receiver) {
  weft::test::run([] {
    Channel<int> ch;
    int v = 7;
    BOOST_TEST(!ch.try_send(v));  // nobody receiving
    BOOST_TEST((ch.send(1, {.deadline = weft::after(10ms)}).error() == std::errc::timed_out));
    BOOST_TEST(!ch.try_recv().has_value());
  });
}

BOOST_AUTO_TEST_CASE(buffered_holds_capacity_values) {
  weft::test::run([] {
    Channel<std::string> ch(3);
    BOOST_TEST(ch.capacity() == 3u);
    for (int i = 0; i < 3; ++i) {
      std::string s = "v" + std::to_string(i);
      BOOST_TEST(ch.try_send(s));
    }
    std::string extra = "extra";
    BOOST_TEST(!ch.try_send(extra));
    BOOST_TEST(extra == "extra");  // untouched when not sent
    BOOST_TEST(ch.size() == 3u);
    BOOST_TEST((ch.send("late", {.deadline = weft::after(10ms)}).error() == std::errc::timed_out));
    for (int i = 0; i < 3; ++i) BOOST_TEST(*ch.try_recv() == "v" + std::to_string(i));
    BOOST_TEST(!ch.try_recv().has_value());
  });
}

BOOST_AUTO_TEST_CASE(a_parked_sender_fills_the_room_a_receive_makes) {
  weft::test::run([] {
    Channel<int> ch(1);
    BOOST_TEST(ch.send(1).has_value());
    auto sender = weft::spawn([&] { return ch.send(2, {.deadline = weft::after(10s)}).error(); });
    weft::sleep_for(5ms);  // the sender is parked: the buffer is full
    BOOST_TEST(*ch.recv() == 1);
    BOOST_TEST(!sender.join());
    BOOST_TEST(ch.size() == 1u);
    BOOST_TEST(*ch.recv() == 2);
  });
}

// The same without a deadline: the sender parks in the short wait that only
// a counterpart can end (sync/channel.cc, "Solo waits").
BOOST_AUTO_TEST_CASE(a_sender_parked_without_deadline_fills_the_room_a_receive_makes) {
  weft::test::run([] {
    Channel<std::string> ch(1);
    BOOST_TEST(ch.send("one").has_value());
    auto sender = weft::spawn([&] { return ch.send(std::string(64, 'x')).error(); });
    weft::sleep_for(5ms);
    BOOST_TEST(*ch.recv() == "one");
    BOOST_TEST(!sender.join());
    BOOST_TEST(*ch.recv() == std::string(64, 'x'));
    BOOST_TEST(ch.size() == 0u);
  });
}

// Plain parked sends and receives queue in one line with selects and waits
// that have a deadline: served first come, first served, whatever the kind.
BOOST_AUTO_TEST_CASE(plain_waits_and_selects_queue_in_arrival_order) {
  weft::test::run(
      [] {
        Channel<int> ch;
        Channel<int> other;
        std::vector<int> order;
        auto plain = weft::spawn([&] {
          order.push_back(1);
          return *ch.recv();
        });
        weft::yield();
        auto selecting = weft::spawn([&] {
          order.push_back(2);
          std::optional<int> a, b;
          auto s = weft::select({ch.recv_case(a), other.recv_case(b)});
          return s && s->index == 0 && a ? *a : -1;
        });
        weft::yield();
        auto timed = weft::spawn([&] {
          order.push_back(3);
          return *ch.recv({.deadline = weft::after(10s)});
        });
        weft::sleep_for(5ms);
        BOOST_TEST(order == (std::vector<int>{1, 2, 3}));
        for (int v : {10, 20, 30}) BOOST_TEST(ch.send(v).has_value());
        BOOST_TEST(plain.join() == 10);
        BOOST_TEST(selecting.join() == 20);
        BOOST_TEST(timed.join() == 30);
      },
      weft::test::one_worker());
}

// Fibers parked in plain sends and receives when the runtime stops are
// abandoned, and their waits leave the channel (which outlives the runtime):
// a later runtime's send and receive meet each other, not dead waits.
BOOST_AUTO_TEST_CASE(plain_waits_abandoned_at_stop_leave_the_channel) {
  Channel<int> ch;
  Channel<int> full(1);
  {
    weft::Runtime rt(weft::test::options());
    rt.run([&] {
      BOOST_TEST(full.send(0).has_value());
      for (int i = 0; i < 3; ++i) {
        weft::spawn([&] { (void)ch.recv(); }).detach();
        weft::spawn([&] { (void)full.send(1); }).detach();
      }
      weft::sleep_for(5ms);  // all six parked
    });
    BOOST_TEST(rt.last_stats().fibers_live == 0u);
  }
  BOOST_TEST(full.size() == 1u);
  weft::test::run([&] {
    auto receiver = weft::spawn([&] { return *ch.recv(); });
    BOOST_TEST(ch.send(5).has_value());
    BOOST_TEST(receiver.join() == 5);
    BOOST_TEST(*full.recv() == 0);
    int v = 2;
    BOOST_TEST(full.try_send(v));  // the abandoned senders did not take the room
    BOOST_TEST(full.size() == 1u);
  });
}

BOOST_AUTO_TEST_CASE(close_drains_then_ends_and_refuses_sends) {
  weft::test::run([] {
    Channel<std::unique_ptr<int>> ch(4);
    BOOST_TEST(ch.send(std::make_unique<int>(1)).has_value());
    BOOST_TEST(ch.send(std::make_unique<int>(2)).has_value());
    ch.close();
    ch.close();  // harmless
    BOOST_TEST(ch.closed());
    BOOST_TEST((ch.send(std::make_unique<int>(3)).error() == weft::errc::channel_closed));
    BOOST_TEST(**ch.recv() == 1);
    BOOST_TEST(**ch.recv() == 2);
    BOOST_TEST((ch.recv().error() == weft::errc::channel_closed));
    BOOST_TEST(ch.recv().error().message() == "channel closed");
  });
}

BOOST_AUTO_TEST_CASE(close_wakes_parked_receivers_and_senders) {
  weft::test::run([] {
    Channel<int> in, out;
    std::vector<weft::JoinHandle<std::error_code>> hs;
    for (int i = 0; i < 5; ++i) hs.push_back(weft::spawn([&]() -> std::error_code { return in.recv().error(); }));
    for (int i = 0; i < 5; ++i) hs.push_back(weft::spawn([&, i]() -> std::error_code { return out.send(i).error(); }));
    weft::sleep_for(5ms);
    in.close();
    out.close();
    for (auto& h : hs) BOOST_TEST((h.join() == weft::errc::channel_closed));
  });
}

BOOST_AUTO_TEST_CASE(waits_end_on_deadline_and_cancel_and_lose_nothing) {
  weft::test::run([] {
    Channel<int> ch;
    weft::CancelToken token;
    auto cancelled = weft::spawn([&] { return ch.recv({.cancel = &token}).error(); });
    BOOST_TEST((ch.recv({.deadline = weft::after(10ms)}).error() == std::errc::timed_out));
    token.cancel();
    BOOST_TEST((cancelled.join() == std::errc::operation_canceled));
    // The abandoned waits left no trace: a fresh pair meets normally.
    auto receiver = weft::spawn([&] { return *ch.recv(); });
    BOOST_TEST(ch.send(42).has_value());
    BOOST_TEST(receiver.join() == 42);
  });
}

BOOST_AUTO_TEST_CASE(select_takes_the_case_that_can_happen) {
  weft::test::run([] {
    Channel<int> a, b(1);
    std::optional<int> from_a, from_b;
    BOOST_TEST(b.send(5).has_value());
    auto s = weft::select({a.recv_case(from_a), b.recv_case(from_b)});
    BOOST_TEST(s->index == 1u);
    BOOST_TEST(!s->closed);
    BOOST_TEST(*from_b == 5);
    BOOST_TEST(!from_a.has_value());
    // Parks on both; a send on the first wakes it.
    from_b.reset();
    auto sender = weft::spawn([&] {
      weft::sleep_for(5ms);
      return a.send(9).error();
    });
    auto s2 = weft::select({a.recv_case(from_a), b.recv_case(from_b)}, {.deadline = weft::after(10s)});
    BOOST_TEST(s2->index == 0u);
    BOOST_TEST(*from_a == 9);
    BOOST_TEST(!sender.join());
    // The case on b was taken back: b's next value goes to a plain receive.
    BOOST_TEST(b.send(6).has_value());
    BOOST_TEST(*b.try_recv() == 6);
  });
}

BOOST_AUTO_TEST_CASE(select_sends_times_out_polls_and_sees_close) {
  weft::test::run([] {
    Channel<int> a, b;
    std::optional<int> got;
    int v = 3;
    auto none = weft::select({a.recv_case(got), b.send_case(v)}, {.deadline = weft::after(10ms)});
    BOOST_TEST((none.error() == std::errc::timed_out));
    BOOST_TEST(!weft::try_select({a.recv_case(got), b.send_case(v)}).has_value());
    auto receiver = weft::spawn([&] { return *b.recv(); });
    auto s = weft::select({a.recv_case(got), b.send_case(v)}, {.deadline = weft::after(10s)});
    BOOST_TEST(s->index == 1u);
    BOOST_TEST(receiver.join() == 3);
    a.close();
    auto c = weft::select({a.recv_case(got), b.send_case(v)});
    BOOST_TEST(c->index == 0u);
    BOOST_TEST(c->closed);
    BOOST_TEST(!got.has_value());
  });
}

BOOST_AUTO_TEST_CASE(select_is_fair_between_ready_cases) {
  weft::test::run([] {
    Channel<int> a(1), b(1);
    int picked[2] = {0, 0};
    constexpr int kRounds = 10000;
    for (int i = 0; i < kRounds; ++i) {
      int one = 1;
      if (a.size() == 0) (void)a.try_send(one);
      if (b.size() == 0) (void)b.try_send(one);
      std::optional<int> x, y;
      auto s = weft::select({a.recv_case(x), b.recv_case(y)});
      ++picked[s->index];
    }
    BOOST_TEST(picked[0] + picked[1] == kRounds);
    BOOST_TEST(picked[0] > kRounds * 4 / 10);
    BOOST_TEST(picked[1] > kRounds * 4 / 10);
  });
}

BOOST_AUTO_TEST_CASE(plain_threads_send_and_receive) {
  weft::test::run([] {
    Channel<int> to_fiber, to_thread;
    std::thread t([&] {
      for (int i = 0; i < 100; ++i) {
        if (!to_fiber.send(i)) std::abort();
        auto back = to_thread.recv({.deadline = weft::after(10s)});
        if (!back || *back != i * 2) std::abort();
      }
      to_fiber.close();
      // A thread's wait times out like a fiber's.
      if (to_thread.recv({.deadline = weft::after(5ms)}).error() != std::errc::timed_out) std::abort();
    });
    int n = 0;
    for (int v : to_fiber) {
      BOOST_REQUIRE(to_thread.send(v * 2).has_value());
      ++n;
    }
    t.join();
    BOOST_TEST(n == 100);
  });
}

// Producers and consumers on every worker, through one channel: each value
// arrives exactly once.
void stress(std::size_t capacity) {
  Channel<int> ch(capacity);
  constexpr int kProducers = 8, kEach = 2000, kConsumers = 8;
  std::vector<std::atomic<int>> seen(kProducers * kEach);
  std::vector<weft::JoinHandle<void>> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(weft::spawn([&] {
      for (int v : ch) seen[static_cast<std::size_t>(v)].fetch_add(1);
    }));
  }
  std::vector<weft::JoinHandle<int>> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(weft::spawn([&, p] {
      int sent = 0;
      for (int k = 0; k < kEach; ++k) sent += ch.send(p * kEach + k).has_value() ? 1 : 0;
      return sent;
    }));
  }
  for (auto& p : producers) BOOST_TEST(p.join() == kEach);
  ch.close();
  for (auto& c : consumers) c.join();
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() == 1 ? 0 : 1;
  BOOST_TEST(wrong == 0);
}

BOOST_AUTO_TEST_CASE(stress_unbuffered) { weft::test::run([] { stress(0); }); }
BOOST_AUTO_TEST_CASE(stress_buffered) { weft::test::run([] { stress(16); }); }

// Selectors with deadlines race senders over two channels: every value sent
// is received once, none invented.
BOOST_AUTO_TEST_CASE(stress_select_with_timeouts) {
  weft::test::run([] {
    Channel<int> a, b(4);
    constexpr int kEach = 3000;
    std::atomic<long> sent_sum{0}, got_sum{0};
    std::atomic<bool> senders_done{false};
    std::vector<weft::JoinHandle<void>> hs;
    for (int s = 0; s < 4; ++s) {
      hs.push_back(weft::spawn([&, s] {
        for (int k = 1; k <= kEach; ++k) {
          Channel<int>& ch = (k + s) % 2 ? a : b;
          if (ch.send(k, {.deadline = weft::after(100us)})) sent_sum.fetch_add(k);
        }
      }));
    }
    std::vector<weft::JoinHandle<void>> selectors;
    for (int r = 0; r < 4; ++r) {
      selectors.push_back(weft::spawn([&] {
        while (!senders_done.load() || a.size() + b.size() > 0) {
          std::optional<int> x, y;
          auto s = weft::select({a.recv_case(x), b.recv_case(y)}, {.deadline = weft::after(50us)});
          if (s) got_sum.fetch_add(s->index == 0 ? *x : *y);
        }
      }));
    }
    for (auto& h : hs) h.join();
    senders_done.store(true);
    for (auto& s : selectors) s.join();
    BOOST_TEST(sent_sum.load() > 0);
    BOOST_TEST(got_sum.load() == sent_sum.load());
  });
}

BOOST_AUTO_TEST_SUITE_END()
