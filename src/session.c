/* The Session: validated options, a curl share and multi handle, and a pool of easy handles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "internal.h"

#define DEFAULT_BASE_URL "https://api.iblai.app/dm"
#define DEFAULT_MAX_RESPONSE ((curl_off_t)64 * 1024 * 1024)

typedef enum { OPT_STRING, OPT_NUMBER, OPT_INTEGER, OPT_BOOLEAN, OPT_FUNCTION } opt_type;

static const struct option_spec {
  const char *name;
  opt_type type;
} options[] = {
  {"base_url", OPT_STRING},      {"api_key", OPT_STRING},        {"auth_scheme", OPT_STRING},
  {"timeout", OPT_NUMBER},       {"connect_timeout", OPT_NUMBER}, {"retries", OPT_INTEGER},
  {"proxy", OPT_STRING},         {"ca_file", OPT_STRING},        {"user_agent", OPT_STRING},
  {"max_response_bytes", OPT_INTEGER}, {"verbose", OPT_BOOLEAN}, {"log", OPT_FUNCTION},
  {"sleep", OPT_FUNCTION},       {"backoff_base", OPT_NUMBER},   {"backoff_max", OPT_NUMBER},
  {"retry_after_max", OPT_NUMBER}, {"max_redirects", OPT_INTEGER}, {"concurrency", OPT_INTEGER},
  {NULL, OPT_STRING}};

static const char *const type_names[] = {"a string", "a number", "an integer", "a boolean", "a function"};

iblai_session *iblai_check_session(lua_State *L, int idx) {
  iblai_session *s = luaL_checkudata(L, idx, IBLAI_SESSION_MT);
  if (s->closed) luaL_error(L, "attempt to use a closed iblai.Session");
  return s;
}

static void session_release(iblai_session *s, lua_State *L) {
  if (s->closed) return;
  iblai_session_free_batches(s);
  s->closed = 1;
  for (int i = 0; i < s->npool; i++) curl_easy_cleanup(s->pool[i]);
  free(s->pool);
  s->pool = NULL;
  s->npool = s->pool_cap = 0;
  if (s->multi) curl_multi_cleanup(s->multi);
  if (s->share) curl_share_cleanup(s->share);
  s->multi = NULL;
  s->share = NULL;
  if (s->auth_header) memset(s->auth_header, 0, strlen(s->auth_header)); /* leave no key in freed memory */
  char **strings[] = {&s->base_url, &s->origin, &s->auth_header, &s->proxy, &s->ca_file, &s->user_agent};
  for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
    free(*strings[i]);
    *strings[i] = NULL;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, s->log_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, s->sleep_ref);
  s->log_ref = s->sleep_ref = LUA_NOREF;
}

/* __gc and __close and close(): one idempotent release. */
static int session_close(lua_State *L) {
  iblai_session *s = luaL_checkudata(L, 1, IBLAI_SESSION_MT);
  if (s->busy) return luaL_error(L, "cannot close an iblai.Session from inside one of its own requests");
  session_release(s, L);
  return 0;
}

static int session_tostring(lua_State *L) {
  iblai_session *s = luaL_checkudata(L, 1, IBLAI_SESSION_MT);
  if (s->closed)
    lua_pushfstring(L, "iblai.Session (closed) %p", (void *)s);
  else
    lua_pushfstring(L, "iblai.Session %s (%s) %p", s->base_url,
                    s->auth_header ? "api key set" : "no api key", (void *)s);
  return 1;
}

/* A handle with the session's fixed options; per-request options are set by the transfer. */
CURL *iblai_session_take_easy(iblai_session *s) {
  if (s->npool > 0) return s->pool[--s->npool];
  CURL *e = curl_easy_init();
  if (!e) return NULL;
  curl_easy_setopt(e, CURLOPT_SHARE, s->share);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are ours: the key must not follow */
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->connect_timeout * 1000));
  curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, iblai_on_body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, iblai_on_header);
  if (s->proxy) curl_easy_setopt(e, CURLOPT_PROXY, s->proxy);
  if (s->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
  if (s->verbose) {
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, iblai_debug_redacted);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
  }
  return e;
}

void iblai_session_give_easy(iblai_session *s, CURL *easy) {
  if (!easy) return;
  if (s->closed) {
    curl_easy_cleanup(easy);
    return;
  }
  if (s->npool == s->pool_cap) {
    int cap = s->pool_cap ? s->pool_cap * 2 : 8;
    CURL **p = realloc(s->pool, (size_t)cap * sizeof *p);
    if (!p) {
      curl_easy_cleanup(easy);
      return;
    }
    s->pool = p;
    s->pool_cap = cap;
  }
  s->pool[s->npool++] = easy;
}

static char *dup_string(lua_State *L, int idx) {
  size_t n;
  const char *v = lua_tolstring(L, idx, &n);
  char *d = malloc(n + 1);
  if (!d) luaL_error(L, "out of memory");
  memcpy(d, v, n + 1);
  return d;
}

/* Checks one option's type; returns an error message or NULL. */
static const char *check_type(lua_State *L, const char *name, opt_type type) {
  int t = lua_type(L, -1);
  int ok = (type == OPT_STRING && t == LUA_TSTRING) ||
           (type == OPT_NUMBER && t == LUA_TNUMBER) ||
           (type == OPT_INTEGER && lua_isinteger(L, -1)) ||
           (type == OPT_BOOLEAN && t == LUA_TBOOLEAN) ||
           (type == OPT_FUNCTION && t == LUA_TFUNCTION);
  if (type == OPT_INTEGER && t == LUA_TNUMBER && !ok) {
    lua_Number n = lua_tonumber(L, -1);
    if (n == (lua_Number)(lua_Integer)n) {
      lua_pop(L, 1);
      lua_pushinteger(L, (lua_Integer)n);
      ok = 1;
    }
  }
  if (ok) return NULL;
  return lua_pushfstring(L, "option '%s' must be %s, got %s", name, type_names[type],
                         luaL_typename(L, -1));
}

static int config_error(lua_State *L, const char *message) {
  luaL_pushfail(L);
  iblai_error_push(L, "config", message);
  return 2;
}

static int positive(lua_State *L, const char *name, double v, double *out) {
  if (!(v > 0)) {
    lua_pushfstring(L, "option '%s' must be greater than 0, got %f", name, v);
    return 0;
  }
  *out = v;
  return 1;
}

/* Reads every option; on a bad one pushes its message and returns 0. */
static int read_options(lua_State *L, iblai_session *s, int opts) {
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pushstring(L, "option names must be strings");
      return 0;
    }
    const char *name = lua_tostring(L, -2);
    const struct option_spec *o = options;
    while (o->name && strcmp(o->name, name) != 0) o++;
    if (!o->name) {
      lua_pushfstring(L, "unknown option '%s'", name);
      return 0;
    }
    if (check_type(L, name, o->type)) return 0;
    lua_Number num = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
    size_t len = 0;
    if (o->type == OPT_STRING) {
      const char *v = lua_tolstring(L, -1, &len);
      if (iblai_has_crlf(v, len)) {
        lua_pushfstring(L, "option '%s' must not hold CR, LF or NUL characters", name);
        return 0;
      }
    }
    if (strcmp(name, "base_url") == 0) { free(s->base_url); s->base_url = dup_string(L, -1); }
    else if (strcmp(name, "api_key") == 0 || strcmp(name, "auth_scheme") == 0) { /* composed later */ }
    else if (strcmp(name, "proxy") == 0) { free(s->proxy); s->proxy = dup_string(L, -1); }
    else if (strcmp(name, "ca_file") == 0) { free(s->ca_file); s->ca_file = dup_string(L, -1); }
    else if (strcmp(name, "user_agent") == 0) { free(s->user_agent); s->user_agent = dup_string(L, -1); }
    else if (strcmp(name, "timeout") == 0) { if (!positive(L, name, num, &s->timeout)) return 0; }
    else if (strcmp(name, "connect_timeout") == 0) { if (!positive(L, name, num, &s->connect_timeout)) return 0; }
    else if (strcmp(name, "backoff_base") == 0) { if (!positive(L, name, num, &s->backoff_base)) return 0; }
    else if (strcmp(name, "backoff_max") == 0) { if (!positive(L, name, num, &s->backoff_max)) return 0; }
    else if (strcmp(name, "retry_after_max") == 0) { if (!positive(L, name, num, &s->retry_after_max)) return 0; }
    else if (strcmp(name, "verbose") == 0) s->verbose = lua_toboolean(L, -1);
    else if (strcmp(name, "log") == 0) { lua_pushvalue(L, -1); s->log_ref = luaL_ref(L, LUA_REGISTRYINDEX); }
    else if (strcmp(name, "sleep") == 0) { lua_pushvalue(L, -1); s->sleep_ref = luaL_ref(L, LUA_REGISTRYINDEX); }
    else {
      lua_Integer v = lua_tointeger(L, -1);
      lua_Integer min = strcmp(name, "retries") == 0 || strcmp(name, "max_redirects") == 0 ? 0 : 1;
      if (v < min || v > 1000000000) {
        lua_pushfstring(L, "option '%s' must be between %I and 1000000000, got %I", name,
                        (LUAI_UACINT)min, (LUAI_UACINT)v);
        return 0;
      }
      if (strcmp(name, "retries") == 0) s->retries = (int)v;
      else if (strcmp(name, "max_redirects") == 0) s->max_redirects = (int)v;
      else if (strcmp(name, "concurrency") == 0) s->concurrency = (int)v;
      else s->max_response_bytes = (curl_off_t)v;
    }
    lua_pop(L, 1);
  }
  return 1;
}

/* Builds "Authorization: <scheme> <key>" from the options, or leaves it NULL without a key. */
static int compose_auth(lua_State *L, iblai_session *s, int opts) {
  lua_getfield(L, opts, "api_key");
  lua_getfield(L, opts, "auth_scheme");
  const char *key = lua_tostring(L, -2);
  const char *scheme = lua_isnil(L, -1) ? "Api-Token" : lua_tostring(L, -1);
  if (!key || !*key) {
    lua_pop(L, 2);
    return 1;
  }
  if (!*scheme || strpbrk(scheme, " \t:")) {
    lua_pushstring(L, "option 'auth_scheme' must be one word such as Api-Token or Token");
    return 0;
  }
  size_t n = strlen(scheme) + strlen(key) + 32;
  s->auth_header = malloc(n);
  if (!s->auth_header) return luaL_error(L, "out of memory");
  snprintf(s->auth_header, n, "Authorization: %s %s", scheme, key);
  lua_pop(L, 2);
  return 1;
}

static int check_base_url(lua_State *L, iblai_session *s) {
  size_t n = strlen(s->base_url);
  while (n > 0 && s->base_url[n - 1] == '/') s->base_url[--n] = '\0';
  CURLU *u = curl_url();
  if (!u) return luaL_error(L, "out of memory");
  char *user = NULL, *query = NULL, *fragment = NULL;
  int ok = curl_url_set(u, CURLUPART_URL, s->base_url, 0) == CURLUE_OK;
  if (ok) {
    curl_url_get(u, CURLUPART_USER, &user, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0);
  }
  curl_url_cleanup(u);
  int has_extra = user || query || fragment;
  curl_free(user);
  curl_free(query);
  curl_free(fragment);
  s->origin = ok ? iblai_origin_of(s->base_url) : NULL;
  if (!s->origin) {
    lua_pushfstring(L, "option 'base_url' must be an absolute http:// or https:// URL, got '%s'",
                    s->base_url);
    return 0;
  }
  if (has_extra) {
    lua_pushstring(L, "option 'base_url' must not hold credentials, a query or a fragment; "
                      "pass the key as api_key");
    return 0;
  }
  return 1;
}

static char *default_user_agent(void) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  char *ua = malloc(96);
  if (ua) snprintf(ua, 96, "iblai-lua/%s libcurl/%s", IBLAI_VERSION, v->version);
  return ua;
}

/* core.session(opts) -> Session, or nil and a config Error. */
int iblai_session_new(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (lua_isnil(L, 1)) {
    lua_newtable(L);
    lua_replace(L, 1);
  }
  iblai_session *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->log_ref = s->sleep_ref = LUA_NOREF;
  s->closed = 1; /* nothing to release until the handles exist */
  luaL_setmetatable(L, IBLAI_SESSION_MT);
  s->timeout = 30;
  s->connect_timeout = 10;
  s->retries = 4;
  s->backoff_base = 0.5;
  s->backoff_max = 30;
  s->retry_after_max = 60;
  s->max_redirects = 5;
  s->concurrency = 8;
  s->max_response_bytes = DEFAULT_MAX_RESPONSE;
  s->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s;
  s->share = curl_share_init();
  s->multi = curl_multi_init();
  s->closed = 0;
  if (!s->share || !s->multi) return luaL_error(L, "libcurl could not create its handles");
  curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);

  int session = lua_gettop(L);
  if (!read_options(L, s, 1) || !compose_auth(L, s, 1)) {
    const char *msg = lua_tostring(L, -1);
    session_release(s, L);
    return config_error(L, msg);
  }
  if (!s->base_url) s->base_url = strdup(DEFAULT_BASE_URL);
  if (!s->user_agent) s->user_agent = default_user_agent();
  if (!s->base_url || !s->user_agent) return luaL_error(L, "out of memory");
  if (!check_base_url(L, s)) {
    const char *msg = lua_tostring(L, -1);
    session_release(s, L);
    return config_error(L, msg);
  }
  lua_pushvalue(L, session);
  return 1;
}

/* Calls the hook stored at ref with the nargs values on top of the stack; errors propagate. */
int iblai_pcall_hook(lua_State *L, int ref, int nargs) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, -(nargs + 1));
  return lua_pcall(L, nargs, 0, 0);
}

static int session_base_url(lua_State *L) {
  lua_pushstring(L, iblai_check_session(L, 1)->base_url);
  return 1;
}

static int session_origin(lua_State *L) {
  lua_pushstring(L, iblai_check_session(L, 1)->origin);
  return 1;
}

/* session:in_flight(): transfers now in the multi handle, across every batch and stream. */
static int session_in_flight(lua_State *L) {
  iblai_session *s = iblai_check_session(L, 1);
  lua_Integer n = 0;
  for (iblai_batch *b = s->batches; b; b = b->next) n += b->running;
  lua_pushinteger(L, n);
  return 1;
}

static int session_concurrency(lua_State *L) {
  lua_pushinteger(L, iblai_check_session(L, 1)->concurrency);
  return 1;
}

void iblai_session_open(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"request", iblai_request},         {"request_many", iblai_request_many},
    {"stream", iblai_stream_new},       {"in_flight", session_in_flight},
    {"close", session_close},           {"base_url", session_base_url},
    {"origin", session_origin},         {"concurrency", session_concurrency},
    {NULL, NULL}};
  static const luaL_Reg meta[] = {
    {"__gc", session_close}, {"__close", session_close}, {"__tostring", session_tostring},
    {"__index", NULL},       {NULL, NULL}};
  if (luaL_newmetatable(L, IBLAI_SESSION_MT)) {
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}
