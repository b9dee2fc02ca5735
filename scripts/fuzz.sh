#!/usr/bin/env bash
# fuzz.sh: builds every cargo-fuzz target (fuzz/fuzz_targets/, nightly,
# AddressSanitizer) and runs each for FUZZ_SECONDS from its seeds, then
# replays every input kept in fuzz/regressions/TARGET (crashes found and
# fixed). `make fuzz` runs 600 s a target; `make test` runs 60 s a target
# as one of its suites, so CI builds the targets on every run. A crash, a
# leak, an allocation over -malloc_limit_mb or an ASan report fails it; the
# input is left in fuzz/artifacts/TARGET. Prints a table: executions,
# coverage (edges), corpus size per target.
#   FUZZ_SECONDS (default 600), FUZZ_TARGETS (default: all), FUZZ_JOBS
#   (targets run at once, default 1).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/deps.sh"
need nightly cargo-fuzz
seconds="${FUZZ_SECONDS:-600}"
cd "$ROOT/fuzz"
read -ra targets <<<"${FUZZ_TARGETS:-$(cargo +nightly fuzz list | tr '\n' ' ')}"
# libjpeg's function-local statics of one name (jcdctmgr.c's `aanscales`)
# trip ASan's one-definition check for gcc-compiled C; not globals, not a bug.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
# Leaks inside system libraries, reproduced without our code (fuzz/lsan.supp).
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$ROOT/fuzz/lsan.supp"
# Seeds per target; each run's corpus grows in fuzz/corpus/TARGET (ignored).
seeds() {
  case "$1" in
    progressive) echo seeds/progressive seeds/images ;;
    messages) echo seeds/messages ;;
    *) echo seeds/images ;;
  esac
}
# Every target, always (a target that no longer compiles fails here).
cargo +nightly fuzz build --release
bin="$ROOT/fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"
logs="$ROOT/fuzz/logs" && mkdir -p "$logs"
status=0
run_one() {
  local t="$1"
  mkdir -p "corpus/$t" "artifacts/$t"
  # shellcheck disable=SC2046
  "$bin/$t" "corpus/$t" $(seeds "$t") -artifact_prefix="artifacts/$t/" \
    -max_total_time="$seconds" -malloc_limit_mb=256 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$logs/$t.log" 2>&1
}
pids=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=("$!")
  if [ "${#pids[@]}" -ge "${FUZZ_JOBS:-1}" ]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
printf '%-12s %10s %8s %8s %8s  %s\n' target execs cov ft corpus result
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(find "corpus/$t" -type f | wc -l)
  result=ok
  grep -qE '^==[0-9]+==ERROR|^SUMMARY: |deadly signal|out-of-memory' "$log" && result="FAILED (see $log)"
  printf '%-12s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$result"
done
# Inputs of crashes found and fixed: each is run once and must pass.
for dir in regressions/*/; do
  [ -d "$dir" ] || continue
  t="$(basename "$dir")"
  if ! "$bin/$t" "$dir"* -runs=1 >"$logs/$t-regressions.log" 2>&1; then
    echo "regression input of $t fails again: $logs/$t-regressions.log" >&2
    status=1
  fi
done
exit "$status"
