#include "examples/kv/blocking.h"

#include <algorithm>
#include <variant>

namespace weft::kv {

void Waiters::add(PopWaiter& w) {
  for (const std::string& k : w.keys) {
    auto& q = queues_[k];
    // BLPOP k k waits once on k.
    if (std::find(q.begin(), q.end(), &w) == q.end()) q.push_back(&w);
  }
  ++count_;
}

void Waiters::remove(PopWaiter& w) {
  bool found = false;
  for (const std::string& k : w.keys) {
    auto it = queues_.find(k);
    if (it == queues_.end()) continue;
    auto& q = it->second;
    const auto at = std::find(q.begin(), q.end(), &w);
    if (at == q.end()) continue;
    found = true;
    q.erase(at);
    if (q.empty()) queues_.erase(it);
  }
  if (found) --count_;
}

void Waiters::mark_ready(std::string_view key) {
  if (!queues_.contains(key)) return;
  if (std::find(ready_.begin(), ready_.end(), key) == ready_.end()) ready_.emplace_back(key);
}

void Waiters::serve(Keyspace& keys, std::int64_t now, Journal& journal) {
  // A give-back may mark a key ready while this runs: take them in turns.
  while (!ready_.empty()) {
    const std::string key = std::move(ready_.front());
    ready_.erase(ready_.begin());
    for (;;) {
      auto q = queues_.find(key);
      if (q == queues_.end()) break;
      Entry* e = keys.find(key, now);
      if (e == nullptr || e->type() != Type::list) break;
      List& l = std::get<List>(e->value);
      PopWaiter* w = q->second.front();
      remove(*w);  // q may be gone after this
      w->served = true;
      w->key = key;
      if (w->left) {
        w->value = std::move(l.front());
        l.pop_front();
      } else {
        w->value = std::move(l.back());
        l.pop_back();
      }
      if (journal.enabled()) journal.record({w->left ? "LPOP" : "RPOP", key}, now);
      if (w->wake) w->wake();
      if (l.empty()) {
        keys.erase(key);
        break;
      }
    }
  }
}

}  // namespace weft::kv
