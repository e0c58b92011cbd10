# Shared by scripts/run and scripts/test. Sourced, not run.
#
# weft_setup: installs the Debian packages weft needs if any is missing,
# then configures and builds a tree. Both steps do nothing when nothing
# changed, so the scripts are fast the second time.

WEFT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEFT_JOBS=${WEFT_JOBS:-$(nproc)}

# Needed to build and test. valgrind supplies <valgrind/valgrind.h> (stack
# registration); libboost-context-dev is the peer in weft-bench-switch; curl
# checks the HTTP example as a real client sees it (tests/http/curl_check.sh)
# and gdb that fibers unwind in the debugger (tests/tools/gdb_check.sh);
# systemtap-sdt-dev supplies <sys/sdt.h> for the USDT probes
# (fibers/probes.h); python3 reads the timeline trace back as JSON
# (tests/trace/trace_check.py) and draws the flame graph (tools/flamegraph.py);
# clang-14 builds the second column of scripts/test's build matrix.
# libcurl4-openssl-dev: a real library that owns its sockets, driven from a
# fiber through weft::os::wait_readable (tests/http/curl_multi_test.cc).
# redis-server is the reference the key-value example is compared with,
# reply for reply (tests/kv/differential.py); redis-tools brings the real
# clients that drive it (redis-cli, redis-benchmark: tests/kv).
WEFT_PACKAGES=(g++ cmake make pkg-config liburing-dev libmimalloc-dev
               libboost-test-dev libboost-context-dev valgrind curl gdb systemtap-sdt-dev
               python3 clang-14 libcurl4-openssl-dev redis-server redis-tools)

weft_say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# -h / --help among the arguments: print "usage: SCRIPT" and the calling
# script's opening comment, then exit 0 (nothing is installed or built).
weft_help_if_asked() {
  local a
  for a in "$@"; do
    case "$a" in
      -h|--help)
        echo "usage: ${0#"$WEFT_ROOT"/} [arguments]"
        sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0" | sed '/^#!/d;/^set /d'
        exit 0 ;;
    esac
  done
}

weft_install_packages() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  weft_say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -q "${missing[@]}" >/dev/null; then
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

# weft_build <build-dir> [cmake args...]
weft_build() {
  local dir=$1
  shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    weft_say "configuring $dir"
    cmake -S "$WEFT_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  fi
  weft_say "building $dir"
  local log
  log=$(mktemp)
  if ! cmake --build "$dir" -j "$WEFT_JOBS" >"$log" 2>&1; then
    grep -Ev '^\[ *[0-9]+%\]' "$log" >&2 || true
    rm -f "$log"
    return 1
  fi
  grep -iE 'warning' "$log" >&2 || true
  rm -f "$log"
}
