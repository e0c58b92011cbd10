// The keyspace's own table (examples/kv/keyspace.h): random puts, erases,
// expiries and clears against a std::map model, so that the probing, the
// growth and the backward shift of deletions never lose or invent a key,
// and every Entry keeps its key and value while others come and go.
#include <boost/test/unit_test.hpp>
#include <map>
#include <random>
#include <set>
#include <string>

#include "examples/kv/keyspace.h"

using weft::kv::Entry;
using weft::kv::Keyspace;

BOOST_AUTO_TEST_SUITE(keyspace)

BOOST_AUTO_TEST_CASE(random_operations_agree_with_a_map) {
  std::mt19937 rng(7);
  Keyspace keys;
  std::map<std::string, std::string> model;
  for (int step = 0; step < 200'000; ++step) {
    // Keys of every length around the node's layout, from a space small
    // enough that puts and erases meet.
    const std::string k = std::string(rng() % 24, 'k') + std::to_string(rng() % 3000);
    switch (rng() % 10) {
      case 0: case 1: case 2: case 3: {
        const std::string v = "v" + std::to_string(step);
        keys.put(k, v);
        model[k] = v;
        break;
      }
      case 4: case 5:
        BOOST_TEST(keys.erase(k) == (model.erase(k) == 1));
        break;
      default: {
        Entry* e = keys.find(k, 0);
        const auto it = model.find(k);
        BOOST_TEST((e != nullptr) == (it != model.end()));
        if (e != nullptr && it != model.end()) {
          BOOST_TEST(e->key == k);
          BOOST_TEST(std::get<std::string>(e->value) == it->second);
        }
      }
    }
    if (step == 150'000) {
      keys.clear();
      model.clear();
    }
  }
  BOOST_TEST(keys.size() == model.size());
  std::set<std::string> seen;
  keys.for_each(0, [&](const Entry& e) { seen.insert(std::string(e.key)); });
  std::set<std::string> expected;
  for (const auto& [k, v] : model) expected.insert(k);
  BOOST_TEST(seen == expected);
}

BOOST_AUTO_TEST_CASE(an_expired_key_found_is_deleted_and_the_rest_stay) {
  Keyspace keys;
  for (int i = 0; i < 1000; ++i) {
    Entry& e = keys.put("key:" + std::to_string(i), std::string("x"));
    if (i % 2 == 0) keys.set_expire(e, 100);
  }
  BOOST_TEST(keys.expiring() == 500u);
  for (int i = 0; i < 1000; ++i) {
    const bool alive = keys.find("key:" + std::to_string(i), 200) != nullptr;
    BOOST_TEST(alive == (i % 2 == 1));
  }
  BOOST_TEST(keys.size() == 500u);
  BOOST_TEST(keys.expiring() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
