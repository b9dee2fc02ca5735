#!/usr/bin/env bash
# `make test`'s fuzz suite: every target built (so none rots unseen) and
# run 60 s (FUZZ_SECONDS) from its seeds, two at once (FUZZ_JOBS), plus
# the regression inputs.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-60}" FUZZ_JOBS="${FUZZ_JOBS:-2}" exec bash "$(dirname "$0")/fuzz.sh"
