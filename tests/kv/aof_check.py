#!/usr/bin/env python3
"""weft-kv's append-only file, tried the way a user relies on it.

Each case starts build/bin/weft-kv with --appendonly yes in a fresh directory
and checks what a restart finds:

  crash-always     clients write (SET, INCR, RPUSH; some pipelined) as fast
                   as they can, the server is killed with SIGKILL mid-load
                   (appendfsync always), restarted: every write a client saw
                   acknowledged is there (and nothing beyond what was sent)
  crash-rewrite    the same while another client asks BGREWRITEAOF again
                   and again and the file also rewrites itself (a small
                   --auto-aof-rewrite-min-size): a kill during a rewrite
                   loses nothing either
  crash-everysec   the same with appendfsync everysec: a killed process
                   loses nothing acknowledged (the write precedes the reply)
  crash-epoll      crash-always on the epoll backend
  crash-single     crash-always in the single-thread (Node) mode
  stop             a clean SIGTERM: the restart has everything, expiry kept
  truncated        a file cut inside its last record (a crash while writing)
                   loads with a warning, is cut back, and takes writes again
  corrupt          a file that is not a log stops the start, naming the file
                   and the byte, exit status 1, before any command is served
  full             the file may not grow (RLIMIT_FSIZE, SIGXFSZ ignored):
                   writes get -MISCONF, reads go on, nothing is acknowledged
                   that is not in the file
  stop-during-rewrite  SIGTERM while a rewrite walks 200,000 keys: the stop
                   abandons it, exits 0, and the log has every key
  shutdown         SHUTDOWN (redis-cli's way to stop a server) stops it
                   gracefully, exit status 0, its log complete
  rewrite-fails    a rewrite that cannot create its file is said once (no
                   automatic retry every round) and the log goes on

Usage: aof_check.py path/to/weft-kv [--only CASE] [--seconds S]
"""
import argparse
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


class Client:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *commands):
        out = b""
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("the server closed the connection")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-", b":"):
            return line
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad reply %r" % line)

    def call(self, *args):
        self.send(args)
        return self.reply()


class Server:
    def __init__(self, binary, directory, *extra, limit_file=None):
        self.directory = directory
        cmd = [binary, "--port", "0", "--appendonly", "yes", "--dir", directory, "--grace", "2000", *extra]

        def pre():
            if limit_file is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file, limit_file))

        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=pre)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.wait(timeout=10)
            self.err = self.proc.stderr.read()
            self.port = None
            return
        self.port = int(line.split()[2].rsplit(":", 1)[1])
        self.err = None

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.err = self.proc.stderr.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=20)
        self.err = self.proc.stderr.read()
        return status


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class Writer(threading.Thread):
    """Writes its own keys until told to stop; remembers what was acknowledged."""

    def __init__(self, port, name, stop):
        super().__init__(daemon=True)
        self.port, self.name, self.stop_event = port, name, stop
        self.acked = 0   # the last n whose three writes were all acknowledged
        self.sent = 0    # the last n sent
        self.error = None

    def run(self):
        rng = random.Random(self.name)
        try:
            c = Client(self.port)
            n = 0
            while not self.stop_event.is_set():
                batch = rng.choice([1, 1, 1, 4, 16])
                cmds = []
                for i in range(batch):
                    m = n + 1 + i
                    cmds += [("SET", "%s:k%d" % (self.name, m), "v%d" % m),
                             ("INCR", "%s:ctr" % self.name),
                             ("RPUSH", "%s:list" % self.name, m)]
                self.sent = n + batch
                c.send(*cmds)
                for i in range(batch):
                    a, b, d = c.reply(), c.reply(), c.reply()
                    m = n + 1 + i
                    if a != b"+OK" or b != b":%d" % m or d != b":%d" % m:
                        self.error = "unexpected replies for %d: %r %r %r" % (m, a, b, d)
                        return
                    self.acked = m
                n += batch
        except (OSError, EOFError):
            pass  # the kill


def verify(port, writers):
    c = Client(port)
    for w in writers:
        if w.error:
            check(False, "%s: %s" % (w.name, w.error))
            continue
        ctr = c.call("GET", "%s:ctr" % w.name)
        ctr = int(ctr) if ctr is not None else 0
        lst = [int(x) for x in c.call("LRANGE", "%s:list" % w.name, 0, -1)]
        lost = [m for m in range(1, w.acked + 1)
                if c.call("GET", "%s:k%d" % (w.name, m)) != b"v%d" % m]
        ok = (w.acked <= ctr <= w.sent and lst == list(range(1, len(lst) + 1))
              and w.acked <= len(lst) <= w.sent and not lost)
        if not ok or w is writers[0]:
            check(ok, "%s: %d acknowledged, %d sent; after the restart the counter is %d, the list %d long, "
                  "%d acknowledged keys missing" % (w.name, w.acked, w.sent, ctr, len(lst), len(lost)))
    c.close()


def crash_case(binary, seconds, *extra, rewrites=False):
    d = tempfile.mkdtemp(prefix="weft-aof-")
    try:
        s = Server(binary, d, *(extra if "--mode" in extra else ("--workers", "2") + extra))
        check(s.port is not None, "started %s" % " ".join(extra))
        stop = threading.Event()
        writers = [Writer(s.port, "c%d" % i, stop) for i in range(6)]
        for w in writers:
            w.start()
        asked = 0
        deadline = time.monotonic() + seconds
        if rewrites:
            r = Client(s.port)
            while time.monotonic() < deadline:
                reply = r.call("BGREWRITEAOF")
                asked += reply.startswith(b"+")
                time.sleep(0.05)
        else:
            time.sleep(seconds)
        s.kill()
        stop.set()
        for w in writers:
            w.join(timeout=10)
        total = sum(w.acked for w in writers)
        check(total > 0, "killed under load after %d acknowledged rounds%s" %
              (total, ", %d rewrites asked" % asked if rewrites else ""))
        if rewrites:
            check(asked > 0, "BGREWRITEAOF was accepted")
        s2 = Server(binary, d, *extra)
        check(s2.port is not None, "restarted after the kill: %s" % (s2.err or "").strip()[-300:])
        if s2.port is None:
            return
        verify(s2.port, writers)
        # After a command was answered: the file is loaded only once the
        # server listens (connections wait in the backlog meanwhile).
        check(not os.path.exists(os.path.join(d, "appendonly.aof.rewrite")),
              "the unfinished rewrite's file was removed at the start")
        check(s2.stop() == 0, "stopped cleanly")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def case_stop(binary):
    d = tempfile.mkdtemp(prefix="weft-aof-")
    try:
        s = Server(binary, d)
        c = Client(s.port)
        c.call("SET", "a", "1")
        c.call("SET", "b", "2", "EX", "1000")
        c.call("SET", "gone", "x", "PX", "50")
        c.call("HSET", "h", "f", "v")
        c.call("ZADD", "z", "0.1", "m")
        c.call("SADD", "s", "x", "y", "z")
        c.call("SPOP", "s")
        members = sorted(c.call("SMEMBERS", "s"))
        c.close()
        time.sleep(0.1)
        check(s.stop() == 0, "SIGTERM: exit status 0")
        s2 = Server(binary, d)
        c = Client(s2.port)
        check(c.call("GET", "a") == b"1", "a string is back")
        ttl = c.call("TTL", "b")
        check(ttl is not None and 990 <= int(ttl[1:]) <= 1000, "an expiry is back (TTL %r)" % ttl)
        check(c.call("EXISTS", "gone") == b":0", "an expired key stays expired")
        check(c.call("HGET", "h", "f") == b"v", "a hash is back")
        check(c.call("ZSCORE", "z", "m") == b"0.10000000000000001", "a score is back exactly")
        check(sorted(c.call("SMEMBERS", "s")) == members, "SPOP's choice is back, not a new one")
        info = c.call("INFO", "persistence")
        check(b"aof_enabled:1" in info, "INFO says the log is on")
        check(c.call("CONFIG", "GET", "appendonly") == [b"appendonly", b"yes"], "CONFIG GET appendonly: yes")
        c.close()
        s2.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def case_truncated(binary):
    d = tempfile.mkdtemp(prefix="weft-aof-")
    try:
        s = Server(binary, d)
        c = Client(s.port)
        c.call("SET", "a", "1")
        c.call("RPUSH", "l", "x")
        c.close()
        s.stop()
        path = os.path.join(d, "appendonly.aof")
        whole = os.path.getsize(path)
        with open(path, "ab") as f:
            f.write(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\nhal")  # a record cut short
        s2 = Server(binary, d)
        check(s2.port is not None, "a file cut inside its last record loads")
        c = Client(s2.port)
        check(c.call("GET", "a") == b"1" and c.call("EXISTS", "b") == b":0", "what was whole is there, the rest not")
        check(os.path.getsize(path) == whole, "the file is cut back to its last whole record")
        check(c.call("SET", "c", "3") == b"+OK", "and takes writes again")
        c.close()
        s2.stop()
        check("incomplete record" in s2.err, "with a warning: %s" % s2.err.strip().splitlines()[0])
        s3 = Server(binary, d)
        c = Client(s3.port)
        check(c.call("GET", "c") == b"3" and c.call("LRANGE", "l", 0, -1) == [b"x"], "the next start has it all")
        c.close()
        s3.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def case_corrupt(binary):
    d = tempfile.mkdtemp(prefix="weft-aof-")
    try:
        with open(os.path.join(d, "appendonly.aof"), "wb") as f:
            f.write(b"*1\r\n$4\r\nPING\r\nthis is not a log\r\n")
        s = Server(binary, d)
        # It may say it listens before it has loaded the file (connections
        # wait in the backlog meanwhile); either way it must end.
        status = s.proc.wait(timeout=10)
        if s.err is None:
            s.err = s.proc.stderr.read()
        check(status == 1, "a file that is not a log stops the start: exit status 1 (%r)" % status)
        check("appendonly.aof" in (s.err or "") and "byte 14" in (s.err or ""),
              "the message names the file and the byte: %s" % (s.err or "").strip())
    finally:
        shutil.rmtree(d, ignore_errors=True)


def case_full(binary):
    d = tempfile.mkdtemp(prefix="weft-aof-")
    try:
        s = Server(binary, d, "--appendfsync", "always", limit_file=20000)
        c = Client(s.port)
        acked, refused = 0, None
        for i in range(2000):
            try:
                r = c.call("SET", "k%d" % i, "x" * 40)
            except (EOFError, ConnectionResetError):
                c = Client(s.port)  # it closed without acknowledging: fine
                continue
            if r == b"+OK":
                acked = i + 1
            else:
                refused = r
                break
        check(refused is not None and refused.startswith(b"-MISCONF Errors writing to the AOF file"),
              "a log that cannot grow refuses writes: %r" % refused)
        check(c.call("GET", "k0") == b"x" * 40, "reads go on")
        c.close()
        check(s.stop() == 0, "a stop while the log cannot be written still ends, exit 0")
        s2 = Server(binary, d)
        c = Client(s2.port)
        missing = [i for i in range(acked) if c.call("EXISTS", "k%d" % i) != b":1"]
        check(acked > 0 and not missing, "all %d acknowledged writes are in the file" % acked)
        c.close()
        s2.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def case_shutdown(binary):
    d = tempfile.mkdtemp(prefix="weft-aof-")
    try:
        s = Server(binary, d, "--appendfsync", "no")
        c = Client(s.port)
        c.call("SET", "a", "1")
        check(c.call("SHUTDOWN", "ABORT") == b"-ERR No shutdown in progress.", "SHUTDOWN ABORT: nothing to abort")
        check(c.call("SHUTDOWN", "bogus") == b"-ERR syntax error", "SHUTDOWN with a bad option: syntax error")
        try:
            got = c.call("SHUTDOWN", "NOSAVE")
        except EOFError:
            got = None
        check(got is None, "SHUTDOWN: no reply, the connection closes (%r)" % (got,))
        status = s.proc.wait(timeout=15)
        s.err = s.proc.stderr.read()
        check(status == 0, "the server stopped by SHUTDOWN exits 0 (%r)" % status)
        s2 = Server(binary, d)
        c = Client(s2.port)
        check(c.call("GET", "a") == b"1", "what came before SHUTDOWN is in the file (appendfsync no)")
        c.close()
        s2.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def case_stop_during_rewrite(binary):
    d = tempfile.mkdtemp(prefix="weft-aof-")
    try:
        s = Server(binary, d, "--appendfsync", "no")
        c = Client(s.port)
        # Enough keys that the rewrite's walk takes many steps.
        for base in range(0, 200000, 1000):
            c.send(*[("SET", "k%d" % i, "v%d" % i) for i in range(base, base + 1000)])
            for _ in range(1000):
                c.reply()
        check(c.call("BGREWRITEAOF").startswith(b"+"), "a rewrite begins")
        c.close()
        s.proc.send_signal(signal.SIGTERM)  # while it walks
        try:
            status = s.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            status = "hung"
        s.err = s.proc.stderr.read()
        check(status == 0, "a stop during a rewrite ends it and exits 0 (%r)" % status)
        s2 = Server(binary, d)
        c = Client(s2.port)
        check(c.call("DBSIZE") == b":200000" and c.call("GET", "k199999") == b"v199999",
              "every key is back after it")
        c.close()
        s2.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def case_rewrite_fails(binary):
    d = tempfile.mkdtemp(prefix="weft-aof-")
    try:
        # The new file's name is taken by a directory: every rewrite fails.
        os.makedirs(os.path.join(d, "appendonly.aof.rewrite", "x"))
        s = Server(binary, d, "--auto-aof-rewrite-min-size", "2000")
        c = Client(s.port)
        reply = c.call("BGREWRITEAOF")
        check(reply.startswith(b"+"), "BGREWRITEAOF is accepted: %r" % reply)
        deadline = time.monotonic() + 2
        n = 0
        while time.monotonic() < deadline:
            c.call("SET", "k%d" % n, "x" * 50)
            n += 1
        c.close()
        s.stop()
        failures_said = s.err.count("rewrite of")
        check(1 <= failures_said <= 2,
              "a rewrite that cannot create its file fails, said once, not every round (%d times)" % failures_said)
        shutil.rmtree(os.path.join(d, "appendonly.aof.rewrite"))
        s2 = Server(binary, d)
        c = Client(s2.port)
        check(c.call("DBSIZE") == b":%d" % n, "the log went on meanwhile: all %d writes are back" % n)
        c.close()
        s2.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--only")
    ap.add_argument("--seconds", type=float, default=1.5)
    a = ap.parse_args()
    cases = {
        "crash-always": lambda: crash_case(a.binary, a.seconds, "--appendfsync", "always"),
        "crash-rewrite": lambda: crash_case(a.binary, a.seconds, "--appendfsync", "always",
                                            "--auto-aof-rewrite-min-size", "200000", rewrites=True),
        "crash-everysec": lambda: crash_case(a.binary, a.seconds, "--appendfsync", "everysec"),
        "crash-epoll": lambda: crash_case(a.binary, a.seconds, "--appendfsync", "always", "--backend", "epoll"),
        "crash-single": lambda: crash_case(a.binary, a.seconds, "--appendfsync", "always", "--mode", "single"),
        "stop": lambda: case_stop(a.binary),
        "truncated": lambda: case_truncated(a.binary),
        "corrupt": lambda: case_corrupt(a.binary),
        "full": lambda: case_full(a.binary),
        "rewrite-fails": lambda: case_rewrite_fails(a.binary),
        "shutdown": lambda: case_shutdown(a.binary),
        "stop-during-rewrite": lambda: case_stop_during_rewrite(a.binary),
    }
    for name, run in cases.items():
        if a.only and name != a.only:
            continue
        print("== " + name, flush=True)
        run()
    if failures:
        print("%d checks failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
