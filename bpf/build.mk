# fdtrack: eBPF tracker of every fd kind of a process (and, with -f, of the
# processes it starts).
#   build/lib/libfdtrack.a            the library (link with $(FDTRACK_LIBS))
#   build/bin/fdtrack                 the CLI
#   build/test/bpf/test_fdtrack*      Check suites: the library's syscall paths
#                                     (test_fdtrack), threads racing (_races),
#                                     kinds and syscalls (_kinds), the CLI
#                                     (_cli), -f and real programs (_follow),
#                                     stacks: DWARF, demangling (_stacks),
#                                     environment errors (_env), leak
#                                     groups through the library (_groups),
#                                     io_uring opens and full tables (_limits),
#                                     the verifier budget of every mode
#                                     (_budget);
#                                     their targets leaker, forker,
#                                     scm_rights, nofp_uring,
#                                     variant_siblings, dlopen_leak
# Generated, never committed: vmlinux.h (from the running kernel's BTF), the
# BPF object and its skeleton, all under $(BUILD)/obj/bpf.

BPFTOOL     ?= $(or $(shell command -v bpftool 2>/dev/null),/usr/sbin/bpftool)
CLANG       ?= clang
LLVM_STRIP  ?= llvm-strip
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

FDT_GEN     := $(BUILD)/obj/bpf
FDT_VMLINUX := $(FDT_GEN)/vmlinux.h
FDT_BPF_OBJ := $(FDT_GEN)/fdtrack.bpf.o
FDT_SKEL    := $(FDT_GEN)/fdtrack.skel.h
FDT_CLI     := $(BUILD)/bin/fdtrack
FDT_LEAKER  := $(BUILD)/test/bpf/leaker
FDT_TARGETS := $(FDT_LEAKER) $(BUILD)/test/bpf/forker $(BUILD)/test/bpf/scm_rights
FDT_TEST    := $(BUILD)/test/bpf/test_fdtrack
FDT_CLI_TEST := $(BUILD)/test/bpf/test_fdtrack_cli
FDT_KINDS_TEST := $(BUILD)/test/bpf/test_fdtrack_kinds
FDT_FOLLOW_TEST := $(BUILD)/test/bpf/test_fdtrack_follow
FDT_RACES_TEST := $(BUILD)/test/bpf/test_fdtrack_races
FDT_STACKS_TEST := $(BUILD)/test/bpf/test_fdtrack_stacks
FDT_ENV_TEST := $(BUILD)/test/bpf/test_fdtrack_env
FDT_GROUPS_TEST := $(BUILD)/test/bpf/test_fdtrack_groups
FDT_LIMITS_TEST := $(BUILD)/test/bpf/test_fdtrack_limits
FDT_BUDGET_TEST := $(BUILD)/test/bpf/test_fdtrack_budget
FDT_TESTLIB := $(BUILD)/obj/bpf-tests/fdtrack_testlib.o

# Built without frame pointers, as optimised code and liburing are: the
# DWARF unwinding test's target.
FDT_NOFP := $(BUILD)/test/bpf/nofp_uring
$(FDT_NOFP): bpf/tests/nofp_uring.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O2 \
	  -fomit-frame-pointer -o $@ $< $(call pc_libs,liburing)

# Two call paths with one frame-pointer key (the variant cache's test):
# main with a frame pointer, the leaf functions without. -O1: -O2 peels the
# first iteration of its loop, a second call site and so a third variant.
FDT_VARIANTS_T := $(BUILD)/test/bpf/variant_siblings
$(FDT_VARIANTS_T): bpf/tests/variant_siblings.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
	  -fno-omit-frame-pointer -o $@ $<

# A function inlined into another (the inline frames' test), -O2 as
# released code is.
FDT_INLINED := $(BUILD)/test/bpf/inlined
$(FDT_INLINED): bpf/tests/inlined.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O2 \
	  -fno-omit-frame-pointer -o $@ $<

# The dlopen test's target and its module (loaded after fdtrack read the
# maps), the module without frame pointers as shared libraries are.
FDT_DLOPEN := $(BUILD)/test/bpf/dlopen_leak
FDT_DLOPEN_MOD := $(BUILD)/test/bpf/dlopen_mod.so
$(FDT_DLOPEN): bpf/tests/dlopen_leak.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O2 \
	  -fno-omit-frame-pointer -o $@ $< -ldl
$(FDT_DLOPEN_MOD): bpf/tests/dlopen_mod.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra -Werror -g -O2 -fomit-frame-pointer \
	  -fPIC -shared -o $@ $<

# The demangling test's targets: a C++ method, and a Rust method built with
# each of rustc's symbol manglings (legacy is unstable on rustc >= 1.59,
# hence RUSTC_BOOTSTRAP for that one flag; Debian's rustc and newer ones
# alike). Built here, never committed.
FDT_CXX := $(BUILD)/test/bpf/cxx_notifier
FDT_RUST_LEGACY := $(BUILD)/test/bpf/rust_notifier_legacy
FDT_RUST_V0 := $(BUILD)/test/bpf/rust_notifier_v0
$(FDT_CXX): bpf/tests/cxx_notifier.cpp $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer \
	  -o $@ $<
$(FDT_RUST_LEGACY): bpf/tests/rust_notifier.rs $(DEPS_STAMP)
	@mkdir -p $(@D)
	env -u MAKEFLAGS RUSTC_BOOTSTRAP=1 rustc --crate-name rust_notifier -g -C opt-level=1 \
	  -C force-frame-pointers=yes -Z unstable-options \
	  -C symbol-mangling-version=legacy -o $@ $<
$(FDT_RUST_V0): bpf/tests/rust_notifier.rs $(DEPS_STAMP)
	@mkdir -p $(@D)
	env -u MAKEFLAGS rustc --crate-name rust_notifier -g -C opt-level=1 \
	  -C force-frame-pointers=yes -C symbol-mangling-version=v0 -o $@ $<

# For users of the library (exstress): compile with FDTRACK_CFLAGS, link
# $(FDTRACK_LIB) $(FDTRACK_LIBS).
FDTRACK_LIB    := $(BUILD)/lib/libfdtrack.a
FDTRACK_CFLAGS  = -Ibpf $(COMMON_CFLAGS)
FDTRACK_LIBS    = $(call pc_libs,libbpf libdw libelf zlib) -liberty

FDT_CFLAGS  = -Ibpf -I$(FDT_GEN) $(COMMON_CFLAGS) $(call pc_cflags,libbpf libdw)

ALL_TARGETS += $(FDTRACK_LIB) $(FDT_CLI)
TEST_BINS   += $(FDT_TEST) $(FDT_RACES_TEST) $(FDT_KINDS_TEST) $(FDT_CLI_TEST) \
	       $(FDT_FOLLOW_TEST) $(FDT_STACKS_TEST) $(FDT_ENV_TEST) \
	       $(FDT_GROUPS_TEST) $(FDT_LIMITS_TEST) $(FDT_BUDGET_TEST)

$(FDT_VMLINUX): $(DEPS_STAMP)
	@mkdir -p $(@D)
	@test -r $(VMLINUX_BTF) || { echo "fdtrack: no kernel BTF at $(VMLINUX_BTF);" \
	  "boot a kernel with CONFIG_DEBUG_INFO_BTF=y or set VMLINUX_BTF=<vmlinux with BTF>" >&2; exit 1; }
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

# The BPF objects: clang for the bpf target, never $(CFLAGS) or sanitizers.
# One source built twice (fdtrack_classify.bpf.h): FDT_BPF_OBJ reads kernel
# memory through the kfunc bpf_rdonly_cast() (Linux 6.2+, plain loads),
# FDT_BPF_CORE_OBJ through bpf_probe_read_kernel() (any kernel: 6.1). The
# skeleton is made from the first; the library loads the second's bytes
# into it where the kernel's BTF has no bpf_rdonly_cast (load.c). Same
# programs, maps and globals in both.
FDT_BPF_CORE_OBJ := $(FDT_GEN)/fdtrack_core.bpf.o
FDT_CORE_SKEL    := $(FDT_GEN)/fdtrack_core.skel.h
FDT_BPF_SRCS := bpf/fdtrack.bpf.c $(wildcard bpf/fdtrack_*.bpf.h) bpf/fdtrack_shared.h common/fdkind.h $(FDT_VMLINUX)
# -fdebug-prefix-map: the BTF's line info (kept by llvm-strip -g, for the
# verifier's log) names the sources relative to the tree, so no path of the
# build machine is compiled into fdtrack.
FDT_CLANG_BPF = $(CLANG) -target bpf -mcpu=v3 -g -O2 -D__TARGET_ARCH_x86 -Wall -Werror \
	  -fdebug-prefix-map=$(CURDIR)=. -I$(FDT_GEN) -Ibpf -Icommon $(call pc_cflags,libbpf)
$(FDT_BPF_OBJ): $(FDT_BPF_SRCS)
	$(FDT_CLANG_BPF) -DFDT_KFUNC_READS -c $< -o $@
	$(LLVM_STRIP) -g $@
$(FDT_BPF_CORE_OBJ): $(FDT_BPF_SRCS)
	$(FDT_CLANG_BPF) -c $< -o $@
	$(LLVM_STRIP) -g $@

$(FDT_SKEL): $(FDT_BPF_OBJ) $(FDT_CORE_SKEL)
	$(BPFTOOL) gen skeleton $< name fdtrack_bpf > $@.tmp && mv $@.tmp $@
$(FDT_CORE_SKEL): $(FDT_BPF_CORE_OBJ)
	$(BPFTOOL) gen skeleton $< name fdtrack_core_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/bpf/%.o: bpf/%.c $(FDT_SKEL) $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(FDT_CFLAGS) -c -o $@ $<

# One relocatable object whose only global symbols are the fdtrack_* API
# (fdtrack.h): the parts' own functions (map_fd, proc_add, unwind_window,
# ...) are linked to each other and made local, so a program linking the
# library cannot collide with them or call them. The build fails if
# anything else stays global.
FDT_LIB_OBJS := $(addprefix $(BUILD)/obj/bpf/,fdtrack.o load.o diagnose.o procs.o groups.o symbolize.o unwind.o windows.o ring.o socknames.o)
$(FDTRACK_LIB): $(FDT_LIB_OBJS)
	@mkdir -p $(@D) $(BUILD)/obj/bpf-lib
	$(LD) -r -o $(BUILD)/obj/bpf-lib/libfdtrack.o $^
	objcopy --wildcard --keep-global-symbol='fdtrack_*' \
	  $(BUILD)/obj/bpf-lib/libfdtrack.o
	@leaked=$$(nm -g --defined-only $(BUILD)/obj/bpf-lib/libfdtrack.o | \
	  awk '$$3 !~ /^fdtrack_/ {print $$3}'); \
	  [ -z "$$leaked" ] || { echo "libfdtrack exports more than fdtrack_*: $$leaked" >&2; exit 1; }
	rm -f $@ && $(AR) rcs $@ $(BUILD)/obj/bpf-lib/libfdtrack.o

$(FDT_CLI): $(BUILD)/obj/bpf/fdtrack_cli.o $(BUILD)/obj/bpf/cli_command.o $(BUILD)/obj/bpf/cli_report.o \
	    $(BUILD)/obj/bpf/cli_suppress.o $(FDTRACK_LIB) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(FDTRACK_LIBS)

# The CLI's test targets: plain flags, no sanitizer (LeakSanitizer would try
# to ptrace them at exit, and fdtrack already ptraces them).
$(FDT_TARGETS): $(BUILD)/test/bpf/%: bpf/tests/%.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
	  -fno-omit-frame-pointer -pthread -o $@ $< $(call pc_libs,liburing)

$(BUILD)/obj/bpf-tests/%.o: bpf/tests/%.c $(FDT_SKEL) $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(FDT_CFLAGS) $(call pc_cflags,check liburing) \
	  -DFDT_CLI_PATH='"$(abspath $(FDT_CLI))"' \
	  -DFDT_LEAKER_PATH='"$(abspath $(FDT_LEAKER))"' \
	  -DFDT_FORKER_PATH='"$(abspath $(BUILD)/test/bpf/forker)"' \
	  -DFDT_SCM_PATH='"$(abspath $(BUILD)/test/bpf/scm_rights)"' \
	  -DFDT_ASYNCIO_PATH='"$(abspath bpf/tests/asyncio_leak.py)"' \
	  -DFDT_NOFP_PATH='"$(abspath $(FDT_NOFP))"' \
	  -DFDT_VARIANTS_PATH='"$(abspath $(FDT_VARIANTS_T))"' \
	  -DFDT_DLOPEN_PATH='"$(abspath $(FDT_DLOPEN))"' \
	  -DFDT_DLOPEN_MOD_PATH='"$(abspath $(FDT_DLOPEN_MOD))"' \
	  -DFDT_CXX_PATH='"$(abspath $(FDT_CXX))"' \
	  -DFDT_INLINED_PATH='"$(abspath $(FDT_INLINED))"' \
	  -DFDT_RUST_LEGACY_PATH='"$(abspath $(FDT_RUST_LEGACY))"' \
	  -DFDT_RUST_V0_PATH='"$(abspath $(FDT_RUST_V0))"' \
	  -DFDT_BPF_OBJ_PATH='"$(abspath $(FDT_BPF_OBJ))"' \
	  -DFDT_BPF_CORE_OBJ_PATH='"$(abspath $(FDT_BPF_CORE_OBJ))"' \
	  -DFDT_STACK_BUDGET_PATH='"$(abspath bpf/tools/stack_budget.py)"' -c -o $@ $<

$(BUILD)/test/bpf/%: $(BUILD)/obj/bpf-tests/%.o $(FDT_TESTLIB) $(COMMON_CHECK_OBJ) $(FDTRACK_LIB) $(COMMON_LIB) | $(FDT_CLI) $(FDT_TARGETS) $(FDT_NOFP) $(FDT_VARIANTS_T) $(FDT_DLOPEN) $(FDT_DLOPEN_MOD) \
	  $(FDT_CXX) $(FDT_RUST_LEGACY) $(FDT_RUST_V0) $(FDT_INLINED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(FDTRACK_LIBS) \
	  $(call pc_libs,check liburing)

-include $(wildcard $(BUILD)/obj/bpf/*.d $(BUILD)/obj/bpf-tests/*.d)
