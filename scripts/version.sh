#!/bin/sh
# The version of rex, fdtrack and exstress, from one place: VERSION holds
# the release number; in a git checkout the commit is appended (and
# "-dirty" for uncommitted changes), or, once releases are tagged vX.Y.Z,
# git describe's answer is used as it is. Prints one line.
#
# usage: scripts/version.sh [SRCDIR]
top=${1:-$(dirname "$0")/..}
base=$(cat "$top/VERSION" 2>/dev/null) || {
	echo "version.sh: no VERSION file in $top" >&2
	exit 2
}
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
	[ "$(git -C "$top" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$top" && pwd -P)" ]; then
	tagged=$(git -C "$top" describe --tags --dirty --match 'v[0-9]*' 2>/dev/null)
	if [ -n "$tagged" ]; then
		echo "${tagged#v}"
		exit 0
	fi
	commit=$(git -C "$top" describe --always --dirty 2>/dev/null)
	[ -n "$commit" ] && base="$base+g$commit"
fi
echo "$base"
