#!/usr/bin/env bash
# make install into a DESTDIR, then everything from the installed copy
# (make check): the files installed and nothing else; --version; rex(3)'s
# example built against the installed librex with pkg-config (shared and
# static); then, with the checkout and the build directory hidden under
# empty mounts (as root), exstress's short run and fdtrack --fail-on-leak on
# that example under legacy-448 (a leak: exit 23) and fixed (exit 0);
# finally make uninstall leaves nothing. BUILD names the build directory,
# MAKE_VARS its make variables (SAN=asan ...).
set -u
. "$(dirname "$0")/../scripts/tests/testlib.sh"
top=$(pwd -P)
BUILD=$(cd "${BUILD:-build}" && pwd -P) || exit 2
# MAKE_VARS: the build's SAN= and OPT= (the make check wrapper sets them)
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory BUILD="$BUILD" ${MAKE_VARS:-} "$@"; }

# A sanitizer build is never what gets installed (a program linking its
# librex would need the sanitizer's runtime too): make check runs this test
# on the plain build, check-asan and check-tsan say so and pass.
case " ${MAKE_VARS:-} " in *" SAN=asan "* | *" SAN=tsan "*)
	echo "skip: a sanitizer build (${MAKE_VARS}) is not what make install installs; make check tests the plain one"
	finish test_install ;;
esac

dest=$tmp/root
prefix=/opt/rex-test # not /usr/local: PREFIX must reach every path
root=$dest$prefix
version=$(scripts/version.sh) || exit 2

if ! mk install DESTDIR="$dest" PREFIX="$prefix" >"$tmp/install.log" 2>&1; then
	bad "make install failed:"
	cat "$tmp/install.log"
	finish test_install
fi
ok "make install DESTDIR=... PREFIX=$prefix"

(cd "$root" && find . \( -type f -o -type l \) | sort) >"$tmp/files"
cat >"$tmp/want" <<EOF
./bin/exstress
./bin/fdtrack
./include/rex.h
./lib/librex.a
./lib/librex.so
./lib/librex.so.0
./lib/librex.so.0.$(cut -d. -f2,3 VERSION)
./lib/pkgconfig/rex.pc
./share/man/man1/exstress.1
./share/man/man3/rex.3
./share/man/man8/fdtrack.8
EOF
# exstress's --runtime modules, where this tree builds them
for so in "$BUILD"/lib/exstress/*.so; do
	[ -e "$so" ] && echo "./lib/exstress/${so##*/}" >>"$tmp/want"
done
sort -o "$tmp/want" "$tmp/want"
diff -u "$tmp/want" "$tmp/files" >"$tmp/files.diff" && ok "installed: $(wc -l <"$tmp/files") files, as listed" ||
	{ bad "installed files differ from the list:"; cat "$tmp/files.diff"; }
[ -z "$(find "$dest" -path "$root" -prune -o -print | grep -v -x -e "$dest" -e "$dest/opt")" ] &&
	ok "nothing outside PREFIX" || bad "files outside $prefix"

for tool in fdtrack exstress; do
	out=$("$root/bin/$tool" --version 2>&1)
	[ "$out" = "$tool $version" ] && ok "$tool --version: $out" ||
		bad "$tool --version said '$out', not '$tool $version'"
done
grep -q "^\.TH .*\"fdtrack $version\"" "$root/share/man/man8/fdtrack.8" &&
	ok "the man pages carry the version" || bad "fdtrack.8 lacks the version"
if [ -f debian/changelog ] && command -v dpkg-parsechangelog >/dev/null; then
	deb=$(dpkg-parsechangelog -l debian/changelog -S Version)
	[ "${deb%-*}" = "$(cat VERSION)" ] && ok "debian/changelog's version $deb is VERSION's" ||
		bad "debian/changelog says $deb, VERSION $(cat VERSION)"
fi

# No path of the build tree compiled into what the tools read at run time
# (debug sections may name the sources; they are never read).
for tool in fdtrack exstress; do
	objcopy -O binary --only-section=.rodata --only-section=.data \
		"$root/bin/$tool" "$tmp/$tool.data" 2>/dev/null
	if grep -q -a -e "$BUILD" -e "$top/" "$tmp/$tool.data"; then
		bad "$tool has a build-tree path in its data: $(grep -a -o -e "$BUILD[^[:cntrl:]]*" -e "$top/[^[:cntrl:]]*" "$tmp/$tool.data" | head -n 3)"
	else
		ok "$tool has no path of $top or $BUILD in its data"
	fi
done

# rex(3)'s example against the installed librex, as a user would build it.
export PKG_CONFIG_PATH=$root/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
cp man/rex_example.c "$tmp/"
flags=$(pkg-config --cflags --libs rex 2>&1)
if cc -std=c11 -Wall -Werror -o "$tmp/rex_example" "$tmp/rex_example.c" $flags 2>"$tmp/cc.log"; then
	ok "built rex_example with pkg-config --cflags --libs rex ($flags)"
else
	bad "cc rex_example.c $flags:"
	cat "$tmp/cc.log"
fi
needed=$(readelf -d "$tmp/rex_example" 2>/dev/null | grep -o 'librex[^]]*')
[ "$needed" = librex.so.0 ] && ok "rex_example needs librex.so.0 (the SONAME)" ||
	bad "rex_example needs '$needed', not librex.so.0"
static_libs=$(pkg-config --static --libs-only-l rex | sed 's/-lrex//')
cc -std=c11 -Wall -Werror -o "$tmp/rex_example_static" "$tmp/rex_example.c" \
	$(pkg-config --cflags rex) "$root/lib/librex.a" $static_libs 2>"$tmp/cc.log" &&
	ok "built rex_example against librex.a (pkg-config --static: $static_libs)" ||
	{ bad "static build:"; cat "$tmp/cc.log"; }
out=$(LD_LIBRARY_PATH=$root/lib "$tmp/rex_example" 2>&1)
[ "$out" = "fixed: parked tasks dropped: 1" ] && ok "rex_example (shared): $out" || bad "rex_example said '$out'"
out=$("$tmp/rex_example_static" legacy-448 2>&1)
[ "$out" = "legacy-448: parked tasks dropped: 0" ] && ok "rex_example (static): $out" || bad "rex_example_static said '$out'"

# From here on only the installed copy can be read: the checkout and the
# build directory are hidden under empty tmpfs mounts (root only).
cat >"$tmp/run.sh" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH=$root/lib
find "$top" "$BUILD" -mindepth 1 -maxdepth 1 2>/dev/null | grep -q . && { echo "the tree is still visible"; exit 2; }
$root/bin/exstress --scenario issue448 --iterations 100 --quiet > $tmp/exs.out 2>&1; echo "exstress fixed \$?"
$root/bin/exstress --policy legacy-448 --scenario issue448 --iterations 100 --quiet > $tmp/exs-leak.out 2>&1; echo "exstress legacy-448 \$?"
$root/bin/fdtrack --fail-on-leak -- $tmp/rex_example legacy-448 > $tmp/fdt-leak.out 2>&1; echo "fdtrack legacy-448 \$?"
$root/bin/fdtrack --fail-on-leak -- $tmp/rex_example > $tmp/fdt.out 2>&1; echo "fdtrack fixed \$?"
EOF
chmod +x "$tmp/run.sh"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	hide="mount -t tmpfs none '$top'"
	case "$BUILD/" in "$top"/*) ;; *) hide="$hide && mount -t tmpfs none '$BUILD'" ;; esac
	if unshare -m sh -c "$hide && '$tmp/run.sh'" >"$tmp/results" 2>&1; then
		ok "ran with $top and $BUILD hidden"
	else
		bad "could not run with the tree hidden: $(cat "$tmp/results")"
	fi
	want=$'exstress fixed 0\nexstress legacy-448 1\nfdtrack legacy-448 23\nfdtrack fixed 0'
	if [ "$(cat "$tmp/results")" = "$want" ]; then
		ok "installed exstress: fixed passes (0), legacy-448 leaks (1)"
		ok "installed fdtrack --fail-on-leak: legacy-448's eventfd a leak (23), fixed 0"
	else
		bad "installed tools, exit codes: $(tr '\n' ' ' <"$tmp/results")(want: $(echo "$want" | tr '\n' ' '))"
		tail -n 5 "$tmp"/exs.out "$tmp"/exs-leak.out "$tmp"/fdt-leak.out "$tmp"/fdt.out 2>/dev/null
	fi
	grep -q 'by rex_notifier_new' "$tmp/fdt-leak.out" &&
		ok "fdtrack names the leak's opener (rex_notifier_new, in the installed librex)" ||
		bad "fdtrack's report lacks rex_notifier_new"
elif [ "${FDTRACK_REQUIRE_BPF:-}" = 1 ]; then
	bad "FDTRACK_REQUIRE_BPF=1 but not root: the installed fdtrack was not run"
else
	echo "skip the hidden-tree run and fdtrack: not root"
	out=$("$root/bin/exstress" --scenario issue448 --iterations 100 --quiet --probe off 2>&1)
	[ $? = 0 ] && ok "installed exstress --probe off passes" || bad "installed exstress: $out"
fi

mk uninstall DESTDIR="$dest" PREFIX="$prefix" >"$tmp/uninstall.log" 2>&1 || bad "make uninstall failed: $(cat "$tmp/uninstall.log")"
left=$(find "$dest" \( -type f -o -type l \) | sed "s|^$dest||")
[ -z "$left" ] && ok "make uninstall left no file" || bad "make uninstall left:" $left

finish test_install
