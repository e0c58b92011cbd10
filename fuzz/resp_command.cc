// Fuzz target: the RESP2 command parser of the key-value service
// (examples/kv/resp.h), driven as a connection drives it, and every command
// it parses run through a store (examples/kv/store.h) with its append-only
// log (examples/kv/journal.h) on, as weft-kv runs them.
//
// The parser. The input is the byte stream a client sends on one
// connection, delivered to a simulated connection (drive()) that does what
// examples/kv/server.cc does with parse_command(): a command is taken
// (`consumed` bytes) and parsing goes on with the next, pipelined one; a
// protocol error ends the connection; otherwise it waits for more. The
// stream is delivered whole; in two parts cut where the first byte says
// (its value as a fraction of the length); as a reader that reads exactly
// what `needed` says; and a byte at a time (streams of up to
// kByteAtATimeMax bytes); each under the default Limits and tight ones.
// Invariants (fuzz/check.h aborts on a violation):
//   every parse   the same bytes parse to the same result; a wait asks for
//                 more bytes than it has (`needed` > size); a command took
//                 1 to size bytes; an array's arguments (at most max_args,
//                 of at most max_bulk bytes) view the bytes it took, an
//                 inline command's (any number of them, as in
//                 redis-server) view Command::unquoted; an error is one of
//                 the texts examples/kv/resp.h lists, and leaves no
//                 arguments;
//   per position  `needed` is a lower bound: the command found at that
//                 position later took at least as many bytes as any wait
//                 there asked for;
//   per delivery  every delivery takes the same commands at the same
//                 offsets and ends the same way, except that a delivery in
//                 parts may end at a "too big ... request/count string"
//                 error where the whole stream goes on: those limits count
//                 what is buffered (as in redis-server), so they depend on
//                 how the bytes came.
//
// The store. The commands of the whole delivery (default limits; at most
// kMaxCommands, each of at most kMaxArgs arguments of kMaxArgBytes bytes, so
// that an input stays fast) run through one Store on a clock that starts at
// kStartMs and moves 1 ms per command (set_time: no real time passes, and a
// PEXPIRE of a few ms expires a few commands later). Two clients send them:
// a command whose name starts with a lower-case letter comes from client 1,
// any other from client 0 (names are case-insensitive, so this changes
// nothing else). A client's BLPOP/BRPOP that finds nothing parks it on a
// PopWaiter; its next command first ends the wait as the server would: a
// served client takes its value, an unserved one times out, and a QUIT
// means its peer hung up (a served value is given back, Store::give_back).
// A parked client's timeout expires on the clock too. BGREWRITEAOF starts
// a rewrite that runs as weft-kv's rewriter does (examples/kv/aof.cc): a
// snapshot step per command (one key), then the tail, then the handover to
// the writer, which appends what was recorded to the file after each command.
// Invariants:
//   every command  replies whole RESP2 values: one (the (P)(UN)SUBSCRIBE
//                  family: one or more), none if it parked; records nothing
//                  in the log if it failed (an error reply) or is not a
//                  write command; the store counts exactly the clients that
//                  wait unserved, and a served one was woken once;
//   at the end     the log file (with any rewrite's snapshot and tail in
//                  it), replayed into a new store (replay_log, as weft-kv
//                  replays it at start), replays to its end with no error and
//                  no failed command, and rebuilds the same keys, values and
//                  expiry times; no key holds an empty collection, and every
//                  sorted set's two indexes agree.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "examples/kv/aof.h"
#include "examples/kv/commands.h"
#include "examples/kv/journal.h"
#include "examples/kv/resp.h"
#include "examples/kv/store.h"
#include "examples/kv/text.h"
#include "fuzz/check.h"

namespace weft::fuzz {
namespace {

using kv::Command;
using kv::Limits;
using kv::ParseResult;
using Kind = ParseResult::Kind;

constexpr std::size_t kByteAtATimeMax = 256;
constexpr Limits kTightLimits{.max_bulk = 16, .max_args = 4, .max_inline = 24};

constexpr std::size_t kMaxCommands = 256;
constexpr std::size_t kMaxArgs = 32;
constexpr std::size_t kMaxArgBytes = 256;
constexpr std::int64_t kStartMs = 1'700'000'000'000;  // 2023-11-14, a time with 13 digits
constexpr std::size_t kDumpStep = 1;                  // keys per snapshot step

// ---- the parser ---------------------------------------------------------------------

// What a connection did at one position of the stream.
struct Event {
  Kind kind = Kind::need_more;
  std::size_t at = 0;        // the offset of the parsed bytes in the stream
  std::size_t consumed = 0;  // command
  std::vector<std::string> args;
  std::string error;  // error: protocol_error_text()
  bool operator==(const Event&) const = default;
};

bool inside(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

bool too_big(const Event& e) {
  return e.kind == Kind::error && e.error.starts_with("ERR Protocol error: too big");
}

bool known_error(std::string_view text) {
  static constexpr std::string_view kTexts[] = {"ERR Protocol error: invalid multibulk length",
                                                "ERR Protocol error: expected '$', got '%c'",
                                                "ERR Protocol error: invalid bulk length",
                                                "ERR Protocol error: too big mbulk count string",
                                                "ERR Protocol error: too big bulk count string",
                                                "ERR Protocol error: too big inline request",
                                                "ERR Protocol error: unbalanced quotes in request"};
  return std::find(std::begin(kTexts), std::end(kTexts), text) != std::end(kTexts);
}

bool same_args(const Command& a, const Command& b) {
  return std::equal(a.args.begin(), a.args.end(), b.args.begin(), b.args.end());
}

// The invariants of one parse of `bytes` into `c`, whatever came before.
void check_parse(std::string_view bytes, const ParseResult& r, const Command& c,
                 const Limits& limits) {
  Command again;
  const ParseResult r2 = kv::parse_command(bytes, again, limits);
  check(r.kind == r2.kind && r.consumed == r2.consumed && r.needed == r2.needed &&
            r.error == r2.error && r.error_byte == r2.error_byte && same_args(c, again),
        "the same bytes parse to the same result");
  switch (r.kind) {
    case Kind::need_more:
      check(r.needed > bytes.size(), "a wait asks for more bytes than it has");
      check(c.args.empty() && r.consumed == 0, "a wait takes nothing");
      break;
    case Kind::error:
      check(known_error(r.error), "a protocol error is one of the texts examples/kv/resp.h lists");
      check(c.args.empty(), "a protocol error leaves no arguments");
      break;
    case Kind::command: {
      check(r.consumed >= 1 && r.consumed <= bytes.size(), "a command takes 1 to size bytes");
      const std::string_view taken = bytes.substr(0, r.consumed);
      if (bytes[0] == '*') {
        check(c.args.size() <= limits.max_args, "an array has at most max_args arguments");
        for (std::string_view a : c.args) {
          check(inside(a, taken), "an array's arguments view the bytes it took");
          check(a.size() <= limits.max_bulk, "an argument is at most max_bulk bytes");
        }
      } else {
        check(taken.back() == '\n', "an inline command takes its line and its LF");
        for (std::string_view a : c.args) {
          check(inside(a, c.unquoted), "an inline command's arguments view Command::unquoted");
        }
      }
      break;
    }
  }
}

enum class Delivery : std::uint8_t { whole, split, as_needed, byte_at_a_time };

// What `stream` does to a connection that receives it as `how` says.
std::vector<Event> drive(std::string_view stream, Delivery how, std::size_t split,
                         const Limits& limits) {
  std::vector<Event> events;
  std::size_t consumed = 0;
  std::size_t received = how == Delivery::whole            ? stream.size()
                         : how == Delivery::split          ? split
                         : how == Delivery::byte_at_a_time ? std::min<std::size_t>(1, stream.size())
                                                           : 0;
  std::size_t asked = 0;  // the most a wait at `consumed` asked for
  Command c;
  for (;;) {
    const std::string_view bytes = stream.substr(consumed, received - consumed);
    const ParseResult r = kv::parse_command(bytes, c, limits);
    check_parse(bytes, r, c, limits);
    if (r.kind == Kind::command) {
      check(r.consumed >= asked, "a command takes at least what a wait for it asked");
      Event e{Kind::command, consumed, r.consumed, {}, {}};
      for (std::string_view a : c.args) e.args.emplace_back(a);
      events.push_back(std::move(e));
      consumed += r.consumed;
      asked = 0;
      continue;
    }
    if (r.kind == Kind::error) {
      events.push_back({Kind::error, consumed, 0, {}, kv::protocol_error_text(r)});
      return events;
    }
    asked = std::max(asked, r.needed);
    if (received == stream.size()) return events;  // the client sent no more
    switch (how) {
      case Delivery::whole:
        break;
      case Delivery::split:
        received = stream.size();
        break;
      case Delivery::as_needed:
        received = std::min(stream.size(), consumed + r.needed);
        break;
      case Delivery::byte_at_a_time:
        ++received;
        break;
    }
  }
}

void check_same_events(const std::vector<Event>& whole, const std::vector<Event>& other) {
  // Cut short: the other delivery ended at a buffered limit where the whole
  // stream took something else at the same offset.
  const std::size_t n = other.size();
  const bool cut_short = n > 0 && n <= whole.size() && other[n - 1] != whole[n - 1] &&
                         too_big(other[n - 1]) && other[n - 1].at == whole[n - 1].at;
  check(cut_short || whole.size() == n, "every delivery of the stream takes as many commands");
  for (std::size_t i = 0; i + (cut_short ? 1 : 0) < n; ++i) {
    check(whole[i] == other[i],
          "every delivery of the stream takes the same commands (a buffered limit aside)");
  }
}

std::vector<Event> fuzz_parser(std::string_view stream, std::size_t split, const Limits& limits) {
  std::vector<Event> whole = drive(stream, Delivery::whole, 0, limits);
  if (split > 0 && split < stream.size())
    check_same_events(whole, drive(stream, Delivery::split, split, limits));
  check_same_events(whole, drive(stream, Delivery::as_needed, 0, limits));
  if (stream.size() <= kByteAtATimeMax)
    check_same_events(whole, drive(stream, Delivery::byte_at_a_time, 0, limits));
  return whole;
}

// ---- replies and state ----------------------------------------------------------------

// The size of the whole RESP2 value at reply[pos], or 0 if there is none.
std::size_t value_size(std::string_view reply, std::size_t pos, int depth) {
  if (pos >= reply.size() || depth > 8) return 0;
  const std::size_t eol = reply.find("\r\n", pos);
  if (eol == std::string_view::npos) return 0;
  const std::string_view line = reply.substr(pos + 1, eol - pos - 1);
  const std::size_t after = eol + 2;
  std::int64_t n = 0;
  switch (reply[pos]) {
    case '+':
    case '-':
      return line.find_first_of("\r\n") == std::string_view::npos ? after - pos : 0;
    case ':':
      return kv::parse_int64(line, &n) ? after - pos : 0;
    case '$': {
      if (!kv::parse_int64(line, &n) || n < -1) return 0;
      if (n == -1) return after - pos;
      const auto len = static_cast<std::size_t>(n);
      if (reply.size() - after < len + 2 || reply.substr(after + len, 2) != "\r\n") return 0;
      return after + len + 2 - pos;
    }
    case '*': {
      if (!kv::parse_int64(line, &n) || n < -1) return 0;
      std::size_t end = after;
      for (std::int64_t i = 0; i < n; ++i) {
        const std::size_t s = value_size(reply, end, depth + 1);
        if (s == 0) return 0;
        end += s;
      }
      return end - pos;
    }
    default:
      return 0;
  }
}

const kv::CommandSpec* spec_of(std::string_view name) {
  const std::string lowered = kv::lower(name);
  for (const kv::CommandSpec& s : kv::command_table()) {
    if (s.name == lowered) return &s;
  }
  return nullptr;
}

bool replies_per_name(std::string_view name) {
  for (std::string_view n : {"subscribe", "unsubscribe", "psubscribe", "punsubscribe"}) {
    if (kv::iequals(name, n)) return true;
  }
  return false;
}

void check_reply(std::string_view name, std::string_view reply, kv::After after) {
  if (after == kv::After::block) {
    check(reply.empty(), "a command that parks replies nothing yet");
    return;
  }
  std::size_t values = 0;
  for (std::size_t pos = 0; pos < reply.size(); ++values) {
    const std::size_t s = value_size(reply, pos, 0);
    check(s > 0, "a reply is whole RESP2 values");
    pos += s;
  }
  check(values >= 1, "every command replies");
  check(values == 1 || replies_per_name(name), "a command replies one value");
}

void append_field(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

void append_score(std::string& out, double d) {
  char text[64];
  std::snprintf(text, sizeof text, "%a", d);  // exact, and -0 is not 0
  append_field(out, text);
}

// One live entry as text that two stores holding the same entry print the
// same (members of hashes and sets sorted: their iteration order is the
// table's, which depends on its history); checks the entry on the way.
std::string entry_text(const kv::Entry& e, std::int64_t now) {
  check(e.expire_at == 0 || e.expire_at > now, "a visited key is live");
  std::string out;
  append_field(out, e.key);
  out += std::to_string(static_cast<int>(e.type()));
  out += '@';
  out += std::to_string(e.expire_at);
  out += '=';
  switch (e.type()) {
    case kv::Type::string:
      append_field(out, std::get<std::string>(e.value));
      break;
    case kv::Type::list: {
      const kv::List& l = std::get<kv::List>(e.value);
      check(!l.empty(), "no key holds an empty list");
      for (const std::string& v : l) append_field(out, v);
      break;
    }
    case kv::Type::hash: {
      const kv::Hash& h = std::get<kv::Hash>(e.value);
      check(!h.empty(), "no key holds an empty hash");
      std::vector<std::pair<std::string_view, std::string_view>> pairs(h.begin(), h.end());
      std::sort(pairs.begin(), pairs.end());
      for (const auto& [field, value] : pairs) {
        append_field(out, field);
        append_field(out, value);
      }
      break;
    }
    case kv::Type::set: {
      const kv::Set& s = std::get<kv::Set>(e.value);
      check(!s.empty(), "no key holds an empty set");
      std::vector<std::string_view> members(s.begin(), s.end());
      std::sort(members.begin(), members.end());
      for (std::string_view m : members) append_field(out, m);
      break;
    }
    case kv::Type::zset: {
      const kv::ZSet& z = std::get<kv::ZSet>(e.value);
      check(!z.order.empty(), "no key holds an empty sorted set");
      check(z.order.size() == z.scores.size(), "a sorted set's indexes hold as many members");
      for (const auto& [score, member] : z.order) {
        const auto it = z.scores.find(member);
        check(it != z.scores.end() && it->second == score,
              "a sorted set's indexes agree on each score");
        check(!std::isnan(score), "no score is NaN");
        append_score(out, score);
        append_field(out, member);
      }
      break;
    }
  }
  return out;
}

// Every live key of `keys` at `now`, as text, in key order.
std::string state_of(kv::Keyspace& keys, std::int64_t now) {
  std::vector<std::string> entries;
  keys.for_each(now, [&](const kv::Entry& e) { entries.push_back(entry_text(e, now)); });
  check(entries.size() == keys.size(), "after a walk the keyspace holds only the keys it visited");
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const std::string& e : entries) out += e + '\n';
  return out;
}

// ---- the store ------------------------------------------------------------------------

struct FakeClient {
  kv::PopWaiter waiter;
  bool parked = false;
  std::int64_t parked_at = 0;
  int wakes = 0;  // since it parked
};

// One store, its two clients, and its log file as weft-kv's writer and
// rewriter make it.
class Session {
 public:
  Session() {
    store_.journal().set_enabled(true);
    store_.set_time(now_);
    for (FakeClient& c : clients_) c.waiter.wake = [&c] { ++c.wakes; };
  }

  void run(std::span<const std::string_view> args);
  void finish();

 private:
  enum class End : std::uint8_t { answered, timed_out, hung_up };
  void end_wait(FakeClient& c, End how);
  void background();
  void hand_over();
  std::size_t waiting() const;

  kv::Store store_;
  std::int64_t now_ = kStartMs;
  FakeClient clients_[2];
  std::uint64_t commands_ = 0;
  std::string file_;  // the append-only file
  bool rewriting_ = false;
  bool walked_ = false;   // the rewrite's snapshot is complete
  std::string new_file_;  // the rewrite's file, until the handover
};

std::size_t Session::waiting() const {
  std::size_t n = 0;
  for (const FakeClient& c : clients_) n += c.parked && !c.waiter.served ? 1 : 0;
  return n;
}

// As examples/kv/server.cc's park() ends: a served client replies (or,
// gone, gives the value back); an unserved one leaves the queues.
void Session::end_wait(FakeClient& c, End how) {
  check(c.waiter.served == (c.wakes == 1), "a served client was woken, once");
  if (c.waiter.served) {
    if (how == End::hung_up) {
      store_.give_back(c.waiter);
      check(!c.waiter.served, "a value given back is no longer the client's");
    } else {
      c.waiter.served = false;
    }
  } else {
    store_.unblock(c.waiter);
  }
  c.parked = false;
}

void Session::run(std::span<const std::string_view> args) {
  ++now_;
  store_.set_time(now_);
  for (FakeClient& c : clients_) {
    if (c.parked && !c.waiter.served && c.waiter.timeout_ms > 0 &&
        now_ - c.parked_at >= c.waiter.timeout_ms)
      end_wait(c, End::timed_out);
  }
  const std::string_view name = args[0];
  FakeClient& c = clients_[!name.empty() && name[0] >= 'a' && name[0] <= 'z' ? 1 : 0];
  if (c.parked) {
    const bool quit = kv::iequals(name, "quit");
    end_wait(c, quit ? End::hung_up : c.waiter.served ? End::answered : End::timed_out);
    if (quit) {
      background();
      return;  // its peer is gone: the QUIT is not run
    }
  }
  kv::Reply reply;
  const std::uint64_t appended = store_.journal().appended();
  const kv::After after = store_.execute(args, reply, {}, kv::Client{.waiter = &c.waiter});
  check_reply(name, reply.bytes(), after);
  const kv::CommandSpec* spec = spec_of(name);
  const bool recorded = store_.journal().appended() != appended;
  if (!reply.bytes().empty() && reply.bytes()[0] == '-')
    check(!recorded, "a command that failed records nothing");
  if (spec == nullptr || (spec->flags & kv::kWrite) == 0)
    check(!recorded, "a command that is not a write records nothing");
  if (after == kv::After::block) {
    c.parked = true;
    c.parked_at = now_;
    c.wakes = 0;
  }
  check(store_.blocked() == waiting(), "the store counts the clients that wait unserved");
  for (FakeClient& other : clients_) {
    if (other.parked)
      check(other.waiter.served == (other.wakes == 1), "a served client was woken, once");
  }
  if (++commands_ % 8 == 0) (void)store_.sweep_expired(2);
  background();
}

// What the rewriter and the writer fibers do between two commands.
void Session::background() {
  kv::Journal& j = store_.journal();
  if (!rewriting_ && j.rewrite_requested()) {
    j.begin_rewrite(store_.keys(), now_);
    rewriting_ = true;
    walked_ = false;
    new_file_.clear();
  } else if (rewriting_) {
    if (!walked_) {
      walked_ = j.dump_step(store_.keys(), now_, kDumpStep);
      new_file_ += j.take_snapshot();
    } else if (commands_ % 2 == 0) {
      new_file_ += j.take_tail();  // a tail too large to hand over yet
    } else {
      hand_over();
    }
  }
  // The writer's round: what was recorded since the last, to the file.
  file_ += std::exchange(j.pending(), std::string());
}

// The rewrite is done: the writer goes on in the new file, and its next
// round writes the rest of the tail there.
void Session::hand_over() {
  kv::Journal& j = store_.journal();
  j.finish_rewrite();
  j.clear_rewrite_request();
  file_ = std::exchange(new_file_, std::string());
  rewriting_ = false;
}

void Session::finish() {
  for (FakeClient& c : clients_) {
    if (c.parked) end_wait(c, c.waiter.served ? End::answered : End::timed_out);
  }
  kv::Journal& j = store_.journal();
  if (rewriting_) {
    while (!walked_) {
      walked_ = j.dump_step(store_.keys(), now_, kDumpStep);
      new_file_ += j.take_snapshot();
    }
    hand_over();
  }
  file_ += std::exchange(j.pending(), std::string());

  kv::Store replayed;
  const kv::LogReplay r = kv::replay_log(file_, replayed);
  check(r.error.empty(), "the log replays without error");
  check(r.consumed == file_.size(), "the log replays to its end");
  check(r.failed == 0, "no logged command fails on replay");
  check(state_of(store_.keys(), now_) == state_of(replayed.keys(), now_),
        "the log rebuilds the store");
}

void fuzz_store(const std::vector<Event>& events) {
  Session session;
  std::size_t run = 0;
  std::vector<std::string_view> args;
  for (const Event& e : events) {
    if (e.kind != Kind::command || e.args.empty() || e.args.size() > kMaxArgs) continue;
    if (std::any_of(e.args.begin(), e.args.end(),
                    [](const std::string& a) { return a.size() > kMaxArgBytes; }))
      continue;
    if (++run > kMaxCommands) break;
    args.assign(e.args.begin(), e.args.end());
    session.run(args);
  }
  session.finish();
}

}  // namespace
}  // namespace weft::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  const std::size_t split = size == 0 ? 0 : data[0] * (size + 1) / 256;
  const std::vector<weft::fuzz::Event> events =
      weft::fuzz::fuzz_parser(stream, split, weft::kv::Limits{});
  (void)weft::fuzz::fuzz_parser(stream, split, weft::fuzz::kTightLimits);
  weft::fuzz::fuzz_store(events);
  return 0;
}
