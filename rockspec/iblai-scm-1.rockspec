rockspec_format = "3.0"
package = "iblai"
version = "scm-1"
source = {
  url = "git+https://github.com/iblai/iblai-lua.git",
}
description = {
  summary = "The ibl.ai Data Manager API for Lua 5.4, with a libcurl core",
  detailed = [[
    Every operation of the ibl.ai Data Manager API callable from Lua by its operationId, over a
    C module on libcurl (iblai.core): pooled connections, retries with backoff, concurrent
    requests, pagination and typed errors; and the workflow modules (bulk memory reset,
    chat-history export with task polling, the cohort report's data and renderings).
    The rock also installs the iblai program (scripts, the workflow commands, restricted mode,
    the sandbox simulator) into the tree's bin/, and lua-language-server definitions of every
    operation under share/lua/5.4/iblai/types. libiblai and iblai.h for C hosts come with
    `make install` from the source tree.
  ]],
  license = "MIT",
  labels = { "http", "api", "sdk", "curl" },
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "lua-cjson",
  "argparse",
}
-- Libraries only: the Makefile finds curl.h itself (pkg-config, curl-config, or Debian's
-- multiarch directory, which LuaRocks does not search for headers).
external_dependencies = {
  CURL = { library = "curl" },
  MICROHTTPD = { library = "microhttpd" },
}
build = {
  type = "make",
  makefile = "Makefile",
  build_target = "rock-build",
  install_target = "rock-install",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA = "$(LUA)",
    LUA_INC = "-I$(LUA_INCDIR)",
    CURL_INCDIR = "$(CURL_INCDIR)",
    CURL_LIBDIR = "$(CURL_LIBDIR)",
    MHD_LIBS = "-L$(MICROHTTPD_LIBDIR) -lmicrohttpd",
  },
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    INST_BINDIR = "$(BINDIR)",
  },
}
