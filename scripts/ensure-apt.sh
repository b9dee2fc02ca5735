#!/usr/bin/env bash
# ensure-apt.sh COMMAND PACKAGE WHY: installs Debian's PACKAGE when COMMAND
# (a name on PATH or an absolute path) is missing, as root; otherwise says
# how to get it and fails.
set -euo pipefail
command="$1" package="$2" why="$3"
command -v "$command" >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[deps] installing $package (Debian) $why" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
else
  echo "$command is required $why: apt-get install $package" >&2
  exit 1
fi
