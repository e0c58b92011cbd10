#!/usr/bin/env bash
# weft-http serving curl while WEFT_FAULTS makes its system calls fail
# (faults/faults.h): refused and interrupted polls, accepts out of
# descriptors, a descriptor the epoll set will not take. For each of uring
# (multi), epoll (multi) and uring (single): 60 requests, each on a fresh
# connection, all answered except those whose connection's first operation
# was refused (at most as many as were injected), the faults counted in the
# server's WEFT_STATS, no fatal message, and a clean stop.
# Usage: faults_check.sh path/to/weft-http. Exits 77 when curl is missing.
set -euo pipefail
server_bin=$1
command -v curl >/dev/null || { echo "curl is not installed: skipped"; exit 77; }

out=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$out"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

run() {  # run NAME REFUSABLE WEFT_FAULTS weft-http-args...
  local name=$1 refusable=$2 faults=$3
  shift 3
  WEFT_STATS=1 WEFT_FAULTS=$faults "$server_bin" --port 0 --seconds 60 "$@" \
    >"$out/listening" 2>"$out/stderr" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$out/listening" 2>/dev/null && break; sleep 0.05; done
  local port
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/listening")
  [ -n "$port" ] || { fail "$name: weft-http did not start: $(cat "$out/stderr")"; return; }
  local ok=0 refused=0
  for _ in $(seq 60); do
    if [ "$(curl -sS --max-time 10 "http://127.0.0.1:$port/ping" 2>/dev/null)" = pong ]; then
      ok=$((ok + 1))
    else
      refused=$((refused + 1))
    fi
  done
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  pid=
  [ "$status" = 0 ] || fail "$name: weft-http exited $status"
  [ "$refused" -le "$refusable" ] || fail "$name: $refused of 60 requests failed (at most $refusable may)"
  grep -q "^weft: .*failed" "$out/stderr" && fail "$name: a fatal message: $(grep '^weft: .*failed' "$out/stderr")"
  local polls
  polls=$(awk '$1 == "poll_failures" {print $2}' "$out/stderr")
  [ "${polls:-0}" -gt 0 ] || fail "$name: no failed poll was counted (poll_failures ${polls:-missing})"
  echo "ok   $name: $ok answered, $refused refused, poll_failures $polls"
}

run "uring multi" 0 "ring_enter=EINTR*100+5,accept=EMFILE*10+3,ring_short_submit=EAGAIN*50" \
  --backend uring --mode multi
run "epoll multi" 5 "epoll_wait=EINTR*100+5,accept=ENFILE*10+3,epoll_ctl=ENOMEM*5+8" \
  --backend epoll --mode multi
run "uring single" 0 "ring_enter=EBUSY*100+5,accept=EMFILE*10+3" --backend uring --mode single
[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all answered"
