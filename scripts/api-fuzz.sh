#!/usr/bin/env bash
# schemathesis against the OpenAPI document the service serves
# (/api/v1/openapi.json), on `avatar-local serve` with its own database,
# buckets and queues: every check except positive_data_acceptance (the
# schema cannot say "a decodable image", so random bytes are rightly 400)
# and ignored_auth: the server runs in AUTH_MODE=header, where any
# well-formed X-User-ID is an identity by design (the gateway in front
# vouches for it), so "accepts a generated credential" is that mode's
# definition; the token modes' 401s are tested in local/tests/security.rs.
# Bounded: API_FUZZ_EXAMPLES per operation (default 25), a fixed seed.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
trap stack_down EXIT
[ -n "${AWS_ENDPOINT_URL:-}" ] || stack_up "$(free_port)"
need tools
out="${CARGO_TARGET_DIR:-$ROOT/target}/api-fuzz"
mkdir -p "$out"
serve_isolated "$out/server.log"
log "schemathesis against $SERVICE_URL/api/v1/openapi.json (server log: $out/server.log)"
"$TOOLS_VENV/bin/schemathesis" run "$SERVICE_URL/api/v1/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance,ignored_auth \
  --max-examples "${API_FUZZ_EXAMPLES:-25}" --seed "${API_FUZZ_SEED:-20261121}" \
  --request-timeout 10 --max-failures 20 \
  --report junit --report-junit-path "$out/junit.xml"
