# lua-mtproto build. The real work lives in src/, spec/, bench/, fuzz/ and scripts/;
# this file only wires them together. LuaRocks drives it too (see the rockspec).

LUA        ?= lua5.4
LUA_INCDIR ?= /usr/include/lua5.4
CC         ?= cc
CFLAGS     ?= -O2 -g
LIBFLAG    ?= -shared
BUSTED     ?= busted --lua=$(LUA)

# SANITIZE=1 builds everything with ASan + UBSan into a separate tree.
ifeq ($(SANITIZE),1)
BUILD      ?= build-san
SANFLAGS    = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TEST_ENV    = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
else
BUILD      ?= build
SANFLAGS    =
TEST_ENV    =
endif

WARN     = -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
# Hidden by default: core.so exports only its luaopen_ function (no clash with another
# module's symbols, and calls inside the module are direct instead of through the PLT).
ALLFLAGS = $(CFLAGS) $(WARN) $(SANFLAGS) -fPIC -fvisibility=hidden -I$(LUA_INCDIR) -Isrc
LIBS     = $(LIBDIRS) -lcrypto -lz -pthread

# LuaRocks passes the OpenSSL and zlib directories it found (external_dependencies);
# the system's default directories need no flag.
SYSDIRS  = /usr/include /usr/lib /usr/lib64 /lib /lib64 /usr/lib/$(shell $(CC) -dumpmachine 2>/dev/null)
INCDIRS  = $(addprefix -I,$(filter-out $(SYSDIRS),$(sort $(OPENSSL_INCDIR) $(ZLIB_INCDIR))))
LIBDIRS  = $(addprefix -L,$(filter-out $(SYSDIRS),$(sort $(OPENSSL_LIBDIR) $(ZLIB_LIBDIR))))
ALLFLAGS += $(INCDIRS)

CORE_SRC  = $(wildcard src/mt_*.c)
BIND_SRC  = $(wildcard src/l*.c)
DC_SRC    = $(wildcard src/testdc/*.c)
CORE_OBJ  = $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
BIND_OBJ  = $(BIND_SRC:src/%.c=$(BUILD)/obj/%.o)
DC_OBJ    = $(DC_SRC:src/%.c=$(BUILD)/obj/%.o)
MODULE    = $(BUILD)/mtproto/core.so
TESTDC    = $(if $(DC_SRC),$(BUILD)/mtproto-testdc)
# mtproto.qrencode (QR codes for `mtproto login --qr`): only where libqrencode's header is found
HAVE_QRENCODE := $(shell echo '\#include <qrencode.h>' | $(CC) $(INCDIRS) -E - >/dev/null 2>&1 && echo yes)
QR_MODULE = $(if $(HAVE_QRENCODE),$(BUILD)/mtproto/qrencode.so)
# schema/*.tl embedded into the binaries (parsed at load time by src/mt_schema.c)
GEN_OBJ   = $(BUILD)/obj/schema_data.o

LUA_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;" \
          LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" MTPROTO_TESTDC="$(CURDIR)/$(BUILD)/mtproto-testdc" \
          MTPROTO_ROOT="$(CURDIR)"

.PHONY: FORCE all deps deps-build lint docs test valgrind demo bench fuzz install clean
all: $(MODULE) $(TESTDC) $(QR_MODULE)

# The compiler and flags of the last build: when they change (another CC, LuaRocks' CFLAGS),
# everything is rebuilt instead of reusing objects built with other flags.
FLAGS_STAMP = $(BUILD)/flags
BUILD_FLAGS = $(CC) $(ALLFLAGS) $(LIBFLAG) $(LIBS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@
FORCE:

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h src/testdc/*.h) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c -o $@ $<

$(BUILD)/gen/schema_data.c: schema/mtproto.tl schema/api.tl scripts/embed_schema.lua
	@mkdir -p $(dir $@)
	$(LUA) scripts/embed_schema.lua $@ schema/mtproto.tl schema/api.tl

# The constructor ids the C code names (src/mt_ids.h), from schema/: committed, since fuzz/
# and bench/ compile src/ directly; regenerated here when the schema or the generator change.
src/mt_ids.h: schema/mtproto.tl schema/api.tl scripts/gen_ids.lua
	$(LUA) scripts/gen_ids.lua $@ schema/mtproto.tl schema/api.tl

$(GEN_OBJ): $(BUILD)/gen/schema_data.c $(FLAGS_STAMP)
	$(CC) $(ALLFLAGS) -c -o $@ $<

$(MODULE): $(CORE_OBJ) $(BIND_OBJ) $(GEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(LIBFLAG) -o $@ $(filter %.o,$^) $(LIBS)

$(BUILD)/mtproto-testdc: $(CORE_OBJ) $(DC_OBJ) $(GEN_OBJ)
	$(CC) $(ALLFLAGS) -o $@ $(filter %.o,$^) $(LIBS)

$(BUILD)/mtproto/qrencode.so: $(BUILD)/obj/qr/lqrencode.o
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(LIBFLAG) -o $@ $(filter %.o,$^) $(LIBDIRS) -lqrencode

# deps: everything `make test` and `make bench` need (Node.js and npm ci for the interop specs);
# deps-build: only what the build and `make demo` need.
deps:
	@scripts/deps.sh test

deps-build:
	@scripts/deps.sh build

test: deps all
	$(TEST_ENV) $(LUA_ENV) MTPROTO_REQUIRE_INTEROP=1 $(BUSTED) $(BUSTED_ARGS) spec

# The Lua-free core's specs (sans-IO: codec, crypto, handshake, transports, messages,
# session, the proxy stages), and tl.call's round trips against the test DC, under valgrind
# memcheck; any definite leak or memory error fails.
VALGRIND_SPECS = $(wildcard spec/0*_spec.lua spec/1*_spec.lua spec/2*_spec.lua spec/30-*_spec.lua spec/31-tl_call_spec.lua spec/33-*_spec.lua spec/36-*_spec.lua)
valgrind: all
	$(LUA_ENV) valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
	  --show-leak-kinds=definite --error-exitcode=99 $(LUA) /usr/bin/busted --ignore-lua $(VALGRIND_SPECS)

demo: deps-build all
	@$(LUA_ENV) $(LUA) examples/demo.lua

bench: deps all
	@$(LUA_ENV) $(LUA) bench/run.lua

fuzz:
	@scripts/fuzz.sh

# The API reference (LDoc, config.ld) in docs/api (generated, not committed); any LDoc
# warning fails.
docs:
	@out=$$(ldoc . 2>&1) || { echo "$$out"; exit 1; }; \
	  if echo "$$out" | grep -qiE "warning|error|not found|no items|unknown"; then echo "$$out"; exit 1; fi; \
	  echo "API reference: docs/api/index.html"

# luacheck over every Lua file (.luacheckrc); CI runs it
lint:
	luacheck . bin/mtproto

# LuaRocks passes INST_* (see the rockspec); by hand: make install INST_PREFIX=/usr/local
INST_PREFIX ?= /usr/local
INST_LIBDIR ?= $(INST_PREFIX)/lib/lua/5.4
INST_LUADIR ?= $(INST_PREFIX)/share/lua/5.4
INST_BINDIR ?= $(INST_PREFIX)/bin
install: all
	mkdir -p $(INST_LIBDIR)/mtproto $(INST_LUADIR)/mtproto $(INST_BINDIR)
	cp $(MODULE) $(INST_LIBDIR)/mtproto/core.so
	cp lua/mtproto/*.lua $(INST_LUADIR)/mtproto/
	mkdir -p $(INST_LUADIR)/mtproto/schema && cp schema/*.tl $(INST_LUADIR)/mtproto/schema/
	$(if $(TESTDC),cp $(TESTDC) $(INST_BINDIR)/mtproto-testdc)
	$(if $(QR_MODULE),cp $(QR_MODULE) $(INST_LIBDIR)/mtproto/qrencode.so)
	cp bin/mtproto $(INST_BINDIR)/mtproto

clean:
	rm -rf build build-san
