#!/usr/bin/env bash
# libjpeg-turbo's x86 SIMD code (mozjpeg-sys, feature nasm_simd) is
# assembled with nasm at build time; it halves JPEG decode and encode time at
# thumbnail scales (BENCHMARKS.md). aarch64 builds use C intrinsics instead.
set -euo pipefail
command -v nasm >/dev/null 2>&1 && exit 0
case "$(uname -m)" in x86_64 | amd64 | i?86) ;; *) exit 0 ;; esac
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[deps] installing nasm (Debian) for libjpeg-turbo's SIMD" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nasm >/dev/null
else
  echo "nasm is required to build libjpeg-turbo's SIMD code: apt-get install nasm (or brew install nasm)" >&2
  exit 1
fi
