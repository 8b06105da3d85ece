#!/usr/bin/env bash
# Builds prunner and runs every test (unit, runner, examples, slow, spin):
# scripts/test.sh [extra meson test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh spin
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null
meson test -C build --setup full --print-errorlogs "$@"
