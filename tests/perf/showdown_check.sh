#!/usr/bin/env bash
# weft's main job, short: weft-showdown --quick over the four weft rows.
# Checks that each ran (a table row with figures, no failed requests), that
# the Markdown and CSV files were written, and that in single mode (Node's
# model) the pings sent during the hog waited for it, on both backends:
# with one thread that is not a matter of speed. Usage: showdown_check.sh
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
expect "single + io_uring waited for the hog" "single \\+ io_uring .*every ping that came during the hog waited for it"
expect "single + epoll waited for the hog" "single \\+ epoll .*every ping that came during the hog waited for it"
if grep -q "failed requests" "$out/stdout"; then echo "FAIL requests failed"; failures=$((failures + 1)); fi
[ -s "$out/showdown.md" ] && [ "$(wc -l <"$out/showdown.csv")" -eq 5 ] || { echo "FAIL result files"; failures=$((failures + 1)); }
exit $((failures > 0))
