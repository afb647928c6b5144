/* The Session: options (declared once below, as data), the curl share and multi handles, the
 * pool of easy handles, and the header list most requests send. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

/* Every default in one place. */
#define DEFAULT_BASE_URL "https://api.iblai.app/dm"
#define DEFAULT_AUTH_SCHEME "Api-Token" /* the word the live service accepts before the key */
#define DEFAULT_TIMEOUT 30.0            /* seconds for a whole attempt */
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_RETRIES 4               /* retries after the first attempt, for what may be retried */
#define DEFAULT_BACKOFF_BASE 0.5        /* the first backoff is up to this many seconds... */
#define DEFAULT_BACKOFF_MAX 30.0        /* ...doubling up to this cap */
#define DEFAULT_RETRY_AFTER_MAX 60.0    /* a server's Retry-After is obeyed up to this */
#define DEFAULT_MAX_REDIRECTS 5
#define DEFAULT_CONCURRENCY 8           /* requests in flight for call_many, request_many, pages */
#define DEFAULT_MAX_RESPONSE_BYTES (64.0 * 1024 * 1024)
#define SESSIONS_BEFORE_COLLECT 16      /* see collect_dropped_sessions */

typedef enum { OPT_STRING, OPT_NUMBER, OPT_INTEGER, OPT_BOOLEAN, OPT_FUNCTION } opt_type;

#define FIELD(f) offsetof(iblai_session, f)
#define NO_FIELD ((size_t)-1)

static const struct option {
  const char *name;
  opt_type type;
  double min, max, fallback; /* numbers: range and default; min is exclusive for OPT_NUMBER */
  size_t field;
} options[] = {
  {"base_url", OPT_STRING, 0, 0, 0, FIELD(base_url)},
  {"api_key", OPT_STRING, 0, 0, 0, NO_FIELD}, /* composed into auth_header */
  {"auth_scheme", OPT_STRING, 0, 0, 0, NO_FIELD},
  {"proxy", OPT_STRING, 0, 0, 0, FIELD(proxy)},
  {"ca_file", OPT_STRING, 0, 0, 0, FIELD(ca_file)},
  {"user_agent", OPT_STRING, 0, 0, 0, FIELD(user_agent)},
  {"timeout", OPT_NUMBER, 0, 1e6, DEFAULT_TIMEOUT, FIELD(timeout)},
  {"connect_timeout", OPT_NUMBER, 0, 1e6, DEFAULT_CONNECT_TIMEOUT, FIELD(connect_timeout)},
  {"backoff_base", OPT_NUMBER, 0, 86400, DEFAULT_BACKOFF_BASE, FIELD(backoff_base)},
  {"backoff_max", OPT_NUMBER, 0, 86400, DEFAULT_BACKOFF_MAX, FIELD(backoff_max)},
  {"retry_after_max", OPT_NUMBER, 0, 86400, DEFAULT_RETRY_AFTER_MAX, FIELD(retry_after_max)},
  {"retries", OPT_INTEGER, 0, 100, DEFAULT_RETRIES, FIELD(retries)},
  {"max_redirects", OPT_INTEGER, 0, 100, DEFAULT_MAX_REDIRECTS, FIELD(max_redirects)},
  {"concurrency", OPT_INTEGER, 1, 1000, DEFAULT_CONCURRENCY, FIELD(concurrency)},
  {"max_response_bytes", OPT_INTEGER, 1, 9007199254740992.0, DEFAULT_MAX_RESPONSE_BYTES,
   FIELD(max_response_bytes)},
  {"verbose", OPT_BOOLEAN, 0, 0, 0, FIELD(verbose)},
  {"log", OPT_FUNCTION, 0, 0, 0, FIELD(log_ref)},
  {"sleep", OPT_FUNCTION, 0, 0, 0, FIELD(sleep_ref)},
  {NULL, OPT_STRING, 0, 0, 0, NO_FIELD},
};

static const char *const type_names[] = {"a string", "a number", "an integer", "a boolean", "a function"};

static const struct option *find_option(const char *name) {
  for (const struct option *o = options; o->name; o++)
    if (strcmp(o->name, name) == 0) return o;
  return NULL;
}

/* Checks the value on top against option o; returns NULL or pushes and returns a message. */
static const char *check_value(lua_State *L, const struct option *o, const char *what) {
  int t = lua_type(L, -1);
  int ok = (o->type == OPT_STRING && t == LUA_TSTRING) || (o->type == OPT_NUMBER && t == LUA_TNUMBER) ||
           (o->type == OPT_INTEGER && t == LUA_TNUMBER) || (o->type == OPT_BOOLEAN && t == LUA_TBOOLEAN) ||
           (o->type == OPT_FUNCTION && t == LUA_TFUNCTION);
  if (!ok)
    return lua_pushfstring(L, "%s '%s' must be %s, got %s", what, o->name, type_names[o->type], luaL_typename(L, -1));
  if (o->type == OPT_STRING) {
    size_t n;
    const char *v = lua_tolstring(L, -1, &n);
    if (iblai_has_crlf(v, n)) return lua_pushfstring(L, "%s '%s' must not hold CR, LF or NUL characters", what, o->name);
  } else if (o->type == OPT_INTEGER) {
    lua_Number v = lua_tonumber(L, -1);
    if (!lua_isinteger(L, -1) && v != floor(v))
      return lua_pushfstring(L, "%s '%s' must be %s, got %s", what, o->name, type_names[o->type], lua_tostring(L, -1));
    if (!(v >= o->min && v <= o->max))
      return lua_pushfstring(L, "%s '%s' must be from %I to %I, got %s", what, o->name, (LUAI_UACINT)o->min,
                             (LUAI_UACINT)o->max, lua_tostring(L, -1));
  } else if (o->type == OPT_NUMBER) {
    lua_Number v = lua_tonumber(L, -1);
    if (!(v > o->min && v <= o->max))
      return lua_pushfstring(L, "%s '%s' must be greater than %d and at most %d, got %s", what, o->name,
                             (int)o->min, (int)o->max, lua_tostring(L, -1));
  }
  return NULL;
}

/* A request's own timeout or retries, checked as the session option of that name is. */
int iblai_request_option(lua_State *L, const char *name, int idx, double *out) {
  const struct option *o = find_option(name);
  lua_pushvalue(L, idx);
  if (check_value(L, o, "request field")) return iblai_misuse(L, "%s", lua_tostring(L, -1));
  *out = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return 1;
}

static void set_defaults(iblai_session *s) {
  for (const struct option *o = options; o->name; o++) {
    if (o->field == NO_FIELD) continue;
    char *field = (char *)s + o->field;
    if (o->type == OPT_NUMBER) *(double *)field = o->fallback;
    else if (o->type == OPT_INTEGER) *(lua_Integer *)field = (lua_Integer)o->fallback;
    else if (o->type == OPT_FUNCTION) *(int *)field = LUA_NOREF;
  }
}

/* Stores the value on top (already checked) into its field. */
static int store(lua_State *L, iblai_session *s, const struct option *o) {
  char *field = (char *)s + o->field;
  switch (o->type) {
  case OPT_STRING: {
    size_t n;
    const char *v = lua_tolstring(L, -1, &n);
    char *copy = iblai_strndup(v, n);
    if (!copy) return 0;
    free(*(char **)field);
    *(char **)field = copy;
    break;
  }
  case OPT_NUMBER: *(double *)field = lua_tonumber(L, -1); break;
  case OPT_INTEGER: *(lua_Integer *)field = (lua_Integer)lua_tonumber(L, -1); break;
  case OPT_BOOLEAN: *(int *)field = lua_toboolean(L, -1); break;
  case OPT_FUNCTION:
    lua_pushvalue(L, -1);
    *(int *)field = luaL_ref(L, LUA_REGISTRYINDEX);
    break;
  }
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
    const struct option *o = find_option(lua_tostring(L, -2));
    if (!o) {
      lua_pushfstring(L, "unknown option '%s'", lua_tostring(L, -2));
      return 0;
    }
    if (check_value(L, o, "option")) return 0;
    if (o->field != NO_FIELD && !store(L, s, o)) return luaL_error(L, "out of memory");
    lua_pop(L, 1);
  }
  return 1;
}

/* Builds "Authorization: <scheme> <key>" from the options, or leaves it NULL without a key. */
static int compose_auth(lua_State *L, iblai_session *s, int opts) {
  lua_getfield(L, opts, "api_key");
  lua_getfield(L, opts, "auth_scheme");
  const char *key = lua_tostring(L, -2);
  const char *scheme = lua_isnil(L, -1) ? DEFAULT_AUTH_SCHEME : lua_tostring(L, -1);
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
  s->base_len = n;
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
    lua_pushfstring(L, "option 'base_url' must be an absolute http:// or https:// URL, got '%s'", s->base_url);
    return 0;
  }
  if (has_extra) {
    lua_pushstring(L, "option 'base_url' must not hold credentials, a query or a fragment; pass the key as api_key");
    return 0;
  }
  return 1;
}

/* Without a proxy option, curl reads the proxy variables of the environment on every request;
 * when none is set, say so once ("" is no proxy) and spare it the look. */
static int no_proxy_in_environment(void) {
  static const char *const vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", NULL};
  for (int i = 0; vars[i]; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return 0;
  }
  return 1;
}

static char *default_user_agent(void) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  char *ua = malloc(96);
  if (ua) snprintf(ua, 96, "iblai-lua/%s libcurl/%s", IBLAI_VERSION, v->version);
  return ua;
}

/* The lists a request without headers of its own sends: Accept and the key, and for one with a
 * body an empty Expect too, so curl never waits for 100-continue. Built once, shared. */
static int build_default_headers(iblai_session *s) {
  const char *lines[] = {"Accept: application/json", s->auth_header, "Expect:"};
  struct curl_slist **lists[] = {&s->default_headers, &s->body_headers};
  for (size_t k = 0; k < 2; k++) {
    for (size_t i = 0; i < (k ? 3 : 2); i++) {
      if (!lines[i]) continue;
      struct curl_slist *l = curl_slist_append(*lists[k], lines[i]);
      if (!l) return 0;
      *lists[k] = l;
    }
  }
  return 1;
}

iblai_session *iblai_check_session(lua_State *L, int idx) {
  iblai_session *s = luaL_checkudata(L, idx, IBLAI_SESSION_MT);
  if (s->closed) iblai_misuse(L, "attempt to use a closed iblai.Session (or the client it belongs to)");
  return s;
}

/* Open sessions per Lua state, to notice ones dropped without close. */
typedef struct {
  int live, threshold;
} session_count;

static session_count *counter(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "iblai.sessions") == LUA_TUSERDATA) {
    session_count *c = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return c;
  }
  lua_pop(L, 1);
  session_count *c = lua_newuserdatauv(L, sizeof *c, 0);
  c->live = 0;
  c->threshold = SESSIONS_BEFORE_COLLECT;
  lua_setfield(L, LUA_REGISTRYINDEX, "iblai.sessions");
  return c;
}

/* A session dropped without close keeps its idle connections until the GC finalizes it, and the
 * GC cannot see the sockets it holds. So when open sessions pile up, collect before adding one:
 * the dropped ones close their connections, the ones still in use are untouched. */
static void collect_dropped_sessions(lua_State *L) {
  session_count *c = counter(L);
  if (c->live < c->threshold) return;
  lua_gc(L, LUA_GCCOLLECT);
  c = counter(L);
  c->threshold = c->live * 2 > SESSIONS_BEFORE_COLLECT ? c->live * 2 : SESSIONS_BEFORE_COLLECT;
}

void iblai_session_release(lua_State *L, iblai_session *s) {
  if (s->closed) return;
  s->closed = 1;
  counter(L)->live--;
  for (int i = 0; i < s->npool; i++) {
    curl_easy_cleanup(s->pool[i]->curl);
    free(s->pool[i]);
  }
  free(s->pool);
  s->pool = NULL;
  s->npool = s->pool_cap = 0;
  if (s->multi) curl_multi_cleanup(s->multi);
  if (s->share) curl_share_cleanup(s->share);
  s->multi = NULL;
  s->share = NULL;
  curl_slist_free_all(s->default_headers);
  curl_slist_free_all(s->body_headers);
  s->default_headers = s->body_headers = NULL;
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

/* A handle with the session's fixed options; the transfer sets its callbacks and the rest. */
iblai_handle *iblai_session_take_handle(iblai_session *s) {
  if (s->npool > 0) return s->pool[--s->npool];
  iblai_handle *h = calloc(1, sizeof *h);
  CURL *e = h ? curl_easy_init() : NULL;
  if (!e) {
    free(h);
    return NULL;
  }
  h->curl = e;
  h->kind = -1; /* nothing set yet */
  curl_easy_setopt(e, CURLOPT_SHARE, s->share);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are ours: the key must not follow */
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);     /* what the URL says is what is sent */
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(s->connect_timeout * 1000));
  curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max_response_bytes);
  curl_easy_setopt(e, CURLOPT_PRIVATE, h);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  if (s->proxy) curl_easy_setopt(e, CURLOPT_PROXY, s->proxy); /* "" means none, whatever the environment */
  if (s->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
  if (s->verbose) {
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, iblai_debug_redacted);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
  }
  return h;
}

void iblai_session_give_handle(iblai_session *s, iblai_handle *h) {
  if (!h) return;
  h->t = NULL;
  if (!s->closed && s->npool == s->pool_cap) {
    int cap = s->pool_cap ? s->pool_cap * 2 : 8;
    iblai_handle **p = realloc(s->pool, (size_t)cap * sizeof *p);
    if (p) {
      s->pool = p;
      s->pool_cap = cap;
    }
  }
  if (s->closed || s->npool == s->pool_cap) {
    curl_easy_cleanup(h->curl);
    free(h);
    return;
  }
  s->pool[s->npool++] = h;
}

static int config_error(lua_State *L, iblai_session *s, const char *message) {
  lua_pushstring(L, message);
  iblai_session_release(L, s);
  luaL_pushfail(L);
  iblai_error_push(L, "config", lua_tostring(L, -2));
  return 2;
}

/* core.session(opts) -> Session, or nil and a config Error. */
int iblai_session_new(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (lua_isnil(L, 1)) {
    lua_newtable(L);
    lua_replace(L, 1);
  }
  collect_dropped_sessions(L);
  iblai_session *s = lua_newuserdatauv(L, sizeof *s, 1); /* the user value: its guard */
  memset(s, 0, sizeof *s);
  s->closed = 1; /* nothing to release until the handles exist */
  set_defaults(s);
  luaL_setmetatable(L, IBLAI_SESSION_MT);
  s->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s;
  s->share = curl_share_init();
  s->multi = curl_multi_init();
  s->closed = 0;
  counter(L)->live++;
  if (!s->share || !s->multi) {
    iblai_session_release(L, s);
    return luaL_error(L, "libcurl could not create its handles");
  }
  curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  /* connections need no share: every handle of the session runs in its one multi handle */

  int session = lua_gettop(L);
  if (!read_options(L, s, 1) || !compose_auth(L, s, 1)) return config_error(L, s, lua_tostring(L, -1));
  if (!s->base_url) s->base_url = strdup(DEFAULT_BASE_URL);
  if (!s->user_agent) s->user_agent = default_user_agent();
  if (!s->proxy && no_proxy_in_environment()) s->proxy = strdup("");
  if (!s->base_url || !s->user_agent) return luaL_error(L, "out of memory");
  if (!check_base_url(L, s)) return config_error(L, s, lua_tostring(L, -1));
  if (!build_default_headers(s)) return luaL_error(L, "out of memory");
  lua_settop(L, session);
  return 1;
}
