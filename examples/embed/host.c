/* A C program that embeds the iblai runtime: no Lua files on disk, no LUA_PATH.
 * Build: cc host.c $(pkg-config --cflags --libs iblai) -o host
 * Run:   ./host [BASE_URL]   (prints the SDK version, then GETs BASE_URL/api/health if given) */
#include <stdio.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "iblai.h"

static const char *script =
  "local iblai = require 'iblai'\n"
  "print('iblai ' .. iblai.version)\n"
  "local base = ...\n"
  "if base then\n"
  "  local client = assert(iblai.new{ base_url = base, retries = 0 })\n"
  "  local res, err = client:request{ path = '/echo' }\n"
  "  print(res and ('status ' .. res.status) or tostring(err))\n"
  "  client:close()\n"
  "end\n";

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  iblai_openlibs(L);
  int rc = luaL_loadstring(L, script);
  if (rc == LUA_OK) {
    if (argc > 1) lua_pushstring(L, argv[1]);
    rc = lua_pcall(L, argc > 1 ? 1 : 0, 0, 0);
  }
  if (rc != LUA_OK) fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return rc == LUA_OK ? 0 : 1;
}
