/* iblai.httpd: a libmicrohttpd server whose routes are Lua functions (test server and sandbox).
 *
 * One thread: MHD runs from server:run() on the caller's lua_State, so handlers need no locks.
 * A handler's answer may be delayed (the connection is suspended, others go on), cut short, or
 * dropped, which is how tests and the sandbox inject faults; and its body may be a piece repeated
 * as it is sent (fill), so an answer of gigabytes costs the server no memory.
 *
 * Before a handler sees a request: a head that is ambiguous about where its body ends (both
 * Content-Length and Transfer-Encoding, or Content-Length values that differ; RFC 9112 6.3) is
 * answered 400 and its connection closed, so nothing can hide a second request in the body; a
 * path holding an encoded NUL (%00) is a 400. A connection that takes longer than head_timeout to
 * send a request head is shut down, and one client address may hold at most per_address
 * connections, so slow senders cannot take every slot. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <lua.h>
#include <lauxlib.h>
#include "httpd.h"
#include "util.h"

#define SERVER_MT "iblai.httpd.Server"

typedef struct pending {
  int status;
  int drop;                 /* close the connection without an answer */
  long truncate;            /* send this many body bytes, then cut the connection; -1 = all */
  double wake;              /* monotonic time to answer at, when delayed */
  char *body;
  size_t body_len;
  char *fill, *tail;        /* body, then fill fill_times times, then tail (fill may be NULL) */
  size_t fill_len, tail_len;
  uint64_t fill_times;
  uint64_t total;           /* the whole body's length */
  char **headers;           /* name, value, name, value, ..., NULL */
} pending;

typedef struct request_state {
  iblai_buf body;           /* the request body as it arrives */
  int too_large;
  pending *answer;          /* set while the connection is suspended */
} request_state;

/* One open connection, from MHD's notice that it started to the one that it closed. */
typedef struct conn {
  struct conn *prev, *next;
  int fd;
  int in_request;           /* its request head arrived; the deadline waits for the next one */
  int cut;                  /* shut down for taking too long */
  double waiting_since;     /* when the server began waiting for its next request head */
} conn;

typedef struct server {
  struct MHD_Daemon *d;
  lua_State *L;             /* the state running server:run(), NULL otherwise */
  int handler_ref;
  size_t max_body;
  struct MHD_Connection **sleeping;
  double *wake;
  int nsleeping, cap_sleeping;
  int running;
  int port;                 /* the bound port (the one asked for, or the kernel's pick for 0) */
  conn *conns;              /* open connections, newest first */
  int waiting;              /* how many of them are waiting for a request head */
  double head_timeout;      /* seconds a connection may take to send a request head */
  double next_sweep;        /* when to look for connections past that deadline */
} server;

static volatile sig_atomic_t stop_signal; /* set by SIGINT/SIGTERM while server:run() waits */

static void pending_free(pending *p) {
  if (!p) return;
  free(p->body);
  free(p->fill);
  free(p->tail);
  if (p->headers)
    for (char **h = p->headers; *h; h++) free(*h);
  free(p->headers);
  free(p);
}

static int from_hex(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes %XX (and '+' as a space when form is set) into b. */
static void push_unescaped(lua_State *L, const char *s, size_t n, int form) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = from_hex((unsigned char)s[i + 1])) >= 0 &&
        (lo = from_hex((unsigned char)s[i + 2])) >= 0) {
      luaL_addchar(&b, (char)(hi * 16 + lo));
      i += 2;
    } else if (form && s[i] == '+') {
      luaL_addchar(&b, ' ');
    } else {
      luaL_addchar(&b, s[i]);
    }
  }
  luaL_pushresult(&b);
}

/* httpd.unescape(s [, form]) */
static int l_unescape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  push_unescaped(L, s, n, lua_toboolean(L, 2));
  return 1;
}

/* Keeps paths and query arguments exactly as sent; handlers decode what they need. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  return strlen(s);
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  lua_State *L = cls;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (const char *c = key; *c; c++) luaL_addchar(&b, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
  luaL_pushresult(&b);
  lua_pushstring(L, value ? value : "");
  lua_rawset(L, -3);
  return MHD_YES;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  lua_State *L = cls;
  push_unescaped(L, key, strlen(key), 1);
  if (value) push_unescaped(L, value, strlen(value), 1);
  else lua_pushliteral(L, "");
  lua_rawset(L, -3);
  return MHD_YES;
}

typedef struct call_ctx {
  server *srv;
  struct MHD_Connection *c;
  const char *url, *method, *version;
  request_state *rs;
  pending *out;
} call_ctx;

static char *copy_string(lua_State *L, int idx, size_t *len) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  char *d = malloc(n + 1);
  if (!d) luaL_error(L, "out of memory");
  memcpy(d, s, n + 1);
  if (len) *len = n;
  return d;
}

static void read_answer(lua_State *L, int t, pending *p) {
  if (!lua_istable(L, t)) luaL_error(L, "a handler must return a table such as {status = 200, body = '...'}");
  int top = lua_gettop(L);
  lua_getfield(L, t, "status");
  p->status = (int)luaL_optinteger(L, -1, 200);
  lua_getfield(L, t, "drop");
  p->drop = lua_toboolean(L, -1);
  lua_getfield(L, t, "truncate");
  p->truncate = (long)luaL_optinteger(L, -1, -1);
  lua_getfield(L, t, "delay");
  double delay = luaL_optnumber(L, -1, 0);
  p->wake = delay > 0 ? iblai_now() + delay : 0;
  lua_getfield(L, t, "body");
  if (!lua_isnil(L, -1)) {
    if (!lua_isstring(L, -1)) luaL_error(L, "the answer's body must be a string");
    p->body = copy_string(L, -1, &p->body_len);
  }
  p->total = p->body_len;
  if (lua_getfield(L, t, "fill") != LUA_TNIL) { /* fill = {piece, times, tail} */
    if (!lua_istable(L, -1)) luaL_error(L, "the answer's fill must be {piece, times, tail}");
    int f = lua_gettop(L);
    lua_rawgeti(L, f, 1);
    lua_rawgeti(L, f, 2);
    lua_rawgeti(L, f, 3);
    lua_Integer times = luaL_checkinteger(L, f + 2);
    size_t piece = lua_isstring(L, f + 1) ? lua_rawlen(L, f + 1) : 0;
    if (!lua_isstring(L, f + 1) || times < 0 || (!lua_isnil(L, f + 3) && !lua_isstring(L, f + 3)))
      luaL_error(L, "the answer's fill must be {piece, times, tail}");
    if (piece > 0 && (uint64_t)times > ((uint64_t)1 << 50) / piece) luaL_error(L, "the answer's fill is too large");
    p->fill = copy_string(L, f + 1, &p->fill_len);
    p->fill_times = (uint64_t)times;
    if (!lua_isnil(L, f + 3)) p->tail = copy_string(L, f + 3, &p->tail_len);
    p->total += p->fill_len * p->fill_times + p->tail_len;
  }
  lua_settop(L, top);
  lua_getfield(L, t, "headers");
  if (lua_istable(L, -1)) {
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      n++;
      lua_pop(L, 1);
    }
    p->headers = calloc((size_t)n * 2 + 1, sizeof *p->headers);
    if (!p->headers) luaL_error(L, "out of memory");
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
        luaL_error(L, "answer headers must be name = string");
      p->headers[i++] = copy_string(L, -2, NULL);
      p->headers[i++] = copy_string(L, -1, NULL);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* Runs under lua_pcall: builds the request table, calls the handler, copies its answer out. */
static int call_handler(lua_State *L) {
  call_ctx *cx = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cx->srv->handler_ref);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, cx->method);
  lua_setfield(L, -2, "method");
  const char *q = strchr(cx->url, '?');
  lua_pushlstring(L, cx->url, q ? (size_t)(q - cx->url) : strlen(cx->url));
  lua_setfield(L, -2, "path");
  lua_pushstring(L, cx->version);
  lua_setfield(L, -2, "version");
  lua_newtable(L);
  MHD_get_connection_values(cx->c, MHD_HEADER_KIND, add_header, L);
  lua_setfield(L, -2, "headers");
  lua_newtable(L);
  MHD_get_connection_values(cx->c, MHD_GET_ARGUMENT_KIND, add_arg, L);
  lua_setfield(L, -2, "query");
  lua_pushlstring(L, cx->rs->body.data ? cx->rs->body.data : "", cx->rs->body.len);
  lua_setfield(L, -2, "body");
  lua_call(L, 1, 1);
  read_answer(L, lua_gettop(L), cx->out);
  return 0;
}

/* The bytes of a body made of parts (body, fill repeated, tail), up to truncate when it is cut. */
static ssize_t read_parts(void *cls, uint64_t pos, char *buf, size_t max) {
  pending *p = cls;
  uint64_t end = p->truncate >= 0 && (uint64_t)p->truncate < p->total ? (uint64_t)p->truncate : p->total;
  if (pos >= end) return p->truncate >= 0 ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
  if (max > end - pos) max = (size_t)(end - pos);
  uint64_t fill_end = p->body_len + p->fill_len * p->fill_times;
  size_t n = 0;
  while (n < max) {
    uint64_t at = pos + n;
    const char *from;
    size_t left;
    if (at < p->body_len) {
      from = p->body + at;
      left = p->body_len - (size_t)at;
    } else if (at < fill_end) {
      size_t off = (size_t)((at - p->body_len) % p->fill_len);
      from = p->fill + off;
      left = p->fill_len - off;
    } else {
      from = p->tail + (at - fill_end);
      left = p->tail_len - (size_t)(at - fill_end);
    }
    if (left > max - n) left = max - n;
    memcpy(buf + n, from, left);
    n += left;
  }
  return (ssize_t)n;
}

static void free_cut(void *cls) { pending_free(cls); }

/* Queues the answer; takes ownership of p. */
static enum MHD_Result answer(struct MHD_Connection *c, pending *p) {
  if (p->drop) {
    pending_free(p);
    return MHD_NO; /* MHD closes the connection without a response */
  }
  struct MHD_Response *r;
  int status = p->status;
  char **headers = p->headers;
  p->headers = NULL;
  if ((p->truncate >= 0 && (uint64_t)p->truncate < p->total) || p->fill) {
    r = MHD_create_response_from_callback(p->total, 65536, read_parts, p, free_cut);
    p = NULL;
  } else {
    r = MHD_create_response_from_buffer(p->body_len, p->body ? p->body : "", MHD_RESPMEM_MUST_COPY);
  }
  if (headers) {
    for (char **h = headers; h[0] && h[1]; h += 2) MHD_add_response_header(r, h[0], h[1]);
    for (char **h = headers; *h; h++) free(*h);
    free(headers);
  }
  pending_free(p);
  if (!r) return MHD_NO;
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ok;
}

static pending *simple(int status, const char *json) {
  pending *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->status = status;
  p->truncate = -1;
  p->body = strdup(json);
  p->body_len = p->body ? strlen(p->body) : 0;
  p->headers = calloc(3, sizeof *p->headers);
  if (p->headers) {
    p->headers[0] = strdup("Content-Type");
    p->headers[1] = strdup("application/json");
  }
  return p;
}

static int sleep_until(server *srv, struct MHD_Connection *c, double wake) {
  if (srv->nsleeping == srv->cap_sleeping) {
    int cap = srv->cap_sleeping ? srv->cap_sleeping * 2 : 16;
    struct MHD_Connection **s = realloc(srv->sleeping, (size_t)cap * sizeof *s);
    if (!s) return -1;
    srv->sleeping = s;
    double *w = realloc(srv->wake, (size_t)cap * sizeof *w);
    if (!w) return -1;
    srv->wake = w;
    srv->cap_sleeping = cap;
  }
  srv->sleeping[srv->nsleeping] = c;
  srv->wake[srv->nsleeping++] = wake;
  MHD_suspend_connection(c);
  return 0;
}

/* A body over the limit but under this is read and dropped before the 413 goes out: a client cut
 * off while it still sends sees the connection reset, not the answer. */
#define DRAIN_MAX ((unsigned long long)16 << 20)

enum { FITS, DRAIN, REFUSE_NOW };

/* What a declared Content-Length over the limit calls for (one too big to parse: refuse now). */
static int declared_too_large(struct MHD_Connection *c, size_t max_body) {
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!cl) return FITS;
  errno = 0;
  char *end;
  unsigned long long n = strtoull(cl, &end, 10);
  if (errno == ERANGE || n > DRAIN_MAX) return REFUSE_NOW;
  return n > max_body ? DRAIN : FITS;
}

static conn *conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info ? info->socket_context : NULL;
}

typedef struct framing {
  int lengths, differ, chunked;
  const char *first;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  framing *f = cls;
  if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
    if (f->lengths++ == 0) f->first = value ? value : "";
    else if (strcmp(f->first, value ? value : "") != 0) f->differ = 1;
  } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
    f->chunked++;
  }
  return MHD_YES;
}

/* Why the head cannot be served (a 400 that closes the connection), or NULL. */
static const char *bad_head(struct MHD_Connection *c, const char *url) {
  framing f = {0, 0, 0, NULL};
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
  if (f.lengths && f.chunked)
    return "{\"detail\":\"The request has both Content-Length and Transfer-Encoding.\"}";
  if (f.differ) return "{\"detail\":\"The request has Content-Length values that differ.\"}";
  for (const char *p = url; *p && *p != '?'; p++)
    if (p[0] == '%' && p[1] == '0' && p[2] == '0') return "{\"detail\":\"The path holds a NUL byte (%00).\"}";
  return NULL;
}

/* Queues a 400 that closes the connection afterwards. */
static enum MHD_Result refuse_head(struct MHD_Connection *c, const char *json) {
  pending *p = simple(400, json);
  if (!p) return MHD_NO;
  char **h = realloc(p->headers, 5 * sizeof *h);
  if (!h) {
    pending_free(p);
    return MHD_NO;
  }
  p->headers = h;
  h[2] = strdup(MHD_HTTP_HEADER_CONNECTION);
  h[3] = strdup("close");
  h[4] = NULL;
  if (!h[2] || !h[3]) {
    pending_free(p);
    return MHD_NO;
  }
  return answer(c, p);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  server *srv = cls;
  request_state *rs = *con_cls;
  if (!rs) {
    rs = calloc(1, sizeof *rs);
    if (!rs) return MHD_NO;
    *con_cls = rs;
    conn *k = conn_of(c);
    if (k && !k->in_request) {
      k->in_request = 1;
      srv->waiting--;
    }
    const char *bad = bad_head(c, url);
    if (bad) return refuse_head(c, bad);
    int declared = declared_too_large(c, srv->max_body);
    if (declared == REFUSE_NOW) /* refused before a byte of the body is read */
      return answer(c, simple(413, "{\"detail\":\"Request body is too large.\"}"));
    rs->too_large = declared == DRAIN;
    return MHD_YES;
  }
  if (rs->answer) { /* resumed after a delay */
    pending *p = rs->answer;
    rs->answer = NULL;
    return answer(c, p);
  }
  if (*upload_size) {
    if (rs->too_large || rs->body.len + *upload_size > srv->max_body) rs->too_large = 1; /* dropped */
    else if (iblai_buf_append(&rs->body, upload, *upload_size) != 0) return MHD_NO;
    *upload_size = 0;
    return MHD_YES;
  }
  if (rs->too_large)
    return answer(c, simple(413, "{\"detail\":\"Request body is too large.\"}"));

  lua_State *L = srv->L;
  pending *p = calloc(1, sizeof *p);
  if (!p) return MHD_NO;
  p->truncate = -1;
  call_ctx cx = {srv, c, url, method, version, rs, p};
  lua_pushcfunction(L, call_handler);
  lua_pushlightuserdata(L, &cx);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "iblai.httpd: handler failed for %s %s: %s\n", method, url, msg ? msg : "?");
    lua_pop(L, 1);
    pending_free(p);
    return answer(c, simple(500, "{\"detail\":\"The handler failed; see the server's stderr.\"}"));
  }
  if (p->wake > 0) {
    rs->answer = p;
    if (sleep_until(srv, c, p->wake) == 0) return MHD_YES;
    rs->answer = NULL;
  }
  return answer(c, p);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code) {
  (void)code;
  server *srv = cls;
  conn *k = conn_of(c);
  if (k && k->in_request) {
    k->in_request = 0;
    k->waiting_since = iblai_now();
    srv->waiting++;
  }
  request_state *rs = *con_cls;
  if (!rs) return;
  pending_free(rs->answer);
  iblai_buf_free(&rs->body);
  free(rs);
  *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  server *srv = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    conn *k = calloc(1, sizeof *k);
    if (!k) return; /* untracked: only the idle timeout applies to it */
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    k->fd = info ? info->connect_fd : -1;
    k->waiting_since = iblai_now();
    k->next = srv->conns;
    if (srv->conns) srv->conns->prev = k;
    srv->conns = k;
    srv->waiting++;
    *socket_context = k;
  } else if (*socket_context) {
    conn *k = *socket_context;
    if (!k->in_request) srv->waiting--;
    if (k->prev) k->prev->next = k->next;
    else srv->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    free(k);
    *socket_context = NULL;
  }
}

/* Shuts down each connection that has been sending its request head for too long; MHD sees the
 * socket end and closes the connection as usual. Looked for a few times a second. */
static void cut_slow_heads(server *srv, double now) {
  if (!srv->waiting || now < srv->next_sweep) return;
  srv->next_sweep = now + 0.25;
  for (conn *k = srv->conns; k; k = k->next) {
    if (!k->in_request && !k->cut && k->fd >= 0 && now - k->waiting_since > srv->head_timeout) {
      shutdown(k->fd, SHUT_RDWR);
      k->cut = 1;
    }
  }
}

static server *check_server(lua_State *L) {
  server *srv = luaL_checkudata(L, 1, SERVER_MT);
  if (!srv->d) luaL_error(L, "attempt to use a closed iblai.httpd server");
  return srv;
}

static void resume_due(server *srv, double t) {
  for (int i = 0; i < srv->nsleeping;) {
    if (srv->wake[i] <= t) {
      MHD_resume_connection(srv->sleeping[i]);
      srv->sleeping[i] = srv->sleeping[srv->nsleeping - 1];
      srv->wake[i] = srv->wake[srv->nsleeping - 1];
      srv->nsleeping--;
    } else {
      i++;
    }
  }
}

/* One round: waits up to max_ms for activity, then lets MHD do its work. */
static void step(server *srv, int max_ms) {
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_EPOLL_FD);
  int timeout = max_ms;
  MHD_UNSIGNED_LONG_LONG mhd_to;
  if (MHD_get_timeout(srv->d, &mhd_to) == MHD_YES && mhd_to < (MHD_UNSIGNED_LONG_LONG)timeout)
    timeout = (int)mhd_to;
  double t = iblai_now();
  for (int i = 0; i < srv->nsleeping; i++) {
    int ms = (int)ceil((srv->wake[i] - t) * 1000);
    if (ms < timeout) timeout = ms < 0 ? 0 : ms;
  }
  if (srv->waiting && timeout > 250) timeout = 250; /* to look for slow heads */
  struct pollfd pfd = {info->epoll_fd, POLLIN, 0};
  poll(&pfd, 1, timeout);
  t = iblai_now();
  resume_due(srv, t);
  cut_slow_heads(srv, t);
  MHD_run(srv->d);
}

static void on_stop_signal(int sig) {
  (void)sig;
  stop_signal = 1;
}

/* server:run(): serves until server:stop() or SIGINT/SIGTERM. */
static int l_run(lua_State *L) {
  server *srv = check_server(L);
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  stop_signal = 0;
  srv->running = 1;
  srv->L = L;
  while (srv->running && !stop_signal && srv->d) step(srv, 500);
  srv->L = NULL;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  lua_pushboolean(L, stop_signal != 0);
  return 1;
}

static int l_stop(lua_State *L) {
  server *srv = luaL_checkudata(L, 1, SERVER_MT);
  srv->running = 0;
  return 0;
}

static int l_port(lua_State *L) {
  lua_pushinteger(L, check_server(L)->port);
  return 1;
}

static int l_close(lua_State *L) {
  server *srv = luaL_checkudata(L, 1, SERVER_MT);
  if (srv->L) return luaL_error(L, "cannot close an iblai.httpd server from its own handler; call stop()");
  if (srv->d) {
    resume_due(srv, INFINITY);
    MHD_stop_daemon(srv->d);
    srv->d = NULL;
  }
  free(srv->sleeping);
  free(srv->wake);
  srv->sleeping = NULL;
  srv->wake = NULL;
  srv->nsleeping = srv->cap_sleeping = 0;
  luaL_unref(L, LUA_REGISTRYINDEX, srv->handler_ref);
  srv->handler_ref = LUA_NOREF;
  return 0;
}

/* Our own listening socket: SO_REUSEADDR (restart over TIME_WAIT) but never SO_REUSEPORT, so a
 * second server on a port in use fails instead of silently sharing its connections. */
static int listen_on(struct sockaddr_in *addr, int *port, int *err) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return *err = errno, -1;
  int one = 1;
  socklen_t len = sizeof *addr;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 511) != 0 ||
      getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
  *port = ntohs(addr->sin_port);
  return fd;
}

/* Each connection is a descriptor: raise the soft limit toward the hard one when needed, and
 * never promise more connections than the process may open. */
static unsigned connection_budget(lua_Integer wanted) {
  struct rlimit rl;
  rlim_t need = (rlim_t)wanted + 64;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return (unsigned)wanted;
  if (rl.rlim_cur < need) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) return rl.rlim_cur > 128 ? (unsigned)(rl.rlim_cur - 64) : 64;
  return (unsigned)wanted;
}

/* httpd.new{handler = fn, host = "127.0.0.1", port = 0, max_body = bytes, connections = n,
 *           idle_timeout = seconds, head_timeout = seconds, per_address = n (0: no cap)} */
static int l_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "handler");
  luaL_argcheck(L, lua_isfunction(L, -1), 1, "field 'handler' must be a function");
  lua_getfield(L, 1, "host");
  const char *host = luaL_optstring(L, -1, "127.0.0.1");
  lua_getfield(L, 1, "port");
  lua_Integer port = luaL_optinteger(L, -1, 0);
  lua_getfield(L, 1, "max_body");
  lua_Integer max_body = luaL_optinteger(L, -1, 1 << 20);
  lua_getfield(L, 1, "connections");
  lua_Integer connections = luaL_optinteger(L, -1, 1000);
  lua_getfield(L, 1, "idle_timeout");
  lua_Integer idle = luaL_optinteger(L, -1, 60);
  lua_getfield(L, 1, "head_timeout");
  lua_Number head = luaL_optnumber(L, -1, 60);
  lua_getfield(L, 1, "per_address");
  lua_Integer per_address = luaL_optinteger(L, -1, 0);
  luaL_argcheck(L, port >= 0 && port <= 65535, 1, "port must be between 0 and 65535");
  luaL_argcheck(L, max_body > 0 && connections > 0 && connections <= 1000000, 1,
                "max_body and connections must be positive");
  luaL_argcheck(L, idle > 0 && idle <= 86400, 1, "idle_timeout must be between 1 and 86400 seconds");
  luaL_argcheck(L, head > 0 && head <= 86400, 1, "head_timeout must be between 0 and 86400 seconds");
  luaL_argcheck(L, per_address >= 0 && per_address <= 1000000, 1, "per_address must be 0 (no cap) or positive");

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
    return luaL_error(L, "host must be an IPv4 address such as 127.0.0.1, got '%s'", host);

  int err = 0, bound = 0;
  int fd = listen_on(&addr, &bound, &err);
  if (fd < 0) {
    luaL_pushfail(L);
    if (err == EADDRINUSE)
      lua_pushfstring(L, "%s:%d is already in use (another sandbox or server listens there); pick another --port",
                      host, (int)port);
    else
      lua_pushfstring(L, "could not listen on %s:%d: %s", host, (int)port, strerror(err));
    return 2;
  }
  unsigned limit = connection_budget(connections);

  server *srv = lua_newuserdatauv(L, sizeof *srv, 0);
  memset(srv, 0, sizeof *srv);
  srv->handler_ref = LUA_NOREF;
  luaL_setmetatable(L, SERVER_MT);
  lua_pushvalue(L, 2);
  srv->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  srv->max_body = (size_t)max_body;
  srv->port = bound;
  srv->head_timeout = (double)head;
  srv->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO,
                            (uint16_t)bound, NULL, NULL, on_request, srv,
                            MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                            MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
                            MHD_OPTION_CONNECTION_LIMIT, limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)idle,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)per_address,
                            MHD_OPTION_END);
  if (!srv->d) {
    close(fd);
    luaL_pushfail(L);
    lua_pushfstring(L, "could not start serving on %s:%d", host, bound);
    return 2;
  }
  return 1;
}

static int l_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, iblai_now());
  return 1;
}

int luaopen_iblai_httpd(lua_State *L) {
  static const luaL_Reg methods[] = {{"run", l_run},     {"stop", l_stop},
                                     {"port", l_port},   {"close", l_close},
                                     {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"new", l_new},           {"pid", l_pid}, {"now", l_now},
                                   {"unescape", l_unescape}, {NULL, NULL}};
  if (luaL_newmetatable(L, SERVER_MT)) {
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  iblai_httpd_os_funcs(L);
  iblai_httpd_json_funcs(L);
  return 1;
}
