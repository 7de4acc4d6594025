#!/usr/bin/env bash
# Install the Debian packages ProxyShard needs for XDP builds, netns tests, browser tests and psql:
# only the missing ones, and `apt-get update` only when something is missing. Needs root; otherwise it
# prints what is missing and exits successfully (the other setup steps may still work).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(clang llvm libbpf-dev bpftool iproute2 util-linux curl chromium nftables postgresql-client)

main() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    setup_log "skip: not a Debian/Ubuntu system; install by hand: ${PACKAGES[*]}"
    return 0
  fi
  local wanted=("${PACKAGES[@]}") missing=() p
  # The envoy step needs a Python with venv; on a bare Debian, python3 lacks it until python3-venv is in.
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    [[ "$(command -v python3 || true)" == /usr/bin/python3 || -z "$(command -v python3 || true)" ]] &&
      wanted+=(python3 python3-venv)
  fi
  for p in "${wanted[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" = "ii " ] || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    setup_log "ok: debian packages present (${wanted[*]})"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    setup_log "skip: not root; missing debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})"
    return 0
  fi
  local start
  start="$(setup_now)"
  export DEBIAN_FRONTEND=noninteractive
  # Wait up to 10 min for another apt/dpkg run (unattended upgrades, a parallel setup) instead of failing.
  local apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  setup_log "missing debian packages: ${missing[*]}; running apt-get update…"
  "${apt[@]}" update </dev/null >&2
  setup_log "apt-get install ${missing[*]}…"
  "${apt[@]}" install -y "${missing[@]}" </dev/null >&2
  setup_log "ok: installed ${missing[*]} in $(setup_elapsed "$start")"
}

main "$@"
