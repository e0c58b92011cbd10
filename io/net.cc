#include <weft/io/net.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include <weft/io/io.h>
#include <weft/io/resolve.h>

namespace weft::net {
namespace {

using io::make_operation;
using io::OpKind;
using io::perform;

using io::chunk;

Result<Address> socket_name(int fd, bool peer) {
  if (fd < 0) return errno_error(EBADF);
  Address a;
  socklen_t len = Address::capacity();
  const int rc = peer ? getpeername(fd, a.data(), &len) : getsockname(fd, a.data(), &len);
  if (rc != 0) return errno_error(errno);
  a.set_size(len);
  return a;
}

// TCP only: a Unix-domain socket has no Nagle to switch off.
void enable_nodelay(int fd, int family) {
  if (family != AF_INET && family != AF_INET6) return;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int family_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return AF_UNSPEC;
  return ss.ss_family;
}

// One receive or send on a connected socket (a stream, or a connected
// datagram socket).
Result<std::size_t> receive_on(int fd, MutableBuffer buffer, const WaitOptions& options) {
  if (fd < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::recv, fd, options);
  op->buf = buffer.data;
  op->len = chunk(buffer.size);
  return io::to_size(perform(*op));
}

Result<std::size_t> send_on(int fd, ConstBuffer buffer, const WaitOptions& options) {
  if (fd < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::send, fd, options);
  op->buf = const_cast<void*>(buffer.data);
  op->len = chunk(buffer.size);
  return io::to_size(perform(*op));
}

// Datagrams and messages: one buffer, optional control bytes.
void set_message(io::Operation& op, void* data, std::size_t size) {
  op.iov = {data, chunk(size)};
  op.msg.msg_iov = &op.iov;
  op.msg.msg_iovlen = 1;
}

}  // namespace

// ---- StreamSocket --------------------------------------------------------------------

// The descriptor slot closes what it held (io/descriptor.h).
StreamSocket& StreamSocket::operator=(StreamSocket&& other) noexcept = default;
StreamSocket::~StreamSocket() = default;

namespace {

Error failed(const char* verb, const Address& address, std::error_code code) {
  return Error(code, std::string(verb) + " " + address.to_string());
}

}  // namespace

Result<StreamSocket> StreamSocket::connect(const Address& address, const WaitOptions& options) {
  io::require_backend("weft::net::StreamSocket::connect");
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed("connect", address, errno_error(errno));
  StreamSocket stream(fd);
  auto op = make_operation(OpKind::connect, fd, options);
  Address target = address;  // the kernel reads it at submission; keep it in this frame
  op->addr = target.data();
  op->addr_len = target.size();
  if (const std::int64_t r = perform(*op); r < 0)
    return failed("connect", address, errno_error(static_cast<int>(-r)));
  enable_nodelay(fd, address.family());
  return stream;
}

Result<StreamSocket> StreamSocket::connect(std::string_view host, std::uint16_t port,
                                           const WaitOptions& options) {
  if (Result<Address> numeric = Address::parse(host, port)) return connect(*numeric, options);
  // One error, naming what the caller asked for: the last address's reason.
  auto named = [&](std::error_code code) {
    return Error(code, "connect " + std::string(host) + ":" + std::to_string(port));
  };
  Result<std::vector<Address>> found = resolve(host, port, options);
  if (!found) return named(found.error());
  std::error_code last = std::make_error_code(std::errc::host_unreachable);
  for (const Address& a : *found) {
    Result<StreamSocket> s = connect(a, options);
    if (s) return s;
    last = s.error();
    // The caller's deadline or cancel ends the whole attempt; a kernel's
    // ETIMEDOUT (that address did not answer) goes on to the next address.
    if (last == errc::deadline_exceeded || last == std::errc::operation_canceled) break;
  }
  return named(last);
}

Result<std::pair<StreamSocket, StreamSocket>> StreamSocket::pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return errno_error(errno);
  return std::pair<StreamSocket, StreamSocket>(StreamSocket(fds[0]), StreamSocket(fds[1]));
}

Result<ucred> StreamSocket::peer_credentials() const {
  if (fd_ < 0) return errno_error(EBADF);
  if (family_of(fd_) != AF_UNIX) return errno_error(EOPNOTSUPP);
  ucred c{};
  socklen_t len = sizeof c;
  if (getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return errno_error(errno);
  return c;
}

Result<std::size_t> StreamSocket::send_with_fds(ConstBuffer buffer, std::span<const int> fds,
                                                const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  if (buffer.size == 0 || fds.size() > kMaxFds) return errno_error(EINVAL);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  auto op = make_operation(OpKind::sendmsg, fd_, options);
  set_message(*op, const_cast<void*>(buffer.data), buffer.size);
  if (!fds.empty()) {
    op->msg.msg_control = control;
    op->msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&op->msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return io::to_size(perform(*op));
}

Result<StreamSocket::Received> StreamSocket::recv_with_fds(MutableBuffer buffer, std::span<int> fds,
                                                           const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  auto op = make_operation(OpKind::recvmsg, fd_, options);
  set_message(*op, buffer.data, buffer.size);
  op->flags = MSG_CMSG_CLOEXEC;
  op->msg.msg_control = control;
  op->msg.msg_controllen = sizeof control;
  const std::int64_t r = perform(*op);
  if (r < 0) return errno_error(static_cast<int>(-r));
  Received got;
  got.size = static_cast<std::size_t>(r);
  got.fds_truncated = (op->msg.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&op->msg); c != nullptr; c = CMSG_NXTHDR(&op->msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (got.fds < fds.size()) {
        fds[got.fds++] = fd;
      } else {
        ::close(fd);  // no room: not leaked
        got.fds_truncated = true;
      }
    }
  }
  return got;
}

Result<std::size_t> StreamSocket::read(MutableBuffer buffer, const WaitOptions& options) {
  return receive_on(fd_, buffer, options);
}

Result<std::size_t> StreamSocket::write(ConstBuffer buffer, const WaitOptions& options) {
  return send_on(fd_, buffer, options);
}

Result<void> StreamSocket::read_exact(MutableBuffer buffer, const WaitOptions& options) {
  return io::read_exact_by(buffer, [&](MutableBuffer b) { return read(b, options); });
}

Result<void> StreamSocket::write_all(ConstBuffer buffer, const WaitOptions& options) {
  return io::write_all_by(buffer, [&](ConstBuffer b) { return write(b, options); });
}

static_assert(StreamSocket::kMaxBuffers == io::kMaxBuffers);

Result<std::size_t> StreamSocket::write_vectored(std::span<const ConstBuffer> buffers,
                                                 const WaitOptions& options) {
  return io::write_gathered(OpKind::sendmsg, fd_, 0, buffers, options);
}

Result<void> StreamSocket::write_all_vectored(std::span<const ConstBuffer> buffers,
                                              const WaitOptions& options) {
  return io::write_all_gathered_by(buffers, [&](std::span<const ConstBuffer> b) { return write_vectored(b, options); });
}

Result<void> StreamSocket::shutdown(Shutdown how) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::shutdown, fd_, {});
  op->flags = static_cast<int>(how);
  return io::to_void(perform(*op));
}

Result<void> StreamSocket::close() { return io::close_descriptor(fd_); }

Result<Address> StreamSocket::local_address() const { return socket_name(fd_, false); }
Result<Address> StreamSocket::peer_address() const { return socket_name(fd_, true); }

Result<void> StreamSocket::set_nodelay(bool on) {
  const int v = on ? 1 : 0;
  if (setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) return errno_error(errno);
  return {};
}

// ---- StreamListener ------------------------------------------------------------------

StreamListener& StreamListener::operator=(StreamListener&& other) noexcept {
  if (this != &other) {
    close_quietly();
    fd_.reset(other.fd_.take());
    listener_ = std::exchange(other.listener_, nullptr);
    family_ = other.family_;
  }
  return *this;
}

StreamListener::~StreamListener() { close_quietly(); }

bool StreamListener::transient(const std::error_code& e) noexcept {
  return e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system ||
         e == std::errc::no_buffer_space || e == std::errc::not_enough_memory ||
         e == std::errc::connection_aborted;
}

// A socket has one accept queue per backend it was accepted on (a listener
// that outlives a runtime keeps that runtime's queue, orphaned, until the
// next accept prunes it). Each goes back to the backend that serves it, or
// is freed if that backend (its runtime) is gone. A listener shared by two
// runtimes running at once is not supported: the other's queue would be
// closed from the wrong thread.
void StreamListener::release_listener() noexcept {
  while (io::Listener* l = listener_) {
    listener_ = l->next_for_socket;
    if (io::Backend* b = l->backend())
      b->close_listener(l);
    else
      delete l;
  }
}

// Queues whose runtime has ended are of no use to the next one.
void StreamListener::prune_orphaned_listeners() noexcept {
  io::Listener** link = &listener_;
  while (io::Listener* l = *link) {
    if (l->backend() != nullptr) {
      link = &l->next_for_socket;
      continue;
    }
    *link = l->next_for_socket;
    delete l;
  }
}

// A listening socket stops listening at shutdown(), at once: connections
// that come after are refused, even while an accept the backend armed still
// holds the socket open until its cancel completes (a close alone would
// leave it listening until then).
void StreamListener::stop_listening() noexcept {
  release_listener();
  if (fd_ >= 0) (void)::shutdown(fd_, SHUT_RDWR);
}

void StreamListener::close_quietly() noexcept {
  stop_listening();
  io::close_descriptor_quietly(fd_);
}

Result<StreamListener> StreamListener::bind(const Address& address, int backlog) {
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed("listen", address, errno_error(errno));
  StreamListener listener;
  listener.fd_.reset(fd);
  listener.family_ = address.family();
  const int one = 1;
  if (address.family() != AF_UNIX && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    return failed("listen", address, errno_error(errno));
  if (::bind(fd, address.data(), address.size()) != 0) return failed("bind", address, errno_error(errno));
  if (::listen(fd, backlog) != 0) return failed("listen", address, errno_error(errno));
  return listener;
}

namespace {

// An accept on a socket that stopped listening fails with EINVAL: a close of
// the listener (stop_listening) did that, so it reads as a cancel, as when
// the close's cancel reaches the accept first.
Error accept_error(std::int64_t r) {
  return errno_error(r == -EINVAL ? ECANCELED : static_cast<int>(-r));
}

}  // namespace

Result<StreamSocket> StreamListener::accept(const WaitOptions& options) {
  io::Backend& backend = io::require_backend("weft::net::StreamListener::accept");
  if (fd_ < 0) return errno_error(EBADF);
  if (io::closes_everywhere()) {
    // Several workers: one accept request on this worker's backend. A queue
    // kept by one worker (a multishot accept) would strand connections there
    // once the accepting fiber moved to another worker.
    auto op = make_operation(OpKind::accept, fd_, options);
    const std::int64_t r = perform(*op);
    if (r < 0) return accept_error(r);
    enable_nodelay(static_cast<int>(r), family_);
    return StreamSocket(static_cast<int>(r));
  }
  // One worker: the backend's accept queue (multishot on io_uring).
  io::Listener* queue = listener_;
  while (queue != nullptr && queue->backend() != &backend) queue = queue->next_for_socket;
  if (queue == nullptr) {
    prune_orphaned_listeners();
    queue = backend.open_listener(fd_);
    queue->next_for_socket = listener_;
    listener_ = queue;
  }
  auto op = make_operation(OpKind::accept, fd_, options);
  op->listener = queue;
  const std::int64_t r = perform(*op);
  if (r < 0) return accept_error(r);
  const int fd = static_cast<int>(r);
  enable_nodelay(fd, family_);
  return StreamSocket(fd);
}

Result<void> StreamListener::close() {
  if (fd_ < 0) return errno_error(EBADF);
  stop_listening();
  return io::close_descriptor(fd_);
}

Result<Address> StreamListener::local_address() const { return socket_name(fd_, false); }

// ---- DatagramSocket --------------------------------------------------------------------

// The descriptor slot closes what it held (io/descriptor.h).
DatagramSocket& DatagramSocket::operator=(DatagramSocket&& other) noexcept = default;
DatagramSocket::~DatagramSocket() = default;

Result<DatagramSocket> DatagramSocket::bind(const Address& address) {
  const int fd = ::socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed("bind", address, errno_error(errno));
  DatagramSocket socket;
  socket.fd_.reset(fd);
  if (::bind(fd, address.data(), address.size()) != 0) return failed("bind", address, errno_error(errno));
  return socket;
}

Result<std::size_t> DatagramSocket::send_to(ConstBuffer buffer, const Address& to,
                                       const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::sendmsg, fd_, options);
  Address target = to;
  set_message(*op, const_cast<void*>(buffer.data), buffer.size);
  op->msg.msg_name = target.data();
  op->msg.msg_namelen = target.size();
  return io::to_size(perform(*op));
}

Result<Datagram> DatagramSocket::recv_from(MutableBuffer buffer, const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::recvmsg, fd_, options);
  Datagram d;
  set_message(*op, buffer.data, buffer.size);
  op->msg.msg_name = d.from.data();
  op->msg.msg_namelen = Address::capacity();
  const std::int64_t r = perform(*op);
  if (r < 0) return errno_error(static_cast<int>(-r));
  d.size = static_cast<std::size_t>(r);
  d.from.set_size(op->msg.msg_namelen);
  return d;
}

Result<DatagramSocket> DatagramSocket::connect(const Address& peer) {
  const int fd = ::socket(peer.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed("connect", peer, errno_error(errno));
  DatagramSocket socket;
  socket.fd_.reset(fd);
  if (Result<void> r = socket.connect_to(peer); !r) return r.error();
  return socket;
}

// A datagram connect only records the peer (no handshake): no need to park.
Result<void> DatagramSocket::connect_to(const Address& peer) {
  if (fd_ < 0) return errno_error(EBADF);
  if (::connect(fd_, peer.data(), peer.size()) != 0) return failed("connect", peer, errno_error(errno));
  return {};
}

Result<std::size_t> DatagramSocket::send(ConstBuffer buffer, const WaitOptions& options) {
  return send_on(fd_, buffer, options);
}

Result<std::size_t> DatagramSocket::recv(MutableBuffer buffer, const WaitOptions& options) {
  return receive_on(fd_, buffer, options);
}

Result<void> DatagramSocket::close() { return io::close_descriptor(fd_); }

Result<Address> DatagramSocket::local_address() const { return socket_name(fd_, false); }

}  // namespace weft::net
