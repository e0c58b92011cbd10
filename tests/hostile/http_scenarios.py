"""The hostile clients of weft-http, and what examples/http says each gets.

weft-http's own limits (examples/http/server.h, request.h), which these
scenarios hold it to:
  request_timeout 10 s   from a request's first byte to its last; past it the
                         connection gets 408 (Connection: close) and closes;
                         the same deadline bounds each write of an answer
  idle_timeout 30 s      between requests (longer than any scenario here)
  max_header_bytes 8 KiB a longer request line: 414; a longer header
                         section: 431; both answered as soon as the limit is
                         passed, with Connection: close, then the close
  control characters     400 with Connection: close: in the request line at
                         once (before its CRLF came), in a field at the end
                         of the header section
  pipelining             every buffered request answered, in order, the
                         connection kept alive
"""
import threading
import time

import clients
import wire
from harness import PER_CONNECTION_KIB, judge_non_reader, stall_non_reader, wait_for_close

REQUEST_TIMEOUT = 10.0
# The 408 comes at the deadline; what it may be late by: the timer's wheel,
# and 2,000 answers written by two busy workers.
TIMEOUT_SLACK = 3.0
# A bad request is answered as soon as it is seen to be bad, not after a timeout.
PROMPT = 2.0


def expect_one_answer(check, what, ex, status, reason, promptly=True):
    """`ex` (an Exchange) got exactly one answer, `status` with `reason` as
    its body and Connection: close, then the close."""
    try:
        got, rest = wire.http_responses(ex.received)
    except ValueError as e:
        return check.that(False, "%s: %s" % (what, e))
    ok = check.that(len(got) == 1 and not rest,
                    "%s: wanted one answer, got %r and %d bytes more (%s)" % (
                        what, got, len(rest), ex.end))
    if ok:
        r = got[0]
        ok = check.that(r.status == status and r.body == reason + b"\n" and r.closes,
                        "%s: wanted %d %r with Connection: close, got %r" % (what, status, reason, r))
    ok = check.that(ex.end in ("eof", "reset"), "%s: the connection did not close (%s)" % (what, ex.end)) and ok
    if promptly and ex.first_byte_after is not None:
        ok = check.that(ex.first_byte_after <= PROMPT, "%s: answered after %.2f s" % (
            what, ex.first_byte_after)) and ok
    return ok


def slowloris(ctx):
    """K connections, each sending a request one byte a second: each gets 408
    and the close, request_timeout after its first byte."""
    k = ctx.options.slowloris
    ctx.extra_memory_kib = k * PER_CONNECTION_KIB
    crowd = clients.Crowd(ctx.port, k, "trickle", wire.PING_REQUEST)
    try:
        crowd.run(REQUEST_TIMEOUT + TIMEOUT_SLACK + 3, until_all_closed=True)
    finally:
        crowd.close()
    c = ctx.check
    wrong, late, early, took = [], 0, 0, []
    for m in crowd.members:
        if m.how == "closed by us":
            continue
        got, rest = wire.http_responses(m.received)
        if not (len(got) == 1 and not rest and got[0].status == 408 and got[0].closes):
            wrong.append((got, rest[:40], m.how))
        if m.first_byte is not None:
            t = m.closed_at - m.first_byte
            took.append(t)
            late += t > REQUEST_TIMEOUT + TIMEOUT_SLACK
            early += t < REQUEST_TIMEOUT - 0.5
    still_open = sum(1 for m in crowd.members if m.how == "closed by us")
    took.sort()
    c.say("%d connections at 1 byte/s: %d closed by the server, %d answered 408 + close; "
          "closed %.2f-%.2f s after the first byte (median %.2f)" % (
              k, k - still_open, k - still_open - len(wrong), took[0] if took else -1,
              took[-1] if took else -1, took[len(took) // 2] if took else -1))
    c.that(still_open == 0, "%d slowloris connections still open %.0f s after their first byte" % (
        still_open, REQUEST_TIMEOUT + TIMEOUT_SLACK + 3))
    c.that(not wrong, "%d slowloris connections did not get exactly one 408 and the close; first: %r" % (
        len(wrong), wrong[0] if wrong else None))
    c.that(late == 0 and early == 0, "%d closed later than %.0f s, %d before %.1f s" % (
        late, REQUEST_TIMEOUT + TIMEOUT_SLACK, early, REQUEST_TIMEOUT - 0.5))


# The non-reader runs across the scenarios between its two halves (as a bad
# client would, beside the others): start fills it, the end waits for its close.
_non_reader = {}


def non_reader_start(ctx):
    """Pipelined GET /ping sent as fast as the server reads them, nothing
    read: the server must stop reading (its answers wait in the kernel, not
    in its memory) and keep serving the others."""
    nr = stall_non_reader(ctx, _non_reader, wire.PING_REQUEST, 512, "requests")
    if nr is None:
        return
    ctx.check.that(nr.closed_at is None or nr.closed_at - nr.stalled_at > 5,
                   "closed %.2f s after the stall, before the write deadline" % (
                       (nr.closed_at or 0) - nr.stalled_at))
    wait_for_close(_non_reader, REQUEST_TIMEOUT + 20)


def non_reader_end(ctx):
    """The non-reader is closed once the answer it does not read has waited
    request_timeout to be written."""
    judge_non_reader(ctx, _non_reader, REQUEST_TIMEOUT, TIMEOUT_SLACK, REQUEST_TIMEOUT + 25, "closed")



def big_headers(ctx):
    """1 MB of header: in one field line (431), in the request line (414), in
    20,000 short fields (431); ten connections of each at once, round after
    round."""
    big = b"a" * (1 << 20)
    variants = [
        ("1 MB field line", b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n",
         431, b"header section too long"),
        ("1 MB request line", b"GET /" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, b"request line too long"),
        ("20,000 fields", b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"X-Many: yes\r\n" * 20000 + b"\r\n",
         431, b"header section too long"),
    ]
    results = []
    lock = threading.Lock()

    def one(name, data, status, reason):
        ex = clients.exchange(ctx.port, data, read_for=5.0)
        with lock:
            results.append((name, ex, status, reason))

    def one_round(_):
        threads = [threading.Thread(target=one, args=v) for v in variants for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)

    rounds = ctx.repeat(one_round, most_rounds=20)
    for name, _, status, reason in variants:
        mine = [r for r in results if r[0] == name]
        ok = sum(expect_one_answer(ctx.check, name, ex, st, rs) for _, ex, st, rs in mine)
        slowest = max((ex.first_byte_after or 99) for _, ex, _, _ in mine) if mine else -1
        ctx.check.say("%s: %d/%d got %d %s + close (slowest answer %.3f s)" % (
            name, ok, len(mine), status, reason.decode(), slowest))
        ctx.check.that(len(mine) == 10 * rounds, "%s: %d of %d connections finished" % (
            name, len(mine), 10 * rounds))


def pipelined(ctx):
    """N requests (POST /echo, each body its number) in one write: N answers,
    in order, and the connection stays open for the next. A fresh connection
    each round."""
    n = ctx.options.pipelined
    data = b"".join(wire.http_request(b"POST", b"/echo", b"%d" % i) for i in range(n))
    c = ctx.check
    took, good = [], [0]

    def one_round(r):
        sock = clients.socket.create_connection((clients.ADDRESS, ctx.port), timeout=10)
        try:
            began = time.monotonic()
            sender = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
            sender.start()
            got, rest, end = [], b"", time.monotonic() + 30
            while len(got) < n and time.monotonic() < end:
                d = sock.recv(1 << 20)
                if not d:
                    break
                more, rest = wire.http_responses(rest + d)
                got += more
            took.append(time.monotonic() - began)
            sender.join(10)
            bad = [i for i, a in enumerate(got) if a.status != 200 or a.body != b"%d" % i or a.closes]
            whole = c.that(len(got) == n and not rest, "round %d: %d answers to %d pipelined requests (+%d bytes)" % (
                r, len(got), n, len(rest)))
            right = c.that(not bad, "round %d: answers %s are not the echo of their requests" % (r, bad[:3]))
            sock.sendall(wire.PING_REQUEST)
            after, _ = wire.http_responses(sock.recv(4096))
            kept = c.that(len(after) == 1 and after[0].status == 200,
                          "round %d: no answer on the same connection after: %r" % (r, after))
            good[0] += whole and right and kept
        except OSError as e:
            c.that(False, "pipelined round %d: %s" % (r, e))
        finally:
            sock.close()

    rounds = ctx.repeat(one_round, most_rounds=10)
    c.say("%d requests in one write (%d bytes): all answered in order, connection kept, in %d of %d rounds; "
          "%.2f-%.2f s a round" % (n, len(data), good[0], rounds, min(took or [0]), max(took or [0])))


def nul_bytes(ctx):
    """NUL bytes where none may be: 400 and the close, at once; where bytes
    are opaque (a body): echoed. Every case, round after round."""
    cases = [
        ("NUL in the target", b"GET /pi\x00ng HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"bad request target"),
        ("NUL in the method", b"G\x00T /ping HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"bad method"),
        # Nothing after the NUL: answered without waiting for the line's end.
        ("NUL before the CRLF came", b"GET /ping\x00", 400, b"control character in the request line"),
        ("NUL in a field value", b"GET /ping HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400,
         b"control character in a field value"),
        ("NUL in a field name", b"GET /ping HTTP/1.1\r\nHost: x\r\nX-\x00A: ab\r\n\r\n", 400,
         b"bad header field"),
    ]
    body = b"a\x00b\x00\x00c"
    ok = {name: 0 for name, _, _, _ in cases}
    ok["NUL after good requests"] = ok["NUL in a body"] = 0
    slowest = [0.0]

    def one_round(_):
        for name, data, status, reason in cases:
            ex = clients.exchange(ctx.port, data, read_for=5.0)
            ok[name] += expect_one_answer(ctx.check, name, ex, status, reason)
            slowest[0] = max(slowest[0], ex.ended_after or 0)
        # The three before it are answered first, then the 400.
        name = "NUL after good requests"
        ex = clients.exchange(ctx.port, wire.PING_REQUEST * 3 + b"GET /\x00", read_for=5.0)
        got, rest = wire.http_responses(ex.received)
        ok[name] += ctx.check.that(
            len(got) == 4 and all(r.status == 200 for r in got[:3]) and got[3].status == 400
            and got[3].closes and not rest and ex.end in ("eof", "reset"),
            "%s: wanted 3 x 200 then 400 + close, got %r (%s)" % (name, got, ex.end))
        ex = clients.exchange(ctx.port, wire.http_request(b"POST", b"/echo", body, close=True), read_for=5.0)
        got, _ = wire.http_responses(ex.received)
        ok["NUL in a body"] += ctx.check.that(len(got) == 1 and got[0].status == 200 and got[0].body == body,
                                              "NUL in a body: wanted its echo, got %r" % got)

    rounds = ctx.repeat(one_round, most_rounds=50)
    for name, n in ok.items():
        what = "echoed" if name == "NUL in a body" else "400 + close"
        ctx.check.say("%s: %s in %d of %d rounds" % (name, what, n, rounds))
    ctx.check.say("(each answered and closed within %.3f s)" % slowest[0])


def flood(ctx):
    """F connections opened at once, then a request on each: every one is
    answered (weft-http has no connection limit; past its descriptors it
    leaves the rest in the listen queue and accepts again)."""
    f = ctx.options.flood
    ctx.extra_memory_kib = f * PER_CONNECTION_KIB
    began = time.monotonic()
    socks, failed = clients.connect_all(ctx.port, f, seconds=15)
    c = ctx.check
    try:
        connected_in = time.monotonic() - began
        for s in socks:
            try:
                s.send(wire.PING_REQUEST_CLOSE)
            except OSError:
                pass

        def whole(b):
            return bool(wire.http_responses(b)[0])

        def pong(b):
            got = wire.http_responses(b)[0]
            return len(got) == 1 and got[0].status == 200 and got[0].body == b"pong\n"

        results = clients.read_all(socks, whole, seconds=20)
        answered = sum(1 for b, _ in results.values() if pong(b))
        ends = {}
        for _, e in results.values():
            ends[e] = ends.get(e, 0) + 1
        c.say("%d connections at once: %d connected in %.2f s (%d failed), %d answered 200 in %.2f s; ends %s" % (
            f, len(socks), connected_in, failed, answered, time.monotonic() - began, ends))
        c.that(failed == 0, "%d of %d flood connections could not connect" % (failed, f))
        c.that(answered == len(socks), "%d of %d flood connections were not answered" % (
            len(socks) - answered, len(socks)))
    finally:
        for s in socks:
            s.close()


SCENARIOS = [
    ("non-reader", non_reader_start),
    ("slowloris", slowloris),
    ("1 MB headers", big_headers),
    ("pipelined", pipelined),
    ("NUL bytes", nul_bytes),
    ("flood", flood),
    ("non-reader closed", non_reader_end),
]
