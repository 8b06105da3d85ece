#!/usr/bin/env bash
# run.sh BUILD_DIR - checks prunner as a program outside the tree sees it.
#
# Installs the build into a temporary staging directory (meson install
# --destdir), then, using only what was installed:
#   1. compiles prog.c with `cc prog.c $(pkg-config --cflags --libs prunner)`
#      and runs it against the staged shared library;
#   2. compiles a file that includes only <prunner.h> as C99 with -pedantic
#      and as C++, with warnings as errors.
# Prints PASS and exits 0, or prints FAIL and exits 1.
#
# The staged .pc file still names the configured prefix (e.g. /usr/local);
# PKG_CONFIG_SYSROOT_DIR makes pkg-config prepend the staging directory to
# its -I and -L paths.  (pkg-config --define-prefix does not work here: it
# assumes the .pc file lies in PREFIX/lib/pkgconfig, not in a multiarch
# libdir like lib/x86_64-linux-gnu/pkgconfig.)
set -euo pipefail

fail() {
	echo "FAIL: $*"
	exit 1
}

[[ $# -eq 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd) || fail "no build directory $1"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CC=${CC:-cc}
CXX=${CXX:-c++}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/prunner-outside.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
mkdir "$stage"

meson install -C "$build" --destdir "$stage" --quiet >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "meson install"; }

pc=$(find "$stage" -name prunner.pc -print -quit)
header=$(find "$stage" -name prunner.h -print -quit)
solib=$(find "$stage" -name 'libprunner.so' -print -quit)
[[ -n $pc ]] || fail "prunner.pc was not installed"
[[ -n $header ]] || fail "prunner.h was not installed"
[[ -n $solib ]] || fail "libprunner.so was not installed"

# Only the staged prunner.pc is visible to pkg-config.
PKG_CONFIG_LIBDIR=$(dirname "$pc")
export PKG_CONFIG_LIBDIR
export PKG_CONFIG_PATH=
export PKG_CONFIG_SYSROOT_DIR=$stage
flags=$(pkg-config --cflags --libs prunner) || fail "pkg-config prunner"
echo "pkg-config --cflags --libs prunner: $flags"

# 1. A program built and run against the installed library.
# shellcheck disable=SC2086  # $flags is a list of words
"$CC" -std=c11 -Wall -Wextra -Werror "$here/prog.c" -o "$tmp/prog" $flags ||
	fail "compiling prog.c against the installed prunner"
LD_LIBRARY_PATH=$(dirname "$solib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
if command -v ldd >/dev/null; then
	# Capture first: with pipefail, `ldd | grep -q` fails whenever grep
	# exits on its first match before ldd has written everything (SIGPIPE).
	libs=$(ldd "$tmp/prog")
	grep -q "libprunner.so.* => $stage/" <<<"$libs" ||
		{ echo "$libs"; fail "prog is not linked to the staged libprunner.so"; }
fi
timeout 120 "$tmp/prog" || fail "prog exited with status $?"

# 2. The installed header alone, as C99 and as C++.
incdir=$(dirname "$header")
printf '#include <prunner.h>\n' >"$tmp/header.c"
"$CC" -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$incdir" "$tmp/header.c" ||
	fail "prunner.h alone as C99 -pedantic"
echo "prunner.h compiles alone as C99 -pedantic"
command -v "$CXX" >/dev/null || fail "no C++ compiler ($CXX); install g++"
"$CXX" -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++ -I"$incdir" "$tmp/header.c" ||
	fail "prunner.h alone as C++"
echo "prunner.h compiles alone as C++"

echo PASS
