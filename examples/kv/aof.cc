#include "examples/kv/aof.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <utility>

#include "examples/kv/text.h"

namespace weft::kv {
namespace {

constexpr std::size_t kDumpStep = 256;            // keys dumped per step under the lock
constexpr std::size_t kHandoverTail = 64u << 10;  // the tail left for the writer at most
constexpr auto kRetry = std::chrono::seconds(1);  // a failed write is tried again after
constexpr auto kRewriteBackoff = std::chrono::seconds(10);  // no automatic rewrite after a failed one

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
}

// A rename made durable: the directory entry synced too.
Result<void> sync_directory(const std::string& path) {
  auto dir = fs::File::open(directory_of(path), O_RDONLY | O_DIRECTORY);
  if (!dir) return dir.error();
  return dir->fsync();
}

}  // namespace

LogReplay replay_log(std::string_view log, Store& store) {
  LogReplay r;
  Command command;
  Reply scratch;
  std::size_t& pos = r.consumed;
  while (pos < log.size() && r.error.empty()) {
    const std::string_view rest = log.substr(pos);
    if (rest[0] == '#') {
      const std::size_t eol = rest.find("\r\n");
      if (eol == std::string_view::npos) break;  // cut inside the line
      std::int64_t t = 0;
      if (rest.substr(0, 3) != "#T " || !parse_int64(rest.substr(3, eol - 3), &t) || t <= 0) {
        r.error = "a line beginning with '#' that is not a time";
        break;
      }
      store.set_time(t);
      pos += eol + 2;
      continue;
    }
    if (rest[0] != '*') {
      r.error = "a record that is not a RESP array";
      break;
    }
    const ParseResult p = parse_command(rest, command);
    if (p.kind == ParseResult::Kind::need_more) break;
    if (p.kind == ParseResult::Kind::error) {
      r.error = protocol_error_text(p);
      break;
    }
    if (!command.args.empty()) {
      scratch.clear();
      (void)store.execute(command.args, scratch);
      ++r.commands;
      if (!scratch.bytes().empty() && scratch.bytes()[0] == '-') ++r.failed;
    }
    pos += p.consumed;
  }
  store.set_time(0);
  return r;
}

AppendOnlyFile::AppendOnlyFile(Mutex& mutex, Store& store, AofOptions options)
    : mutex_(mutex), store_(store), options_(std::move(options)) {
  path_ = options_.dir + "/" + options_.filename;
  rewrite_path_ = path_ + ".rewrite";
}

AppendOnlyFile::~AppendOnlyFile() {
  if (writer_ || rewriter_) {
    std::fprintf(stderr, "weft-kv: AppendOnlyFile destroyed before stop()\n");
    std::abort();
  }
}

Result<AofLoad> AppendOnlyFile::open() {
  (void)fs::remove(rewrite_path_);  // a crash's unfinished rewrite
  std::string content;
  if (auto bytes = fs::read_file(path_)) {
    content = std::move(*bytes);
  } else if (bytes.error() != std::errc::no_such_file_or_directory) {
    return Error(bytes.error().code(), "read " + path_);
  }
  std::unique_lock<Mutex> hold(mutex_);
  Journal& journal = store_.journal();
  journal.set_enabled(false);
  const LogReplay replayed = replay_log(content, store_);
  hold.unlock();
  if (!replayed.error.empty()) {
    return Error(make_error_code(std::errc::invalid_argument),
                 path_ + ": not an append-only file of weft-kv at byte " + std::to_string(replayed.consumed) +
                     " (" + replayed.error + ")");
  }
  AofLoad load;
  load.commands = replayed.commands;
  load.failed = replayed.failed;
  load.bytes = replayed.consumed;
  load.truncated = content.size() - replayed.consumed;
  const std::uint64_t pos = replayed.consumed;

  auto f = fs::File::open(path_, O_WRONLY | O_CREAT, 0644);
  if (!f) return Error(f.error().code(), "open " + path_);
  if (load.truncated > 0) {
    // Startup only, once: a plain call is fine here.
    if (::ftruncate(f->native_handle(), static_cast<off_t>(pos)) != 0)
      return Error(errno_error(errno), "truncate " + path_);
    std::fprintf(stderr,
                 "weft-kv: %s: the last %llu bytes were an incomplete record (written when the server "
                 "stopped without a clean shutdown); cut off\n",
                 path_.c_str(), static_cast<unsigned long long>(load.truncated));
  }
  file_ = std::move(*f);
  offset_ = base_size_ = pos;
  hold.lock();
  journal.set_enabled(true);
  journal.set_on_append([this] { work_.notify_one(); });
  journal.set_on_rewrite_request([this] { rewrite_.notify_one(); });
  written_ = synced_ = journal.appended();
  durable_.store(written_, std::memory_order_release);
  return load;
}

void AppendOnlyFile::start() {
  writer_.emplace(spawn([this] { write_loop(); }, {.name = "kv-aof-write"}));
  rewriter_.emplace(spawn([this] { rewrite_loop(); }, {.name = "kv-aof-rewrite"}));
}

std::uint64_t AppendOnlyFile::durable() const {
  return options_.fsync == Fsync::always ? synced_ : written_;
}

bool AppendOnlyFile::wait(std::uint64_t seq, CancelToken* cancel) {
  if (durable_.load(std::memory_order_acquire) >= seq) return true;
  std::unique_lock<Mutex> hold(mutex_);
  (void)done_.wait(hold, [&] { return durable() >= seq || failed_; }, {.cancel = cancel});
  return durable() >= seq;
}

void AppendOnlyFile::stop() {
  {
    std::lock_guard<Mutex> hold(mutex_);
    stopping_ = true;
    work_.notify_one();
    rewrite_.notify_one();
  }
  if (rewriter_) rewriter_->join();
  if (writer_) writer_->join();
  rewriter_.reset();
  writer_.reset();
  std::lock_guard<Mutex> hold(mutex_);
  Journal& journal = store_.journal();
  journal.set_on_append(nullptr);
  journal.set_on_rewrite_request(nullptr);
  // Nothing is written any more: a command that still runs is not
  // recorded, and a wait for what is not yet durable fails.
  journal.set_enabled(false);
  failed_ = true;
  done_.notify_all();
}

void AppendOnlyFile::fail(const Error& e, const char* what) {
  counters_.errors.fetch_add(1, std::memory_order_relaxed);
  if (!failed_) std::fprintf(stderr, "weft-kv: %s %s: %s\n", what, path_.c_str(), e.message().c_str());
  failed_ = true;
  store_.journal().set_failure("MISCONF Errors writing to the AOF file: " + std::error_code(e).message());
  done_.notify_all();
}

void AppendOnlyFile::maybe_rewrite() {
  if (options_.rewrite_percentage == 0 || offset_ < options_.rewrite_min_size) return;
  if (Clock::now() < no_auto_rewrite_until_) return;  // the last one failed: not every round
  if (offset_ - base_size_ < base_size_ / 100 * options_.rewrite_percentage) return;
  (void)store_.journal().request_rewrite();
}

Result<void> AppendOnlyFile::write_batch(const std::string& batch, bool sync) {
  if (!batch.empty()) {
    if (auto w = file_.write_all_at(ConstBuffer(batch.data(), batch.size()), offset_); !w) return w;
    counters_.writes.fetch_add(1, std::memory_order_relaxed);
  }
  if (sync) {
    if (auto s = file_.fsync(true); !s) return s;
    counters_.fsyncs.fetch_add(1, std::memory_order_relaxed);
  }
  offset_ += batch.size();
  return {};
}

Result<void> AppendOnlyFile::switch_to(Handover& h, const std::string& batch) {
  if (auto w = h.file.write_all_at(ConstBuffer(batch.data(), batch.size()), h.offset); !w) return w;
  if (auto s = h.file.fsync(); !s) return s;
  if (auto r = fs::rename(rewrite_path_, path_); !r) return r;
  if (auto d = sync_directory(path_); !d) return d;
  counters_.writes.fetch_add(1, std::memory_order_relaxed);
  counters_.fsyncs.fetch_add(2, std::memory_order_relaxed);
  counters_.rewrites.fetch_add(1, std::memory_order_relaxed);
  file_ = std::move(h.file);
  offset_ = base_size_ = h.offset + batch.size();
  return {};
}

void AppendOnlyFile::write_loop() {
  Journal& journal = store_.journal();
  const bool everysec = options_.fsync == Fsync::everysec;
  std::string batch;
  std::unique_lock<Mutex> hold(mutex_);
  Deadline next_sync = everysec ? after(std::chrono::seconds(1)) : kNoDeadline;
  for (;;) {
    const Deadline until = failed_ ? after(kRetry) : next_sync;
    (void)work_.wait(
        hold, [&] { return !journal.pending().empty() || handover_.has_value() || stopping_; },
        {.deadline = until});
    const bool work = !journal.pending().empty() || handover_.has_value();
    if (!work && !stopping_ && !failed_ && !(everysec && Clock::now() >= next_sync)) continue;
    // A round: everything appended so far, to the file (or the new one).
    batch.clear();
    batch.swap(journal.pending());
    const std::uint64_t end = journal.appended();
    std::optional<Handover> h = std::exchange(handover_, std::nullopt);
    if (h) switching_ = true;
    // everysec syncs when its second is up; a stop syncs whatever the policy.
    const bool sync = options_.fsync == Fsync::always || (everysec && Clock::now() >= next_sync) ||
                      (stopping_ && !work);
    hold.unlock();
    Result<void> r = h ? switch_to(*h, batch) : write_batch(batch, sync && (synced_ < end || !batch.empty()));
    hold.lock();
    switching_ = false;
    if (!r) {
      // Put the round back, in front of what came since, and try again;
      // unless a rewrite handed over meanwhile: its file holds the round
      // (in its snapshot or its tail) and pending() now goes there.
      fail(r.error(), h ? "rewrite: switching to the new" : sync ? "write and sync" : "write");
      if (h || !handover_) journal.pending().insert(0, batch);
      if (h) handover_ = std::move(h);
      if (stopping_) break;  // nothing more will be asked: give up
      continue;
    }
    if (failed_) {
      failed_ = false;
      journal.set_failure("");
      std::fprintf(stderr, "weft-kv: writing %s works again\n", path_.c_str());
    }
    written_ = end;
    if (sync || h) synced_ = end;
    if (h) rewrite_.notify_one();  // a rewrite asked for meanwhile may begin
    if (everysec && sync) next_sync = after(std::chrono::seconds(1));
    durable_.store(durable(), std::memory_order_release);
    done_.notify_all();
    maybe_rewrite();
    if (stopping_ && journal.pending().empty() && !handover_ && synced_ == written_) break;
  }
}

void AppendOnlyFile::rewrite_loop() {
  std::unique_lock<Mutex> hold(mutex_);
  for (;;) {
    // Not while the last rewrite's file waits for the writer to finish it,
    // nor while the writer switches to it: the next one would open (and
    // truncate) the same path, and the writer's rename would then move the
    // new rewrite's file (the old one's bytes cut) over the log.
    (void)rewrite_.wait(hold, [&] {
      return (store_.journal().rewrite_requested() && !handover_ && !switching_) || stopping_;
    });
    if (stopping_) return;
    hold.unlock();
    rewrite();
    hold.lock();
  }
}

void AppendOnlyFile::rewrite() {
  Journal& journal = store_.journal();
  auto give_up = [&](const Error* e) {
    {
      std::lock_guard<Mutex> hold(mutex_);
      journal.abandon_rewrite();
      journal.clear_rewrite_request();
      if (e != nullptr) no_auto_rewrite_until_ = after(kRewriteBackoff);
    }
    (void)fs::remove(rewrite_path_);
    if (e != nullptr) {
      counters_.errors.fetch_add(1, std::memory_order_relaxed);
      std::fprintf(stderr, "weft-kv: rewrite of %s failed: %s\n", path_.c_str(), e->message().c_str());
    }
  };
  auto f = fs::File::open(rewrite_path_, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!f) {
    const Error e(f.error().code(), "open " + rewrite_path_);
    return give_up(&e);
  }
  {
    std::lock_guard<Mutex> hold(mutex_);
    journal.begin_rewrite(store_.keys(), store_.now());
  }
  std::uint64_t offset = 0;
  auto write = [&](const std::string& chunk) {
    auto w = f->write_all_at(ConstBuffer(chunk.data(), chunk.size()), offset);
    offset += chunk.size();
    return w;
  };
  // The snapshot, a step at a time.
  for (bool walked = false; !walked;) {
    std::string chunk;
    bool stop_now = false;
    {
      std::lock_guard<Mutex> hold(mutex_);
      stop_now = stopping_;
      if (!stop_now) {
        walked = journal.dump_step(store_.keys(), store_.now(), kDumpStep);
        chunk = journal.take_snapshot();
      }
    }
    if (stop_now) return give_up(nullptr);  // (it takes the lock itself)
    if (auto w = write(chunk); !w) return give_up(&w.error());
  }
  // The tail, until what is left is small; then the writer finishes it.
  for (;;) {
    std::string chunk;
    bool stop_now = false;
    {
      std::lock_guard<Mutex> hold(mutex_);
      stop_now = stopping_;
      if (!stop_now && journal.tail_size() <= kHandoverTail) {
        journal.finish_rewrite();
        journal.clear_rewrite_request();
        handover_ = Handover{std::move(*f), offset};
        work_.notify_one();
        return;
      }
      if (!stop_now) chunk = journal.take_tail();
    }
    if (stop_now) return give_up(nullptr);
    if (auto w = write(chunk); !w) return give_up(&w.error());
  }
}

}  // namespace weft::kv
