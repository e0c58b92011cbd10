#!/usr/bin/env python3
"""Hostile clients against the example services: the service keeps answering
its other clients within stated latency and memory bounds, and each bad
client gets a clear answer or a close (issue 19, item 5).

Usage: hostile_check.py http|kv path/to/binary [--backend uring|epoll]
                        [--mode multi|single] [--scale N] [--strict]
                        [--only NAME[,NAME...]]

One scenario at a time, each beside a well-behaved prober (prober.py: a
request every 20 ms on a kept-alive connection and on a fresh one), with the
server's RSS and descriptors read before and after (harness.py has the
bounds and why; http_scenarios.py and kv_scenarios.py what each bad client
must get, from what the services' code says). The non-reader is started
first and left stalled while the others run; its close is checked last.

  weft-http  non-reader (closed after the 10 s write deadline), slowloris
             (2,000 connections at 1 byte/s: 408 and the close at 10 s),
             1 MB headers (431/414 and the close), 10,000 requests pipelined
             in one write (all answered in order), NUL bytes (400 and the
             close), a flood of 3,000 connections at once (all answered)
  weft-kv    non-reader (stalled; closed after the 30 s write timeout), slow
             clients with --timeout 2 (2,000 at 1 byte/s kept and answered, as
             redis-server does; idle ones closed), malformed RESP (the
             redis-server error, then the close), 1 MB lines, NUL bytes,
             10,000 commands pipelined, a subscriber that never reads while
             PUBLISH floods it (dropped past 1 MiB; PUBLISH never waits), a
             flood past --maxclients 100 ("-ERR max number of clients
             reached" and the close; the first 100 keep working), and large
             bulk lengths claimed and never sent

--scale N multiplies the connection counts and the pipeline (2,000
slowloris, 3,000 flood, 10,000 pipelined at 1). Both services take about
30 s each at the default scale.

At the end, a summary per scenario: what the bad clients got, the prober's
p50/p99/max, the server's RSS (before, peak, after) and descriptors (before,
after); and a `figure name=...` line of key=value pairs for each.

Exit status: 0 when every assertion held (known bugs, harness.KNOWN_BUGS,
are reported and fail only with --strict), 1 otherwise, 77 (skipped) when
the backend asked for is not available here.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import server as server_process  # noqa: E402

SKIP = 77
# Descriptors beyond the connections a scenario opens: the prober, the
# checker's own files, the server's rings and listeners.
DESCRIPTOR_MARGIN = 512


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("service", choices=("http", "kv"))
    p.add_argument("binary")
    p.add_argument("--backend", choices=("uring", "epoll"))
    p.add_argument("--mode", choices=("multi", "single"))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--strict", action="store_true", help="known bugs fail the run too")
    p.add_argument("--only", help="comma-separated scenario names")
    a = p.parse_args(argv)
    if a.scale <= 0:
        p.error("--scale wants a positive number")
    a.slowloris = max(1, int(2000 * a.scale))
    a.flood = max(1, int(3000 * a.scale))
    a.pipelined = max(1, int(10000 * a.scale))
    a.only = set(a.only.split(",")) if a.only else None
    return a


def fit_descriptors(a):
    """Raises this process's limit for the largest crowd; past the hard
    limit, makes the crowds smaller and says so. Returns the limit."""
    want = max(a.slowloris, a.flood) + DESCRIPTOR_MARGIN
    have = server_process.raise_descriptor_limit(want)
    if have < want:
        room = max(have - DESCRIPTOR_MARGIN, 0)
        if room < 100:
            return None
        print("descriptor limit %d: crowds of %d connections, not %d" % (have, room, max(a.slowloris, a.flood)))
        a.slowloris, a.flood = min(a.slowloris, room), min(a.flood, room)
    return have


def server_flags(a, extra=()):
    flags = []
    if a.backend:
        flags += ["--backend", a.backend]
    if a.mode:
        flags += ["--mode", a.mode]
    return flags + list(extra)


def print_outcome(o):
    c = o.check
    verdict = "FAIL" if c.failures else ("KNOWN BUG" if c.known else "PASS")
    print("== %s (%.1f s): %s" % (o.name, o.seconds, verdict))
    for line in c.got:
        print("   bad client: " + line)
    print("   prober: " + o.figures.line())
    before, peak, after = o.rss
    print("   server: RSS %.1f MiB before, %.1f peak, %.1f after; descriptors %d before, %d after" % (
        before / 1024, peak / 1024, after / 1024, o.fds[0], o.fds[1]))
    for f in c.failures:
        print("   FAIL " + f)
    for k in c.known:
        print("   KNOWN BUG " + k)
    figs = ["name=%s" % o.name.replace(" ", "_")]
    for kind in ("keep", "fresh"):
        v = o.figures.by_kind.get(kind)
        if v:
            figs += ["%s_p50_ms=%.2f" % (kind, harness.percentile(v, 0.5) * 1e3),
                     "%s_p99_ms=%.2f" % (kind, harness.percentile(v, 0.99) * 1e3),
                     "%s_max_ms=%.2f" % (kind, v[-1] * 1e3)]
    figs += ["rss_before_kib=%d" % before, "rss_peak_kib=%d" % peak, "rss_after_kib=%d" % after,
             "fds_before=%d" % o.fds[0], "fds_after=%d" % o.fds[1], "failures=%d" % len(c.failures),
             "known_bugs=%d" % len(c.known)]
    print("   figure " + " ".join(figs))


class Run:
    """The servers of one run, so that every one is stopped (or killed) at the end."""

    def __init__(self, a):
        self.a = a
        self.servers = []
        self.outcomes = []
        self.failures = []  # outside any scenario: a server that would not stop

    def start(self, extra=()):
        s = server_process.Server(self.a.binary, server_flags(self.a, extra), nofile=self.nofile)
        self.servers.append(s)
        return s

    def scenario(self, server, name, body, fresh=True):
        if self.a.only is not None and name not in self.a.only:
            return None
        o = harness.run_scenario(name, body, server, self.a.service, self.a, fresh)
        self.outcomes.append(o)
        print_outcome(o)
        sys.stdout.flush()
        return o

    def stop(self, server):
        status, killed, err = server.stop()
        self.servers.remove(server)
        last = [l for l in err.splitlines() if "stopped" in l]
        print("   server stopped: exit %s%s; %s" % (status, " (killed)" if killed else "",
                                                    last[-1] if last else "no last line"))
        if killed or status != 0:
            self.failures.append("%s: exit status %s%s after SIGTERM; stderr: %s" % (
                " ".join(server.command), status, " (killed)" if killed else "", err.strip()[-300:]))

    def kill_all(self):
        for s in self.servers:
            s.kill()


def run_http(run):
    import http_scenarios
    s = run.start()
    for name, body in http_scenarios.SCENARIOS:
        run.scenario(s, name, body)
        if not s.alive():
            break
    run.stop(s)


def run_kv(run):
    import kv_scenarios
    main = run.start(["--timeout", str(kv_scenarios.IDLE_TIMEOUT)])
    for name, body, where in kv_scenarios.SCENARIOS:
        if where == "main":
            run.scenario(main, name, body)
        else:
            # Scenarios of a server of their own (its flags in `where`).
            own = run.start(where["flags"])
            run.scenario(own, name, body, fresh=where.get("fresh", True))
            run.stop(own)
        if not main.alive():
            break
    run.stop(main)


def main(argv):
    a = parse_args(argv)
    if not os.access(a.binary, os.X_OK):
        print("FAIL %s is not an executable" % a.binary)
        return 1
    run = Run(a)
    run.nofile = fit_descriptors(a)
    if run.nofile is None:
        print("SKIP: RLIMIT_NOFILE cannot be raised past %d descriptors" % DESCRIPTOR_MARGIN)
        return SKIP
    began = time.monotonic()
    print("hostile %s: %s %s (scale %g: %d slowloris, %d flood, %d pipelined)" % (
        a.service, a.binary, " ".join(server_flags(a)), a.scale, a.slowloris, a.flood, a.pipelined))
    sys.stdout.flush()
    try:
        (run_http if a.service == "http" else run_kv)(run)
    except server_process.CannotStart as e:
        run.kill_all()
        if e.skip:
            print("SKIP: %s" % e)
            return SKIP
        print("FAIL %s" % e)
        return 1
    finally:
        run.kill_all()
    failed = [o for o in run.outcomes if o.check.failures]
    known = sum(len(o.check.known) for o in run.outcomes)
    for f in run.failures:
        print("FAIL " + f)
    print("hostile %s: %d scenarios in %.1f s, %d failed, %d known bugs%s" % (
        a.service, len(run.outcomes), time.monotonic() - began, len(failed), known,
        "" if not known else " (harness.KNOWN_BUGS; --strict fails on them)"))
    return 1 if failed or run.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
