#!/usr/bin/env bash
# ensure-cargo-tool.sh CRATE VERSION [BINARY]: installs CRATE at VERSION from
# the crate registry (`cargo install --locked`) into .local/cargo-tools unless
# that version is there already, and prints the binary's path. Pinned, and
# kept out of ~/.cargo, so every run (CI's fresh clone included) uses the
# same tool.
set -euo pipefail
crate="$1" version="$2" binary="${3:-$1}"
root="$(cd "$(dirname "$0")/.." && pwd)/.local/cargo-tools"
stamp="$root/.$crate-$version"
if [ ! -x "$root/bin/$binary" ] || [ ! -f "$stamp" ]; then
  echo "[deps] installing $crate $version (crate registry) into $root" >&2
  cargo install --quiet --locked --root "$root" "$crate" --version "$version" >&2
  touch "$stamp"
fi
echo "$root/bin/$binary"
