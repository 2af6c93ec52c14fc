# scripts: the main job, plots, and their tests.
#   make run [ITERATIONS=N]   issue 448 (legacy-448) and the fix side by side:
#                             results/run-YYYYMMDD-HHMMSS/ (CSV, JSON, PNG, summary)
#   make run-glommio [ITERATIONS=N]  the same in glommio's shape (glommio-448,
#                             glommio-fixed) beside the seed's figures
#   make plots                redraw the PNGs of the newest results/run-*/ folder
#   make reproduce            legacy-448 under ulimit -n 256 until EMFILE, then fixed;
#                             then glommio-448 to EMFILE and to ENOMEM (ulimit -v)
#                             at the predicted iteration, and glommio-fixed
#   make check-kernels [KERNEL=LABEL] [QUICK=1] [KERNEL_TIMEOUT=SECS]
#                             fdtrack on Debian's kernels under QEMU

ITERATIONS ?= 2000
SCRIPTS_EXSTRESS := $(or $(EXS_BIN),$(BUILD)/bin/exstress)
PYTHON3 := /usr/bin/python3

.PHONY: run run-glommio plots reproduce compare
# run, reproduce (and gate) build everything first, so that the README's
# fdtrack examples work right after them.
run: $(DEPS_STAMP) all $(SCRIPTS_EXSTRESS)
	@scripts/run_main.sh --iterations $(ITERATIONS) --exstress $(SCRIPTS_EXSTRESS)

run-glommio: $(DEPS_STAMP) all $(SCRIPTS_EXSTRESS)
	@scripts/run_main.sh --shape glommio --iterations $(ITERATIONS) --exstress $(SCRIPTS_EXSTRESS)

plots: $(DEPS_STAMP)
	@dir=$$(ls -d results/run-* 2>/dev/null | sort | tail -n 1); \
	if [ -z "$$dir" ]; then echo "plots: no results/run-*/ folder yet: run 'make run' first" >&2; exit 2; fi; \
	echo "plots: $$dir"; \
	$(PYTHON3) scripts/plot_curves.py -o "$$dir" "$$dir"/*.csv

reproduce: $(DEPS_STAMP) all $(SCRIPTS_EXSTRESS)
	@scripts/reproduce_448.sh --exstress $(SCRIPTS_EXSTRESS)

# The seed's options measured side by side: results/compare-YYYYMMDD-HHMMSS/
# (COMPARE_ITERATIONS exstress iterations per run; bench's policy figures).
COMPARE_ITERATIONS ?= 1000
compare: $(DEPS_STAMP) all
	@$(PYTHON3) scripts/compare.py --iterations $(COMPARE_ITERATIONS) \
		--exstress $(SCRIPTS_EXSTRESS) --bench $(BUILD)/bin/bench

# exstress's gate across event-loop runtimes (issue 27): rex, libuv, libevent,
# GLib and tokio, each torn down correctly and carelessly, RUNTIMES_ITERATIONS
# iterations per scenario: results/runtimes-YYYYMMDD-HHMMSS/ (table, plots).
RUNTIMES_ITERATIONS ?= 2000
.PHONY: compare-runtimes
compare-runtimes: $(DEPS_STAMP) all
	@$(PYTHON3) scripts/compare_runtimes.py --iterations $(RUNTIMES_ITERATIONS) \
		--exstress $(SCRIPTS_EXSTRESS)

# Tests: each shell test runs through a small wrapper in $(BUILD)/test/scripts/
# that names the exstress of this build (so check-asan uses the ASan one).
SCRIPTS_TESTS := $(patsubst scripts/tests/%.sh,$(BUILD)/test/scripts/%,$(wildcard scripts/tests/test_*.sh))
TEST_BINS += $(SCRIPTS_TESTS)

$(BUILD)/test/scripts/%: scripts/tests/%.sh $(SCRIPTS_EXSTRESS) $(DEPS_STAMP)
	@mkdir -p $(@D)
	@printf '#!/bin/sh\nEXSTRESS=%s exec %s "$$@"\n' '$(abspath $(SCRIPTS_EXSTRESS))' '$(abspath $<)' >$@
	@chmod +x $@
# test_compare runs this build's bench (beside its exstress) too
$(BUILD)/test/scripts/test_compare: $(BUILD)/bin/bench

# The kernel matrix: each kernel of scripts/kernels/kernels.list (Debian's
# packages, downloaded into $(BUILD)/kernels/) booted under QEMU (kvm, else
# TCG: slow) with this tree's root shared read-only; fdtrack --bpf-stats in
# every mode, the test_fdtrack* binaries and exstress issue448 run there.
# KERNEL=LABEL: that kernel only; QUICK=1: no test binaries; KERNEL_TIMEOUT:
# seconds per kernel. Installs qemu-system-x86 and busybox-static (as root).
CHECK_KERNELS_TESTS := $(filter $(BUILD)/test/bpf/test_fdtrack%,$(TEST_BINS))
.PHONY: check-kernels
check-kernels: $(DEPS_STAMP) all $(SCRIPTS_EXSTRESS) $(if $(filter 1,$(QUICK)),,$(CHECK_KERNELS_TESTS))
	@BUILD=$(BUILD) scripts/check-kernels.sh $(if $(KERNEL),--only $(KERNEL)) \
		$(if $(filter 1,$(QUICK)),--quick) $(if $(KERNEL_TIMEOUT),--timeout $(KERNEL_TIMEOUT))
