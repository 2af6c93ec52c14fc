# rex / fdtrack / exstress: find executor-teardown resource leaks, prove the fix.
#
#   make          build everything into build/
#   make run      the main job: reproduce issue 448 and show the fix (README)
#   make check    all tests (installs missing Debian packages first, as root)
#   make check-asan / check-tsan   the same tests under sanitizers
#   make check-valgrind            runtime tests under memcheck --track-fds
#   make deps     install or name the missing packages
#   make clean
#
# Each component adds its own rules in <component>/build.mk.

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

BUILD ?= build
SAN   ?=

CC       ?= gcc
OPT      ?= -O2
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -fno-omit-frame-pointer \
            $(OPT) -pthread -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS  := -pthread $(EXTRA_LDFLAGS)

ifeq ($(SAN),asan)
  CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),tsan)
  CFLAGS  += -fsanitize=thread
  LDFLAGS += -fsanitize=thread
else ifneq ($(SAN),)
  $(error SAN must be asan, tsan or empty, not '$(SAN)')
endif

# pkg-config is read when a recipe runs, i.e. after the deps step installed it.
pc_cflags = $(shell pkg-config --cflags $(1))
pc_libs   = $(shell pkg-config --libs $(1))

DEPS_STAMP := $(BUILD)/.deps-ok
$(DEPS_STAMP): scripts/deps.sh
	@scripts/deps.sh
	@mkdir -p $(@D) && touch $@

.PHONY: deps
deps:
	@scripts/deps.sh && echo "deps: everything is installed"

# Filled in by the component makefiles.
ALL_TARGETS :=
TEST_BINS   :=

include common/build.mk
include runtime/build.mk
-include bpf/build.mk
-include harness/build.mk
-include harness/bench/build.mk
-include scripts/build.mk
include mk/install.mk
include mk/help.mk

.PHONY: all check check-asan check-tsan check-valgrind clean
all: $(ALL_TARGETS)

check: $(DEPS_STAMP) $(TEST_BINS)
	@scripts/run-tests.sh $(TEST_BINS)

check-asan:
	@$(MAKE) --no-print-directory check BUILD=build/asan SAN=asan OPT=-O1

check-tsan:
	@$(MAKE) --no-print-directory check BUILD=build/tsan SAN=tsan OPT=-O1

# memcheck + --track-fds on the runtime's tests (valgrind is too slow for
# the whole suite, and cannot load BPF programs' maps' memory anyway)
check-valgrind: $(DEPS_STAMP) $(REX_TESTS)
	@scripts/check-valgrind.sh $(REX_TESTS)

clean:
	rm -rf build
