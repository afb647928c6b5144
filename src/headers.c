/* The response headers table: most callers never read it, so it starts empty and is filled from
 * the raw header block the first time anything looks inside (an index, or pairs). */
#include <ctype.h>
#include <string.h>
#include "internal.h"

/* Registry keys (their addresses): the headers tables' metatable, and the table from each
 * headers table to its raw block (weak keys). */
static const char metatable_id = 0, raw_id = 0;

/* Fills t from its raw block: lower-case names; repeated headers joined as HTTP allows. */
static void parse_into(lua_State *L, int t, const char *p, size_t len) {
  const char *end = p + len;
  int first = 1;
  char small[64];
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const char *colon = first ? NULL : memchr(p, ':', (size_t)(eol - p)); /* line 1 is the status */
    first = 0;
    size_t nlen = colon ? (size_t)(colon - p) : 0;
    if (nlen > 0) {
      char *name = nlen <= sizeof small ? small : lua_newuserdatauv(L, nlen, 0); /* names of any length */
      for (size_t i = 0; i < nlen; i++) name[i] = (char)tolower((unsigned char)p[i]);
      const char *v = colon + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushlstring(L, name, nlen);
      if (name != small) lua_remove(L, -2);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, t) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, t);
    }
    p = eol + 1;
  }
}

/* Parses the table at idx if it still has a raw block. */
static void ensure_parsed(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &raw_id);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TSTRING) {
    size_t len;
    const char *block = lua_tolstring(L, -1, &len);
    parse_into(L, idx, block, len);
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, -4);
  }
  lua_pop(L, 2);
}

static int headers_index(lua_State *L) {
  ensure_parsed(L, 1);
  lua_settop(L, 2);
  lua_rawget(L, 1);
  return 1;
}

static int headers_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

static int headers_pairs(lua_State *L) {
  ensure_parsed(L, 1);
  lua_pushcfunction(L, headers_next); /* not the global next, which a script may have replaced */
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

void iblai_headers_push(lua_State *L, const char *block, size_t len) {
  lua_createtable(L, 0, 0);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &metatable_id);
  lua_setmetatable(L, -2);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &raw_id);
  lua_pushvalue(L, -2);
  lua_pushlstring(L, block ? block : "", block ? len : 0);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

void iblai_headers_open(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &metatable_id) != LUA_TTABLE) {
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, headers_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, headers_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &metatable_id);
  }
  lua_pop(L, 1);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &raw_id) != LUA_TTABLE) {
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &raw_id);
  }
  lua_pop(L, 1);
}
