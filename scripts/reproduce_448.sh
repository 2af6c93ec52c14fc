#!/usr/bin/env bash
# Reproduce glommio issue 448 the way it was reported: create and drop
# executors (with tasks parked) under a small fd limit until creating one
# fails with "Too many open files", and print that iteration. Then run the
# fixed drop policy for the same number of iterations under the same limit to
# show that it never gets there. Then both crash modes in glommio's shape
# (scripts/reproduce_glommio.sh): EMFILE under ulimit -n and ENOMEM under
# ulimit -v, each at the iteration predicted from the measured growth.
#
# usage: scripts/reproduce_448.sh [--ulimit N] [--exstress PATH] [--probe MODE]
#   --ulimit N     RLIMIT_NOFILE (soft and hard) for both runs (default 256)
#   --exstress P   the exstress binary (default build/bin/exstress)
#   --probe MODE   exstress --probe (default off: fdtrack's own fds would
#                  count against the small limit)
#   --keep DIR     keep both runs' CSV and stderr in DIR (default: a temp dir)
#   --glommio N    reproduce_glommio.sh --iterations N afterwards (default
#                  100; 0: skip it)
#
# Exit 0 when legacy-448 ran out of fds and fixed did not (and the glommio
# part said OK); 1 otherwise; 2 on a usage or environment error.
set -u
cd "$(dirname "$0")/.." || exit 2

limit=256
exstress=build/bin/exstress
probe=off
keep=
glommio=100
die() { echo "reproduce: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--ulimit) limit=${2:?}; shift 2 ;;
	--exstress) exstress=${2:?}; shift 2 ;;
	--probe) probe=${2:?}; shift 2 ;;
	--keep) keep=${2:?}; shift 2 ;;
	--glommio) glommio=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done
case $limit in '' | *[!0-9]*) die "--ulimit wants a number, not '$limit'" ;; esac
case $glommio in '' | *[!0-9]*) die "--glommio wants a number, not '$glommio'" ;; esac
[ "$limit" -ge 32 ] || die "--ulimit $limit is too small to start exstress at all (use >= 32)"
[ -x "$exstress" ] || die "$exstress not found: build it with 'make'"

if [ -n "$keep" ]; then
	mkdir -p "$keep" || die "cannot create $keep"
	dir=$keep
else
	dir=$(mktemp -d) || die "mktemp failed"
	trap 'rm -rf "$dir"' EXIT
fi

# exstress raises its soft fd limit to the hard one, so lower both.
run_limited() { (ulimit -n "$limit" 2>/dev/null || { echo "cannot set ulimit -n $limit" >&2; exit 2; }; exec "$@"); }

# last value of a CSV column
csv_last() { awk -F, -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
	c { v = $c } END { print v }' "$1"; }

echo "reproduce: legacy-448 (glommio's drop), issue448 scenario, ulimit -n $limit, until executor creation fails"
# No warm-up: every iteration counts, so running out of fds is the leak's
# verdict (exit 1) however small the limit. Two eventfds leak per
# iteration, so the limit is reached long before 2 x limit iterations.
run_limited "$exstress" --scenario issue448 --policy legacy-448 --warmup 0 --iterations $((2 * limit)) \
	--probe "$probe" --quiet --heap-stacks off --csv "$dir/legacy-448.csv" \
	2>"$dir/legacy-448.log" </dev/null
lrc=$?
# "... stopped at iteration N: executor creation failed: Too many open files"
stop_line=$(grep -m 1 -o 'iteration [0-9]*: executor creation failed: Too many open files' "$dir/legacy-448.log")
fail_at=$(sed -n 's/^iteration \([0-9]*\):.*/\1/p' <<<"$stop_line")
last_ok=
efd=
if [ -s "$dir/legacy-448.csv" ]; then
	last_ok=$(csv_last "$dir/legacy-448.csv" iteration)
	efd=$(csv_last "$dir/legacy-448.csv" fd_eventfd)
fi
if [ $lrc -ne 1 ] || [ -z "$fail_at" ] || [ -z "$last_ok" ] || [ -z "$efd" ]; then
	echo "reproduce: FAILED: legacy-448 did not end in the leak's verdict with 'Too many open" \
		"files' (exstress exit $lrc); its output:" >&2
	sed 's/^/  | /' "$dir/legacy-448.log" >&2
	exit 1
fi
echo "  iteration $fail_at: executor creation failed: Too many open files"
echo "  (after iteration $last_ok the process held $efd leaked eventfds;" \
	"2 per iteration, never closed)"
echo "  exstress: $(head -n 1 "$dir/legacy-448.log" | sed 's/^exstress: //')"

# fixed, the same number of iterations in total (warm-up included)
warmup=$((fail_at / 2 < 50 ? fail_at / 2 : 50))
measured=$((fail_at - warmup))
echo "reproduce: fixed, the same $fail_at iterations, same ulimit -n $limit"
run_limited "$exstress" --scenario issue448 --policy fixed --warmup "$warmup" \
	--iterations "$measured" --probe "$probe" --csv "$dir/fixed.csv" \
	2>"$dir/fixed.log" </dev/null
frc=$?
fefd= flast=
if [ -s "$dir/fixed.csv" ]; then
	fefd=$(csv_last "$dir/fixed.csv" fd_eventfd)
	flast=$(csv_last "$dir/fixed.csv" iteration)
fi
if [ $frc -eq 0 ] && [ "$flast" = "$fail_at" ] && ! grep -q 'Too many open files' "$dir/fixed.log"; then
	echo "  all $flast iterations ran; eventfds open at the end: $fefd (exstress exit 0, pass)"
	echo "reproduce: OK: legacy-448 ran out of fds at iteration $fail_at; fixed did not"
	[ "$glommio" -eq 0 ] && exit 0
	echo
	exec scripts/reproduce_glommio.sh --iterations "$glommio" --exstress "$exstress" \
		${keep:+--keep "$keep/glommio"}
fi
echo "reproduce: FAILED: fixed did not run all $fail_at iterations cleanly (exstress exit" \
	"$frc, last iteration ${flast:-none}); its output:" >&2
sed 's/^/  | /' "$dir/fixed.log" >&2
exit 1
