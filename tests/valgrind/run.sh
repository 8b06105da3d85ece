#!/usr/bin/env bash
# run.sh BUILD_DIR [memcheck|helgrind|all] - the valgrind checks, as CI runs
# them, through the test setups of tests/meson.build:
#
#   memcheck  every test of the unit and runner suites under memcheck
#             (--leak-check=full; any error or definite, indirect or
#             possible leak fails the test);
#   helgrind  the tests where Helgrind means something (helgrind.supp says
#             why only these): test_locks (suite runner), and test_dict's
#             multi-threaded cases "foreach" and "volume" (its "basic"
#             case is single-threaded).
#
# Logs: BUILD_DIR/meson-logs/testlog-memcheck.json, testlog-helgrind.json,
# testlog-dict-foreach-helgrind.json, testlog-dict-volume-helgrind.json
# (check's CK_RUN_CASE names one case, so dict runs once per case).
# Tests run $VALGRIND_JOBS at a time (default: one per CPU; valgrind runs
# each program's threads one at a time).  Exits 0 when everything passed.
set -uo pipefail

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 BUILD_DIR [memcheck|helgrind|all]" >&2; exit 2; }
build=$1
what=${2:-all}
case $what in memcheck | helgrind | all) ;; *) echo "$0: unknown check '$what'" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "$0: valgrind is not installed" >&2; exit 2; }
jobs=${VALGRIND_JOBS:-$(nproc)}
status=0

run() {
	local t0=$SECONDS
	echo "--- meson test $*"
	meson test -C "$build" --print-errorlogs --num-processes "$jobs" "$@" || status=1
	echo "--- $((SECONDS - t0)) s"
}

if [[ $what != helgrind ]]; then
	run --setup memcheck --suite unit --suite runner
fi
if [[ $what != memcheck ]]; then
	run --setup helgrind locks
	for c in foreach volume; do
		CK_RUN_CASE=$c run --setup helgrind --logbase "testlog-dict-$c" dict
	done
fi
exit $status
