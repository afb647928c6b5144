/* iblai_openlibs: every iblai.* module requirable from package.preload, no files on disk. */
#include "internal.h"
#include "iblai.h"
#include "modules.h"
#include "restrict.h"

/* Loads a module built into the library. In a restricted state the modules run with the
 * original globals, not with the curated ones scripts see (restrict.c). */
static int load_embedded(lua_State *L) {
  const iblai_module *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbuffer(L, m->source, m->len, m->chunkname) != LUA_OK) return lua_error(L);
  if (lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_TRUSTED_KEY) != LUA_TTABLE || !lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

void iblai_openlibs(lua_State *L) {
  if (!L) return;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, iblai_open_core); /* the core, its sessions reporting to the host's log */
  lua_setfield(L, -2, "iblai.core");
  for (const iblai_module *m = iblai_modules; m->name; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}
