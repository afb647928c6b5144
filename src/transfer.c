/* One request through its attempts: reading it, sending each attempt, deciding what follows an
 * answer (the end, a retry, a redirect), and handing the outcome to Lua. */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "internal.h"

#define MAX_HEADER_BYTES CURL_MAX_HTTP_HEADER /* curl's own limit for one header (100 KB) */
#define MAX_REQUEST_HEADER (1024 * 1024)      /* curl's limit for a request's header block */
#define MAX_URL 8000000                       /* curl's limit for a URL (CURL_MAX_INPUT_LENGTH) */

typedef iblai_transfer transfer;

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

#define MAX_SPARES 64 /* freed transfers kept per session, so busy loops allocate little */

void iblai_transfer_free(iblai_session *s, transfer *t) {
  if (!t) return;
  iblai_transfer_cancel(s, t);
  free(t->method_buf);
  free(t->url);
  free(t->origin0);
  free(t->answered_url);
  free(t->op);
  free(t->body);
  free(t->fail_msg);
  free(t->curl_error);
  curl_slist_free_all(t->headers);
  if (t->sink) iblai_sink_free(t->sink);
  if (!s->closed && s->nspare < MAX_SPARES && t->body_in.cap <= 65536 && t->head_in.cap <= 65536) {
    iblai_buf body = t->body_in, head = t->head_in;
    memset(t, 0, sizeof *t);
    t->body_in = body; /* the buffers stay, emptied, for the next transfer */
    t->head_in = head;
    t->body_in.len = t->head_in.len = 0;
    t->next_spare = s->spare;
    s->spare = t;
    s->nspare++;
    return;
  }
  iblai_buf_free(&t->body_in);
  iblai_buf_free(&t->head_in);
  free(t);
}

void iblai_transfer_drop_spares(iblai_session *s) {
  while (s->spare) {
    transfer *t = s->spare;
    s->spare = t->next_spare;
    iblai_buf_free(&t->body_in);
    iblai_buf_free(&t->head_in);
    free(t);
  }
  s->nspare = 0;
}

static transfer *new_transfer(iblai_session *s) {
  transfer *t = s->spare;
  if (!t) return calloc(1, sizeof *t);
  s->spare = t->next_spare;
  s->nspare--;
  t->next_spare = NULL;
  return t;
}

/* Gives the handle back to the pool; what the transfer learned stays in the transfer. */
static void release_easy(iblai_session *s, transfer *t) {
  iblai_handle *h = t->easy;
  if (!h) return;
  t->easy = NULL;
  if (t->state == T_RUNNING && s->multi) {
    curl_multi_remove_handle(s->multi, h->curl);
    s->running--;
  }
  iblai_session_give_handle(s, h);
}

void iblai_transfer_cancel(iblai_session *s, transfer *t) {
  release_easy(s, t);
  if (t->state != T_DONE && !t->fail_kind) fail(t, "network", "the request was cancelled");
  t->state = T_DONE;
}

/* ---- reading a request table ---- */

enum { F_METHOD, F_URL, F_PATH, F_QUERY, F_JOINED, F_HEADERS, F_BODY, F_TIMEOUT, F_RETRIES,
       F_RETRY_UNSAFE, F_OP, F_DECODE, F_TO_FILE, NFIELDS };
static const struct {
  const char *name;
  int type;         /* LUA_TNONE: checked later (timeout, retries), or any (retry_unsafe) */
  const char *what; /* for the error */
} fields[] = {
  {"method", LUA_TSTRING, "a string"}, {"url", LUA_TSTRING, "a string"}, {"path", LUA_TSTRING, "a string"},
  {"query", LUA_TTABLE, "a table"}, {"joined", LUA_TTABLE, "a table"},
  {"headers", LUA_TTABLE, "a table of name = value"}, {"body", LUA_TSTRING, "a string"},
  {"timeout", LUA_TNONE, NULL}, {"retries", LUA_TNONE, NULL}, {"retry_unsafe", LUA_TNONE, NULL},
  {"op", LUA_TSTRING, "a string"}, {"decode", LUA_TBOOLEAN, "a boolean"},
  {"to_file", LUA_TSTRING, "a string (a file path)"},
};

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", NULL};

static int header_name_ok(const char *name, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!(isalnum(c) || strchr("!#$%&'*+-.^_`|~", c))) return 0;
  }
  return 1;
}

static int is_credential_header(const char *line) {
  return strncasecmp(line, "authorization:", 14) == 0 || strncasecmp(line, "cookie:", 7) == 0 ||
         strncasecmp(line, "proxy-authorization:", 20) == 0;
}

static int field_index(const char *k, size_t n) {
  for (int i = 0; i < NFIELDS; i++)
    if (fields[i].name[0] == k[0] && strlen(fields[i].name) == n && memcmp(fields[i].name, k, n) == 0) return i;
  return -1;
}

#define HAS(f) (1u << (f))

/* Copies the fields of spec into slots base..base+NFIELDS-1, raising on unknown names and on
 * values of the wrong type; returns which are there (HAS bits), so absent ones cost nothing. */
static unsigned read_fields(lua_State *L, int spec, int base) {
  unsigned present = 0;
  lua_pushnil(L);
  while (lua_next(L, spec)) {
    size_t n = 0;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
    int i = k ? field_index(k, n) : -1;
    if (i < 0) iblai_misuse(L, "unknown field '%s' in request", k ? k : luaL_typename(L, -2));
    if (fields[i].type != LUA_TNONE && lua_type(L, -1) != fields[i].type)
      iblai_misuse(L, "request field '%s' must be %s", fields[i].name, fields[i].what);
    lua_replace(L, base + i);
    present |= HAS(i);
  }
  return present;
}

/* Checks the caller's headers (types only; bad names and values fail the request later). */
static int check_headers(lua_State *L, int h, int *has_accept) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, h)) {
    if (lua_type(L, -2) != LUA_TSTRING) iblai_misuse(L, "header names must be strings");
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      iblai_misuse(L, "header '%s' must be a string or a number", lua_tostring(L, -2));
    if (strcasecmp(lua_tostring(L, -2), "accept") == 0) *has_accept = 1;
    if (strcasecmp(lua_tostring(L, -2), "host") == 0) /* the key would go to whatever host it names */
      iblai_misuse(L, "the Host header comes from the URL and cannot be set; give the URL of that host");
    lua_pop(L, 1);
    n++;
  }
  return n;
}

static int append_line(struct curl_slist **list, const char *line) {
  struct curl_slist *l = curl_slist_append(*list, line);
  if (!l) return -1;
  *list = l;
  return 0;
}

/* What the session sends itself: the key when the request has only ever been on the session's
 * origin (unless the caller gave an Authorization of its own), and an empty Expect so curl
 * never waits for 100-continue. */
static int append_ours(iblai_session *s, transfer *t) {
  int callers = 0;
  for (struct curl_slist *h = t->headers; h; h = h->next)
    if (strncasecmp(h->data, "authorization:", 14) == 0 || strncasecmp(h->data, "authorization;", 14) == 0)
      callers = 1;
  if (s->auth_header && t->same_origin && !callers && append_line(&t->headers, s->auth_header) != 0) return -1;
  return append_line(&t->headers, "Expect:");
}

/* Builds the transfer's own header list from the table at h (0: none); never raises. */
static int build_headers(lua_State *L, iblai_session *s, transfer *t, int h, int has_accept) {
  if (!has_accept && append_line(&t->headers, "Accept: application/json") != 0) return -1;
  if (h) lua_pushnil(L);
  while (h && lua_next(L, h)) {
    size_t nlen, vlen;
    const char *name = lua_tolstring(L, -2, &nlen);
    char num[64];
    const char *value;
    if (lua_type(L, -1) == LUA_TSTRING) {
      value = lua_tolstring(L, -1, &vlen);
    } else { /* numbers are formatted here: converting them in the table would allocate */
      if (lua_isinteger(L, -1)) snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, -1));
      else snprintf(num, sizeof num, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, -1));
      value = num;
      vlen = strlen(num);
    }
    lua_pop(L, 1);
    if (!header_name_ok(name, nlen)) {
      fail(t, "config", "header name '%.100s' is not a valid HTTP token", name);
      continue;
    }
    if (iblai_has_crlf(value, vlen)) {
      fail(t, "config", "header '%.100s' must not hold CR, LF or NUL", name);
      continue;
    }
    if (vlen > MAX_REQUEST_HEADER) {
      fail(t, "config", "header '%.100s' is %lu bytes, more than a request's headers may hold (1 MB)", name,
           (unsigned long)vlen);
      continue;
    }
    char *line = malloc(nlen + vlen + 3);
    if (!line) return -1;
    memcpy(line, name, nlen);
    if (vlen) { /* "Name;" is how curl is told to send a header with an empty value */
      memcpy(line + nlen, ": ", 2);
      memcpy(line + nlen + 2, value, vlen + 1);
    } else {
      memcpy(line + nlen, ";", 2);
    }
    int rc = append_line(&t->headers, line);
    free(line);
    if (rc != 0) return -1;
  }
  return append_ours(s, t);
}

/* Origin and userinfo of an absolute URL in one parse. */
static char *url_origin(const char *url, int *has_user) {
  *has_user = 0;
  CURLU *u = curl_url();
  if (!u) return NULL;
  char *user = NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) curl_url_get(u, CURLUPART_USER, &user, 0);
  *has_user = user != NULL;
  curl_free(user);
  curl_url_cleanup(u);
  return iblai_origin_of(url);
}

/* Pushes the encoded query when the table at query (0: none) holds anything (else pushes
 * nothing); returns whether it pushed. May raise, so it runs before the transfer exists. */
static int push_query(lua_State *L, int query, int joined) {
  if (!query) return 0;
  lua_pushnil(L);
  if (!lua_next(L, query)) return 0;
  lua_pop(L, 2);
  iblai_query_push(L, query, joined);
  return 1;
}

/* The to_file at idx; in a restricted state, checked against the directories the script may use
 * (the resolved path is pushed and returned), or refused: NULL, with why in refused. */
static const char *file_of(lua_State *L, int idx, size_t *len, char *refused, size_t size) {
  const char *file = lua_tolstring(L, idx, len);
  if (lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_FILE_GUARD_KEY) != LUA_TFUNCTION) return file;
  lua_pushvalue(L, idx);
  lua_call(L, 1, 2);
  if (lua_isstring(L, -2)) return lua_tolstring(L, -2, len);
  snprintf(refused, size, "to_file %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "is refused");
  return NULL;
}

/* The URL to send: base_url + path for a path, the URL itself otherwise, then the query. */
static char *join_url(iblai_session *s, const char *where, size_t n, const char *query, size_t qlen) {
  size_t base = where[0] == '/' ? s->base_len : 0;
  char *url = malloc(base + n + qlen + 2);
  if (!url) return NULL;
  memcpy(url, s->base_url, base);
  memcpy(url + base, where, n);
  size_t at = base + n;
  if (qlen) {
    url[at++] = memchr(where, '?', n) ? '&' : '?';
    memcpy(url + at, query, qlen);
    at += qlen;
  }
  url[at] = '\0';
  return url;
}

static const char *known_method(const char *m) {
  for (int i = 0; methods[i]; i++)
    if (strcasecmp(methods[i], m) == 0) return methods[i];
  return NULL;
}

transfer *iblai_transfer_read(lua_State *L, iblai_session *s, int spec) {
  spec = lua_absindex(L, spec);
  int top = lua_gettop(L), base = top + 1;
  luaL_checkstack(L, NFIELDS + 8, "request too complex");
  lua_settop(L, top + NFIELDS);
  unsigned has = read_fields(L, spec, base);

  /* Everything that may raise happens before the transfer exists, so nothing can leak. */
  if (!(has & (HAS(F_URL) | HAS(F_PATH)))) iblai_misuse(L, "request needs a url or a path (a string starting with /)");
  int target = has & HAS(F_URL) ? base + F_URL : base + F_PATH;
  double timeout = s->timeout, retries = (double)s->retries;
  if (has & HAS(F_TIMEOUT)) iblai_request_option(L, "timeout", base + F_TIMEOUT, &timeout);
  if (has & HAS(F_RETRIES)) iblai_request_option(L, "retries", base + F_RETRIES, &retries);
  int has_accept = 0, nheaders = 0;
  if (has & HAS(F_HEADERS)) nheaders = check_headers(L, base + F_HEADERS, &has_accept);
  size_t qlen = 0, target_len, body_len = 0, file_len = 0;
  const char *query = push_query(L, has & HAS(F_QUERY) ? base + F_QUERY : 0, has & HAS(F_JOINED) ? base + F_JOINED : 0)
                          ? lua_tolstring(L, -1, &qlen) : NULL;
  const char *given = lua_tolstring(L, target, &target_len);
  const char *method = has & HAS(F_METHOD) ? lua_tostring(L, base + F_METHOD) : "GET";
  const char *body = has & HAS(F_BODY) ? lua_tolstring(L, base + F_BODY, &body_len) : NULL;
  const char *op = has & HAS(F_OP) ? lua_tostring(L, base + F_OP) : NULL;
  char refused[300]; /* why restricted mode refuses the to_file, when it does */
  const char *file = has & HAS(F_TO_FILE) ? file_of(L, base + F_TO_FILE, &file_len, refused, sizeof refused) : NULL;

  transfer *t = new_transfer(s);
  if (!t) luaL_error(L, "out of memory");
  t->state = T_PENDING;
  t->timeout = timeout;
  t->max_retries = (int)retries;
  t->retry_unsafe = (has & HAS(F_RETRY_UNSAFE)) && lua_toboolean(L, base + F_RETRY_UNSAFE);
  t->as_text = (has & HAS(F_DECODE)) && !lua_toboolean(L, base + F_DECODE);
  t->max_bytes = (curl_off_t)s->max_response_bytes;
  t->attempts = 1;
  t->method = known_method(method);
  int ok = 1;
  if (!t->method) {
    ok = (t->method_buf = strdup(method)) != NULL;
    for (char *p = t->method_buf; p && *p; p++) *p = (char)toupper((unsigned char)*p);
    t->method = t->method_buf ? t->method_buf : "GET";
  }
  ok = ok && (t->url = join_url(s, given, target_len, query, qlen)) != NULL;
  if (ok && body) ok = (t->body = iblai_strndup(body, body_len)) != NULL;
  t->body_len = body_len;
  if (ok && op) ok = (t->op = strdup(op)) != NULL;
  if (ok && file) ok = (t->sink = iblai_sink_new(file, file_len)) != NULL;
  int relative = given[0] == '/', has_user = 0, bad_url = 0;
  if (ok && relative) {
    t->same_origin = 1; /* a path under base_url is on the session's origin: no need to parse it */
  } else if (ok) {
    char *origin = url_origin(t->url, &has_user);
    bad_url = origin == NULL;
    t->same_origin = origin && strcmp(origin, s->origin) == 0;
    if (origin && !t->same_origin) t->origin0 = origin;
    else free(origin);
  }
  /* the shared default list holds the key, so it only serves our origin without extra headers */
  if (ok && (nheaders > 0 || !t->same_origin))
    ok = build_headers(L, s, t, nheaders > 0 ? base + F_HEADERS : 0, has_accept) == 0;
  lua_settop(L, top);
  if (!ok) {
    iblai_transfer_free(s, t);
    luaL_error(L, "out of memory");
  }
  if (t->state == T_DONE) return t; /* a header failed its checks */
  if (strlen(given) != target_len) fail(t, "config", "the request URL holds a NUL byte");
  else if ((has & HAS(F_TO_FILE)) && !file) fail(t, "config", "%s", refused);
  else if (file && (file_len == 0 || strlen(file) != file_len))
    fail(t, "config", "to_file must be a file path without NUL bytes");
  else if (strlen(t->url) > MAX_URL)
    fail(t, "config", "the URL is %lu bytes, more than libcurl accepts (8 MB)", (unsigned long)strlen(t->url));
  else if (!header_name_ok(t->method, strlen(t->method))) fail(t, "config", "'%.60s' is not an HTTP method", t->method);
  else if (bad_url) fail(t, "config", "'%.200s' is not an absolute http(s) URL or a path starting with /", t->url);
  else if (has_user) fail(t, "config", "credentials in URLs are not accepted; use the api_key option");
  return t;
}

/* ---- attempts ---- */

size_t iblai_on_body(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ((iblai_handle *)ud)->t;
  size_t len = size * n;
  if ((curl_off_t)(t->body_in.len + len) > t->max_bytes) {
    t->too_large = 1;
    return 0;
  }
  return iblai_buf_append(&t->body_in, p, len) == 0 ? len : 0;
}

static char *raw_header(const iblai_buf *head, const char *name);

/* Whether the answer said how long its body is (Content-Length, or chunks, whose end is
 * marked): then curl checks that all of it came. Otherwise the end of the connection is the
 * end of the body, which a connection broken early also looks like. */
static int length_known(iblai_handle *h, transfer *t) {
  curl_off_t length = -1;
  curl_easy_getinfo(h->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  if (length >= 0) return 1;
  char *coding = raw_header(&t->head_in, "transfer-encoding");
  int chunked = coding && strcasestr(coding, "chunked") != NULL;
  free(coding);
  return chunked;
}

static int is_json_type(const char *ctype) {
  return ctype && (strncasecmp(ctype, "application/json", 16) == 0 /* the usual one, quickly */
                   || strcasestr(ctype, "json") != NULL);          /* problem+json, ... */
}

/* The body of a transfer with a to_file: a 2xx answer's goes to the file, and is kept in memory
 * as well while it is short; any other answer's (an error, a redirect) stays in memory as usual. */
static size_t on_file_body(char *p, size_t size, size_t n, void *ud) {
  iblai_handle *h = ud;
  transfer *t = h->t;
  size_t len = size * n;
  if (!t->file_seen) { /* the first bytes of this attempt's answer: its status is known */
    long status = 0;
    char *ctype = NULL;
    t->file_seen = 1;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    t->file_on = status >= 200 && status < 300;
    if (t->file_on) {
      t->file_framed = length_known(h, t);
      curl_easy_getinfo(h->curl, CURLINFO_CONTENT_TYPE, &ctype);
      if (iblai_sink_restart(t->sink, !t->as_text && is_json_type(ctype)) != 0) return 0;
    }
  }
  if (!t->file_on) return iblai_on_body(p, size, n, ud);
  if (iblai_sink_write(t->sink, p, len) != 0) return 0; /* curl stops: settle says why */
  if (!t->file_cut) {
    if (t->body_in.len + len <= IBLAI_FILE_KEEP) {
      if (iblai_buf_append(&t->body_in, p, len) != 0) t->file_cut = 1;
    } else {
      t->file_cut = 1;
    }
  }
  return len;
}

size_t iblai_on_header(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ((iblai_handle *)ud)->t;
  size_t len = size * n;
  if (len >= 5 && p[0] == 'H' && memcmp(p, "HTTP/", 5) == 0) t->head_in.len = 0; /* a new response: 1xx or redirect */
  if (t->head_in.len + len > MAX_HEADER_BYTES) {
    t->head_too_large = 1;
    return 0;
  }
  return iblai_buf_append(&t->head_in, p, len) == 0 ? len : 0;
}

enum { KIND_GET, KIND_HEAD, KIND_BODY, KIND_OTHER }; /* how a method is set on a handle */

/* Sets h up for a transfer with a to_file, or back for one without; returns the whole-request
 * timeout to set: none for a download, which takes as long as it needs while bytes keep coming
 * (its timeout is the longest silence, in whole seconds as curl counts them). Out of the usual
 * path: set_request calls it only when h or t has to do with a file. */
static long set_file_mode(iblai_session *s, iblai_handle *h, transfer *t, long timeout_ms) {
  CURL *e = h->curl;
  int to_file = t->sink != NULL;
  if (to_file != h->to_file) {
    h->to_file = to_file;
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_file ? on_file_body : iblai_on_body);
    /* a file may be as large as the disk allows: max_response_bytes bounds what is held in memory */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, to_file ? (curl_off_t)0 : (curl_off_t)s->max_response_bytes);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)to_file);
  }
  if (!to_file) return timeout_ms;
  t->file_seen = t->file_on = t->file_cut = 0; /* a new attempt */
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)ceil(t->timeout));
  return 0;
}

/* Sets what this attempt needs on h, skipping what h already holds from its last use. */
static void set_request(iblai_session *s, iblai_handle *h, transfer *t) {
  CURL *e = h->curl;
  if (h->kind < 0) { /* a new handle */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, iblai_on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, iblai_on_header);
  }
  curl_easy_setopt(e, CURLOPT_URL, t->url);
  double ms = ceil(t->timeout * 1000); /* under a millisecond must not become "no timeout" */
  long timeout_ms = ms < 1 ? 1L : (long)ms;
  if (t->sink || h->to_file) timeout_ms = set_file_mode(s, h, t, timeout_ms);
  if (timeout_ms != h->timeout_ms) {
    h->timeout_ms = timeout_ms;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  }
  /* curl reads the list at each perform: a new list at a freed one's address is still right */
  struct curl_slist *headers = t->headers ? t->headers : t->body ? s->body_headers : s->default_headers;
  if ((const void *)headers != h->headers) {
    h->headers = headers;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  }
  int kind = t->method == methods[0] ? KIND_GET : t->method == methods[5] ? KIND_HEAD
           : (t->body || t->method == methods[1]) ? KIND_BODY : KIND_OTHER;
  /* only a literal can be compared by address: a copied name may reuse freed memory */
  const char *literal = t->method_buf ? NULL : t->method;
  if (kind != h->kind || !literal || literal != h->method) {
    const char *custom = kind == KIND_GET || kind == KIND_HEAD || t->method == methods[1] ? NULL : t->method;
    curl_easy_setopt(e, CURLOPT_NOBODY, kind == KIND_HEAD ? 1L : 0L);
    if (kind == KIND_GET || kind == KIND_OTHER) curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom);
    h->kind = kind;
    h->method = literal;
  }
  if (kind == KIND_BODY) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body ? t->body : "");
  }
  /* libcurl silently sends a request again when a reused connection turns out dead; a POST must
   * go once, so what may not be retried goes out on a connection of its own. */
  int once = !t->retry_unsafe && !iblai_method_idempotent(t->method);
  if (once != h->once) {
#if LIBCURL_VERSION_NUM >= 0x081000
    curl_easy_setopt(e, CURLOPT_FORBID_RETRY_ON_REUSE, (long)once);
#else
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, (long)once);
#endif
    h->once = once;
  }
}

int iblai_transfer_start(iblai_session *s, transfer *t) {
  if (t->state != T_PENDING && t->state != T_WAITING) return -1; /* never twice */
  iblai_handle *h = iblai_session_take_handle(s);
  if (!h) return -1;
  t->body_in.len = t->head_in.len = 0;
  t->status = 0;
  t->rc = CURLE_OK;
  t->too_large = t->head_too_large = t->redirected = 0;
  t->retry_reason = NULL;
  h->errbuf[0] = '\0';
  h->t = t;
  set_request(s, h, t);
  if (curl_multi_add_handle(s->multi, h->curl) != CURLM_OK) {
    iblai_session_give_handle(s, h);
    return -1;
  }
  t->easy = h;
  t->state = T_RUNNING;
  s->running++;
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
      return iblai_strndup(v, (size_t)(ve - v));
    }
    p = eol + 1;
  }
  return NULL;
}

static int is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Moves to the Location of a 3xx; the headers are worked out again before the next attempt. */
static void follow(iblai_session *s, transfer *t, const char *location) {
  if (t->redirects >= s->max_redirects) {
    fail(t, "http", "stopped after %d redirects (max_redirects)", (int)s->max_redirects);
    return;
  }
  char *origin = iblai_origin_of(location);
  if (!origin) {
    fail(t, "http", "the server redirected to '%.200s', which is not an http(s) URL; it was not followed", location);
    return;
  }
  char *next = strdup(location);
  if (!next) {
    free(origin);
    fail(t, "network", "out of memory");
    return;
  }
  const char *first = t->origin0 ? t->origin0 : s->origin;
  if (strcmp(origin, first) != 0) t->cross_origin = 1;
  /* the key goes only while the request has never been anywhere else: a foreign server must
   * not be able to send a keyed request to the API by redirecting to it */
  t->same_origin = !t->origin0 && !t->cross_origin && strcmp(origin, s->origin) == 0;
  free(origin);
  free(t->answered_url);
  t->answered_url = t->url; /* the response event names the URL that answered */
  t->url = next;
  if (t->status == 303 || ((t->status == 301 || t->status == 302) && t->method == methods[1])) {
    if (t->method != methods[5]) t->method = methods[0]; /* GET */
    free(t->body);
    t->body = NULL;
    t->body_len = 0;
  }
  t->redirects++;
  t->redirected = 1;
  t->state = T_WAITING;
  t->not_before = 0;
}

/* After a redirect: the caller's headers again (less credentials once the first origin is
 * left), then ours for the new URL. */
static int rebuild_headers(iblai_session *s, transfer *t) {
  struct curl_slist *old = t->headers ? t->headers : t->body ? s->body_headers : s->default_headers;
  struct curl_slist *fresh = NULL;
  for (struct curl_slist *h = old; h; h = h->next) {
    int ours = strcmp(h->data, "Expect:") == 0 || (s->auth_header && strcmp(h->data, s->auth_header) == 0);
    if (ours || (t->cross_origin && is_credential_header(h->data))) continue;
    if (append_line(&fresh, h->data) != 0) {
      curl_slist_free_all(fresh);
      return -1;
    }
  }
  if (t->headers) curl_slist_free_all(t->headers);
  t->headers = fresh;
  return append_ours(s, t);
}

/* What the file makes of an attempt of a to_file transfer, before the retry decision: a failure
 * for good (a file that cannot be written, a body that is not JSON: -1), an answer cut short in
 * the middle of its JSON (t->rc says so, as curl would), or a complete answer, flushed to the
 * disk. A 2xx answer with no body still empties the file. */
static int settle_file(transfer *t) {
  iblai_sink *k = t->sink;
  char msg[600];
  if (t->file_on && (k->err || k->json.problem)) {
    const char *kind = iblai_sink_problem(k, msg, sizeof msg);
    fail(t, kind, "%s", msg);
    return -1;
  }
  if (t->rc != CURLE_OK || t->status < 200 || t->status >= 300) return 0; /* retried or told as usual */
  if (t->file_on && k->checking && !iblai_jcheck_complete(&k->json)) {
    if (t->file_framed) { /* all of it came: the server sent it so */
      fail(t, "decode", "the response is not valid JSON: it ends after %llu bytes, before the JSON is complete",
           (unsigned long long)k->bytes);
      return -1;
    }
    snprintf(msg, sizeof msg, "the JSON body ends after %llu bytes, before it is complete",
             (unsigned long long)k->bytes);
    free(t->curl_error);
    t->curl_error = strdup(msg);
    t->rc = CURLE_PARTIAL_FILE; /* the connection closed early: as curl says when a length was given */
    return 0;
  }
  if ((!t->file_on && iblai_sink_restart(k, 0) != 0) || iblai_sink_finish(k) != 0) {
    iblai_sink_problem(k, msg, sizeof msg);
    fail(t, "file", "%s", msg);
    return -1;
  }
  return 0;
}

void iblai_transfer_settle(iblai_session *s, transfer *t, CURLcode rc) {
  CURL *e = t->easy->curl;
  t->rc = rc;
  free(t->curl_error);
  t->curl_error = rc != CURLE_OK && t->easy->errbuf[0] ? strdup(t->easy->errbuf) : NULL;
  /* curl answers a header line over its limit with "out of memory": the answer had begun */
  if (rc == CURLE_OUT_OF_MEMORY && t->head_in.len > 0) t->head_too_large = 1;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t->status);
  char *ctype = NULL;
  curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ctype);
  t->json = is_json_type(ctype);
  char *location = NULL;
  if (rc == CURLE_OK && is_redirect(t->status) && s->max_redirects > 0) {
    char *loc = NULL;
    curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc);
    if (loc) location = strdup(loc);
  }
  release_easy(s, t);
  t->state = T_DONE;
  if (location) {
    follow(s, t, location);
    free(location);
    if (t->state == T_WAITING && rebuild_headers(s, t) != 0) fail(t, "network", "out of memory");
    return;
  }
  if (t->sink) {
    if (settle_file(t) != 0) return;
    rc = t->rc; /* a JSON body that ended early is an answer cut short */
  }
  t->retry_reason = iblai_retry_reason(rc, rc == CURLE_OK ? t->status : 0, t->too_large || t->head_too_large);
  int allowed = t->retry_unsafe || iblai_method_idempotent(t->method);
  if (!t->retry_reason || !allowed || t->attempts > t->max_retries) return;

  char *hint = rc == CURLE_OK ? raw_header(&t->head_in, "retry-after") : NULL;
  double hinted = iblai_parse_retry_after(hint, (long)time(NULL));
  free(hint);
  double delay = iblai_retry_delay(&s->rng, t->attempts, s->backoff_base, s->backoff_max, hinted, s->retry_after_max);
  t->attempts++;
  t->state = T_WAITING;
  t->delay = delay;
  t->not_before = iblai_now() + delay;
}

/* ---- telling Lua ---- */

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

int iblai_transfer_log(lua_State *L, iblai_session *s, transfer *t) {
  if (s->log_ref == LUA_NOREF) return LUA_OK;
  int waiting = t->state == T_WAITING, retrying = waiting && !t->redirected;
  int attempt = retrying ? t->attempts - 1 : t->attempts; /* the attempt that just ended */
  for (int i = 0; i < 1 + waiting; i++) {
    const char *event = i == 0 ? "response" : t->redirected ? "redirect" : "retry";
    lua_createtable(L, 0, 8);
    lua_pushstring(L, event);
    lua_setfield(L, -2, "event");
    lua_pushstring(L, t->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, i == 0 && t->answered_url ? t->answered_url : t->url);
    lua_setfield(L, -2, "url");
    lua_pushinteger(L, attempt);
    lua_setfield(L, -2, "attempt");
    if (t->status) {
      lua_pushinteger(L, t->status);
      lua_setfield(L, -2, "status");
    }
    if (t->rc != CURLE_OK) {
      lua_pushstring(L, t->curl_error ? t->curl_error : curl_easy_strerror(t->rc));
      lua_setfield(L, -2, "error");
    }
    if (i == 0) {
      lua_pushnumber(L, iblai_now() - t->started);
      lua_setfield(L, -2, "elapsed");
    } else if (!t->redirected) {
      lua_pushnumber(L, t->delay);
      lua_setfield(L, -2, "delay");
      lua_pushstring(L, t->retry_reason);
      lua_setfield(L, -2, "reason");
    }
    int st = iblai_call_hook(L, s->log_ref, 1);
    if (st != LUA_OK) return st;
  }
  return LUA_OK;
}

int iblai_transfer_ok(const transfer *t) {
  return !t->fail_kind && t->rc == CURLE_OK && !t->too_large && !t->head_too_large;
}

/* The key, as it stands in the session's Authorization line, or NULL without one. */
static const char *session_key(const transfer *t) {
  const char *auth = t->group ? t->group->s->auth_header : NULL;
  const char *space = auth ? strchr(auth + sizeof "Authorization:", ' ') : NULL;
  return space ? space + 1 : NULL;
}

static int push_failure(lua_State *L, transfer *t) {
  luaL_pushfail(L);
  if (t->fail_kind) {
    iblai_error_push(L, t->fail_kind, t->fail_msg ? t->fail_msg : "request failed");
    if (t->sink && t->body_in.len > 0 && strcmp(t->fail_kind, "decode") == 0) { /* the body's start */
      lua_pushlstring(L, t->body_in.data, t->body_in.len > 512 ? 512 : t->body_in.len);
      lua_setfield(L, -2, "body");
    }
  } else if (t->too_large || t->rc == CURLE_FILESIZE_EXCEEDED) {
    lua_pushfstring(L, "the response body is larger than max_response_bytes (%I bytes)", (LUAI_UACINT)t->max_bytes);
    iblai_error_push(L, "too_large", lua_tostring(L, -1));
    lua_remove(L, -2);
  } else if (t->head_too_large) {
    iblai_error_push(L, "too_large", "the response headers are larger than 100 KB, more than libcurl accepts");
    lua_pushliteral(L, "check that base_url points at the API: its answers are not that large");
    lua_setfield(L, -2, "hint");
  } else {
    const char *kind = "network", *what = curl_easy_strerror(t->rc), *hint = NULL;
    switch (t->rc) {
    case CURLE_OPERATION_TIMEDOUT: kind = "timeout"; break;
    case CURLE_URL_MALFORMAT: kind = t->redirects ? "http" : "config"; break;
    case CURLE_UNSUPPORTED_PROTOCOL: /* only http(s) URLs get this far: it is the answer */
    case CURLE_WEIRD_SERVER_REPLY:
      what = "the server's answer is not valid HTTP";
      hint = "check that base_url points at the API and not at another kind of server";
      break;
    default: break;
    }
    if (t->curl_error) lua_pushfstring(L, "%s: %s", what, t->curl_error);
    else lua_pushstring(L, what);
    iblai_error_push(L, kind, lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushinteger(L, t->rc);
    lua_setfield(L, -2, "curl_code");
    if (hint) {
      lua_pushstring(L, hint);
      lua_setfield(L, -2, "hint");
    }
  }
  set_common(L, t);
  if (t->op) {
    lua_pushstring(L, t->op);
    lua_setfield(L, -2, "op");
  }
  lua_pushboolean(L, t->retry_reason != NULL);
  lua_setfield(L, -2, "retryable");
  iblai_error_scrub(L, -1, session_key(t));
  return 2;
}

/* nil and a decode Error, for a 2xx body that is not the JSON it says it is (message on top). */
static int decode_failure(lua_State *L, transfer *t) {
  lua_pushfstring(L, "the response is not valid JSON (%s)", lua_tostring(L, -1));
  luaL_pushfail(L);
  iblai_error_push(L, "decode", lua_tostring(L, -2));
  set_common(L, t);
  lua_pushlstring(L, t->body_in.data, t->body_in.len > 512 ? 512 : t->body_in.len);
  lua_setfield(L, -2, "body");
  if (t->op) {
    lua_pushstring(L, t->op);
    lua_setfield(L, -2, "op");
  }
  iblai_error_scrub(L, -1, session_key(t));
  lua_replace(L, -3); /* msg, full, nil, err -> msg, err, nil */
  lua_replace(L, -3); /* -> nil, err */
  return 2;
}

/* Pushes the body as Lua sees it (decoded JSON, or text), nothing when there is none; returns
 * how many values it pushed, or -1 with a message pushed when JSON does not decode. With
 * decode = false a 2xx body stays text; an error's is still read, for what the server said. */
static int push_body(lua_State *L, transfer *t, int ok) {
  if (t->body_in.len == 0 || t->method == methods[5]) return 0;
  if (!t->json || (t->as_text && ok)) {
    lua_pushlstring(L, t->body_in.data, t->body_in.len);
    return 1;
  }
  return iblai_json_decode(L, t->body_in.data, t->body_in.len) ? 1 : -1;
}

/* The answer of a to_file transfer: the response with the file's path and size instead of a
 * body, and the body's text as well when it was short enough to be kept. */
static int push_file(lua_State *L, transfer *t) {
  lua_createtable(L, 0, 8);
  int res = lua_gettop(L);
  set_common(L, t);
  iblai_headers_push(L, t->head_in.data, t->head_in.len);
  lua_setfield(L, res, "headers");
  lua_pushstring(L, t->sink->path);
  lua_setfield(L, res, "file");
  lua_pushinteger(L, (lua_Integer)t->sink->bytes);
  lua_setfield(L, res, "bytes");
  if (t->file_on && !t->file_cut) {
    lua_pushlstring(L, t->body_in.data, t->body_in.len);
    lua_setfield(L, res, "body");
  }
  return 1;
}

int iblai_transfer_push(lua_State *L, transfer *t, int body_only) {
  if (!iblai_transfer_ok(t)) return push_failure(L, t);
  int ok = t->status >= 200 && t->status < 300;
  if (t->sink && ok) return push_file(L, t);
  if (body_only && ok) { /* what a call returns: the body, true when there is none */
    int n = push_body(L, t, ok);
    if (n == 0) lua_pushboolean(L, 1);
    return n < 0 ? decode_failure(L, t) : 1;
  }
  lua_createtable(L, 0, 6);
  int res = lua_gettop(L);
  set_common(L, t);
  iblai_headers_push(L, t->head_in.data, t->head_in.len);
  lua_setfield(L, res, "headers");
  int n = push_body(L, t, ok);
  if (n < 0) {
    if (ok) {
      n = decode_failure(L, t);
      lua_remove(L, res);
      return n;
    }
    lua_pop(L, 1);
    lua_pushlstring(L, t->body_in.data, t->body_in.len); /* an error page: its text */
    n = 1;
  }
  if (n == 1) lua_setfield(L, res, "body");
  if (ok) return 1;
  iblai_error_from_response(L, res, t->body_in.data ? t->body_in.data : "", t->body_in.len);
  iblai_error_scrub(L, -1, session_key(t));
  if (t->op) {
    lua_pushstring(L, t->op);
    lua_setfield(L, -2, "op");
  }
  luaL_pushfail(L);
  lua_replace(L, res);
  return 2;
}
