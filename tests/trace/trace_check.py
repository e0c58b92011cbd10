#!/usr/bin/env python3
"""Checks the trace weft-test-trace-target writes (tests/trace/trace_target.cc).

    trace_check.py PROGRAM [BACKEND...]

Runs PROGRAM once per backend (WEFT_BACKEND=uring, epoll) and checks the
Chrome trace-event file it wrote: it parses as JSON; worker, blocking-pool
tracks are named; fiber slices carry the fibers' names (an awkward one
escaped right); slices on a track nest properly; every flow has one start
and one end, in time order, each inside a slice of its track; wake flows
lead from "pinger" slices to "ponger" slices, and from the blocking
pool's thread to the fiber that waited for it; steals go from one worker to
another; I/O spans begin and end; the hog is marked on a worker's track.
Exit 0 when all hold, 1 with the reasons otherwise.
"""
import collections
import json
import os
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def ns(t):
    return round(float(t) * 1000)


def next_slice(slices_by_tid, tid, t):
    """The first top-level X slice on tid that starts after time t (ns), or None."""
    later = [s for s in slices_by_tid.get(tid, ()) if s["start"] > t]
    return min(later, key=lambda s: (s["start"], -s["end"])) if later else None


def enclosing(slices_by_tid, tid, t):
    """The innermost X slice on tid that holds time t (ns), or None."""
    best = None
    for s in slices_by_tid.get(tid, ()):
        if s["start"] <= t <= s["end"] and (best is None or s["end"] - s["start"] <= best["end"] - best["start"]):
            best = s
    return best


def check_trace(path, backend):
    tag = f"[{backend}] "
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    events = doc["traceEvents"]
    check(doc.get("otherData", {}).get("generator") == "weft", tag + "otherData.generator is weft")
    check(doc["otherData"].get("dropped_records") == 0, tag + "no records dropped")

    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    labels = set(names.values())
    for want in ("worker 0", "worker 1", "blocking pool"):
        check(want in labels, tag + f"a track named {want!r} (have {sorted(labels)})")
    worker_tids = {tid for tid, n in names.items() if n.startswith("worker ")}

    slices = collections.defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            slices[e["tid"]].append({"name": e["name"], "start": ns(e["ts"]), "end": ns(e["ts"]) + ns(e["dur"])})
    slice_names = collections.Counter(s["name"] for v in slices.values() for s in v)
    for want in ("main", "pinger", "ponger", "reader", "blocker", "hog", "spread", "scheduler",
                 "blocking job", 'odd "name"\\\t\ufffd',
                 "bad\ufffd\ufffd\ufffdmid\ufffd\ufffdend\ufffd\ufffd"):
        check(slice_names[want] > 0, tag + f"slices named {want!r}")
    # The clock's scale: the blocker's job sleeps 20 ms, the hog computes
    # 200 ms by the wall clock (a preempted run only lasts longer).
    durations = collections.defaultdict(list)
    for v in slices.values():
        for s in v:
            durations[s["name"]].append(s["end"] - s["start"])
    if check(durations["blocking job"], tag + "a blocking job slice"):
        job_ms = max(durations["blocking job"]) / 1e6
        check(19.5 <= job_ms <= 2000, tag + f"the 20 ms blocking job lasts 20 ms or more ({job_ms:.1f} ms)")
    if check(durations["hog"], tag + "a hog slice"):
        hog_ms = sum(durations["hog"]) / 1e6
        check(199 <= hog_ms <= 5000, tag + f"the 200 ms hog runs 200 ms or more ({hog_ms:.1f} ms)")
    check(slice_names["pinger"] >= 100, tag + f"pinger runs at least 100 times ({slice_names['pinger']})")

    # Nesting: on each track, a slice that starts inside another ends inside it.
    for tid, v in slices.items():
        stack = []
        for s in sorted(v, key=lambda s: (s["start"], -s["end"])):
            while stack and stack[-1]["end"] <= s["start"]:
                stack.pop()
            if stack and not check(s["end"] <= stack[-1]["end"],
                                   tag + f"slice {s['name']} on tid {tid} overlaps {stack[-1]['name']}"):
                break
            stack.append(s)

    flows = collections.defaultdict(dict)
    for e in events:
        if e["ph"] in ("s", "f"):
            check(e["ph"] not in flows[e["id"]], tag + f"one {e['ph']} per flow id {e['id']}")
            flows[e["id"]][e["ph"]] = e
    kinds = collections.Counter()
    pinger_to_ponger = 0
    pool_to_blocker = 0
    for fid, ends in flows.items():
        s, f = ends.get("s"), ends.get("f")
        if not check(s is not None, tag + f"flow {fid} has a start"):
            continue
        if f is None:
            continue  # woken, never ran again before the end: allowed
        kinds[s["name"]] += 1
        check(s["name"] == f["name"], tag + f"flow {fid} keeps its name")
        check(ns(f["ts"]) >= ns(s["ts"]), tag + f"flow {fid} ends after it starts")
        src = enclosing(slices, s["tid"], ns(s["ts"]))
        if f.get("bp") == "e":
            dst = enclosing(slices, f["tid"], ns(f["ts"]))
            check(dst is not None, tag + f"flow {fid} ends inside a slice")
        else:  # bound to the next slice: the run it leads to, right after it
            dst = next_slice(slices, f["tid"], ns(f["ts"]))
            check(dst is not None and dst["start"] - ns(f["ts"]) <= 2,
                  tag + f"flow {fid} ends right before a slice")
        check(src is not None, tag + f"flow {fid} starts inside a slice")
        if s["name"] == "steal":
            check(s["tid"] in worker_tids and f["tid"] in worker_tids and s["tid"] != f["tid"],
                  tag + f"steal flow {fid} goes from one worker to another")
        if src and dst and src["name"] == "pinger" and dst["name"] == "ponger":
            pinger_to_ponger += 1
        if src and dst and names.get(s["tid"]) == "blocking pool" and dst["name"] == "blocker":
            pool_to_blocker += 1
    check(kinds["wake"] >= 100, tag + f"at least 100 wake flows ({kinds['wake']})")
    check(kinds["spawn"] >= 50, tag + f"at least 50 spawn flows ({kinds['spawn']})")
    check(kinds["steal"] >= 1, tag + f"at least one steal flow ({kinds['steal']})")
    check(pool_to_blocker == 1, tag + f"one wake from the blocking pool to the blocker ({pool_to_blocker})")
    check(pinger_to_ponger >= 50, tag + f"at least 50 wakes from pinger to ponger ({pinger_to_ponger})")

    spans = collections.defaultdict(dict)
    for e in events:
        if e["ph"] in ("b", "e"):
            check(e.get("cat") == "io", tag + "async spans are in category io")
            spans[e["id"]][e["ph"]] = e
    io_names = collections.Counter()
    for sid, ends in spans.items():
        b, e = ends.get("b"), ends.get("e")
        if check(b is not None and e is not None, tag + f"I/O span {sid} begins and ends"):
            check(ns(e["ts"]) >= ns(b["ts"]), tag + f"I/O span {sid} ends after it begins")
            check(b["name"] == e["name"], tag + f"I/O span {sid} keeps its name")
            io_names[b["name"]] += 1
    check(io_names["read"] >= 10, tag + f"the reader's 10 reads are spans ({dict(io_names)})")
    check(io_names["openat"] >= 1, tag + "the open is a span")

    hogs = [e for e in events if e["ph"] == "i" and e["name"] == "hog: hog"]
    if check(len(hogs) >= 1, tag + "the hog is marked"):
        check(hogs[0]["tid"] in worker_tids, tag + "on a worker's track")
        check(hogs[0]["args"]["ms"] >= 50, tag + "with at least the 50 ms threshold")


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    program = sys.argv[1]
    backends = sys.argv[2:] or ["uring", "epoll"]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            path = os.path.join(tmp, f"trace-{backend}.json")
            env = dict(os.environ, WEFT_BACKEND=backend)
            env.pop("WEFT_TRACE", None)
            run = subprocess.run([program, path], env=env, capture_output=True, text=True, timeout=120)
            if not check(run.returncode == 0, f"[{backend}] {program} exits 0 ({run.returncode}): {run.stderr}"):
                continue
            check("trace written to" in run.stderr, f"[{backend}] says where the trace went: {run.stderr!r}")
            check_trace(path, backend)
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("trace check: every check holds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
