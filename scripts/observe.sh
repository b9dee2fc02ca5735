#!/usr/bin/env bash
# `make observe`: `make run` (the API on http://127.0.0.1:9000, metrics on
# METRICS_ADDR, default 127.0.0.1:9464) plus a real Prometheus (Debian's
# package) on http://127.0.0.1:9090 (PROMETHEUS_PORT) scraping it with the
# alert rules of observability/prometheus/ loaded, its data under
# .local/prometheus. Ctrl-C stops everything.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/deps.sh"
need observe
metrics="${METRICS_ADDR:-127.0.0.1:9464}"
port="${PROMETHEUS_PORT:-9090}"
dir="$ROOT/.local/prometheus"
mkdir -p "$dir"
# The checked-in configuration, pointed at this run's METRICS_ADDR.
sed -e "s#127.0.0.1:9464#$metrics#" -e "s#- alerts.yml#- $ROOT/observability/prometheus/alerts.yml#" \
  "$ROOT/observability/prometheus/prometheus.yml" >"$dir/prometheus.yml"
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 &
prometheus_pid=$!
trap 'kill "$prometheus_pid" 2>/dev/null; wait "$prometheus_pid" 2>/dev/null' EXIT
echo "[observe] Prometheus on http://127.0.0.1:$port (graphs: /graph, alerts: /alerts; log: $dir/prometheus.log)" >&2
METRICS_ADDR="$metrics" bash "$ROOT/scripts/run.sh"
