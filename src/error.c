/* The Error type: a table of fields with a one-line __tostring that says what to do next. */
#include <string.h>
#include "internal.h"

#define BODY_EXCERPT 512 /* bytes of a body kept in err.body */
#define SAID_MAX 200     /* characters of the server's own message kept in err.message */
#define MAX_FIELDS 8     /* field errors named in err.message (DRF answers one per field) */
#define URL_SHOWN 300    /* characters of a URL shown by tostring (err.url keeps all of it) */

static const char *reason_phrase(long status) {
  switch (status) {
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 413: return "Payload Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Entity";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return NULL;
  }
}

static const char *hint_for_status(long status) {
  switch (status) {
  case 400: case 422: return "the server rejected the request; err.body says which field";
  case 401: return "check IBLAI_API_KEY and the auth scheme (Authorization: Api-Token <key>)";
  case 403: return "the key is valid but may not do this; check the org, the username and the key's role";
  case 404: return "check the ids in the path, the org and the username";
  case 405: return "this path does not accept that method; check the operation";
  case 409: return "the record changed or already exists; fetch it again before retrying";
  case 413: return "the request body is too large for the server";
  case 429: return "rate limited; wait, lower the concurrency, or raise retries";
  default: break;
  }
  if (status == 502 || status == 503 || status == 504)
    return "the service is unavailable or overloaded; try again later";
  if (status >= 500) return "the server failed on this request; try again later, and report it with err.body if it goes on (it is not retried)";
  if (status >= 300 && status < 400) return "the redirect was not followed; check base_url";
  return NULL;
}

static const char *hint_for(const char *kind, long status) {
  if (strcmp(kind, "http") == 0) return hint_for_status(status);
  if (strcmp(kind, "network") == 0) return "check that base_url (IBLAI_BASE_URL) is right and the host is reachable";
  if (strcmp(kind, "timeout") == 0) return "the server did not answer in time; raise timeout or try again later";
  if (strcmp(kind, "decode") == 0) return "the body was not the JSON expected; err.body holds its start";
  if (strcmp(kind, "validation") == 0) return "fix the parameter; nothing was sent";
  if (strcmp(kind, "config") == 0) return "fix the client options or the request; nothing was sent";
  if (strcmp(kind, "too_large") == 0) return "raise max_response_bytes or ask for smaller pages";
  if (strcmp(kind, "file") == 0) return "check that the directory exists, can be written and has room";
  if (strcmp(kind, "pagination") == 0) return "the listing's pages do not add up; the items of the pages before were delivered";
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
  if (op) {
    luaL_addstring(&b, op);
    luaL_addstring(&b, ": ");
  }
  luaL_addstring(&b, message ? message : (kind ? kind : "error"));
  if (method || url) {
    luaL_addstring(&b, " (");
    if (method) {
      luaL_addstring(&b, method);
      if (url) luaL_addchar(&b, ' ');
    }
    if (url) {
      size_t n = strlen(url);
      luaL_addlstring(&b, url, n > URL_SHOWN ? URL_SHOWN : n);
      if (n > URL_SHOWN) luaL_addstring(&b, "...");
    }
    if (attempts > 1) {
      lua_pushfstring(L, ", %I attempts", (LUAI_UACINT)attempts);
      luaL_addvalue(&b);
    }
    luaL_addchar(&b, ')');
  }
  if (!hint && kind) hint = hint_for(kind, status);
  if (hint) {
    luaL_addstring(&b, "; ");
    luaL_addstring(&b, hint);
  }
  luaL_pushresult(&b);
  /* one line, whatever a server or a caller put in the fields: controls become spaces */
  size_t n;
  const char *line = lua_tolstring(L, -1, &n);
  size_t i = 0;
  while (i < n && (unsigned char)line[i] >= 0x20 && line[i] != 0x7f) i++;
  if (i < n) {
    char *copy = lua_newuserdatauv(L, n, 0);
    for (size_t j = 0; j < n; j++) {
      unsigned char c = (unsigned char)line[j];
      copy[j] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    lua_pushlstring(L, copy, n);
  }
  return 1;
}

/* Replaces the key in a string value at idx (by "[redacted]"), in place on the stack. */
static void scrub_string(lua_State *L, int idx, const char *key) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TSTRING || !strstr(lua_tostring(L, idx), key)) return;
  luaL_gsub(L, lua_tostring(L, idx), key, "[redacted]");
  lua_replace(L, idx);
}

/* Walks a table (bounded), replacing the key in its string keys' values. */
static void scrub_table(lua_State *L, int t, const char *key, int depth, int *budget) {
  if (depth > 20 || !lua_checkstack(L, 4)) return;
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t) && --*budget > 0) {
    if (lua_type(L, -1) == LUA_TSTRING && strstr(lua_tostring(L, -1), key)) {
      scrub_string(L, -1, key);
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, t); /* same key, new value: allowed while iterating */
      continue;
    }
    if (lua_type(L, -1) == LUA_TTABLE) scrub_table(L, -1, key, depth + 1, budget);
    lua_pop(L, 1);
  }
  if (*budget <= 0) lua_settop(L, t);
}

void iblai_error_scrub(lua_State *L, int err, const char *key) {
  if (!key || strlen(key) < 8) return; /* a real key; shorter ones would mangle ordinary words */
  err = lua_absindex(L, err);
  static const char *const strings[] = {"message", "body", "url", "hint", NULL};
  for (int i = 0; strings[i]; i++) {
    lua_getfield(L, err, strings[i]);
    if (lua_type(L, -1) == LUA_TSTRING && strstr(lua_tostring(L, -1), key)) {
      scrub_string(L, -1, key);
      lua_setfield(L, err, strings[i]);
    } else {
      lua_pop(L, 1);
    }
  }
  static const char *const tables[] = {"data", "headers", NULL};
  for (int i = 0; tables[i]; i++) {
    int budget = 10000;
    if (lua_getfield(L, err, tables[i]) == LUA_TTABLE) {
      if (luaL_getmetafield(L, -1, "__pairs") != LUA_TNIL) { /* headers parsed first: they are read lazily */
        lua_pushvalue(L, -2);
        lua_call(L, 1, 3);
        lua_pop(L, 3);
      }
      scrub_table(L, -1, key, 0, &budget);
    }
    lua_pop(L, 1);
  }
}

void iblai_error_open(lua_State *L) {
  if (luaL_newmetatable(L, IBLAI_ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

void iblai_error_push(lua_State *L, const char *kind, const char *message) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "retryable");
  luaL_setmetatable(L, IBLAI_ERROR_MT);
}

/* Keeps the MAX_FIELDS first names in order in fields[0..*n), counting the others in *more. */
static void keep_smallest(const char **fields, int *n, int *more, const char *name) {
  int at = *n;
  while (at > 0 && strcmp(name, fields[at - 1]) < 0) at--;
  if (at == MAX_FIELDS) {
    (*more)++;
    return;
  }
  if (*n == MAX_FIELDS) (*more)++; /* the last one falls off */
  int last = *n < MAX_FIELDS ? *n : MAX_FIELDS - 1;
  memmove(fields + at + 1, fields + at, (size_t)(last - at) * sizeof *fields);
  fields[at] = name;
  if (*n < MAX_FIELDS) (*n)++;
}

/* What the server said, from the usual DRF and ibl.ai error shapes; pushes it or nothing. */
static int push_server_says(lua_State *L, int data) {
  if (lua_type(L, data) != LUA_TTABLE) return 0;
  static const char *const keys[] = {"detail", "message", "error", NULL};
  for (int i = 0; keys[i]; i++) {
    if (lua_getfield(L, data, keys[i]) == LUA_TSTRING) return 1;
    lua_pop(L, 1);
  }
  /* {field: ["message", ...], ...}: each field's first message, in the fields' order by name */
  const char *fields[MAX_FIELDS];
  int n = 0, more = 0;
  lua_pushnil(L);
  while (lua_next(L, data)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
      size_t len;
      const char *name = lua_tolstring(L, -2, &len); /* the key lives as long as the table */
      if (lua_rawgeti(L, -1, 1) == LUA_TSTRING && strlen(name) == len) /* a NUL would cut it short */
        keep_smallest(fields, &n, &more, name);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  if (n == 0) return 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < n; i++) {
    lua_getfield(L, data, fields[i]);
    lua_rawgeti(L, -1, 1);
    lua_pushfstring(L, "%s%s: %s", i > 0 ? "; " : "", fields[i], lua_tostring(L, -1));
    lua_replace(L, -3);
    lua_pop(L, 1);
    luaL_addvalue(&b);
  }
  if (more > 0) {
    lua_pushfstring(L, "; and %d more", more);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return 1;
}

/* A bounded, one-line start of a body, safe to print. */
static void push_excerpt(lua_State *L, const char *text, size_t len) {
  size_t n = len > BODY_EXCERPT ? BODY_EXCERPT : len;
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n + 3);
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)text[i];
    int control = c < 32 || c == 127;
    if (control && out > 0 && p[out - 1] == ' ') continue; /* a run of controls becomes one space */
    p[out++] = control ? ' ' : (char)c;
  }
  if (len > n) {
    memcpy(p + out, "...", 3);
    out += 3;
  }
  luaL_pushresultsize(&b, out);
}

void iblai_error_from_response(lua_State *L, int response, const char *text, size_t len) {
  response = lua_absindex(L, response);
  lua_getfield(L, response, "status");
  long status = (long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, response, "body");
  int data = lua_gettop(L);
  const char *phrase = reason_phrase(status);
  luaL_Buffer b;
  if (push_server_says(L, data)) {
    size_t n;
    const char *said = lua_tolstring(L, -1, &n);
    if (n > SAID_MAX) {
      lua_pushfstring(L, "%s...", lua_pushlstring(L, said, SAID_MAX));
      lua_remove(L, -2);
      lua_remove(L, -2);
    }
  } else {
    lua_pushnil(L);
  }
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "HTTP %d", (int)status);
  luaL_addvalue(&b);
  if (phrase) {
    luaL_addchar(&b, ' ');
    luaL_addstring(&b, phrase);
  }
  luaL_pushresult(&b);
  if (!lua_isnil(L, -2)) {
    lua_pushliteral(L, ": ");
    lua_pushvalue(L, -3);
    lua_concat(L, 3);
  }
  iblai_error_push(L, "http", lua_tostring(L, -1));
  int err = lua_gettop(L);
  static const char *const copied[] = {"status", "method", "url", "attempts", "headers", NULL};
  for (int i = 0; copied[i]; i++) {
    lua_getfield(L, response, copied[i]);
    lua_setfield(L, err, copied[i]);
  }
  if (lua_type(L, data) == LUA_TTABLE) {
    lua_pushvalue(L, data);
    lua_setfield(L, err, "data");
  }
  push_excerpt(L, text, len);
  lua_setfield(L, err, "body");
  lua_pushboolean(L, iblai_retry_reason(CURLE_OK, status, 0) != NULL);
  lua_setfield(L, err, "retryable");
  lua_replace(L, data);
  lua_settop(L, data);
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
