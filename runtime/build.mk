# librex: the executor runtime.
#   build/lib/librex.a          the library
#   build/test/librex-fi.a      the same, with fault-injection points (tests only)
#   build/test/runtime/test_*   Check suites

REX_SRCS    := $(wildcard runtime/src/*.c)
REX_OBJS    := $(REX_SRCS:runtime/src/%.c=$(BUILD)/obj/runtime/%.o)
REX_FI_OBJS := $(REX_SRCS:runtime/src/%.c=$(BUILD)/obj/runtime-fi/%.o)
REX_LIB     := $(BUILD)/lib/librex.a
REX_FI_LIB  := $(BUILD)/test/librex-fi.a
REX_CFLAGS   = -Iruntime/include $(COMMON_CFLAGS) $(call pc_cflags,liburing)
REX_LIBS     = $(call pc_libs,liburing)

REX_TEST_SRCS := $(wildcard runtime/tests/test_*.c)
REX_TESTS     := $(REX_TEST_SRCS:runtime/tests/%.c=$(BUILD)/test/runtime/%)
REX_TEST_UTIL := $(BUILD)/obj/runtime-tests/testutil.o

ALL_TARGETS += $(REX_LIB)
TEST_BINS   += $(REX_TESTS)

$(BUILD)/obj/runtime/%.o: runtime/src/%.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(REX_CFLAGS) -c -o $@ $<

$(BUILD)/obj/runtime-fi/%.o: runtime/src/%.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DREX_FAULT_INJECTION $(REX_CFLAGS) -c -o $@ $<

$(REX_LIB): $(REX_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(REX_FI_LIB): $(REX_FI_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/obj/runtime-tests/%.o: runtime/tests/%.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DREX_FAULT_INJECTION $(REX_CFLAGS) -Iruntime/src $(call pc_cflags,check) -c -o $@ $<

$(BUILD)/test/runtime/%: $(BUILD)/obj/runtime-tests/%.o $(REX_TEST_UTIL) $(COMMON_CHECK_OBJ) $(REX_FI_LIB) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(REX_LIBS) $(call pc_libs,check)

-include $(REX_OBJS:.o=.d) $(REX_FI_OBJS:.o=.d) $(wildcard $(BUILD)/obj/runtime-tests/*.d)
