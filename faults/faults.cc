#include <weft/faults/faults.h>

#include <cerrno>
#include <charconv>
#include <mutex>

namespace weft::faults {

namespace detail {
std::atomic<std::uint32_t> g_armed{0};
}  // namespace detail

namespace {

constexpr const char* kNames[kSites] = {
    "ring_enter", "ring_short_submit", "epoll_wait", "epoll_ctl", "accept", "stack_map", "fiber_record",
};

struct Plan {
  int error = 0;
  std::uint32_t skip = 0;
  std::uint32_t left = 0;  // calls still to fail
  bool forever = false;    // count 0: every call from now on
  std::uint32_t every = 1;  // one call in this many fails
  std::uint32_t passed = 0; // calls let through since the last failure
  std::uint64_t fired = 0;
};

// Only fault tests reach these, so one lock is plenty.
std::mutex g_mutex;
Plan g_plans[kSites];

std::uint32_t bit(Site site) { return 1u << static_cast<unsigned>(site); }

struct ErrnoName {
  const char* name;
  int value;
};
constexpr ErrnoName kErrnos[] = {
    {"EINTR", EINTR},   {"EAGAIN", EAGAIN}, {"EBUSY", EBUSY},   {"EMFILE", EMFILE},
    {"ENFILE", ENFILE}, {"ENOMEM", ENOMEM}, {"ENOBUFS", ENOBUFS}, {"EBADF", EBADF},
    {"EINVAL", EINVAL}, {"EIO", EIO},       {"EPERM", EPERM},   {"ECONNABORTED", ECONNABORTED},
    {"EFAULT", EFAULT}, {"ENOSPC", ENOSPC}, {"ETIME", ETIME},
};

bool parse_number(std::string_view s, std::uint32_t* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

int parse_errno(std::string_view s) {
  for (const ErrnoName& e : kErrnos) {
    if (s == e.name) return e.value;
  }
  std::uint32_t n = 0;
  return parse_number(s, &n) && n > 0 && n < 4096 ? static_cast<int>(n) : 0;
}

}  // namespace

const char* name(Site site) noexcept { return kNames[static_cast<unsigned>(site)]; }

void arm(Site site, int error, std::uint32_t count, std::uint32_t skip, std::uint32_t every) {
  std::lock_guard<std::mutex> hold(g_mutex);
  Plan& p = g_plans[static_cast<unsigned>(site)];
  p.error = error;
  p.skip = skip;
  p.left = count;
  p.forever = count == 0;
  p.every = every == 0 ? 1 : every;
  p.passed = 0;
  detail::g_armed.fetch_or(bit(site), std::memory_order_relaxed);
}

void disarm_all() noexcept {
  std::lock_guard<std::mutex> hold(g_mutex);
  for (Plan& p : g_plans) {
    p.left = 0;
    p.forever = false;
  }
  detail::g_armed.store(0, std::memory_order_relaxed);
}

std::uint64_t fired(Site site) noexcept {
  std::lock_guard<std::mutex> hold(g_mutex);
  return g_plans[static_cast<unsigned>(site)].fired;
}

int detail::fail_slow(Site site) noexcept {
  if ((g_armed.load(std::memory_order_relaxed) & bit(site)) == 0) return 0;
  std::lock_guard<std::mutex> hold(g_mutex);
  Plan& p = g_plans[static_cast<unsigned>(site)];
  if (!p.forever && p.left == 0) return 0;  // disarmed meanwhile
  if (p.skip > 0) {
    --p.skip;
    return 0;
  }
  if (++p.passed < p.every) return 0;
  p.passed = 0;
  if (!p.forever && --p.left == 0) g_armed.fetch_and(~bit(site), std::memory_order_relaxed);
  ++p.fired;
  return p.error;
}

std::string arm_from(std::string_view spec) {
  struct Parsed {
    Site site;
    int error;
    std::uint32_t count;
    std::uint32_t skip;
    std::uint32_t every;
  };
  Parsed parsed[16];
  int n = 0;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    const auto bad = [&](const char* what) {
      return "WEFT_FAULTS: " + std::string(what) + " in '" + std::string(item) +
             "' (site=ERRNO[*count][+skip][%every], say ring_enter=EINTR*100)";
    };
    if (n == 16) return bad("more than 16 entries");
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return bad("no '='");
    const std::string_view site_name = item.substr(0, eq);
    std::string_view rest = item.substr(eq + 1);
    int site = -1;
    for (int i = 0; i < kSites; ++i) {
      if (site_name == kNames[i]) site = i;
    }
    if (site < 0) return bad("unknown site");
    std::uint32_t every = 1;
    if (const std::size_t percent = rest.find('%'); percent != std::string_view::npos) {
      if (!parse_number(rest.substr(percent + 1), &every) || every == 0) return bad("bad every");
      rest = rest.substr(0, percent);
    }
    std::uint32_t skip = 0;
    if (const std::size_t plus = rest.find('+'); plus != std::string_view::npos) {
      if (!parse_number(rest.substr(plus + 1), &skip)) return bad("bad skip");
      rest = rest.substr(0, plus);
    }
    std::uint32_t count = 1;
    if (const std::size_t star = rest.find('*'); star != std::string_view::npos) {
      if (!parse_number(rest.substr(star + 1), &count)) return bad("bad count");
      rest = rest.substr(0, star);
    }
    const int error = parse_errno(rest);
    if (error == 0) return bad("unknown errno");
    parsed[n++] = {static_cast<Site>(site), error, count, skip, every};
  }
  for (int i = 0; i < n; ++i) arm(parsed[i].site, parsed[i].error, parsed[i].count, parsed[i].skip, parsed[i].every);
  return {};
}

}  // namespace weft::faults
