#include "examples/kv/keyspace.h"

#include <vector>

namespace weft::kv {

Keyspace::Keyspace() : rng_(std::random_device{}()) {}

// Never 0, which is the cursor that starts a scan and the one that ends it.
std::uint64_t Keyspace::position(std::string_view key) {
  const std::uint64_t h = KeyHash{}(key);
  return h == 0 ? 1 : h;
}

void Keyspace::drop(std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>>::iterator it) {
  const Indexed at{position(it->first), it->first};
  all_.erase(at);
  if (it->second.expire_at != 0) expiring_.erase(at);
  table_.erase(it);
}

Entry* Keyspace::find(std::string_view key, std::int64_t now) {
  auto it = table_.find(key);
  if (it == table_.end()) return nullptr;
  if (it->second.expire_at != 0 && it->second.expire_at <= now) {
    drop(it);
    return nullptr;
  }
  return &it->second;
}

Entry& Keyspace::put(std::string_view key, Value value) {
  auto it = table_.find(key);
  if (it == table_.end()) {
    it = table_.emplace(std::string(key), Entry{}).first;
    it->second.key = it->first;
    it->second.epoch = epoch_;
    all_.emplace(position(it->first), it->first);
  }
  Entry& e = it->second;
  set_expire(e, 0);
  e.value = std::move(value);
  return e;
}

bool Keyspace::erase(std::string_view key) {
  auto it = table_.find(key);
  if (it == table_.end()) return false;
  drop(it);
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
  table_.clear();
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
    const Entry& e = table_.find(it->second)->second;
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
    const Entry& e = table_.find(it->second)->second;
    if (e.expire_at <= now) expired.emplace_back(it->second);
  }
  for (const std::string& k : expired) erase(k);
  return expired.size();
}

}  // namespace weft::kv
