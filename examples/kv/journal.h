// The append-only log's content: what the store (store.h) writes down of
// every change, and the snapshot a rewrite compacts it into. Pure: it
// builds bytes in memory; examples/kv/aof.h writes them to the file (through
// the ring), waits for fsync and replays the file at start.
//
// Format. The file is what redis-server's AOF is, RESP arrays of bulk
// strings, one per command that changed the store, plus lines of the form
//   #T <ms since the epoch>\r\n
// each saying at what time the commands after it ran (written only when the
// time changed). Replay sets the store's clock to that time before each
// command, so that every relative expiry (EXPIRE 10, SET ... EX 10) and
// every lazy expiry a command met happens again exactly as it did: nothing
// is rewritten into absolute form, and no DEL is logged for a key found
// expired. What is not a function of the store and the time is logged as
// its effect instead: SPOP as the SREM of the members it popped, a value a
// push handed to a parked BLPOP/BRPOP as LPOP/RPOP of that key, a value given
// back by a client that left as LPUSH/RPUSH. A command that failed (an error
// reply) or parked (BLPOP with nothing to pop) is not logged; one that
// changed nothing (SET ... NX on an existing key) may be: replaying it
// changes nothing either.
//
// Sequence numbers. appended() counts every byte ever recorded, whatever
// file it went to; a writer that took pending() up to appended() == N and
// made it durable has made durable every command whose record ended at or
// before N (aof.h's wait()).
//
// Rewrite (compaction), without stopping the service: begin_rewrite() at
// time t0 starts a new epoch. From then on the new file is built of
//   - the snapshot: every key as it was at t0, as the commands that rebuild
//     it (SET, RPUSH, HSET, SADD, ZADD in chunks, PEXPIREAT), under "#T t0";
//   - the tail: every record made since t0, in order, as pending() gets it.
// The snapshot is taken lazily, key by key, with copy-on-write at key
// granularity: dump_step() walks the keyspace (a SCAN, which sees every key
// present for the whole walk) and dumps each key not yet dumped in this
// epoch; a command about to change a key first calls before_change(), which
// dumps that key's t0 state if the walk has not reached it yet. A key
// created after t0 is born in the new epoch (Keyspace::put) and never
// dumped: the tail creates it. So each key is in the snapshot once, as it
// was at t0, and the tail replays exactly the changes after t0. A key that
// expires before the walk reaches it and that no command touched is left
// out: it would be gone at every time after t0 that replay meets it. A
// FLUSHDB during the rewrite ends the walk: whatever the snapshot misses,
// the tail's FLUSHDB erases.
//
// Thread rules: none of its own; the store's owner lock serializes every
// call (server.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "examples/kv/keyspace.h"

namespace weft::kv {

// Appends the RESP array of `args` to `out`.
void append_resp_command(std::string& out, std::span<const std::string_view> args);

// Appends commands that rebuild `e` (as of now) to `out`.
void append_entry_commands(std::string& out, const Entry& e);

class Journal {
 public:
  // Off until enabled (the store used alone, weft-kv without --appendonly,
  // or while the file is replayed).
  bool enabled() const { return enabled_; }
  void set_enabled(bool on) { enabled_ = on; }

  // A command that changed the store at `now` (already applied).
  void record(std::span<const std::string_view> args, std::int64_t now);
  void record(std::initializer_list<std::string_view> args, std::int64_t now) {
    record(std::span<const std::string_view>(args.begin(), args.size()), now);
  }

  // The bytes recorded and not yet taken by the writer. The writer swaps a
  // buffer of its own in (keeping the capacity around).
  std::string& pending() { return pending_; }
  std::uint64_t appended() const { return appended_; }
  // The writer is told when pending() stops being empty.
  void set_on_append(std::function<void()> f) { on_append_ = std::move(f); }

  // Writing failed (aof.h): write commands are refused with this text
  // ("MISCONF ..."), until cleared.
  const std::string& failure() const { return failure_; }
  void set_failure(std::string text) { failure_ = std::move(text); }

  // ---- rewrite (see the top of this file) ----
  bool rewriting() const { return rewriting_; }
  void begin_rewrite(Keyspace& keys, std::int64_t t0);
  // Dumps `key`'s state into the snapshot if it was not yet dumped in this
  // epoch (before a command changes it).
  void before_change(Keyspace& keys, std::string_view key, std::int64_t now);
  // FLUSHDB while rewriting: the walk is over.
  void flushed() { walk_done_ = true; }
  // Dumps about `count` more keys; true once the walk is over.
  bool dump_step(Keyspace& keys, std::int64_t now, std::size_t count);
  // The snapshot's and the tail's bytes built since the last take.
  std::string take_snapshot();
  std::string take_tail();
  std::size_t tail_size() const { return tail_.size(); }
  // The rewrite is over: the rest of the tail becomes pending() (whose
  // records are all in the tail, written to the new file or in this rest),
  // so that the writer's next batch, to the new file, completes it.
  void finish_rewrite();
  // The rewrite failed or was abandoned: the old file goes on.
  void abandon_rewrite();

  // BGREWRITEAOF: false if one is already under way (or asked for).
  bool request_rewrite();
  bool rewrite_requested() const { return rewrite_requested_; }
  void clear_rewrite_request() { rewrite_requested_ = false; }
  void set_on_rewrite_request(std::function<void()> f) { on_rewrite_request_ = std::move(f); }

 private:
  static void mark_time(std::string& out, std::int64_t* last, std::int64_t now);

  bool enabled_ = false;
  std::string pending_;
  std::uint64_t appended_ = 0;
  std::int64_t pending_time_ = 0;  // the last "#T" in pending()'s stream
  std::function<void()> on_append_;
  std::string failure_;

  bool rewriting_ = false;
  bool rewrite_requested_ = false;
  bool walk_done_ = false;
  std::uint64_t cursor_ = 0;
  std::uint32_t epoch_ = 0;
  std::string snapshot_;
  std::string tail_;
  std::int64_t tail_time_ = 0;
  std::function<void()> on_rewrite_request_;
};

}  // namespace weft::kv
