#include <weft/io/net.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include <weft/io/io.h>

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

void enable_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

// ---- TcpStream --------------------------------------------------------------------

// The descriptor slot closes what it held (io/descriptor.h).
TcpStream& TcpStream::operator=(TcpStream&& other) noexcept = default;
TcpStream::~TcpStream() = default;

Result<TcpStream> TcpStream::connect(const Address& address, const WaitOptions& options) {
  io::require_backend("weft::net::TcpStream::connect");
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error(errno);
  TcpStream stream(fd);
  auto op = make_operation(OpKind::connect, fd, options);
  Address target = address;  // the kernel reads it at submission; keep it in this frame
  op->addr = target.data();
  op->addr_len = target.size();
  if (const std::int64_t r = perform(*op); r < 0) return errno_error(static_cast<int>(-r));
  enable_nodelay(fd);
  return stream;
}

Result<std::size_t> TcpStream::read(MutableBuffer buffer, const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::recv, fd_, options);
  op->buf = buffer.data;
  op->len = chunk(buffer.size);
  return io::to_size(perform(*op));
}

Result<std::size_t> TcpStream::write(ConstBuffer buffer, const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::send, fd_, options);
  op->buf = const_cast<void*>(buffer.data);
  op->len = chunk(buffer.size);
  return io::to_size(perform(*op));
}

Result<void> TcpStream::read_exact(MutableBuffer buffer, const WaitOptions& options) {
  return io::read_exact_by(buffer, [&](MutableBuffer b) { return read(b, options); });
}

Result<void> TcpStream::write_all(ConstBuffer buffer, const WaitOptions& options) {
  return io::write_all_by(buffer, [&](ConstBuffer b) { return write(b, options); });
}

Result<void> TcpStream::shutdown(Shutdown how) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::shutdown, fd_, {});
  op->flags = static_cast<int>(how);
  return io::to_void(perform(*op));
}

Result<void> TcpStream::close() { return io::close_descriptor(fd_); }

Result<Address> TcpStream::local_address() const { return socket_name(fd_, false); }
Result<Address> TcpStream::peer_address() const { return socket_name(fd_, true); }

Result<void> TcpStream::set_nodelay(bool on) {
  const int v = on ? 1 : 0;
  if (setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) return errno_error(errno);
  return {};
}

// ---- TcpListener ------------------------------------------------------------------

TcpListener& TcpListener::operator=(TcpListener&& other) noexcept {
  if (this != &other) {
    close_quietly();
    fd_.reset(other.fd_.take());
    listener_ = std::exchange(other.listener_, nullptr);
  }
  return *this;
}

TcpListener::~TcpListener() { close_quietly(); }

bool TcpListener::transient(const std::error_code& e) noexcept {
  return e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system ||
         e == std::errc::no_buffer_space || e == std::errc::not_enough_memory ||
         e == std::errc::connection_aborted;
}

// Gives the accept queue back to the backend that serves it, or frees it if
// that backend (its runtime) is gone.
void TcpListener::release_listener() noexcept {
  if (listener_ == nullptr) return;
  if (io::Backend* b = listener_->backend())
    b->close_listener(listener_);
  else
    delete listener_;
  listener_ = nullptr;
}

void TcpListener::close_quietly() noexcept {
  release_listener();
  io::close_descriptor_quietly(fd_);
}

Result<TcpListener> TcpListener::bind(const Address& address, int backlog) {
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error(errno);
  TcpListener listener;
  listener.fd_.reset(fd);
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, address.data(), address.size()) != 0 || ::listen(fd, backlog) != 0) {
    return errno_error(errno);
  }
  return listener;
}

Result<TcpStream> TcpListener::accept(const WaitOptions& options) {
  io::Backend& backend = io::require_backend("weft::net::TcpListener::accept");
  if (fd_ < 0) return errno_error(EBADF);
  if (io::closes_everywhere()) {
    // Several workers: one accept request on this worker's backend. A queue
    // kept by one worker (a multishot accept) would strand connections there
    // once the accepting fiber moved to another worker.
    auto op = make_operation(OpKind::accept, fd_, options);
    const std::int64_t r = perform(*op);
    if (r < 0) return errno_error(static_cast<int>(-r));
    enable_nodelay(static_cast<int>(r));
    return TcpStream(static_cast<int>(r));
  }
  // One worker: the backend's accept queue (multishot on io_uring).
  io::Listener* queue = listener_;
  while (queue != nullptr && queue->backend() != &backend) queue = queue->next_for_socket;
  if (queue == nullptr) {
    queue = backend.open_listener(fd_);
    queue->next_for_socket = listener_;
    listener_ = queue;
  }
  auto op = make_operation(OpKind::accept, fd_, options);
  op->listener = queue;
  const std::int64_t r = perform(*op);
  if (r < 0) return errno_error(static_cast<int>(-r));
  const int fd = static_cast<int>(r);
  enable_nodelay(fd);
  return TcpStream(fd);
}

Result<void> TcpListener::close() {
  if (fd_ < 0) return errno_error(EBADF);
  release_listener();
  return io::close_descriptor(fd_);
}

Result<Address> TcpListener::local_address() const { return socket_name(fd_, false); }

// ---- UdpSocket --------------------------------------------------------------------

// The descriptor slot closes what it held (io/descriptor.h).
UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept = default;
UdpSocket::~UdpSocket() = default;

Result<UdpSocket> UdpSocket::bind(const Address& address) {
  const int fd = ::socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error(errno);
  UdpSocket socket;
  socket.fd_.reset(fd);
  if (::bind(fd, address.data(), address.size()) != 0) return errno_error(errno);
  return socket;
}

Result<std::size_t> UdpSocket::send_to(ConstBuffer buffer, const Address& to,
                                       const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::sendmsg, fd_, options);
  Address target = to;
  op->iov = {const_cast<void*>(buffer.data), chunk(buffer.size)};
  op->msg.msg_name = target.data();
  op->msg.msg_namelen = target.size();
  op->msg.msg_iov = &op->iov;
  op->msg.msg_iovlen = 1;
  return io::to_size(perform(*op));
}

Result<Datagram> UdpSocket::recv_from(MutableBuffer buffer, const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::recvmsg, fd_, options);
  Datagram d;
  op->iov = {buffer.data, chunk(buffer.size)};
  op->msg.msg_name = d.from.data();
  op->msg.msg_namelen = Address::capacity();
  op->msg.msg_iov = &op->iov;
  op->msg.msg_iovlen = 1;
  const std::int64_t r = perform(*op);
  if (r < 0) return errno_error(static_cast<int>(-r));
  d.size = static_cast<std::size_t>(r);
  d.from.set_size(op->msg.msg_namelen);
  return d;
}

Result<void> UdpSocket::close() { return io::close_descriptor(fd_); }

Result<Address> UdpSocket::local_address() const { return socket_name(fd_, false); }

}  // namespace weft::net
