#!/usr/bin/env bash
# weft-kv as the real redis clients see it: redis-cli commands with their
# printed answers (a BLPOP served by a second redis-cli, a SUBSCRIBE
# receiving a PUBLISH among them), then redis-benchmark over the commands it knows, plain
# and pipelined (-P 16); fails if a test reports an error or no requests
# per second. Usage: redis_clients_check.sh path/to/weft-kv
# Exits 77 (skipped) when redis-cli or redis-benchmark is not installed.
set -euo pipefail
server_bin=$1
command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null ||
  { echo "redis-cli or redis-benchmark is not installed: skipped"; exit 77; }

out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
"$server_bin" --port 0 --seconds 240 >"$out/listening" 2>"$out/stderr" &
pid=$!
for _ in $(seq 100); do grep -q listening "$out/listening" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/listening")
[ -n "$port" ] || { echo "weft-kv did not start:"; cat "$out/stderr"; exit 1; }
failures=0
check() {  # check WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$2], got [$3]"; failures=$((failures + 1)); fi
}
cli() { timeout 10 redis-cli -p "$port" "$@"; }

check "PING" "PONG" "$(cli ping)"
check "SET" "OK" "$(cli set greeting 'hello world')"
check "GET" "hello world" "$(cli get greeting)"
check "INCR" "1" "$(cli incr counter)"
check "INCRBY" "11" "$(cli incrby counter 10)"
check "RPUSH" "3" "$(cli rpush list a b c)"
check "LRANGE" "$(printf 'a\nb\nc')" "$(cli lrange list 0 -1)"
check "ZADD" "2" "$(cli zadd z 1.5 x 2 y)"
check "ZRANGE WITHSCORES" "$(printf 'x\n1.5\ny\n2')" "$(cli zrange z 0 -1 withscores)"
check "HSET/HGET" "v" "$(cli hset h f v >/dev/null; cli hget h f)"
check "TYPE" "zset" "$(cli type z)"
check "wrong type" "WRONGTYPE Operation against a key holding the wrong kind of value" "$(cli get list)"
check "unknown command" "ERR unknown command 'nosuch', with args beginning with: 'x' " "$(cli nosuch x)"
check "commands from stdin" "$(printf 'OK\nv2')" "$(printf 'set k2 v2\nget k2\n' | cli)"
check "DBSIZE" "6" "$(cli dbsize)"

# BLPOP in one redis-cli, served by an RPUSH from another.
timeout 10 redis-cli -p "$port" blpop jobs 5 >"$out/blpop" 2>&1 &
blpop_pid=$!
sleep 0.3
check "RPUSH to a blocked BLPOP" "1" "$(cli rpush jobs work)"
wait "$blpop_pid" || true
check "BLPOP served by another client" "$(printf 'jobs\nwork')" "$(cat "$out/blpop")"
# SUBSCRIBE in one redis-cli, a PUBLISH from another reaches it.
timeout 5 redis-cli -p "$port" subscribe news >"$out/subscribe" 2>&1 &
subscribe_pid=$!
for _ in $(seq 50); do grep -q news "$out/subscribe" 2>/dev/null && break; sleep 0.05; done
check "PUBLISH to one subscriber" "1" "$(cli publish news hello)"
for _ in $(seq 50); do grep -q hello "$out/subscribe" 2>/dev/null && break; sleep 0.05; done
kill "$subscribe_pid" 2>/dev/null || true
wait "$subscribe_pid" 2>/dev/null || true
check "SUBSCRIBE receives the message" "$(printf 'subscribe\nnews\n1\nmessage\nnews\nhello')" "$(cat "$out/subscribe")"
check "the emptied list is gone" "0" "$(cli exists jobs)"
check "FLUSHALL" "OK" "$(cli flushall)"

tests=set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset
for pipeline in 1 16; do
  if ! timeout 120 redis-benchmark -p "$port" -q -n 20000 -c 50 -P "$pipeline" -t "$tests" >"$out/bench" 2>&1; then
    echo "FAIL redis-benchmark -P $pipeline did not finish:"; tr '\r' '\n' <"$out/bench" | tail -5
    failures=$((failures + 1))
    continue
  fi
  # -q prints one "NAME: N requests per second" line per test (after
  # progress lines ending in CR).
  results=$(tr '\r' '\n' <"$out/bench" | grep 'requests per second' || true)
  echo "redis-benchmark -P $pipeline:"; echo "$results" | sed 's/^/  /'
  count=$(echo "$results" | grep -c 'requests per second' || true)
  check "redis-benchmark -P $pipeline: a result per test" "15" "$count"
  if tr '\r' '\n' <"$out/bench" | grep -qi 'error'; then
    echo "FAIL redis-benchmark -P $pipeline reported an error:"; tr '\r' '\n' <"$out/bench" | grep -i error | head -5
    failures=$((failures + 1))
  fi
  if echo "$results" | grep -qE ': 0(\.0+)? requests per second'; then
    echo "FAIL redis-benchmark -P $pipeline: a test made 0 requests per second"
    failures=$((failures + 1))
  fi
done
check "still serving" "PONG" "$(cli ping)"
kill -TERM "$pid"
wait "$pid" && status=0 || status=$?
check "exit status after SIGTERM" "0" "$status"
exit $((failures > 0))
