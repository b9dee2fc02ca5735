#!/usr/bin/env bash
# `make faults`: the fault suite (faults/faults.py). Each scenario starts
# its own PostgreSQL cluster, moto and `avatar-local serve` (the debug
# build, as the tests use), injects one fault and checks that nothing
# accepted is lost. Arguments name scenarios (default: all). Bounded: about
# five minutes, most of it the 3-minute PostgreSQL outage, which runs beside
# the others.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
need nasm moto postgresql
[ -n "$(pg_bin)" ] || { log "the fault suite needs PostgreSQL's binaries"; exit 1; }
bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/avatar-local"
[ -x "$bin" ] || cargo build --locked -p avatar-local
# A copy of its own: scenarios start the binary again and again over
# minutes, while `make test` may rebuild target/debug beside them.
mkdir -p "$LOCAL_DIR/faults"
cp "$bin" "$LOCAL_DIR/faults/avatar-local"
AVATAR_LOCAL="$LOCAL_DIR/faults/avatar-local" "$VENV/bin/python" "$ROOT/faults/faults.py" "$@"
