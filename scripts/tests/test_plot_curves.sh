#!/usr/bin/env bash
# plot_curves.py on a real exstress CSV: both PNGs are valid and of the size
# FIGSIZE*DPI says, the fitted slopes are right, and a missing file, a bad
# number and a missing column each exit 2 naming the file (and the line).
set -u
. "$(dirname "$0")/testlib.sh"
EXSTRESS=${EXSTRESS:-build/bin/exstress}
PLOT=scripts/plot_curves.py
WIDTH=1000 HEIGHT=750 # FIGSIZE (10 x 7.5 in) * DPI (100)

# A small real run of each policy (/proc only: fast, and no BPF needed).
# (ASan builds: legacy-448 leaks on purpose, so LeakSanitizer stays quiet.)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
"$EXSTRESS" --scenario issue448 --policy legacy-448 \
	--iterations 100 --warmup 10 --probe off --quiet --csv "$tmp/legacy.csv" 2>/dev/null
[ $? -eq 1 ] && ok "exstress legacy-448, 100 iterations: leak (exit 1)" || bad "exstress legacy-448 did not exit 1"
"$EXSTRESS" --scenario issue448 --policy fixed --iterations 100 --warmup 10 \
	--probe off --quiet --csv "$tmp/fixed.csv" 2>/dev/null
[ $? -eq 0 ] && ok "exstress fixed, 100 iterations: pass (exit 0)" || bad "exstress fixed did not exit 0"

out=$("$PLOT" -o "$tmp/out" "$tmp/legacy.csv" "$tmp/fixed.csv" 2>&1)
rc=$?
[ $rc -eq 0 ] && ok "plot_curves.py exit 0" || bad "plot_curves.py exit $rc: $out"
for png in fd_curves.png memory_curves.png; do
	f=$tmp/out/$png
	if msg=$(/usr/bin/python3 - "$f" "$WIDTH" "$HEIGHT" 2>&1 <<'PY'
import struct, sys
path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    data = open(path, "rb").read()
except OSError as e:
    sys.exit(f"cannot read: {e}")
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("no PNG signature")
if data[12:16] != b"IHDR":
    sys.exit("first chunk is not IHDR")
pw, ph = struct.unpack(">II", data[16:24])
if (pw, ph) != (w, h):
    sys.exit(f"size {pw}x{ph}, expected {w}x{h}")
if len(data) < 20000:
    sys.exit(f"only {len(data)} bytes: an empty picture?")
print(f"{pw}x{ph}, {len(data)} bytes")
PY
	); then ok "$png is a PNG, $msg"; else bad "$png: $msg"; fi
done
grep -q '^slope legacy-448, issue448: eventfd +2.000 io_uring +0.000 ' <<<"$out" &&
	ok "legacy-448 slope: +2.000 eventfds/iteration, io_uring flat" || bad "legacy-448 slope wrong: $out"
grep -q '^slope fixed, issue448: eventfd +0.000 io_uring +0.000 ' <<<"$out" &&
	ok "fixed slope: +0.000 eventfds/iteration" || bad "fixed slope wrong: $out"

# The committed soak run is in the old CSV format (17 columns, fd_other
# for every fd that is not an eventfd or io_uring): still drawn.
old=results/soak/soak.csv
out=$("$PLOT" -o "$tmp/old" "$old" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -s "$tmp/old/fd_curves.png" ] && [ -s "$tmp/old/memory_curves.png" ] &&
	grep -q '^slope fixed, .*: eventfd +0.000 ' <<<"$out" &&
	ok "an old-format CSV ($old) still plots" || bad "old-format CSV: exit $rc: $out"

# expect_error NAME FILE PATTERN: exit 2 and a message matching PATTERN
expect_error() {
	local name=$1 file=$2 pat=$3 msg rc
	msg=$("$PLOT" -o "$tmp/err" "$tmp/fixed.csv" "$file" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -eq 2 ] && grep -qE -- "$pat" <<<"$msg"; then
		ok "$name: exit 2, '$msg'"
	else
		bad "$name: exit $rc, message '$msg' does not match '$pat'"
	fi
}
expect_error "missing file" "$tmp/nope.csv" "nope\.csv: cannot open"
awk -F, -v OFS=, 'NR == 5 { $6 = "2x" } { print }' "$tmp/legacy.csv" >"$tmp/badnum.csv"
expect_error "bad number on line 5" "$tmp/badnum.csv" "badnum\.csv:5: column fd_eventfd: '2x' is not a number"
col=$(head -n 1 "$tmp/legacy.csv" | tr , '\n' | grep -nx rss_bytes | cut -d: -f1)
cut -d, -f"$col" --complement "$tmp/legacy.csv" >"$tmp/nocol.csv" # drop rss_bytes
expect_error "missing column" "$tmp/nocol.csv" "nocol\.csv:1: missing column\(s\) rss_bytes"
head -n 7 "$tmp/legacy.csv" >"$tmp/short.csv"
echo "issue448,legacy-448,7,measure,1.0,2,0" >>"$tmp/short.csv"
nfields=$(head -n 1 "$tmp/legacy.csv" | awk -F, '{ print NF }')
expect_error "short row on line 8" "$tmp/short.csv" "short\.csv:8: 7 fields, expected $nfields"
[ -z "$(ls -A "$tmp/err" 2>/dev/null)" ] && ok "no PNG written after an error" || bad "PNGs written despite an error"

finish test_plot_curves
