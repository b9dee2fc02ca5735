#!/usr/bin/env bash
# `make test`: unit, integration and end-to-end tests against a real
# PostgreSQL and a real S3 + SQS API on loopback (moto, or LocalStack with
# STACK=localstack), started here on a free port and stopped afterwards,
# then the suites over whole processes (browser tests in Chromium, ...),
# among them the end-to-end and direct-upload tests against the other
# emulator. Each test makes its own database, buckets and queues, so tests
# run in parallel.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
# Everything any suite needs, installed now, one thing at a time, before
# they start in parallel (scripts/deps.sh); a thing that can't be had stops
# here with one line, before anything is built.
need test
trap stack_down EXIT
stack_up "$(free_port)"
export CORPUS_DIR="${CORPUS_DIR:-$ROOT/fixtures/images}"
[ -d "$CORPUS_DIR" ] || { log "corpus not found at $CORPUS_DIR (set CORPUS_DIR)"; exit 1; }
# Test databases are named avatars_test_*; drop the leftovers of earlier runs.
drop_test_databases() {
  psql "${DATABASE_URL%/*}/postgres" -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'avatars\_test\_%'" 2>/dev/null |
    while read -r db; do psql "${DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done
}
drop_test_databases
# template.yaml: cfn-lint, and its routes against the route table.
status=0
bash "$ROOT/scripts/deploy-checks.sh" || status=$?
# The function binaries themselves are tested in plain-HTTP mode
# (local/tests/binaries.rs) and avatar-local runs the browser tests; test
# runners build only test targets. Building every target in one command
# resolves features once, so the test build below reuses everything.
cargo build --workspace --all-targets --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --locked --no-fail-fast "$@" || status=$?
fi
# Suites over whole processes, on the same emulator and PostgreSQL: the
# Lambda runtime path under `cargo lambda watch`, the browser tests of the
# web pages, schemathesis over the OpenAPI document, the alert rules and
# dashboard queries against a real Prometheus, the fault suite (on
# stacks of its own, always moto: it freezes the emulator's process), and
# the end-to-end and direct-upload tests against the other emulator. They use free ports and names of their own, so they
# run at once; each one's output is printed whole when all are done
# (SUITES=0 skips them, e.g. when running one Rust test by name).
if [ "${SUITES:-1}" != 0 ]; then
  logs="${CARGO_TARGET_DIR:-$ROOT/target}/suites"
  mkdir -p "$logs"
  suites=(lambda-tests web-tests api-fuzz observability-tests faults emulator-tests asan-tests fuzz-tests)
  pids=()
  for suite in "${suites[@]}"; do
    bash "$ROOT/scripts/$suite.sh" >"$logs/$suite.log" 2>&1 &
    pids+=("$!")
  done
  for i in "${!suites[@]}"; do
    if wait "${pids[$i]}"; then result=passed; else result=FAILED; status=1; fi
    printf '\n===== %s: %s (%s) =====\n' "${suites[$i]}" "$result" "$logs/${suites[$i]}.log"
    grep -v '^{' "$logs/${suites[$i]}.log" || true
  done
fi
drop_test_databases
exit "$status"
