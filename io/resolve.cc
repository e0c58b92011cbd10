#include <weft/io/resolve.h>

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <new>
#include <string>
#include <cerrno>
#include <memory>

#include <weft/fibers/blocking.h>
#include <weft/io/io.h>
#include <weft/sync/event.h>

namespace weft::net {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int code) const override { return gai_strerror(code); }
};

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const Category category;
  return category;
}

namespace {

// One lookup, shared by the fiber that waits and the helper thread that
// runs it; whoever lets go last frees it (the fiber may give up first).
struct Lookup : fibers::BlockingJob {
  std::string name;
  std::string service;
  Result<std::vector<Address>> result = errno_error(EAGAIN);
  Event done;
  std::atomic<int> holders{2};
  void let_go() {
    if (holders.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

Result<std::vector<Address>> look_up(const std::string& name, const std::string& service) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &found);
  if (rc == EAI_SYSTEM) return errno_error(errno);
  if (rc != 0) return std::error_code(rc, resolve_category());
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);
  std::vector<Address> out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    Address addr(a->ai_addr, a->ai_addrlen);
    if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
  }
  return out;
}

}  // namespace

namespace {

Result<std::vector<Address>> resolve_unnamed(std::string_view host, std::uint16_t port, const WaitOptions& options) {
  // Given up already: no lookup at all.
  if (options.cancel != nullptr && options.cancel->cancelled()) return errno_error(ECANCELED);
  if (options.deadline != kNoDeadline && options.deadline <= Clock::now()) return errno_error(fibers::kDeadlineExceeded);
  auto* lookup = new Lookup;
  lookup->name = std::string(host);
  lookup->service = std::to_string(port);
  lookup->run = [](fibers::BlockingJob* base) noexcept {
    auto* l = static_cast<Lookup*>(base);
    try {
      l->result = look_up(l->name, l->service);
    } catch (const std::bad_alloc&) {
      l->result = errno_error(ENOMEM);
    }
    l->done.set();
    l->let_go();
  };
  if (const int rc = fibers::submit_detached(*lookup); rc != 0) {
    delete lookup;
    return errno_error(rc);
  }
  const std::error_code waited = lookup->done.wait(options);
  Result<std::vector<Address>> out = waited ? Result<std::vector<Address>>(waited) : std::move(lookup->result);
  lookup->let_go();
  return out;
}

}  // namespace

Result<std::vector<Address>> resolve(std::string_view host, std::uint16_t port, const WaitOptions& options) {
  io::require_backend("weft::net::resolve");  // a fiber of a running runtime, or logic_error
  return annotate(resolve_unnamed(host, port, options), [&] { return "resolve " + std::string(host); });
}

}  // namespace weft::net
