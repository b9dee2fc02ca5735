# shellcheck shell=bash
# deps.sh: the one place the project installs what its commands need —
# Debian packages, Python venvs, npm packages, cargo tools — and the one
# lock they all take. Two suites of `make test` start at once; without the
# lock the second `apt-get` found the first one's lock and failed (issue
# 21), and two `python3 -m venv` or `npm ci` in one directory trample each
# other. Every install here runs holding .local/deps.lock (flock); checks
# that find a thing present take no lock and cost nothing.
#
#   bash scripts/deps.sh NAME...     or, sourced:  need NAME...
#
# NAME is one thing (below) or a group: `test` (all `make test` needs,
# installed before its suites start in parallel), `run`, `observe`,
# `loadtest`, `bench`, `fuzz`, `lint`, `coverage`. When a thing cannot be had (not
# root, no network), it prints one line — what is missing and how to get
# it — and fails, before anything is built. scripts/check-deps.sh keeps
# every other script from installing on its own.

DEPS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS_LOCAL="$DEPS_ROOT/.local"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
# Pinned cargo tools: crate version.
MACHETE_VERSION=0.9.1
CARGO_FUZZ_VERSION=0.13.2
CARGO_LLVM_COV_VERSION=0.9.1

deps_log() { printf '[deps] %s\n' "$*" >&2; }
# deps_missing WHAT HOW: the one line, then failure.
deps_missing() { printf '[deps] missing %s: %s\n' "$1" "$2" >&2; return 1; }

# deps_apt PACKAGE CHECK WHY: Debian's PACKAGE unless CHECK (a command on
# PATH, or an absolute path that exists) is there; as root through apt-get, else one line.
DEPS_APT_UPDATED=""
deps_apt() {
  local package="$1" check="$2" why="$3"
  case "$check" in
    /*) [ -e "$check" ] && return 0 ;;
    *) command -v "$check" >/dev/null 2>&1 && return 0 ;;
  esac
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    deps_missing "$check ($why)" "apt-get install $package (as root)"
    return 1
  fi
  deps_log "installing $package (Debian) $why"
  if [ -z "$DEPS_APT_UPDATED" ]; then
    apt-get update -qq || { deps_missing "$package" "apt-get update failed (no network?)"; return 1; }
    DEPS_APT_UPDATED=1
  fi
  # The lock above serialises this checkout's installers; DPkg::Lock::Timeout
  # waits for anyone else's apt (another checkout, unattended upgrades).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$package" >/dev/null ||
    { deps_missing "$package" "apt-get install $package failed"; return 1; }
}

# deps_venv DIR PYTHON SPEC PIP-ARGS...: a venv at DIR made with PYTHON,
# PIP-ARGS installed, unless DIR/.requirements already holds SPEC.
deps_venv() {
  local dir="$1" python="$2" spec="$3"
  shift 3
  [ -f "$dir/.requirements" ] && [ "$(cat "$dir/.requirements")" = "$spec" ] && return 0
  deps_log "installing $(grep -v '^#' <<<"$spec" | tr '\n' ' ')into ${dir#"$DEPS_ROOT"/}"
  rm -rf "$dir"
  "$python" -m venv "$dir" &&
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" ||
    { deps_missing "${dir##*/}" "pip install $* failed (PyPI unreachable?)"; return 1; }
  printf '%s' "$spec" >"$dir/.requirements"
}

# deps_npm DIR: `npm ci` in DIR unless node_modules matches its lock file.
deps_npm() {
  local dir="$DEPS_ROOT/$1" stamp="$DEPS_ROOT/$1/node_modules/.package-lock.stamp"
  cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null && return 0
  command -v npm >/dev/null || { deps_missing npm "apt-get install npm, or Node.js 20 with npm"; return 1; }
  deps_log "installing $1's npm packages (npm ci)"
  # SCARF_ANALYTICS=false: swagger-ui-dist's dependency would report the install.
  (cd "$dir" && SCARF_ANALYTICS=false npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    { deps_missing "$1/node_modules" "npm ci failed (npm registry unreachable?)"; return 1; }
  cp "$dir/package-lock.json" "$stamp"
}

# deps_cargo_tool CRATE VERSION: CRATE at VERSION (`cargo install --locked`)
# in .local/cargo-tools/bin, kept out of ~/.cargo so every run uses the
# pinned one.
deps_cargo_tool() {
  local crate="$1" version="$2" root="$DEPS_LOCAL/cargo-tools"
  [ -x "$root/bin/$crate" ] && [ -f "$root/.$crate-$version" ] && return 0
  deps_log "installing $crate $version (crate registry) into ${root#"$DEPS_ROOT"/}"
  cargo install --quiet --locked --root "$root" "$crate" --version "$version" >&2 ||
    { deps_missing "$crate $version" "cargo install $crate failed (crate registry unreachable?)"; return 1; }
  touch "$root/.$crate-$version"
}

# python313: LocalStack's runtime needs Python 3.13 — python3.13 on PATH,
# or pyenv's (its shim answers only where 3.13 is selected, so each
# candidate must run). Prints its path, or nothing.
python313() {
  local candidate
  for candidate in "$(command -v python3.13 2>/dev/null)" \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV); do
    [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null &&
      { echo "$candidate"; return 0; }
  done
}

# llvm_major: the major version of the LLVM rustc is built on.
llvm_major() { rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p'; }

# deps_one NAME: installs one thing (the caller holds the lock).
deps_one() {
  case "$1" in
    nasm)
      # libjpeg-turbo's x86 SIMD (mozjpeg-sys, feature nasm_simd) is
      # assembled at build time; aarch64 uses C intrinsics.
      case "$(uname -m)" in x86_64 | amd64 | i?86) deps_apt nasm nasm "for libjpeg-turbo's SIMD" ;; esac ;;
    libheif)
      # HEIC and AVIF uploads (the pipeline's `heif` feature): libheif's
      # headers and pkg-config file to build, its shared library to run.
      deps_apt pkg-config pkg-config "to find libheif" &&
        deps_apt libheif-dev /usr/share/doc/libheif-dev/copyright "to decode HEIC and AVIF uploads" ;;
    heif-tools) deps_apt libheif-examples heif-enc "to make the HEIC test files" &&
      deps_apt libavif-bin avifenc "to make the AVIF test files" ;;
    chromium) deps_apt chromium "${CHROMIUM:-/usr/bin/chromium}" "for the browser tests" ;;
    prometheus) deps_apt prometheus promtool "for the alert rules and make observe" &&
      deps_apt prometheus prometheus "for make observe" ;;
    wrk) deps_apt wrk wrk "for the load and telemetry benchmarks" ;;
    nginx) deps_apt nginx nginx "for make loadtest (the reference server)" ;;
    jpegtran) deps_apt libjpeg-turbo-progs jpegtran "to make progressive JPEGs for the benchmark" ;;
    colord-data) deps_apt colord-data /usr/share/color/icc/colord/AdobeRGB1998.icc \
      "(ICC profiles) for the colour-fidelity benchmark" ;;
    postgresql)
      # A server answering at DATABASE_URL needs no binaries; the private
      # cluster and the fault suite do.
      ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || deps_apt postgresql /usr/lib/postgresql "for a private PostgreSQL cluster" ;;
    moto) deps_venv "$DEPS_LOCAL/venv" python3 "moto[server]==$MOTO_VERSION" "moto[server]==$MOTO_VERSION" ;;
    tools) deps_venv "$DEPS_LOCAL/tools-venv" python3 "$(cat "$DEPS_ROOT/scripts/tools-requirements.txt")" \
      -r "$DEPS_ROOT/scripts/tools-requirements.txt" ;;
    localstack)
      local python
      python="$(python313)"
      [ -n "$python" ] || { deps_missing "Python 3.13 (for LocalStack)" "apt-get install python3.13, or pyenv install 3.13"; return 1; }
      deps_venv "$DEPS_LOCAL/localstack-venv" "$python" "$(cat "$DEPS_ROOT/localstack/requirements.txt")" \
        -r "$DEPS_ROOT/localstack/requirements.txt" ;;
    bench-venv) deps_venv "$DEPS_LOCAL/bench-venv" python3 "$(cat "$DEPS_ROOT/bench/requirements.txt")" \
      -r "$DEPS_ROOT/bench/requirements.txt" ;;
    loadtest-venv) deps_venv "$DEPS_LOCAL/loadtest-venv" python3 "$(cat "$DEPS_ROOT/bench/loadtest-requirements.txt")" \
      -r "$DEPS_ROOT/bench/loadtest-requirements.txt" ;;
    web-tests | deploy-tests) deps_npm "$1" ;;
    cargo-machete) deps_cargo_tool cargo-machete "$MACHETE_VERSION" ;;
    cargo-fuzz) deps_cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION" ;;
    cargo-llvm-cov) deps_cargo_tool cargo-llvm-cov "$CARGO_LLVM_COV_VERSION" ;;
    llvm-tools)
      # make coverage: llvm-profdata and llvm-cov of the LLVM rustc is built
      # on (profiles are read only by the same major version). rustup's
      # llvm-tools component is a toolchain download; Debian ships the same
      # major as its llvm-N package.
      local major
      major="$(llvm_major)"
      deps_apt "llvm-$major" "/usr/bin/llvm-profdata-$major" "for make coverage (rustc's LLVM $major)" ;;
    nightly)
      # AddressSanitizer and libFuzzer need a nightly rustc; a toolchain
      # cannot be installed from the crate registry.
      cargo +nightly --version >/dev/null 2>&1 ||
        deps_missing "a nightly Rust toolchain (for ASan and cargo fuzz)" "rustup toolchain install nightly" ;;
    *) deps_missing "$1" "deps.sh knows no such thing"; return 1 ;;
  esac
}

# deps_expand NAME...: groups into things, in install order.
deps_expand() {
  local name
  for name in "$@"; do
    case "$name" in
      run) if [ "${STACK:-moto}" = localstack ]; then echo nasm libheif postgresql localstack; else echo nasm libheif postgresql moto; fi ;;
      test) echo nasm libheif postgresql moto localstack tools chromium prometheus web-tests deploy-tests nightly cargo-fuzz ;;
      observe) echo nasm libheif postgresql moto prometheus ;;
      loadtest) echo nasm libheif postgresql moto wrk nginx loadtest-venv ;;
      bench) echo nasm libheif bench-venv jpegtran colord-data heif-tools ;;
      bench-telemetry) echo nasm libheif postgresql moto wrk ;;
      fuzz) echo nasm libheif nightly cargo-fuzz ;;
      lint) echo nasm libheif cargo-machete ;;
      coverage) echo nasm libheif postgresql moto llvm-tools cargo-llvm-cov ;;
      *) echo "$name" ;;
    esac
  done
}

# need NAME...: everything NAME stands for, installed under the one lock.
need() {
  local things
  read -ra things <<<"$(deps_expand "$@" | tr '\n' ' ')"
  mkdir -p "$DEPS_LOCAL"
  if [ -n "${DEPS_LOCK_HELD:-}" ]; then
    local thing
    for thing in "${things[@]}"; do deps_one "$thing" || return 1; done
    return 0
  fi
  (
    flock 9
    export DEPS_LOCK_HELD=1
    for thing in "${things[@]}"; do deps_one "$thing" || exit 1; done
  ) 9>"$DEPS_LOCAL/deps.lock"
}

# Cargo tools installed here are on PATH for whoever sources this.
case ":$PATH:" in *":$DEPS_LOCAL/cargo-tools/bin:"*) ;; *) PATH="$DEPS_LOCAL/cargo-tools/bin:$PATH" ;; esac

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  need "$@"
fi
