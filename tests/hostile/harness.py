"""How one hostile scenario is run and judged (hostile_check.py runs them).

A scenario is a function of a Context that plays the bad client(s) and
records, through its Check, what they got and what must hold. Around it,
run_scenario():
  1. reads the server's RSS and descriptors (before),
  2. starts the prober (prober.py) and a thread that samples RSS for the peak,
  3. runs the scenario,
  4. stops the prober, waits for the server's descriptors to come back,
     reads RSS and descriptors again (after),
  5. judges the prober's figures and the memory against the bounds below,
     and that the server is still running.

Bounds (the machine has two cores, shared with the checker and its prober
and, under `ctest -j`, with other tests):
  PROBE_P99 250 ms   the prober's 99th percentile, per kind (kept-alive,
                     fresh). A healthy server answers /ping or PING in well
                     under a millisecond here; what remains is the
                     scheduler's: with both cores busy (the hostile clients
                     in Python, the server's two workers, another test) a
                     runnable thread waits its turn for up to a few CFS
                     slices (~10-30 ms each). 250 ms is ten times what the
                     loaded runs showed, and a server that stalls its other
                     clients behind a bad one for a quarter second on more
                     than one probe in a hundred fails it.
  PROBE_MAX 1.5 s    the slowest single probe. A stall of seconds (a worker
                     blocked in a bad client's write, an accept loop that
                     stops) fails it; one lost SYN during a flood (retried by
                     the kernel after 1 s) does not.
  PROBE_MIN_ROUNDS   the prober made at least a third of the rounds its 20 ms
                     cadence allows: a prober that was itself starved would
                     make few probes and see nothing.
  MEMORY_BOUND 64 MiB  RSS growth (peak and after) of one scenario with a
                     handful of bad connections: a connection's buffers are
                     fixed (16 KiB each way, io/buffered.h) and its fiber's
                     stack is touched only as deep as it goes, so a few bad
                     clients cost well under a MiB; a server that buffered a
                     non-reader's answers, or allocated what a length claims,
                     would pass 64 MiB within a second. Scenarios with
                     thousands of connections add PER_CONNECTION_KIB for each.
  Descriptors after must be no more than before (plus the connections a
                     scenario leaves open on purpose: the stalled non-reader):
                     every connection the bad clients opened has been closed
                     on the server's side.

Known bugs: a behaviour this check found wrong and reported (see
KNOWN_BUGS) is printed as "KNOWN BUG" and does not fail the run unless
--strict; if it no longer shows, the run fails with "FIXED", so that the
entry is removed and the check guards the fix from then on.
"""
import json
import math
import os
import subprocess
import sys
import threading
import time

import clients

from server import MemoryWatch

PROBE_P99 = 0.250
PROBE_MAX = 1.5
PROBE_MIN_ROUND_SHARE = 1 / 3
MEMORY_BOUND_KIB = 64 << 10
# Per open connection in the scenarios with thousands: a fiber's touched
# stack pages, its buffers and the allocator's share, measured at 11-15 KiB
# (weft-http, 2,000 and 3,000 connections); 48 KiB leaves room for another
# allocator state, and a leak of a buffer's worth a connection still shows.
PER_CONNECTION_KIB = 48
# The shortest a scenario is watched: a bad client that is dealt with in
# 0.1 s is repeated for about this long (repeat()), and the prober runs at
# least this long, so that its figures are more than a couple of probes.
MIN_SECONDS = 2.0

HERE = os.path.dirname(os.path.abspath(__file__))

# What this check found wrong in the services, by name: one line on what,
# and the reproduction (also in the report that came with this file).
KNOWN_BUGS = {}


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p * len(sorted_values)) - 1)]


class ProbeFigures:
    def __init__(self, samples, seconds):
        self.seconds = seconds
        self.by_kind = {}
        self.errors = []
        for kind, took, error in samples:
            if error is not None:
                self.errors.append("%s after %.3f s: %s" % (kind, took, error))
            else:
                self.by_kind.setdefault(kind, []).append(took)
        for v in self.by_kind.values():
            v.sort()

    def line(self):
        parts = []
        for kind in ("keep", "fresh"):
            v = self.by_kind.get(kind)
            if v:
                parts.append("%s n=%d p50=%.1f p99=%.1f max=%.1f ms" % (
                    kind, len(v), percentile(v, 0.5) * 1e3, percentile(v, 0.99) * 1e3, v[-1] * 1e3))
        if self.errors:
            parts.append("%d errors" % len(self.errors))
        return "; ".join(parts) if parts else "no probes"


class Prober:
    """prober.py as a child process; stop() returns its ProbeFigures."""

    def __init__(self, protocol, port, fresh=True):
        cmd = [sys.executable, os.path.join(HERE, "prober.py"), protocol, str(port)]
        if not fresh:
            cmd.append("--no-fresh")
        self.fresh = fresh
        self.began = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "ready", or nothing if it could not
        if line.strip() != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("the prober got no first answer: %r" % line)
        self.began = time.monotonic()

    def stop(self):
        seconds = time.monotonic() - self.began
        try:
            out, _ = self.proc.communicate(input="", timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        lines = [l for l in out.splitlines() if l.startswith("[")]
        return ProbeFigures(json.loads(lines[-1]) if lines else [], seconds)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Check:
    """What one scenario found: failures, known bugs seen, and the lines
    that say what the bad clients got."""

    def __init__(self, scenario, strict):
        self.scenario = scenario
        self.strict = strict
        self.failures = []
        self.known = []
        self.got = []

    def that(self, holds, message):
        if not holds:
            self.failures.append(message)
        return holds

    def bug(self, name, holds, message):
        """An expectation that a known bug breaks (KNOWN_BUGS[name])."""
        if name not in KNOWN_BUGS:
            return self.that(holds, message)
        if holds:
            self.failures.append("FIXED? known bug %s did not show (%s): remove it from "
                                 "KNOWN_BUGS in tests/hostile/harness.py" % (name, message))
        elif self.strict:
            self.failures.append("%s [known bug %s]" % (message, name))
        else:
            self.known.append("%s: %s" % (name, message))
        return holds

    def say(self, text):
        self.got.append(text)


class Context:
    """What a scenario needs: the server, its protocol, the options, and the
    scenario's Check."""

    def __init__(self, server, protocol, options, check):
        self.server = server
        self.protocol = protocol
        self.port = server.port
        self.options = options
        self.check = check
        self.extra_memory_kib = 0  # a scenario with thousands of connections sets its allowance
        self.rss_at_start = server.rss_kib()
        self.left_open = 0         # connections the scenario leaves open on purpose

    def repeat(self, one_round, most_rounds=50):
        """Runs `one_round(i)` again and again for MIN_SECONDS (at least once,
        at most `most_rounds` times); returns the number of rounds."""
        end = time.monotonic() + MIN_SECONDS
        rounds = 0
        while rounds < most_rounds and (rounds == 0 or time.monotonic() < end):
            one_round(rounds)
            rounds += 1
        return rounds


class Outcome:
    def __init__(self, name, check, figures, rss, fds, seconds):
        self.name = name
        self.check = check
        self.figures = figures
        self.rss = rss    # (before, peak, after) KiB
        self.fds = fds    # (before, after)
        self.seconds = seconds


def run_scenario(name, body, server, protocol, options, fresh=True):
    """Runs `body(ctx)` as the top of this file says; returns its Outcome."""
    check = Check(name, options.strict)
    ctx = Context(server, protocol, options, check)
    began = time.monotonic()
    rss_before, fds_before = server.rss_kib(), server.descriptors()
    watch = MemoryWatch(server)
    prober = Prober(protocol, server.port, fresh)
    try:
        body(ctx)
        time.sleep(max(0.0, began + MIN_SECONDS - time.monotonic()))
    except Exception as e:  # a scenario that broke is a failure, not a crash of the check
        check.that(False, "the scenario raised %s: %s" % (type(e).__name__, e))
    finally:
        figures = prober.stop()
        prober.kill()
    peak = watch.stop()
    fds_after = server.settle_descriptors(fds_before + ctx.left_open)
    rss_after = server.rss_kib()
    if not check.that(server.alive(), "the server is no longer running (exit %s)" % server.proc.poll()):
        return Outcome(name, check, figures, (rss_before, peak, rss_after), (fds_before, fds_after),
                       time.monotonic() - began)
    judge_probes(check, figures, fresh)
    bound = MEMORY_BOUND_KIB + ctx.extra_memory_kib
    grew = max(peak, rss_after) - rss_before
    check.that(grew <= bound, "RSS grew %.1f MiB (bound %.1f MiB)" % (grew / 1024, bound / 1024))
    check.that(fds_after <= fds_before + ctx.left_open,
               "descriptors %d before, %d after (%d left open on purpose): connections left "
               "open on the server" % (fds_before, fds_after, ctx.left_open))
    return Outcome(name, check, figures, (rss_before, peak, rss_after), (fds_before, fds_after),
                   time.monotonic() - began)


def judge_probes(check, figures, fresh):
    check.that(not figures.errors, "the prober failed %d times, first: %s" % (
        len(figures.errors), figures.errors[0] if figures.errors else ""))
    rounds = figures.seconds / 0.020
    for kind in ("keep", "fresh") if fresh else ("keep",):
        v = figures.by_kind.get(kind, [])
        if not check.that(len(v) >= max(3, rounds * PROBE_MIN_ROUND_SHARE),
                          "the prober made %d %s probes in %.1f s" % (len(v), kind, figures.seconds)):
            continue
        p99 = percentile(v, 0.99)
        check.that(p99 <= PROBE_P99, "prober %s p99 %.1f ms > %.0f ms" % (kind, p99 * 1e3, PROBE_P99 * 1e3))
        check.that(v[-1] <= PROBE_MAX, "prober %s max %.1f ms > %.0f ms" % (kind, v[-1] * 1e3, PROBE_MAX * 1e3))


def judge_non_reader(ctx, state, deadline, slack, wait_seconds, verb):
    """The end of a non-reader scenario: the client stalled in `state`
    ("client", "waiter") must have been closed by the server `deadline` s
    after it stopped reading (the server's write stalls up to a 1 s window
    before the stall is seen, hence 1.5 s early is allowed); `verb` is how
    the report names the close."""
    nr, waiter = state.get("client"), state.get("waiter")
    c = ctx.check
    if nr is None or waiter is None:
        c.say("(no stalled non-reader to wait for)")
        return
    waiter.join(max(0.0, nr.stalled_at + wait_seconds - time.monotonic()))
    nr.close()
    if not c.that(nr.closed_at is not None, "the non-reader was still open %.0f s after the stall" % (
            time.monotonic() - nr.stalled_at)):
        return
    after = nr.closed_at - nr.stalled_at
    c.say("%s by the server (%s) %.2f s after it stopped reading" % (verb, nr.how, after))
    c.that(deadline - 1.5 <= after <= deadline + slack,
           "%s %.2f s after the stall, not at the %.0f s write deadline" % (verb, after, deadline))


def stall_non_reader(ctx, state, one, repeat, what):
    """The start of a non-reader scenario: the request `one` (a `what`, as
    the report counts them), `repeat` times a write, is sent as fast as the
    server reads it, and nothing read, until the server stops reading; the
    client is kept in `state` and returned, or None (a failure) if the
    server never stopped reading."""
    nr = clients.NonReader(ctx.port, one * repeat)
    state["client"] = nr
    ctx.left_open = 1
    nr.fill(15.0, window=1.0, most_bytes=256 << 20)
    c = ctx.check
    if not c.that(nr.stalled_at is not None,
                  "the server never stopped reading a client that does not read: %.1f MiB taken (%s)" % (
                      nr.sent / 2**20, nr.how or "still open")):
        return None
    c.say("sent %.2f MiB (%d %s) before the server stopped reading, after %.2f s" % (
        nr.sent / 2**20, nr.sent // len(one), what, nr.stalled_at - nr.began))
    time.sleep(1.0)
    nr.wait_closed(0)
    return nr


def wait_for_close(state, seconds):
    """Leaves a thread waiting (up to `seconds`) for the stalled non-reader's
    close, for judge_non_reader."""
    waiter = threading.Thread(target=state["client"].wait_closed, args=(seconds,), daemon=True)
    waiter.start()
    state["waiter"] = waiter
