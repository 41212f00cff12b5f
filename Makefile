# ferry — build, test, benchmark.  `make` builds ./ferry; `make check` runs every test.
CC      ?= gcc
CFLAGS  ?= -O2 -g
# Always on, whatever CFLAGS the command line gives (make asan does).
BASE_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -Isrc/core
LDLIBS  += -ljansson -lxxhash -lsodium
# Fault injection (src/core/fault.h): ferry's calls of these go through
# src/core/fault.c, which fails the one FERRY_FAULT names.
FAULT_OPS = write read pwrite mmap fsync connect send recv sendmsg recvmsg process_vm_readv process_vm_writev ptrace
LDLIBS  += $(foreach f,$(FAULT_OPS),-Wl,--wrap=$(f))
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

CORE_SRC = $(wildcard src/core/*.c)
MOD_SRC  = $(wildcard src/*.c)
CMD_SRC  = $(wildcard src/cmd/*.c)
SRC      = $(CORE_SRC) $(MOD_SRC) $(CMD_SRC)
OBJDIR  ?= build
OBJ      = $(patsubst src/%.c,$(OBJDIR)/%.o,$(SRC))
LIB_OBJ  = $(filter-out $(OBJDIR)/cmd/main.o,$(OBJ))

.PHONY: all deps check unit asan bench demo clean test-progs soak
all: ferry test-progs

ferry: $(OBJ)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OBJDIR)/%.o: src/%.c $(wildcard src/*.h src/core/*.h src/cmd/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

# --- tests -------------------------------------------------------------------
PROG_SRC = $(wildcard tests/progs/*.c)
PROGS    = $(patsubst tests/progs/%.c,tests/bin/%,$(PROG_SRC))
UNIT_SRC = $(wildcard tests/unit/*.c)
UNITS    = $(patsubst tests/unit/%.c,tests/bin/unit-%,$(UNIT_SRC))

test-progs: $(PROGS) $(UNITS) tests/bin/subreaper

tests/bin/%: tests/progs/%.c tests/progs/common.h
	@mkdir -p tests/bin
	$(CC) -O1 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE $(if $(findstring static,$*),-static) -o $@ $< -lm

tests/bin/subreaper: tests/subreaper.c
	@mkdir -p tests/bin
	$(CC) -O1 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

tests/bin/unit-%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p tests/bin
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

deps:
	@bash scripts/deps.sh

check: deps
	@$(MAKE) --no-print-directory all fuzz-build
	@tests/all.sh

asan: deps
	@$(MAKE) --no-print-directory clean
	@$(MAKE) --no-print-directory all CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)"
	@$(MAKE) --no-print-directory fuzz-build
	@FERRY_ASAN=1 tests/all.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bash bench/run.sh
	@bash bench/migrate.sh

# the kv server moved between simulated hosts SOAK_MOVES times (200) while a
# client writes (bench/soak.sh; network namespaces: not part of check)
soak: deps
	@$(MAKE) --no-print-directory all
	@bash bench/soak.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash demo/demo.sh

clean:
	rm -rf $(OBJDIR) ferry tests/bin $(FUZZ_OBJDIR) fuzz/bin

# --- install, man pages (issue 17) -------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, man pages from
# src/cmd/man/*.scd (scdoc), bash completion, ferry-serve.service and its
# environment file (kept if present, like the key beside it), libferry
# (include/ferry.h, the shared library, ferry.pc).
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UNITDIR     ?= $(PREFIX)/lib/systemd/system
MAN_SRC  = $(wildcard src/cmd/man/*.scd)
MANS     = $(patsubst src/cmd/man/%.scd,$(OBJDIR)/man/%,$(MAN_SRC))
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION     := $(shell sed -n 's/^\#define FERRY_VERSION "\(.*\)"/\1/p' src/cmd/cmds.h)
DIST_SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@PREFIX@|$(PREFIX)|g' \
	-e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g'
# libferry: the objects of ferry less main.o, built again position-independent
# (only here: `make` and `make asan` build no library), exporting only what
# src/cmd/libferry.map lists
SONAME   = libferry.so.0
LIBFERRY = $(OBJDIR)/lib/libferry.so.$(VERSION)
PIC_OBJ  = $(patsubst $(OBJDIR)/%.o,$(OBJDIR)/pic/%.o,$(LIB_OBJ))

.PHONY: man lib install uninstall
man: $(MANS)
lib: $(LIBFERRY) $(OBJDIR)/dist/ferry.pc

# where serve finds `ferry restore` when it runs inside a libferry client
$(OBJDIR)/pic/cmd/libferry.o: BASE_CFLAGS += -DFERRY_PATH='"$(SBINDIR)/ferry"'
$(OBJDIR)/pic/%.o: src/%.c $(wildcard src/*.h src/core/*.h src/cmd/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -c -o $@ $<

$(LIBFERRY): $(PIC_OBJ) src/cmd/libferry.map
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) \
		-Wl,--version-script=src/cmd/libferry.map -Wl,-z,defs -o $@ $(PIC_OBJ) $(LDLIBS)

$(OBJDIR)/man/%: src/cmd/man/%.scd
	@mkdir -p $(dir $@)
	scdoc <$< >$@.tmp && mv $@.tmp $@

$(OBJDIR)/dist/%: dist/%.in Makefile
	@mkdir -p $(dir $@)
	$(DIST_SUBST) $< >$@

install: ferry man lib $(OBJDIR)/dist/ferry-serve.service $(OBJDIR)/dist/serve.conf
	install -D -m 0755 ferry $(DESTDIR)$(SBINDIR)/ferry
	install -D -m 0644 $(LIBFERRY) $(DESTDIR)$(LIBDIR)/$(notdir $(LIBFERRY))
	ln -sf $(notdir $(LIBFERRY)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libferry.so
	install -D -m 0644 include/ferry.h $(DESTDIR)$(INCLUDEDIR)/ferry.h
	install -D -m 0644 $(OBJDIR)/dist/ferry.pc $(DESTDIR)$(PKGCONFIGDIR)/ferry.pc
	install -d $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(MANS) $(DESTDIR)$(MANDIR)/man8/
	install -D -m 0644 dist/ferry.bash-completion $(DESTDIR)$(BASHCOMPDIR)/ferry
	install -D -m 0644 $(OBJDIR)/dist/ferry-serve.service $(DESTDIR)$(UNITDIR)/ferry-serve.service
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/ferry
	[ -e $(DESTDIR)$(SYSCONFDIR)/ferry/serve.conf ] || \
		install -m 0644 $(OBJDIR)/dist/serve.conf $(DESTDIR)$(SYSCONFDIR)/ferry/serve.conf

# leaves $(SYSCONFDIR)/ferry: the configuration and the key are the admin's
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ferry $(DESTDIR)$(BASHCOMPDIR)/ferry $(DESTDIR)$(UNITDIR)/ferry-serve.service
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MANS)))
	rm -f $(DESTDIR)$(LIBDIR)/$(notdir $(LIBFERRY)) $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libferry.so
	rm -f $(DESTDIR)$(INCLUDEDIR)/ferry.h $(DESTDIR)$(PKGCONFIGDIR)/ferry.pc


# --- fuzzing (fuzz/README.md) -------------------------------------------------
# Each fuzz/fuzz_NAME.c is a libFuzzer target fuzz/bin/NAME, linked with
# ferry's objects built by clang with ASan+UBSan into build-fuzz/.  A harness
# that #includes a command's .c file (for its static decoders) is linked
# without that command's object.
FUZZ_CC      = clang
FUZZ_SAN     = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_OBJDIR  = build-fuzz
FUZZ_TARGETS = $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_LIB     = $(filter-out $(FUZZ_OBJDIR)/cmd/main.o,$(patsubst src/%.c,$(FUZZ_OBJDIR)/%.o,$(SRC)))
FUZZ_SECONDS ?= 180
fuzz_excl_image  = $(FUZZ_OBJDIR)/cmd/restore.o
fuzz_excl_stream = $(FUZZ_OBJDIR)/cmd/migrate.o
fuzz_excl_serve  = $(FUZZ_OBJDIR)/cmd/migrate.o
fuzz_ld_proc     = -Wl,--wrap=read_file

.PHONY: fuzz fuzz-build fuzz-objs
fuzz-objs:
	@$(MAKE) --no-print-directory OBJDIR=$(FUZZ_OBJDIR) CC=$(FUZZ_CC) \
		CFLAGS="-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link" $(FUZZ_LIB)

fuzz-build: fuzz-objs
	@$(MAKE) --no-print-directory $(patsubst %,fuzz/bin/%,$(FUZZ_TARGETS))

fuzz/bin/%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_LIB)
	@mkdir -p fuzz/bin
	$(FUZZ_CC) $(BASE_CFLAGS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< \
		$(filter-out $(fuzz_excl_$*),$(FUZZ_LIB)) $(fuzz_ld_$*) $(LDLIBS)

# every target for FUZZ_SECONDS (default 3 minutes) on its seed corpus
fuzz: deps fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz.sh
