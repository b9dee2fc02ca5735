#!/usr/bin/env bash
# `make loadtest`: the service under load beside its peers (bench/loadtest.py),
# on a local stack started here; loopback only, bounded in count and time
# (about three minutes). Needs wrk and nginx (Debian's packages; installed
# as root) and installs Locust, boto3 and matplotlib (pinned in
# bench/loadtest-requirements.txt) into .local/loadtest-venv. Writes its
# section of BENCHMARKS.md and bench/charts/loadtest-*.png.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
trap stack_down EXIT
need loadtest
venv="$LOCAL_DIR/loadtest-venv"
stack_up "$(free_port)"
cargo build --release --locked -p avatar-local -p avatars
target="${CARGO_TARGET_DIR:-$ROOT/target}/release"
"$venv/bin/python" "$ROOT/bench/loadtest.py" "$target/avatar-local" "$target/avatars" \
  --uploaders "${UPLOADERS:-20}" --uploads "${UPLOADS:-40}" --seconds "${SECONDS_PER_READ:-10}" \
  --out "$ROOT/BENCHMARKS.md"
