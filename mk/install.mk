# Installing, with the GNU conventions (included last by the top Makefile).
#   make install [PREFIX=/usr/local] [DESTDIR=] [BINDIR= LIBDIR= INCLUDEDIR=
#                MANDIR= PKGCONFIGDIR=]
#   make uninstall                   the same variables: removes those files
#   $(BUILD)/gen/version.h           PACKAGE_VERSION, from scripts/version.sh
#   $(BUILD)/lib/librex.so.*         librex shared: SONAME librex.so.$(REX_ABI),
#                                    exporting rex.h's functions only
#   $(BUILD)/test/install/*          make check: the man pages against --help,
#                                    and a DESTDIR install run from there
#
# fdtrack goes to BINDIR, not SBINDIR, though it needs root: it is a
# debugging tool run by developers and CI as `sudo fdtrack -- CMD` (CMD runs
# as the invoking user), as strace, perf and bpftrace are, and sbin is not in
# a user's PATH on Debian. Its man page is in section 8 (it needs privilege),
# as bpftrace's is. The installed tools read nothing from the build tree:
# the BPF objects are in fdtrack's binary; test_install checks it.

PREFIX       ?= /usr/local
EXEC_PREFIX  ?= $(PREFIX)
BINDIR       ?= $(EXEC_PREFIX)/bin
LIBDIR       ?= $(EXEC_PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATAROOTDIR  ?= $(PREFIX)/share
MANDIR       ?= $(DATAROOTDIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL      ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 755
INSTALL_DATA    ?= $(INSTALL) -m 644

# The version, one place: VERSION, plus git's commit in a checkout. The
# header is rewritten only when the version changed, so nothing rebuilds
# for nothing.
VERSION_H := $(BUILD)/gen/version.h
.PHONY: FORCE
FORCE:
$(VERSION_H): FORCE
	@mkdir -p $(@D)
	@v=$$(scripts/version.sh) || exit 2; \
	  printf '#define PACKAGE_VERSION "%s"\n' "$$v" > $@.tmp; \
	  if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/obj/bpf/fdtrack_cli.o $(BUILD)/obj/harness/main.o: $(VERSION_H)
$(BUILD)/obj/bpf/fdtrack_cli.o $(BUILD)/obj/harness/main.o: CFLAGS += -I$(BUILD)/gen

# librex, shared: its own -fPIC objects; REX_ABI is the SONAME's number,
# raised when rex.h changes incompatibly.
REX_ABI        := 0
REX_SONAME     := librex.so.$(REX_ABI)
REX_SHLIB_FILE := librex.so.$(REX_ABI).$(shell cut -d. -f2,3 VERSION)
REX_SHLIB      := $(BUILD)/lib/$(REX_SHLIB_FILE)
REX_PIC_OBJS   := $(REX_SRCS:runtime/src/%.c=$(BUILD)/obj/runtime-pic/%.o)

ALL_TARGETS += $(REX_SHLIB)

$(BUILD)/obj/runtime-pic/%.o: runtime/src/%.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC $(REX_CFLAGS) -c -o $@ $<

# Its exports are the functions rex.h declares and nothing else (not the
# runtime's internal rex_notifier_*, rex_io_* ...): the version script is
# made from rex.h, and the build fails unless the library exports exactly
# that list.
REX_MAP := $(BUILD)/gen/rex.map
$(REX_MAP): runtime/include/rex.h
	@mkdir -p $(@D)
	{ echo 'REX_$(REX_ABI) {'; echo '	global:'; \
	  grep -o 'rex_[a-z0-9_]*(' $< | tr -d '(' | sort -u | sed 's/.*/		&;/'; \
	  echo '	local:'; echo '		*;'; echo '};'; } > $@.tmp && mv $@.tmp $@

$(REX_SHLIB): $(REX_PIC_OBJS) $(REX_MAP)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(REX_SONAME) -Wl,--version-script=$(REX_MAP) \
	  -Wl,-z,defs $(LDFLAGS) -o $@ $(REX_PIC_OBJS) $(REX_LIBS)
	@nm -D --defined-only $@ | awk '{ sub(/@.*/, "", $$3); if ($$3 != "REX_$(REX_ABI)") print $$3 }' | \
	  sort > $@.exports; \
	  sed -n 's/^\t\t\(rex_.*\);$$/\1/p' $(REX_MAP) | diff -u - $@.exports >&2 || \
	  { echo "librex.so: its exports differ from rex.h's functions (- missing, + extra)" >&2; \
	    rm -f $@ $@.exports; exit 1; }
	@rm -f $@.exports

-include $(wildcard $(BUILD)/obj/runtime-pic/*.d)

# What install copies; each rule above builds its part. exstress's
# --runtime modules (harness/build.mk's EXS_ADAPTER_SOS, if this tree has
# them) go where exstress looks for them: ../lib/exstress/ from its own
# path, so EXEC_PREFIX/lib/exstress whatever LIBDIR says (Debian's
# multiarch LIBDIR included).
EXS_MODDIR     ?= $(EXEC_PREFIX)/lib/exstress
INSTALL_INPUTS := $(FDT_CLI) $(EXS_BIN) $(REX_LIB) $(REX_SHLIB) runtime/include/rex.h \
		  runtime/rex.pc.in man/fdtrack.8 man/exstress.1 man/rex.3 VERSION \
		  $(EXS_ADAPTER_SOS)

.PHONY: install-inputs
install-inputs: $(INSTALL_INPUTS)

# rex.pc and the man pages' version are written at install time, so PREFIX
# and friends given to `make install` alone are the ones they say.
.PHONY: install uninstall
install: $(INSTALL_INPUTS)
	@v=$$(scripts/version.sh) || exit 2; set -e; \
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	  $(DESTDIR)$(MANDIR)/man8; \
	echo "install: fdtrack, exstress -> $(DESTDIR)$(BINDIR)"; \
	$(INSTALL_PROGRAM) $(FDT_CLI) $(DESTDIR)$(BINDIR)/fdtrack; \
	$(INSTALL_PROGRAM) $(EXS_BIN) $(DESTDIR)$(BINDIR)/exstress; \
	echo "install: librex.a, $(REX_SHLIB_FILE), $(REX_SONAME), librex.so -> $(DESTDIR)$(LIBDIR)"; \
	$(INSTALL_DATA) $(REX_LIB) $(DESTDIR)$(LIBDIR)/librex.a; \
	$(INSTALL_DATA) $(REX_SHLIB) $(DESTDIR)$(LIBDIR)/$(REX_SHLIB_FILE); \
	ln -sf $(REX_SHLIB_FILE) $(DESTDIR)$(LIBDIR)/$(REX_SONAME); \
	ln -sf $(REX_SONAME) $(DESTDIR)$(LIBDIR)/librex.so; \
	echo "install: rex.h -> $(DESTDIR)$(INCLUDEDIR), rex.pc -> $(DESTDIR)$(PKGCONFIGDIR)"; \
	$(INSTALL_DATA) runtime/include/rex.h $(DESTDIR)$(INCLUDEDIR)/rex.h; \
	sed -e "s|@PREFIX@|$(PREFIX)|" -e "s|@LIBDIR@|$(LIBDIR)|" \
	  -e "s|@INCLUDEDIR@|$(INCLUDEDIR)|" -e "s|@VERSION@|$$v|" \
	  runtime/rex.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/rex.pc; \
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/rex.pc; \
	echo "install: fdtrack.8, exstress.1, rex.3 -> $(DESTDIR)$(MANDIR)"; \
	for m in fdtrack.8 exstress.1 rex.3; do \
	  sed "s|@VERSION@|$$v|" man/$$m > $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m; \
	  chmod 644 $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m; \
	done; \
	for so in $(EXS_ADAPTER_SOS); do \
	  $(INSTALL) -d $(DESTDIR)$(EXS_MODDIR); \
	  echo "install: $${so##*/} -> $(DESTDIR)$(EXS_MODDIR)"; \
	  $(INSTALL_DATA) $$so $(DESTDIR)$(EXS_MODDIR)/$${so##*/}; \
	done; \
	$(LDCONFIG_NOW)

# Installed for real (no DESTDIR, as root): refresh the loader's cache, so
# programs find librex.so.0 in LIBDIR at once.
LDCONFIG_NOW = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; \
	  then ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/fdtrack $(DESTDIR)$(BINDIR)/exstress \
	  $(DESTDIR)$(LIBDIR)/librex.a $(DESTDIR)$(LIBDIR)/librex.so \
	  $(DESTDIR)$(LIBDIR)/$(REX_SONAME) $(DESTDIR)$(LIBDIR)/$(REX_SHLIB_FILE) \
	  $(DESTDIR)$(INCLUDEDIR)/rex.h $(DESTDIR)$(PKGCONFIGDIR)/rex.pc \
	  $(DESTDIR)$(MANDIR)/man8/fdtrack.8 $(DESTDIR)$(MANDIR)/man1/exstress.1 \
	  $(DESTDIR)$(MANDIR)/man3/rex.3 \
	  $(addprefix $(DESTDIR)$(EXS_MODDIR)/,$(notdir $(EXS_ADAPTER_SOS)))
	-rmdir $(DESTDIR)$(EXS_MODDIR) 2>/dev/null
	@$(LDCONFIG_NOW)

# Tests (make check): the man pages' OPTIONS against each tool's --help and
# option table, both ways; and an install into a DESTDIR, run from there
# with the checkout and the build directory hidden.
INSTALL_TESTS := $(BUILD)/test/install/test_man_options $(BUILD)/test/install/test_install
TEST_BINS += $(INSTALL_TESTS)

$(BUILD)/test/install/test_man_options: man/test_options.sh $(FDT_CLI) $(EXS_BIN)
	@mkdir -p $(@D)
	@printf '#!/bin/sh\nFDTRACK=%s EXSTRESS=%s exec %s "$$@"\n' '$(abspath $(FDT_CLI))' \
	  '$(abspath $(EXS_BIN))' '$(abspath $<)' > $@
	@chmod +x $@

# The test's make install gets this build's SAN and OPT: whatever it
# relinks (a new commit changes version.h) is built as the rest was.
$(BUILD)/test/install/test_install: mk/test_install.sh $(INSTALL_INPUTS)
	@mkdir -p $(@D)
	@printf '#!/bin/sh\nBUILD=%s MAKE_VARS="SAN=%s OPT=%s" exec %s "$$@"\n' '$(abspath $(BUILD))' \
	  '$(SAN)' '$(OPT)' '$(abspath $<)' > $@
	@chmod +x $@
