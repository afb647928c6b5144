/* luaopen_iblai_core: the module table, and the Session as Lua sees it. */
#include <pthread.h>
#include "internal.h"
#include "iblai.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* The group request and request_many reuse: they cannot nest, so one per session is enough. */
static iblai_group *sync_group(lua_State *L, iblai_session *s) {
  iblai_enter(L, s, 1, 1);
  if (!s->sync && !iblai_group_new(s, 0, &s->sync)) luaL_error(L, "out of memory");
  iblai_group_clear(s->sync); /* whatever an earlier error left behind */
  s->sync->concurrency = 0;   /* nothing starts until every request is read */
  return s->sync;
}

/* session:request{method=, url= | path=, query=, joined=, headers=, body=, timeout=, retries=,
 * retry_unsafe=, op=, decode=} -> response | nil, err */
static int session_request(lua_State *L) {
  iblai_session *s = iblai_check_session(L, 1);
  if (!lua_istable(L, 2)) iblai_misuse(L, "a request must be a table, got %s", luaL_typename(L, 2));
  lua_settop(L, 2);
  iblai_group *g = sync_group(L, s);
  iblai_transfer *t = iblai_transfer_read(L, s, 2);
  iblai_group_add(L, g, t);
  g->concurrency = 1;
  iblai_group_run(L, g, -1);
  int n = iblai_transfer_push(L, t, 0);
  iblai_group_clear(g);
  return n;
}

/* session:request_many(requests, {concurrency=}) -> responses, errors (aligned by index) */
static int session_request_many(lua_State *L) {
  iblai_session *s = iblai_check_session(L, 1);
  if (!lua_istable(L, 2)) iblai_misuse(L, "requests must be a list of tables, got %s", luaL_typename(L, 2));
  lua_Integer concurrency = s->concurrency;
  if (!lua_isnoneornil(L, 3)) {
    if (!lua_istable(L, 3)) iblai_misuse(L, "options must be a table, got %s", luaL_typename(L, 3));
    lua_getfield(L, 3, "concurrency");
    int isint = 1;
    if (!lua_isnil(L, -1)) concurrency = lua_tointegerx(L, -1, &isint);
    if (!isint || (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER) || concurrency < 1 || concurrency > 1000)
      iblai_misuse(L, "concurrency must be a whole number from 1 to 1000, got %s", luaL_tolstring(L, -1, NULL));
  }
  lua_settop(L, 2);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
  iblai_group *g = sync_group(L, s);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    if (!lua_istable(L, -1)) iblai_misuse(L, "request %I must be a table, got %s", (LUAI_UACINT)i, luaL_typename(L, -1));
    iblai_group_add(L, g, iblai_transfer_read(L, s, -1));
    lua_pop(L, 1);
  }
  g->concurrency = (int)concurrency;
  iblai_group_run(L, g, -1);
  lua_createtable(L, (int)n, 0);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 0; i < n; i++) {
    if (iblai_transfer_push(L, g->t[i], 0) == 1) {
      lua_rawseti(L, -3, i + 1);
    } else {
      lua_rawseti(L, -3, i + 1);
      lua_pop(L, 1);
    }
  }
  iblai_group_clear(g);
  return 2;
}

/* __close and close() (and __gc below): one idempotent release. */
static int session_close(lua_State *L) {
  iblai_session *s = luaL_checkudata(L, 1, IBLAI_SESSION_MT);
  iblai_reclaim(L, s, 1);
  if (s->closed) return 0; /* a __close method the reset ran closed it */
  if (s->busy) return iblai_misuse(L, "cannot close an iblai.Session from inside one of its own requests");
  iblai_groups_release(s);
  iblai_transfer_drop_spares(s);
  iblai_session_release(L, s);
  return 0;
}

/* __gc: nothing can be running on a session the GC collects, so whatever it is still marked as
 * holding was left by a coroutine that died inside it and went with it. */
static int session_gc(lua_State *L) {
  iblai_session *s = luaL_checkudata(L, 1, IBLAI_SESSION_MT);
  s->busy = 0;
  return session_close(L);
}

static int session_tostring(lua_State *L) {
  iblai_session *s = luaL_checkudata(L, 1, IBLAI_SESSION_MT);
  if (s->closed)
    lua_pushfstring(L, "iblai.Session (closed) %p", (void *)s);
  else
    lua_pushfstring(L, "iblai.Session %s (%s) %p", s->base_url, s->auth_header ? "api key set" : "no api key",
                    (void *)s);
  return 1;
}

static int session_base_url(lua_State *L) {
  lua_pushstring(L, iblai_check_session(L, 1)->base_url);
  return 1;
}

static int session_origin(lua_State *L) {
  lua_pushstring(L, iblai_check_session(L, 1)->origin);
  return 1;
}

/* session:in_flight(): transfers now in the multi handle, over every stream and call. */
static int session_in_flight(lua_State *L) {
  lua_pushinteger(L, iblai_check_session(L, 1)->running);
  return 1;
}

static int session_concurrency(lua_State *L) {
  lua_pushinteger(L, iblai_check_session(L, 1)->concurrency);
  return 1;
}

static void open_session(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"request", session_request},     {"request_many", session_request_many}, {"stream", iblai_stream_new},
    {"in_flight", session_in_flight}, {"close", session_close},               {"base_url", session_base_url},
    {"origin", session_origin},       {"concurrency", session_concurrency},   {NULL, NULL}};
  static const luaL_Reg meta[] = {
    {"__gc", session_gc}, {"__close", session_close}, {"__tostring", session_tostring}, {"__index", NULL},
    {NULL, NULL}};
  if (luaL_newmetatable(L, IBLAI_SESSION_MT)) {
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

static int core_now(lua_State *L) {
  lua_pushnumber(L, iblai_now());
  return 1;
}

/* core.own_sources(prefix): chunknames starting with prefix are the iblai modules, which misuse
 * errors skip so that they name the caller's line. */
static int core_own_sources(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_SOURCES_KEY);
  return 0;
}

/* core.misuse(message): raises message at the first caller outside the iblai modules. */
static int core_misuse(lua_State *L) {
  return iblai_misuse(L, "%s", luaL_checkstring(L, 1));
}

int luaopen_iblai_core(lua_State *L) {
  pthread_once(&global_once, global_init); /* curl_global_init is not thread-safe on its own */
  if (global_rc != CURLE_OK) return luaL_error(L, "libcurl failed to initialise: %s", curl_easy_strerror(global_rc));
  static const luaL_Reg funcs[] = {
    {"session", iblai_session_new},   {"error", iblai_error_new},         {"escape", iblai_url_escape},
    {"origin", iblai_url_origin},     {"resolve", iblai_url_resolve},     {"query", iblai_query_lua},   {"path", iblai_path_lua},
    {"json_decode", iblai_json_decode_lua}, {"json_check", iblai_jcheck_lua}, {"integralize", iblai_integralize},
    {"now", core_now},                {"own_sources", core_own_sources}, {"misuse", core_misuse},
    {NULL, NULL}};
  iblai_error_open(L);
  iblai_headers_open(L);
  iblai_stream_open(L);
  open_session(L);
  luaL_newlib(L, funcs);
  iblai_os_open(L);
  lua_pushliteral(L, IBLAI_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  /* Lua before 5.4.5 can miscompile a break out of a generic for whose closing value is set when
   * the body makes a closure over a loop variable (the stack is left corrupt): iterators then
   * return no closing value */
  lua_pushboolean(L, LUA_VERSION_RELEASE_NUM >= 50405);
  lua_setfield(L, -2, "safe_for_close");
  luaL_getmetatable(L, IBLAI_ERROR_MT);
  lua_setfield(L, -2, "Error");
  return 1;
}

void iblai_set_interrupt_flag(lua_State *L, volatile sig_atomic_t *flag) {
  lua_pushlightuserdata(L, (void *)flag);
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY);
}
