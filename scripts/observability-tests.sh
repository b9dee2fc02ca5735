#!/usr/bin/env bash
# Observability, checked for real (make test runs this):
#   * promtool check rules / test rules on observability/prometheus/;
#   * a real Prometheus (Debian's package) scraping `avatar-local serve` —
#     the binary `make run` runs — during an end-to-end run, then every
#     PromQL expression of the Grafana dashboard and of alerts.yml run
#     through Prometheus' query API: each must return a series
#     (observability/tests/check_queries.py).
# `make test` calls this with its emulator and PostgreSQL up; run alone, it
# starts them.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
prometheus_pid=""
cleanup() {
  [ -n "$prometheus_pid" ] && kill "$prometheus_pid" 2>/dev/null && wait "$prometheus_pid" 2>/dev/null
  stack_down
}
trap cleanup EXIT
[ -n "${AWS_ENDPOINT_URL:-}" ] || stack_up "$(free_port)"
need prometheus

rules="$ROOT/observability/prometheus"
promtool check rules "$rules/alerts.yml"
(cd "$rules" && promtool test rules alerts.test.yml)
promtool check config "$rules/prometheus.yml" >/dev/null
log "promtool: alerts.yml checked and its unit tests pass"

artifacts="${CARGO_TARGET_DIR:-$ROOT/target}/observability-tests"
rm -rf "$artifacts" && mkdir -p "$artifacts"
metrics_port="$(free_port)"
# Two deliveries, 1 s apart, so the test's poison message reaches the
# dead-letter queue within seconds.
serve_isolated "$artifacts/server.log" METRICS_ADDR="127.0.0.1:$metrics_port" \
  MAX_RECEIVE_COUNT=2 VISIBILITY_TIMEOUT_SECONDS=1
prometheus_port="$(free_port)"
cat >"$artifacts/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $rules/alerts.yml
scrape_configs:
  - job_name: avatars
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
YAML
prometheus --config.file="$artifacts/prometheus.yml" --storage.tsdb.path="$artifacts/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" >"$artifacts/prometheus.log" 2>&1 &
prometheus_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$prometheus_port/-/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
log "prometheus on 127.0.0.1:$prometheus_port scraping 127.0.0.1:$metrics_port (logs: $artifacts/)"
SERVICE_URL="$SERVICE_URL" UPLOAD_QUEUE="$SERVICE_UPLOAD_QUEUE" PROMETHEUS_URL="http://127.0.0.1:$prometheus_port" \
  METRICS_URL="http://127.0.0.1:$metrics_port/metrics" CORPUS_DIR="${CORPUS_DIR:-$ROOT/fixtures/images}" \
  DASHBOARDS="$ROOT/observability/grafana/dashboards" ALERTS="$rules/alerts.yml" \
  "$VENV/bin/python" "$ROOT/observability/tests/check_queries.py"
