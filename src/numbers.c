/* lua-cjson 2.1 decodes every JSON number as a float under Lua 5.4; ids must print as 1, not 1.0. */
#include <math.h>
#include "internal.h"

#define EXACT_LIMIT 9007199254740992.0 /* 2^53: beyond it a float no longer names one integer */

static void integralize(lua_State *L, int t, int depth) {
  luaL_checkstack(L, 4, "JSON value nested too deeply");
  if (depth > 1000) luaL_error(L, "JSON value nested more than 1000 levels");
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int vt = lua_type(L, -1);
    if (vt == LUA_TNUMBER && !lua_isinteger(L, -1)) {
      lua_Number n = lua_tonumber(L, -1);
      if (n == floor(n) && fabs(n) <= EXACT_LIMIT) {
        lua_pushvalue(L, -2);
        lua_pushinteger(L, (lua_Integer)n);
        lua_rawset(L, t);
      }
    } else if (vt == LUA_TTABLE) {
      integralize(L, lua_gettop(L), depth + 1);
    }
    lua_pop(L, 1);
  }
}

/* core.integralize(v): turns whole-number floats inside v into integers, in place; returns v. */
int iblai_integralize(lua_State *L) {
  lua_settop(L, 1);
  if (lua_type(L, 1) == LUA_TTABLE) {
    integralize(L, 1, 0);
  } else if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1)) {
    lua_Number n = lua_tonumber(L, 1);
    if (n == floor(n) && fabs(n) <= EXACT_LIMIT) lua_pushinteger(L, (lua_Integer)n);
  }
  return 1;
}
