#!/usr/bin/env bash
# `make bench-telemetry`: GET of a stored variant with trace export off and
# on (bench/telemetry.py) against a local stack started here. Writes its
# section of BENCHMARKS.md. Needs wrk (Debian's package; installed as root).
set -euo pipefail
source "$(dirname "$0")/stack.sh"
trap stack_down EXIT
need bench-telemetry
stack_up "$(free_port)"
cargo build --release --locked -p avatar-local
python3 "$ROOT/bench/telemetry.py" "${CARGO_TARGET_DIR:-$ROOT/target}/release/avatar-local" \
  --rounds "${ROUNDS:-3}" --seconds "${SECONDS_PER_RUN:-10}" --out "$ROOT/BENCHMARKS.md"
