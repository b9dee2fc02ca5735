#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (/usr/bin/chromium, or $CHROMIUM)
# with playwright-core; no browser is downloaded from anywhere else.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-apt.sh" "${CHROMIUM:-/usr/bin/chromium}" chromium "for the browser tests"
