"""The bad clients, protocol-blind: they send bytes and keep what comes back.

  Crowd        thousands of connections at once, each idle, or sending its
               bytes all at once and then nothing, or one byte a second
               (slowloris); all driven from one selector loop, every loop
               bounded in time
  NonReader    sends pipelined requests as fast as the server takes them and
               never reads: finds when the server stops reading (the kernel
               buffers full) and when, if ever, it closes the connection
  exchange     one connection: sends (from a thread, so a server that
               answers and closes before it has read everything is seen to
               do so) and reads until the close or a time limit
  connect_all  many connections opened at once (non-blocking connects)

Every socket here is closed by the code that opened it before it returns
(or by close()), so a run leaves nothing behind.
"""
import errno
import select
import selectors
import socket
import threading
import time

ADDRESS = "127.0.0.1"


def _closed_how(e):
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, BrokenPipeError):
        return "broken pipe"
    return "%s" % type(e).__name__


class Member:
    """One connection of a Crowd."""

    def __init__(self, sock, mode, payload, start_at):
        self.sock = sock
        self.mode = mode          # "trickle", "once" or "idle"
        self.payload = payload
        self.next_send = start_at
        self.opened = time.monotonic()
        self.sent = 0
        self.first_byte = None    # when its first byte went
        self.received = b""
        self.closed_at = None
        self.how = None           # "eof", "reset", ... once closed

    def close(self, at, how):
        if self.closed_at is None:
            self.closed_at, self.how = at, how
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Crowd:
    """`count` connections of one mode. trickle: `payload` again and again,
    one byte every `period` seconds, the starts spread over one period."""

    def __init__(self, port, count, mode, payload=b"", period=1.0):
        self.members = []
        self.period = period
        began = time.monotonic()
        try:
            for i in range(count):
                s = socket.create_connection((ADDRESS, port), timeout=10)
                s.setblocking(False)
                self.members.append(Member(s, mode, payload, began + period * i / max(count, 1)))
        except BaseException:
            self.close()
            raise
        self.opened = time.monotonic()
        self.selector = selectors.DefaultSelector()
        for m in self.members:
            self.selector.register(m.sock, selectors.EVENT_READ, m)
            if mode == "once":
                self._send(m, payload, self.opened)

    def _send(self, m, data, now):
        try:
            n = m.sock.send(data)
        except BlockingIOError:
            return
        except OSError as e:
            self._drain(m, now)
            self._close(m, now, "send: " + _closed_how(e))
            return
        if n and m.first_byte is None:
            m.first_byte = now
        m.sent += n

    def _close(self, m, now, how):
        if m.sock is not None:
            self.selector.unregister(m.sock)
        m.close(now, how)

    def _drain(self, m, now):
        """Whatever was received before an error, kept (a reset does not
        take away what had arrived)."""
        for _ in range(64):
            try:
                d = m.sock.recv(65536)
            except OSError:
                return
            if not d:
                return
            m.received += d

    def open_members(self):
        return [m for m in self.members if m.sock is not None]

    def run(self, seconds, until_all_closed=False):
        """Drives the crowd for at most `seconds` (less if every member was
        closed and `until_all_closed`)."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if now >= end or (until_all_closed and not self.open_members()):
                return
            for m in self.members:
                if m.sock is not None and m.mode == "trickle" and now >= m.next_send:
                    i = m.sent % len(m.payload)
                    self._send(m, m.payload[i:i + 1], now)
                    m.next_send += self.period
            for key, _ in self.selector.select(timeout=0.02):
                m = key.data
                if m.sock is None:
                    continue
                try:
                    d = m.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    self._close(m, time.monotonic(), _closed_how(e))
                    continue
                if d:
                    m.received += d
                else:
                    self._close(m, time.monotonic(), "eof")

    def close(self):
        now = time.monotonic()
        for m in self.members:
            if m.sock is not None:
                try:
                    self.selector.unregister(m.sock)
                except (KeyError, ValueError, AttributeError):
                    pass
                m.close(now, "closed by us")
        if getattr(self, "selector", None) is not None:
            self.selector.close()


class NonReader:
    """A connection that sends `chunk` (pipelined requests) again and again
    and never reads. Small socket buffers on its side (`buffer` bytes) make
    the kernel's share fill sooner; the server's side is untouched."""

    def __init__(self, port, chunk, buffer=64 << 10):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        self.sock.settimeout(10)
        self.sock.connect((ADDRESS, port))
        self.sock.setblocking(False)
        self.chunk = chunk
        self.offset = 0
        self.sent = 0
        self.began = time.monotonic()
        self.last_progress = self.began
        self.stalled_at = None   # the last progress before a pause of `window`
        self.closed_at = None
        self.how = None

    def _push(self):
        """One non-blocking send; True if bytes went."""
        try:
            n = self.sock.send(self.chunk[self.offset:])
        except BlockingIOError:
            return False
        except OSError as e:
            self.closed_at, self.how = time.monotonic(), _closed_how(e)
            return False
        self.sent += n
        self.offset = (self.offset + n) % len(self.chunk)
        self.last_progress = time.monotonic()
        return n > 0

    def _hung_up(self):
        """The peer reset the connection (seen without reading)."""
        p = select.poll()
        p.register(self.sock, select.POLLERR | select.POLLHUP)
        for _, ev in p.poll(0):
            if ev & (select.POLLERR | select.POLLHUP):
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                self.closed_at = time.monotonic()
                self.how = errno.errorcode.get(err, "hang-up") if err else "hang-up"
                return True
        return False

    def fill(self, seconds, window=1.0, most_bytes=1 << 30):
        """Sends until no byte has gone for `window` seconds (the stall),
        the connection closes, `most_bytes` went, or `seconds` pass."""
        end = time.monotonic() + seconds
        while self.closed_at is None and self.sent < most_bytes:
            now = time.monotonic()
            if now >= end:
                return
            if self._push():
                continue
            if self.closed_at is not None or self._hung_up():
                return
            if now - self.last_progress >= window:
                self.stalled_at = self.last_progress
                return
            select.select([], [self.sock], [], 0.05)

    def wait_closed(self, seconds):
        """After the stall: keeps offering bytes every 50 ms (a closed socket
        answers them with a reset) until the server closes, or `seconds`."""
        end = time.monotonic() + seconds
        while self.closed_at is None and time.monotonic() < end:
            self._push()
            if self.closed_at is None and not self._hung_up():
                time.sleep(0.05)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Exchange:
    """What one connection got: `received`, how it ended (`end`: "eof",
    "reset", "timeout"), and when the first byte and the end came (seconds
    after the connection opened; None if they did not)."""

    def __init__(self):
        self.received = b""
        self.end = None
        self.first_byte_after = None
        self.ended_after = None
        self.send_error = None


def exchange(port, data, read_for=5.0, keep_sending=True):
    """Opens a connection, sends `data` from a thread (errors kept, not
    raised: a server may close before it has read everything), reads until
    the close or `read_for` seconds; returns an Exchange."""
    out = Exchange()
    sock = socket.create_connection((ADDRESS, port), timeout=10)
    began = time.monotonic()

    def send():
        try:
            sock.sendall(data)
        except OSError as e:
            out.send_error = _closed_how(e)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    end = began + read_for
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                out.end = "timeout"
                break
            sock.settimeout(left)
            try:
                d = sock.recv(65536)
            except socket.timeout:
                out.end = "timeout"
                break
            except OSError as e:
                out.end = _closed_how(e)
                break
            if not d:
                out.end = "eof"
                break
            if out.first_byte_after is None:
                out.first_byte_after = time.monotonic() - began
            out.received += d
        out.ended_after = time.monotonic() - began
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # ends a sendall still under way
        except OSError:
            pass
        sender.join(10)
        sock.close()
    return out


def connect_all(port, count, seconds=10.0):
    """`count` non-blocking connects issued at once; returns (connected
    sockets, number that failed or did not complete in `seconds`)."""
    pending = {}
    sel = selectors.DefaultSelector()
    done, failed = [], 0
    try:
        for _ in range(count):
            s = socket.socket()
            s.setblocking(False)
            r = s.connect_ex((ADDRESS, port))
            if r not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            pending[s.fileno()] = s
            sel.register(s, selectors.EVENT_WRITE)
        end = time.monotonic() + seconds
        while pending and time.monotonic() < end:
            for key, _ in sel.select(timeout=0.1):
                s = key.fileobj
                sel.unregister(s)
                del pending[s.fileno()]
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    done.append(s)
                else:
                    s.close()
                    failed += 1
    finally:
        for s in pending.values():
            s.close()
        failed += len(pending)
        sel.close()
    return done, failed


def read_all(socks, until, seconds):
    """Reads every socket of `socks` until `until(bytes)` says it has all it
    wants or the peer closes, for at most `seconds`; returns {socket:
    (bytes, end)} with end "eof", "reset", "done" or "timeout"."""
    sel = selectors.DefaultSelector()
    got = {s: b"" for s in socks}
    ends = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    end = time.monotonic() + seconds
    try:
        while len(ends) < len(socks) and time.monotonic() < end:
            for key, _ in sel.select(timeout=0.1):
                s = key.fileobj
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    d, ends[s] = b"", _closed_how(e)
                if d:
                    got[s] += d
                    if until(got[s]):
                        ends[s] = "done"
                elif s not in ends:
                    ends[s] = "eof"
                if s in ends:
                    sel.unregister(s)
    finally:
        sel.close()
    return {s: (got[s], ends.get(s, "timeout")) for s in socks}
