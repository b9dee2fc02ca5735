#!/usr/bin/env bash
# `make run`: the whole API on http://127.0.0.1:9000 against a local stack
# this script starts (moto for S3 + SQS, PostgreSQL), built in release mode.
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
# Ctrl-C reaches avatar-local, which shuts down cleanly; the EXIT trap then
# stops moto and any PostgreSQL cluster this script started.
trap stack_down EXIT
trap 'exit 143' TERM
stack_up "${MOTO_PORT:-4566}"
cargo build --release --locked -p avatar-local
export RUST_LOG="${RUST_LOG:-info}"
"${CARGO_TARGET_DIR:-$ROOT/target}/release/avatar-local" serve
