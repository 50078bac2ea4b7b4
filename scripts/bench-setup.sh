#!/usr/bin/env bash
# The benchmarks' own tools (wrk for HTTP load, gnuplot for the plot, valgrind for instruction
# counts), installed by the bench targets only, so `make test` does not pull them. Idempotent.
set -euo pipefail
source "$(dirname "$0")/env.sh"
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in gnuplot-nox valgrind wrk; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
