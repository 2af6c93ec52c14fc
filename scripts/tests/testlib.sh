# Sourced by every shell test (scripts/tests/test_*.sh, mk/test_install.sh,
# man/test_options.sh): run from the repository's top, a temporary
# directory $tmp removed on exit, ok/bad lines counted in $fails, and
# `finish NAME` to print the count and exit with it.
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
finish() {
	echo "$1: $fails failed"
	[ "$fails" -eq 0 ]
	exit
}
# An exstress built with ASan or TSan (make check-asan, check-tsan): its
# shadow memory takes terabytes of address space and its allocator keeps
# freed memory a while, so VSZ limits and VSZ slopes mean nothing there.
sanitized() { grep -qaE '__asan_init|__tsan_init' "$1"; }
