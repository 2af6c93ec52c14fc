#!/usr/bin/env bash
# The kernel matrix: boots each Debian kernel of scripts/kernels/kernels.list
# under QEMU and runs fdtrack there: --bpf-stats in its 6 modes (verified
# insns, load time), the test_fdtrack* binaries with FDTRACK_REQUIRE_BPF=1,
# and exstress issue448 with --policy fixed (must exit 0) and legacy-448
# (must exit 1). Prints a table per kernel; exits 1 if any kernel failed
# anything (a load, a test, a verdict, a boot that never reached the end).
#
# usage: scripts/check-kernels.sh [--only LABEL] [--quick] [--timeout SECS]
#                                 [--accel auto|kvm|tcg] [--list FILE] [--report]
#   --only LABEL    run one kernel of the list (its first column)
#   --quick         only --bpf-stats and the two exstress runs, no test binaries
#   --timeout SECS  per kernel, boot to power-off (default: 900 with --quick,
#                   2400 without; TCG takes 1 and 4 minutes here)
#   --accel         kvm where /dev/kvm works and the CPU shows vmx or svm (auto,
#                   the default), else tcg
#   --report        boot nothing: print the tables of the last run again
#
# The kernel packages are downloaded (apt-get download, a private apt state:
# the host's apt configuration and /boot are never touched) and extracted
# into build/kernels/<release>_<version>/; each run's initramfs, console log
# and result lines are in build/kernels/run/<label>/. The guest sees the
# host's root read-only (virtio-9p) under a tmpfs overlay, so it runs this
# tree's build/ as it is: build it first (make -j2 all and the test binaries;
# `make check-kernels` does). Under TCG (no kvm) the guest has 2 vCPUs on
# 2 host threads; a guest that dies of "Oops: int3" there (stale code after
# the kernel patched itself, a TCG artefact) boots once more on one thread.
# The test binaries run SCHED_RR in the guest, but test_fdtrack_races and the
# exstress runs, which check what fdtrack promises when the kernel skips runs
# of its programs (7.x's lazy preemption, docs/design.md 4.1b), do not.
# Env: BUILD (default build), KCHECK_CK_MULT (Check's CK_TIMEOUT_MULTIPLIER in
# the guest; default 1 under kvm, 10 under tcg).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-build}
case $BUILD in /*) build_abs=$BUILD ;; *) build_abs=$repo/$BUILD ;; esac
list=$here/kernels/kernels.list
cache=$build_abs/kernels
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=http://deb.debian.org/debian
security=http://deb.debian.org/debian-security
budget=150000
modes=(default --frame-pointers --no-stacks -f "-f --frame-pointers" "-f --no-stacks")
# in the order busybox insmod loads them (their dependencies first)
guest_modules=(virtio_pci 9pnet_virtio 9p overlay loop)

only='' quick=0 timeout='' accel=auto report_only=0
die() { echo "check-kernels: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--only) only=${2:?--only needs a label}; shift ;;
	--only=*) only=${1#*=} ;;
	--quick) quick=1 ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift ;;
	--timeout=*) timeout=${1#*=} ;;
	--accel) accel=${2:?--accel needs kvm, tcg or auto}; shift ;;
	--accel=*) accel=${1#*=} ;;
	--list) list=${2:?--list needs a file}; shift ;;
	--report) report_only=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option '$1'" ;;
	esac
	shift
done
[[ -z $timeout || $timeout =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds, not '$timeout'"
[ -n "$timeout" ] || { [ "$quick" = 1 ] && timeout=900 || timeout=2400; }
case $accel in auto | kvm | tcg) ;; *) die "--accel must be auto, kvm or tcg, not '$accel'" ;; esac
[ -r "$list" ] || die "no kernel list $list"

# --- tools: qemu and a static busybox (installed here as root) --------------
tools_missing() {
	local m=()
	command -v qemu-system-x86_64 >/dev/null 2>&1 || m+=(qemu-system-x86)
	{ [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'; } ||
		m+=(busybox-static)
	command -v xz >/dev/null 2>&1 || m+=(xz-utils)
	command -v zstd >/dev/null 2>&1 || m+=(zstd)
	command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 ||
		die "apt-get and dpkg are needed to fetch Debian's kernel packages"
	echo "${m[*]}"
}
missing=''
[ "$report_only" = 1 ] || missing=$(tools_missing)
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] ||
		die "missing packages: $missing; install them with:  sudo apt-get install -y $missing"
	echo "check-kernels: installing $missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y $missing >&2 ||
		{ apt-get update >&2 && apt-get install -y $missing >&2; } ||
		die "'apt-get install -y $missing' failed; see the apt output above"
	missing=$(tools_missing)
	[ -z "$missing" ] || die "still missing after apt-get install: $missing"
fi

# --- what the guest runs -----------------------------------------------------
fdtrack=$build_abs/bin/fdtrack exstress=$build_abs/bin/exstress
for f in "$fdtrack" "$exstress"; do
	[ -x "$f" ] || die "no $f: build it first (make -j2 all, or make check-kernels)"
done
test_bins=()
for f in "$build_abs"/test/bpf/test_fdtrack*; do [ -f "$f" ] && [ -x "$f" ] && test_bins+=("${f##*/}"); done
[ "$quick" = 1 ] || [ ${#test_bins[@]} -gt 0 ] ||
	die "no $build_abs/test/bpf/test_fdtrack* binaries: build them first (make check-kernels does)"

# --- accelerator -----------------------------------------------------------
kvm_works() {
	[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	# A /dev/kvm without vmx/svm in the CPU flags (a VM without nested
	# virtualisation) opens and creates VMs, but its guests hang in early boot.
	grep -qwE 'vmx|svm' /proc/cpuinfo || return 1
	# qemu exits at once when kvm cannot start; a paused VM still running
	# after 3 s is a kvm that works.
	timeout 3 qemu-system-x86_64 -accel kvm -nodefaults -display none -monitor none \
		-serial none -S </dev/null >/dev/null 2>&1
	[ $? = 124 ]
}
if [ "$report_only" = 1 ]; then
	:
elif [ "$accel" = auto ]; then
	if kvm_works; then accel=kvm; else accel=tcg; fi
elif [ "$accel" = kvm ] && ! kvm_works; then
	die "--accel kvm: /dev/kvm is missing, or this CPU shows no vmx/svm, or kvm does not start here"
fi
[ "$accel" = kvm ] && cpu=host || cpu=max
ck_mult=${KCHECK_CK_MULT:-$([ "$accel" = kvm ] && echo 1 || echo 10)}

# --- a private apt state per suite --------------------------------------------
# A stable suite (bookworm, trixie, ...) with its -updates and -security; a
# suite with a dash (trixie-backports) or sid/unstable/experimental alone.
declare -A apt_ready=()
apt_opts() { # suite -> APTO
	local d=$cache/apt/$1
	APTO=(-o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State=$d/state" -o "Dir::Cache=$d/cache" -o Dir::State::status=/dev/null
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
		-o APT::Architecture=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q)
}
apt_update() { # suite
	local s=$1 d=$cache/apt/$1
	apt_opts "$s"
	[ -n "${apt_ready[$s]:-}" ] && return 0
	mkdir -p "$d/state/lists/partial" "$d/cache/archives/partial" || return 1
	{
		echo "deb [signed-by=$keyring] $mirror $s main"
		case $s in
		*-* | sid | unstable | experimental) ;;
		*)
			echo "deb [signed-by=$keyring] $mirror $s-updates main"
			echo "deb [signed-by=$keyring] $security $s-security main"
			;;
		esac
	} >"$d/sources.list"
	apt-get "${APTO[@]}" update >"$d/update.log" 2>&1 &&
		! grep -qE '^(W|E): ' "$d/update.log" || {
		sed 's/^/    /' "$d/update.log" >&2
		return 1
	}
	apt_ready[$s]=1
}
pkg_field() { # package field  (the candidate's)
	apt-cache "${APTO[@]}" show --no-all-versions "$1" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1
}

# --- one kernel's files: resolve, download, extract -------------------------
# Sets REL (uname -r), VER (the image package's version), IMG, KDIR (extracted
# tree), PKGS; returns 1 with ERR set.
fetch_kernel() { # suite metapackage
	local suite=$1 meta=$2 deps p d q=() seen=" "
	ERR=
	apt_update "$suite" || { ERR="apt-get update of suite $suite failed (see above)"; return 1; }
	[ -n "$(pkg_field "$meta" Version)" ] ||
		{ ERR="package $meta not found in suite $suite"; return 1; }
	# metapackage -> linux-image-<release> (a metapackage may name another:
	# follow linux-image-* dependencies until a package has none)
	IMG=$meta
	for _ in 1 2 3; do
		p=$(pkg_field "$IMG" Depends | tr ',|' '\n\n' | sed -E 's/^ +//; s/[ (].*//' |
			grep -E '^linux-image-[0-9]' | grep -vxF "$IMG" | head -n 1)
		[ -n "$p" ] || break
		IMG=$p
	done
	[ "$IMG" != "$meta" ] || [[ $meta =~ ^linux-image-[0-9]+\.[0-9]+\.[0-9] ]] ||
		{ ERR="$meta ($suite) depends on no linux-image-<release> package"; return 1; }
	REL=${IMG#linux-image-}
	VER=$(pkg_field "$IMG" Version)
	[ -n "$VER" ] || { ERR="package $IMG ($suite, from $meta) not found"; return 1; }
	# The image and whatever it needs of this release: the newer packaging
	# splits it into linux-image-R (empty), linux-binary-R (vmlinuz),
	# linux-modules-R and linux-base-R.
	PKGS=() q=("$IMG")
	while [ ${#q[@]} -gt 0 ]; do
		p=${q[0]} q=("${q[@]:1}")
		case $seen in *" $p "*) continue ;; esac
		seen+="$p " PKGS+=("$p")
		deps=$(pkg_field "$p" Depends; pkg_field "$p" Pre-Depends)
		for d in $(tr ',|' '\n\n' <<<"$deps" | sed -E 's/^ +//; s/[ (].*//'); do
			[[ $d == *"$REL"* ]] && q+=("$d")
		done
	done
	KDIR=$cache/${REL}_$VER
	if [ ! -e "$KDIR/.ok" ]; then
		rm -rf "$KDIR" && mkdir -p "$KDIR/dl" "$KDIR/root" || { ERR="cannot make $KDIR"; return 1; }
		echo "  downloading ${PKGS[*]} ($VER, $suite)" >&2
		(cd "$KDIR/dl" && apt-get "${APTO[@]}" download "${PKGS[@]}" >"$KDIR/download.log" 2>&1) || {
			sed 's/^/    /' "$KDIR/download.log" >&2
			ERR="download of ${PKGS[*]} ($VER, suite $suite) failed"
			return 1
		}
		for d in "$KDIR"/dl/*.deb; do
			dpkg -x "$d" "$KDIR/root" || { ERR="dpkg -x ${d##*/} failed"; return 1; }
		done
		rm -rf "$KDIR/dl"
		printf '%s\n' "${PKGS[@]}" >"$KDIR/.ok"
	fi
	return 0
}

# --- the initramfs -------------------------------------------------------------
# busybox, init, guest-run.sh, the config, and the guest modules (decompressed)
# in dependency order; sets ERR on failure.
modinfo_depends() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n 1; }
build_initramfs() { # kdir release out-dir
	local kdir=$1 rel=$2 out=$3 st=$3/initramfs moddir='' f n m
	declare -gA modpath=() builtin=() mod_done=()
	declare -ga mod_order=()
	ERR=
	for f in "$kdir/root/lib/modules/$rel" "$kdir/root/usr/lib/modules/$rel"; do
		[ -d "$f" ] && moddir=$f
	done
	[ -n "$moddir" ] || { ERR="no lib/modules/$rel in the kernel's packages"; return 1; }
	while IFS= read -r f; do
		n=${f##*/} n=${n%%.ko*} n=${n//-/_}
		modpath[$n]=$f
	done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
	if [ -r "$moddir/modules.builtin" ]; then
		while IFS= read -r f; do
			n=${f##*/} n=${n%.ko} n=${n//-/_}
			builtin[$n]=1
		done <"$moddir/modules.builtin"
	fi
	rm -rf "$st" && mkdir -p "$st"/{bin,dev,proc,sys,etc,modules,lower,upper,newroot} || return 1
	cp /bin/busybox "$st/bin/busybox" && cp "$here/kernels/init" "$st/init" &&
		cp "$here/kernels/guest-run.sh" "$st/guest-run.sh" && chmod 755 "$st/init" ||
		{ ERR="copying busybox, init or guest-run.sh into $st failed"; return 1; }
	[ "$(id -u)" = 0 ] && mknod -m 600 "$st/dev/console" c 5 1
	add_module() {
		local m=$1 src dst d
		[ -n "${mod_done[$m]:-}" ] && return 0
		mod_done[$m]=1
		if [ -z "${modpath[$m]:-}" ]; then
			[ -n "${builtin[$m]:-}" ] && return 0
			ERR="module $m is neither built in nor in $moddir"
			return 1
		fi
		src=${modpath[$m]} dst=$st/modules/$m.ko
		case $src in
		*.ko) cp "$src" "$dst" ;;
		*.xz) xz -dc "$src" >"$dst" ;;
		*.zst) zstd -qdc "$src" >"$dst" ;;
		*.gz) gzip -dc "$src" >"$dst" ;;
		esac || { ERR="decompressing $src failed"; return 1; }
		for d in $(modinfo_depends "$dst" | tr ',' ' '); do
			add_module "${d//-/_}" || return 1
		done
		mod_order+=("$m")
	}
	for m in "${guest_modules[@]}"; do add_module "$m" || return 1; done
	printf '%s\n' "${mod_order[@]}" >"$st/modules/order"
	cat >"$st/etc/kcheck.conf" <<-EOF
		KCHECK_REPO='$repo'
		KCHECK_BUILD='$build_abs'
		KCHECK_QUICK='$quick'
		KCHECK_CK_MULT='$ck_mult'
	EOF
	(cd "$st" && find . | busybox cpio -o -H newc >"$out/initramfs.cpio" 2>/dev/null) ||
		{ ERR="busybox cpio failed"; return 1; }
}

# --- boot and wait ------------------------------------------------------------
# Sets QEMU_SECS, QEMU_END (1 when END arrived), QEMU_TIMEOUT, QEMU_RC,
# QEMU_ACCEL (the -accel it ran with).
run_qemu() { # kernel out-dir [accel options]
	local kernel=$1 out=$2 opts=${3:-$accel} pid t0=$SECONDS
	: >"$out/console.log" && : >"$out/results.txt"
	qemu-system-x86_64 -accel "$opts" -cpu "$cpu" -m 4G -smp 2 \
		-nodefaults -no-reboot -display none -monitor none -vga none \
		-kernel "$kernel" -initrd "$out/initramfs.cpio" \
		-append "console=ttyS0 loglevel=4 panic=-1 oops=panic" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-serial "file:$out/console.log" -serial "file:$out/results.txt" \
		</dev/null >"$out/qemu.log" 2>&1 &
	pid=$!
	QEMU_END=0 QEMU_TIMEOUT=0 QEMU_ACCEL=$opts
	while kill -0 "$pid" 2>/dev/null; do
		if grep -q '^END' "$out/results.txt"; then
			QEMU_END=1
			for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
			kill "$pid" 2>/dev/null
			break
		fi
		if [ $((SECONDS - t0)) -ge "$timeout" ]; then
			QEMU_TIMEOUT=1
			kill "$pid" 2>/dev/null
			break
		fi
		sleep 1
	done
	wait "$pid"
	QEMU_RC=$?
	QEMU_SECS=$((SECONDS - t0))
	grep -q '^END' "$out/results.txt" && QEMU_END=1
	tr -d '\r' <"$out/results.txt" >"$out/results" 2>/dev/null
}

# --- one kernel's table ---------------------------------------------------------
max_insns=0 max_where=
declare -a summary=()
report() { # label suite meta out-dir ; prints the table, returns 1 on failure
	local label=$1 suite=$2 meta=$3 r=$4/results fails=() m rc secs l s n p t c f e
	local boot run_end start tp=0 tf=0 row
	boot=$(sed -n 's/^BOOT uptime=\([0-9.]*\).*/\1/p' "$r" | head -n 1)
	start=$(awk -F'|' '$1=="START" { print $2; exit }' "$r")
	run_end=$(awk -F'|' '$1=="END" { print $2; exit }' "$r")
	echo
	echo "== kernel $label: $REL ($IMG $VER; $suite, $meta) under ${QEMU_ACCEL:-$accel}"
	printf '   boot to init %s s, fdtrack run %s s, qemu start to exit %s s\n' "${boot:-?}" \
		"$(awk -v a="${start:-0}" -v b="${run_end:-0}" 'BEGIN { if (a > 0 && b > 0) printf "%.1f", b - a; else printf "?" }')" \
		"$QEMU_SECS"
	l=$(awk -F'|' '$1=="READS" && !seen[$3]++ { printf "%s%s", (n++ ? "; " : ""), $3 }' "$r")
	[ -z "$l" ] || echo "   kernel reads: $l"
	row="$label"
	# a guest that never reached init ran nothing: no tables
	[ -n "$boot" ] || row+=" - - - - - - - - -"
	[ -z "$boot" ] || {
		printf '   %-22s %13s  %-20s %7s %10s %6s  %s\n' mode "largest insns" program "load s" "start-up s" "run s" status
		for m in "${modes[@]}"; do
			l=$(awk -F'|' -v m="$m" '$1=="STATS" && $2==m' "$r" | tail -n 1)
			if [ -z "$l" ]; then
				printf '   %-22s %13s  %-20s %7s %10s %6s  %s\n' "$m" - - - - - "not run"
				[ "$QEMU_END" != 1 ] || fails+=("fdtrack --bpf-stats $m -- true did not run")
				row+=" -"
				continue
			fi
			IFS='|' read -r _ _ rc secs <<<"$l"
			read -r p n < <(awk -F'|' -v m="$m" '$1=="INSNS" && $2==m { if ($4 + 0 > best) { best = $4 + 0; p = $3 } }
				END { if (p != "") print p, best }' "$r")
			IFS='|' read -r _ _ s t < <(awk -F'|' -v m="$m" '$1=="LOAD" && $2==m' "$r" | tail -n 1)
			st=ok
			if [ "$rc" != 0 ]; then
				st="FAILED (exit $rc)"
				fails+=("fdtrack --bpf-stats $m -- true exited with $rc")
			elif [ -z "${n:-}" ]; then
				st="FAILED (no insn counts)"
				fails+=("fdtrack --bpf-stats $m printed no 'verified insns' line")
			elif [ "$n" -gt "$budget" ]; then
				st="OVER BUDGET"
				fails+=("$m: $p $n verified insns > budget $budget")
			fi
			if [ -n "${n:-}" ] && [ "$n" -gt "$max_insns" ]; then
				max_insns=$n max_where="$p, mode $m, kernel $label"
			fi
			printf '   %-22s %13s  %-20s %7s %10s %6s  %s\n' "$m" "${n:--}" "${p:--}" "${s:--}" "${t:--}" "$secs" "$st"
			row+=" ${n:-FAIL}/${s:--}"
			p='' n='' s='' t=''
		done
		if [ "$quick" != 1 ]; then
			printf '   %-26s %6s %6s %8s  %s\n' "test binary" passed failed "run s" status
			for b in "${test_bins[@]}"; do
				l=$(awk -F'|' -v b="$b" '$1=="TEST" && $2==b' "$r" | tail -n 1)
				if [ -z "$l" ]; then
					printf '   %-26s %6s %6s %8s  %s\n' "$b" - - - "not run"
					[ "$QEMU_END" != 1 ] || fails+=("$b did not run")
					continue
				fi
				IFS='|' read -r _ _ rc c f e secs <<<"$l"
				if [ "$c" = - ]; then
					st="FAILED (exit $rc, no Check summary)"
					fails+=("$b exited with $rc without Check's summary line")
					tf=$((tf + 1))
					printf '   %-26s %6s %6s %8s  %s\n' "$b" - - "$secs" "$st"
					continue
				fi
				tp=$((tp + c - f - e)) tf=$((tf + f + e)) st=ok
				if [ "$f" != 0 ] || [ "$e" != 0 ]; then
					st="FAILED"
					fails+=("$b: Checks: $c, Failures: $f, Errors: $e")
				elif [ "$rc" != 0 ]; then
					st="FAILED (exit $rc)"
					fails+=("$b exited with $rc")
				fi
				printf '   %-26s %6s %6s %8s  %s\n' "$b" "$((c - f - e))" "$((f + e))" "$secs" "$st"
			done
			printf '   %-26s %6s %6s\n' "tests" "$tp" "$tf"
			row+=" $tp/$tf"
		else
			row+=" -"
		fi
		for p in fixed legacy-448; do
			l=$(awk -F'|' -v p="$p" '$1=="EXSTRESS" && $2==p' "$r" | tail -n 1)
			[ "$p" = fixed ] && want=0 || want=1
			if [ -z "$l" ]; then
				echo "   exstress --policy $p: not run"
				[ "$QEMU_END" != 1 ] || fails+=("exstress --policy $p did not run")
				row+=" -"
				continue
			fi
			IFS='|' read -r _ _ rc secs <<<"$l"
			if [ "$rc" = "$want" ]; then st=ok; else
				st="WRONG (want exit $want)"
				fails+=("exstress --policy $p exited with $rc, want $want")
			fi
			printf '   exstress --policy %-11s exit %s %s (%s s)\n' "$p:" "$rc" "$st" "$secs"
			row+=" $rc"
		done
	}
	while IFS= read -r l; do fails+=("${l#ERROR }"); done < <(grep '^ERROR' "$r")
	grep '^WARN' "$r" | sed 's/^/   /'
	# the kernel's own last words, if it died
	l=$(tr -d '\r' <"$4/console.log" | grep -m 2 -E 'Kernel panic|Oops:|BUG:' | sed -E 's/^\[ *[0-9.]+\] //' | paste -sd '|' - | sed 's/|/; /g')
	l=${l:+; the kernel: $l}
	if [ -z "$boot" ]; then
		fails+=("never reached the guest's init in $QEMU_SECS s (qemu exit $QEMU_RC$l)")
	elif [ "$QEMU_END" != 1 ]; then
		if [ "$QEMU_TIMEOUT" = 1 ]; then
			fails+=("timed out after $timeout s, in: $(sed -n 's/^RUN|//p' "$r" | tail -n 1)$l")
		else
			fails+=("qemu exited ($QEMU_RC) after $QEMU_SECS s before the end, in: $(sed -n 's/^RUN|//p' "$r" | tail -n 1)$l")
		fi
	fi
	if [ ${#fails[@]} -eq 0 ]; then
		echo "   kernel $label: OK"
		summary+=("$row OK")
		return 0
	fi
	echo "   kernel $label: FAILED"
	printf '     - %s\n' "${fails[@]}"
	if grep -q '^LOG' "$r"; then
		echo "   output of the failed steps (all of it: $4/console.log):"
		# Check's lines "file:line:F:tcase:test:i: message": a message that
		# many checks share is printed once, with the names of the others
		awk -F'|' '$1 != "LOG" { next }
		{
			s = $2; sub(/^LOG\|[^|]*\|/, ""); t = $0; key = t
			if (match(t, /^[^:]+:[0-9]+:[FE]:[^:]*:[^:]*:[0-9]+: /)) {
				key = substr(t, RLENGTH + 1)
				split(t, a, ":"); who = s ":" a[5]
				if (key in first) { more[key] = more[key] ", " who; n[key]++; next }
			}
			first[key] = 1; k[++nk] = key; line[nk] = "     [" s "] " t
		}
		END {
			for (i = 1; i <= nk; i++) {
				print line[i]
				if (n[k[i]]) {
					m = substr(more[k[i]], 3)
					if (length(m) > 600) m = substr(m, 1, 600) "..."
					print "       (and " n[k[i]] " more checks with this message: " m ")"
				}
			}
		}' "$r"
	fi
	if [ -z "$boot" ] || [ "$QEMU_END" != 1 ]; then
		echo "   last console lines ($4/console.log):"
		tr -d '\r' <"$4/console.log" | tail -n 20 | sed 's/^/     /'
		[ -s "$4/qemu.log" ] && sed 's/^/     qemu: /' "$4/qemu.log"
	fi
	summary+=("$row FAILED")
	return 1
}

# --- the matrix -----------------------------------------------------------------
status=0 ran=0
mkdir -p "$cache" || die "cannot make $cache"
exec 9>"$cache/.lock"
flock -n 9 || die "another check-kernels is running (it holds $cache/.lock)"
if [ "$report_only" = 1 ]; then
	echo "check-kernels: the last run's tables ($cache/run/LABEL/results)"
else
	echo "check-kernels: $accel ($([ "$accel" = tcg ] && echo "no kvm: slow" || echo kvm)), -m 4G -smp 2," \
		"$([ "$quick" = 1 ] && echo quick || echo full) run, timeout $timeout s per kernel," \
		"CK_TIMEOUT_MULTIPLIER=$ck_mult"
fi
while read -r label suite meta rest; do
	case $label in '' | '#'*) continue ;; esac
	[ -z "$only" ] || [ "$only" = "$label" ] || continue
	[ -n "$meta" ] && [ -z "$rest" ] || die "$list: want 'LABEL SUITE METAPACKAGE', not '$label $suite $meta $rest'"
	ran=$((ran + 1))
	out=$cache/run/$label
	mkdir -p "$out" || die "cannot make $out"
	echo
	echo "check-kernels: $label: $meta from $suite"
	IMG=$meta VER='?'
	if [ "$report_only" = 1 ]; then
		if [ -r "$out/meta" ]; then
			# shellcheck disable=SC1091
			. "$out/meta"
			report "$label" "$suite" "$meta" "$out" || status=1
		else
			echo "== kernel $label: no earlier run in $out"
		fi
		continue
	fi
	if ! fetch_kernel "$suite" "$meta"; then
		echo "== kernel $label: FAILED: $ERR"
		summary+=("$label FAILED: $ERR")
		status=1
		continue
	fi
	# The version this label used before, if no other label uses it: old
	# versions leave the archive, and their files are 100-400 MB.
	prev=$(cat "$out/kdir" 2>/dev/null)
	echo "$KDIR" >"$out/kdir"
	if [ -n "$prev" ] && [ "$prev" != "$KDIR" ] && [ -d "$prev" ] &&
		! grep -qxF "$prev" "$cache"/run/*/kdir; then
		echo "  removing $prev (no label uses it now)"
		rm -rf "$prev"
	fi
	# /boot, or (newer packaging) beside the modules
	vmlinuz=''
	for f in boot/vmlinuz-$REL usr/lib/modules/$REL/vmlinuz lib/modules/$REL/vmlinuz; do
		[ -r "$KDIR/root/$f" ] && vmlinuz=$KDIR/root/$f && break
	done
	if [ -z "$vmlinuz" ]; then
		echo "== kernel $label: FAILED: no boot/vmlinuz-$REL nor modules/$REL/vmlinuz in ${PKGS[*]}"
		summary+=("$label FAILED: no vmlinuz")
		status=1
		continue
	fi
	if ! build_initramfs "$KDIR" "$REL" "$out"; then
		echo "== kernel $label: FAILED: initramfs: $ERR"
		summary+=("$label FAILED: initramfs: $ERR")
		status=1
		continue
	fi
	echo "  $REL ($IMG $VER), modules: ${mod_order[*]}; booting (console: $out/console.log)"
	run_qemu "$vmlinuz" "$out"
	# Multi-threaded TCG runs code another vCPU has just patched (the
	# kernel's int3-based text patching: static keys, alternatives) stale
	# now and then; the kernel then dies of an int3 it did not place. Not
	# fdtrack's doing: once more with one TCG thread for both vCPUs.
	if [ "$accel" = tcg ] && [ "$QEMU_END" != 1 ] && grep -q 'Oops: int3' "$out/console.log"; then
		cp "$out/console.log" "$out/console-int3.log"
		echo "  the guest died of 'Oops: int3' ($out/console-int3.log), a multi-threaded TCG" \
			"artefact: booting again with -accel tcg,thread=single"
		run_qemu "$vmlinuz" "$out" tcg,thread=single
	fi
	declare -p IMG VER REL accel quick timeout QEMU_SECS QEMU_END QEMU_TIMEOUT QEMU_RC QEMU_ACCEL >"$out/meta"
	report "$label" "$suite" "$meta" "$out" || status=1
done <"$list"
[ "$ran" -gt 0 ] || die "no kernel labelled '$only' in $list"

echo
echo "check-kernels: summary ($accel; per mode: largest verified insns/load s; tests passed/failed; exstress fixed, legacy-448 exits)"
printf '  %-8s' kernel
for m in "${modes[@]}"; do printf ' %-19s' "$m"; done
printf ' %-9s %-5s %-6s %s\n' tests fixed legacy result
for row in "${summary[@]}"; do
	read -r -a f <<<"$row"
	if [ ${#f[@]} -lt 11 ]; then echo "  $row"; continue; fi
	printf '  %-8s' "${f[0]}"
	for i in 1 2 3 4 5 6; do printf ' %-19s' "${f[$i]}"; done
	printf ' %-9s %-5s %-6s %s\n' "${f[7]}" "${f[8]}" "${f[9]}" "${f[10]}"
done
if [ "$max_insns" -gt 0 ]; then
	echo "  largest verified insn count over all kernels: $max_insns ($max_where)," \
		"budget $budget: $([ "$max_insns" -le "$budget" ] && echo within || echo OVER)"
fi
[ "$status" = 0 ] && echo "check-kernels: OK" || echo "check-kernels: FAILED"
exit "$status"
