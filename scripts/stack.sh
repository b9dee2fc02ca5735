# shellcheck shell=bash
# Local dependencies for `make run` and `make test`, without Docker:
#   * the S3 + SQS emulator, chosen by STACK: `moto` (default) from PyPI,
#     pinned, in the project venv .local/venv; or `localstack`, LocalStack's
#     runtime from PyPI in host mode (localstack/requirements.txt, Python
#     3.13, in .local/localstack-venv);
#   * PostgreSQL at DATABASE_URL when one answers there, otherwise a private
#     cluster under .local/pg started with the machine's PostgreSQL binaries.
# Source this file, then call stack_up; stack_down stops what stack_up started.

STACK="${STACK:-moto}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Every install (moto, LocalStack, the tools venv, PostgreSQL) goes
# through deps.sh's `need`, under its one lock.
source "$ROOT/scripts/deps.sh"
LOCAL_DIR="$ROOT/.local"
VENV="$LOCAL_DIR/venv"
STARTED_PIDS=()
STARTED_DIRS=()
STARTED_PG_DIR=""

log() { printf '[stack] %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_moto PORT: S3 + SQS emulator on 127.0.0.1:PORT, waits until ready.
start_moto() {
  local port="$1" logfile="$LOCAL_DIR/moto-$1.log"
  need moto
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
  STARTED_PIDS+=("$!")
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then
      log "moto $MOTO_VERSION ready on 127.0.0.1:$port (log: $logfile)"
      return 0
    fi
    sleep 0.1
  done
  log "moto did not start; see $logfile"; tail -20 "$logfile" >&2
  return 1
}

LOCALSTACK_VENV="$LOCAL_DIR/localstack-venv"
# The pinned Python tools (schemathesis, cfn-lint, cargo-lambda): `need tools`.
TOOLS_VENV="$LOCAL_DIR/tools-venv"

# start_localstack PORT [HOOK]: LocalStack's runtime (S3 and SQS only) on
# 127.0.0.1:PORT in host mode, its files under .local/localstack-PORT.
# With HOOK=hook, its init hooks are the repository's localstack/init (the
# compose file mounts the same directory), so the READY stage runs
# `avatar-local bootstrap` (AVATAR_LOCAL, the binary); waits until that
# finished and fails when it did.
start_localstack() {
  local port="$1" hook="${2:-}" root="$LOCAL_DIR/localstack-$1" logfile="$LOCAL_DIR/localstack-$1.log"
  need localstack
  rm -rf "$root"
  mkdir -p "$root/etc/localstack"
  STARTED_DIRS+=("$root")
  [ "$hook" = hook ] && ln -s "$ROOT/localstack/init" "$root/etc/localstack/init"
  # OVERRIDE_IN_DOCKER=0: this may itself be a container, but LocalStack
  # must keep its files under FILESYSTEM_ROOT, not /var/lib/localstack.
  # DNS_ADDRESS=0: no DNS server; DISABLE_EVENTS=1: no analytics calls;
  # S3_SKIP_SIGNATURE_VALIDATION=0: presigned URLs are checked, as AWS
  # does (LocalStack's default accepts any signature, as moto does).
  env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$root" \
    GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" \
    SERVICES=s3,sqs EAGER_SERVICE_LOADING=1 DNS_ADDRESS=0 DISABLE_EVENTS=1 \
    SQS_ENDPOINT_STRATEGY=path SKIP_SSL_CERT_DOWNLOAD=1 \
    S3_SKIP_SIGNATURE_VALIDATION=0 \
    "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main >"$logfile" 2>&1 &
  STARTED_PIDS+=("$!")
  for _ in $(seq 1 600); do
    if curl -fsS "http://127.0.0.1:$port/_localstack/init/READY" 2>/dev/null | grep -q '"completed": *true'; then
      if curl -fsS "http://127.0.0.1:$port/_localstack/init" | grep -q '"state": *"ERROR"'; then
        log "LocalStack's init hook failed; see $logfile"; tail -20 "$logfile" >&2
        return 1
      fi
      log "LocalStack $("$LOCALSTACK_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("localstack-core"))') ready on 127.0.0.1:$port (log: $logfile)"
      return 0
    fi
    sleep 0.1
  done
  log "LocalStack did not start; see $logfile"; tail -20 "$logfile" >&2
  return 1
}

# pg_bin: the newest PostgreSQL server binaries' directory, or nothing.
pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# ensure_postgres: keeps DATABASE_URL when its server answers; otherwise
# starts a private cluster on a free port and points DATABASE_URL at it.
ensure_postgres() {
  local url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/avatars}"
  local hostport host port
  hostport=$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432)' "$url")
  read -r host port <<<"$hostport"
  if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
    export DATABASE_URL="$url"
    log "using PostgreSQL at $host:$port"
    return 0
  fi
  local bin dir="$LOCAL_DIR/pg" sock="$LOCAL_DIR/pg-sock" pgport
  need postgresql
  bin=$(pg_bin)
  [ -n "$bin" ] || { log "no PostgreSQL server answers at $host:$port and none can be started"; return 1; }
  pgport=$(free_port)
  mkdir -p "$sock"
  local as=()
  if [ "$(id -u)" = 0 ]; then
    as=(runuser -u postgres --)
    chown postgres "$LOCAL_DIR" "$sock" 2>/dev/null || true
    mkdir -p "$dir" && chown postgres "$dir"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    "${as[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust --no-sync >/dev/null
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$dir" -w -l "$LOCAL_DIR/pg.log" \
    -o "-p $pgport -k $sock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  STARTED_PG_DIR="$dir"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/avatars"
  log "started a private PostgreSQL cluster on 127.0.0.1:$pgport ($dir)"
}

# stack_up PORT [HOOK]: the emulator STACK names on 127.0.0.1:PORT and
# PostgreSQL; exports everything the service and tests read. HOOK=hook
# (`make run` under LocalStack) bootstraps through LocalStack's init hook.
stack_up() {
  local port="$1"
  ensure_postgres
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  # LocalStack checks presigned URLs (S3_SKIP_SIGNATURE_VALIDATION=0 below)
  # with the secret of its own default credentials, test/test, only.
  local key=testing
  [ "$STACK" = localstack ] && key=test
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-$key}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-$key}"
  export S3_FORCE_PATH_STYLE="${S3_FORCE_PATH_STYLE:-true}"
  case "$STACK" in
    moto) start_moto "$port" ;;
    localstack) start_localstack "$port" "${2:-}" ;;
    *) log "STACK=$STACK: moto or localstack"; return 1 ;;
  esac
}

# use_isolated_names KIND [SUFFIX]: exports DATABASE_URL, AVATAR_BUCKET,
# WEB_BUCKET, UPLOAD_QUEUE and DELETE_QUEUE with names of their own
# (database avatars_test_KIND_*, which test.sh drops), so runs never share
# state. ISOLATED_DB is the database's name.
use_isolated_names() {
  local kind="$1" suffix="${2:-$(date +%s)$$$RANDOM}"
  ISOLATED_DB="avatars_test_${kind}_$suffix"
  export DATABASE_URL="${DATABASE_URL%/*}/$ISOLATED_DB"
  export AVATAR_BUCKET="test-$kind-$suffix" WEB_BUCKET="web-$kind-$suffix"
  export UPLOAD_QUEUE="uploads-$kind-$suffix" DELETE_QUEUE="deletes-$kind-$suffix"
}

# serve_isolated LOGFILE [VAR=VALUE...]: `avatar-local serve` (the debug
# build; the binary `make run` runs in release) on a free port with its own
# database, buckets and queues (use_isolated_names), against the emulator and
# PostgreSQL of stack_up. Sets SERVICE_URL, SERVICE_PID and
# SERVICE_UPLOAD_QUEUE (its upload queue's name) once /health answers.
serve_isolated() {
  local logfile="$1" port bin
  shift
  bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/avatar-local"
  [ -x "$bin" ] || cargo build --locked -p avatar-local
  port="$(free_port)"
  local suffix
  suffix="$(date +%s)$$$RANDOM"
  SERVICE_UPLOAD_QUEUE="uploads-svc-$suffix"
  (
    use_isolated_names svc "$suffix"
    export GATEWAY_ADDR="127.0.0.1:$port" METRICS_ADDR="127.0.0.1:$(free_port)" RUST_LOG="${RUST_LOG:-info}" "$@"
    exec "$bin" serve
  ) >"$logfile" 2>&1 &
  SERVICE_PID=$!
  STARTED_PIDS+=("$SERVICE_PID")
  SERVICE_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    curl -fsS "$SERVICE_URL/health" >/dev/null 2>&1 && return 0
    kill -0 "$SERVICE_PID" 2>/dev/null || break
    sleep 0.2
  done
  log "avatar-local did not become healthy; see $logfile"; tail -20 "$logfile" >&2
  return 1
}

stack_down() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  STARTED_PIDS=()
  # LocalStack's files (its log stays beside them).
  [ "${#STARTED_DIRS[@]}" -gt 0 ] && rm -rf "${STARTED_DIRS[@]}"
  STARTED_DIRS=()
  if [ -n "$STARTED_PG_DIR" ]; then
    local as=()
    [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$(pg_bin)/pg_ctl" -D "$STARTED_PG_DIR" -m fast stop >/dev/null 2>&1 || true
    STARTED_PG_DIR=""
  fi
}
