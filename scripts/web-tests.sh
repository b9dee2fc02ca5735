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
# Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) with playwright-core;
# no browser is downloaded from anywhere else.
need chromium web-tests

artifacts="${ARTIFACTS_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/web-tests}"
mkdir -p "$artifacts"
# BATCH_WINDOW_SECONDS: the thumbnail function's event source mapping waits
# 3 s to fill a batch, so the gallery test sees a tile turn processing -> ready.
# INLINE_UPLOAD_BYTES: files over 1 MB go as direct uploads (presigned PUT),
# so the suite's pictures take both paths of the upload page.
serve_isolated "$artifacts/server.log" BATCH_WINDOW_SECONDS=3 INLINE_UPLOAD_BYTES=1000000
header_url="$SERVICE_URL"
# The same pages in AUTH_MODE=jwt (web-tests/jwt.test.mjs): the JWKS is
# served by the test itself on JWKS_PORT (fetched on the first token).
export JWKS_PORT JWT_ISSUER=https://issuer.web-tests JWT_AUDIENCE=avatars-web-tests
JWKS_PORT="$(free_port)"
serve_isolated "$artifacts/server-jwt.log" AUTH_MODE=jwt \
  JWT_JWKS_URL="http://127.0.0.1:$JWKS_PORT/jwks.json" JWT_ISSUER="$JWT_ISSUER" JWT_AUDIENCE="$JWT_AUDIENCE"
log "browser tests against $header_url and, in jwt mode, $SERVICE_URL (server logs: $artifacts/server*.log)"
BASE_URL="$header_url" JWT_BASE_URL="$SERVICE_URL" CORPUS_DIR="${CORPUS_DIR:-$ROOT/fixtures/images}" \
  ARTIFACTS_DIR="$artifacts" node --test --test-reporter=spec "$ROOT/web-tests/"
log "screenshots: $artifacts/upload.png $artifacts/gallery.png"
