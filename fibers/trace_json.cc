// The trace's JSON writer: Chrome's trace-event format, as Perfetto and
// chrome://tracing read it (trace_buffer.h has the records).
//
// How records become events, per thread's buffer (one track, tid):
//   - a worker's track is tiled with complete ("X") slices: a fiber's run,
//     named after it, or "scheduler" for the worker's own context, from one
//     switch to the next; "idle" slices nest where it slept;
//   - a wake or spawn is a flow start ("s") inside the slice that did it, and
//     the flow's end ("f") comes just before the fiber's next run, bound to
//     the next slice; a thread with no slice open (the monitor, a plain
//     thread) gets a one-nanosecond "wake" slice to hold the start;
//   - a steal is a flow from the victim's track to an instant mark on the
//     thief's;
//   - I/O operations are nestable async spans ("b"/"e", category "io");
//   - a hog is an instant mark ("i") on its worker's track.
// Flow starts bind to the slice around them, so every timestamp on a track
// goes through a cursor that keeps them strictly increasing (by at least a
// nanosecond): a flow's start, and nested slices, fall inside their slice,
// and a flow's end before its run's slice, even when the clock read the
// same time twice.
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>

#include <weft/fibers/trace_buffer.h>

extern char* program_invocation_short_name;

namespace weft::fibers::trace::detail {
namespace {

using Names = std::unordered_map<std::uint64_t, std::string>;

std::string record_text(const Record& r) {
  char text[sizeof(Record) + 1] = {};
  std::memcpy(text, &r, sizeof(Record));
  return std::string(text);
}

// Valid UTF-8 passes; control characters, quotes and backslashes are
// escaped; a byte that does not start a valid sequence becomes U+FFFD (a
// name cut at 31 bytes may end inside a character).
void put_json_string(std::FILE* out, const std::string& s) {
  std::fputc('"', out);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      std::fputc('\\', out);
      std::fputc(c, out);
      ++i;
    } else if (c < 0x20) {
      std::fprintf(out, "\\u%04x", c);
      ++i;
    } else if (c < 0x80) {
      std::fputc(c, out);
      ++i;
    } else {
      // Well-formed sequences only (Unicode's table 3-7): no overlong forms,
      // no surrogates, nothing above U+10FFFF.
      const std::size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
      bool ok = len != 0 && i + len <= n;
      if (ok) {
        const unsigned char c1 = p[i + 1];
        const unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        const unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        ok = c1 >= lo && c1 <= hi;
      }
      for (std::size_t k = 2; ok && k < len; ++k) ok = (p[i + k] & 0xc0) == 0x80;
      if (ok) {
        std::fwrite(p + i, 1, len, out);
        i += len;
      } else {
        std::fputs("\\ufffd", out);
        ++i;
      }
    }
  }
  std::fputc('"', out);
}

class Writer {
 public:
  Writer(std::FILE* out, int pid) : out_(out), pid_(pid) {}

  void begin_file() {
    // "ts" is always in microseconds; displayTimeUnit only says how to show
    // it, but chrome://tracing also compares slice bounds at that unit's
    // precision, and slices a nanosecond apart must not look nested there.
    std::fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", out_);
    event_open("M", 0, 0);
    std::fputs(",\"name\":\"process_name\",\"args\":{\"name\":", out_);
    put_json_string(out_, std::string("weft: ") + program_invocation_short_name);
    std::fputs("}}", out_);
  }

  void end_file(std::uint64_t dropped) {
    std::fprintf(out_, "\n],\"otherData\":{\"generator\":\"weft\",\"dropped_records\":%" PRIu64 "}}\n",
                 dropped);
  }

  void thread_name(std::uint32_t tid, const std::string& name) {
    event_open("M", tid, 0);
    std::fputs(",\"name\":\"thread_name\",\"args\":{\"name\":", out_);
    put_json_string(out_, name);
    std::fputs("}}", out_);
    event_open("M", tid, 0);
    std::fprintf(out_, ",\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":%u}}", tid);
  }

  void slice(std::uint32_t tid, std::uint64_t start, std::uint64_t end, const std::string& name,
             const char* cat, std::uint64_t fiber) {
    event_open("X", tid, start);
    std::fputs(",\"dur\":", out_);
    put_time(end - start);
    name_cat(name, cat);
    if (fiber != 0) std::fprintf(out_, ",\"args\":{\"fiber\":%" PRIu64 "}", fiber);
    std::fputc('}', out_);
  }

  // A flow's start ("s", bound to the slice around it) or end ("f": bound to
  // the slice around it with `enclosing`, else to the next slice).
  void flow(const char* ph, std::uint32_t tid, std::uint64_t ts, std::uint64_t id,
            bool enclosing = true) {
    static const char* const kNames[] = {"wake", "spawn", "steal", "flow"};
    event_open(ph, tid, ts);
    name_cat(kNames[id & 3], "flow");
    std::fprintf(out_, ",\"id\":%" PRIu64, id);
    if (ph[0] == 'f' && enclosing) std::fputs(",\"bp\":\"e\"", out_);
    std::fputc('}', out_);
  }

  void instant(std::uint32_t tid, std::uint64_t ts, const std::string& name, const char* cat,
               const std::string& args_json) {
    event_open("i", tid, ts);
    name_cat(name, cat);
    std::fputs(",\"s\":\"t\"", out_);
    if (!args_json.empty()) std::fprintf(out_, ",\"args\":{%s}", args_json.c_str());
    std::fputc('}', out_);
  }

  void async(const char* ph, std::uint32_t tid, std::uint64_t ts, const char* name,
             std::uint64_t id, const char* arg, std::int64_t value) {
    event_open(ph, tid, ts);
    name_cat(name, "io");
    std::fprintf(out_, ",\"id\":%" PRIu64 ",\"args\":{\"%s\":%" PRId64 "}}", id, arg, value);
  }

 private:
  void put_time(std::uint64_t ns) {
    std::fprintf(out_, "%" PRIu64 ".%03u", ns / 1000, static_cast<unsigned>(ns % 1000));
  }
  void event_open(const char* ph, std::uint32_t tid, std::uint64_t ts) {
    std::fputs(first_ ? "" : ",\n", out_);
    first_ = false;
    std::fprintf(out_, "{\"ph\":\"%s\",\"pid\":%d,\"tid\":%u,\"ts\":", ph, pid_, tid);
    put_time(ts);
  }
  void name_cat(const std::string& name, const char* cat) {
    std::fputs(",\"name\":", out_);
    put_json_string(out_, name);
    std::fprintf(out_, ",\"cat\":\"%s\"", cat);
  }

  std::FILE* out_;
  int pid_;
  bool first_ = true;
};

// One buffer's records as events on its track.
class Track {
 public:
  Track(Writer& w, const Buffer& b, const Names& names, const Registry& clock)
      : w_(w), b_(b), names_(names), clock_(clock) {}

  void emit(std::size_t count, std::uint64_t close_at) {
    // A track with nothing of its own (the monitor marks hogs on the
    // workers' tracks) is not named: viewers would show it empty.
    bool own = false;
    for (std::size_t i = 0; i < count && !own; ++i) {
      const Record& r = b_.at(i);
      // (An end without its begin is skipped below: no content either.)
      own = r.kind != Kind::attach && r.kind != Kind::hog && r.kind != Kind::name &&
            r.kind != Kind::job_end && r.kind != Kind::idle_end;
      if (has_name_record(r)) ++i;
    }
    if (own) w_.thread_name(b_.tid, b_.label);
    std::uint64_t last = 0;
    for (std::size_t i = 0; i < count; ++i) {
      Record r = b_.at(i);
      r.ts = clock_.ns(r.ts);
      last = r.ts;
      const bool payload = has_name_record(r);
      const std::string name = payload && i + 1 < count ? record_text(b_.at(i + 1)) : std::string();
      one(r, name);
      if (payload) ++i;
    }
    if (open_) close_slice(std::max(close_at, last));
  }

 private:
  std::uint64_t tick(std::uint64_t ts) {
    cursor_ = ts > cursor_ ? ts : cursor_ + 1;
    return cursor_;
  }

  std::string fiber_name(std::uint64_t id) const {
    if (id == 0) return "scheduler";
    if (auto it = names_.find(id); it != names_.end()) return it->second;
    return "fiber #" + std::to_string(id);
  }

  void open_slice(std::uint64_t ts, std::uint64_t fiber) {
    open_ = true;
    start_ = tick(ts);
    fiber_ = fiber;
  }

  void close_slice(std::uint64_t ts) {
    const std::uint64_t end = tick(ts);
    w_.slice(b_.tid, start_, end, fiber_name(fiber_), fiber_ == 0 ? "scheduler" : "fiber", fiber_);
    open_ = false;
  }

  // A flow start inside the slice that is open, or inside a slice of its own.
  void flow_start(std::uint64_t ts, std::uint64_t flow, std::uint64_t fiber) {
    if (open_) {
      w_.flow("s", b_.tid, tick(ts), flow);
      return;
    }
    const std::uint64_t start = tick(ts);
    const std::uint64_t at = tick(ts);
    const std::uint64_t end = tick(ts);
    w_.slice(b_.tid, start, end, "wake " + fiber_name(fiber), "flow", 0);
    w_.flow("s", b_.tid, at, flow);
  }

  void one(const Record& r, const std::string& name) {
    switch (r.kind) {
      case Kind::attach:
        if (b_.worker) open_slice(r.ts, 0);
        break;
      case Kind::name:
        break;
      case Kind::spawn:
        flow_start(r.ts, r.b, r.a);
        break;
      case Kind::run:
        if (open_) close_slice(r.ts);
        // The flow ends just before the run's slice, bound to the next slice
        // (no "bp"), so it needs no slice of the fiber's to be open yet.
        if (r.b != 0) w_.flow("f", b_.tid, tick(r.ts), r.b, false);
        open_slice(r.ts, r.a);
        break;
      case Kind::wake:
        flow_start(r.ts, r.b, r.a);
        break;
      case Kind::steal: {
        const std::uint64_t at = tick(r.ts);
        // The start sits on the victim's track, tiled with slices.
        w_.flow("s", r.track + 1, r.ts, r.b);
        w_.instant(b_.tid, at,
                   "steal " + std::to_string(r.a) + " from worker " + std::to_string(r.track),
                   "scheduler", "\"count\":" + std::to_string(r.a));
        w_.flow("f", b_.tid, tick(r.ts), r.b, true);
        break;
      }
      case Kind::idle_begin:
      case Kind::job_begin:
        nested_start_ = tick(r.ts);
        nested_open_ = true;
        break;
      case Kind::idle_end:
      case Kind::job_end:
        if (!nested_open_) break;  // its begin was dropped, or before the trace
        nested_open_ = false;
        w_.slice(b_.tid, nested_start_, tick(r.ts), r.kind == Kind::idle_end ? "idle" : "blocking job",
                 r.kind == Kind::idle_end ? "scheduler" : "blocking", 0);
        break;
      case Kind::hog:
        w_.instant(r.track + 1, r.ts, "hog: " + (name.empty() ? fiber_name(r.a) : name), "hog",
                   "\"fiber\":" + std::to_string(r.a) + ",\"ms\":" + std::to_string(r.b));
        break;
      case Kind::io_begin:
        w_.async("b", b_.tid, r.ts, io_name(r.sub), r.a, "fd", static_cast<std::int32_t>(r.track));
        break;
      case Kind::io_end:
        w_.async("e", b_.tid, r.ts, io_name(r.sub), r.a, "result", static_cast<std::int64_t>(r.b));
        break;
    }
  }

  Writer& w_;
  const Buffer& b_;
  const Names& names_;
  const Registry& clock_;
  std::uint64_t cursor_ = 0;
  bool open_ = false;
  std::uint64_t start_ = 0;
  std::uint64_t fiber_ = 0;
  std::uint64_t nested_start_ = 0;
  bool nested_open_ = false;
};

}  // namespace

bool write_json(Registry& r, std::uint64_t now, std::string* why) {
  // What every buffer holds now; its owner may go on appending.
  std::vector<std::size_t> counts;
  Names names;
  std::uint64_t dropped = 0;
  for (const auto& b : r.buffers) {
    const std::size_t n = b->count.load(std::memory_order_acquire);
    counts.push_back(n);
    dropped += b->dropped.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const Record& rec = b->at(i);
      if (!has_name_record(rec)) continue;
      ++i;
      if (rec.kind == Kind::spawn) names[rec.a] = record_text(b->at(i));
    }
  }
  const std::string tmp = r.path + ".part" + std::to_string(getpid());
  std::FILE* out = std::fopen(tmp.c_str(), "w");
  if (out == nullptr) {
    *why = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  static char buffer[1 << 20];
  std::setvbuf(out, buffer, _IOFBF, sizeof buffer);
  Writer w(out, static_cast<int>(getpid()));
  w.begin_file();
  for (std::size_t k = 0; k < r.buffers.size(); ++k) {
    Track(w, *r.buffers[k], names, r).emit(counts[k], now);
  }
  w.end_file(dropped);
  const bool failed = std::ferror(out) != 0;
  const int closed = std::fclose(out);
  if (failed || closed != 0) {
    *why = "writing " + tmp + " failed: " + std::strerror(errno != 0 ? errno : EIO);
    std::remove(tmp.c_str());
    return false;
  }
  if (std::rename(tmp.c_str(), r.path.c_str()) != 0) {
    *why = "cannot rename " + tmp + " to " + r.path + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace weft::fibers::trace::detail
