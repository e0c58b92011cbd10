#!/usr/bin/env bash
# A program's --help: it exits 0 within 10 s and prints its usage (a line
# beginning "usage", on stdout; Go's flag package writes its "Usage of" on
# stderr, so that counts too). Usage: help_check.sh PROGRAM [ARGS...]
# (ARGS come before --help, e.g. node's script).
set -uo pipefail
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timeout 10 "$@" --help >"$out/stdout" 2>"$out/stderr" </dev/null
status=$?
failures=0
if [ "$status" -eq 0 ]; then echo "ok   exit status 0"; else echo "FAIL exit status $status"; failures=1; fi
if grep -qi '^usage' "$out/stdout" "$out/stderr"; then
  echo "ok   usage printed"
else
  echo "FAIL no usage line; stdout:"; cat "$out/stdout"; echo "stderr:"; cat "$out/stderr"; failures=1
fi
exit $failures
