#!/usr/bin/env bash
# `make coverage`: line coverage of the workspace under its Rust tests
# (cargo-llvm-cov, with Debian's llvm-profdata/llvm-cov of rustc's LLVM
# major: no toolchain component to download), against the same local stack
# as `make test` (PostgreSQL, moto). Prints a table per crate; writes the
# HTML report to target/coverage/html/index.html and the tables to
# target/coverage/summary.md.
#
# Two measures (issue 24): every crate under all the workspace's tests, and
# each pure crate (no I/O: the domain and the image pipeline) under its own
# tests alone — what it proves without the integration tests.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
need coverage
major="$(llvm_major)"
export LLVM_COV="/usr/bin/llvm-cov-$major" LLVM_PROFDATA="/usr/bin/llvm-profdata-$major"
PURE_CRATES=(avatar-domain avatar-pipeline)
out="${CARGO_TARGET_DIR:-$ROOT/target}/coverage"
rm -rf "$out"
mkdir -p "$out"
trap stack_down EXIT
stack_up "$(free_port)"
export CORPUS_DIR="${CORPUS_DIR:-$ROOT/fixtures/images}"
cd "$ROOT"
# Only the workspace's own files count: not the fuzz workspace's, not build
# scripts' outputs.
ignore='(^|/)(fuzz|target)/'

# The instrumented build (workspace crates only) in a target directory of
# its own, so it never invalidates `make test`'s; the environment
# cargo-llvm-cov sets up, so that `cargo build` instruments the function
# binaries too (local/tests/binaries.rs runs them as processes).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/llvm-cov-target"
source <(cargo llvm-cov show-env --sh 2>/dev/null)
report() { cargo llvm-cov report --ignore-filename-regex "$ignore" "$@"; }
status=0
for crate in "${PURE_CRATES[@]}"; do
  cargo llvm-cov clean --profraw-only
  cargo nextest run --locked --no-fail-fast -p "$crate" || status=$?
  report --json --summary-only --output-path "$out/$crate.json"
done
cargo llvm-cov clean --profraw-only
cargo build --workspace --all-targets --locked
cargo nextest run --workspace --locked --no-fail-fast || status=$?
report --json --summary-only --output-path "$out/workspace.json"
report --html --output-dir "$out"
python3 "$ROOT/scripts/coverage_table.py" "$out" "${PURE_CRATES[@]}" | tee "$out/summary.md"
log "HTML report: $out/html/index.html"
exit "$status"
