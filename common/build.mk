# common: helpers several components need (libbpf-tools' COMMON_OBJ idea).
#   build/lib/libcommon.a          json.c, fdkind.c, outfile.c (linked by
#                                  fdtrack, exstress, bench)
#   build/obj/common/check_runner.o  the Check runner of every test program
#   clock.h                        inline: clocks and CPU pinning (librex
#                                  uses it too and stays one archive)

COMMON_SRCS     := common/json.c common/fdkind.c common/outfile.c
COMMON_OBJS     := $(COMMON_SRCS:common/%.c=$(BUILD)/obj/common/%.o)
COMMON_LIB      := $(BUILD)/lib/libcommon.a
COMMON_CFLAGS   := -Icommon
COMMON_CHECK_OBJ := $(BUILD)/obj/common/check_runner.o

$(BUILD)/obj/common/%.o: common/%.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(COMMON_CFLAGS) $(if $(filter check_runner.c,$(notdir $<)),$(call pc_cflags,check)) -c -o $@ $<

$(COMMON_LIB): $(COMMON_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

-include $(wildcard $(BUILD)/obj/common/*.d)
