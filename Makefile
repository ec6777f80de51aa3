# shardpipe — plain Makefile, libraries found with pkg-config.
VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
# The GNU layout; a distribution package sets PREFIX=/usr SYSCONFDIR=/etc.
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR   ?= $(PREFIX)/lib/systemd/system
CONFIG     = $(SYSCONFDIR)/shardpipe/shardpipe.json

CC        ?= cc
PKGS      := libcurl json-c libcrypto zlib
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude \
             -DSP_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS))
LDLIBS    += $(shell pkg-config --libs $(PKGS)) -lm

ifeq ($(SANITIZE),1)
CFLAGS    += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS   += -fsanitize=address,undefined
endif

# One folder per layer (core, aws, pipe, sources, app); see make layering.
SRC       := $(wildcard src/*/*.c)
LIBSRC    := $(filter-out src/app/main.c,$(SRC))
OBJDIR    := build/obj$(if $(filter 1,$(SANITIZE)),-san)
LIBOBJ    := $(LIBSRC:src/%.c=$(OBJDIR)/%.o)
BIN       := shardpipe
LIB       := $(OBJDIR)/libshardpipe.a

CHECK_SRC := $(wildcard tests/check_*.c)
CHECK_BIN := $(CHECK_SRC:tests/%.c=build/tests/%)
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=build/tools/%)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

.PHONY: all check unit deps demo bench install uninstall clean layering FORCE
all: $(BIN)

# The binaries keep their paths whatever the flavour, so a change of
# SANITIZE must relink them: this stamp changes when the flavour does.
FLAVOR    := $(if $(filter 1,$(SANITIZE)),sanitize,plain)
build/flavor: FORCE
	@mkdir -p build
	@echo $(FLAVOR) | cmp -s - $@ || echo $(FLAVOR) > $@

$(OBJDIR)/%.o: src/%.c $(wildcard include/shardpipe/*.h) | $(OBJDIR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJDIR):
	mkdir -p $@

$(LIB): $(LIBOBJ)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(OBJDIR)/app/main.o $(LIB) build/flavor
	$(CC) $(LDFLAGS) -o $@ $(OBJDIR)/app/main.o $(LIB) $(LDLIBS)

build/tests/%: tests/%.c tests/check_util.h $(LIB) build/flavor
	@mkdir -p build/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(LIB) $(CHECK_LIBS) $(LDLIBS)

# check_fleet runs the fleet simulation's code itself (it includes it).
build/tests/check_fleet: tests/tools/fleet_sim.c

build/tools/%: tests/tools/%.c $(LIB) build/flavor
	@mkdir -p build/tools
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(LIB) $(LDLIBS)

# Installs what the tests need when it is missing (Debian packages, npm
# packages into .deps/), then builds and runs every test.
deps:
	@sh tests/deps.sh

unit: $(CHECK_BIN)
	@sh tests/run-unit.sh $(CHECK_BIN)

# Layers only use lower layers, no module circles, no .c file over 1000
# lines (tests/layering.py says what each rule means).
layering:
	@python3 tests/layering.py .

check: deps
	@$(MAKE) --no-print-directory layering $(BIN) $(CHECK_BIN) $(TOOL_BIN)
	@sh tests/run-all.sh

demo: deps
	@$(MAKE) --no-print-directory $(BIN)
	@sh tests/demo.sh

bench: deps
	@$(MAKE) --no-print-directory $(BIN) build/sink
	@sh bench/run.sh

# The benchmark's Kinesis sink (bench/README.md); bench/sinklib.py builds it
# the same way when it is run on its own.
SINK_SRC  := bench/sink.c bench/sink_kinesis.c
build/sink: $(SINK_SRC) bench/sink.h
	@mkdir -p build
	$(CC) -O2 -g -std=c11 -Wall -Wextra -Werror -o $@ $(SINK_SRC) -lssl -lcrypto -lm

# The unit in etc/ names /usr/local/bin and /etc/shardpipe; the installed
# copy names BINDIR and SYSCONFDIR. An existing configuration is kept, and
# uninstall removes it only when it is still the example (not edited).
install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(SYSCONFDIR)/shardpipe $(DESTDIR)$(UNITDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/$(BIN)
	install -m 644 man/shardpipe.1 $(DESTDIR)$(MANDIR)/man1/shardpipe.1
	install -m 644 man/shardpipe.json.5 $(DESTDIR)$(MANDIR)/man5/shardpipe.json.5
	if [ -e $(DESTDIR)$(CONFIG) ]; then echo "keeping $(DESTDIR)$(CONFIG)"; \
	else install -m 644 etc/shardpipe.json $(DESTDIR)$(CONFIG); fi
	sed -e 's|/usr/local/bin/shardpipe|$(BINDIR)/shardpipe|g' -e 's|/etc/shardpipe/|$(SYSCONFDIR)/shardpipe/|g' \
	    etc/shardpipe.service > $(DESTDIR)$(UNITDIR)/shardpipe.service.tmp
	chmod 644 $(DESTDIR)$(UNITDIR)/shardpipe.service.tmp
	mv $(DESTDIR)$(UNITDIR)/shardpipe.service.tmp $(DESTDIR)$(UNITDIR)/shardpipe.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/$(BIN) $(DESTDIR)$(MANDIR)/man1/shardpipe.1 \
	    $(DESTDIR)$(MANDIR)/man5/shardpipe.json.5 $(DESTDIR)$(UNITDIR)/shardpipe.service
	if cmp -s etc/shardpipe.json $(DESTDIR)$(CONFIG); then rm -f $(DESTDIR)$(CONFIG); \
	elif [ -e $(DESTDIR)$(CONFIG) ]; then echo "keeping $(DESTDIR)$(CONFIG): it was edited"; fi
	-rmdir $(DESTDIR)$(SYSCONFDIR)/shardpipe 2>/dev/null

clean:
	rm -rf build $(BIN)
