/* Percent-encoding and origins: a path segment can never change the path it is put in. */
#include <stdlib.h>
#include "internal.h"

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

/* core.escape(s): every byte but RFC 3986 unreserved characters becomes %XX. */
int iblai_url_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  static const char hex[] = "0123456789ABCDEF";
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) {
      luaL_addchar(&b, (char)c);
    } else {
      luaL_addchar(&b, '%');
      luaL_addchar(&b, hex[c >> 4]);
      luaL_addchar(&b, hex[c & 15]);
    }
  }
  luaL_pushresult(&b);
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
