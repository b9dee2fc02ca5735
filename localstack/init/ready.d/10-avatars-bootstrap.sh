#!/usr/bin/env bash
# Runs inside the LocalStack container once its services are ready
# (LocalStack's init hooks: /etc/localstack/init/ready.d/). The same
# bootstrap as `make run`: create the database if needed and migrate, then
# the avatar and web buckets, the queues with their dead-letter queues, the
# bucket notifications, and the web pages. Idempotent, like the command.
set -euo pipefail
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://localhost:4566}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export S3_FORCE_PATH_STYLE="${S3_FORCE_PATH_STYLE:-true}"
export WEB_STATIC_DIR="${WEB_STATIC_DIR:-/opt/avatars/web-static}"
echo "[avatars] bootstrap against $AWS_ENDPOINT_URL"
/usr/local/bin/avatar-local bootstrap
echo "[avatars] bootstrap done"
