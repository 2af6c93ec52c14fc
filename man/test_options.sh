#!/usr/bin/env bash
# The man pages against the tools, so that they cannot drift (make check):
#   - each tool's option table (struct option in its C source), its --help
#     and its man page's OPTIONS list the same long options, each way; the
#     short options of --help and of the man page are the same;
#   - each page has the sections a user looks for, and groff has nothing
#     to say about it;
#   - rex(3)'s EXAMPLES is man/rex_example.c, character for character;
#   - make help lists every .PHONY target.
# FDTRACK and EXSTRESS name the binaries (the make check wrapper sets them).
set -u
. "$(dirname "$0")/../scripts/tests/testlib.sh"
FDTRACK=${FDTRACK:-build/bin/fdtrack}
EXSTRESS=${EXSTRESS:-build/bin/exstress}

# Long options of a C file's `struct option NAME[] = { ... };`
table_longs() {
	sed -n '/struct option [a-z_]*\[\] = {/,/^};/p' "$1" |
		grep -o '{ "[a-z0-9-]*"' | sed 's/{ "\(.*\)"/--\1/' | sort -u
}
# Option tokens of --help's option lines: the text before the description
# (two spaces), of lines that start with an option.
help_tags() {
	grep -E '^ +(-[A-Za-z], )?--[a-z]' |
		sed -E 's/^ +//; s/  .*//' | tr ',' ' ' | tr ' ' '\n' |
		grep -E '^--?[A-Za-z]' | sed 's/=.*//' | sort -u
}
# The same of a man page's OPTIONS: the tag line after each .TP.
man_tags() {
	sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$1" | awk 'tp { print; tp = 0 } /^\.TP/ { tp = 1 }' |
		sed -E 's/\\f[BIRP]//g; s/\\-/-/g; s/"//g' | tr ',' ' ' | tr ' ' '\n' |
		grep -E '^--?[A-Za-z]' | sort -u
}

check_tool() { # name binary source page
	local name=$1 bin=$2 src=$3 page=$4 diffs
	if ! "$bin" --help >"$tmp/$name.help" 2>&1; then
		bad "$name --help exits non-zero"
		return
	fi
	table_longs "$src" >"$tmp/$name.table"
	help_tags <"$tmp/$name.help" >"$tmp/$name.helptags"
	man_tags "$page" >"$tmp/$name.mantags"
	[ -s "$tmp/$name.table" ] || { bad "$name: no option table found in $src"; return; }
	# table -> --help (anywhere in it: exstress names --junit in --json's line)
	diffs=$(while read -r o; do
		grep -qE -- "(^|[ ,;(])$o([ ,=;:)]|\$)" "$tmp/$name.help" || echo "$o"
	done <"$tmp/$name.table")
	[ -z "$diffs" ] && ok "$name: every option of $src is in --help" ||
		bad "$name: in $src but not in --help:" $diffs
	# --help -> table
	diffs=$(grep -e '^--' "$tmp/$name.helptags" | comm -23 - "$tmp/$name.table")
	[ -z "$diffs" ] && ok "$name: every option of --help is in $src" ||
		bad "$name: in --help but not in $src:" $diffs
	# table <-> man page
	diffs=$(grep -e '^--' "$tmp/$name.mantags" | diff "$tmp/$name.table" - | grep '^[<>]')
	[ -z "$diffs" ] && ok "$name: $page's OPTIONS lists the options of $src" ||
		bad "$name: $page's OPTIONS and $src differ (< only in the table, > only in the page):" $diffs
	# short options: --help <-> man page
	diffs=$(diff <(grep -v -e '^--' "$tmp/$name.helptags") \
		<(grep -v -e '^--' "$tmp/$name.mantags") | grep '^[<>]')
	[ -z "$diffs" ] && ok "$name: --help and $page have the same short options" ||
		bad "$name: short options differ (< --help, > $page):" $diffs
}

check_tool fdtrack "$FDTRACK" bpf/fdtrack_cli.c man/fdtrack.8
check_tool exstress "$EXSTRESS" harness/cli.c man/exstress.1

for page in man/fdtrack.8 man/exstress.1 man/rex.3; do
	missing=""
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT EXAMPLES "SEE ALSO"; do
		grep -qx "\.SH \"\?$s\"\?" "$page" || missing="$missing '$s'"
	done
	[ -z "$missing" ] && ok "$page has every section" || bad "$page lacks$missing"
	if command -v man >/dev/null; then
		warn=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
		[ -z "$warn" ] && ok "$page: no groff warnings" || bad "$page: groff says: $warn"
	fi
done

sed -n '/^\.EX$/,/^\.EE$/p' man/rex.3 | sed '1d;$d' | sed 's/\\-/-/g; s/\\e/\\/g' >"$tmp/example.c"
if diff -u man/rex_example.c "$tmp/example.c" >"$tmp/example.diff"; then
	ok "rex(3)'s EXAMPLES is man/rex_example.c"
else
	bad "rex(3)'s EXAMPLES differs from man/rex_example.c:"
	cat "$tmp/example.diff"
fi

# make help against the makefiles' .PHONY targets (FORCE is no target).
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s help BUILD="$tmp/b" >"$tmp/help" 2>&1 &&
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -pnq help BUILD="$tmp/b" 2>/dev/null |
	sed -n 's/^\.PHONY: //p' | tr ' ' '\n' | grep -v -e '^FORCE$' -e '^$' | sort -u >"$tmp/phony"; then
	diffs=$(while read -r t; do grep -q "^  $t " "$tmp/help" || echo "$t"; done <"$tmp/phony")
	[ -s "$tmp/phony" ] && [ -z "$diffs" ] && ok "make help lists every .PHONY target ($(wc -l <"$tmp/phony"))" ||
		bad "make help lacks:" $diffs
else
	bad "make help failed: $(cat "$tmp/help")"
fi

finish test_man_options
