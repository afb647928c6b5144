/* One request through its attempts: building it, sending it, deciding what follows each answer. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "internal.h"

double iblai_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef iblai_transfer transfer;

/* Gives the easy handle back to the pool; what the transfer learned stays in the transfer. */
void iblai_transfer_release_easy(iblai_session *s, transfer *t) {
  if (!t->easy) return;
  if (t->state == T_RUNNING && s->multi) curl_multi_remove_handle(s->multi, t->easy);
  /* pooled handles must not point into the transfer */
  curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, NULL);
  curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, NULL);
  iblai_session_give_easy(s, t->easy);
  t->easy = NULL;
}

void iblai_transfer_free(iblai_session *s, transfer *t) {
  if (!t) return;
  iblai_transfer_release_easy(s, t);
  free(t->method);
  free(t->url);
  free(t->origin0);
  free(t->body);
  free(t->fail_msg);
  curl_slist_free_all(t->sent_headers);
  iblai_buf_free(&t->body_in);
  iblai_buf_free(&t->head_in);
  free(t);
}

static void fail(transfer *t, const char *kind, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  free(t->fail_msg);
  t->fail_msg = strdup(msg);
  t->fail_kind = kind;
  t->state = T_DONE;
}

static int has_userinfo(const char *url) {
  CURLU *u = curl_url();
  char *user = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
    curl_url_get(u, CURLUPART_USER, &user, 0);
  int found = user != NULL;
  curl_free(user);
  curl_url_cleanup(u);
  return found;
}

static char *dup_lstring(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static int header_name_ok(const char *name) {
  if (!*name) return 0;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (!(isalnum(*p) || strchr("!#$%&'*+-.^_`|~", *p))) return 0;
  return 1;
}

static int is_credential_header(const char *line) {
  return strncasecmp(line, "authorization:", 14) == 0 || strncasecmp(line, "cookie:", 7) == 0 ||
         strncasecmp(line, "proxy-authorization:", 20) == 0;
}

/* Adds what the session sends itself: the key when the URL is on the session's origin, and an
 * empty Expect: so curl never waits for 100-continue. */
static int append_ours(iblai_session *s, transfer *t) {
  struct curl_slist *l;
  if (s->auth_header && t->same_origin) {
    if (!(l = curl_slist_append(t->sent_headers, s->auth_header))) return -1;
    t->sent_headers = l;
  }
  if (!(l = curl_slist_append(t->sent_headers, "Expect:"))) return -1;
  t->sent_headers = l;
  return 0;
}

/* After a redirect: the caller's headers again (less credentials once the first origin is left),
 * then ours for the new URL. */
static int rebuild_headers(iblai_session *s, transfer *t) {
  struct curl_slist *old = t->sent_headers, *l;
  t->sent_headers = NULL;
  for (struct curl_slist *h = old; h; h = h->next) {
    int ours = strcmp(h->data, "Expect:") == 0 || (s->auth_header && strcmp(h->data, s->auth_header) == 0);
    if (ours || (t->cross_origin && is_credential_header(h->data))) continue;
    if (!(l = curl_slist_append(t->sent_headers, h->data))) {
      curl_slist_free_all(old);
      return -1;
    }
    t->sent_headers = l;
  }
  curl_slist_free_all(old);
  return append_ours(s, t);
}

static void set_url(iblai_session *s, transfer *t, char *url) {
  free(t->url);
  t->url = url;
  char *origin = iblai_origin_of(url);
  t->same_origin = origin && strcmp(origin, s->origin) == 0;
  if (!t->origin0) t->origin0 = origin;
  else {
    if (!origin || strcmp(origin, t->origin0) != 0) t->cross_origin = 1;
    free(origin);
  }
}

static void read_headers(lua_State *L, transfer *t, int spec) {
  lua_getfield(L, spec, "headers");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  luaL_argcheck(L, lua_istable(L, -1), 2, "field 'headers' must be a table of name = value");
  int h = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, h)) {
    luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING, 2, "header names must be strings");
    luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER, 2,
                  "header values must be strings or numbers");
    const char *name = lua_tostring(L, -2);
    size_t vlen;
    lua_pushvalue(L, -1);
    const char *value = lua_tolstring(L, -1, &vlen);
    if (!header_name_ok(name)) fail(t, "config", "header name '%s' is not a valid HTTP token", name);
    else if (iblai_has_crlf(value, vlen)) fail(t, "config", "header '%s' must not hold CR, LF or NUL", name);
    else {
      lua_pushfstring(L, vlen ? "%s: %s" : "%s;", name, value);
      struct curl_slist *l = curl_slist_append(t->sent_headers, lua_tostring(L, -1));
      if (!l) luaL_error(L, "out of memory");
      t->sent_headers = l;
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
}

static const char *const spec_fields[] = {"method", "url", "headers", "body", "timeout",
                                          "retries", "retry_unsafe", NULL};

/* Reads one request table into a new transfer owned by b; misuse raises, bad data marks it failed. */
transfer *iblai_transfer_new(lua_State *L, iblai_batch *b, int spec) {
  iblai_session *s = b->s;
  transfer *t = iblai_batch_slot(L, b);
  lua_pushnil(L);
  while (lua_next(L, spec)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    int i = 0;
    while (k && spec_fields[i] && strcmp(spec_fields[i], k) != 0) i++;
    if (!k || !spec_fields[i])
      luaL_error(L, "unknown field '%s' in request", k ? k : luaL_typename(L, -2));
    lua_pop(L, 1);
  }
  lua_getfield(L, spec, "method");
  const char *method = luaL_optstring(L, -1, "GET");
  lua_getfield(L, spec, "url");
  if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "request field 'url' must be a string");
  const char *url = lua_tostring(L, -1);
  lua_getfield(L, spec, "body");
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "request field 'body' must be a string");
  size_t body_len = 0;
  const char *body = lua_tolstring(L, -1, &body_len);
  lua_getfield(L, spec, "timeout");
  t->timeout = luaL_optnumber(L, -1, s->timeout);
  lua_getfield(L, spec, "retries");
  t->max_retries = (int)luaL_optinteger(L, -1, s->retries);
  lua_getfield(L, spec, "retry_unsafe");
  t->retry_unsafe = lua_toboolean(L, -1);
  if (!(t->timeout > 0)) luaL_error(L, "request field 'timeout' must be greater than 0");
  if (t->max_retries < 0) luaL_error(L, "request field 'retries' must be 0 or more");

  t->max_bytes = s->max_response_bytes;
  t->attempts = 1;
  t->method = strdup(method);
  for (char *p = t->method; p && *p; p++) *p = (char)toupper((unsigned char)*p);
  if (body) t->body = dup_lstring(body, body_len);
  t->body_len = body_len;
  int relative = url[0] == '/';
  char *full;
  if (relative) {
    size_t n = strlen(s->base_url) + strlen(url) + 1;
    full = malloc(n);
    if (full) snprintf(full, n, "%s%s", s->base_url, url);
  } else {
    full = strdup(url);
  }
  if (!t->method || !full || (body && !t->body)) {
    free(full);
    luaL_error(L, "out of memory");
  }
  if (relative) { /* a path under base_url is on the session's origin: no need to parse it */
    t->url = full;
    t->origin0 = strdup(s->origin);
    t->same_origin = 1;
    if (!t->origin0) luaL_error(L, "out of memory");
  } else {
    set_url(s, t, full);
  }
  lua_pop(L, 6);
  if (!header_name_ok(t->method)) fail(t, "config", "'%s' is not an HTTP method", method);
  else if (!t->origin0) fail(t, "config", "'%s' is not an absolute http(s) URL or a path starting with /", url);
  else if (!relative && has_userinfo(t->url))
    fail(t, "config", "credentials in URLs are not accepted; use the api_key option");
  read_headers(L, t, spec);
  if (append_ours(s, t) != 0) luaL_error(L, "out of memory");
  if (t->state == T_DONE) b->ndone++; /* failed its checks: nothing to send */
  return t;
}

size_t iblai_on_body(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  if ((curl_off_t)(t->body_in.len + len) > t->max_bytes) {
    t->too_large = 1;
    return 0;
  }
  return iblai_buf_append(&t->body_in, p, len) == 0 ? len : 0;
}

size_t iblai_on_header(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) t->head_in.len = 0; /* a new response: 1xx or redirect */
  return iblai_buf_append(&t->head_in, p, len) == 0 ? len : 0;
}

int iblai_transfer_start(iblai_session *s, transfer *t) {
  CURL *e = t->easy ? t->easy : (t->easy = iblai_session_take_easy(s));
  if (!e) return -1;
  t->body_in.len = t->head_in.len = 0;
  t->status = 0;
  t->too_large = 0;
  t->errbuf[0] = '\0';

  if (t->redirected) { /* the origin may have changed: the key and credentials follow the rules again */
    if (rebuild_headers(s, t) != 0) return -1;
    t->redirected = 0;
  }

  /* The session's fixed options were set when the handle was made; these change per attempt. */
  curl_easy_setopt(e, CURLOPT_URL, t->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(t->timeout * 1000));
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->sent_headers);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, t->max_bytes);
  curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
  int is_post = strcmp(t->method, "POST") == 0;
  if (strcmp(t->method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (t->body || is_post) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body ? t->body : "");
    if (!is_post) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (strcmp(t->method, "GET") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method);
  }
  if (curl_multi_add_handle(s->multi, e) != CURLM_OK) return -1;
  t->state = T_RUNNING;
  t->started = iblai_now();
  return 0;
}

/* Finds a header in the raw block of the last response; returns a malloc'd value or NULL. */
static char *raw_header(const iblai_buf *head, const char *name) {
  size_t nlen = strlen(name);
  const char *p = head->data, *end = head->data ? head->data + head->len : NULL;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
      const char *v = p + nlen + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      return dup_lstring(v, (size_t)(ve - v));
    }
    p = eol + 1;
  }
  return NULL;
}

static void push_event(lua_State *L, const char *event, transfer *t) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, event);
  lua_setfield(L, -2, "event");
  lua_pushstring(L, t->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, t->url);
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, t->attempts);
  lua_setfield(L, -2, "attempt");
  if (t->status) {
    lua_pushinteger(L, t->status);
    lua_setfield(L, -2, "status");
  }
  if (t->rc != CURLE_OK) {
    lua_pushstring(L, t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->rc));
    lua_setfield(L, -2, "error");
  }
}

static int log_event(lua_State *L, iblai_session *s, const char *event, transfer *t, double number,
                     const char *number_name) {
  if (s->log_ref == LUA_NOREF) return LUA_OK;
  push_event(L, event, t);
  if (number_name) {
    lua_pushnumber(L, number);
    lua_setfield(L, -2, number_name);
  }
  return iblai_pcall_hook(L, s->log_ref, 1);
}

static int is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static int follow_redirect(lua_State *L, iblai_session *s, transfer *t) {
  char *loc = NULL;
  curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &loc);
  if (!loc || s->max_redirects == 0) return 0; /* with max_redirects = 0 the caller sees the 3xx */
  if (t->redirects >= s->max_redirects) {
    fail(t, "http", "stopped after %d redirects (max_redirects)", s->max_redirects);
    return 1;
  }
  char *next = strdup(loc);
  if (!next) {
    fail(t, "network", "out of memory");
    return 1;
  }
  set_url(s, t, next);
  if (t->status == 303 || ((t->status == 301 || t->status == 302) && strcmp(t->method, "POST") == 0)) {
    if (strcmp(t->method, "HEAD") != 0) {
      free(t->method);
      t->method = strdup("GET");
      if (!t->method) luaL_error(L, "out of memory");
    }
    free(t->body);
    t->body = NULL;
    t->body_len = 0;
  }
  t->redirects++;
  t->redirected = 1;
  t->state = T_WAITING;
  t->not_before = 0;
  return 1;
}

/* Decides what happens after one attempt; returns a lua_pcall status (hooks may fail). */
int iblai_transfer_finish(lua_State *L, iblai_session *s, transfer *t, CURLcode rc) {
  curl_multi_remove_handle(s->multi, t->easy);
  t->rc = rc;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
  t->state = T_DONE;
  int st = log_event(L, s, "response", t, iblai_now() - t->started, "elapsed");
  if (st != LUA_OK) return st;
  if (rc == CURLE_OK && is_redirect(t->status) && follow_redirect(L, s, t))
    return t->state == T_WAITING ? log_event(L, s, "redirect", t, 0, NULL) : LUA_OK;

  t->retryable = rc != CURLE_OK ? (!t->too_large && iblai_retryable_curl(rc))
                                : iblai_retryable_status(t->status);
  int allowed = t->retry_unsafe || iblai_method_idempotent(t->method);
  if (!t->retryable || !allowed || t->attempts > t->max_retries) return LUA_OK;

  double delay = iblai_backoff(&s->rng, t->attempts, s->backoff_base, s->backoff_max);
  char *ra = rc == CURLE_OK ? raw_header(&t->head_in, "retry-after") : NULL;
  double hinted = iblai_parse_retry_after(ra, (long)time(NULL));
  free(ra);
  if (hinted >= 0) delay = hinted < s->retry_after_max ? hinted : s->retry_after_max;
  if ((st = log_event(L, s, "retry", t, delay, "delay")) != LUA_OK) return st;
  t->attempts++;
  t->state = T_WAITING;
  if (s->sleep_ref != LUA_NOREF) {
    lua_pushnumber(L, delay);
    if ((st = iblai_pcall_hook(L, s->sleep_ref, 1)) != LUA_OK) return st;
    t->not_before = 0;
  } else {
    t->not_before = iblai_now() + delay;
  }
  return LUA_OK;
}

static void push_headers(lua_State *L, const iblai_buf *head) {
  lua_createtable(L, 0, 8);
  const char *p = head->data, *end = head->data ? head->data + head->len : NULL;
  int first = 1;
  char name[128];
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    size_t nlen = colon ? (size_t)(colon - p) : 0;
    if (!first && nlen > 0 && nlen < sizeof name) {
      for (size_t i = 0; i < nlen; i++) name[i] = (char)tolower((unsigned char)p[i]);
      const char *v = colon + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushlstring(L, name, nlen);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -3) == LUA_TSTRING) { /* a repeated header: join as HTTP allows */
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, -3);
    }
    first = 0;
    p = eol + 1;
  }
}

static void set_common(lua_State *L, transfer *t) {
  lua_pushstring(L, t->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, t->url);
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, t->attempts);
  lua_setfield(L, -2, "attempts");
  if (t->status > 0) {
    lua_pushinteger(L, t->status);
    lua_setfield(L, -2, "status");
  }
}

int iblai_transfer_succeeded(const transfer *t) {
  return !t->fail_kind && t->rc == CURLE_OK && !t->too_large;
}

void iblai_push_response(lua_State *L, transfer *t) {
  lua_createtable(L, 0, 6);
  set_common(L, t);
  push_headers(L, &t->head_in);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, t->body_in.data ? t->body_in.data : "", t->body_in.len);
  lua_setfield(L, -2, "body");
}

void iblai_push_failure(lua_State *L, transfer *t) {
  if (t->fail_kind) {
    iblai_error_push(L, t->fail_kind, t->fail_msg ? t->fail_msg : "request failed");
  } else if (t->too_large || t->rc == CURLE_FILESIZE_EXCEEDED) {
    lua_pushfstring(L, "the response body is larger than max_response_bytes (%I bytes)",
                    (LUAI_UACINT)t->max_bytes);
    iblai_error_push(L, "too_large", lua_tostring(L, -1));
    lua_remove(L, -2);
  } else {
    const char *what = curl_easy_strerror(t->rc);
    if (t->errbuf[0]) lua_pushfstring(L, "%s: %s", what, t->errbuf);
    else lua_pushstring(L, what);
    iblai_error_push(L, iblai_curl_kind(t->rc), lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushinteger(L, t->rc);
    lua_setfield(L, -2, "curl_code");
  }
  set_common(L, t);
  lua_pushboolean(L, t->retryable);
  lua_setfield(L, -2, "retryable");
}
