# whelk build. GNU Make + pkg-config; every target documented in README.md.
#
#   make            build/libwhelk.a and build/whelkd (plus examples)
#   make check      build, then every unit test (cmocka) and interop test (pytest)
#   make asan       the same under AddressSanitizer + UBSan, in build/asan
#   make fuzz       libFuzzer targets (clang) in build/fuzz
#   make fuzz-smoke run each fuzz target for FUZZ_SECONDS (default 30)
#   make demo       build, create demo keys once, run whelkd on 127.0.0.1:2222
#   make bench      side-by-side benchmark against sshd and Dropbear
#
#   make install    PREFIX (default /usr/local) and DESTDIR; make uninstall
#   make release    the same build without -Werror (also WERROR=0)
#
# Each of them first installs the Debian packages it needs that are
# missing (scripts/deps.sh, the one list; silent when none are missing).

BUILD   ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3
PKGS    := libcrypto libuv

# Debian packages first (scripts/deps.sh keeps the one list): the groups
# the goals need are checked, and installed when missing, while this file
# is read, before any rule runs, so a fresh machine gets its packages, or
# one line saying how to install them, never a compiler error. Skipped for
# dry runs (-n, -q: shell completion runs make -npq) and for goals that
# build nothing.
DEPS_GROUPS := build
ifneq ($(filter check unit ct interop asan %/tests/%,$(MAKECMDGOALS)),)
DEPS_GROUPS += test
endif
ifneq ($(filter fuzz fuzz-smoke build/fuzz/%,$(MAKECMDGOALS)),)
DEPS_GROUPS += fuzz
endif
ifneq ($(filter bench,$(MAKECMDGOALS)),)
DEPS_GROUPS += bench
endif
DRY_RUN := $(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS)))
BUILDS_SOMETHING := $(if $(MAKECMDGOALS),$(filter-out clean format,$(MAKECMDGOALS)),all)
ifeq ($(DRY_RUN),)
ifneq ($(BUILDS_SOMETHING),)
DEPS_FAILED := $(shell ./scripts/deps.sh $(DEPS_GROUPS))
ifneq ($(DEPS_FAILED),)
$(error $(DEPS_FAILED))
endif
endif
endif

# pkg-config runs once, when a recipe first needs its flags, so a dry run
# on a fresh machine (no -dev packages yet) prints no pkg-config errors.
# Hence `=` (not `:=`) for every variable below that uses them.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
CRYPTO_LIBS = $(eval CRYPTO_LIBS := $$(shell pkg-config --libs libcrypto 2>/dev/null))$(CRYPTO_LIBS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)

# -Werror in development builds only: `make release` or WERROR=0 drops it.
WERROR  ?= 1
WARN    := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow -Wpointer-arith -Wvla \
           -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS  ?= -O2 -g
# Sanitizers for `make asan`.
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
endif
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fno-strict-aliasing $(WARN) $(CFLAGS) \
           $(SAN_FLAGS) -Iinclude $(PKG_CFLAGS)
LDLIBS  = $(PKG_LIBS) -lcrypt
# PAM: whelkd (server/pam.c, pamsess.c) and what links its modules.
PAM_LIBS := -lpam


# The library's version, from the header: the SONAME carries the major
# number, the real file all three.
whelk_ver = $(shell sed -n 's/^\#define WHELK_VERSION_$(1) \([0-9]*\)$$/\1/p' include/whelk/whelk.h)
V_MAJOR := $(call whelk_ver,MAJOR)
V_MINOR := $(call whelk_ver,MINOR)
V_PATCH := $(call whelk_ver,PATCH)
SONAME  := libwhelk.so.$(V_MAJOR)
SO_REAL := libwhelk.so.$(V_MAJOR).$(V_MINOR).$(V_PATCH)

LIB_SRC   := $(wildcard lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
SRV_SRC   := $(wildcard server/*.c)
SRV_OBJ   := $(SRV_SRC:%.c=$(BUILD)/%.o)
# Server modules other than main.c are unit-tested too.
SRV_MOD_OBJ := $(filter-out $(BUILD)/server/main.o,$(SRV_OBJ))
EX_SRC    := $(wildcard examples/*.c)
EX_BIN    := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HELP := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
# bench.py's load generator (the tunnel rate figure): plain C, no libwhelk.
BENCH_BIN := $(BUILD)/bench/tunnelrate $(BUILD)/bench/relay
FUZZ_SRC  := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 30

.PHONY: all release check unit ct interop asan fuzz fuzz-smoke demo bench \
        clean format install uninstall exports-check man-check install-check
all: $(BUILD)/libwhelk.a $(BUILD)/libwhelk.so $(BUILD)/whelkd $(BUILD)/whelk \
     $(EX_BIN) $(BENCH_BIN)

# A build for packagers: the same, without -Werror (a newer compiler's new
# warning must not break a distribution's build).
release:
	$(MAKE) WERROR=0 all

# -MMD -MP: each object's header dependencies in a .d beside it, so
# touching one header rebuilds only what includes it.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(OBJ_CFLAGS) -MMD -MP -c -o $@ $<
-include $(LIB_OBJ:.o=.d) $(SRV_OBJ:.o=.d)

# The library's objects serve the shared library and the archive alike:
# position-independent, and only what whelk.h marks WHELK_EXTERN visible.
$(BUILD)/lib/%.o: OBJ_CFLAGS := -Ilib -fPIC -fvisibility=hidden
# lib/'s internal headers are for lib/ and the tests: server/, client/
# and examples/ see only include/whelk/whelk.h (the SFTP server has its
# own reader, server/wire.h).

# sntrup761's polynomial products and inversion vectorise at -O3: 4-6x
# faster encapsulation and decapsulation than at -O2 on this machine
# (make ct checks the same flags for constant time).
KEM_OPT := -O3
$(BUILD)/lib/sntrup761.o: ALL_CFLAGS += $(KEM_OPT)

$(BUILD)/libwhelk.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The shared library: links libcrypto only; --no-undefined proves it.
$(BUILD)/$(SO_REAL): $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined \
	    -o $@ $(LIB_OBJ) $(CRYPTO_LIBS)
$(BUILD)/$(SONAME): $(BUILD)/$(SO_REAL)
	ln -sf $(SO_REAL) $@
$(BUILD)/libwhelk.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/whelkd: $(SRV_OBJ) $(BUILD)/libwhelk.a
	$(CC) $(ALL_CFLAGS) -o $@ $(SRV_OBJ) $(BUILD)/libwhelk.a $(LDLIBS) $(PAM_LIBS)

# The client and the examples need libwhelk and libcrypto only.
$(BUILD)/whelk: client/whelk.c $(BUILD)/libwhelk.a
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libwhelk.a $(CRYPTO_LIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libwhelk.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libwhelk.a $(CRYPTO_LIBS)
-include $(BUILD)/whelk.d $(EX_BIN:=.d)

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $<
-include $(BENCH_BIN:=.d)

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_HELP) $(SRV_MOD_OBJ) $(BUILD)/libwhelk.a \
                 
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ilib -Itests/unit -Iserver -o $@ $< $(UNIT_HELP) \
	    $(SRV_MOD_OBJ) $(BUILD)/libwhelk.a $(LDLIBS) $(PAM_LIBS) -lcmocka $(TEST_LDFLAGS)

# test_transport searches every block the library frees for a secret.
$(BUILD)/tests/test_transport: TEST_LDFLAGS := -Wl,--wrap=free,--wrap=realloc
# test_failmalloc fails the library's allocations one at a time.
$(BUILD)/tests/test_failmalloc: TEST_LDFLAGS := \
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup

# Test tools: kemvec prints vectors for the cross-implementation KEM
# comparison (interop); cctv_mlkem runs C2SP/CCTV's files when given them.
$(BUILD)/tests/%: tests/tools/%.c $(BUILD)/libwhelk.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ilib -o $@ $< $(BUILD)/libwhelk.a $(LDLIBS)

# Constant-time check of the KEMs under valgrind (see tests/ct). Built
# without sanitizers whatever SAN says: valgrind and ASan do not mix.
CT_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -Iinclude -Ilib $(PKG_CFLAGS) \
             -DWHELK_CT_VALGRIND $(WARN)
$(BUILD)/tests/ct_valgrind: tests/ct/ct_valgrind.c lib/mlkem.c lib/sntrup761.c \
                            lib/ct.h lib/mlkem.h lib/sntrup761.h
	@mkdir -p $(dir $@)
	$(CC) $(CT_CFLAGS) -o $@ tests/ct/ct_valgrind.c lib/mlkem.c \
	    $(KEM_OPT) lib/sntrup761.c $(PKG_LIBS)

ct: $(BUILD)/tests/ct_valgrind
	valgrind -q --error-exitcode=3 $(BUILD)/tests/ct_valgrind
	@echo "== ct: a planted secret-dependent branch must be reported"
	@if valgrind -q --error-exitcode=3 $(BUILD)/tests/ct_valgrind --planted \
	    >/dev/null 2>&1; then echo "ct: memcheck missed it"; exit 1; fi

# test_mlkem again over an ML-KEM that squeezes one SHAKE block first, so
# that the re-squeeze of an unlucky sample runs for every polynomial.
$(BUILD)/tests/test_mlkem_xof1: tests/unit/test_mlkem.c lib/mlkem.c \
                                $(UNIT_HELP) $(SRV_MOD_OBJ) $(BUILD)/libwhelk.a \
                               
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ilib -DWK_MLKEM_XOF_FIRST=168 -Itests/unit -Iserver -o $@ \
	    tests/unit/test_mlkem.c lib/mlkem.c $(UNIT_HELP) $(SRV_MOD_OBJ) \
	    $(BUILD)/libwhelk.a $(LDLIBS) $(PAM_LIBS) -lcmocka
UNIT_BIN += $(BUILD)/tests/test_mlkem_xof1

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

TOOLS := $(BUILD)/tests/kemvec $(BUILD)/tests/cctv_mlkem
interop: all $(TOOLS) install-check $(BUILD)/tests/abi_old_tinyshell
	WHELK_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests/interop $(PYTEST_ARGS)

check: all exports-check man-check install-check unit ct interop

asan:
	$(MAKE) BUILD=build/asan SAN=1 CFLAGS="-O1 -g" check

# libFuzzer: the library is rebuilt with coverage instrumentation.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Ilib -Iserver -Itests/unit \
               $(PKG_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/%.o) \
            $(filter-out build/fuzz/server/main.o,$(SRV_SRC:%.c=build/fuzz/%.o)) \
            build/fuzz/tests/unit/conn_test.o
build/fuzz/%.o: %.c $(wildcard include/whelk/*.h lib/*.h server/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c -o $@ $<
build/fuzz/%: fuzz/%.c $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS) $(PAM_LIBS) \
	    $(FUZZ_LDFLAGS)
# fuzz_sftp fakes every call that would change the file system (see it).
FUZZ_SFTP_WRAP := open pread truncate ftruncate chmod fchmod fchmodat \
                  utimensat futimens chown fchown fchownat unlink mkdir \
                  rmdir rename link symlink fsync
build/fuzz/fuzz_sftp: FUZZ_LDFLAGS := $(FUZZ_SFTP_WRAP:%=-Wl,--wrap=%)
fuzz: $(FUZZ_BIN)
fuzz-smoke: fuzz
	@set -e; for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n; \
	  seeds=""; [ -d fuzz/corpus/$$n ] && seeds=fuzz/corpus/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	      -artifact_prefix=build/fuzz/ build/fuzz/corpus/$$n $$seeds \
	      2>build/fuzz/$$n.log || { tail -50 build/fuzz/$$n.log; exit 1; }; \
	  grep -E '^#[0-9]+.*DONE' build/fuzz/$$n.log | tail -1; \
	done

# ---------------------------------------------------------------- install
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
MANDIR      ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL     ?= install

# Relative to PREFIX when under it, so pkg-config's --define-prefix can
# move a staged copy; absolute otherwise.
pc_dir = $(if $(filter $(PREFIX)/%,$(1)),$${prefix}$(patsubst $(PREFIX)%,%,$(1)),$(1))
$(BUILD)/libwhelk.pc: lib/libwhelk.pc.in include/whelk/whelk.h
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pc_dir,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call pc_dir,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(V_MAJOR).$(V_MINOR).$(V_PATCH)|' $< >$@

# Files installed besides the ones below, as SOURCE:DESTINATION pairs
# (DESTINATION without DESTDIR), mode 0644; make uninstall removes them
# too. The PAM service file (UsePAM yes) goes where PAM looks, whatever
# PREFIX is; PAMDIR moves it.
PAMDIR ?= /etc/pam.d
INSTALL_EXTRA ?=
INSTALL_EXTRA += contrib/pam/whelkd:$(PAMDIR)/whelkd
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
UNITS := whelkd.service whelkd.socket whelkd-inetd.socket whelkd-inetd@.service

INSTALLED = $(INCLUDEDIR)/whelk/whelk.h $(LIBDIR)/libwhelk.a \
    $(LIBDIR)/$(SO_REAL) $(LIBDIR)/$(SONAME) $(LIBDIR)/libwhelk.so \
    $(PKGCONFIGDIR)/libwhelk.pc $(SBINDIR)/whelkd $(BINDIR)/whelk \
    $(MANDIR)/man8/whelkd.8 $(MANDIR)/man3/libwhelk.3 \
    $(MANDIR)/man5/whelkd_config.5 $(UNITS:%=$(SYSTEMDUNITDIR)/%) \
    $(foreach x,$(INSTALL_EXTRA),$(lastword $(subst :, ,$(x))))

install: all $(BUILD)/libwhelk.pc
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR)/whelk $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man3
	$(INSTALL) -m 644 include/whelk/whelk.h $(DESTDIR)$(INCLUDEDIR)/whelk/
	$(INSTALL) -m 644 $(BUILD)/libwhelk.a $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(BUILD)/$(SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libwhelk.so
	$(INSTALL) -m 644 $(BUILD)/libwhelk.pc $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 755 $(BUILD)/whelkd $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 755 $(BUILD)/whelk $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 man/whelkd.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 644 man/libwhelk.3 $(DESTDIR)$(MANDIR)/man3/
	$(INSTALL) -D -m 644 man/whelkd_config.5 \
	    $(DESTDIR)$(MANDIR)/man5/whelkd_config.5
	@# The units name the installed whelkd.
	@set -e; $(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR); for u in $(UNITS); do \
	  sed 's|/usr/local/sbin/whelkd|$(SBINDIR)/whelkd|g' contrib/systemd/$$u \
	    > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
	  chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; done
	@set -e; for x in $(INSTALL_EXTRA); do \
	  src=$${x%%:*}; dst=$(DESTDIR)$${x#*:}; \
	  echo "$(INSTALL) -D -m 644 $$src $$dst"; $(INSTALL) -D -m 644 $$src $$dst; \
	done

# Exactly the files install put (directories stay: they may be shared).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

# ------------------------------------------------------------ build checks
# Only whelk_ symbols leave the shared library (sanitizer builds add their
# own instrumentation symbols, which are not ours to hide).
exports-check: $(BUILD)/libwhelk.so $(BUILD)/tests/abi_version
	@bad=$$(nm -D --defined-only $(BUILD)/libwhelk.so | awk '{print $$3}' | \
	    grep -v '^whelk_' | grep -Ev '^(__asan|__odr_asan|__ubsan|__sancov)' \
	    || true); \
	if [ -n "$$bad" ]; then echo "exported besides whelk_*:"; echo "$$bad"; exit 1; fi
	LD_LIBRARY_PATH=$(BUILD) $(BUILD)/tests/abi_version
	@readelf -d $(BUILD)/tests/abi_version | grep -q 'NEEDED.*\[$(SONAME)\]'

$(BUILD)/tests/abi_version: tests/abi/version.c $(BUILD)/libwhelk.so
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -L$(BUILD) -lwhelk

# The ABI test's program: examples/tinyshell.c built against the frozen
# older header in tests/abi/old (fewer setters, older version), never
# against include/, and linked to the current shared library;
# tests/interop/test_installed.py makes it serve ssh logins.
$(BUILD)/tests/abi_old_tinyshell: examples/tinyshell.c tests/abi/old/whelk/whelk.h \
                                 $(BUILD)/libwhelk.so
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Iinclude -Ilib,$(ALL_CFLAGS)) -Itests/abi/old -o $@ $< \
	    -L$(BUILD) -lwhelk

# The man pages must render without a warning.
man-check:
	@set -e; for m in man/*.[0-9]; do \
	  out=$$(groff -ww -man -z $$m 2>&1); \
	  if [ -n "$$out" ]; then echo "$$m:"; echo "$$out"; exit 1; fi; done

# make install into a stage, then a program outside the tree built with
# pkg-config alone (shared, and static with --static); uninstall leaves
# nothing behind.
STAGE := $(BUILD)/stage
install-check: all
	rm -rf $(STAGE) $(BUILD)/stage-u
	$(MAKE) -s install DESTDIR=$(abspath $(STAGE))
	BUILD=$(abspath $(BUILD)) STAGE=$(abspath $(STAGE)) PREFIX=$(PREFIX) \
	    CC="$(CC)" SAN_FLAGS="$(SAN_FLAGS)" tests/abi/install_check.sh
	$(MAKE) -s install DESTDIR=$(abspath $(BUILD)/stage-u)
	$(MAKE) -s uninstall DESTDIR=$(abspath $(BUILD)/stage-u)
	@left=$$(find $(BUILD)/stage-u ! -type d); \
	if [ -n "$$left" ]; then echo "uninstall left:"; echo "$$left"; exit 1; fi

demo: all
	./scripts/demo.sh

bench: all $(BENCH_BIN)
	WHELK_BUILD=$(abspath $(BUILD)) $(PYTHON) bench/bench.py

format:
	clang-format -i $(wildcard include/whelk/*.h lib/*.[ch] server/*.[ch] \
	    examples/*.c tests/unit/*.[ch] fuzz/*.c)

clean:
	rm -rf build
