#!/usr/bin/env bash
# Runs once LocalStack's services are ready (its init hooks,
# /etc/localstack/init/ready.d/): in the compose file's container, and under
# `STACK=localstack make run` in host mode (scripts/stack.sh links this
# directory in and sets AVATAR_LOCAL, WEB_STATIC_DIR and the rest). The same
# bootstrap as `make run`: create the database if needed and migrate, then
# the avatar and web buckets, the queues with their dead-letter queues, the
# bucket notifications and CORS, and the web pages. Idempotent, like the
# command.
set -euo pipefail
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://localhost:4566}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export S3_FORCE_PATH_STYLE="${S3_FORCE_PATH_STYLE:-true}"
export WEB_STATIC_DIR="${WEB_STATIC_DIR:-/opt/avatars/web-static}"
echo "[avatars] bootstrap against $AWS_ENDPOINT_URL"
"${AVATAR_LOCAL:-/usr/local/bin/avatar-local}" bootstrap
echo "[avatars] bootstrap done"
