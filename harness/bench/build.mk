# bench: librex / fdtrack speed, each figure beside its floor in one run.
#   build/bin/bench                   the benchmark program: main.c (CLI, the
#                                     figure table), measure.c (repetitions,
#                                     interleaving, stats, JSON, Markdown),
#                                     fig_*.c (one file per figure family)
#   build/test/bench/test_bench_smoke make check: bench --smoke, JSON checked
#   make bench                        full run: Markdown table on stdout,
#                                     results/bench.json
# The no-op tp_btf/sys_exit object (the floor of fdtrack_syscall_overhead) is
# generated like bpf/build.mk's: clang -target bpf, bpftool gen skeleton.

BENCH_BPFTOOL    ?= $(or $(BPFTOOL),$(shell command -v bpftool 2>/dev/null),/usr/sbin/bpftool)
BENCH_CLANG      ?= $(or $(CLANG),clang)
BENCH_LLVM_STRIP ?= $(or $(LLVM_STRIP),llvm-strip)

BENCH_GEN   := $(BUILD)/obj/bench
BENCH_BIN   := $(BUILD)/bin/bench
BENCH_SMOKE := $(BUILD)/test/bench/test_bench_smoke
BENCH_JSON  ?= results/bench.json
BENCH_EXS   := $(BUILD)/bin/exstress
BENCH_OBJS   = $(patsubst harness/bench/%.c,$(BENCH_GEN)/%.o,$(filter-out %.bpf.c,$(wildcard harness/bench/*.c)))

ifneq ($(wildcard bpf/fdtrack.c),)
BENCH_FDT_LIB  = $(or $(FDTRACK_LIB),$(BUILD)/lib/libfdtrack.a)
BENCH_FDT_LIBS = $(or $(FDTRACK_LIBS),$(call pc_libs,libbpf libdw libelf zlib))
BENCH_FDT_CFL  = $(or $(FDTRACK_CFLAGS),-Ibpf)
else
BENCH_FDT_LIB  =
BENCH_FDT_LIBS = $(call pc_libs,libbpf libelf zlib)
BENCH_FDT_CFL  = -DBENCH_NO_FDTRACK
endif

# exstress_iteration runs exstress's runner, sampler and verdict fold in
# process: every exstress object but its main() and one scenario's run, and
# not heap.o (it would replace malloc in the bench too).
BENCH_EXS_OBJS = $(filter-out %/main.o %/run.o %/heap.o,$(EXS_TOOL:%=$(EXS_OBJ)/%.o))

# The programs fdtrack's figures run (fig_fdtrack.c), not linked into bench,
# and built without the sanitizers of make check-asan/-tsan: they are the
# programs under test of fdtrack (which ptrace-seizes them, and
# LeakSanitizer refuses to run under ptrace), not our code under test.
BENCH_TARGET_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O2 \
		      -fno-omit-frame-pointer -pthread
BENCH_UV_LOOPS := $(BUILD)/test/bench/uv_loops
BENCH_FD_BURST := $(BUILD)/test/bench/fd_burst
BENCH_FDT_CLI  := $(BUILD)/bin/fdtrack

BENCH_CFLAGS = $(REX_CFLAGS) $(BENCH_FDT_CFL) -Iharness -I$(BENCH_GEN) $(call pc_cflags,libbpf) \
	       -DBENCH_EXSTRESS='"$(abspath $(BENCH_EXS))"' \
	       -DBENCH_FDTRACK='"$(abspath $(BENCH_FDT_CLI))"' \
	       -DBENCH_UV_LOOPS='"$(abspath $(BENCH_UV_LOOPS))"' \
	       -DBENCH_FD_BURST='"$(abspath $(BENCH_FD_BURST))"'

ALL_TARGETS += $(BENCH_BIN)
TEST_BINS   += $(BENCH_SMOKE)

$(BENCH_GEN)/noop.bpf.o: harness/bench/noop.bpf.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(BENCH_CLANG) -target bpf -g -O2 -Wall -Werror -c $< -o $@
	$(BENCH_LLVM_STRIP) -g $@

$(BENCH_GEN)/noop.skel.h: $(BENCH_GEN)/noop.bpf.o
	$(BENCH_BPFTOOL) gen skeleton $< name bench_noop_bpf > $@.tmp && mv $@.tmp $@

# Every object waits for the skeleton header (fig_syscall.c includes it;
# the .d files know only after a first build).
$(BENCH_GEN)/%.o: harness/bench/%.c $(BENCH_GEN)/noop.skel.h $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(BENCH_CFLAGS) -c -o $@ $<

$(BENCH_UV_LOOPS): harness/bench/targets/uv_loops.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(BENCH_TARGET_CFLAGS) -Icommon -o $@ $< $(call pc_cflags,libuv) $(call pc_libs,libuv)

$(BENCH_FD_BURST): harness/bench/targets/fd_burst.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(BENCH_TARGET_CFLAGS) -Icommon -o $@ $< -pthread

$(BENCH_BIN): $(BENCH_OBJS) $(BENCH_EXS_OBJS) $(REX_LIB) $(BENCH_FDT_LIB) $(COMMON_LIB) \
	      | $(BENCH_UV_LOOPS) $(BENCH_FD_BURST) $(BENCH_FDT_CLI)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(REX_LIBS) $(BENCH_FDT_LIBS) -lm

# The smoke test: the script with this build's paths filled in.
$(BENCH_SMOKE): harness/bench/smoke_test.sh harness/bench/check_json.py $(BENCH_BIN) $(BENCH_EXS) \
		$(BENCH_UV_LOOPS) $(BENCH_FD_BURST) $(BENCH_FDT_CLI)
	@mkdir -p $(@D)
	sed -e 's|@BENCH_BIN@|$(abspath $(BENCH_BIN))|' \
	    -e 's|@CHECK_JSON@|$(abspath harness/bench/check_json.py)|' \
	    -e 's|@EXSTRESS@|$(abspath $(BENCH_EXS))|' $< > $@.tmp
	chmod +x $@.tmp && mv $@.tmp $@

# make bench: optimised build (the default -O2; refuses sanitizer builds,
# whose numbers mean nothing), the full run, results/bench.json.
.PHONY: bench bench-smoke
bench: $(BENCH_BIN) $(BENCH_EXS)
	@if [ -n "$(SAN)" ]; then echo "bench: not with SAN=$(SAN)" >&2; exit 2; fi
	@mkdir -p $(dir $(BENCH_JSON))
	$(BENCH_BIN) --exstress $(BENCH_EXS) --json $(BENCH_JSON) $(BENCH_ARGS)

bench-smoke: $(BENCH_SMOKE)
	$(BENCH_SMOKE)

-include $(wildcard $(BENCH_GEN)/*.d)
