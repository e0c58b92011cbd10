#!/usr/bin/env bash
# weft-soak catches what it is there to catch: short soaks against
# weft-soak-faulty-echo, correct first (the soak must pass), then wrong in
# one way each (the soak must fail, and say why): a flipped byte, a dropped
# byte, descriptors never closed, memory that grows with every connection.
# Usage: detect_check.sh path/to/weft-soak path/to/weft-soak-faulty-echo
set -uo pipefail
soak=$1
server=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failures=0
# run NAME [server options...]: the soak's stdout in $out/NAME.out, its status in $status
run() {
  local name=$1
  shift
  timeout 60 "$soak" --connections 200 --seconds 5 --max-life 2 --warmup 1.5 --fibers none --progress 0 \
    --stall-timeout 5 --drain-timeout 5 --settle-timeout 2 \
    --server "$server" -- --port 0 "$@" >"$out/$name.out" 2>"$out/$name.err"
  status=$?
}
expect() {  # expect WHAT CONDITION...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
key() { sed -n "s/^$2=//p" "$out/$1.out"; }   # key NAME KEY: a value of the summary
above() { [ "${1:-0}" -gt "$2" ]; }
said() { grep -q "$2" "$out/$1.err"; }

run clean
expect "a correct server passes (status $status)" [ "$status" -eq 0 ]
expect "a correct server: bytes verified" above "$(key clean bytes_verified)" 0
expect "a correct server: resets and half-closes were made" above "$(key clean resets_caused)" 0

run corrupt --corrupt-every 3
expect "a flipped byte fails the soak (status $status)" [ "$status" -eq 1 ]
expect "a flipped byte: corrupt bytes counted" above "$(key corrupt bytes_corrupt)" 0
expect "a flipped byte: said so" said corrupt "FAIL corrupt bytes"

run drop --drop-every 3
expect "a dropped byte fails the soak (status $status)" [ "$status" -eq 1 ]
expect "a dropped byte: corrupt or lost bytes counted" \
  above "$(( $(key drop bytes_corrupt) + $(key drop bytes_lost) ))" 0

run hold --hold-every 4
expect "descriptors never closed fail the soak (status $status)" [ "$status" -eq 1 ]
expect "descriptors never closed: more at the end than before" \
  above "$(key hold fds_end)" "$(key hold fds_idle)"
expect "descriptors never closed: said so" said hold "FAIL descriptors"

run grow --grow-kib 256
expect "memory that grows fails the soak (status $status)" [ "$status" -eq 1 ]
expect "memory that grows: said so" said grow "FAIL RSS grew"

if [ "$failures" -ne 0 ]; then
  for f in "$out"/*.err; do echo "--- $f"; cat "$f"; done
fi
exit $failures
