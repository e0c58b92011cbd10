// The keyspace of one database: key -> value (a string, list, hash, set or
// sorted set) with an optional expiry time, as the commands (commands.h) see
// it. Source-side: only the store and its commands include it.
//
// Expiry. An entry's expire_at is a time in milliseconds since the epoch (0:
// none). An expired entry is deleted when a command looks it up (find()),
// and sweep() deletes expired ones from a random sample of those with an
// expiry, as redis-server's active expiry does, so that keys nobody reads
// again do not stay forever.
//
// Scanning. Besides the hash table, every key sits in an index ordered by
// its hash (and the key, for equal hashes); a SCAN cursor is the hash to go
// on from. A key present for a whole scan is returned at least once, however
// the table grows or shrinks meanwhile, and only keys added or deleted
// during the scan may be missed. The index of keys with an expiry, ordered
// the same way, is where sweep() takes its random samples. Rejected: walking
// the table's slots (a growing table moves them, so a cursor into them
// means nothing afterwards).
//
// The table. Open addressing with linear probing over a power-of-two array
// of slots, each the key's full hash and a pointer to its node; the node is
// one allocation holding the key's bytes and then the Entry. A lookup reads
// the slot (the hash tells most other keys apart without touching them),
// then the node, where the key and the start of the value share a cache
// line: about two cache misses for a key nobody touched lately, where
// std::unordered_map took four (bucket, the node before, the node, the
// key's own heap block; perf/RESULTS.md, "weft-kv against redis-server").
// A deletion shifts the slots after it back (no tombstones). Nodes never
// move, so an Entry* and Entry::key stay valid until the key is deleted.
//
// Thread rules: none of its own; the store's owner serializes every call
// (server.h: one weft::Mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace weft::kv {

// std::hash of the bytes, usable with string_view lookups.
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

using List = std::deque<std::string>;
using Hash = std::unordered_map<std::string, std::string, KeyHash, std::equal_to<>>;
using Set = std::unordered_set<std::string, KeyHash, std::equal_to<>>;
// Members by name, and in order (score, then the member's bytes), as
// redis-server orders a sorted set.
struct ZSet {
  std::unordered_map<std::string, double, KeyHash, std::equal_to<>> scores;
  std::set<std::pair<double, std::string>> order;
};

// The index in Value::data is the type: string, list, hash, set, zset.
enum class Type : std::uint8_t { string = 0, list = 1, hash = 2, set = 3, zset = 4 };
using Value = std::variant<std::string, List, Hash, Set, ZSet>;

struct Entry {
  Value value;
  std::int64_t expire_at = 0;  // ms since the epoch; 0: never
  std::string_view key;        // the table's own copy of the key
  // The rewrite epoch it was created in or last dumped in (journal.h);
  // bookkeeping of the log, not part of the value.
  mutable std::uint32_t epoch = 0;

  Type type() const { return static_cast<Type>(value.index()); }
};

class Keyspace {
 public:
  Keyspace();

  // The live entry of `key` at time `now`, or null; an expired one is
  // deleted first.
  Entry* find(std::string_view key, std::int64_t now);
  // A new entry for `key` holding `value`, replacing any entry there was
  // (its expiry too).
  Entry& put(std::string_view key, Value value);
  // Deletes `key`; false if there was none (expired or not).
  bool erase(std::string_view key);
  void set_expire(Entry& e, std::int64_t at);  // at 0: none
  void clear();
  std::size_t size() const { return count_; }
  std::size_t expiring() const { return expiring_.size(); }

  // SCAN's step: calls visit(entry) for keys from `cursor` on (expired ones
  // deleted, not visited) until about `count` were visited; returns the
  // next cursor, 0 at the end.
  std::uint64_t scan(std::uint64_t cursor, std::size_t count, std::int64_t now,
                     const std::function<void(const Entry&)>& visit);
  // Every live key, in hash order.
  void for_each(std::int64_t now, const std::function<void(const Entry&)>& visit);

  // Deletes expired entries among a random sample of `samples` entries
  // with an expiry; returns how many it deleted.
  std::size_t sweep_sample(std::int64_t now, std::size_t samples);

  // The epoch new entries are born in (journal.h's rewrite).
  void set_epoch(std::uint32_t epoch) { epoch_ = epoch; }

  // A random number (SPOP's choice, the sweep's samples).
  std::uint64_t random() { return rng_(); }

  Keyspace(const Keyspace&) = delete;
  Keyspace& operator=(const Keyspace&) = delete;
  ~Keyspace();

 private:
  using Indexed = std::pair<std::uint64_t, std::string_view>;
  struct Node;
  struct Slot {
    std::uint64_t hash = 0;
    Node* node = nullptr;  // null: empty
  };
  static std::uint64_t position(std::string_view key);
  static Node* make_node(std::string_view key);
  static void free_node(Node* n);
  static Entry& entry_of(Node* n);
  // The slot holding `key` (hash `h`), or npos.
  std::size_t slot_of(std::string_view key, std::uint64_t h) const;
  void grow();
  void drop(std::size_t slot);  // deletes the node, shifts the slots after it back

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::vector<Slot> slots_;  // a power of two long, at most half full
  std::size_t count_ = 0;
  std::set<Indexed> all_;       // every key, by position(): SCAN's order
  std::set<Indexed> expiring_;  // keys with an expiry, the same order
  std::mt19937_64 rng_;
  std::uint32_t epoch_ = 0;
};

}  // namespace weft::kv
