/* Percent-encoding, query strings and URL resolution: a value can never change the path it is
 * put in, and equal query tables give equal URLs. Tables are read raw (no metamethods), and what
 * is read stays on the Lua stack while it is used: Lua code run meanwhile (a finalizer) cannot
 * pull it away. Text is built in C buffers, so building allocates nothing the GC sees. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

/* Every byte but RFC 3986 unreserved characters becomes %XX; so do the dots of a value that is
 * "." or "..", which would otherwise be a dot segment that moves the request up the path.
 * Returns 0, or -1 when out of memory. */
static int escape_into(iblai_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  int dots = (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
  char chunk[192];
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c) && !dots) {
      chunk[used++] = (char)c;
    } else {
      chunk[used++] = '%';
      chunk[used++] = hex[c >> 4];
      chunk[used++] = hex[c & 15];
    }
    if (used > sizeof chunk - 3) {
      if (iblai_buf_append(b, chunk, used) != 0) return -1;
      used = 0;
    }
  }
  return iblai_buf_append(b, chunk, used);
}

/* Pushes b's text and frees b; raises (after freeing) when building ran out of memory. */
static int push_text(lua_State *L) {
  iblai_buf *b = lua_touserdata(L, 1);
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  return 1;
}

/* Pushes b's text and frees b, also when Lua has no memory for the string (a protected call). */
static void push_buf(lua_State *L, iblai_buf *b, int failed) {
  if (failed) {
    iblai_buf_free(b);
    luaL_error(L, "out of memory");
  }
  lua_pushcfunction(L, push_text);
  lua_pushlightuserdata(L, b);
  int status = lua_pcall(L, 1, 1, 0);
  iblai_buf_free(b);
  if (status != LUA_OK) lua_error(L);
}

int iblai_url_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  iblai_buf b = {NULL, 0, 0};
  push_buf(L, &b, escape_into(&b, s, n) != 0);
  return 1;
}

/* A scalar as it goes into a URL; NULL if the value at v is not one. Whole floats print without
 * ".0", so an id read from JSON goes back as it came. A string stays valid while v holds it. */
static const char *scalar(lua_State *L, int v, char *tmp, size_t tmplen, size_t *len) {
  switch (lua_type(L, v)) {
  case LUA_TSTRING:
    return lua_tolstring(L, v, len);
  case LUA_TBOOLEAN:
    *len = lua_toboolean(L, v) ? 4 : 5;
    return lua_toboolean(L, v) ? "true" : "false";
  case LUA_TNUMBER:
    if (lua_isinteger(L, v)) {
      *len = (size_t)snprintf(tmp, tmplen, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, v));
    } else {
      lua_Number n = lua_tonumber(L, v);
      if (n == floor(n) && fabs(n) < 9223372036854775808.0)
        *len = (size_t)snprintf(tmp, tmplen, LUA_INTEGER_FMT, (LUAI_UACINT)(lua_Integer)n);
      else
        *len = (size_t)snprintf(tmp, tmplen, LUA_NUMBER_FMT, (LUAI_UACNUMBER)n);
    }
    return tmp;
  default:
    return NULL;
  }
}

static int compare_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends key=value (escaped) to b, with & before all but the first pair. */
static int add_pair(iblai_buf *b, const char *k, size_t klen, const char *v, size_t vlen, int join) {
  int rc = 0;
  if (!join) {
    if (b->len) rc |= iblai_buf_append(b, "&", 1);
    rc |= escape_into(b, k, klen);
    rc |= iblai_buf_append(b, "=", 1);
  } else {
    rc |= iblai_buf_append(b, "%2C", 3); /* the comma of a joined list, escaped as any comma */
  }
  return rc | escape_into(b, v, vlen);
}

void iblai_query_push(lua_State *L, int idx, int joined) {
  int q = lua_absindex(L, idx);
  if (joined) joined = lua_absindex(L, joined);
  /* the keys, anchored in a list of our own while they are sorted and used */
  lua_newtable(L);
  int anchor = lua_gettop(L);
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, q)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) iblai_misuse(L, "query keys must be strings");
    lua_pushvalue(L, -1);
    lua_rawseti(L, anchor, ++n);
  }
  const char **keys = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *keys, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, anchor, i);
    keys[i - 1] = lua_tostring(L, -1); /* alive: the anchor list holds it */
    lua_pop(L, 1);
  }
  qsort(keys, (size_t)n, sizeof *keys, compare_keys);
  iblai_buf b = {NULL, 0, 0};
  int failed = 0;
  char tmp[64];
  for (lua_Integer i = 0; i < n && !failed; i++) {
    const char *key = keys[i];
    size_t klen = strlen(key), vlen;
    lua_pushstring(L, key);
    lua_rawget(L, q); /* the value stays on the stack while it is written */
    if (!lua_istable(L, -1)) {
      const char *v = scalar(L, -1, tmp, sizeof tmp, &vlen);
      if (!v) {
        iblai_buf_free(&b);
        iblai_misuse(L, "query value '%s' must be a string, number or boolean", key);
      }
      failed = add_pair(&b, key, klen, v, vlen, 0) != 0;
      lua_pop(L, 1);
      continue;
    }
    int join = 0;
    if (joined) {
      lua_pushstring(L, key);
      join = lua_rawget(L, joined) != LUA_TNIL && lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer j = 1; j <= count && !failed; j++) {
      lua_rawgeti(L, -1, j);
      const char *v = scalar(L, -1, tmp, sizeof tmp, &vlen);
      if (!v) {
        iblai_buf_free(&b);
        iblai_misuse(L, "query value %s[%I] must be a string, number or boolean", key, (LUAI_UACINT)j);
      }
      failed = add_pair(&b, key, klen, v, vlen, join && j > 1) != 0;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, anchor - 1);
  push_buf(L, &b, failed);
}

/* core.path(pieces, values [, defaults]) -> path, or nil when a value is missing, empty or not a
 * scalar.
 * pieces alternate literal text and parameter names (text, name, text, ..., text); each value,
 * from values or else defaults (read raw), goes in as a URL scalar, percent-encoded. */
int iblai_path_lua(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  int defaults = lua_istable(L, 3) ? 3 : 0;
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  iblai_buf b = {NULL, 0, 0};
  int failed = 0;
  char tmp[64];
  for (lua_Integer i = 1; i <= n && !failed; i++) {
    lua_rawgeti(L, 1, i);
    size_t len;
    if (i % 2 == 1) { /* literal text */
      const char *text = lua_tolstring(L, -1, &len);
      failed = text && iblai_buf_append(&b, text, len) != 0;
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -1);
    if (lua_rawget(L, 2) == LUA_TNIL && defaults) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_rawget(L, defaults);
    }
    const char *v = scalar(L, -1, tmp, sizeof tmp, &len); /* alive while on the stack */
    if (!v || len == 0) { /* an empty segment would make the path another operation's */
      iblai_buf_free(&b);
      luaL_pushfail(L);
      return 1;
    }
    failed = escape_into(&b, v, len) != 0;
    lua_pop(L, 2);
  }
  push_buf(L, &b, failed);
  return 1;
}

/* core.query(tbl [, joined]) -> "a=1&b=x" (sorted keys) */
int iblai_query_lua(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  iblai_query_push(L, 1, lua_isnil(L, 2) ? 0 : 2);
  return 1;
}

/* core.origin(url) -> "scheme://host:port", or nil and a message. */
int iblai_url_origin(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  char *origin = iblai_origin_of(url);
  if (!origin) {
    luaL_pushfail(L);
    lua_pushfstring(L, "not an absolute http(s) URL: %s", url);
    return 2;
  }
  lua_pushstring(L, origin);
  free(origin);
  return 1;
}

/* core.resolve(base, reference) -> absolute URL (a relative next link read against its page). */
int iblai_url_resolve(lua_State *L) {
  const char *base = luaL_checkstring(L, 1), *ref = luaL_checkstring(L, 2);
  CURLU *u = curl_url();
  if (!u) return luaL_error(L, "out of memory");
  char *out = NULL;
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, base, 0);
  if (rc == CURLUE_OK) rc = curl_url_set(u, CURLUPART_URL, ref, 0);
  if (rc == CURLUE_OK) rc = curl_url_get(u, CURLUPART_URL, &out, 0);
  curl_url_cleanup(u);
  if (rc != CURLUE_OK) {
    luaL_pushfail(L);
    lua_pushfstring(L, "'%s' is not a URL relative to %s (%s)", ref, base, curl_url_strerror(rc));
    return 2;
  }
  lua_pushstring(L, out);
  curl_free(out);
  return 1;
}
