/* The Error type: a table of fields with a one-line __tostring that says what to do next. */
#include <string.h>
#include "internal.h"

static const char *hint_for_status(long status) {
  switch (status) {
  case 400: case 422: return "the server rejected the request; err.body says which field";
  case 401: return "check IBLAI_API_KEY and the auth scheme (Authorization: Api-Token <key>)";
  case 403: return "the key is valid but may not do this; check the org, the username and the key's role";
  case 404: return "check the ids in the path, the org and username, and that base_url ends in /dm";
  case 405: return "this path does not accept that method; check the operation";
  case 409: return "the record changed or already exists; fetch it again before retrying";
  case 413: return "the request body is too large for the server";
  case 429: return "rate limited; wait, lower the concurrency, or raise retries";
  default: break;
  }
  if (status >= 500) return "the server failed; try again later (idempotent calls are retried)";
  if (status >= 300 && status < 400) return "the redirect was not followed; check base_url";
  return NULL;
}

static const char *hint_for(const char *kind, long status) {
  if (strcmp(kind, "http") == 0) return hint_for_status(status);
  if (strcmp(kind, "network") == 0)
    return "check that base_url (IBLAI_BASE_URL) is right and the host is reachable";
  if (strcmp(kind, "timeout") == 0)
    return "the server did not answer in time; raise timeout or try again later";
  if (strcmp(kind, "decode") == 0) return "the body was not the JSON expected; err.body holds its start";
  if (strcmp(kind, "validation") == 0) return "fix the parameter; nothing was sent";
  if (strcmp(kind, "config") == 0) return "fix the client options; nothing was sent";
  if (strcmp(kind, "too_large") == 0) return "raise max_response_bytes or ask for smaller pages";
  return NULL;
}

static const char *field_string(lua_State *L, int t, const char *name) {
  lua_getfield(L, t, name);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the string stays alive: the error table holds it */
  return s;
}

static int error_tostring(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *kind = field_string(L, 1, "kind");
  const char *message = field_string(L, 1, "message");
  const char *op = field_string(L, 1, "op");
  const char *method = field_string(L, 1, "method");
  const char *url = field_string(L, 1, "url");
  const char *hint = field_string(L, 1, "hint");
  lua_getfield(L, 1, "status");
  long status = (long)lua_tointeger(L, -1);
  lua_getfield(L, 1, "attempts");
  lua_Integer attempts = lua_tointeger(L, -1);
  lua_pop(L, 2);

  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "iblai: ");
  if (op) { luaL_addstring(&b, op); luaL_addstring(&b, ": "); }
  luaL_addstring(&b, message ? message : (kind ? kind : "error"));
  if (method || url) {
    luaL_addstring(&b, " (");
    if (method) { luaL_addstring(&b, method); if (url) luaL_addchar(&b, ' '); }
    if (url) luaL_addstring(&b, url);
    if (attempts > 1) {
      lua_pushfstring(L, ", %I attempts", (LUAI_UACINT)attempts);
      luaL_addvalue(&b);
    }
    luaL_addchar(&b, ')');
  }
  if (!hint && kind) hint = hint_for(kind, status);
  if (hint) { luaL_addstring(&b, "; "); luaL_addstring(&b, hint); }
  luaL_pushresult(&b);
  return 1;
}

void iblai_error_open(lua_State *L) {
  if (luaL_newmetatable(L, IBLAI_ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

void iblai_error_push(lua_State *L, const char *kind, const char *message) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "retryable");
  luaL_setmetatable(L, IBLAI_ERROR_MT);
}

/* core.error{kind=..., message=..., ...}: gives a Lua-made table the Error type. */
int iblai_error_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_getfield(L, 1, "kind");
  luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 1, "field 'kind' must be a string");
  lua_getfield(L, 1, "message");
  luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 1, "field 'message' must be a string");
  lua_pop(L, 2);
  lua_getfield(L, 1, "retryable");
  if (lua_isnil(L, -1)) {
    lua_pushboolean(L, 0);
    lua_setfield(L, 1, "retryable");
  }
  lua_pop(L, 1);
  luaL_setmetatable(L, IBLAI_ERROR_MT);
  return 1;
}

const char *iblai_curl_kind(CURLcode rc) {
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT: return "timeout";
  case CURLE_URL_MALFORMAT: case CURLE_UNSUPPORTED_PROTOCOL: return "config";
  default: return "network";
  }
}
