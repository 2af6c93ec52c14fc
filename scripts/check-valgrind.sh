#!/usr/bin/env bash
# Runs test binaries under valgrind memcheck with --track-fds=yes. Fails on
# any memcheck error, any definitely-lost block, and any fd still open at
# exit that the process did not inherit (Check's own temp files aside).
# Skipped: tests tagged "leaks-on-purpose" (the legacy-448 reproduction) and
# "blocks-in-io-uring-enter" (valgrind keeps its big lock across that
# syscall, so a wake from another thread never arrives: they would hang)
# and "spin-handshake" (the 10,000-round wake/free race: hours here; ASan and
# TSan run it).
set -u
status=0
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
export CK_EXCLUDE_TAGS='leaks-on-purpose blocks-in-io-uring-enter spin-handshake' CK_DEFAULT_TIMEOUT=600

for bin in "$@"; do
	echo "== valgrind $bin"
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=99 --track-fds=yes "$bin" >"$log" 2>&1
	rc=$?
	grep -E '^[0-9]+%: Checks|:[FE]:' "$log"
	# An fd entry is followed by "<inherited from parent>" or by the stack
	# that opened it; only the latter is a leak.
	leaked=$(awk '/Open file descriptor/ { fd=$0; getline nxt;
			if (nxt !~ /inherited from parent/ && fd !~ /check_/) print fd }' "$log")
	if [ "$rc" -ne 0 ] || [ -n "$leaked" ]; then
		status=1
		echo "!! $bin: exit $rc"
		[ -n "$leaked" ] && echo "!! fds left open:" && echo "$leaked"
		grep -E '==[0-9]+==' "$log" | head -40
	fi
done
[ "$status" -eq 0 ] && echo "valgrind: clean" || echo "valgrind: FAILED"
exit "$status"
