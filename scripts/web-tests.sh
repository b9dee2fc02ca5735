#!/usr/bin/env bash
# Browser tests (web-tests/) in Debian's Chromium via playwright-core,
# against `avatar-local serve` — the same gateway, bootstrap and web bucket
# as `make run` — on a free port with its own database, buckets and queues.
# `make test` calls this with its emulator and PostgreSQL already up; run
# alone, it starts them. Screenshots go to target/web-tests/.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
trap stack_down EXIT
[ -n "${AWS_ENDPOINT_URL:-}" ] || stack_up "$(free_port)"
bash "$ROOT/scripts/ensure-chromium.sh"
(cd "$ROOT/web-tests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

artifacts="${ARTIFACTS_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/web-tests}"
mkdir -p "$artifacts"
# BATCH_WINDOW_SECONDS: the thumbnail function's event source mapping waits
# 3 s to fill a batch, so the gallery test sees a tile turn processing -> ready.
serve_isolated "$artifacts/server.log" BATCH_WINDOW_SECONDS=3
log "browser tests against $SERVICE_URL (server log: $artifacts/server.log)"
BASE_URL="$SERVICE_URL" CORPUS_DIR="${CORPUS_DIR:-$ROOT/fixtures/images}" \
  ARTIFACTS_DIR="$artifacts" node --test --test-reporter=spec "$ROOT/web-tests/"
log "screenshots: $artifacts/upload.png $artifacts/gallery.png"
