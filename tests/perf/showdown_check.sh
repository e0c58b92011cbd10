#!/usr/bin/env bash
# weft's main job, short: weft-showdown --quick over the four weft rows.
# Checks that each ran (a table row with figures, no failed requests), that
# the Markdown and CSV files were written, and that in single mode (Node's
# model) the pings sent during the hog waited for it, on both backends:
# with one thread that is not a matter of speed. The hog phase's two kinds
# of ping (on open connections, on new ones) each have their column of
# figures, in the table and in the CSV. Usage: showdown_check.sh
# path/to/weft-showdown
set -euo pipefail
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$1" --quick --only weft --hog-ms 400 --out "$out" >"$out/stdout"
cat "$out/stdout"
failures=0
expect() {  # expect WHAT PATTERN
  if grep -Eq "$2" "$out/stdout"; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi
}
for setup in "multi \\+ io_uring" "multi \\+ epoll" "single \\+ io_uring" "single \\+ epoll"; do
  expect "$setup ran" "^\\| weft \\| $setup \\| [^|]+ \\| [0-9]+ \\|"
done
expect "the table has the new-connection column" "^\\| server \\|.* \\| ping on new connections p50 / p99 / max ms \\| hog took ms \\|"
for setup in "multi \\+ io_uring" "multi \\+ epoll" "single \\+ io_uring" "single \\+ epoll"; do
  # server, setup, model, req/s, p50/p99, CPU, open connections, then new ones and the hog's length
  expect "$setup: new-connection pings are figures" \
    "^\\| weft \\| $setup \\| [^|]+ \\| [0-9]+ \\| [^|]+ \\| [^|]+ \\| [0-9.]+ / [0-9.]+ / [0-9]+ \\| [0-9.]+ / [0-9.]+ / [0-9]+ \\| [0-9]+ \\|"
done
csv_ok=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; ok = ("fresh_p50_ms" in col) && ("fresh_p99_ms" in col) && ("fresh_max_ms" in col); next }
  { for (k in col) if (k ~ /^fresh_/ && $col[k] !~ /^[0-9]+(\.[0-9]+)?$/) ok = 0 }
  END { print ok ? "yes" : "no" }' "$out/showdown.csv")
if [ "$csv_ok" = yes ]; then echo "ok   the CSV's fresh_* columns are numbers"; else echo "FAIL the CSV's fresh_* columns"; failures=$((failures + 1)); fi
expect "single + io_uring waited for the hog" "single \\+ io_uring .*every ping that came during the hog waited for it"
expect "single + epoll waited for the hog" "single \\+ epoll .*every ping that came during the hog waited for it"
if grep -q "failed requests" "$out/stdout"; then echo "FAIL requests failed"; failures=$((failures + 1)); fi
[ -s "$out/showdown.md" ] && [ "$(wc -l <"$out/showdown.csv")" -eq 5 ] || { echo "FAIL result files"; failures=$((failures + 1)); }
exit $((failures > 0))
