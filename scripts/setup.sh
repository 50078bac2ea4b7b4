#!/usr/bin/env bash
# Idempotent toolchain setup for building and testing psqlqueue on Debian 12 as root:
# apt packages (server headers pinned to the running server's version; Chromium and its driver
# for the dashboard's browser tests), cargo-pgrx at the pinned version, and `cargo pgrx init`
# against the system pg_config. Every step is skipped when it is already done, so `make test`
# and `make run` can call this each time.
set -euo pipefail

PGRX_VERSION="${PGRX_VERSION:-0.18.1}"
PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
export PATH="$CARGO_HOME/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

pkg_version() {
  { dpkg-query -W -f='${Status}\t${Version}\n' "$1" 2>/dev/null || true; } |
    awk -F'\t' '$1=="install ok installed"{print $2}'
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- 1. Debian packages ------------------------------------------------------------------
missing=()
# Only what building and testing need; the benchmarks' tools come with `make bench`
# (scripts/bench-setup.sh).
for p in ca-certificates build-essential pkg-config libssl-dev libclang-dev clang sudo; do
  [ -n "$(pkg_version "$p")" ] || missing+=("$p")
done
server="$(pkg_version "postgresql-${PG_MAJOR}")"
headers="$(pkg_version "postgresql-server-dev-${PG_MAJOR}")"
if [ ${#missing[@]} -gt 0 ] || [ -z "$server" ] || [ -z "$headers" ]; then
  say "apt-get update"
  as_root apt-get update -qq
  if [ -z "$server" ]; then
    missing+=("postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}")
  elif [ -z "$headers" ]; then
    # An unpinned install would pull a newer server minor and upgrade the running server.
    if apt-cache madison "postgresql-server-dev-${PG_MAJOR}" | awk -F'|' '{gsub(/ /,"",$2); print $2}' |
      grep -qxF "$server"; then
      missing+=("postgresql-server-dev-${PG_MAJOR}=${server}")
    else
      say "headers ${server} no longer published; installing the newest server and headers"
      missing+=("postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}")
    fi
  fi
  say "apt-get install ${missing[*]}"
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The dashboard's browser tests (tests/ui, `make ui-test`) drive Debian's headless Chromium
# through its chromedriver; installed only when missing (with their recommended fonts, so the
# screenshots have text).
browser=()
for p in chromium chromium-driver; do
  [ -n "$(pkg_version "$p")" ] || browser+=("$p")
done
if [ ${#browser[@]} -gt 0 ]; then
  say "apt-get install ${browser[*]}"
  as_root apt-get update -qq
  as_root apt-get install -y -qq "${browser[@]}"
fi
[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found"
id postgres >/dev/null 2>&1 || die "user 'postgres' missing (it comes with postgresql-common)"

# --- 2. cargo-pgrx -------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo is not on PATH"
have="$("$CARGO_HOME/bin/cargo-pgrx" pgrx --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$PGRX_VERSION" ]; then
  say "cargo install cargo-pgrx --version =${PGRX_VERSION} --locked (about 3 minutes)"
  cargo install cargo-pgrx --version "=${PGRX_VERSION}" --locked
fi

# --- 2b. cargo-machete and cargo-deny (unused dependencies; licenses, bans, sources) -------
MACHETE_VERSION="${MACHETE_VERSION:-0.9.2}"
have="$("$CARGO_HOME/bin/cargo-machete" --version 2>/dev/null || true)"
if [ "$have" != "$MACHETE_VERSION" ]; then
  say "cargo install cargo-machete --version =${MACHETE_VERSION} --locked (about a minute)"
  cargo install cargo-machete --version "=${MACHETE_VERSION}" --locked
fi
DENY_VERSION="${DENY_VERSION:-0.20.2}"
have="$("$CARGO_HOME/bin/cargo-deny" --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$DENY_VERSION" ]; then
  say "cargo install cargo-deny --version =${DENY_VERSION} --locked (about 3 minutes)"
  cargo install cargo-deny --version "=${DENY_VERSION}" --locked
fi

# --- 3. cargo pgrx init ----------------------------------------------------------------
if ! grep -qsF "pg${PG_MAJOR} = \"${PG_CONFIG}\"" "$PGRX_HOME/config.toml"; then
  say "cargo pgrx init --pg${PG_MAJOR} ${PG_CONFIG}"
  cargo pgrx init "--pg${PG_MAJOR}" "$PG_CONFIG"
fi
say "toolchain ready (cargo-pgrx ${PGRX_VERSION}, PostgreSQL ${server:-$(pkg_version postgresql-${PG_MAJOR})})"
