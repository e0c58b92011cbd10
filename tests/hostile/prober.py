#!/usr/bin/env python3
"""The well-behaved client beside every hostile scenario: every 20 ms it
asks the server something cheap on a connection it keeps, and (unless told
not to) the same on a fresh connection, and records how long each answer
took and whether it was right.

It runs as a process of its own, so that the hostile clients' work in the
checker's process (thousands of sockets, one Python interpreter lock) does
not show in its figures, and so that it holds none of their sockets.

  prober.py http|kv PORT [--no-fresh]

Prints "ready" once its first answer came, probes until its standard input
closes (or 600 s pass), then prints one JSON line: a list of
[kind, seconds, error or null], kind "keep" or "fresh".
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

INTERVAL = 0.020       # between the starts of two rounds
ANSWER_TIMEOUT = 5.0   # one question's longest wait: beyond it, an error
MOST_SECONDS = 600     # a forgotten prober ends by itself

KV_PING = wire.resp_command("PING")


def read_http(sock):
    data = b""
    while True:
        got, rest = wire.http_responses(data)
        if got:
            r = got[0]
            if r.status != 200 or r.body != b"pong\n":
                raise ValueError("wrong answer %r" % r)
            return
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("closed before the answer")
        data += chunk


def read_kv(sock):
    data = b""
    while True:
        got, _ = wire.resp_replies(data, 1)
        if got:
            if got[0] != b"+PONG":
                raise ValueError("wrong reply %r" % got[0])
            return
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("closed before the reply")
        data += chunk


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def main():
    protocol, port = sys.argv[1], int(sys.argv[2])
    fresh = "--no-fresh" not in sys.argv[3:]
    ask, read = ((wire.PING_REQUEST, read_http) if protocol == "http" else (KV_PING, read_kv))
    ask_fresh = wire.PING_REQUEST_CLOSE if protocol == "http" else KV_PING
    stop = threading.Event()

    def wait_for_eof():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    samples = []
    keep = None
    ready = False
    end = time.monotonic() + MOST_SECONDS
    while not stop.is_set() and time.monotonic() < end:
        began = time.monotonic()
        try:
            if keep is None:
                keep = connect(port)
            t = time.monotonic()
            keep.sendall(ask)
            read(keep)
            samples.append(["keep", time.monotonic() - t, None])
        except (OSError, ValueError, EOFError) as e:
            samples.append(["keep", time.monotonic() - began, "%s: %s" % (type(e).__name__, e)])
            if keep is not None:
                keep.close()
            keep = None
        if fresh:
            t = time.monotonic()
            s = None
            try:
                s = connect(port)
                s.sendall(ask_fresh)
                read(s)
                samples.append(["fresh", time.monotonic() - t, None])
            except (OSError, ValueError, EOFError) as e:
                samples.append(["fresh", time.monotonic() - t, "%s: %s" % (type(e).__name__, e)])
            finally:
                if s is not None:
                    s.close()
        if not ready and samples and samples[-1][2] is None:
            ready = True
            print("ready", flush=True)
        pause = began + INTERVAL - time.monotonic()
        if pause > 0:
            stop.wait(pause)
    if keep is not None:
        keep.close()
    print(json.dumps(samples), flush=True)


if __name__ == "__main__":
    main()
