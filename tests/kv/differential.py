#!/usr/bin/env python3
"""weft-kv against redis-server, reply for reply.

Starts redis-server (--save '' --appendonly no --databases 1) and weft-kv on
free ports, sends both the same seeded random command sequences over raw
sockets (every type, the error cases, small key and value spaces so that
commands collide) and compares the replies byte for byte, printing the first
difference with its command. Replies in no defined order (KEYS, SMEMBERS,
HGETALL, a whole SCAN) are compared sorted, one SCAN step by its shape; SPOP's random choice is compared
by size, then the key is deleted on both; TTL and PTTL by sign only. Keys
given a few milliseconds to live are waited out before they are touched
again, so that no reply depends on timing. BLPOP and BRPOP join the random
commands with timeouts of a few milliseconds (or bad ones), so that they
never wait long and nobody pushes meanwhile. Then scripted sequences of
blocking pops and pub/sub on two connections (SUBSCRIBE, PSUBSCRIBE and
their replies, messages, the commands refused in subscribed mode, PUBLISH's
receiver counts; an UNSUBSCRIBE of several channels compared as a multiset,
as redis-server lists them in hash order). Then malformed inputs, each on a
connection of its own: the error reply and the close must match too.

Usage: differential.py path/to/weft-kv [--redis-server PATH] [--seed N]
       [--commands N] [--rounds N]
"""
import argparse
import os
import random
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One whole reply, as bytes, and its parsed form."""
        line = self._line()
        raw = line + b"\r\n"
        kind = line[:1]
        if kind == b"$":
            n = int(line[1:])
            if n < 0:
                return raw, None
            while len(self.buf) < n + 2:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return raw + data + b"\r\n", data
        if kind == b"*":
            n = int(line[1:])
            if n < 0:
                return raw, None
            items = []
            for _ in range(n):
                r, v = self.reply()
                raw += r
                items.append(v)
            return raw, items
        if kind == b":":
            return raw, int(line[1:])
        return raw, line

    def rest_until_close(self):
        try:
            while True:
                self._more()
        except (EOFError, ConnectionResetError):
            return self.buf + b"<closed>"
        except socket.timeout:
            return self.buf + b"<open>"


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def inline(args):
    return b" ".join(a if isinstance(a, bytes) else str(a).encode() for a in args) + b"\r\n"


# The key family of each command's type.
FAMILY = {}
for names, family in (("SET GET GETDEL MGET MSET INCR DECR INCRBY DECRBY APPEND STRLEN", "s:"),
                      ("LPUSH RPUSH LPOP RPOP LLEN LRANGE LINDEX BLPOP BRPOP", "l:"),
                      ("HSET HGET HDEL HGETALL HLEN HINCRBY", "h:"),
                      ("SADD SREM SMEMBERS SISMEMBER SCARD SPOP", "S:"),
                      ("ZADD ZREM ZSCORE ZRANGE ZCARD ZPOPMIN", "z:")):
    FAMILY.update(dict.fromkeys(names.split(), family))


class Generator:
    """Random commands over a small key space."""

    def __init__(self, rng):
        self.r = rng
        self.keys = ["k%d" % i for i in range(6)]
        self.values = ["0", "1", "-1", "7", "x", "", "abc", "9223372036854775807", "-9223372036854775808",
                       "1.5", "01", " 1", "+1"]
        self.members = ["a", "b", "c", "d", "e"]
        self.scores = ["0", "1", "-1", "1.5", "2.25", "inf", "-inf", "1e10", "-0", "0.1", "x", "nan", "3"]
        self.counts = ["0", "1", "2", "3", "10", "-1", "x"]
        self.indexes = ["0", "1", "-1", "-2", "2", "5", "-10", "x", "100"]
        self.family = None

    def key(self):
        # Mostly a key of the command's own type (so that it finds real
        # values), else one that any command may have left anything in.
        if self.family and self.r.random() < 0.7:
            return "%s%d" % (self.family, self.r.randint(0, 3))
        return self.r.choice(self.keys)

    def val(self):
        return self.r.choice(self.values)

    def some(self, pick, lo=1, hi=3):
        return [pick() for _ in range(self.r.randint(lo, hi))]

    def command(self):
        r = self.r
        k = self.key
        choices = [
            lambda: ["SET", k(), self.val()],
            lambda: ["SET", k(), self.val()] + r.choice([["NX"], ["XX"], ["GET"], ["NX", "GET"], ["XX", "GET"],
                                                         ["EX", "100"], ["PX", "100000"], ["EX", "0"], ["EX", "x"],
                                                         ["NX", "XX"], ["KEEPTTL"], ["EX", "10", "PX", "10"],
                                                         ["foo"], ["EX"]]),
            lambda: ["GET", k()],
            lambda: ["GETDEL", k()],
            lambda: ["MGET"] + self.some(k),
            lambda: ["MSET"] + sum(([k(), self.val()] for _ in range(r.randint(1, 3))), []),
            lambda: ["MSET", k()],
            lambda: [r.choice(["INCR", "DECR"]), k()],
            lambda: [r.choice(["INCRBY", "DECRBY"]), k(), r.choice(self.values)],
            lambda: ["APPEND", k(), self.val()],
            lambda: ["STRLEN", k()],
            lambda: ["DEL"] + self.some(k),
            lambda: ["EXISTS"] + self.some(k),
            lambda: ["EXPIRE", k(), r.choice(["100", "-1", "x", "9223372036854775807"])] +
                    r.choice([[], [], ["NX"], ["XX"], ["GT"], ["LT"], ["NX", "XX"], ["GT", "LT"], ["FOO"]]),
            lambda: ["PEXPIRE", k(), r.choice(["100000", "-5", "x"])] + r.choice([[], ["XX"], ["GT"], ["LT"]]),
            lambda: [r.choice(["TTL", "PTTL"]), k()],
            lambda: ["PERSIST", k()],
            lambda: ["TYPE", k()],
            lambda: ["KEYS", r.choice(["*", "k[0-2]", "k?", "*1*", "x*", "k[^1]", "k\\1"])],
            lambda: [r.choice(["LPUSH", "RPUSH"]), k()] + self.some(self.val),
            lambda: [r.choice(["LPOP", "RPOP"]), k()] + r.choice([[], [r.choice(self.counts)], ["1", "2"]]),
            lambda: ["LLEN", k()],
            lambda: [r.choice(["BLPOP", "BRPOP"])] + self.some(k) +
                    [r.choice(["0.001", "0.002", "0.0001", "x", "-1", "-0.5", "1e400", "nan", ""])],
            lambda: ["LRANGE", k(), r.choice(self.indexes), r.choice(self.indexes)],
            lambda: ["LINDEX", k(), r.choice(self.indexes)],
            lambda: ["HSET", k()] + sum(([r.choice(self.members), self.val()] for _ in range(r.randint(1, 3))), []),
            lambda: ["HSET", k(), "f"],
            lambda: ["HGET", k(), r.choice(self.members)],
            lambda: ["HDEL", k()] + self.some(lambda: r.choice(self.members)),
            lambda: ["HGETALL", k()],
            lambda: ["HLEN", k()],
            lambda: ["HINCRBY", k(), r.choice(self.members), r.choice(self.values)],
            lambda: ["SADD", k()] + self.some(lambda: r.choice(self.members)),
            lambda: ["SREM", k()] + self.some(lambda: r.choice(self.members)),
            lambda: ["SMEMBERS", k()],
            lambda: ["SISMEMBER", k(), r.choice(self.members)],
            lambda: ["SCARD", k()],
            lambda: ["SPOP", k()] + r.choice([[], [r.choice(self.counts)], ["1", "2"]]),
            lambda: ["ZADD", k()] + r.choice([[], [], ["NX"], ["XX"], ["GT"], ["LT"], ["CH"], ["INCR"], ["NX", "XX"],
                                              ["GT", "LT"], ["XX", "CH"], ["GT", "CH"]]) +
                    sum(([r.choice(self.scores), r.choice(self.members)] for _ in range(r.randint(1, 2))), []),
            lambda: ["ZADD", k(), "1"],
            lambda: ["ZREM", k()] + self.some(lambda: r.choice(self.members)),
            lambda: ["ZSCORE", k(), r.choice(self.members)],
            lambda: ["ZRANGE", k(), r.choice(self.indexes), r.choice(self.indexes)] +
                    r.choice([[], ["WITHSCORES"], ["REV"], ["REV", "WITHSCORES"], ["LIMIT", "0", "1"], ["FOO"]]),
            lambda: ["ZCARD", k()],
            lambda: ["ZPOPMIN", k()] + r.choice([[], [r.choice(self.counts)], ["1", "2"]]),
            lambda: ["PING"] + r.choice([[], ["hi"], ["a", "b"]]),
            lambda: ["ECHO", self.val()],
            lambda: ["SELECT", r.choice(["0", "1", "x"])],
            lambda: [r.choice(["get", "Get", "sEt", "NOSUCH", "foo"])] + self.some(k, 0, 3),
            lambda: ["CONFIG", "GET", r.choice(["save", "appendonly", "nosuch"])],
            lambda: ["SCAN", r.choice(["x", "0"]), r.choice(["COUNT", "MATCH", "FOO"])] + r.choice([[], ["0"], ["x"]]),
        ]
        make = r.choice(choices)
        self.family = None
        self.family = FAMILY.get(make()[0].upper())
        return make()


def sorted_reply(value):
    if isinstance(value, list):
        return sorted(v if v is not None else b"" for v in value)
    return value


def pairs(value):
    if isinstance(value, list):
        return sorted(zip(value[0::2], value[1::2]))
    return value


def compare(cmd, ours, theirs):
    """Whether the replies agree for this command (with the allowances above)."""
    (our_raw, our_val), (their_raw, their_val) = ours, theirs
    name = cmd[0].upper() if isinstance(cmd[0], str) else cmd[0]
    if name in ("KEYS", "SMEMBERS"):
        return sorted_reply(our_val) == sorted_reply(their_val)
    if name == "HGETALL":
        return pairs(our_val) == pairs(their_val)
    if name == "SCAN" and not (our_raw.startswith(b"-") or their_raw.startswith(b"-")):
        # One step's cursor and keys are the server's own (whole scans are
        # compared in run_sequence).
        return isinstance(our_val, list) and isinstance(their_val, list) and len(our_val) == len(their_val) == 2
    if name in ("TTL", "PTTL") and isinstance(our_val, int) and isinstance(their_val, int):
        sign = lambda v: v if v < 0 else 0
        return sign(our_val) == sign(their_val)
    return our_raw == their_raw


def full_scan(client, pattern, count):
    seen, cursor = set(), b"0"
    for _ in range(10000):
        client.send(encode(["SCAN", cursor, "MATCH", pattern, "COUNT", count]))
        _, (cursor, keys) = client.reply()
        seen.update(keys)
        if cursor == b"0":
            return sorted(seen)
    return None


def run_sequence(ours, theirs, rng, n, use_inline):
    gen = Generator(rng)
    for i in range(n):
        if rng.random() < 0.03:
            # A key that lives a few ms, waited out before going on.
            cmd = ["SET", gen.key(), gen.val(), "PX", str(rng.randint(1, 5))]
            for c in (ours, theirs):
                c.send(encode(cmd))
            a, b = ours.reply(), theirs.reply()
            if a[0] != b[0]:
                return cmd, a[0], b[0]
            time.sleep(0.012)
            continue
        if rng.random() < 0.02:
            pattern, count = rng.choice(["*", "k[1-3]", "k?"]), rng.choice(["1", "2", "10"])
            a, b = full_scan(ours, pattern, count), full_scan(theirs, pattern, count)
            if a != b:
                return ["SCAN (whole)", pattern, count], repr(a).encode(), repr(b).encode()
            continue
        cmd = gen.command()
        wire = inline(cmd) if use_inline and all(" " not in a and a and '"' not in a and "'" not in a
                                                 for a in cmd) and rng.random() < 0.2 else encode(cmd)
        for c in (ours, theirs):
            c.send(wire)
        a, b = ours.reply(), theirs.reply()
        if cmd[0] == "SPOP":
            # Random members: compare the shape, then forget the key on both.
            same = type(a[1]) == type(b[1]) and (not isinstance(a[1], list) or len(a[1]) == len(b[1]))
            if a[0].startswith(b"-") or b[0].startswith(b"-") or a[1] is None or b[1] is None:
                same = a[0] == b[0]
            if not same:
                return cmd, a[0], b[0]
            for c in (ours, theirs):
                c.send(encode(["DEL", cmd[1]]))
            if ours.reply()[0] != theirs.reply()[0]:
                return ["DEL", cmd[1]] + ["(after SPOP)"], b"", b""
            continue
        if not compare(cmd, a, b):
            return cmd, a[0], b[0]
    return None


# Scripted steps on two connections (0 and 1): (connection, command) sends
# the command (none: only listens) and compares the replies that arrive
# within a moment (a subscribed connection may get none, or several); a
# third item, "any order", compares the names its replies list, and their
# counts, each as a multiset.
SCRIPT = [
    (0, ["FLUSHALL"]),
    (0, ["RPUSH", "bl", "a", "b", "c"]),
    (0, ["BLPOP", "none", "bl", "0"]), (0, ["BRPOP", "bl", "none", "0"]), (0, ["BLPOP", "bl", "1"]),
    (0, ["EXISTS", "bl"]), (0, ["BLPOP", "bl", "0.01"]), (0, ["BRPOP", "bl", "other", "0.001"]),
    (0, ["SET", "str", "v"]), (0, ["BLPOP", "none", "str", "0"]), (0, ["BLPOP", "str", "x"]),
    (0, ["BLPOP", "none", "-2"]), (0, ["BLPOP", "none", "-0.0011"]), (0, ["BLPOP", "none", "inf"]),
    (0, ["BLPOP", "none", "9223372036854775.808"]), (0, ["BRPOP", "none"]), (0, ["blpop"]),
    (0, ["PUBLISH", "ch", "nobody"]), (0, ["PUBLISH", "ch"]), (0, ["UNSUBSCRIBE"]), (0, ["PUNSUBSCRIBE", "p*"]),
    (0, ["SUBSCRIBE", "ch", "ch2", "ch"]), (0, ["PING"]), (0, ["PING", "x"]), (0, ["PING", "a", "b"]),
    (0, ["GET", "str"]), (0, ["GET"]), (0, ["CONFIG", "GET", "save"]), (0, ["COMMAND", "INFO", "get"]),
    (0, ["COMMAND"]), (0, ["SELECT", "0"]), (0, ["nosuch"]), (0, ["BLPOP", "bl", "0"]), (0, ["PUBLISH", "ch", "m"]),
    (1, ["PUBLISH", "ch", "hello"]), (0, []), (1, ["PUBLISH", "ch2", ""]), (0, []),
    (0, ["PSUBSCRIBE", "c*"]), (1, ["PUBLISH", "ch", "both"]), (0, []), (1, ["PUBLISH", "cx", "pattern"]), (0, []),
    (0, ["UNSUBSCRIBE", "ch", "nope"]), (1, ["PUBLISH", "ch", "pattern only"]), (0, []),
    (0, ["PSUBSCRIBE", "a?", "b[0-9]"]), (0, ["PUNSUBSCRIBE"]), (0, ["SUBSCRIBE", "x1", "x2", "x3", "x4"]),
    (0, ["UNSUBSCRIBE"], "any order"), (0, ["UNSUBSCRIBE"]), (0, ["PING"]), (0, ["GET", "str"]),
    (0, ["SUBSCRIBE", "q"]), (0, ["RESET"]), (0, ["PING"]), (1, ["PUBLISH", "q", "gone"]),
    (0, ["SUBSCRIBE", "q"]), (0, ["QUIT"]), (1, ["PUBLISH", "q", "closed"]),
]


def collect(client, first, more):
    """The whole replies that arrive: the first within `first` seconds, each
    next within `more` of the one before."""
    client.sock.settimeout(first)
    got = []
    try:
        while True:
            got.append(client.reply())
            client.sock.settimeout(more)
    except socket.timeout:
        pass
    except (EOFError, ConnectionResetError):
        got.append((b"<closed>", None))
    finally:
        client.sock.settimeout(10)
    return got


def check_script(our_port, their_port):
    conns = {port: [Client(port), Client(port)] for port in (our_port, their_port)}
    for step in SCRIPT:
        who, cmd = step[0], step[1]
        got = []
        for port in (our_port, their_port):
            c = conns[port][who]
            if cmd:
                c.send(encode(cmd))
            # A command has a reply; listening may bring none.
            got.append(collect(c, 2 if cmd else 0.05, 0.02))
        if len(step) > 2:
            same = all(sorted(v[i] for _, v in got[0]) == sorted(v[i] for _, v in got[1]) for i in (1, 2))
        else:
            same = [raw for raw, _ in got[0]] == [raw for raw, _ in got[1]]
        if not same:
            return cmd, b"".join(raw for raw, _ in got[0]), b"".join(raw for raw, _ in got[1])
    return None


MALFORMED = [
    b"*x\r\n", b"*01\r\n", b"*-1\r\nPING\r\n", b"*1\r\nx\r\n", b"*1\r\n$-1\r\n", b"*1\r\n$x\r\n",
    b"*2\r\n$3\r\nGET\r\n:1\r\n", b'set a "b\r\n', b'set a "b"c\r\n', b"set a 'b'c\r\n", b"*0\r\nPING\r\n",
    b"\r\n\r\nPING\r\n", b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n",
    b'echo "a\\x41\\n\\tb" \'c\\\'d\'\r\n', b"*1\r\n$536870913\r\n", b"PING\r\n*1\r\n$1\r\n",
    b"a" * 70000, b"*" + b"1" * 70000, b"*1\r\n$" + b"1" * 70000, b"QUIT\r\nPING\r\n",
]


def check_malformed(our_port, their_port):
    for data in MALFORMED:
        got = []
        for port in (our_port, their_port):
            c = Client(port)
            c.sock.settimeout(0.5)
            c.send(data)
            got.append(c.rest_until_close())
            c.sock.close()
        if got[0] != got[1]:
            return data, got[0], got[1]
    return None


def start(cmd, name):
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_port(port, proc, name):
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit("%s exited: %s" % (name, proc.stderr.read()))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("%s did not start" % name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("server")
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("WEFT_KV_SEED", "1")))
    ap.add_argument("--commands", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    their_port = free_port()
    redis = start([a.redis_server, "--port", str(their_port), "--save", "", "--appendonly", "no",
                   "--databases", "1", "--bind", "127.0.0.1"], "redis-server")
    ours_proc = start([a.server, "--port", "0", "--workers", "2"], "weft-kv")
    try:
        line = ours_proc.stdout.readline()
        if not line.startswith("listening on "):
            sys.exit("weft-kv did not start: " + line + ours_proc.stderr.read())
        our_port = int(line.split()[2].rsplit(":", 1)[1])
        wait_port(their_port, redis, "redis-server")
        failures = 0
        for round_ in range(a.rounds):
            seed = a.seed + round_
            ours, theirs = Client(our_port), Client(their_port)
            for c in (ours, theirs):
                c.send(encode(["FLUSHALL"]))
                c.reply()
            diff = run_sequence(ours, theirs, random.Random(seed), a.commands, use_inline=True)
            if diff:
                cmd, o, t = diff
                print("DIFFERENT (seed %d): %s\n  weft-kv:      %r\n  redis-server: %r" % (seed, cmd, o, t))
                failures += 1
            else:
                print("ok   seed %d: %d commands, same replies" % (seed, a.commands))
        diff = check_script(our_port, their_port)
        if diff:
            cmd, o, t = diff
            print("DIFFERENT scripted step %s\n  weft-kv:      %r\n  redis-server: %r" % (cmd, o, t))
            failures += 1
        else:
            print("ok   %d scripted blocking and pub/sub steps: same replies" % len(SCRIPT))
        diff = check_malformed(our_port, their_port)
        if diff:
            data, o, t = diff
            print("DIFFERENT malformed input %r\n  weft-kv:      %r\n  redis-server: %r" % (data[:60], o[:300], t[:300]))
            failures += 1
        else:
            print("ok   %d malformed inputs: same replies, same closes" % len(MALFORMED))
        return 1 if failures else 0
    finally:
        for p in (ours_proc, redis):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
