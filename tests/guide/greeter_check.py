#!/usr/bin/env python3
"""The guide's service (examples/guide/greeter.cc) as a user runs it.

  greeter_check.py WEFT_GREETER --backend uring|epoll

Starts weft-greeter with a config on a free port, drives it with several
plain Python clients at once, checks every greeting, then sends SIGTERM
with a client connected and idle: the server must close that connection,
log its stop and exit 0 within the grace period. Then the errors a user
meets first: a missing config, a helper that cannot start, a port in use;
each must exit 1 with a message naming what failed.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

program = sys.argv[1]
backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "uring"
env = dict(os.environ, WEFT_BACKEND=backend)
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def write_config(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def start(config):
    return subprocess.Popen([program, config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


def listening_port(proc):
    line = proc.stdout.readline().decode()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    check(m is not None, f"first log line names the port: {line!r}")
    return int(m.group(1)) if m else 0


def client(port, name, count, results):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            want = b"".join(f"Hello from Linux, {name}{i}\n".encode() for i in range(count))
            s.sendall(b"".join(f"{name}{i}\n".encode() for i in range(count)))
            got = b""
            while len(got) < len(want):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            results[name] = got == want
    except OSError as e:
        print("client", name, "error:", e)
        results[name] = False


with tempfile.TemporaryDirectory() as d:
    config = write_config(d, "greeter.conf",
                          "# the guide's config\nport = 0\ngreeting = Hello\nhelper = uname -s\ngrace_ms = 3000\n")
    proc = start(config)
    try:
        port = listening_port(proc)
        results = {}
        threads = [threading.Thread(target=client, args=(port, f"c{k}-", 200, results)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        check(len(results) == 8 and all(results.values()), f"8 clients x 200 greetings, all right: {results}")
        # One more, connected and idle, when SIGTERM comes.
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"Ada\n")
        check(idle.recv(100) == b"Hello from Linux, Ada\n", "a greeting before the stop")
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        check(idle.recv(100) == b"", "the idle connection is closed by the stop")
        rc = proc.wait(10)
        took = time.monotonic() - began
        rest = proc.stdout.read().decode()
        check(rc == 0, f"exit status 0 after SIGTERM, got {rc}")
        check(took < 3.0, f"an idle server stops at once, not after the grace ({took:.2f} s)")
        check("SIGTERM, stopping" in rest and "stopped in" in rest, f"the stop is logged: {rest!r}")
        idle.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def fails_with(config_path, pattern, what):
        p = subprocess.run([program, config_path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           timeout=20)
        out = p.stdout.decode()
        check(p.returncode == 1, f"{what}: exit status 1, got {p.returncode}")
        check(re.search(pattern, out) is not None, f"{what}: message {out!r} matches {pattern!r}")

    fails_with(os.path.join(d, "missing.conf"),
               r"open .*/missing\.conf: No such file or directory", "a missing config")
    fails_with(write_config(d, "bad-helper.conf", "port = 0\nhelper = /nonexistent-weft/tool\n"),
               r"helper: start /nonexistent-weft/tool: No such file or directory", "a helper that cannot start")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        fails_with(write_config(d, "busy.conf", f"port = {busy}\n"),
                   rf"bind 127\.0\.0\.1:{busy}: Address already in use", "a port in use")

if failures:
    print(f"greeter_check ({backend}): {len(failures)} failure(s)")
    sys.exit(1)
print(f"greeter_check ({backend}): all passed")
