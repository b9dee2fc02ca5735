#!/usr/bin/env bash
# check-deps.sh (make lint): every install goes through scripts/deps.sh.
#   1. No other tracked file runs an installer — apt-get install/update,
#      pip install, python -m venv, npm ci/install, cargo install, rustup —
#      except the Dockerfile (it builds a container image, not this machine)
#      and the docs. Two suites that each installed their own package at the
#      same moment made `make test` fail on a new machine (issue 21).
#   2. Every name passed to `need` or `scripts/deps.sh` is one deps.sh knows.
# The scanner is checked on a planted stray installer first, so this check
# can fail.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
INSTALLERS='apt-get +(install|update)|pip3? +install|-m +venv|npm +(ci|install)|cargo +install|rustup +(toolchain|component|target)'

# scan FILE...: prints FILE:LINE for each installer outside deps.sh.
scan() {
  grep -InHE "$INSTALLERS" "$@" 2>/dev/null | grep -vE '^[^:]+:[0-9]+: *#' || true
}

planted="$(mktemp)"
trap 'rm -f "$planted"' EXIT
printf '#!/bin/sh\n# apt-get install in a comment is fine\napt-get install -y chromium\n' >"$planted"
[ "$(scan "$planted" | wc -l)" = 1 ] || { echo "check-deps: the scanner missed a planted installer" >&2; exit 1; }

mapfile -t files < <(git ls-files --cached --others --exclude-standard |
  grep -vE '^(scripts/(deps|check-deps)\.sh|Dockerfile|.*\.md|docs/.*|fixtures/.*|.*\.(png|jpe?g|webp|gif|avif|heic|ico|lock|json))$' |
  while read -r f; do [ -f "$f" ] && echo "$f"; done)
stray="$(scan "${files[@]}")"
if [ -n "$stray" ]; then
  echo "check-deps: installers outside scripts/deps.sh (call \`need NAME\` instead):" >&2
  echo "$stray" >&2
  exit 1
fi

# 2. Names given to need / deps.sh, each known to deps.sh.
source "$ROOT/scripts/deps.sh"
known="$(sed -n 's/^ *\([a-z0-9 |-]*\)).*/\1/p' scripts/deps.sh | tr '|' '\n' | tr -d ' ')"
status=0
while read -r name; do
  grep -qx -- "$name" <<<"$known" || { echo "check-deps: \`need $name\`: deps.sh knows no $name" >&2; status=1; }
done < <(grep -IhvE '^\s*#' "${files[@]}" |
  grep -oE '(^|[;&|] *|^ +)need( +[a-z0-9-]+)+|scripts/deps\.sh( +[a-z0-9-]+)+' |
  sed -E 's/.*(need|deps\.sh)//' | tr ' ' '\n' | grep -v '^$' | sort -u)
[ "$status" = 0 ] && echo "check-deps: ${#files[@]} files, every install through scripts/deps.sh"
exit "$status"
