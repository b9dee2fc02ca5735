#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (/usr/bin/chromium, or $CHROMIUM)
# with playwright-core; no browser is downloaded from anywhere else.
set -euo pipefail
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[deps] installing chromium (Debian) for the browser tests" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "the browser tests need Chromium at $chromium: apt-get install chromium (or set CHROMIUM)" >&2
  exit 1
fi
