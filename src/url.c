/* Percent-encoding, query strings and URL resolution: a value can never change the path it is
 * put in, and equal query tables give equal URLs. */
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
 * "." or "..", which would otherwise be a dot segment that moves the request up the path. */
void iblai_escape_into(luaL_Buffer *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  int dots = (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c) && !dots) {
      luaL_addchar(b, (char)c);
    } else {
      luaL_addchar(b, '%');
      luaL_addchar(b, hex[c >> 4]);
      luaL_addchar(b, hex[c & 15]);
    }
  }
}

int iblai_url_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  iblai_escape_into(&b, s, n);
  luaL_pushresult(&b);
  return 1;
}

/* A scalar as it goes into a URL; NULL if v is not one. Whole floats print without ".0", so an
 * id read from JSON goes back as it came. Strings stay alive in the table that holds them. */
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

static void add_key(luaL_Buffer *b, int *first, const char *k) {
  if (!*first) luaL_addchar(b, '&');
  *first = 0;
  iblai_escape_into(b, k, strlen(k));
  luaL_addchar(b, '=');
}

/* Gets item i of the list at v as text for the query, or raises naming it. */
static const char *list_item(lua_State *L, int v, lua_Integer i, const char *key, char *tmp, size_t *len) {
  lua_geti(L, v, i);
  const char *s = scalar(L, -1, tmp, 64, len); /* a string stays alive in the list */
  lua_pop(L, 1);
  if (!s) iblai_misuse(L, "query value %s[%I] must be a string, number or boolean", key, (LUAI_UACINT)i);
  return s;
}

void iblai_query_push(lua_State *L, int idx, int joined) {
  int q = lua_absindex(L, idx);
  if (joined) joined = lua_absindex(L, joined);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, q)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) iblai_misuse(L, "query keys must be strings");
    n++;
  }
  const char **keys = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *keys, 0);
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, q)) {
    lua_pop(L, 1);
    keys[i++] = lua_tostring(L, -1); /* kept alive as keys of the query table */
  }
  qsort(keys, (size_t)n, sizeof *keys, compare_keys);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int first = 1;
  char tmp[64];
  for (i = 0; i < n; i++) {
    lua_getfield(L, q, keys[i]);
    size_t len;
    if (!lua_istable(L, -1)) {
      const char *s = scalar(L, -1, tmp, sizeof tmp, &len);
      lua_pop(L, 1);
      if (!s) iblai_misuse(L, "query value '%s' must be a string, number or boolean", keys[i]);
      add_key(&b, &first, keys[i]);
      iblai_escape_into(&b, s, len);
      continue;
    }
    int join = 0;
    if (joined) {
      lua_getfield(L, joined, keys[i]);
      join = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    lua_Integer count = luaL_len(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, q, keys[i]); /* the list stays below while its items are read */
    int list = lua_gettop(L);
    for (lua_Integer j = 1; j <= count; j++) {
      const char *s = list_item(L, list, j, keys[i], tmp, &len);
      lua_settop(L, list - 1); /* balanced before touching the buffer; the item lives in the list */
      if (!join || j == 1) add_key(&b, &first, keys[i]);
      else iblai_escape_into(&b, ",", 1);
      iblai_escape_into(&b, s, len);
      lua_getfield(L, q, keys[i]);
    }
    lua_pop(L, 1);
  }
  luaL_pushresult(&b);
  lua_remove(L, -2); /* the keys */
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
