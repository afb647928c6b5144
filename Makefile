# iblai: the ibl.ai Data Manager API as a Lua 5.4 runtime with a C core.
# make            build the C modules, the libraries and the iblai program under build/
# make test       install what is missing, build, run every test and check
# make demo       run the main example against a local sandbox
# make bench      measure against a plain C libcurl loop (ratios, one run)
# make lint       luacheck + a warning-clean C build
# make install    PREFIX=/usr/local (DESTDIR honoured)
# make rock       a source rock of HEAD in build/rock (installs offline)
# make regen      regenerate lua/iblai/operations and the editor definitions (types/) from SPEC
# make man        regenerate doc/iblai.1 from the commands' own help
# make docs       the API reference (LDoc): build/docs/index.html

LUA       ?= lua5.4
LUA_INC   ?= $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIB   ?= $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
# curl through pkg-config, else curl-config, else Debian's multiarch directories; CURL_INCDIR and
# CURL_LIBDIR (LuaRocks passes them) come first.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
CURL_INC  ?= $(if $(filter-out /usr/include,$(CURL_INCDIR)),-I$(CURL_INCDIR)) $(shell pkg-config --cflags libcurl 2>/dev/null || \
               curl-config --cflags 2>/dev/null || echo $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH)))
CURL_LIBS ?= $(if $(CURL_LIBDIR),-L$(CURL_LIBDIR)) $(shell pkg-config --libs libcurl 2>/dev/null || \
               curl-config --libs 2>/dev/null || echo -lcurl)
MHD_LIBS  ?= $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
CC        ?= cc
OPT       ?= -O2 -g
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
# A caller's CFLAGS (LuaRocks passes CFLAGS= on make's command line) may change the defaults
# before it, never drop what the build needs after it.
NEEDED    := -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC $(LUA_INC) $(CURL_INC)
override CFLAGS := $(OPT) $(WARN) $(CFLAGS) $(NEEDED) $(SANITIZE)
LDFLAGS   += $(SANITIZE)
PREFIX    ?= /usr/local
SPEC      ?= ../shared/openapi/ibl-data-manager-4.90.4.yml
VERSION   := 0.1.0

B         := build
OBJ       := $(B)/obj
CMOD      := $(B)/lib/lua/iblai
CORE_SRC  := src/core.c src/session.c src/transfer.c src/batch.c src/stream.c src/auth.c src/retry.c src/url.c \
             src/error.c src/numbers.c src/util.c src/json.c src/headers.c src/os.c src/jsoncheck.c src/sink.c
CORE_OBJ  := $(CORE_SRC:src/%.c=$(OBJ)/%.o)
# The embedding API of libiblai: the preloaded modules, restricted mode, host hooks.
EMBED_OBJ := $(OBJ)/openlibs.o $(OBJ)/limits.o $(OBJ)/guard.o $(OBJ)/safe.o $(OBJ)/restrict.o $(OBJ)/hooks.o $(OBJ)/modules.o
HTTPD_OBJ := $(OBJ)/httpd.o $(OBJ)/httpd_os.o $(OBJ)/httpd_json.o $(OBJ)/util.o
LUA_SRC   := $(shell find lua -name '*.lua' | LC_ALL=C sort)

PROGRAM   := $(B)/bin/iblai
LIBA      := $(B)/lib/libiblai.a
LIBSO     := $(B)/lib/libiblai.so

.PHONY: all deps test check lint demo bench install uninstall regen man docs clean clean-obj rock rock-build rock-install

all: $(CMOD)/core.so $(CMOD)/httpd.so $(LIBA) $(LIBSO) $(PROGRAM)

$(OBJ)/%.o: src/%.c src/internal.h src/util.h src/iblai.h src/httpd.h src/restrict.h src/pool.h | $(OBJ)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJ)/modules.o: $(B)/gen/modules.c | $(OBJ)
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

$(B)/gen/modules.c: tools/embed.lua $(LUA_SRC) | $(B)/gen
	$(LUA) tools/embed.lua lua $(LUA_SRC) > $@.tmp && mv $@.tmp $@

$(CMOD)/core.so: $(CORE_OBJ) | $(CMOD)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(CURL_LIBS) -lm -lpthread

$(CMOD)/httpd.so: $(HTTPD_OBJ) | $(CMOD)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(MHD_LIBS) -lm

$(LIBA): $(CORE_OBJ) $(EMBED_OBJ) | $(B)/lib
	rm -f $@ && ar rcs $@ $^

$(LIBSO): $(CORE_OBJ) $(EMBED_OBJ) | $(B)/lib
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libiblai.so.0 -o $@ $^ $(CURL_LIBS) $(LUA_LIB) -lm -lpthread
	ln -sf libiblai.so $(B)/lib/libiblai.so.0

$(PROGRAM): $(OBJ)/runner.o $(OBJ)/runner_restricted.o $(OBJ)/pool.o $(HTTPD_OBJ) $(LIBA) | $(B)/bin
	$(CC) $(LDFLAGS) -o $@ $(OBJ)/runner.o $(OBJ)/runner_restricted.o $(OBJ)/pool.o $(HTTPD_OBJ) $(LIBA) $(CURL_LIBS) $(MHD_LIBS) $(LUA_LIB) -lm -lpthread -ldl

$(OBJ) $(CMOD) $(B)/lib $(B)/bin $(B)/gen:
	mkdir -p $@

deps:
	@sh tools/deps.sh test

# Every test: busted specs, the embedding check, luacheck, then the specs again under valgrind.
test:
	@sh tools/deps.sh test
	@$(MAKE) --no-print-directory all
	@sh tools/test.sh

check: all
	@sh tools/test.sh --fast

lint: deps
	luacheck -q lua spec tools bench examples
	$(MAKE) --no-print-directory clean-obj
	$(MAKE) --no-print-directory all WARN="$(WARN) -Werror"

demo:
	@sh tools/deps.sh runtime
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

bench:
	@sh tools/deps.sh bench
	@$(MAKE) --no-print-directory all OPT="-O2 -g"
	@sh bench/run.sh

regen:
	$(LUA) tools/gen_operations.lua $(SPEC) lua/iblai/operations
	$(LUA) tools/gen_types.lua $(SPEC) types

man: $(PROGRAM)
	$(PROGRAM) tools/gen_man.lua > doc/iblai.1.tmp && mv doc/iblai.1.tmp doc/iblai.1

# The reference of the Lua modules and of iblai.h, from their doc comments (config.ld; Debian's
# lua-ldoc). tools/check-docs.sh, run by make test, fails on a warning or an undocumented function.
docs:
	rm -rf $(B)/docs
	ldoc .

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4/iblai \
	  $(DESTDIR)$(PREFIX)/share/lua/5.4 $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(PROGRAM) $(DESTDIR)$(PREFIX)/bin/iblai
	install -m 755 $(CMOD)/core.so $(CMOD)/httpd.so $(DESTDIR)$(PREFIX)/lib/lua/5.4/iblai/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/libiblai.so.$(VERSION)
	ln -sf libiblai.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libiblai.so.0
	ln -sf libiblai.so.0 $(DESTDIR)$(PREFIX)/lib/libiblai.so
	install -m 644 src/iblai.h $(DESTDIR)$(PREFIX)/include/
	cd lua && find iblai -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(PREFIX)/share/lua/5.4/{} \;
	cd types && find . -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(PREFIX)/share/lua/5.4/iblai/types/{} \;
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' tools/iblai.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/iblai.pc
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 644 doc/iblai.1 $(DESTDIR)$(PREFIX)/share/man/man1/iblai.1
	install -m 644 tools/completion/iblai.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/iblai
	install -m 644 tools/completion/iblai.zsh $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_iblai

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/iblai $(DESTDIR)$(PREFIX)/lib/lua/5.4/iblai \
	  $(DESTDIR)$(PREFIX)/share/lua/5.4/iblai $(DESTDIR)$(PREFIX)/include/iblai.h \
	  $(DESTDIR)$(PREFIX)/lib/libiblai.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/iblai.pc \
	  $(DESTDIR)$(PREFIX)/share/man/man1/iblai.1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/iblai \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_iblai

# Used by the rockspec (build.type = "make"): iblai.core, the program, the Lua modules (without
# the program's own, built into it: iblai.cli, iblai.sandbox) and the editor definitions.
rock-build: $(CMOD)/core.so $(PROGRAM)

rock-install: rock-build
	install -d $(INST_LIBDIR)/iblai $(INST_LUADIR)/iblai/types $(INST_BINDIR)
	install -m 755 $(CMOD)/core.so $(INST_LIBDIR)/iblai/core.so
	install -m 755 $(PROGRAM) $(INST_BINDIR)/iblai
	cd lua && find iblai -name '*.lua' -not -path 'iblai/cli/*' -not -path 'iblai/sandbox/*' \
	  -exec install -D -m 644 {} $(INST_LUADIR)/{} \;
	cd types && find . -name '*.lua' -exec install -D -m 644 {} $(INST_LUADIR)/iblai/types/{} \;

# A source rock of HEAD in build/rock/, which installs offline: luarocks install build/rock/iblai-scm-1.src.rock
rock:
	sh tools/pack-rock.sh $(B)/rock

clean-obj:
	rm -rf $(OBJ)

clean:
	rm -rf $(B)
