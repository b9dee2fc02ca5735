#!/usr/bin/env bash
# The Lambda runtime path, proven locally (lambda-tests/test_lambda.py):
# `cargo lambda watch` (cargo-lambda from PyPI, pinned in
# tools-requirements.txt) emulates API Gateway and the Lambda runtime API
# with the Cargo.toml router table, and runs the function binaries with
# AWS_LAMBDA_RUNTIME_API set, exactly as Lambda does. The test drives HTTP
# requests through it and invokes the thumbnail and purge functions with
# `cargo lambda invoke --data-file` on SQS events captured from the emulator.
# `make test` calls this with its emulator and PostgreSQL already up; run
# alone, it starts them. Payloads and logs go to target/lambda-tests/.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
trap stack_down EXIT
[ -n "${AWS_ENDPOINT_URL:-}" ] || stack_up "$(free_port)"
need tools moto # the test talks to S3 and SQS with the emulator venv's boto3

artifacts="${CARGO_TARGET_DIR:-$ROOT/target}/lambda-tests"
rm -rf "$artifacts" && mkdir -p "$artifacts"
use_isolated_names lambda
# 300 KB: the 618 KiB test photo's original answers 307 (the 6 MB Lambda
# payload limit is what the 4 MiB default protects).
export REDIRECT_ABOVE_BYTES=300000 ORPHAN_GRACE_SECONDS=0
export RUST_LOG="${RUST_LOG:-info}"

# cargo lambda watch starts each function with `cargo run --bin NAME`, which
# resolves features without the dev-dependencies; build that set once here
# (about 2.5 min after the test build in CI), so no function compiles while
# a request waits.
cargo build --locked -p avatar-local -p avatar-upload -p avatar-get -p avatar-metadata \
  -p avatar-delete -p avatar-thumbnail -p avatar-purge
# Database, migrations, buckets, queues, notifications: as `make run`.
"${CARGO_TARGET_DIR:-$ROOT/target}/debug/avatar-local" bootstrap

port="$(free_port)"
export PATH="$TOOLS_VENV/bin:$PATH"
# --ignore-changes: no reloads mid-test. The functions inherit this
# environment (database, buckets, queues, emulator endpoint).
(cd "$ROOT" && exec cargo lambda watch --ignore-changes --quiet -A 127.0.0.1 -P "$port") \
  >"$artifacts/watch.log" 2>&1 &
STARTED_PIDS+=("$!")
gateway="http://127.0.0.1:$port"
# The first request starts the metadata function (built above, so no compile).
for _ in $(seq 1 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$gateway/health")" = 200 ] && break
  kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null || { tail -30 "$artifacts/watch.log" >&2; exit 1; }
  sleep 0.5
done
log "cargo lambda watch on $gateway (log: $artifacts/watch.log)"

status=0
GATEWAY_URL="$gateway" INVOKE_ADDRESS=127.0.0.1 INVOKE_PORT="$port" \
  CARGO_LAMBDA="$TOOLS_VENV/bin/cargo-lambda" ARTIFACTS_DIR="$artifacts" \
  CORPUS_DIR="${CORPUS_DIR:-$ROOT/fixtures/images}" \
  "$VENV/bin/python" "$ROOT/lambda-tests/test_lambda.py" || status=$?
[ "$status" = 0 ] || tail -40 "$artifacts/watch.log" >&2
# cargo lambda watch runs the functions in its own process group; stop them all.
pkill -TERM -f "cargo-lambda lambda watch.*-P $port" 2>/dev/null || true
exit "$status"
