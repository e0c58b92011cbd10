#!/usr/bin/env bash
# The bpftrace one-liners of docs/PROFILING.md work on a weft program: the
# spawn probe counts the trace target's fibers by name (48 "spread"), and
# the hog probe reports its hog with name, milliseconds and worker.
# Usage: bpftrace_check.sh path/to/weft-test-trace-target
# Exits 77 (skipped) without bpftrace (not in weft's package list), without
# the probes, or where bpftrace may not attach (not root, no BPF).
set -uo pipefail
program=$1
if ! command -v bpftrace > /dev/null; then
  echo "bpftrace is not installed (apt-get install bpftrace): skipped"
  exit 77
fi
if ! readelf -n "$program" | grep -q 'Provider: weft'; then
  echo "built without USDT probes: skipped"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ulimit -l 8192 2> /dev/null || true
timeout 120 bpftrace -e "usdt:$program:weft:spawn { @spawned[str(arg1)] = count(); }" \
  -c "$program $out/a.json" > "$out/spawn.txt" 2>&1
timeout 120 bpftrace -e "usdt:$program:weft:hog { printf(\"%s ran %d ms on worker %d\\n\", str(arg1), arg2, arg3); }" \
  -c "$program $out/b.json" > "$out/hog.txt" 2>&1
if ! grep -E -q 'Attach(ing|ed) 1 probe' "$out/spawn.txt"; then  # (newer bpftrace: "Attached")
  echo "bpftrace could not attach (permissions?): skipped"
  cat "$out/spawn.txt"
  exit 77
fi
fail=0
if grep -a -q '^@spawned\[spread\]: 48$' "$out/spawn.txt"; then
  echo "ok   weft:spawn counted 48 fibers named spread"
else
  echo "FAIL weft:spawn: no '@spawned[spread]: 48'"
  cat "$out/spawn.txt"
  fail=1
fi
if grep -a -E -q '^hog ran [0-9]+ ms on worker [01]$' "$out/hog.txt"; then
  echo "ok   weft:hog: $(grep -a '^hog ran' "$out/hog.txt" | head -1)"
else
  echo "FAIL weft:hog: no 'hog ran N ms on worker K'"
  cat "$out/hog.txt"
  fail=1
fi
exit $fail
