#!/usr/bin/env bash
# tools/gdb/weft.py in gdb: `info weft-fibers` lists the parked fibers by
# name with where each waits, and `weft-bt` walks a parked fiber's stack to
# its entry. Usage: gdb_fibers_check.sh path/to/weft-test-fiber-target
# path/to/weft.py. Exits 77 (skipped) when gdb is not installed.
set -euo pipefail
command -v gdb >/dev/null || { echo "gdb is not installed: skipped"; exit 77; }
# The script reads the runtime's structures through their debug info.
if ! readelf -S "$1" | grep -q '\.debug_info'; then
  echo "$1 has no debug info (a Release build): skipped"
  exit 77
fi
out=$(gdb -batch -nx -ex 'set debuginfod enabled off' -ex run -ex "source $2" \
  -ex 'info weft-fibers' -ex 'weft-bt sleeper' -ex 'weft-bt receiver' -ex 'weft-bt digger' \
  --args "$1" trap 2>&1) || true
echo "$out"
fail=0
expect() {  # expect WHAT REGEX
  if grep -Eq "$2" <<<"$out"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
# Where a fiber waits is its innermost frame outside the runtime's waiting
# machinery (sleep_for is inlined into sleep_until's caller; a sibling call
# may leave out a frame in the default build type).
expect "sleeper listed, parked in sleep_until" '^[0-9]+ +sleeper +parked .*weft::sleep_until'
expect "waiter listed, parked" '^[0-9]+ +waiter +parked '
expect "receiver listed, parked in a channel receive" '^[0-9]+ +receiver +parked .*Channel<int>::recv'
expect "digger listed as running" '^[0-9]+ +digger +running +[0-9]+ \(running\)'
expect "main listed" '^[0-9]+ +main '
expect "weft-bt sleeper shows sleep_until" '^#[0-9]+ +0x[0-9a-f]+ in weft::sleep_until'
expect "weft-bt receiver shows Channel<int>::recv" '^#[0-9]+ +0x[0-9a-f]+ in weft::Channel<int>::recv'
expect "weft-bt ends at weft_fiber_start" '^#[0-9]+ +0x[0-9a-f]+ in weft_fiber_start'
expect "weft-bt of a running fiber points to bt" 'is running on worker 0: select its thread and use bt'
grep -q 'Python Exception' <<<"$out" && { echo "FAIL: the script raised"; fail=1; }
# Auto-loaded from the program's .debug_gdb_scripts section, no `source`,
# where gdb's auto-load safe-path allows it.
auto=$(gdb -batch -nx -iex 'set auto-load safe-path /' -ex 'set debuginfod enabled off' -ex run \
  -ex 'info weft-fibers' --args "$1" trap 2>&1) || true
if grep -Eq '^[0-9]+ +sleeper +parked ' <<<"$auto"; then
  echo "ok   auto-loaded from the program"
else
  echo "$auto" | tail -5
  echo "FAIL auto-loaded from the program"
  fail=1
fi
exit $fail
