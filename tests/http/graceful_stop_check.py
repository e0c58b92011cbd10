#!/usr/bin/env python3
"""weft-http stops gracefully on SIGTERM, as a client it did not write sees it.

Usage: graceful_stop_check.py path/to/weft-http [extra server flags...]

Two scenarios, each a fresh server on a free port:

  under load   16 keep-alive clients send GET /ping and POST /echo (random
               bodies up to 20 kB) as fast as they can; one client is in the
               middle of a request when SIGTERM arrives (half its bytes sent,
               the rest 300 ms later), one waits on GET /heavy?ms=400. Then
               SIGTERM. Every answer any client received must be whole and
               right; the half-sent request and the heavy one must be
               answered; new connections are refused soon after; the server
               exits 0 within the grace, and its last line says every request
               it began was answered and nothing was cut off.
  past grace   --grace 300 and a client that stops sending half-way through a
               request: the server cuts it off after the grace, exits 0, and
               says one connection was cut off.

Exit status 0 when every check holds, 1 otherwise.
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time


def start(server, flags):
    p = subprocess.Popen([server, "--port", "0", *flags], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        sys.exit("weft-http did not start: %r %s" % (line, p.stderr.read()))
    return p, int(m.group(1))


def read_response(sock, buf):
    """One whole response from `sock` (bytes already received in buf[0]).
    Returns (status, headers, body) or None if the peer closed before the
    first byte; raises ValueError for a response cut short."""
    data = buf[0]
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if data:
                raise ValueError("headers cut short: %r" % data[:80])
            return None
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("body cut short: %d of %d bytes" % (len(rest), length))
        rest += chunk
    buf[0] = rest[length:]
    return status, headers, rest[:length]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.answered = 0
        self.problems = []

    def ok(self):
        with self.lock:
            self.answered += 1

    def problem(self, what):
        with self.lock:
            self.problems.append(what)


def load_client(port, stop_at, tally, seed):
    rng = random.Random(seed)
    while time.time() < stop_at:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return  # refused: the server stopped accepting
        buf = [b""]
        try:
            while time.time() < stop_at:
                if rng.random() < 0.5:
                    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                    want = b"pong\n"
                else:
                    want = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 20000)))
                    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                                 % len(want) + want)
                r = read_response(sock, buf)
                if r is None:
                    break  # closed before answering: the request was not begun
                status, headers, body = r
                if status != 200 or body != want:
                    tally.problem("wrong answer: %d, %d bytes" % (status, len(body)))
                tally.ok()
                if headers.get("connection") == "close":
                    break
        except ValueError as e:
            tally.problem(str(e))
        except OSError:
            pass  # a reset between requests: nothing was begun
        finally:
            sock.close()


def half_sent_request(port, sent_half, go_on, result):
    body = b"x" * 1000
    req = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + body
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(req[:len(req) // 2])
    sent_half.set()
    go_on.wait(10)
    try:
        sock.sendall(req[len(req) // 2:])
        r = read_response(sock, [b""])
        result.append("answered" if r and r[0] == 200 and r[2] == body else "wrong: %r" % (r,))
    except (OSError, ValueError) as e:
        result.append("failed: %s" % e)
    sock.close()


def heavy_request(port, sent, result):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /heavy?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n")
    sent.set()
    try:
        r = read_response(sock, [b""])
        result.append("answered" if r and r[0] == 200 else "wrong: %r" % (r,))
    except (OSError, ValueError) as e:
        result.append("failed: %s" % e)
    sock.close()


def wait_exit(p, seconds, scenario, failures):
    """The server's stderr once it has exited (killed after `seconds`)."""
    try:
        return p.communicate(timeout=seconds)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        failures.append("%s: the server did not exit within %d s" % (scenario, seconds))
        return p.communicate()[1]


def last_line(stderr):
    lines = [l for l in stderr.splitlines() if l.startswith("weft-http: stopped")]
    return lines[-1] if lines else ""


def under_load(server, flags, failures):
    p, port = start(server, ["--grace", "5000", *flags])
    tally = Tally()
    stop_at = time.time() + 20
    clients = [threading.Thread(target=load_client, args=(port, stop_at, tally, i)) for i in range(16)]
    for c in clients:
        c.start()
    time.sleep(1.0)
    sent_half, go_on, half = threading.Event(), threading.Event(), []
    heavy_sent, heavy = threading.Event(), []
    t1 = threading.Thread(target=half_sent_request, args=(port, sent_half, go_on, half))
    t2 = threading.Thread(target=heavy_request, args=(port, heavy_sent, heavy))
    t1.start()
    sent_half.wait(5)
    # A request the server has not read is not under way (it would rightly
    # close that connection as idle): an answer on a fresh connection, sent
    # after the half, means the server has been round its loop since.
    time.sleep(0.05)
    probe = socket.create_connection(("127.0.0.1", port), timeout=10)
    probe.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    if read_response(probe, [b""]) is None:
        failures.append("under load: the probe was not answered")
    probe.close()
    t2.start()
    heavy_sent.wait(5)
    time.sleep(0.1)  # let the server read the heavy one
    answered_before = tally.answered
    began = time.time()
    p.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    go_on.set()
    err = wait_exit(p, 15, "under load", failures)
    took = time.time() - began
    t1.join()
    t2.join()
    for c in clients:
        c.join()
    # New connections are refused once it has gone.
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        failures.append("under load: the port still accepts after the stop")
    except OSError:
        pass
    line = last_line(err)
    m = re.search(r"(\d+) requests begun, (\d+) answered; (\d+) connections closed in the grace period, (\d+) cut off", line)
    print("under load: %d answers before SIGTERM, %d in all; exit %s after %.2f s; half-sent: %s; heavy: %s"
          % (answered_before, tally.answered, p.returncode, took, half, heavy))
    print("  server: %s" % line)
    if p.returncode != 0:
        failures.append("under load: exit status %s; stderr: %s" % (p.returncode, err[-500:]))
    if tally.problems:
        failures.append("under load: %d bad answers, first: %s" % (len(tally.problems), tally.problems[0]))
    if answered_before < 100:
        failures.append("under load: only %d answers before SIGTERM" % answered_before)
    if half != ["answered"]:
        failures.append("under load: the request under way at SIGTERM: %s" % half)
    if heavy != ["answered"]:
        failures.append("under load: the heavy request under way at SIGTERM: %s" % heavy)
    if not m:
        failures.append("under load: no 'stopped' line: %s" % err[-500:])
    elif m.group(1) != m.group(2) or m.group(4) != "0":
        failures.append("under load: begun %s, answered %s, cut off %s" % (m.group(1), m.group(2), m.group(4)))


def past_grace(server, flags, failures):
    p, port = start(server, ["--grace", "300", *flags])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nxxxx")
    time.sleep(0.2)
    began = time.time()
    p.send_signal(signal.SIGTERM)
    err = wait_exit(p, 10, "past grace", failures)
    took = time.time() - began
    sock.close()
    line = last_line(err)
    print("past grace: exit %s after %.2f s\n  server: %s" % (p.returncode, took, line))
    if p.returncode != 0:
        failures.append("past grace: exit status %s" % p.returncode)
    if "1 cut off" not in line:
        failures.append("past grace: expected one connection cut off: %s" % line)
    if took < 0.25:
        failures.append("past grace: stopped after %.2f s, before the 300 ms grace" % took)


def main():
    server = sys.argv[1]
    flags = sys.argv[2:]
    failures = []
    under_load(server, flags, failures)
    past_grace(server, flags, failures)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
