#include "examples/kv/journal.h"

#include <deque>
#include <initializer_list>
#include <utility>
#include <variant>
#include <vector>

#include "examples/kv/text.h"

namespace weft::kv {
namespace {

// Elements per command of a dump, as redis-server's rewrite batches them.
constexpr std::size_t kChunk = 64;

// Builds the commands of a dump: the name and the key, then up to kChunk
// groups of elements (a value; a field and its value; a score and its
// member) each, written out as each fills and by the destructor.
class DumpCommand {
 public:
  DumpCommand(std::string& out, std::string_view name, std::string_view key) : out_(out) {
    args_.push_back(name);
    args_.push_back(key);
  }
  ~DumpCommand() { flush(); }
  void add(std::initializer_list<std::string_view> group) {
    args_.insert(args_.end(), group);
    if (++groups_ == kChunk) flush();
  }
  // Text made for this command (a score), kept until it is written.
  std::string_view keep(std::string text) { return kept_.emplace_back(std::move(text)); }

 private:
  void flush() {
    if (groups_ == 0) return;
    append_resp_command(out_, args_);
    args_.resize(2);
    kept_.clear();
    groups_ = 0;
  }

  std::string& out_;
  std::vector<std::string_view> args_;
  std::deque<std::string> kept_;  // a deque: its elements stay put as it grows
  std::size_t groups_ = 0;
};

}  // namespace

void append_resp_command(std::string& out, std::span<const std::string_view> args) {
  out += '*';
  append_int64(out, static_cast<std::int64_t>(args.size()));
  out += "\r\n";
  for (std::string_view a : args) {
    out += '$';
    append_int64(out, static_cast<std::int64_t>(a.size()));
    out += "\r\n";
    out.append(a);
    out += "\r\n";
  }
}

void append_entry_commands(std::string& out, const Entry& e) {
  switch (e.type()) {
    case Type::string: {
      const std::string_view args[] = {"SET", e.key, std::get<std::string>(e.value)};
      append_resp_command(out, args);
      break;
    }
    case Type::list: {
      DumpCommand c(out, "RPUSH", e.key);
      for (const std::string& v : std::get<List>(e.value)) c.add({v});
      break;
    }
    case Type::hash: {
      DumpCommand c(out, "HSET", e.key);
      for (const auto& [field, value] : std::get<Hash>(e.value)) c.add({field, value});
      break;
    }
    case Type::set: {
      DumpCommand c(out, "SADD", e.key);
      for (const std::string& m : std::get<Set>(e.value)) c.add({m});
      break;
    }
    case Type::zset: {
      DumpCommand c(out, "ZADD", e.key);
      for (const auto& [score, member] : std::get<ZSet>(e.value).order) c.add({c.keep(format_double(score)), member});
      break;
    }
  }
  if (e.expire_at != 0) {
    std::string at;
    append_int64(at, e.expire_at);
    const std::string_view args[] = {"PEXPIREAT", e.key, at};
    append_resp_command(out, args);
  }
}

void Journal::mark_time(std::string& out, std::int64_t* last, std::int64_t now) {
  if (*last == now) return;
  *last = now;
  out += "#T ";
  append_int64(out, now);
  out += "\r\n";
}

void Journal::record(std::span<const std::string_view> args, std::int64_t now) {
  const bool was_empty = pending_.empty();
  const std::size_t before = pending_.size();
  mark_time(pending_, &pending_time_, now);
  append_resp_command(pending_, args);
  appended_ += pending_.size() - before;
  if (rewriting_) {
    mark_time(tail_, &tail_time_, now);
    append_resp_command(tail_, args);
  }
  if (was_empty && on_append_) on_append_();
}

void Journal::begin_rewrite(Keyspace& keys, std::int64_t t0) {
  rewriting_ = true;
  rewrite_requested_ = false;
  walk_done_ = false;
  cursor_ = 0;
  keys.set_epoch(++epoch_);
  snapshot_.clear();
  tail_.clear();
  std::int64_t none = 0;
  mark_time(snapshot_, &none, t0);
  tail_time_ = 0;  // the tail's first record says its time
}

void Journal::before_change(Keyspace& keys, std::string_view key, std::int64_t now) {
  if (!rewriting_ || walk_done_) return;
  const Entry* e = keys.find(key, now);
  if (e == nullptr || e->epoch == epoch_) return;
  e->epoch = epoch_;
  append_entry_commands(snapshot_, *e);
}

bool Journal::dump_step(Keyspace& keys, std::int64_t now, std::size_t count) {
  if (walk_done_) return true;
  cursor_ = keys.scan(cursor_, count, now, [&](const Entry& e) {
    if (e.epoch == epoch_) return;
    e.epoch = epoch_;
    append_entry_commands(snapshot_, e);
  });
  walk_done_ = cursor_ == 0;
  return walk_done_;
}

std::string Journal::take_snapshot() { return std::exchange(snapshot_, std::string()); }

std::string Journal::take_tail() { return std::exchange(tail_, std::string()); }

void Journal::finish_rewrite() {
  rewriting_ = false;
  pending_ = std::exchange(tail_, std::string());
  pending_time_ = tail_time_;
  snapshot_.clear();
}

void Journal::abandon_rewrite() {
  rewriting_ = false;
  snapshot_.clear();
  tail_.clear();
}

bool Journal::request_rewrite() {
  if (rewriting_ || rewrite_requested_) return false;
  rewrite_requested_ = true;
  if (on_rewrite_request_) on_rewrite_request_();
  return true;
}

}  // namespace weft::kv
