#!/usr/bin/env bash
# Install Graphviz's `dot` program (the Python package `graphviz` only writes DOT
# source; `dot` lays it out). Does nothing if `dot` is already on PATH.
set -euo pipefail
if command -v dot >/dev/null 2>&1; then
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if command -v apt-get >/dev/null 2>&1; then        # Debian, Ubuntu
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq graphviz
elif command -v dnf >/dev/null 2>&1; then          # Fedora, RHEL
  as_root dnf install -y graphviz
elif command -v brew >/dev/null 2>&1; then         # macOS
  brew install graphviz
elif command -v conda >/dev/null 2>&1; then        # any platform with conda
  conda install -y -c conda-forge graphviz
else
  echo "Please install Graphviz (https://graphviz.org/download/): on Windows 'choco install graphviz'." >&2
  exit 1
fi
command -v dot >/dev/null 2>&1
