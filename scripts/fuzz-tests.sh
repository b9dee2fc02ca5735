#!/usr/bin/env bash
# `make test`'s fuzz suite: every target built (so none rots unseen) and
# run 60 s (FUZZ_SECONDS) from its seeds, plus the regression inputs.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-60}" exec bash "$(dirname "$0")/fuzz.sh"
