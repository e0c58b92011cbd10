// The key-value service's append-only file: the journal (journal.h) written
// through the ring, made durable as `appendfsync` says, replayed at start and
// rewritten (compacted) in the background while the service goes on.
//
//   AppendOnlyFile aof(db.mutex, db.store, {.enabled = true, .fsync = Fsync::always});
//   Result<AofLoad> loaded = aof.open();   // replays; before serving
//   aof.start();                           // the writer and the rewriter
//   ... a connection, after a write command: aof.wait(seq) before replying
//   aof.stop();                            // once no connection is left
//
// Durability. A connection that ran a write command holds its replies until
// wait(seq) for the journal's appended() after that command returns:
//   always    the record is written and fdatasync'd: acknowledged means on
//             the disk (a power cut loses nothing acknowledged);
//   everysec  the record is written to the file (a killed process loses
//             nothing acknowledged), and fdatasync'd once a second (a power
//             cut loses at most about a second);
//   no        written, and the kernel flushes when it likes.
// This is what redis-server promises for the same settings. One writer
// fiber owns the file and does group commit: each round takes every record
// appended since the last (from every connection), writes them in one
// operation and, with `always`, syncs once; every connection waiting for a
// record in that batch is woken together. So a pipeline of commands, or many
// clients at once, cost one write and one fsync a round, not one each.
//
// Rewrite. On BGREWRITEAOF, or when the file has grown by
// rewrite_percentage since the last rewrite (and is at least
// rewrite_min_size), the rewriter fiber builds `<file>.rewrite`: the
// snapshot, a few hundred keys at a time under the store's lock (each step
// is short: the service goes on between steps), then the tail of records
// made since it began (journal.h explains why the two together are exact).
// When the tail left is small it hands the file to the writer, whose next
// round writes the rest, syncs it, renames it over the file and syncs the
// directory: before the rename the old file is whole, after it the new one.
// After a rewrite that failed, none starts by itself for 10 s (BGREWRITEAOF
// still may), so that a directory that refuses the new file is not retried
// every round.
//
// Start. open() replays the file with the store's clock set to each
// record's time. A file that ends inside a record (a crash while it was
// written; nothing in it was acknowledged) is cut back to the last whole
// record, with a warning, as redis-server's aof-load-truncated does. A file
// that is not the log's format stops the start with an error naming the
// file and the byte. A `<file>.rewrite` left by a crash is removed.
//
// Failures. A write or fsync that fails is retried every second; until it
// succeeds, write commands are refused ("MISCONF Errors writing to the AOF
// file: ...", as redis-server says) and wait() returns false for what is
// not yet durable (the connection closes without acknowledging it). A
// rewrite that fails leaves the old file in use and says why on stderr.
//
// Thread rules: every call on a fiber; the store's mutex (`mutex`) guards
// the journal and the state shared by the writer, the rewriter and wait().
// open() before start(), stop() last, each once.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <weft/weft.h>

#include "examples/kv/store.h"

namespace weft::kv {

enum class Fsync : std::uint8_t { always, everysec, no };

struct AofOptions {
  bool enabled = false;
  Fsync fsync = Fsync::everysec;
  std::string dir = ".";
  std::string filename = "appendonly.aof";
  // Rewrite by itself once the file is this much larger (in percent) than
  // after the last rewrite (or the start), and at least rewrite_min_size;
  // 0 percent: only on BGREWRITEAOF.
  unsigned rewrite_percentage = 100;
  std::uint64_t rewrite_min_size = 64u << 20;
};

// What open() found.
struct AofLoad {
  std::uint64_t commands = 0;   // replayed
  std::uint64_t bytes = 0;      // of the file, after any cut
  std::uint64_t truncated = 0;  // bytes of an incomplete last record, cut off
  std::uint64_t failed = 0;     // replayed commands that replied an error (should be none)
};

// Replays a log's records into `store` (whose journal should be off), each
// at its time; the store's clock is the system's again after. Stops at the
// end, at an incomplete last record (consumed < log.size(), no error), or
// at bytes that are not the format (error says what; consumed is where).
struct LogReplay {
  std::uint64_t commands = 0;
  std::uint64_t failed = 0;   // replied an error
  std::size_t consumed = 0;   // bytes of whole records
  std::string error;
};
LogReplay replay_log(std::string_view log, Store& store);

// What the file did, for INFO-like reports and tests (relaxed, any thread).
struct AofCounters {
  std::atomic<std::uint64_t> writes{0};     // write operations (one per round)
  std::atomic<std::uint64_t> fsyncs{0};
  std::atomic<std::uint64_t> rewrites{0};   // completed
  std::atomic<std::uint64_t> errors{0};     // failed writes, fsyncs and rewrites
};

class AppendOnlyFile {
 public:
  AppendOnlyFile(Mutex& mutex, Store& store, AofOptions options);
  ~AppendOnlyFile();
  AppendOnlyFile(const AppendOnlyFile&) = delete;
  AppendOnlyFile& operator=(const AppendOnlyFile&) = delete;

  // Replays the file into the store (an empty one if there is none), opens
  // it for appending and enables the store's journal.
  Result<AofLoad> open();
  // Spawns the writer and the rewriter.
  void start();
  // Waits until the records up to `seq` (Journal::appended()) are as
  // durable as the policy says; false if writing failed first, or if
  // `cancel` (the stop's cut, so that a failing disk cannot hold the stop
  // up) was cancelled first.
  bool wait(std::uint64_t seq, CancelToken* cancel = nullptr);
  // Writes and syncs what is left, abandons a rewrite under way, ends both
  // fibers. No command may run after it.
  void stop();

  const std::string& path() const { return path_; }
  const AofCounters& counters() const { return counters_; }

 private:
  struct Handover {
    fs::File file;
    std::uint64_t offset = 0;  // the snapshot and the tail written so far
  };

  void write_loop();
  void rewrite_loop();
  void rewrite();
  // One round's I/O, outside the lock.
  Result<void> write_batch(const std::string& batch, bool sync);
  Result<void> switch_to(Handover& h, const std::string& batch);
  std::uint64_t durable() const;
  void fail(const Error& e, const char* what);  // under the lock
  void maybe_rewrite();                         // under the lock

  Mutex& mutex_;
  Store& store_;
  const AofOptions options_;
  std::string path_, rewrite_path_;
  fs::File file_;              // the writer's, once started
  std::uint64_t offset_ = 0;   // its size
  std::uint64_t base_size_ = 0;  // its size after the last rewrite (or the start)
  // Guarded by mutex_:
  std::uint64_t written_ = 0, synced_ = 0;  // appended() of the last batch written, synced
  bool failed_ = false;
  bool stopping_ = false;
  Deadline no_auto_rewrite_until_{};  // after a failed rewrite, none by itself until then
  std::optional<Handover> handover_;
  // The writer took a handover and is switching to its file (writing its
  // tail, syncing, renaming it over the log): the file is still at
  // rewrite_path_, so no rewrite may begin (its open would truncate it).
  bool switching_ = false;
  std::atomic<std::uint64_t> durable_{0};  // durable(), readable without the lock
  CondVar work_;     // the writer waits for records, a handover or the stop
  CondVar done_;     // wait() waits for a round to end
  CondVar rewrite_;  // the rewriter waits for a request or the stop
  std::optional<JoinHandle<void>> writer_, rewriter_;
  AofCounters counters_;
};

}  // namespace weft::kv
