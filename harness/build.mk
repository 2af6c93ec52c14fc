# exstress: the executor-teardown stress harness.
#   build/bin/exstress                   the tool
#   build/test/harness/exstress-fault    the same with EXS_TEST_FAULT (tests only)
#   build/test/harness/test_*            Check suites
#   make gate                            the CI verdict (exit code)
#   make soak                            10 minutes of `mixed`, results/soak/ (not CI)

# --runtime's built-in event loops (harness/adapters/, adapter.h): each a
# module beside exstress, $(BUILD)/lib/exstress/NAME.so, loaded with
# dlopen as a user's plugin is (so a loop library's constructor runs only
# in the runs that ask for it). pkg-config names: scripts/deps.sh.
EXS_ADAPTERS     := libuv libevent glib tokio
EXS_PC_libuv     := libuv
EXS_PC_libevent  := libevent_pthreads
EXS_PC_glib      := glib-2.0
EXS_ADAPTER_DIR   = $(BUILD)/lib/exstress
EXS_ADAPTER_SOS   = $(EXS_ADAPTERS:%=$(EXS_ADAPTER_DIR)/%.so)
EXS_CORE      := sampler stats cli output
EXS_TOOL      := $(EXS_CORE) probe runner waker tasks issue448 workers run main test_faults heap \
                 target
EXS_OBJ        = $(BUILD)/obj/harness
EXS_BIN       := $(BUILD)/bin/exstress
EXS_FAULT_BIN := $(BUILD)/test/harness/exstress-fault

# fdtrack: use bpf/build.mk's names when it defines them. Without its
# sources the probe is compiled out (and --probe require fails, loudly).
ifneq ($(wildcard bpf/fdtrack.c),)
EXS_FDTRACK_LIB  = $(or $(FDTRACK_LIB),$(BUILD)/lib/libfdtrack.a)
EXS_FDTRACK_LIBS = $(or $(FDTRACK_LIBS),$(call pc_libs,libbpf libelf zlib libdw))
EXS_CFLAGS       = -Iharness $(or $(FDTRACK_CFLAGS),-Ibpf) $(REX_CFLAGS)
else
EXS_FDTRACK_LIB  =
EXS_FDTRACK_LIBS =
EXS_CFLAGS       = -Iharness -Ibpf -DEXS_NO_FDTRACK $(REX_CFLAGS)
endif

EXS_TESTS := $(patsubst harness/tests/%.c,$(BUILD)/test/harness/%,$(wildcard harness/tests/test_*.c))

ALL_TARGETS += $(EXS_BIN)
TEST_BINS   += $(EXS_TESTS)

$(EXS_OBJ)/%.o: harness/%.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(EXS_CFLAGS) -c -o $@ $<

ALL_TARGETS += $(EXS_ADAPTER_SOS)
# tokio: a Rust cdylib with the same C ABI, built by cargo offline from
# Debian's crate sources (librust-tokio-dev; harness/adapters/tokio/.cargo)
EXS_TOKIO_SRC := $(wildcard harness/adapters/tokio/src/*.rs) harness/adapters/tokio/Cargo.toml \
		 harness/adapters/tokio/Cargo.lock harness/adapters/tokio/.cargo/config.toml
$(EXS_ADAPTER_DIR)/tokio.so: $(EXS_TOKIO_SRC) $(DEPS_STAMP)
	@mkdir -p $(@D)
	cd harness/adapters/tokio && CARGO_TARGET_DIR=$(abspath $(BUILD))/tokio-target \
		cargo build --release --offline --locked --quiet
	cp $(abspath $(BUILD))/tokio-target/release/libexstress_tokio.so $@
$(EXS_ADAPTER_DIR)/%.so: harness/adapters/%.c harness/adapter.h $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -shared -Iharness $(call pc_cflags,$(EXS_PC_$*)) -o $@ $< \
		$(LDFLAGS) $(call pc_libs,$(EXS_PC_$*))

$(EXS_OBJ)/fault/test_faults.o: harness/test_faults.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(EXS_CFLAGS) -DEXS_TEST_FAULTS -c -o $@ $<

$(EXS_BIN): $(EXS_TOOL:%=$(EXS_OBJ)/%.o) $(REX_LIB) $(EXS_FDTRACK_LIB) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(REX_LIBS) $(EXS_FDTRACK_LIBS) -ldl -lm

$(EXS_FAULT_BIN): $(filter-out %/test_faults.o,$(EXS_TOOL:%=$(EXS_OBJ)/%.o)) $(EXS_OBJ)/fault/test_faults.o \
		  $(REX_LIB) $(EXS_FDTRACK_LIB) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(REX_LIBS) $(EXS_FDTRACK_LIBS) -ldl -lm

# Unit tests link only the pieces they test; test_exstress runs the tools.
$(EXS_OBJ)/tests/%.o: harness/tests/%.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(EXS_CFLAGS) $(call pc_cflags,check) \
		-DEXS_BIN='"$(abspath $(EXS_BIN))"' -DEXS_FAULT_BIN='"$(abspath $(EXS_FAULT_BIN))"' \
		-DEXS_FDTRACK_CLI='"$(abspath $(BUILD)/bin/fdtrack)"' \
		-DEXS_EXAMPLE_SO='"$(abspath $(EXS_EXAMPLE))"' \
		-DEXS_EXAMPLE_BAD_SO='"$(abspath $(EXS_EXAMPLE_BAD))"' \
		-c -o $@ $<

$(BUILD)/test/harness/test_%: $(EXS_OBJ)/tests/test_%.o $(EXS_CORE:%=$(EXS_OBJ)/%.o) \
		$(COMMON_CHECK_OBJ) $(REX_LIB) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(REX_LIBS) $(call pc_libs,check) -lm

# The end-to-end tests (test_exstress*) need both tools built and share
# exstress_testlib.c.
EXS_E2E_TESTS := $(filter $(BUILD)/test/harness/test_exstress%,$(EXS_TESTS))
$(EXS_E2E_TESTS): $(EXS_BIN) $(EXS_FAULT_BIN) $(EXS_ADAPTER_SOS)
# The hostile-input group (issue 24) runs fdtrack's CLI too.
ifneq ($(wildcard bpf/fdtrack.c),)
$(BUILD)/test/harness/test_exstress_hostile: | $(BUILD)/bin/fdtrack
endif
$(EXS_E2E_TESTS): $(BUILD)/test/harness/%: $(EXS_OBJ)/tests/%.o $(EXS_OBJ)/tests/exstress_testlib.o \
		$(EXS_CORE:%=$(EXS_OBJ)/%.o) $(COMMON_CHECK_OBJ) $(REX_LIB) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(REX_LIBS) $(call pc_libs,check) -lm

# CI gate: fixed policy, every scenario, 5000 measured iterations each, fdtrack
# required by default (a silent fall-back to /proc must not pass; where BPF
# cannot load, e.g. a CI container, GATE_PROBE=auto or off runs on /proc and
# says so). exstress's exit code is the verdict (make reports it as "Error 1"
# leak / "Error 2" environment); scripts/gate.sh writes $(BUILD)/gate/ and a
# gate-junit.xml for every ending, an environment error included.
# `make gate GATE_POLICY=legacy-448` shows it failing.
GATE_ITERATIONS ?= 5000
GATE_POLICY     ?= fixed
GATE_PROBE      ?= require
.PHONY: gate
gate: all
	@scripts/gate.sh --exstress $(EXS_BIN) --outdir $(BUILD)/gate --policy $(GATE_POLICY) \
		--iterations $(GATE_ITERATIONS) --probe $(GATE_PROBE)

# libFuzzer targets (clang; libFuzzer's runtime is Debian's libclang-rt-14-dev
# for clang 14): the option parser and the /proc parsers, and fdtrack's
# --suppressions parser. `make check` runs each briefly (EXS_FUZZ_RUNS
# inputs, a few seconds); `make fuzz` longer.
FUZZ_CC        ?= clang
EXS_FUZZ_DIR    = $(BUILD)/fuzz/harness
EXS_FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
                  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iharness \
                  -Iruntime/include -Icommon
EXS_FUZZ_SRC   := harness/cli.c harness/stats.c harness/sampler.c runtime/src/policy.c \
                  common/fdkind.c
EXS_FUZZ_BINS   = $(EXS_FUZZ_DIR)/fuzz_args $(EXS_FUZZ_DIR)/fuzz_proc $(EXS_FUZZ_DIR)/fuzz_suppressions
EXS_FUZZ_SMOKE  = $(BUILD)/test/harness/fuzz-smoke
EXS_FUZZ_RUNS  ?= 200000
FUZZ_TIME      ?= 120

TEST_BINS += $(EXS_FUZZ_SMOKE)

$(EXS_FUZZ_DIR)/fuzz_%: harness/fuzz/fuzz_%.c $(EXS_FUZZ_SRC) harness/exstress.h $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(EXS_FUZZ_FLAGS) -o $@ $< $(EXS_FUZZ_SRC) -lm

EXS_FUZZ_SUPP_SRC := bpf/cli_suppress.c common/json.c
$(EXS_FUZZ_DIR)/fuzz_suppressions: harness/fuzz/fuzz_suppressions.c $(EXS_FUZZ_SUPP_SRC) bpf/fdtrack_cli.h $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(EXS_FUZZ_FLAGS) -Ibpf -o $@ $< $(EXS_FUZZ_SUPP_SRC)

# run-tests.sh runs test binaries without arguments: a generated wrapper.
$(EXS_FUZZ_SMOKE): $(EXS_FUZZ_BINS) harness/fuzz/smoke.sh harness/build.mk
	@mkdir -p $(@D)
	printf '#!/bin/sh\nexec %s %s %s %s -runs=%s\n' $(abspath harness/fuzz/smoke.sh) \
		$(abspath $(EXS_FUZZ_DIR)) $(abspath harness/fuzz/corpus) \
		$(abspath $(BUILD)/fuzz/artifacts) $(EXS_FUZZ_RUNS) > $@
	chmod +x $@

# Longer: FUZZ_TIME seconds per target; the corpus grows in build/fuzz/corpus.
.PHONY: fuzz
fuzz: $(EXS_FUZZ_BINS)
	harness/fuzz/smoke.sh $(EXS_FUZZ_DIR) harness/fuzz/corpus $(BUILD)/fuzz/artifacts \
		-max_total_time=$(FUZZ_TIME) $(BUILD)/fuzz/corpus

-include $(wildcard $(EXS_OBJ)/*.d $(EXS_OBJ)/fault/*.d $(EXS_OBJ)/tests/*.d $(EXS_ADAPTER_DIR)/*.d)

# Soak (not in CI): 10 minutes of `mixed` under `fixed`, probe auto; memory
# and fd counts must stay flat over the whole run (the verdict uses every
# sample; the CSV keeps every SOAK_SAMPLE_EVERY-th row so it stays ~1 MB).
# Writes results/soak/soak.{csv,json}; results/soak/README.md has the numbers.
SOAK_DURATION     ?= 600
SOAK_SAMPLE_EVERY ?= 200
SOAK_DIR          ?= results/soak
.PHONY: soak
soak: $(EXS_BIN)
	@mkdir -p $(SOAK_DIR)
	$(EXS_BIN) --policy fixed --scenario mixed --duration $(SOAK_DURATION) --probe auto \
		--sample-every $(SOAK_SAMPLE_EVERY) --csv $(SOAK_DIR)/soak.csv --json $(SOAK_DIR)/soak.json

# The example adapter (examples/tinyloop.c, README "Gate your own runtime"),
# and the same built with another ABI for the version check's test.
EXS_EXAMPLE     = $(BUILD)/examples/tinyloop.so
EXS_EXAMPLE_BAD = $(BUILD)/test/harness/tinyloop-abi999.so
ALL_TARGETS += $(EXS_EXAMPLE)
$(EXS_EXAMPLE): examples/tinyloop.c harness/adapter.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -shared -Iharness -o $@ $<
$(EXS_EXAMPLE_BAD): examples/tinyloop.c harness/adapter.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -shared -Iharness -DTINYLOOP_ABI=999 -o $@ $<
$(BUILD)/test/harness/test_exstress_runtimes: $(EXS_EXAMPLE) $(EXS_EXAMPLE_BAD)
