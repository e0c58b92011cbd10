"""The hostile clients of weft-kv, and what examples/kv says each gets.

weft-kv's own limits (examples/kv/server.h, resp.h), which these scenarios
hold it to:
  --timeout S            a client idle between commands S seconds is closed
                         (redis's `timeout`); the checks run with 2 s
  write_timeout 30 s     a client that does not read: its reply's write
                         waits this long, then the connection is dropped
  subscriber_limit 1 MiB a subscriber's outbox; past it the subscriber is
                         dropped (it gets nothing more, its connection
                         closes) and PUBLISH, which never waits, goes on
  --maxclients N         the N+1st connection gets "-ERR max number of
                         clients reached" and the close
  protocol errors        the redis-server 7 text (resp.h), then the close:
                         a bulk length negative or above 512 MiB, an array
                         count above 1,048,576 or not a number, an element
                         that is not a bulk string, unbalanced quotes, a count,
                         length or inline line longer than 64 KiB
  NUL bytes              end an inline line (as in redis-server); inside a
                         bulk string they are data
  pipelining             every command answered, in order
"""
import socket
import threading
import time

import clients
import wire
from harness import (PER_CONNECTION_KIB, PROBE_MAX, PROBE_P99, judge_non_reader, percentile, stall_non_reader,
                     wait_for_close)

IDLE_TIMEOUT = 2          # --timeout of the main server, seconds
WRITE_TIMEOUT = 30.0      # ServerOptions::write_timeout
SUBSCRIBER_LIMIT = 1 << 20
MAX_CLIENTS = 100
TIMEOUT_SLACK = 3.0


class Client:
    """A well-behaved connection of the scenarios' own (setting up keys,
    publishing): blocking, replies read whole."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection((clients.ADDRESS, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rest = b""

    def send(self, data):
        self.sock.sendall(data)

    def replies(self, n):
        got = []
        while len(got) < n:
            more, self.rest = wire.resp_replies(self.rest, n - len(got))
            got += more
            if len(got) < n:
                d = self.sock.recv(1 << 20)
                if not d:
                    raise EOFError("closed after %d of %d replies" % (len(got), n))
                self.rest += d
        return got

    def call(self, *args):
        self.send(wire.resp_command(*args))
        return self.replies(1)[0]

    def close(self):
        self.sock.close()


def expect_error_and_close(check, what, ex, error):
    """`ex` got exactly the error line `error`, then the close, promptly."""
    ok = check.that(ex.received == b"-" + error + b"\r\n" and ex.end in ("eof", "reset"),
                    "%s: wanted %r and the close, got %r (%s after %.2f s)" % (
                        what, error, ex.received[:120], ex.end, ex.ended_after or -1))
    return check.that(ex.ended_after is not None and ex.ended_after <= 2.0,
                      "%s: closed after %.2f s" % (what, ex.ended_after or -1)) and ok


_non_reader = {}


def non_reader_start(ctx):
    """GET of a 4 KiB value, pipelined as fast as the server reads, nothing
    read: the server stops reading it (its replies wait in the kernel), and
    the connection stays stalled (the write has 30 s); everyone else is
    served meanwhile."""
    setup = Client(ctx.port)
    setup.call("SET", "hostile:filler", "v" * 4096)
    setup.close()
    get = wire.resp_command("GET", "hostile:filler")
    nr = stall_non_reader(ctx, _non_reader, get, 256, "GETs of 4 KiB")
    if nr is None:
        return
    c = ctx.check
    c.that(nr.closed_at is None, "closed %.2f s after the stall, before the 30 s write timeout (%s)" % (
        (nr.closed_at or 0) - nr.stalled_at, nr.how))
    c.say("stalled, still connected %.1f s later" % (time.monotonic() - nr.stalled_at))
    wait_for_close(_non_reader, WRITE_TIMEOUT + 20)


def non_reader_end(ctx):
    """The non-reader is dropped once its reply has waited write_timeout."""
    judge_non_reader(ctx, _non_reader, WRITE_TIMEOUT, TIMEOUT_SLACK, WRITE_TIMEOUT + 15, "dropped")


def slow_clients(ctx):
    """With --timeout 2: K connections sending PING one byte a second (each
    byte is activity: kept and answered, as redis-server keeps them), idle
    connections (closed after the timeout), and connections that stop
    part-way through a command (redis-server closes them after the timeout
    too)."""
    k = ctx.options.slowloris
    ctx.extra_memory_kib = k * PER_CONNECTION_KIB
    run_for = 8.0
    tricklers = clients.Crowd(ctx.port, k, "trickle", b"PING\r\n")
    idle = clients.Crowd(ctx.port, 50, "idle")
    stuck = clients.Crowd(ctx.port, 50, "once", b"*1\r\n$4\r\nPI")
    c = ctx.check
    try:
        end = time.monotonic() + run_for
        while time.monotonic() < end:  # the three in turn, 50 ms each
            for crowd in (tricklers, idle, stuck):
                crowd.run(0.05)
        closed = [m for m in tricklers.members if m.sock is None]
        wrong = []
        pongs = []
        for m in tricklers.members:
            got, rest = wire.resp_replies(m.received)
            if any(g != b"+PONG" for g in got) or rest or not (1 <= len(got) <= m.sent // 6):
                wrong.append((got[:3], rest[:20], m.sent))
            pongs.append(len(got))
        c.say("%d connections sending PING at 1 byte/s for %.0f s: %d closed, %d got only whole +PONGs, "
              "one per 6 bytes (%d-%d each)" % (k, run_for, len(closed), k - len(wrong), min(pongs), max(pongs)))
        c.that(not closed, "%d trickling connections closed (first: %s): each byte is activity" % (
            len(closed), closed[0].how if closed else ""))
        c.that(not wrong, "%d trickling connections got the wrong replies, first %r" % (
            len(wrong), wrong[0] if wrong else None))
        took = sorted(m.closed_at - m.opened for m in idle.members if m.closed_at is not None)
        c.say("50 idle connections: %d closed by the server, %.2f-%.2f s after they opened" % (
            len(took), took[0] if took else -1, took[-1] if took else -1))
        c.that(len(took) == 50 and all(IDLE_TIMEOUT - 0.5 <= t <= IDLE_TIMEOUT + TIMEOUT_SLACK for t in took),
               "idle connections: %d of 50 closed, at %s s (timeout %d s)" % (
                   len(took), ["%.2f" % t for t in took[:5]], IDLE_TIMEOUT))
        c.that(all(m.how == "eof" and not m.received for m in idle.members),
               "an idle connection got something before its close: %r" % [
                   (m.received[:40], m.how) for m in idle.members if m.how != "eof" or m.received][:3])
        gone = sorted(m.closed_at - m.first_byte for m in stuck.members
                      if m.closed_at is not None and m.first_byte is not None)
        c.say("50 connections stopped part-way through a command: %d closed by the server (%s)" % (
            len(gone), "%.2f-%.2f s after their bytes" % (gone[0], gone[-1]) if gone else
            "still open after %.0f s" % run_for))
        c.that(len(gone) == 50 and all(t <= IDLE_TIMEOUT + TIMEOUT_SLACK for t in gone),
               "%d of 50 connections that stopped part-way through a command were closed within "
               "%.0f s (--timeout %d; redis-server closes them)" % (len(gone), IDLE_TIMEOUT + TIMEOUT_SLACK,
                                                                      IDLE_TIMEOUT))
    finally:
        for crowd in (tricklers, idle, stuck):
            crowd.close()


MALFORMED = [
    ("bulk length -5", b"*1\r\n$-5\r\n", b"ERR Protocol error: invalid bulk length"),
    ("bulk length above 512 MiB", b"*2\r\n$3\r\nGET\r\n$536870913\r\n", b"ERR Protocol error: invalid bulk length"),
    ("bulk length not a number", b"*1\r\n$x\r\n", b"ERR Protocol error: invalid bulk length"),
    ("array count above 1048576", b"*1048577\r\n", b"ERR Protocol error: invalid multibulk length"),
    ("array count not a number", b"*abc\r\n", b"ERR Protocol error: invalid multibulk length"),
    ("element not a bulk string", b"*1\r\n:1\r\n", b"ERR Protocol error: expected '$', got ':'"),
    ("binary garbage", b"*1\r\n\xff\xfe\xfd\r\n", b"ERR Protocol error: expected '$', got '\xff'"),
    ("unbalanced quotes", b'SET k "abc\r\n', b"ERR Protocol error: unbalanced quotes in request"),
    ("good command, then garbage", b"PING\r\n*1\r\n$-5\r\n", None),
]


def malformed(ctx):
    """Each malformed input on a connection of its own: the error reply and
    the close (a good command before it answered first). Round after round."""
    ok = {name: 0 for name, _, _ in MALFORMED}

    def one_round(_):
        for name, data, error in MALFORMED:
            ex = clients.exchange(ctx.port, data, read_for=5.0)
            if error is None:
                ok[name] += ctx.check.that(
                    ex.received == b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
                    and ex.end in ("eof", "reset"),
                    "%s: got %r (%s)" % (name, ex.received[:100], ex.end))
            else:
                ok[name] += expect_error_and_close(ctx.check, name, ex, error)

    rounds = ctx.repeat(one_round, most_rounds=50)
    for name, _, error in MALFORMED:
        ctx.check.say("%s: %s + close in %d of %d rounds" % (
            name, (error or b"+PONG then the error").decode("latin-1"), ok[name], rounds))


def big_lines(ctx):
    """1 MB lines: an inline command, an array count and a bulk length of
    1 MB get their "too big" error and the close; a 1 MB value in a bulk
    string is fine (the limit is on lines, not values)."""
    mb = 1 << 20
    cases = [
        ("1 MB inline line", b"SET k " + b"a" * mb, b"ERR Protocol error: too big inline request"),
        ("1 MB array count line", b"*" + b"1" * mb, b"ERR Protocol error: too big mbulk count string"),
        ("1 MB bulk length line", b"*1\r\n$" + b"9" * mb, b"ERR Protocol error: too big bulk count string"),
    ]
    ok = {name: 0 for name, _, _ in cases}
    value = bytes(range(256)) * (mb // 256)
    values_ok = [0]

    def one_round(i):
        for name, data, error in cases:
            ok[name] += expect_error_and_close(ctx.check, name, clients.exchange(ctx.port, data), error)
        cl = Client(ctx.port)
        try:
            got = [cl.call("SET", "hostile:big:%d" % i, value), cl.call("GET", "hostile:big:%d" % i),
                   cl.call("DEL", "hostile:big:%d" % i)]
            values_ok[0] += ctx.check.that(got == [b"+OK", value, b":1"],
                                           "a 1 MB value: SET/GET/DEL got %r" % ([g[:20] for g in got],))
        finally:
            cl.close()

    rounds = ctx.repeat(one_round, most_rounds=20)
    for name, _, error in cases:
        ctx.check.say("%s: %s + close in %d of %d rounds" % (name, error.decode(), ok[name], rounds))
    ctx.check.say("a 1 MB value: SET, GET (the same bytes) and DEL in %d of %d rounds" % (values_ok[0], rounds))


def nul_bytes(ctx):
    """NUL in an inline line ends it (ECHO hi\\0there is ECHO hi); a line
    that begins with NUL is empty and skipped; in a bulk string NUL is data.
    None of them is an error: the connection goes on."""
    value = b"a\x00b\x00\x00c"
    good = [0]

    def one_round(_):
        cl = Client(ctx.port)
        try:
            cl.send(b"ECHO hi\x00there\r\n\x00PING\r\nPING\r\n" + wire.resp_command("SET", "hostile:nul", value)
                    + wire.resp_command("GET", "hostile:nul") + wire.resp_command("STRLEN", "hostile:nul"))
            got = cl.replies(5)
            good[0] += ctx.check.that(got == [b"hi", b"+PONG", b"+OK", value, b":6"],
                                      "NUL bytes: got %r" % (got,))
        except (OSError, EOFError) as e:
            ctx.check.that(False, "NUL bytes: %s" % e)
        finally:
            cl.close()

    rounds = ctx.repeat(one_round, most_rounds=200)
    ctx.check.say("inline 'ECHO hi\\0there' -> 'hi'; a line of NUL + PING skipped; NUL inside a bulk "
                  "string kept (SET/GET/STRLEN 6): right in %d of %d rounds, connection kept" % (good[0], rounds))


def pipelined(ctx):
    """N ECHO commands (each its number) in one write: N replies in order,
    then the connection goes on. A fresh connection each round."""
    n = ctx.options.pipelined
    data = b"".join(wire.resp_command("ECHO", i) for i in range(n))
    took, good = [], [0]

    def one_round(r):
        cl = Client(ctx.port, timeout=30)
        try:
            began = time.monotonic()
            sender = threading.Thread(target=cl.send, args=(data,), daemon=True)
            sender.start()
            got = cl.replies(n)
            took.append(time.monotonic() - began)
            sender.join(10)
            bad = [i for i, g in enumerate(got) if g != b"%d" % i]
            after = cl.call("PING")
            good[0] += ctx.check.that(not bad and after == b"+PONG",
                                      "round %d: replies %s out of order or wrong; then %r" % (r, bad[:3], after))
        except (OSError, EOFError) as e:
            ctx.check.that(False, "pipelined round %d: %s" % (r, e))
        finally:
            cl.close()

    rounds = ctx.repeat(one_round, most_rounds=10)
    ctx.check.say("%d commands in one write (%d bytes): all replies in order in %d of %d rounds, %.2f-%.2f s a round" % (
        n, len(data), good[0], rounds, min(took or [0]), max(took or [0])))


def subscriber_flood(ctx):
    """A subscriber that never reads while PUBLISH floods its channel with
    16 KiB messages: it is dropped once its outbox would pass 1 MiB, and
    PUBLISH never waits for it; a subscriber that reads gets every message."""
    c = ctx.check
    payload_size = 16 << 10
    channel = "hostile:flood"
    bad = socket.socket()
    bad.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    bad.settimeout(10)
    bad.connect((clients.ADDRESS, ctx.port))
    good = Client(ctx.port)
    publisher = Client(ctx.port)
    good_got = []
    good_error = []
    try:
        bad.sendall(wire.resp_command("SUBSCRIBE", channel))
        good.send(wire.resp_command("SUBSCRIBE", channel))
        c.that(good.replies(1)[0] == [b"subscribe", channel.encode(), b":1"], "SUBSCRIBE's reply")
        # Both subscribed: PUBLISH counts two receivers.
        for _ in range(100):
            if publisher.call("PUBLISH", channel, "x") == b":2":
                break
            time.sleep(0.02)
        seq0 = 1  # the "x" messages come first

        def read_good():
            try:
                while len(good_got) < 100000:
                    m = good.replies(1)[0]
                    good_got.append(m[2] if isinstance(m, list) and len(m) == 3 else m)
                    if m == [b"message", channel.encode(), b"end"]:
                        return
            except (OSError, EOFError, ValueError) as e:
                good_error.append(str(e))

        reader = threading.Thread(target=read_good, daemon=True)
        reader.start()
        latencies, counts, dropped_after = [], [], None
        most = 4000  # 64 MiB: far past 1 MiB and any kernel buffer
        began = time.monotonic()
        for i in range(most):
            msg = (b"%08d" % i) + b"m" * (payload_size - 8)
            # The reading subscriber is kept within 16 messages (256 KiB) of
            # the publisher, well inside its limit, even when this check
            # shares a busy machine with the server (it is the non-reader's
            # drop that is checked, not how fast a Python thread reads).
            catch_up = time.monotonic() + 2
            while len(good_got) + 16 < i and not good_error and time.monotonic() < catch_up:
                time.sleep(0.001)
            t = time.monotonic()
            r = publisher.call("PUBLISH", channel, msg)
            latencies.append(time.monotonic() - t)
            counts.append(r)
            if r != b":2" and dropped_after is None:
                dropped_after = i
            if dropped_after is not None and i >= dropped_after + 100:
                break
            if time.monotonic() - began > 20:
                break
        sent = len(counts)
        publisher.call("PUBLISH", channel, "end")
        reader.join(15)
        latencies.sort()
        c.say("PUBLISH of 16 KiB messages: the non-reading subscriber was dropped after %s messages "
              "(%.1f MiB); PUBLISH p50 %.2f p99 %.2f max %.2f ms over %d" % (
                  dropped_after, (dropped_after or 0) * payload_size / 2**20, percentile(latencies, 0.5) * 1e3,
                  percentile(latencies, 0.99) * 1e3, latencies[-1] * 1e3, sent))
        if c.that(dropped_after is not None, "the non-reading subscriber was never dropped (%d messages, %.0f MiB)" % (
                sent, sent * payload_size / 2**20)):
            c.that(all(r == b":1" for r in counts[dropped_after:]),
                   "after the drop PUBLISH counted %r" % sorted(set(counts[dropped_after:])))
        c.that(percentile(latencies, 0.99) <= PROBE_P99 and latencies[-1] <= PROBE_MAX,
               "PUBLISH waited: p99 %.1f ms, max %.1f ms" % (percentile(latencies, 0.99) * 1e3, latencies[-1] * 1e3))
        want = [b"x"] + [(b"%08d" % i) + b"m" * (payload_size - 8) for i in range(sent)] + [b"end"]
        c.that(not good_error and good_got[seq0 - 1:] == want[seq0 - 1:],
               "the reading subscriber got %d of %d messages%s" % (
                   len(good_got), len(want), (": " + good_error[0]) if good_error else ""))
        c.say("the reading subscriber got all %d messages, in order, and stays subscribed" % len(want)
              if good_got == want else "the reading subscriber got %d of %d" % (len(good_got), len(want)))
        # Now the dropped one reads what reached it: its confirmation, whole
        # messages in order (the last may be cut), then the close.
        data, end_how = b"", "timeout"
        bad.settimeout(5)
        limit = time.monotonic() + 10
        while time.monotonic() < limit:
            try:
                d = bad.recv(1 << 20)
            except socket.timeout:
                break
            except OSError as e:
                end_how = type(e).__name__
                break
            if not d:
                end_how = "eof"
                break
            data += d
        got, rest = wire.resp_replies(data)
        msgs = [g[2] for g in got[1:] if isinstance(g, list) and len(g) == 3 and g[0] == b"message"]
        in_order = msgs == want[:len(msgs)]
        c.say("the dropped subscriber, reading at last: %d whole messages (%.1f MiB), in order: %s, "
              "%d bytes of a cut one, then %s" % (len(msgs), len(data) / 2**20, in_order, len(rest), end_how))
        c.that(got[:1] == [[b"subscribe", channel.encode(), b":1"]] and in_order and len(msgs) == len(got) - 1,
               "the dropped subscriber's stream is not its confirmation and messages in order")
        c.that(end_how in ("eof", "ConnectionResetError"), "the dropped subscriber was not closed (%s)" % end_how)
        c.that(dropped_after is None or len(msgs) <= dropped_after,
               "the dropped subscriber got %d messages, more than the %s before its drop" % (len(msgs), dropped_after))
    finally:
        bad.close()
        good.close()
        publisher.close()


def max_clients(ctx):
    """--maxclients 100: the prober's connection and 99 more are served;
    200 more opened at once each get "-ERR max number of clients reached"
    and the close; the first 100 still work; once 10 leave, 10 new ones are
    served."""
    c = ctx.check
    first = []
    try:
        for _ in range(MAX_CLIENTS - 1):  # the prober's kept-alive connection is the 100th
            first.append(Client(ctx.port))
        served = sum(cl.call("PING") == b"+PONG" for cl in first)
        socks, failed = clients.connect_all(ctx.port, 200, seconds=10)
        try:
            refusal = b"-ERR max number of clients reached\r\n"
            results = clients.read_all(socks, lambda b: len(b) > len(refusal), seconds=10)
            refused = sum(1 for b, e in results.values() if b == refusal and e in ("eof", "reset"))
            others = [(b[:60], e) for b, e in results.values() if not (b == refusal and e in ("eof", "reset"))]
        finally:
            for s in socks:
                s.close()
        still = sum(cl.call("PING") == b"+PONG" for cl in first)
        c.say("%d of %d first connections served; 200 more at once: %d got %r and the close%s" % (
            served, MAX_CLIENTS - 1, refused, refusal.decode().strip(), "; others: %r" % others[:3] if others else ""))
        c.say("then %d of %d first connections still served" % (still, MAX_CLIENTS - 1))
        c.that(served == MAX_CLIENTS - 1 and still == MAX_CLIENTS - 1,
               "of the first 100, %d then %d answered PING" % (served, still))
        c.that(failed == 0 and refused == 200, "of 200 past the limit, %d refused cleanly, %d did not connect, "
               "others %r" % (refused, failed, others[:3]))
        for cl in first[:10]:
            cl.close()
        first = first[10:]
        # A closed connection counts until its server side has gone (up to
        # its 200 ms linger): new ones are tried for up to 3 s.
        welcomed = 0
        end = time.monotonic() + 3
        while welcomed < 10 and time.monotonic() < end:
            cl = Client(ctx.port)
            try:
                if cl.call("PING") == b"+PONG":
                    first.append(cl)
                    welcomed += 1
                    continue
            except (OSError, EOFError):
                pass
            cl.close()
            time.sleep(0.05)
        c.say("after 10 left, %d new connections served" % welcomed)
        c.that(welcomed == 10, "after 10 of the first left, only %d new connections were served" % welcomed)
    finally:
        for cl in first:
            cl.close()


def bulk_claims(ctx):
    """Connections that claim a 512 MiB bulk string (the largest allowed) and
    send nothing more: the claim alone must not cost the server memory."""
    n = 200
    claim = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n"
    crowd = clients.Crowd(ctx.port, n, "once", claim)
    try:
        crowd.run(1.5)
        before = ctx.server.rss_kib()
        closed = sum(1 for m in crowd.members if m.sock is None)
        ctx.check.say("%d connections claimed 512 MiB bulks (%d bytes each, nothing more): %d closed, server RSS "
                      "%.1f MiB" % (n, len(claim), closed, before / 1024))
        ctx.check.that(closed == 0, "%d claiming connections were closed: the length is allowed" % closed)
        # Tighter than the scenario's memory bound: a claim must cost no more
        # than any open connection (a read buffer sized to the claim would
        # cost a megabyte each).
        grew = before - ctx.rss_at_start
        ctx.check.that(grew <= n * PER_CONNECTION_KIB,
                       "RSS grew %.1f MiB for %d claims (bound %d KiB each)" % (
                           grew / 1024, n, PER_CONNECTION_KIB))
    finally:
        crowd.close()


SCENARIOS = [
    ("non-reader", non_reader_start, "main"),
    ("slow clients", slow_clients, "main"),
    ("malformed RESP", malformed, "main"),
    ("1 MB lines", big_lines, "main"),
    ("NUL bytes", nul_bytes, "main"),
    ("pipelined", pipelined, "main"),
    ("subscriber flood", subscriber_flood, "main"),
    ("maxclients flood", max_clients, {"flags": ["--maxclients", str(MAX_CLIENTS)], "fresh": False}),
    ("bulk claims", bulk_claims, {"flags": []}),
    ("non-reader dropped", non_reader_end, "main"),
]
