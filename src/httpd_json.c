/* iblai.httpd's JSON writer for the sandbox's answers: keys sorted byte by byte (two runs can be
 * diffed), every empty table written as [] unless its metatable is the one given as `object`,
 * lua-cjson's null (a NULL light userdata) as null, integers as integers and whole floats without
 * a fraction. Every answer goes through it, so it is C: the Lua writer it replaces spent more
 * than half of a 10-artifact page in sorting keys and building pieces.
 *
 * httpd.encode_json(value, object_mt) -> text; raises on what JSON cannot hold (a function, a
 * non-finite number, a table mixing list items and keys, nesting over 64 levels). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include "httpd.h"

#define MAX_DEPTH 64
#define OUT_MT "iblai.httpd.JsonOut"

typedef struct out {
  char *p;
  size_t n, cap;
} out;

typedef struct key {
  const char *s;
  size_t len;
} key;

typedef struct writer {
  lua_State *L;
  out *o;
  int object_mt; /* stack index of the object metatable, or 0 */
} writer;

static int out_gc(lua_State *L) {
  out *o = lua_touserdata(L, 1);
  free(o->p);
  o->p = NULL;
  return 0;
}

static void room(writer *w, size_t extra) {
  out *o = w->o;
  if (o->cap - o->n >= extra) return;
  size_t cap = o->cap ? o->cap : 256;
  while (cap - o->n < extra) cap *= 2;
  char *p = realloc(o->p, cap);
  if (!p) luaL_error(w->L, "out of memory writing JSON");
  o->p = p;
  o->cap = cap;
}

static void put(writer *w, const char *s, size_t len) {
  room(w, len);
  memcpy(w->o->p + w->o->n, s, len);
  w->o->n += len;
}

static void putc1(writer *w, char c) {
  room(w, 1);
  w->o->p[w->o->n++] = c;
}

static void fail(writer *w, const char *msg) {
  lua_pushstring(w->L, msg);
  lua_error(w->L);
}

static void put_string(writer *w, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  room(w, len + 2);
  putc1(w, '"');
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
    put(w, s + start, i - start);
    start = i + 1;
    switch (c) {
    case '"': put(w, "\\\"", 2); break;
    case '\\': put(w, "\\\\", 2); break;
    case '\b': put(w, "\\b", 2); break;
    case '\f': put(w, "\\f", 2); break;
    case '\n': put(w, "\\n", 2); break;
    case '\r': put(w, "\\r", 2); break;
    case '\t': put(w, "\\t", 2); break;
    default: {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(w, u, 6);
    }
    }
  }
  put(w, s + start, len - start);
  putc1(w, '"');
}

static void put_number(writer *w, int idx) {
  char buf[64];
  int n;
  if (lua_isinteger(w->L, idx)) {
    n = snprintf(buf, sizeof buf, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(w->L, idx));
  } else {
    double v = (double)lua_tonumber(w->L, idx);
    if (!isfinite(v)) fail(w, "cannot write a non-finite number as JSON");
    if (v == floor(v) && v > -9007199254740992.0 && v < 9007199254740992.0) {
      n = snprintf(buf, sizeof buf, "%.0f", v == 0 ? 0.0 : v); /* -0.0 too is 0 */
    } else {
      n = snprintf(buf, sizeof buf, "%.14g", v);
      if (strtod(buf, NULL) != v) n = snprintf(buf, sizeof buf, "%.17g", v);
    }
  }
  put(w, buf, (size_t)n);
}

static int key_order(const void *a, const void *b) {
  const key *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

static void put_value(writer *w, int idx, int depth);

/* Whether the table at idx carries the object metatable. */
static int is_object(writer *w, int idx) {
  if (!w->object_mt || !lua_getmetatable(w->L, idx)) return 0;
  int same = lua_rawequal(w->L, -1, w->object_mt);
  lua_pop(w->L, 1);
  return same;
}

static void put_table(writer *w, int idx, int depth) {
  lua_State *L = w->L;
  if (depth > MAX_DEPTH) fail(w, "cannot write JSON nested deeper than 64 levels");
  luaL_checkstack(L, 8, "writing JSON");
  int object = is_object(w, idx);
  lua_pushnil(L);
  if (!lua_next(L, idx)) {
    put(w, object ? "{}" : "[]", 2);
    return;
  }
  lua_pop(L, 2);
  if (!object && lua_rawgeti(L, idx, 1) != LUA_TNIL) {
    lua_pop(L, 1);
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
    putc1(w, '[');
    for (lua_Integer i = 1; i <= len; i++) {
      if (i > 1) putc1(w, ',');
      lua_rawgeti(L, idx, i);
      put_value(w, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    putc1(w, ']');
    return;
  }
  if (!object) lua_pop(L, 1);
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) fail(w, "cannot write a table mixing list items and keys as JSON");
    count++;
  }
  key *keys = lua_newuserdatauv(L, count * sizeof *keys, 0); /* freed by the collector if we raise */
  size_t k = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (k < count) { /* the table keeps each key alive */
      keys[k].s = lua_tolstring(L, -1, &keys[k].len);
      k++;
    }
  }
  qsort(keys, k, sizeof *keys, key_order);
  for (size_t i = 0; i < k; i++) {
    putc1(w, i ? ',' : '{');
    put_string(w, keys[i].s, keys[i].len);
    putc1(w, ':');
    lua_pushlstring(L, keys[i].s, keys[i].len);
    lua_rawget(L, idx);
    put_value(w, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  putc1(w, '}');
  lua_pop(L, 1); /* the keys */
}

static void put_value(writer *w, int idx, int depth) {
  lua_State *L = w->L;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    put_string(w, s, len);
    break;
  }
  case LUA_TNUMBER: put_number(w, idx); break;
  case LUA_TBOOLEAN: lua_toboolean(L, idx) ? put(w, "true", 4) : put(w, "false", 5); break;
  case LUA_TNIL: put(w, "null", 4); break;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) {
      put(w, "null", 4);
      break;
    }
    /* fall through */
  default:
    if (lua_type(L, idx) == LUA_TTABLE) {
      put_table(w, idx, depth);
      break;
    }
    lua_pushfstring(L, "cannot write a %s as JSON", luaL_typename(L, idx));
    lua_error(L);
  }
}

/* httpd.encode_json(value [, object_mt]) */
static int l_encode_json(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 2);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  out *o = lua_newuserdatauv(L, sizeof *o, 0);
  memset(o, 0, sizeof *o);
  if (luaL_newmetatable(L, OUT_MT)) {
    lua_pushcfunction(L, out_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  writer w = {L, o, lua_isnil(L, 2) ? 0 : 2};
  put_value(&w, 1, 0);
  lua_pushlstring(L, o->p ? o->p : "", o->n);
  free(o->p);
  o->p = NULL;
  return 1;
}

void iblai_httpd_json_funcs(lua_State *L) {
  lua_pushcfunction(L, l_encode_json);
  lua_setfield(L, -2, "encode_json");
}
