#!/usr/bin/env bash
# weft-http under Valgrind (Memcheck), as a user would run it: the runtime
# notices Valgrind and runs on epoll (saying so in one line), answers curl,
# and stops on SIGTERM with exit status 0 and no Memcheck error.
# Usage: valgrind_check.sh path/to/weft-http. Exits 77 (skipped) without
# valgrind or curl.
set -euo pipefail
server_bin=$1
command -v valgrind >/dev/null || { echo "valgrind is not installed: skipped"; exit 77; }
command -v curl >/dev/null || { echo "curl is not installed: skipped"; exit 77; }

out=$(mktemp -d)
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
# Memcheck errors make the exit status 99. Mismatched frees are mimalloc's
# (docs/PROFILING.md).
valgrind -q --error-exitcode=99 --show-mismatched-frees=no "$server_bin" --port 0 \
  >"$out/stdout" 2>"$out/stderr" &
pid=$!
for _ in $(seq 300); do
  grep -q listening "$out/stdout" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break  # valgrind gave up
  sleep 0.1
done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/stdout")
if [ -z "$port" ] && grep -q "debuginfo reader" "$out/stderr"; then
  # Valgrind 3.19 gives up on some debug info (clang 14's DWARF 5).
  echo "this valgrind cannot read the program's debug info: skipped"; grep "Valgrind:" "$out/stderr" | head -3
  exit 77
fi
[ -n "$port" ] || { echo "weft-http did not start under valgrind:"; cat "$out/stderr"; exit 1; }
failures=0
check() {  # check WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$2], got [$3]"; failures=$((failures + 1)); fi
}
check "it says it chose epoll" 1 "$(grep -c 'running under valgrind, which cannot run io_uring: running on epoll' "$out/stderr")"
check "the line names the backend" "epoll" "$(sed -n 's/.*(multi, \([a-z_]*\),.*/\1/p' "$out/stdout")"
check "GET /ping" "pong" "$(curl -sS --max-time 20 "http://127.0.0.1:$port/ping")"
kill -TERM "$pid"
status=0
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
  check "it stops on SIGTERM within 30 s" "stopped" "still running"
else
  wait "$pid" || status=$?
  check "exit status after SIGTERM (99: a Memcheck error)" 0 "$status"
fi
[ "$failures" = 0 ] || { echo "--- stderr:"; cat "$out/stderr"; }
exit $((failures > 0))
