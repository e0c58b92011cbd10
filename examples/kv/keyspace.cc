#include "examples/kv/keyspace.h"

#include <cstring>
#include <new>
#include <vector>

namespace weft::kv {

// A node: the key's length, its bytes, then (aligned) the Entry, in one
// allocation, so that comparing the key and reading the value's start touch
// the same cache line or the next.
struct Keyspace::Node {
  std::uint32_t key_size;
  char* key() { return reinterpret_cast<char*>(this) + sizeof(Node); }
};

namespace {

constexpr std::size_t kMinSlots = 16;

std::size_t entry_offset(std::size_t key_size) {
  const std::size_t end = sizeof(std::uint32_t) + key_size;
  return (end + alignof(Entry) - 1) / alignof(Entry) * alignof(Entry);
}

}  // namespace

Keyspace::Keyspace() : rng_(std::random_device{}()) { slots_.resize(kMinSlots); }

Keyspace::~Keyspace() { clear(); }

Keyspace::Node* Keyspace::make_node(std::string_view key) {
  static_assert(alignof(Entry) <= alignof(std::max_align_t));
  const std::size_t at = entry_offset(key.size());
  void* memory = ::operator new(at + sizeof(Entry));
  auto* n = static_cast<Node*>(memory);
  n->key_size = static_cast<std::uint32_t>(key.size());
  std::memcpy(n->key(), key.data(), key.size());
  auto* e = ::new (static_cast<char*>(memory) + at) Entry{};
  e->key = std::string_view(n->key(), key.size());
  return n;
}

Entry& Keyspace::entry_of(Node* n) {
  return *std::launder(reinterpret_cast<Entry*>(reinterpret_cast<char*>(n) + entry_offset(n->key_size)));
}

void Keyspace::free_node(Node* n) {
  entry_of(n).~Entry();
  ::operator delete(n);  // (sized delete needs -fsized-deallocation with clang 14)
}

// Never 0, which is the cursor that starts a scan and the one that ends it.
std::uint64_t Keyspace::position(std::string_view key) {
  const std::uint64_t h = KeyHash{}(key);
  return h == 0 ? 1 : h;
}

std::size_t Keyspace::slot_of(std::string_view key, std::uint64_t h) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.node == nullptr) return npos;
    if (s.hash == h && s.node->key_size == key.size() && std::memcmp(s.node->key(), key.data(), key.size()) == 0)
      return i;
  }
}

void Keyspace::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.node == nullptr) continue;
    std::size_t i = s.hash & mask;
    while (slots_[i].node != nullptr) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void Keyspace::drop(std::size_t slot) {
  Node* n = slots_[slot].node;
  Entry& e = entry_of(n);
  const Indexed at{position(e.key), e.key};
  all_.erase(at);
  if (e.expire_at != 0) expiring_.erase(at);
  free_node(n);
  --count_;
  // Backward shift: every slot after the hole that may sit in it moves up.
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = slot;
  for (std::size_t i = (slot + 1) & mask; slots_[i].node != nullptr; i = (i + 1) & mask) {
    const std::size_t home = slots_[i].hash & mask;
    // Movable unless its home lies cyclically in (hole, i].
    const bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (stays) continue;
    slots_[hole] = slots_[i];
    hole = i;
  }
  slots_[hole] = Slot{};
}

Entry* Keyspace::find(std::string_view key, std::int64_t now) {
  const std::size_t i = slot_of(key, position(key));
  if (i == npos) return nullptr;
  Entry& e = entry_of(slots_[i].node);
  if (e.expire_at != 0 && e.expire_at <= now) {
    drop(i);
    return nullptr;
  }
  return &e;
}

Entry& Keyspace::put(std::string_view key, Value value) {
  const std::uint64_t h = position(key);
  std::size_t i = slot_of(key, h);
  if (i == npos) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (i = h & mask; slots_[i].node != nullptr; i = (i + 1) & mask) {
    }
    slots_[i] = Slot{h, make_node(key)};
    ++count_;
    Entry& e = entry_of(slots_[i].node);
    e.epoch = epoch_;
    all_.emplace(h, e.key);
  }
  Entry& e = entry_of(slots_[i].node);
  set_expire(e, 0);
  e.value = std::move(value);
  return e;
}

bool Keyspace::erase(std::string_view key) {
  const std::size_t i = slot_of(key, position(key));
  if (i == npos) return false;
  drop(i);
  return true;
}

void Keyspace::set_expire(Entry& e, std::int64_t at) {
  if ((e.expire_at != 0) != (at != 0)) {
    const Indexed pos{position(e.key), e.key};
    if (at != 0) {
      expiring_.insert(pos);
    } else {
      expiring_.erase(pos);
    }
  }
  e.expire_at = at;
}

void Keyspace::clear() {
  all_.clear();
  expiring_.clear();
  for (Slot& s : slots_) {
    if (s.node != nullptr) free_node(s.node);
  }
  slots_.assign(kMinSlots, Slot{});
  count_ = 0;
}

std::uint64_t Keyspace::scan(std::uint64_t cursor, std::size_t count, std::int64_t now,
                             const std::function<void(const Entry&)>& visit) {
  std::vector<std::string_view> expired;
  std::size_t visited = 0;
  std::uint64_t next = 0;
  for (auto it = all_.lower_bound(Indexed{cursor, {}}); it != all_.end(); ++it) {
    // Keys of one position go out together: the cursor cannot split them.
    if (visited >= count && it->first != std::prev(it)->first) {
      next = it->first;
      break;
    }
    const Entry& e = entry_of(slots_[slot_of(it->second, it->first)].node);
    if (e.expire_at != 0 && e.expire_at <= now) {
      expired.push_back(it->second);
    } else {
      visit(e);
    }
    ++visited;
  }
  for (std::string_view k : expired) erase(std::string(k));
  return next;
}

void Keyspace::for_each(std::int64_t now, const std::function<void(const Entry&)>& visit) {
  (void)scan(0, SIZE_MAX, now, visit);
}

std::size_t Keyspace::sweep_sample(std::int64_t now, std::size_t samples) {
  if (expiring_.empty()) return 0;
  std::vector<std::string> expired;
  auto it = expiring_.lower_bound(Indexed{rng_(), {}});
  for (std::size_t i = 0; i < samples && i < expiring_.size(); ++i, ++it) {
    if (it == expiring_.end()) it = expiring_.begin();
    const Entry& e = entry_of(slots_[slot_of(it->second, it->first)].node);
    if (e.expire_at <= now) expired.emplace_back(it->second);
  }
  for (const std::string& k : expired) erase(k);
  return expired.size();
}

}  // namespace weft::kv
