#!/usr/bin/env bash
# Both of issue 448's crash modes, in glommio's shape (policy glommio-448,
# docs/design.md §3.9), each at the iteration predicted from the measured
# growth: EMFILE under an fd limit (ulimit -n) and ENOMEM under an address-
# space limit (ulimit -v). Then glommio-fixed runs the same iterations under
# the same limits.
#
# usage: scripts/reproduce_glommio.sh [--iterations N] [--exstress PATH]
#                                     [--keep DIR]
#   --iterations N  the limits are set so that N iterations fit and
#                   iteration N+1 cannot create its executors (default 100)
#   --exstress P    the exstress binary (default build/bin/exstress)
#   --keep DIR      keep every run's CSV and log in DIR (default: a temp dir)
#
# How each limit is set (for -n in fds, for -v in KiB):
#   1. g: the growth per iteration, measured without limits (20 iterations);
#   2. L20: the smallest limit under which 20 iterations run (bisection):
#      exstress's own baseline (its start-up, 4 executors at once, fits
#      well below), 19 iterations' leak, and what the 20th needs while its
#      executors are alive;
#   3. limit = L20 + (N - 19.5) x g: iterations 21..N each leave g more, so
#      iteration N+1 is predicted to fail, with half an iteration's margin.
# The prediction scales with the limit: iteration = (limit - L20) / g + 20.5.
# glibc's malloc arenas are limited to one (GLIBC_TUNABLES) in every run:
# otherwise glibc creates 64 MiB arenas until the address-space limit
# refuses one, and the baseline would depend on the limit.
#
# Exit 0 when glommio-448 failed with "Too many open files" and then with
# "Cannot allocate memory", each within 2 iterations of the prediction,
# and glommio-fixed completed the same iterations under each limit; 1
# otherwise; 2 on a usage or environment error.
set -u
cd "$(dirname "$0")/.." || exit 2

n=100
exstress=build/bin/exstress
keep=
die() { echo "reproduce: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--iterations) n=${2:?}; shift 2 ;;
	--exstress) exstress=${2:?}; shift 2 ;;
	--keep) keep=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done
case $n in '' | *[!0-9]*) die "--iterations wants a number, not '$n'" ;; esac
[ "$n" -ge 40 ] || die "--iterations $n is too small (use >= 40)"
[ -x "$exstress" ] || die "$exstress not found: build it with 'make'"
if [ -n "$keep" ]; then
	mkdir -p "$keep" || die "cannot create $keep"
	dir=$keep
else
	dir=$(mktemp -d) || die "mktemp failed"
	trap 'rm -rf "$dir"' EXIT
fi
export GLIBC_TUNABLES=glibc.malloc.arena_max=1

# exs POLICY ITERATIONS NAME [ulimit flag and value]: exit status of one run
exs() {
	local policy=$1 iters=$2 name=$3
	shift 3
	(
		[ $# -eq 0 ] || ulimit "$@" 2>/dev/null || exit 3
		exec "$exstress" --scenario issue448 --policy "$policy" --warmup 0 \
			--iterations "$iters" --probe off --quiet --heap-stacks off \
			--csv "$dir/$name.csv" </dev/null >"$dir/$name.out" 2>"$dir/$name.log"
	)
}
# value of COLUMN in the CSV's row for ITERATION
csv_at() { awk -F, -v col="$2" -v it="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
	$3 == it { print $c }' "$1"; }
failed_at() { sed -n 's/.*iteration \([0-9]*\): executor creation failed: \(.*\)$/\1 \2/p' "$1" | head -n 1; }

cal=20
exs glommio-448 $cal calibrate
[ -s "$dir/calibrate.csv" ] || die "the calibration run failed: $(head -n 2 "$dir/calibrate.csv" "$dir/calibrate.log" 2>/dev/null)"
read -r gf gv base_fd base_vsz < <(awk -F, -v last=$cal '
	NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "fd_eventfd") e = i; if ($i == "vsz_bytes") v = i;
		if ($i ~ /^fd_/) fd[i] = 1 } next }
	$3 == 0 { for (i in fd) b += $i; bv = $v }
	$3 == 1 { e1 = $e; v1 = $v }
	$3 == last { printf "%.3f %.1f %d %d\n", ($e - e1) / (last - 1), ($v - v1) / 1024 / (last - 1), b, bv / 1024 }' \
	"$dir/calibrate.csv")
[ -n "${gv:-}" ] || die "no growth measured in $dir/calibrate.csv"
if awk -v f="$gf" -v v="$gv" 'BEGIN { exit !(f < 1 || v < 1024) }'; then
	echo "reproduce: FAILED: glommio-448 leaks nothing here (+$gf eventfds, +$gv KiB VSZ per iteration): nothing to reproduce" >&2
	exit 1
fi
echo "reproduce: glommio's shape (glommio-448), issue448 scenario (2 executors per iteration)"
echo "  measured without limits over $cal iterations: +$gf eventfds and +$(awk -v k="$gv" 'BEGIN { printf "%.2f", k / 1024 }') MiB VSZ per iteration;" \
	"exstress's own baseline: $base_fd fds, $((base_vsz / 1024)) MiB VSZ"

# smallest limit (flag -n or -v) in [lo, hi] under which M iterations run
m=20
runs_m() {
	exs glommio-448 $m probe "$1" "$2"
	[ $? -eq 1 ] && [ -z "$(failed_at "$dir/probe.log")" ]
}
bisect() {
	local flag=$1 lo=$2 hi=$3 step=$4 mid
	runs_m "$flag" "$hi" || return 1
	while [ $((hi - lo)) -gt "$step" ]; do
		mid=$(((lo + hi) / 2))
		if runs_m "$flag" "$mid"; then hi=$mid; else lo=$mid; fi
	done
	echo "$hi"
}

status=0
# mode FLAG UNIT GROWTH LO HI STEP ERROR
mode() {
	local flag=$1 unit=$2 g=$3 lo=$4 hi=$5 step=$6 want=$7 lm limit pred
	lm=$(bisect "$flag" "$lo" "$hi" "$step") ||
		die "glommio-448 does not run $m iterations even under ulimit $flag $hi"
	limit=$(awk -v l="$lm" -v g="$g" -v n="$n" -v m=$m 'BEGIN { printf "%d", l + (n - m + 0.5) * g }')
	pred=$((n + 1))
	echo "reproduce: ulimit $flag $limit ($unit) = L$m $lm ($m iterations fit) + ($n - $m + 0.5) x $g per iteration"
	exs glommio-448 $((2 * n)) "leak$flag" "$flag" "$limit"
	local rc=$? got
	got=$(failed_at "$dir/leak$flag.log")
	local actual=${got%% *} msg=${got#* }
	msg=${msg%% (RLIMIT*}
	# exit 1: exstress judged running out a leak (exit 2 would say the
	# limit, not the leak, stopped it)
	if [ -z "$got" ] || [ "$msg" != "$want" ] || [ $rc -ne 1 ]; then
		echo "reproduce: FAILED: glommio-448 under ulimit $flag $limit did not fail with '$want' as a leak (exstress exit $rc):" >&2
		sed 's/^/  | /' "$dir/leak$flag.log" >&2
		status=1
		return
	fi
	local d=$((actual - pred))
	echo "  glommio-448: predicted iteration $pred, actual iteration $actual: executor creation failed: $msg (exstress exit $rc)"
	if [ ${d#-} -gt 2 ]; then
		echo "reproduce: FAILED: $d iterations off the prediction" >&2
		status=1
	fi
	exs glommio-fixed "$actual" "fixed$flag" "$flag" "$limit"
	rc=$?
	local last
	last=$(awk -F, 'NR > 1 { v = $3 } END { print v }' "$dir/fixed$flag.csv" 2>/dev/null)
	if [ $rc -eq 0 ] && [ "$last" = "$actual" ] && [ -z "$(failed_at "$dir/fixed$flag.log")" ]; then
		echo "  glommio-fixed: all $actual iterations ran under the same limit (exstress exit 0, pass)"
	else
		echo "reproduce: FAILED: glommio-fixed did not run $actual iterations under ulimit $flag $limit (exit $rc):" >&2
		sed 's/^/  | /' "$dir/fixed$flag.log" >&2
		status=1
	fi
}

mode -n fds "$(awk -v g="$gf" 'BEGIN { printf "%d", g + 0.5 }')" 32 4096 1 "Too many open files"
# A sanitizer build reserves its shadow memory up front (terabytes of
# VSZ): no address-space limit can let it start and then run out later.
if [ "$base_vsz" -gt $((1 << 40 >> 10)) ]; then
	echo "reproduce: ulimit -v not tried: this exstress holds $((base_vsz / 1048576)) GiB of address space" \
		"before its first iteration (a sanitizer build's shadow memory); the ENOMEM part needs a plain build (make reproduce)"
	vsz_skipped=1
else
	mode -v KiB "${gv%.*}" "$base_vsz" $((base_vsz + 1048576)) 64 "Cannot allocate memory"
fi
if [ $status -eq 0 ] && [ -n "${vsz_skipped:-}" ]; then
	echo "reproduce: OK: glommio-448 ran out of fds where predicted; glommio-fixed did not (address space: not tried, above)"
elif [ $status -eq 0 ]; then
	echo "reproduce: OK: glommio-448 ran out of fds, then of address space, where predicted; glommio-fixed did not"
fi
exit $status
