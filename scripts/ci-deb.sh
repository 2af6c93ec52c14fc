#!/usr/bin/env bash
# CI: the Debian packages, built, checked, installed, used and purged.
#   1. apt-get build-dep of what is missing, then dpkg-buildpackage -b -us
#      -uc on a copy of the tree (tracked and new files; never build/ or
#      the checkout's own debian/ outputs);
#   2. lintian: no error (warnings are printed);
#   3. apt-get install of the .debs (fdtrack, exstress, librex0, librex-dev);
#   4. from /usr/bin: fdtrack --version, rex(3)'s example built with
#      pkg-config --cflags --libs rex, fdtrack --fail-on-leak on it under
#      legacy-448 (a leaked eventfd: exit 23) and fixed (exit 0), exstress
#      --scenario issue448 --iterations 200 (exit 0);
#   5. apt-get purge: no package left, none of their files left.
# Root (or sudo -n). ~1.5 min on 2 cores. Exit 0 ok, 1 a check failed, 2 could
# not run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PKGS=(fdtrack exstress librex0 librex-dev)
start=$(date +%s)
fails=0
ok() { echo "ci-deb: ok   $*"; }
bad() { echo "ci-deb: FAIL $*"; fails=$((fails + 1)); }
die() { echo "ci-deb: $*" >&2; exit 2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

need=()
for c in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian; do
	command -v "${c%%:*}" >/dev/null || need+=("${c#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "ci-deb: installing ${need[*]}"
	as_root apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
		die "cannot install ${need[*]}: run apt-get update, or install them"
fi

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
git ls-files -co --exclude-standard -z | grep -z -v -e '^build/' -e '^results/' |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	xargs -0 cp --parents -t "$work/src" && [ -x "$work/src/debian/rules" ] ||
	die "cannot copy the tree into $work/src"

# 1. build (its Build-Depends first: debian/control is their one list)
if ! (cd "$work/src" && dpkg-checkbuilddeps) >/dev/null 2>&1; then
	as_root apt-get build-dep -y "$work/src" >"$work/build-dep.log" 2>&1 ||
		{ tail -n 20 "$work/build-dep.log"; die "cannot install the Build-Depends of debian/control"; }
	ok "apt-get build-dep: the Build-Depends installed"
fi
t0=$(date +%s)
if (cd "$work/src" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
	ok "dpkg-buildpackage -b -us -uc: $(cd "$work" && ls -- *.deb | tr '\n' ' ')($(($(date +%s) - t0)) s)"
else
	tail -n 30 "$work/build.log"
	die "dpkg-buildpackage failed (the log's end is above)"
fi

# 2. lintian
changes=$(ls "$work"/*.changes)
lintian --fail-on error -I --tag-display-limit 0 "$changes" >"$work/lintian.log" 2>&1
lrc=$?
n() { grep -c "^$1: " "$work/lintian.log"; }
[ $lrc = 0 ] && ok "lintian: $(n E) errors, $(n W) warnings, $(n I) info tags" ||
	bad "lintian reports errors (exit $lrc):"
grep -E '^[EWI]: ' "$work/lintian.log"

# 3. install (leftovers of an earlier run go first)
as_root apt-get purge -y "${PKGS[@]}" >/dev/null 2>&1
if as_root apt-get install -y "$work"/*.deb >"$work/apt.log" 2>&1; then
	ok "apt-get install ${PKGS[*]}"
else
	cat "$work/apt.log"
	die "apt-get install of the .debs failed"
fi
for p in "${PKGS[@]}"; do dpkg -L "$p"; done | sort -u >"$work/files"

# 4. use, from the installed copy only
[ "$(command -v fdtrack)" = /usr/bin/fdtrack ] && [ "$(command -v exstress)" = /usr/bin/exstress ] &&
	ok "fdtrack and exstress are /usr/bin's" || bad "fdtrack or exstress is not in /usr/bin"
v=$(/usr/bin/fdtrack --version) && ok "fdtrack --version: $v" || bad "fdtrack --version failed"
v=$(/usr/bin/exstress --version) && ok "exstress --version: $v" || bad "exstress --version failed"
man -w fdtrack exstress rex >/dev/null 2>&1 && ok "man fdtrack, man exstress, man 3 rex" || bad "a man page is missing"
cp man/rex_example.c "$work/"
if cc -std=c11 -Wall -Werror -o "$work/rex_example" "$work/rex_example.c" \
	$(pkg-config --cflags --libs rex) 2>"$work/cc.log"; then
	ok "cc rex_example.c \$(pkg-config --cflags --libs rex) = $(pkg-config --cflags --libs rex)"
else
	bad "building against the installed librex: $(cat "$work/cc.log")"
fi
as_root /usr/bin/fdtrack --fail-on-leak -- "$work/rex_example" legacy-448 >"$work/fdt.log" 2>&1
rc=$?
[ $rc = 23 ] && ok "fdtrack --fail-on-leak -- rex_example legacy-448: exit 23 (leak)" ||
	{ bad "fdtrack on a leaking program exited $rc, not 23"; tail -n 20 "$work/fdt.log"; }
as_root /usr/bin/fdtrack --fail-on-leak -- "$work/rex_example" >"$work/fdt0.log" 2>&1
rc=$?
[ $rc = 0 ] && ok "fdtrack --fail-on-leak -- rex_example (fixed): exit 0" ||
	{ bad "fdtrack on a program that does not leak exited $rc"; tail -n 20 "$work/fdt0.log"; }
as_root /usr/bin/exstress --scenario issue448 --iterations 200 >"$work/exs.log" 2>&1
rc=$?
[ $rc = 0 ] && ok "exstress --scenario issue448 --iterations 200: exit 0 ($(grep -c . "$work/exs.log") lines of report)" ||
	{ bad "exstress exited $rc"; tail -n 20 "$work/exs.log"; }

# 5. purge: no package, no file left behind
as_root apt-get purge -y "${PKGS[@]}" >"$work/purge.log" 2>&1 || bad "apt-get purge failed: $(tail -n 5 "$work/purge.log")"
left=$(dpkg -l "${PKGS[@]}" 2>/dev/null | awk '/^[a-z][a-z] / && $1 != "un" {print $2 " (" $1 ")"}')
[ -z "$left" ] && ok "purged: no package state left" || bad "packages still known to dpkg: $left"
files_left=$(while read -r f; do [ -f "$f" ] || [ -L "$f" ] && echo "$f"; done <"$work/files")
[ -z "$files_left" ] && ok "purged: none of the $(wc -l <"$work/files") packaged paths is left" ||
	bad "files left behind:" $files_left
[ ! -e /usr/lib/exstress ] || bad "/usr/lib/exstress is left"

echo "ci-deb: $fails failed, $(($(date +%s) - start)) s"
[ $fails = 0 ]
