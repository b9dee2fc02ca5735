#!/usr/bin/env bash
# The image pipeline's unit tests under AddressSanitizer (nightly rustc,
# -Zsanitizer=address): every test image ingested as an upload is (the
# EXIF-rotated ones through libjpeg's lossless transform), rendered,
# truncated and mutated. The C codecs are instrumented too: the cc crate
# passes the sanitizer to the C compiler (`-fsanitize=address`) from
# CARGO_ENCODED_RUSTFLAGS. An out-of-bounds read or write in Rust or in
# libjpeg/libwebp fails the run; this is what caught issue 26's stack
# buffer overflow in transupp.c. Its own target directory (target/asan),
# so it never rebuilds the normal one. `make test` runs it as a suite;
# `make asan` alone.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/deps.sh"
need nasm nightly
host="$(rustc -vV | sed -n 's/^host: //p')"
# --target: the sanitizer instruments the tested code, not build scripts
# and proc macros (which run on the host and need no ASan runtime).
# detect_odr_violation=0: libjpeg declares function-local statics of one
# name in two functions of a file (jcdctmgr.c's `aanscales`), which ASan's
# one-definition check reports for gcc-compiled C; they are not globals.
# detect_leaks=0: libjpeg's memory pools outlive the error unwinds that the
# tests provoke on purpose only until each Session's Drop; LeakSanitizer's
# report at exit is not what this suite checks.
cd "$ROOT"
RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=0:detect_odr_violation=0" \
  cargo +nightly test --locked -p avatar-pipeline --lib --target "$host" \
  --target-dir "${CARGO_TARGET_DIR:-$ROOT/target}/asan" -- --test-threads 2
