#!/usr/bin/env bash
# The README's commands work after the README's own set-up:
#  - every build/bin/TOOL it names is built by each of make run, make gate
#    and make reproduce (not only by a plain make);
#  - every `make TARGET` it names is a target;
#  - every --option it gives exstress, fdtrack or bench is in that tool's
#    --help; every scripts/FILE it names exists and runs.
set -u
. "$(dirname "$0")/testlib.sh"

tools=$(grep -o 'build/bin/[a-z_]*' README.md | sort -u | sed 's|build/bin/||')
[ -n "$tools" ] || bad "README names no build/bin tool"
for target in run gate reproduce; do
	plan=$(make -n BUILD="$tmp/b" "$target" 2>&1)
	for t in $tools; do
		grep -q -- "-o $tmp/b/bin/$t " <<<"$plan" &&
			ok "make $target builds build/bin/$t" ||
			bad "make $target does not build build/bin/$t, which the README uses"
	done
done

for target in $(grep -oE '`make [a-z-]+' README.md | sed 's/`make //' | sort -u); do
	make -n BUILD="$tmp/b" "$target" >/dev/null 2>&1 && ok "make $target is a target" ||
		bad "make $target (in the README) is no target"
done

# tool --help knows every long option the README gives it
make -s all >/dev/null 2>&1 || true
for t in exstress fdtrack bench; do
	[ -x "build/bin/$t" ] || continue
	help=$("build/bin/$t" --help 2>&1)
	for opt in $(grep -E "(build/bin/|^ *|sudo )$t( |$)" README.md |
		     grep -oE -- '--[a-z][a-z-]+' | sort -u); do
		grep -q -- "$opt" <<<"$help" && ok "$t --help has $opt" ||
			bad "the README gives $t $opt, which its --help does not know"
	done
done

for f in $(grep -oE 'scripts/[a-z_0-9]+\.(sh|py)' README.md | sort -u); do
	[ -x "$f" ] && "$f" --help >/dev/null 2>&1 && ok "$f exists and runs" ||
		bad "$f (in the README) is missing or does not run --help"
done

finish test_readme
