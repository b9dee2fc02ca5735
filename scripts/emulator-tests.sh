#!/usr/bin/env bash
# The end-to-end and direct-upload tests (local/tests/e2e.rs, direct.rs)
# against the *other* S3 + SQS emulator: LocalStack when `make test` runs
# on moto (the default), moto under STACK=localstack. A second emulator
# catches what one emulator's quirks hide (event key encoding, notification
# shapes, presigned-URL checks, CORS). `make test` runs this beside its
# other suites, on an emulator of its own on a free port and the same
# PostgreSQL; the tests make their own databases, buckets and queues.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
trap stack_down EXIT
case "$STACK" in
  localstack) STACK=moto ;;
  *) STACK=localstack ;;
esac
unset AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
stack_up "$(free_port)"
log "e2e and direct-upload tests against $STACK at $AWS_ENDPOINT_URL"
started=$(date +%s)
# --workspace, as test.sh builds: the same features, so nothing is rebuilt.
cargo nextest run --workspace --locked --no-fail-fast \
  -E 'binary_id(avatar-local::e2e) | binary_id(avatar-local::direct)'
log "$STACK: e2e and direct-upload tests passed in $(( $(date +%s) - started )) s"
