#!/usr/bin/env bash
# weft's USDT probes are in a built program: readelf -n lists a stapsdt note
# for each, with provider "weft". Usage: probes_check.sh path/to/program
# Exits 77 (skipped) when the build had no <sys/sdt.h> (no probes at all).
set -euo pipefail
notes=$(readelf -n "$1")
if ! grep -q 'stapsdt' <<<"$notes"; then
  echo "no stapsdt notes (built without <sys/sdt.h>, package systemtap-sdt-dev): skipped"
  exit 77
fi
fail=0
for probe in spawn switch park wake steal submit complete hog; do
  if grep -A2 'stapsdt' <<<"$notes" | grep -B1 -E "Name: $probe\$" | grep -q 'Provider: weft'; then
    echo "ok   weft:$probe"
  else
    echo "FAIL weft:$probe missing"
    fail=1
  fi
done
exit $fail
