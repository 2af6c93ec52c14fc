#!/usr/bin/env bash
# Checks that every build and test dependency is present. As root it installs
# the missing Debian packages; otherwise it prints the exact apt-get line and
# fails, so a build never dies later on a missing header.
#
# usage: scripts/deps.sh [--check]   (--check: report only, never install)
set -u

# "how to test it" -> Debian package
declare -a missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_pc() {
	command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1" 2>/dev/null ||
		missing+=("$2")
}
need_file() { [ -e "$1" ] || missing+=("$2"); }
need_glob() { compgen -G "$1" >/dev/null || missing+=("$2"); }
need_py() { /usr/bin/python3 -c "import $1" >/dev/null 2>&1 || missing+=("$2"); }

check_all() {
	missing=()
	need_cmd gcc gcc
	need_cmd make make
	need_cmd pkg-config pkg-config
	need_pc liburing liburing-dev
	need_pc libbpf libbpf-dev
	need_pc check check
	need_pc libdw libdw-dev
	need_pc libelf libelf-dev
	need_pc zlib zlib1g-dev
	need_file /usr/include/libiberty/demangle.h libiberty-dev # fdtrack: names
	need_pc libuv libuv1-dev       # bench: fdtrack's cost to a libuv program
	# exstress --runtime: the event-loop adapters (harness/adapters/)
	need_pc libevent_pthreads libevent-dev
	need_pc glib-2.0 libglib2.0-dev
	need_cmd cargo cargo
	need_glob '/usr/share/cargo/registry/tokio-1.*' librust-tokio-dev
	need_cmd g++ g++               # fdtrack tests: a C++ target
	need_cmd rustc rustc           # fdtrack tests: Rust targets (std only)
	need_cmd clang clang
	need_cmd llvm-strip llvm
	need_cmd bpftool bpftool
	# libFuzzer for the harness's fuzz targets (clang -fsanitize=fuzzer)
	need_glob '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' libclang-rt-14-dev
	need_file /usr/bin/python3 python3
	need_py matplotlib python3-matplotlib
}

check_all
[ ${#missing[@]} -eq 0 ] && exit 0

# de-duplicate, keep order
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
line="apt-get install -y ${pkgs[*]}"

if [ "${1:-}" = "--check" ] || [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages: ${pkgs[*]}" >&2
	echo "deps: install them with:  sudo $line" >&2
	exit 1
fi

echo "deps: installing ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y "${pkgs[@]}" >&2; then
	apt-get update >&2 && apt-get install -y "${pkgs[@]}" >&2 || {
		echo "deps: '$line' failed; see the apt output above" >&2
		exit 1
	}
fi
check_all
if [ ${#missing[@]} -ne 0 ]; then
	echo "deps: still missing after install: ${missing[*]}" >&2
	exit 1
fi
