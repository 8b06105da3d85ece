#!/usr/bin/env bash
# Builds prunner and runs the seed's sum example: scripts/example.sh [N [WORKERS]]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
meson compile -C build >/dev/null
exec build/examples/sum "$@"
