rockspec_format = "3.0"
package = "iblai"
version = "scm-1"
source = {
  url = "git+https://github.com/iblai/iblai-lua.git",
}
description = {
  summary = "The ibl.ai Data Manager API for Lua 5.4, with a libcurl core",
  detailed = [[
    Every operation of the ibl.ai Data Manager API callable from Lua, over a C core on
    libcurl: pooled connections, retries with backoff, concurrent requests, pagination,
    and typed errors. Includes workflows for memory resets, chat exports and reports.
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
