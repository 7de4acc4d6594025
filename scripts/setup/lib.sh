# shellcheck shell=bash
# Shared helpers for scripts/setup/*.sh. Source it; it has no side effects besides defining functions and
# SETUP_ROOT (the repository root) and making sure a Go toolchain in /usr/local/go is on PATH.

SETUP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export SETUP_ROOT

# A bare CI shell often lacks the Go install dir on PATH.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
  export PATH
fi

# All progress goes to stderr so that stdout stays machine-readable (see `ensure-tools.sh env`).
setup_log() { printf '[setup] %s\n' "$*" >&2; }
setup_die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch with sub-second precision (bash 5).
setup_now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
setup_elapsed() { awk -v a="$1" -v b="$(setup_now)" 'BEGIN { printf "%.1fs", b - a }'; }

# setup_lock NAME: take an exclusive lock for the rest of the calling (sub)shell, so that two concurrent
# setup runs (two terminals, a test runner calling resolveBinary twice) never build the same thing twice.
setup_lock() {
  local dir="$SETUP_ROOT/tools/bin/.locks"
  mkdir -p "$dir"
  exec {SETUP_LOCK_FD}>"$dir/$1.lock"
  if ! flock -n "$SETUP_LOCK_FD"; then
    setup_log "waiting for another setup run holding the '$1' lock…"
    flock "$SETUP_LOCK_FD"
  fi
}

# setup_heartbeat LABEL: print "still <label> (1m30s)" every 30s until setup_heartbeat_stop.
setup_heartbeat() {
  local label="$1" start
  start="$(date +%s)"
  (
    # `wait` (unlike a foreground sleep) returns as soon as TERM arrives, so stopping is immediate.
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 &
      sleeper=$!
      wait "$sleeper"
      s=$(($(date +%s) - start))
      printf '[setup] … still %s (%dm%02ds)\n' "$label" $((s / 60)) $((s % 60)) >&2
    done
  ) &
  SETUP_HEARTBEAT_PID=$!
}
setup_heartbeat_stop() {
  if [ -n "${SETUP_HEARTBEAT_PID:-}" ]; then
    kill "$SETUP_HEARTBEAT_PID" 2>/dev/null || true
    wait "$SETUP_HEARTBEAT_PID" 2>/dev/null || true
    SETUP_HEARTBEAT_PID=
  fi
}
