#include <atomic>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <weft/fibers/local_queue.h>

using weft::fibers::Fiber;
using weft::fibers::LocalQueue;

namespace {

// Fibers for the queue to carry: only their addresses matter here.
struct Pool {
  explicit Pool(std::size_t n) : fibers(new Fiber[n]), count(n) {}
  std::unique_ptr<Fiber[]> fibers;
  std::size_t count;
  Fiber* at(std::size_t i) { return &fibers[i]; }
  std::size_t index(const Fiber* f) const { return static_cast<std::size_t>(f - fibers.get()); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(run_queue)

BOOST_AUTO_TEST_CASE(owner_pops_in_push_order) {
  Pool pool(8);
  LocalQueue q;
  LocalQueue::Owner owner(q);
  for (std::size_t i = 0; i < 8; ++i) BOOST_REQUIRE(owner.push(pool.at(i)));
  BOOST_TEST(owner.size() == 8u);
  for (std::size_t i = 0; i < 8; ++i) BOOST_TEST(owner.pop() == pool.at(i));
  BOOST_TEST(owner.pop() == nullptr);
}

BOOST_AUTO_TEST_CASE(push_refuses_beyond_capacity) {
  Pool pool(LocalQueue::kCapacity + 1);
  LocalQueue q;
  LocalQueue::Owner owner(q);
  for (std::size_t i = 0; i < LocalQueue::kCapacity; ++i) BOOST_REQUIRE(owner.push(pool.at(i)));
  BOOST_TEST(!owner.push(pool.at(LocalQueue::kCapacity)));
  BOOST_TEST(owner.pop() == pool.at(0));
  BOOST_TEST(owner.push(pool.at(LocalQueue::kCapacity)));  // room again
}

BOOST_AUTO_TEST_CASE(steal_takes_half_of_victims_queue_oldest_first) {
  Pool pool(10);
  LocalQueue victim, thief;
  LocalQueue::Owner victim_owner(victim), thief_owner(thief);
  for (std::size_t i = 0; i < 10; ++i) victim_owner.push(pool.at(i));
  LocalQueue::Stealer stealer(victim);
  BOOST_TEST(stealer.steal_into(thief_owner) == 5u);
  BOOST_TEST(victim_owner.size() == 5u);
  BOOST_TEST(thief_owner.size() == 5u);
  for (std::size_t i = 0; i < 5; ++i) BOOST_TEST(thief_owner.pop() == pool.at(i));
  for (std::size_t i = 5; i < 10; ++i) BOOST_TEST(victim_owner.pop() == pool.at(i));
}

BOOST_AUTO_TEST_CASE(steal_rounds_up_and_takes_a_lone_fiber) {
  Pool pool(3);
  LocalQueue victim, thief;
  LocalQueue::Owner victim_owner(victim), thief_owner(thief);
  LocalQueue::Stealer stealer(victim);
  BOOST_TEST(stealer.steal_into(thief_owner) == 0u);  // nothing to take
  victim_owner.push(pool.at(0));
  victim_owner.push(pool.at(1));
  victim_owner.push(pool.at(2));
  BOOST_TEST(stealer.steal_into(thief_owner) == 2u);  // 3 - 3/2
  BOOST_TEST(stealer.steal_into(thief_owner) == 1u);  // the last one too
  BOOST_TEST(victim_owner.empty());
}

BOOST_AUTO_TEST_CASE(take_half_hands_over_the_older_half_as_a_list) {
  Pool pool(9);
  LocalQueue q;
  LocalQueue::Owner owner(q);
  for (std::size_t i = 0; i < 9; ++i) owner.push(pool.at(i));
  Fiber* first = nullptr;
  Fiber* last = nullptr;
  BOOST_TEST(owner.take_half(&first, &last) == 4u);
  std::size_t expect = 0;
  for (Fiber* f = first; f != nullptr; f = f->next) BOOST_TEST(f == pool.at(expect++));
  BOOST_TEST(expect == 4u);
  BOOST_TEST(last == pool.at(3));
  BOOST_TEST(owner.pop() == pool.at(4));
}

BOOST_AUTO_TEST_CASE(no_fiber_is_lost_or_taken_twice_under_concurrent_stealing) {
  constexpr std::size_t kFibers = 200000;
  constexpr int kThieves = 3;
  Pool pool(kFibers);
  LocalQueue victim;
  std::vector<std::atomic<int>> taken(kFibers);
  std::mutex global_mutex;
  std::vector<Fiber*> global;  // overflow, as the runtime's global queue
  std::atomic<bool> done{false};
  auto record = [&](Fiber* f) { taken[pool.index(f)].fetch_add(1, std::memory_order_relaxed); };

  std::vector<std::thread> thieves;
  for (int t = 0; t < kThieves; ++t) {
    thieves.emplace_back([&] {
      LocalQueue mine;
      LocalQueue::Owner me(mine);
      LocalQueue::Stealer from(victim);
      while (!done.load(std::memory_order_acquire) || !victim.empty()) {
        if (from.steal_into(me) == 0) std::this_thread::yield();
        while (Fiber* f = me.pop()) record(f);
      }
    });
  }
  {
    LocalQueue::Owner owner(victim);
    for (std::size_t i = 0; i < kFibers; ++i) {
      if (!owner.push(pool.at(i))) {
        Fiber* first = nullptr;
        Fiber* last = nullptr;
        owner.take_half(&first, &last);
        std::lock_guard<std::mutex> lock(global_mutex);
        for (Fiber* f = first; f != nullptr; f = f->next) global.push_back(f);
        BOOST_REQUIRE(owner.push(pool.at(i)) || (global.push_back(pool.at(i)), true));
      }
      if (i % 3 == 0) {
        if (Fiber* f = owner.pop()) record(f);
      }
    }
    while (Fiber* f = owner.pop()) record(f);
  }
  done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();
  for (Fiber* f : global) record(f);
  std::size_t lost = 0, twice = 0;
  for (auto& n : taken) {
    lost += n.load() == 0;
    twice += n.load() > 1;
  }
  BOOST_TEST(lost == 0u);
  BOOST_TEST(twice == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
