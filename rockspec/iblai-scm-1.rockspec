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
    The rock holds the Lua modules and iblai.core. The iblai program (scripts, commands,
    restricted mode, the sandbox simulator) and libiblai for C hosts are not in it: they come
    with `make install` from the source tree.
  ]],
  license = "MIT",
  labels = { "http", "api", "sdk", "curl" },
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "lua-cjson",
}
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
}
build = {
  type = "make",
  makefile = "Makefile",
  build_target = "rock-build",
  install_target = "rock-install",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_INC = "-I$(LUA_INCDIR)",
    CURL_LIBS = "-L$(CURL_LIBDIR) -lcurl",
    CURL_INC = "-I$(CURL_INCDIR)",
  },
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
  },
}
