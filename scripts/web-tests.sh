#!/usr/bin/env bash
# Browser tests (web-tests/) in Debian's Chromium via playwright-core,
# against `avatar-local serve` — the same gateway, bootstrap and web bucket
# as `make run` — on a free port with its own database, buckets and queues.
# `make test` calls this with its emulator and PostgreSQL already up; run
# alone, it starts them. Screenshots go to target/web-tests/.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  trap stack_down EXIT
  stack_up "$(free_port)"
fi
bash "$ROOT/scripts/ensure-chromium.sh"
(cd "$ROOT/web-tests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/avatar-local"
[ -x "$bin" ] || cargo build --locked -p avatar-local
suffix="$(date +%s)$$"
port="$(free_port)"
artifacts="${ARTIFACTS_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/web-tests}"
mkdir -p "$artifacts"
server_log="$artifacts/server.log"
# BATCH_WINDOW_SECONDS: the thumbnail function's event source mapping waits
# 3 s to fill a batch, so the gallery test sees a tile turn processing -> ready.
env DATABASE_URL="${DATABASE_URL%/*}/avatars_test_web_$suffix" \
  AVATAR_BUCKET="test-web-$suffix" WEB_BUCKET="web-$suffix" \
  UPLOAD_QUEUE="uploads-web-$suffix" DELETE_QUEUE="deletes-web-$suffix" \
  GATEWAY_ADDR="127.0.0.1:$port" BATCH_WINDOW_SECONDS=3 RUST_LOG="${RUST_LOG:-info}" \
  "$bin" serve >"$server_log" 2>&1 &
server=$!
stop_server() { kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; stack_down; }
trap stop_server EXIT
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { log "avatar-local exited; see $server_log"; tail -20 "$server_log" >&2; exit 1; }
  sleep 0.2
done
log "browser tests against http://127.0.0.1:$port (server log: $server_log)"
BASE_URL="http://127.0.0.1:$port" CORPUS_DIR="${CORPUS_DIR:-$ROOT/../shared/corpus}" \
  ARTIFACTS_DIR="$artifacts" node --test --test-reporter=spec "$ROOT/web-tests/"
log "screenshots: $artifacts/upload.png $artifacts/gallery.png"
