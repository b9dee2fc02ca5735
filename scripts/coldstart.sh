#!/usr/bin/env bash
# `make coldstart`: stripped release binary sizes and cold starts of every
# function (bench/coldstart.py) against a local stack started here: moto
# and PostgreSQL as for `make test`, with its own database, buckets and
# queues, bootstrapped by avatar-local. Writes its section of BENCHMARKS.md.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
drop_database() {
  [ -n "${ISOLATED_DB:-}" ] && psql "$admin_url" -qc "DROP DATABASE IF EXISTS \"$ISOLATED_DB\"" >/dev/null 2>&1
  return 0
}
trap 'drop_database; stack_down' EXIT
stack_up "$(free_port)"
# upload and thumbnail with HEIC and AVIF (`heif`: libheif, linked
# dynamically), the heavier of their two builds; the other functions never
# decode an upload.
cargo build --release --locked -p avatar-upload -p avatar-get -p avatar-metadata -p avatar-delete \
  -p avatar-thumbnail -p avatar-purge -p avatar-local --features avatar-upload/heif,avatar-thumbnail/heif
release="${CARGO_TARGET_DIR:-$ROOT/target}/release"
admin_url="${DATABASE_URL%/*}/postgres"
use_isolated_names coldstart
RUST_LOG=warn "$release/avatar-local" bootstrap
python3 "$ROOT/bench/coldstart.py" "$release" --runs "${RUNS:-20}" --out "$ROOT/BENCHMARKS.md"
