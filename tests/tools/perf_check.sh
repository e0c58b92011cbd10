#!/usr/bin/env bash
# perf record -g through a fiber: every sampled callchain that passes
# through the fiber's function ends at the fiber's entry (weft_fiber_start).
# Usage: perf_check.sh path/to/weft-test-fiber-target
# Exits 77 (skipped) when perf is missing or may not record here.
set -euo pipefail
command -v perf >/dev/null || { echo "perf is not installed: skipped"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if ! perf record -q -e cpu-clock -F 999 -g -o "$dir/perf.data" -- "$1" compute 400 >"$dir/record.log" 2>&1; then
  cat "$dir/record.log"
  echo "perf record is not permitted here: skipped"
  exit 77
fi
perf script -i "$dir/perf.data" -F ip,sym 2>/dev/null >"$dir/script.txt"
# One callchain per blank-line-separated block, innermost frame first.
awk -v RS= '
  /compute_in_fiber/ {
    n = split($0, line, "\n"); last = line[n];
    through++; if (last ~ /weft_fiber_start/) ended++; else { bad++; if (bad <= 3) print "chain not ending at the entry:\n" $0 "\n" }
  }
  END { printf "samples through compute_in_fiber: %d, ending at weft_fiber_start: %d\n", through, ended;
        exit (through >= 20 && bad == 0) ? 0 : 1 }' "$dir/script.txt"
