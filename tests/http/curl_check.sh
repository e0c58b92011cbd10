#!/usr/bin/env bash
# weft-http as curl sees it: routes, keep-alive (one connection for several
# requests), HTTP/1.0, bodies (with Expect: 100-continue), and the statuses
# of bad requests. Usage: curl_check.sh path/to/weft-http
# Exits 77 (skipped) when curl is not installed.
set -euo pipefail
server_bin=$1
command -v curl >/dev/null || { echo "curl is not installed: skipped"; exit 77; }

out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
"$server_bin" --port 0 --seconds 60 >"$out/listening" 2>"$out/stderr" &
pid=$!
for _ in $(seq 100); do grep -q listening "$out/listening" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/listening")
[ -n "$port" ] || { echo "weft-http did not start:"; cat "$out/stderr"; exit 1; }
base=http://127.0.0.1:$port
failures=0
check() {  # check WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$2], got [$3]"; failures=$((failures + 1)); fi
}
c() { curl -sS --max-time 10 "$@"; }

check "GET /ping" "pong" "$(c "$base/ping")"
check "HEAD /ping status" "200" "$(c -I -o /dev/null -w '%{http_code}' "$base/ping")"
check "GET /heavy?ms=20" "computed 20 ms" "$(c "$base/heavy?ms=20")"
check "unknown path" "404" "$(c -o /dev/null -w '%{http_code}' "$base/nope")"
check "bad ms" "400" "$(c -o /dev/null -w '%{http_code}' "$base/heavy?ms=x")"
check "POST /ping" "405" "$(c -o /dev/null -w '%{http_code}' -d x "$base/ping")"
# Three requests, one connection: curl reuses it when the server keeps it.
connects=$(c -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}\n' "$base/ping" "$base/ping" "$base/ping" | awk '{s += $1} END {print s}')
check "keep-alive: connections opened for 3 requests" "1" "$connects"
check "HTTP/1.0" "pong" "$(c -0 "$base/ping")"
head -c 3000 /dev/urandom | base64 -w0 >"$out/body"
check "POST /echo of 4000 bytes (Expect: 100-continue)" "$(cat "$out/body")" \
  "$(c -H 'Expect: 100-continue' --data-binary @"$out/body" "$base/echo")"
check "a 10 KB header field" "431" \
  "$(c -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 10000 /dev/zero | tr '\0' a)" "$base/ping")"
check "a 2 MB body" "413" "$(head -c 2000000 /dev/zero | c -o /dev/null -w '%{http_code}' --data-binary @- "$base/echo" || true)"
check "a chunked body" "501" "$(c -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -d x "$base/echo")"
check "still serving" "pong" "$(c "$base/ping")"
exit $((failures > 0))
