#!/usr/bin/env bash
# The main job (`make run`): issue 448 and its fix side by side.
# Runs `exstress --scenario issue448` under the legacy-448 drop policy and
# under the fixed one, keeps both runs (CSV, JSON, log) in a new folder,
# draws the plots and prints the summary table.
#
# usage: scripts/run_main.sh [--iterations N] [--outdir DIR] [--exstress PATH]
#                            [--probe auto|require|off] [--shape glommio]
#   --iterations N  measured iterations per policy (default 2000)
#   --outdir DIR    where to write (default results/run-YYYYMMDD-HHMMSS, with
#                   --shape glommio results/glommio-run-YYYYMMDD-HHMMSS); an
#                   existing non-empty DIR is refused, never overwritten
#   --exstress P    the exstress binary (default build/bin/exstress)
#   --probe MODE    passed to exstress (default auto: eBPF if possible, else /proc)
#   --shape glommio glommio-448 and glommio-fixed instead (each executor in
#                   glommio 0.6's shape, docs/design.md §3.9): the growth
#                   per iteration is printed beside the seed's figures, and
#                   the plots carry the seed's slopes as reference lines
#
# Exit 0 when legacy-448's leak was detected (exstress exit 1) and fixed
# passed (exit 0); 1 when either verdict is wrong; 2 on a usage or
# environment error (exstress exit 2, missing tools, unwritable folder).
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD

iterations=2000
outdir=
exstress=build/bin/exstress
probe=auto
python=/usr/bin/python3
scenario=issue448
shape=

die() { echo "run: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--iterations) iterations=${2:?}; shift 2 ;;
	--outdir) outdir=${2:?}; shift 2 ;;
	--exstress) exstress=${2:?}; shift 2 ;;
	--probe) probe=${2:?}; shift 2 ;;
	--shape) shape=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done
case $iterations in '' | *[!0-9]*) die "--iterations wants a positive number, not '$iterations'" ;; esac
[ "$iterations" -gt 0 ] || die "--iterations must be > 0"
case $shape in
'') leak=legacy-448 fix=fixed ;;
glommio) leak=glommio-448 fix=glommio-fixed ;;
*) die "--shape wants glommio, not '$shape'" ;;
esac
[ -x "$exstress" ] || die "$exstress not found or not executable: build it with 'make'"
[ -x "$python" ] || die "$python not found: install python3 (make deps)"
"$python" -c 'import matplotlib' 2>/dev/null ||
	die "$python has no matplotlib: install python3-matplotlib (make deps)"

# A new folder every time; an earlier run is never overwritten.
if [ -z "$outdir" ]; then
	# glommio's shape apart (make plots redraws the newest run-*/)
	base=results/${shape:+$shape-}run-$(date +%Y%m%d-%H%M%S)
	outdir=$base n=2
	until mkdir -p results && mkdir "$outdir" 2>/dev/null; do
		[ -d results ] || die "cannot create results/"
		outdir=$base-$n n=$((n + 1))
		[ $n -lt 100 ] || die "cannot create a new folder next to $base"
	done
else
	if [ -d "$outdir" ] && [ -n "$(ls -A "$outdir")" ]; then
		die "$outdir exists and is not empty; not overwriting it (choose another --outdir)"
	fi
	mkdir -p "$outdir" || die "cannot create $outdir"
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
	echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel:  $(uname -srm)"
	echo "os:      $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
	echo "cpus:    $(nproc) x ${cpu:-unknown}"
	echo "user:    uid $(id -u)"
	echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "command: scripts/run_main.sh --iterations $iterations --probe $probe --exstress $exstress${shape:+ --shape $shape}"
} >"$outdir/machine.txt"

echo "run: issue 448, $leak vs $fix, $iterations iterations each -> $outdir/"
sed 's/^/     /' "$outdir/machine.txt" | head -n 4

declare -A rc secs
for policy in $leak $fix; do
	stem=$outdir/$scenario-$policy
	case $policy in
	legacy-448 | glommio-448) echo "run: $policy (the glommio bug; slower: every leaked eventfd lengthens /proc/self/fd) ..." ;;
	*) echo "run: $policy ..." ;;
	esac
	t0=$(date +%s.%N)
	"$exstress" --scenario "$scenario" --policy "$policy" --iterations "$iterations" \
		--probe "$probe" --csv "$stem.csv" --json "$stem.json" 2>"$stem.log" </dev/null
	rc[$policy]=$?
	secs[$policy]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	echo "     exit ${rc[$policy]} after ${secs[$policy]} s; exstress said:"
	# the verdict, the fd/memory lines and fdtrack's opening stack (if any)
	head -n 16 "$stem.log" | sed 's/^/     | /'
	[ "$(wc -l <"$stem.log")" -gt 16 ] && echo "     | ... (full report: $stem.log)"
done

# the seed's figures: 12 eventfds and 36.8 GB of VSZ after 2,723 rounds, a
# round being 3 test_spsc calls of 2 executors each (docs/design.md §3.9)
seed_vsz=$((36800000000 / 2723))
refs=()
[ -n "$shape" ] && refs=(--ref-slope "fd_eventfd:12:the seed as written, 12 eventfds per iteration"
	--ref-slope "fd_eventfd:4:the seed per 2 executors (its round had 6): 4 eventfds per iteration"
	--ref-slope "vsz_bytes:$seed_vsz:the seed as written, 13.5 MB per iteration (36.8 GB / 2723)"
	--ref-slope "vsz_bytes:$((seed_vsz / 3)):the seed per 2 executors (its round had 6): 4.5 MB per iteration")
echo "run: plotting"
"$python" scripts/plot_curves.py -o "$outdir" "${refs[@]}" "$outdir/$scenario-$leak.csv" \
	"$outdir/$scenario-$fix.csv" | sed 's/^/     /'
plot_rc=${PIPESTATUS[0]}

echo
echo "Summary ($scenario, $iterations measured iterations per policy, $outdir/):"
"$python" scripts/summarize.py --markdown "$outdir/summary.md" \
	"$leak:${rc[$leak]}:$outdir/$scenario-$leak.json:$outdir/$scenario-$leak.log" \
	"$fix:${rc[$fix]}:$outdir/$scenario-$fix.json:$outdir/$scenario-$fix.log" |
	tee "$outdir/summary.txt"
if [ -n "$shape" ] && [ -s "$outdir/$scenario-$leak.csv" ]; then
	# growth per iteration over the measured iterations, beside the seed's
	awk -F, -v seed="$seed_vsz" 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "fd_eventfd") e = i; if ($i == "vsz_bytes") v = i } next }
		$4 == "measure" { if (!n++) { i0 = $3; e0 = $e; v0 = $v } i1 = $3; e1 = $e; v1 = $v }
		END { if (i1 <= i0) exit 1; de = (e1 - e0) / (i1 - i0); dv = (v1 - v0) / (i1 - i0)
			printf "\nglommio'"'"'s figures: the seed says 12 eventfds and ~13.5 MB of VSZ per iteration (36.8 GB after 2,723),\n"
			printf "but its iteration (a round of the report'"'"'s main()) ran test_spsc 3 times: 6 executors, not 2.\n"
			printf "  %-38s %+8.3f eventfds  %+8.2f MB VSZ  per iteration of 2 executors\n", "measured here, glommio-448:", de, dv / 1e6
			printf "  %-38s %+8.3f eventfds  %+8.2f MB VSZ  per round (x3)\n", "measured here, as the report'"'"'s round:", 3 * de, 3 * dv / 1e6
			printf "  %-38s %+8.3f eventfds  %+8.2f MB VSZ  per round\n", "the seed:", 12, seed / 1e6
			printf "  at this rate 36.8 GB of VSZ is reached after %d rounds (the report: ENOMEM after 2,723)\n", 36.8e9 / (3 * dv) }' \
		"$outdir/$scenario-$leak.csv" | tee -a "$outdir/summary.txt"
fi
echo "Plots: $outdir/fd_curves.png, $outdir/memory_curves.png"
echo

status=0
for policy in $leak $fix; do
	case $policy:${rc[$policy]} in
	legacy-448:1 | fixed:0 | glommio-448:1 | glommio-fixed:0) ;;
	*:2)
		echo "run: FAILED: exstress --policy $policy could not run (exit 2: usage or environment error); see $outdir/$scenario-$policy.log" >&2
		status=2 ;;
	legacy-448:0 | glommio-448:0)
		echo "run: FAILED: the $policy leak was NOT detected (exstress exit 0); the harness no longer catches issue 448" >&2
		[ $status -eq 0 ] && status=1 ;;
	fixed:1 | glommio-fixed:1)
		echo "run: FAILED: the $policy policy LEAKED (exstress exit 1); see $outdir/$scenario-$policy.log" >&2
		[ $status -eq 0 ] && status=1 ;;
	*)
		echo "run: FAILED: exstress --policy $policy exited ${rc[$policy]}; see $outdir/$scenario-$policy.log" >&2
		status=2 ;;
	esac
done
if [ "$plot_rc" -ne 0 ]; then
	echo "run: FAILED: plot_curves.py exited $plot_rc" >&2
	[ $status -eq 0 ] && status=2
fi
if [ $status -eq 0 ]; then
	# exstress --probe auto goes on without fdtrack only where BPF is not
	# permitted: an OK without the probe says so
	if [ "$probe" = off ]; then
		echo "run: OK without the eBPF probe (--probe off; /proc sampling only): $leak leaks (detected, exit 1) and $fix does not (exit 0)"
	elif grep -qs '"probe": *"proc-only"' "$outdir/$scenario-$leak.json" "$outdir/$scenario-$fix.json"; then
		echo "run: OK without the eBPF probe: not permitted here (/proc sampling only): $leak leaks (detected, exit 1) and $fix does not (exit 0)"
	else
		echo "run: OK: $leak leaks (detected, exit 1) and $fix does not (exit 0); eBPF probe (fdtrack) and /proc"
	fi
fi
exit $status
