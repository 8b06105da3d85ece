#!/usr/bin/env bash
# Checks one configuration of model/prunner.pml with SPIN.
#
#   model/check.sh VARIANT WORKERS [expect-fail]
#
# VARIANT is one of the names in the table below (model/README.md says what
# each checks).  Without expect-fail the check passes when pan explores the
# whole state space (no truncation by depth or memory) and reports
# "errors: 0".  With expect-fail it passes when pan finds an error of the
# kind the variant is meant to produce and `spin -t` replays the trail.
#
# Exit status: 0 pass, 1 fail, 77 skip (spin or a C compiler is missing).
# Everything is built in a temporary directory; nothing is written next to
# the model.  Environment overrides: NT (tasks in the tree), SPIN_DEFS (more
# -D flags), PAN_CC (default cc), MEMLIM (MiB, default 4096), PAN_DEPTH
# (default 100000), PAN_W (hash table size, log2, for big runs),
# KEEP=1 (keep the work directory and print its path).
set -u

usage() {
	echo "usage: $0 VARIANT WORKERS [expect-fail]" >&2
	exit 2
}
[ $# -ge 2 ] || usage
variant=$1
nw=$2
expect=${3:-pass}
case $expect in pass | expect-fail) ;; *) usage ;; esac
case $nw in 2 | 3) ;; *) echo "WORKERS must be 2 or 3" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
model=$here/prunner.pml
SPIN=${SPIN:-spin}
CC=${PAN_CC:-cc}
command -v "$SPIN" >/dev/null 2>&1 || { echo "SKIP: $SPIN not found"; exit 77; }
command -v "$CC" >/dev/null 2>&1 || { echo "SKIP: $CC not found"; exit 77; }

# The tree: 7 tasks (root, 2 children, 4 leaves) for 2 workers; 2 tasks
# (root and one child) for 3 workers, whose state space is larger.
# Variants may choose otherwise; NT=... overrides.
if [ "$nw" = 2 ]; then nt=7; else nt=2; fi
mode=safety  # or liveness (pan -a -f with the LTL formula run_ends)
wbits=''     # pan -w: log2 of the hash table size (default 24; 26 for big runs)
kind=''      # expect-fail: the error pan must report (a regular expression)
defs=''
case $variant in
# --- the model as the C code is -----------------------------------------
base) [ "$nw" = 3 ] && { defs='-DSPINS=0'; wbits=26; } ;;
steal2) defs='-DSTEAL2=1'; [ "$nw" = 3 ] && defs="$defs -DSPINS=0" ;;
outside) defs='-DOUTSIDE=1'; nt=1 ;;
outside-main) defs='-DOUTSIDE=2' ;;
counter) defs='-DCOUNTER=1 -DOUTSIDE=2' ;;
exec-drain) defs='-DEXEC=1 -DOUTSIDE=1'; nt=1; wbits=26 ;;
exec-cancel) defs='-DEXEC=2 -DWAITIDLE=0'; nt=3 ;;
exec-counter) defs='-DEXEC=1 -DCOUNTER=1 -DOUTSIDE=1'; nt=1 ;;
group) [ "$nw" = 3 ] && { defs='-DSPINS=0'; wbits=26; }; defs="$defs -DGROUP=1" ;;
live) defs='-DLIVENESS=1 -DOUTSIDE=2'; nt=3; mode=liveness ;;
live-group) defs='-DLIVENESS=1 -DGROUP=1'; nt=3; mode=liveness ;;
# --- broken on purpose: SPIN must find a counterexample ------------------
broken-one-sweep) defs='-DBROKEN_ONE_SWEEP'; nt=3; kind='assertion violated' ;;
broken-posted-first) defs='-DBROKEN_POSTED_FIRST'; nt=3; kind='assertion violated' ;;
broken-no-recheck) defs='-DBROKEN_NO_RECHECK'; nt=3; kind='assertion violated|invalid end state' ;;
broken-no-confirm) defs='-DBROKEN_NO_CONFIRM -DOUTSIDE=2'; nt=3; kind='assertion violated' ;;
broken-push-first) defs='-DBROKEN_PUSH_FIRST'; nt=3; kind='assertion violated' ;;
broken-idle-late) defs='-DBROKEN_IDLE_LATE'; nt=3; kind='invalid end state' ;;
broken-idle-late-live) defs='-DBROKEN_IDLE_LATE -DLIVENESS=1'; nt=3; mode=liveness; kind='acceptance cycle' ;;
broken-ticket-late) defs='-DBROKEN_TICKET_LATE -DEXEC=1 -DOUTSIDE=1'; nt=1; kind='assertion violated' ;;
broken-group-unit) defs='-DBROKEN_GROUP_UNIT -DGROUP=1'; nt=3; kind='invalid end state' ;;
weak-wake) defs='-DWEAK_WAKE -DGROUP=1'; nt=3; kind='assertion violated|invalid end state' ;;
*) echo "unknown variant: $variant" >&2; exit 2 ;;
esac
nt=${NT:-$nt}
defs="-DNW=$nw -DNT=$nt $defs ${SPIN_DEFS:-}"
memlim=${MEMLIM:-4096}
depth=${PAN_DEPTH:-100000}
wbits=${PAN_W:-$wbits}

work=$(mktemp -d "${TMPDIR:-/tmp}/prunner-spin.XXXXXX") || exit 1
if [ "${KEEP:-0}" = 1 ]; then
	echo "work directory: $work"
else
	trap 'rm -rf "$work"' EXIT
fi
cp "$model" "$work/prunner.pml"
cd "$work" || exit 1

echo "== $variant, $nw workers, $nt tasks ($mode${kind:+, expect: $kind}): spin $defs"
start=$(date +%s.%N)
# shellcheck disable=SC2086
if ! "$SPIN" $defs -a prunner.pml >spin.out 2>&1; then
	cat spin.out
	echo "FAIL: spin -a failed"
	exit 1
fi
ccflags="-O2 -w -DCOLLAPSE -DMEMLIM=$memlim -DVECTORSZ=2048"
panflags="-m$depth${wbits:+ -w$wbits}"
if [ "$mode" = safety ]; then
	ccflags="$ccflags -DSAFETY"
	# A counterexample is looked for breadth-first: the shortest one,
	# found after far fewer states than depth-first with 3 workers.
	[ "$expect" = expect-fail ] && ccflags="$ccflags -DBFS"
else
	ccflags="$ccflags -DNFAIR=3"
	panflags="$panflags -a -f -N run_ends"
fi
# shellcheck disable=SC2086
if ! "$CC" $ccflags -o pan pan.c >cc.out 2>&1; then
	cat cc.out
	echo "FAIL: cannot compile pan.c"
	exit 1
fi
built=$(date +%s.%N)
TIMEFORMAT='%U'
# shellcheck disable=SC2086
{ time ./pan $panflags >pan.out 2>&1; } 2>pan.time
end=$(date +%s.%N)
buildsecs=$(awk -v a="$start" -v b="$built" 'BEGIN { printf "%.1f", b - a }')
pansecs=$(awk -v a="$built" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
pancpu=$(tail -1 pan.time)

# The figures pan printed.
errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | tail -1)
stored=$(awk '/states, stored/ { print $1; exit }' pan.out)
trans=$(awk '/transitions \(= / { print $1; exit }' pan.out)
memory=$(awk '/total actual memory usage/ { print $1; exit }' pan.out)
vector=$(sed -n 's/.*State-vector \([0-9]*\) byte.*/\1/p' pan.out | head -1)
depthr=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out | head -1)
echo "pan: errors ${errors:-?}, ${stored:-?} states stored, ${trans:-?} transitions," \
	"state vector ${vector:-?} bytes, depth ${depthr:-?}, ${memory:-?} MB;" \
	"pan ${pansecs} s (${pancpu} s CPU), spin + cc ${buildsecs} s"

fail() {
	echo "---- pan output ----"
	cat pan.out
	echo "FAIL: $variant ($nw workers): $*"
	exit 1
}

# A search cut short proves nothing.  (pan also says "Search not completed"
# when it stops at the first error: that is checked for passing runs only.)
if grep -Eq 'max search depth too small|out of memory|reached -DMEMLIM bound' pan.out; then
	fail "the search was truncated (depth or memory)"
fi
[ -n "$errors" ] || fail "no result from pan"

if [ "$expect" = pass ]; then
	[ "$errors" = 0 ] || fail "pan found $errors error(s)"
	if grep -q 'Search not completed' pan.out || ! grep -q 'Full statespace search' pan.out; then
		fail "not a full state-space search"
	fi
	echo "PASS: $variant ($nw workers): no error in the full state space"
	exit 0
fi

# expect-fail: an error of the expected kind, and a trail that replays.
[ "$errors" -gt 0 ] 2>/dev/null || fail "expected a counterexample, pan found none"
found=$(grep -E '^pan:[0-9]+: ' pan.out | head -1)
echo "pan: $found"
echo "$found" | grep -Eq "$kind" || fail "expected an error matching '$kind'"
[ -f prunner.pml.trail ] || fail "no trail file"
# shellcheck disable=SC2086
"$SPIN" $defs -t -p -g -l prunner.pml >replay.out 2>&1
reprc=$?
steps=$(sed -n 's/.*trail ends after \([0-9]*\) steps.*/\1/p' replay.out | tail -1)
if [ $reprc -ne 0 ] || [ -z "$steps" ]; then
	tail -20 replay.out
	fail "spin -t could not replay the trail"
fi
echo "spin -t: the counterexample replays ($steps steps)"
if [ "${SHOW_TRAIL:-0}" = 1 ]; then cat replay.out; fi
echo "PASS: $variant ($nw workers): SPIN found the counterexample"
exit 0
