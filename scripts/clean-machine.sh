#!/usr/bin/env bash
# clean-machine.sh: undoes what scripts/deps.sh installs, so the next
# `make test` or `make run` starts as on a new machine — the manual check of
# the set-up path (issue 21: "a new machine passes `make test` the first
# time"). As root it purges the Debian packages the project installs
# (those of them that are installed: chromium, prometheus, nginx, wrk,
# nasm, libjpeg-turbo-progs, colord-data, libheif-dev, libheif-examples,
# libavif-bin); it removes .local/ (the venvs, the cargo
# tools, any private PostgreSQL cluster: stop `make run` first), the npm
# packages, target/ and fuzz/target/. It leaves what the README lists as
# prerequisites (Rust toolchains, Node.js, Python, a PostgreSQL server)
# and the cargo registry cache (crate sources; a new machine downloads
# them within `cargo build`).
#   bash scripts/clean-machine.sh && time make test
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$(id -u)" = 0 ]; then
  installed=()
  for p in chromium prometheus nginx wrk nasm libjpeg-turbo-progs colord-data libheif-dev libheif-examples libavif-bin; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && installed+=("$p")
  done
  if [ "${#installed[@]}" -gt 0 ]; then
    echo "[clean] purging ${installed[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${installed[@]}" >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >/dev/null
  fi
else
  echo "[clean] not root: Debian packages left installed" >&2
fi
echo "[clean] removing .local, node_modules, target, fuzz/target" >&2
rm -rf "$ROOT/.local" "$ROOT/web-tests/node_modules" "$ROOT/deploy-tests/node_modules" \
  "$ROOT/target" "$ROOT/fuzz/target" "$ROOT/fuzz/corpus" "$ROOT/fuzz/logs"
