#!/usr/bin/env bash
# libjpeg-turbo's x86 SIMD code (mozjpeg-sys, feature nasm_simd) is
# assembled with nasm at build time; it halves JPEG decode and encode time at
# thumbnail scales (BENCHMARKS.md). aarch64 builds use C intrinsics instead.
set -euo pipefail
case "$(uname -m)" in x86_64 | amd64 | i?86) ;; *) exit 0 ;; esac
exec bash "$(dirname "$0")/ensure-apt.sh" nasm nasm "for libjpeg-turbo's SIMD"
