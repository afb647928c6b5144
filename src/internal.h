/* Declarations shared by the C files of iblai.core; not part of the public API. */
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
#define IBLAI_BATCH_MT "iblai.Batch"
#define IBLAI_STREAM_MT "iblai.Stream"
#define IBLAI_INTERRUPT_KEY "iblai.interrupt"

/* ---- growable byte buffer (buffer.c) ---- */
typedef struct {
  char *data;
  size_t len, cap;
} iblai_buf;

int iblai_buf_append(iblai_buf *b, const void *p, size_t n); /* 0 on success, -1 on OOM */
void iblai_buf_free(iblai_buf *b);

/* ---- session (session.c) ---- */
typedef struct iblai_session {
  CURLSH *share;
  CURLM *multi;
  CURL **pool;          /* idle easy handles, reused so connections stay warm */
  int npool, pool_cap;
  char *base_url;       /* without a trailing slash */
  char *origin;         /* scheme://host:port, the only place the key is sent */
  char *auth_header;    /* "Authorization: <scheme> <key>", or NULL */
  char *proxy, *ca_file, *user_agent;
  double timeout, connect_timeout;
  double backoff_base, backoff_max, retry_after_max;
  int retries, max_redirects, concurrency, verbose;
  curl_off_t max_response_bytes;
  int log_ref, sleep_ref; /* Lua hooks in the registry, or LUA_NOREF */
  uint64_t rng;
  struct iblai_batch *batches; /* every live batch; their transfers share the multi handle */
  int busy;             /* inside a request: hooks may not close the session */
  int closed;
} iblai_session;

iblai_session *iblai_check_session(lua_State *L, int idx);
void iblai_session_open(lua_State *L);   /* registers the Session metatable */
int iblai_session_new(lua_State *L);     /* core.session(opts) */
CURL *iblai_session_take_easy(iblai_session *s);
void iblai_session_give_easy(iblai_session *s, CURL *easy);
int iblai_pcall_hook(lua_State *L, int ref, int nargs); /* lua_pcall status */

/* ---- one request through its attempts and redirects (transfer.c) ---- */
enum { T_WAITING, T_RUNNING, T_DONE };

typedef struct iblai_transfer {
  int state;
  struct iblai_batch *owner;
  CURL *easy;
  char *method, *url, *origin0, *body;
  size_t body_len;
  struct curl_slist *sent_headers;
  double timeout, not_before, started;
  int max_retries, retry_unsafe, attempts, redirects;
  int same_origin;  /* url is on the session's origin: the key may go */
  int cross_origin; /* a redirect left the first origin: caller credentials stay behind */
  int redirected;   /* the headers must be worked out again before the next attempt */
  int retryable, too_large;
  long status;
  CURLcode rc;
  curl_off_t max_bytes;
  const char *fail_kind; /* set when the request failed outside of curl */
  char *fail_msg;
  iblai_buf body_in, head_in;
  char errbuf[CURL_ERROR_SIZE];
} iblai_transfer;

/* Reads a request table (misuse raises); the transfer is heap-allocated and owned by b. */
iblai_transfer *iblai_transfer_new(lua_State *L, struct iblai_batch *b, int spec);
void iblai_transfer_free(iblai_session *s, iblai_transfer *t);
void iblai_transfer_release_easy(iblai_session *s, iblai_transfer *t);
int iblai_transfer_start(iblai_session *s, iblai_transfer *t);
int iblai_transfer_finish(lua_State *L, iblai_session *s, iblai_transfer *t, CURLcode rc);
int iblai_transfer_succeeded(const iblai_transfer *t);
void iblai_push_response(lua_State *L, iblai_transfer *t);
void iblai_push_failure(lua_State *L, iblai_transfer *t);
size_t iblai_on_body(char *p, size_t size, size_t n, void *transfer);
size_t iblai_on_header(char *p, size_t size, size_t n, void *transfer);

/* ---- batches: transfers driven together on the multi handle (batch.c) ---- */
typedef struct iblai_batch {
  iblai_session *s;
  iblai_transfer **t;   /* pointers, so transfers never move while curl holds them */
  int n, cap;
  int first;            /* transfers before this index were delivered and freed (streams) */
  int next_new;         /* transfers from here on have never been started */
  int ndone;            /* transfers that reached their end */
  iblai_transfer **again; /* transfers waiting to retry or to follow a redirect */
  int nagain, cap_again;
  int running, concurrency;
  struct iblai_batch **holder; /* cleared when the batch is freed */
  struct iblai_batch *next, *prev;
} iblai_batch;

/* A batch linked into the session; *holder is set to it now and to NULL when it is freed. */
iblai_batch *iblai_batch_create(iblai_session *s, int concurrency, iblai_batch **holder);
/* Pushes a userdata that frees the batch if an error unwinds past it. */
iblai_batch *iblai_batch_new(lua_State *L, int session_idx, int concurrency);
void iblai_batch_free(iblai_batch *b);
iblai_transfer *iblai_batch_slot(lua_State *L, iblai_batch *b); /* a new zeroed transfer, owned by b */
/* Runs until transfer `until` is done (or all, when until < 0); errors raise after freeing b. */
void iblai_batch_run(lua_State *L, iblai_batch *b, int until);
void iblai_batch_open(lua_State *L);
void iblai_session_free_batches(iblai_session *s);
int iblai_request(lua_State *L);      /* session:request(spec) */
int iblai_request_many(lua_State *L); /* session:request_many(specs, opts) */

/* ---- streams: requests added one by one, answers taken in order (stream.c) ---- */
int iblai_stream_new(lua_State *L);   /* session:stream{concurrency=} */
void iblai_stream_open(lua_State *L);

/* ---- auth and redaction (auth.c) ---- */
int iblai_has_crlf(const char *s, size_t n);
char *iblai_origin_of(const char *url); /* malloc'd "scheme://host:port" lower-case, NULL if not http(s) */
int iblai_debug_redacted(CURL *h, curl_infotype type, char *data, size_t size, void *ud);

/* ---- retry policy (retry.c) ---- */
int iblai_method_idempotent(const char *method);
int iblai_retryable_curl(CURLcode rc);
int iblai_retryable_status(long status);
double iblai_backoff(uint64_t *rng, int attempt, double base, double cap);
double iblai_parse_retry_after(const char *value, long now);
uint64_t iblai_rng_next(uint64_t *state);

/* ---- URLs (url.c) ---- */
int iblai_url_escape(lua_State *L);
int iblai_url_origin(lua_State *L);

/* ---- errors (error.c) ---- */
void iblai_error_open(lua_State *L);
/* Pushes a new Error table with kind and message set; the caller adds other fields. */
void iblai_error_push(lua_State *L, const char *kind, const char *message);
int iblai_error_new(lua_State *L); /* core.error{...} */
const char *iblai_curl_kind(CURLcode rc);

/* ---- numbers (numbers.c) ---- */
int iblai_integralize(lua_State *L);

double iblai_now(void); /* monotonic seconds */

#endif
