/* Declarations shared by the C files of iblai.core; not part of the public API.
 *
 * The files form a one-way chain; each calls only the ones before it:
 *
 *   util.c (util.h)        growing buffer, string copies, the clock, hook calls, misuse errors
 *                          (iblai.httpd uses it too)
 *   url.c auth.c retry.c   pure helpers: encoding, origins and redaction, the retry classifier
 *   json.c error.c headers.c numbers.c   values for Lua: JSON decoding, the Error type, the
 *                          lazily parsed response headers, integer fixing
 *   jsoncheck.c sink.c     a JSON checker fed in pieces; a response body written to a file
 *   session.c              options (declared once, as data), curl handles, the handle pool
 *   transfer.c             one request: reading it, each attempt, what follows an answer
 *   batch.c                groups of transfers and the loop that drives the multi handle
 *   stream.c os.c core.c   what Lua sees: Stream, the OS primitives, Session methods, the module table
 *
 * Ownership, which is what keeps the loop safe from Lua code it calls back (log and sleep
 * hooks, and finalizers the GC runs meanwhile):
 *   - A transfer belongs to exactly one group for its whole life and is in exactly one state:
 *     PENDING (never started), RUNNING (its easy handle is in the multi handle), WAITING (for a
 *     retry or a redirect, at not_before), or DONE. Only the loop in batch.c moves it between
 *     states, and only PENDING and WAITING transfers are ever started.
 *   - An easy handle is held by a transfer only while it is RUNNING; otherwise it is in the
 *     session's pool.
 *   - Every entry point that touches a session enters it first (iblai_enter): while any is under
 *     way, Lua code that runs meanwhile (log and sleep hooks, finalizers the GC runs during an
 *     allocation) may not start requests or close the session; and a group freed then (its
 *     stream collected or closed) is only cancelled: its transfers leave the multi handle at
 *     once, but their memory is kept on the session's graveyard list and freed when the last
 *     operation leaves. So no pointer the core holds can dangle.
 *   - A coroutine that dies by an error inside an operation never closes its guard (Lua closes a
 *     dead coroutine's to-be-closed variables only when it is reset): the guard keeps every
 *     coroutine under way, and an operation that finds the session busy (or a close) resets the
 *     dead ones while it counts as busy itself; a session the GC collects is released whatever
 *     it was left holding.
 *   - Request tables are read raw (no metamethods), and what is read stays anchored on the Lua
 *     stack while it is used.
 *   - Lua code never runs inside a libcurl callback. */
#ifndef IBLAI_INTERNAL_H
#define IBLAI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <lua.h>
#include <lauxlib.h>

#define IBLAI_VERSION "0.1.0"
#define IBLAI_SESSION_MT "iblai.Session"
#define IBLAI_ERROR_MT "iblai.Error"
#define IBLAI_STREAM_MT "iblai.Stream"
#define IBLAI_INTERRUPT_KEY "iblai.interrupt"
/* registry: in a restricted state, function(path) -> path resolved, or nil and why it is refused */
#define IBLAI_FILE_GUARD_KEY "iblai.file_guard"

#include "util.h"

/* ---- url.c ---- */
int iblai_url_escape(lua_State *L);  /* core.escape(s) */
int iblai_url_origin(lua_State *L);  /* core.origin(url) */
int iblai_url_resolve(lua_State *L); /* core.resolve(base, reference) */
int iblai_query_lua(lua_State *L);   /* core.query(tbl [, joined]) */
int iblai_path_lua(lua_State *L);    /* core.path(pieces, values) */
/* Pushes the query table at idx encoded (keys sorted; a list repeats its key, or is comma-joined
 * when the table at index joined, 0 for none, sets its key); misuse raises. */
void iblai_query_push(lua_State *L, int idx, int joined);

/* ---- auth.c ---- */
int iblai_has_crlf(const char *s, size_t n);
char *iblai_origin_of(const char *url); /* malloc'd "scheme://host:port" lower-case, NULL if not http(s) */
int iblai_debug_redacted(CURL *h, curl_infotype type, char *data, size_t size, void *ud);

/* ---- retry.c: the one place that decides what is retried, and says why ---- */
int iblai_method_idempotent(const char *method);
/* Why a failure may be retried ("HTTP 503", "connection failed", ...), or NULL if it may not. */
const char *iblai_retry_reason(CURLcode rc, long status, int too_large);
/* Seconds to wait before retry number attempt; hinted: the server's Retry-After, or < 0 for none. */
double iblai_retry_delay(uint64_t *rng, int attempt, double base, double cap, double hinted, double hint_cap);
double iblai_parse_retry_after(const char *value, long now);
uint64_t iblai_rng_next(uint64_t *state);

/* ---- json.c ---- */
/* Pushes the decoded value and returns 1, or pushes a message and returns 0. */
int iblai_json_decode(lua_State *L, const char *s, size_t len);
int iblai_json_decode_lua(lua_State *L); /* core.json_decode(s) */

/* ---- jsoncheck.c: is a text JSON, read piece by piece, keeping only the nesting ---- */
typedef struct {
  int state, key, hex;   /* key: the string being read is an object's key */
  const char *literal;   /* what is still due of true, false or null */
  size_t depth, cap;     /* open containers; cap: bytes of nest */
  unsigned char *nest;   /* one bit per open container: 1 object, 0 array */
  uint64_t at;           /* bytes read; at the problem once there is one */
  const char *problem;   /* why the text is not JSON, or NULL */
} iblai_jcheck;

void iblai_jcheck_reset(iblai_jcheck *c); /* ready for a new text (a zeroed struct is too) */
int iblai_jcheck_feed(iblai_jcheck *c, const char *p, size_t n); /* 0, or -1 once it is not JSON */
int iblai_jcheck_complete(iblai_jcheck *c); /* 1 when the text so far is one whole JSON value */
void iblai_jcheck_free(iblai_jcheck *c);
int iblai_jcheck_lua(lua_State *L); /* core.json_check(text [, piece]) */

/* ---- sink.c: the file a response body goes to (request field to_file) ---- */
typedef struct iblai_sink {
  char *path;
  int fd;           /* -1 until an answer worth keeping arrives, and after finish */
  int checking;     /* the body says it is JSON and is checked as it arrives */
  curl_off_t bytes; /* written by this attempt */
  int err;          /* errno of a failed file operation, and what it was doing */
  const char *doing;
  iblai_jcheck json;
} iblai_sink;

iblai_sink *iblai_sink_new(const char *path, size_t len); /* NULL when out of memory */
void iblai_sink_free(iblai_sink *k);
int iblai_sink_restart(iblai_sink *k, int check_json); /* opens or empties the file: 0 or -1 */
int iblai_sink_write(iblai_sink *k, const char *p, size_t n); /* 0, -1 (file error), -2 (not JSON) */
int iblai_sink_finish(iblai_sink *k); /* fsync and close: 0 or -1 */
/* Writes what went wrong into buf and returns the Error kind for it ("file" or "decode"). */
const char *iblai_sink_problem(iblai_sink *k, char *buf, size_t size);

/* ---- error.c ---- */
void iblai_error_open(lua_State *L);
/* Pushes a new Error table with kind and message set; the caller adds other fields. */
void iblai_error_push(lua_State *L, const char *kind, const char *message);
int iblai_error_new(lua_State *L); /* core.error{...} */
/* Replaces the key wherever a server may have echoed it into the Error at err. */
void iblai_error_scrub(lua_State *L, int err, const char *key);
/* Pushes the Error for an HTTP answer that is not 2xx, from the response table on top. */
void iblai_error_from_response(lua_State *L, int response, const char *text, size_t len);

/* ---- numbers.c ---- */
int iblai_integralize(lua_State *L);

/* ---- headers.c ---- */
/* Pushes a headers table that parses the raw block (the status line first) when first read. */
void iblai_headers_push(lua_State *L, const char *block, size_t len);
void iblai_headers_open(lua_State *L);

/* ---- session.c ---- */
/* An easy handle and what it was last set to, so each attempt sets only what differs. curl's
 * private pointer, callback data and error buffer point here, set once for the handle's life. */
typedef struct iblai_handle {
  CURL *curl;
  struct iblai_transfer *t; /* the transfer running on it; NULL while pooled */
  const void *headers;
  const char *method; /* a method literal, or NULL when not known */
  long timeout_ms;
  int kind, once;     /* how the method was set up (see transfer.c; -1: never), fresh connections */
  int to_file;        /* set up for a transfer with a to_file (callback, size and time limits) */
  char errbuf[CURL_ERROR_SIZE];
} iblai_handle;

typedef struct iblai_session {
  CURLSH *share;
  CURLM *multi;
  iblai_handle **pool; /* idle handles, reused so their connections stay warm */
  int npool, pool_cap;
  char *base_url; /* without a trailing slash */
  size_t base_len;
  char *origin;      /* scheme://host:port, the only place the key is sent */
  char *auth_header; /* "Authorization: <scheme> <key>", or NULL */
  struct curl_slist *default_headers; /* what a request without headers of its own sends */
  struct curl_slist *body_headers;    /* the same, for a request with a body */
  char *proxy, *ca_file, *user_agent;
  double timeout, connect_timeout, backoff_base, backoff_max, retry_after_max;
  lua_Integer retries, max_redirects, concurrency, max_response_bytes;
  int verbose;
  int log_ref, sleep_ref; /* Lua hooks in the registry, or LUA_NOREF */
  uint64_t rng;
  struct iblai_group *groups;    /* live groups; their transfers share the multi handle */
  struct iblai_group *graveyard; /* groups cancelled while the loop ran, freed after it */
  struct iblai_group *sync;      /* reused by request and request_many, which cannot nest */
  int running;                   /* transfers in the multi handle, over every group */
  struct iblai_transfer *spare;  /* freed transfers kept for reuse, buffers and all */
  int nspare;
  struct iblai_group *driving;   /* the group whose answer the running loop waits for */
  int busy;                      /* operations under way (iblai_enter): Lua code running now is
                                    a hook, finalizer or metamethod, which may not start or close */
  int closed;
} iblai_session;

iblai_session *iblai_check_session(lua_State *L, int idx); /* raises if closed */
int iblai_session_new(lua_State *L);                       /* core.session(opts) */
/* Reads a request's own timeout or retries at idx, checked like the session option of that name. */
int iblai_request_option(lua_State *L, const char *name, int idx, double *out);
/* Frees the handles and the options; the caller has released the groups first. */
void iblai_session_release(lua_State *L, iblai_session *s);
iblai_handle *iblai_session_take_handle(iblai_session *s);
void iblai_session_give_handle(iblai_session *s, iblai_handle *h);

/* ---- transfer.c ---- */
typedef enum { T_PENDING, T_RUNNING, T_WAITING, T_DONE } iblai_state;

typedef struct iblai_transfer {
  iblai_state state;
  struct iblai_group *group;
  iblai_handle *easy;      /* only while RUNNING */
  const char *method;      /* a literal for the usual methods, else method_buf */
  char *method_buf;
  char *url;               /* exactly what is sent */
  char *origin0;           /* origin of the first URL when not the session's; NULL if it is */
  char *answered_url;      /* the URL before the last redirect, for the response event */
  char *op;                /* the caller's operation name, for Errors; may be NULL */
  char *body;
  size_t body_len;
  struct curl_slist *headers; /* this request's list, or NULL for the session's defaults */
  double timeout, not_before, started, delay; /* delay: the wait before the retry now due */
  int max_retries, attempts, redirects;
  unsigned retry_unsafe : 1, same_origin : 1, cross_origin : 1, redirected : 1, too_large : 1,
      head_too_large : 1, json : 1, as_text : 1, /* as_text: decode = false, a 2xx body stays text */
      file_seen : 1, file_on : 1, file_cut : 1, /* this attempt's body: looked at, going to the file,
                                                   too long to be kept in memory as well, */
      file_framed : 1;                          /* of a length the answer said (see transfer.c) */
  iblai_sink *sink;         /* the to_file, or NULL */
  long status;
  CURLcode rc;
  const char *retry_reason; /* why the last failure may be retried, NULL if not */
  const char *fail_kind;    /* set when the request failed outside of curl */
  char *fail_msg;
  curl_off_t max_bytes;
  iblai_buf body_in, head_in;
  char *curl_error;         /* curl's own words for the last failure, when it had some */
  struct iblai_transfer *next_spare;
} iblai_transfer;

/* Reads a request table into a new transfer (misuse raises; bad data marks it DONE, failed). */
iblai_transfer *iblai_transfer_read(lua_State *L, iblai_session *s, int spec);
void iblai_transfer_free(iblai_session *s, iblai_transfer *t); /* kept as a spare while useful */
void iblai_transfer_drop_spares(iblai_session *s);
int iblai_transfer_start(iblai_session *s, iblai_transfer *t); /* PENDING/WAITING -> RUNNING */
void iblai_transfer_cancel(iblai_session *s, iblai_transfer *t); /* any -> DONE, easy released */
/* RUNNING -> DONE or WAITING, after curl finished an attempt; calls no Lua code. */
void iblai_transfer_settle(iblai_session *s, iblai_transfer *t, CURLcode rc);
/* The log event for what settle decided; a lua_pcall status. */
int iblai_transfer_log(lua_State *L, iblai_session *s, iblai_transfer *t);
/* Pushes the outcome: the response table (or, body_only, what a call returns: the body, true
 * when there is none), or nil and an Error; returns the number of values. */
int iblai_transfer_push(lua_State *L, iblai_transfer *t, int body_only);
int iblai_transfer_ok(const iblai_transfer *t);
/* A body sent to a file is also kept in memory when shorter than this (a task's status, say). */
#define IBLAI_FILE_KEEP 65535
size_t iblai_on_body(char *p, size_t size, size_t n, void *handle);
size_t iblai_on_header(char *p, size_t size, size_t n, void *handle);

/* ---- batch.c ---- */
typedef struct iblai_group {
  iblai_session *s;
  iblai_transfer **t; /* in the order added; a delivered slot is NULL */
  int n, cap;
  int first;    /* transfers before it were delivered (streams) */
  int next_new; /* the first transfer never started */
  int running, concurrency;
  struct iblai_group **holder; /* cleared when the group goes */
  struct iblai_group *next, *prev;
} iblai_group;

/* A new group linked into the session; *holder (may be NULL) is cleared when it is freed. */
iblai_group *iblai_group_new(iblai_session *s, int concurrency, iblai_group **holder);
/* Cancels and frees a group, or, while the loop runs, cancels it and frees it after. */
void iblai_group_free(iblai_group *g);
void iblai_group_add(lua_State *L, iblai_group *g, iblai_transfer *t);
/* Empties a reused group (request, request_many) without freeing it. */
void iblai_group_clear(iblai_group *g);
/* Starts what may start now without waiting (stream:add). */
void iblai_group_kick(iblai_group *g);
/* Enters the session for an operation (exclusive: none may be under way), pushing a
 * to-be-closed guard; leaving happens when the calling C function returns or unwinds. */
void iblai_enter(lua_State *L, iblai_session *s, int sidx, int exclusive); /* sidx: the session */
void iblai_reclaim(lua_State *L, iblai_session *s, int sidx); /* resets dead coroutines still inside */
/* Drives the session until transfer `until` of g is DONE (all of g when until < 0); a hook's
 * error or an interrupt raises after g is cleared. */
void iblai_group_run(lua_State *L, iblai_group *g, int until);
/* Cancels and frees every group of the session (closing it). */
void iblai_groups_release(iblai_session *s);

/* ---- os.c: core.sleep, core.isatty, core.mkdir (no shell) ---- */
void iblai_os_open(lua_State *L); /* adds them to the module table on top */

/* ---- stream.c ---- */
int iblai_stream_new(lua_State *L); /* session:stream{concurrency=} */
void iblai_stream_open(lua_State *L);

#endif
