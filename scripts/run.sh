#!/usr/bin/env bash
# `make run`: the whole API on http://127.0.0.1:9000 against a local stack
# this script starts (S3 + SQS: moto, or LocalStack with STACK=localstack;
# PostgreSQL). Built with the dev profile by default — the build `make test`
# already made (dependencies at opt-level 2, the image pipeline at 2), so
# the first `make run` after it compiles nothing; RUN_PROFILE=release makes
# the size-optimised Lambda build instead (a second build of everything).
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
# Ctrl-C reaches avatar-local, which shuts down cleanly; the EXIT trap then
# stops the emulator and any PostgreSQL cluster this script started.
trap stack_down EXIT
trap 'exit 143' TERM
need run
profile="${RUN_PROFILE:-dev}"
cargo build --profile "$profile" --locked -p avatar-local
[ "$profile" = dev ] && profile=debug
export AVATAR_LOCAL="${CARGO_TARGET_DIR:-$ROOT/target}/$profile/avatar-local"
export RUST_LOG="${RUST_LOG:-info}" WEB_STATIC_DIR="${WEB_STATIC_DIR:-$ROOT/web-static}"
# Under STACK=localstack the bootstrap runs in LocalStack's init hook
# (localstack/init/ready.d, as in the compose file); serve repeats it, a
# no-op.
stack_up "${EMULATOR_PORT:-${MOTO_PORT:-4566}}" hook
"$AVATAR_LOCAL" serve
