#!/usr/bin/env bash
# Build the Go tools pinned by `tool` directives in tools/go.mod (and tools/*/go.mod, if the tools are ever
# split into one module each) into tools/bin/. Idempotent: a binary is rebuilt only when it is missing or
# when go.mod/go.sum changed and the binary no longer matches the pinned version.
#
# Each tool is built with `go build <pkg>` inside the module whose `tool` directive declares it, so go.sum
# verifies every dependency. The tools live in separate modules (tools/go.mod: temporal, tools/opa/go.mod:
# opa) because one shared module does not build: OPA v1.22.2 needs github.com/olekukonko/tablewriter
# v1.1.5, temporal CLI v1.5.1 needs v0.0.5, and the v1 API is incompatible (MVS picks v1.1.5).
# tools/vegeta/go.mod: vegeta, the HTTP load generator of bench/extauthz-latency.ts (its own module too, so
# its dependencies never move the servers' pins).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN_DIR="$SETUP_ROOT/tools/bin"

# Print "<package> <module> <version> <go.mod path>" for every tool directive under tools/.
list_tools() {
  local gomod
  for gomod in "$SETUP_ROOT"/tools/go.mod "$SETUP_ROOT"/tools/*/go.mod; do
    [ -f "$gomod" ] || continue
    awk -v gomod="$gomod" '
      { sub(/\/\/.*/, "") }
      /^tool[ \t]*\(/     { blk = "tool"; next }
      /^require[ \t]*\(/  { blk = "require"; next }
      /^[a-z]+[ \t]*\(/   { blk = "other"; next }
      /^\)/               { blk = ""; next }
      blk == "tool" && NF { tools[++nt] = $1; next }
      blk == "require" && NF >= 2 { req[$1] = $2; next }
      /^tool[ \t]+/       { tools[++nt] = $2; next }
      /^require[ \t]+/    { req[$2] = $3; next }
      END {
        for (i = 1; i <= nt; i++) {
          pkg = tools[i]; best = ""
          for (m in req)
            if ((pkg == m || index(pkg, m "/") == 1) && length(m) > length(best)) best = m
          if (best == "") { printf "no require line for tool %s in %s\n", pkg, gomod > "/dev/stderr"; exit 1 }
          print pkg, best, req[best], gomod
        }
      }' "$gomod"
  done
}

# The file name `go install` gives a package: its last path element, skipping a major-version suffix.
binary_name() {
  local pkg="$1" last
  last="${pkg##*/}"
  if [[ "$last" =~ ^v[0-9]+$ ]]; then pkg="${pkg%/*}"; last="${pkg##*/}"; fi
  printf '%s' "$last"
}

# Does the binary embed exactly this package, module and version? (go version -m reads the build info.)
binary_matches() {
  local bin="$1" pkg="$2" mod="$3" ver="$4" info
  info="$(go version -m "$bin" 2>/dev/null)" || return 1
  grep -qP "^\tpath\t\Q$pkg\E$" <<<"$info" || return 1
  grep -qP "^\t(mod|dep)\t\Q$mod\E\t\Q$ver\E(\t|$)" <<<"$info"
}

# Link flags the tools' own release builds use (their goreleaser configs), so `--version` is right and the
# binaries are stripped like the official ones.
tool_ldflags() {
  local pkg="$1" ver="$2"
  case "$pkg" in
    github.com/temporalio/cli/cmd/temporal) printf '%s' "-s -w -X github.com/temporalio/cli/temporalcli.Version=${ver#v}" ;;
    *) printf '%s' "-s -w" ;;
  esac
}

need_go() {
  command -v go >/dev/null 2>&1 ||
    setup_die "Go >= 1.24 is required to build the pinned tools (https://go.dev/dl/); or set TEMPORAL_BIN / OPA_BIN"
}

build_tool() {
  local pkg="$1" mod="$2" ver="$3" name="$4" gomod="$5" start tmp goflags=() f
  need_go
  start="$(setup_now)"
  setup_log "building $name $ver from $pkg with $(go env GOVERSION) (a few minutes on 2 cores unless the Go build cache is warm)…"
  # Build exactly what go.mod/go.sum pin: never let GOFLAGS=-mod=mod rewrite them.
  for f in ${GOFLAGS:-}; do [[ "$f" == -mod=* ]] || goflags+=("$f"); done
  tmp="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
  setup_heartbeat "building $name"
  if ! (cd "$(dirname "$gomod")" && GOFLAGS="${goflags[*]:-}" go build -mod=readonly -trimpath -ldflags="$(tool_ldflags "$pkg" "$ver")" -o "$tmp/$name" "$pkg"); then
    setup_heartbeat_stop
    rm -rf "$tmp"
    setup_die "building $name failed (go build $pkg in $(dirname "$gomod"))"
  fi
  setup_heartbeat_stop
  mv -f "$tmp/$name" "$BIN_DIR/$name"
  rm -rf "$tmp"
  setup_log "ok: $name $ver at tools/bin/$name (built in $(setup_elapsed "$start"))"
}

main() {
  trap setup_heartbeat_stop EXIT
  mkdir -p "$BIN_DIR"
  setup_lock go-tools
  local tools pkg mod ver gomod name bin gosum
  tools="$(list_tools)"
  [ -n "$tools" ] || setup_die "no tool directives found in tools/go.mod"
  local lines line
  mapfile -t lines <<<"$tools"
  for line in "${lines[@]}"; do
    read -r pkg mod ver gomod <<<"$line"
    name="$(binary_name "$pkg")"
    bin="$BIN_DIR/$name"
    gosum="${gomod%.mod}.sum"
    if [ -x "$bin" ] && [ "$bin" -nt "$gomod" ] && { [ ! -f "$gosum" ] || [ "$bin" -nt "$gosum" ]; }; then
      setup_log "ok: $name $ver at tools/bin/$name (cached)"
      continue
    fi
    if [ -x "$bin" ] && command -v go >/dev/null 2>&1 && binary_matches "$bin" "$pkg" "$mod" "$ver"; then
      touch "$bin" # go.mod/go.sum changed but not this tool's pin: keep the binary, refresh the mtime
      setup_log "ok: $name $ver at tools/bin/$name (go.mod changed, pin unchanged)"
      continue
    fi
    build_tool "$pkg" "$mod" "$ver" "$name" "$gomod" </dev/null
  done
}

main "$@"
