#!/usr/bin/env bash
# gdb stopped inside a fiber prints a backtrace that ends at the fiber's
# entry (weft_fiber_start), with the fiber's own frames above it and no
# unwinding error. Usage: gdb_check.sh path/to/weft-test-fiber-target
# Exits 77 (skipped) when gdb is not installed.
set -euo pipefail
command -v gdb >/dev/null || { echo "gdb is not installed: skipped"; exit 77; }
out=$(gdb -batch -nx -ex 'set debuginfod enabled off' -ex run -ex bt --args "$1" trap 2>&1) || true
echo "$out"
frames=$(grep -E '^#[0-9]+ ' <<<"$out" || true)
fail=0
grep -q 'SIGTRAP' <<<"$out" || { echo "FAIL: never stopped"; fail=1; }
[ "$(grep -c 'trap_in_fiber' <<<"$frames")" -eq 4 ] || { echo "FAIL: the four trap_in_fiber frames"; fail=1; }
tail -1 <<<"$frames" | grep -q 'weft_fiber_start' || { echo "FAIL: the last frame is not weft_fiber_start"; fail=1; }
grep -qE 'Backtrace stopped|corrupt stack|previous frame identical' <<<"$out" && { echo "FAIL: unwinding error"; fail=1; }
[ $fail -eq 0 ] && echo "ok: the backtrace ends at weft_fiber_start"
exit $fail
