#include "examples/kv/pubsub.h"

#include <algorithm>
#include <mutex>

#include "examples/kv/text.h"

namespace weft::kv {
namespace {

void append_bulk(std::string& out, std::string_view bytes) {
  out += '$';
  append_int64(out, static_cast<std::int64_t>(bytes.size()));
  out += "\r\n";
  out += bytes;
  out += "\r\n";
}

}  // namespace

Subscriber::Subscriber(std::size_t limit, CancelToken* parent) : limit_(limit) {
  if (parent != nullptr) parent_link_.attach(*parent, dropped_);
}

void PubSub::confirm(Subscriber& s, std::string_view kind, const std::string_view* name,
                     Reply& out) {
  out.array(3);
  out.bulk(kind);
  if (name != nullptr) {
    out.bulk(*name);
  } else {
    out.null();
  }
  out.integer(static_cast<std::int64_t>(s.subscriptions()));
}

void PubSub::subscribe(Subscriber& s, bool pattern, std::span<const std::string_view> names,
                       Reply& out) {
  std::lock_guard<Mutex> hold(mutex_);
  out.bytes() += s.outbox_;
  s.outbox_.clear();
  auto& mine = pattern ? s.patterns_ : s.channels_;
  for (const std::string_view& name : names) {
    if (std::find(mine.begin(), mine.end(), name) == mine.end()) {
      mine.emplace_back(name);
      if (pattern) {
        patterns_[std::string(name)].push_back(&s);
      } else {
        channels_[std::string(name)].push_back(&s);
      }
    }
    confirm(s, pattern ? "psubscribe" : "subscribe", &name, out);
  }
}

void PubSub::drop_from(Subscribers& list, Subscriber& s) {
  list.erase(std::find(list.begin(), list.end(), &s));
}

void PubSub::unsubscribe(Subscriber& s, bool pattern, std::span<const std::string_view> names,
                         Reply& out) {
  std::lock_guard<Mutex> hold(mutex_);
  out.bytes() += s.outbox_;
  s.outbox_.clear();
  auto& mine = pattern ? s.patterns_ : s.channels_;
  const std::string_view kind = pattern ? "punsubscribe" : "unsubscribe";
  const auto leave_one = [&](std::string_view name) {
    const auto at = std::find(mine.begin(), mine.end(), name);
    if (at == mine.end()) return;
    if (pattern) {
      auto it = patterns_.find(name);
      drop_from(it->second, s);
      if (it->second.empty()) patterns_.erase(it);
    } else {
      auto it = channels_.find(name);
      drop_from(it->second, s);
      if (it->second.empty()) channels_.erase(it);
    }
    mine.erase(at);
  };
  if (!names.empty()) {
    for (const std::string_view& name : names) {
      leave_one(name);
      confirm(s, kind, &name, out);
    }
    return;
  }
  if (mine.empty()) return confirm(s, kind, nullptr, out);
  while (!mine.empty()) {
    const std::string name = mine.front();
    const std::string_view view(name);
    leave_one(view);
    confirm(s, kind, &view, out);
  }
}

void PubSub::leave(Subscriber& s) {
  std::lock_guard<Mutex> hold(mutex_);
  for (const std::string& name : s.channels_) {
    auto it = channels_.find(name);
    drop_from(it->second, s);
    if (it->second.empty()) channels_.erase(it);
  }
  for (const std::string& name : s.patterns_) {
    auto it = patterns_.find(name);
    drop_from(it->second, s);
    if (it->second.empty()) patterns_.erase(it);
  }
  s.channels_.clear();
  s.patterns_.clear();
  s.outbox_.clear();
  s.wake_ = nullptr;
}

// Under mutex_.
void PubSub::deliver(Subscriber& s, std::string_view message) {
  if (s.outbox_.size() + message.size() > s.limit_) {
    // Over its limit: dropped, its connection closes. It stays listed
    // (publish skips it) until the connection leaves.
    s.overflowed_ = true;
    std::string().swap(s.outbox_);
    if (s.wake_ != nullptr) s.wake_->cancel();
    s.wake_ = nullptr;
    s.dropped_.cancel();
    return;
  }
  s.outbox_ += message;
  if (s.wake_ != nullptr) {
    s.wake_->cancel();
    s.wake_ = nullptr;
  }
}

std::int64_t PubSub::publish(std::string_view channel, std::string_view message) {
  std::int64_t receivers = 0;
  std::string m;
  std::lock_guard<Mutex> hold(mutex_);
  if (auto it = channels_.find(channel); it != channels_.end()) {
    m = "*3\r\n$7\r\nmessage\r\n";
    append_bulk(m, channel);
    append_bulk(m, message);
    for (Subscriber* s : it->second) {
      if (s->overflowed_) continue;
      deliver(*s, m);
      receivers += s->overflowed_ ? 0 : 1;
    }
  }
  for (auto& [pattern, subscribers] : patterns_) {
    if (!glob_match(pattern, channel)) continue;
    m = "*4\r\n$8\r\npmessage\r\n";
    append_bulk(m, pattern);
    append_bulk(m, channel);
    append_bulk(m, message);
    for (Subscriber* s : subscribers) {
      if (s->overflowed_) continue;
      deliver(*s, m);
      receivers += s->overflowed_ ? 0 : 1;
    }
  }
  return receivers;
}

bool PubSub::take(Subscriber& s, std::string& to) {
  std::lock_guard<Mutex> hold(mutex_);
  to += s.outbox_;
  s.outbox_.clear();
  return !s.overflowed_;
}

bool PubSub::wake_with(Subscriber& s, CancelToken* token) {
  std::lock_guard<Mutex> hold(mutex_);
  if (token != nullptr && (!s.outbox_.empty() || s.overflowed_)) {
    s.wake_ = nullptr;
    return true;
  }
  s.wake_ = token;
  return false;
}

}  // namespace weft::kv
