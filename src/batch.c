/* Batches: sets of transfers driven together on the session's curl multi handle.
 * Several batches may be live at once (a stream prefetching while the loop body sends its own
 * requests); whichever loop is running drives every transfer in the multi handle. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* Userdata holding the batch pointer, so a raised error still frees it when collected. */
typedef struct {
  iblai_batch *b;
} batch_box;

void iblai_batch_free(iblai_batch *b) {
  if (!b) return;
  iblai_session *s = b->s;
  for (int i = b->first; i < b->n; i++) iblai_transfer_free(s, b->t[i]);
  free(b->t);
  free(b->again);
  if (b->prev) b->prev->next = b->next;
  else if (s->batches == b) s->batches = b->next;
  if (b->next) b->next->prev = b->prev;
  if (b->holder) *b->holder = NULL;
  free(b);
}

void iblai_session_free_batches(iblai_session *s) {
  while (s->batches) iblai_batch_free(s->batches);
}

static int box_gc(lua_State *L) {
  batch_box *box = luaL_checkudata(L, 1, IBLAI_BATCH_MT);
  iblai_batch_free(box->b);
  return 0;
}

void iblai_batch_open(lua_State *L) {
  if (luaL_newmetatable(L, IBLAI_BATCH_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}

/* Pushes a box owning a new batch of the session at session_idx (kept alive by the box). */
iblai_batch *iblai_batch_new(lua_State *L, int session_idx, int concurrency) {
  iblai_session *s = iblai_check_session(L, session_idx);
  session_idx = lua_absindex(L, session_idx);
  batch_box *box = lua_newuserdatauv(L, sizeof *box, 1);
  box->b = NULL;
  luaL_setmetatable(L, IBLAI_BATCH_MT);
  lua_pushvalue(L, session_idx);
  lua_setiuservalue(L, -2, 1);
  iblai_batch *b = iblai_batch_create(s, concurrency, &box->b);
  if (!b) luaL_error(L, "out of memory");
  return b;
}

iblai_batch *iblai_batch_create(iblai_session *s, int concurrency, iblai_batch **holder) {
  iblai_batch *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->s = s;
  b->concurrency = concurrency;
  b->holder = holder;
  *holder = b;
  b->next = s->batches;
  if (s->batches) s->batches->prev = b;
  s->batches = b;
  return b;
}

iblai_transfer *iblai_batch_slot(lua_State *L, iblai_batch *b) {
  if (b->first > 0 && b->first == b->n) b->first = b->n = b->next_new = b->ndone = 0; /* all delivered */
  if (b->n == b->cap) {
    int cap = b->cap ? b->cap * 2 : 4;
    iblai_transfer **t = realloc(b->t, (size_t)cap * sizeof *t);
    if (!t) luaL_error(L, "out of memory");
    b->t = t;
    b->cap = cap;
  }
  iblai_transfer *t = calloc(1, sizeof *t);
  if (!t) luaL_error(L, "out of memory");
  t->owner = b;
  b->t[b->n++] = t;
  return t;
}

static volatile sig_atomic_t *interrupt_flag(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY);
  volatile sig_atomic_t *flag = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return flag;
}

static int finished(const iblai_batch *b, int until) {
  if (until >= 0) return b->t[until]->state == T_DONE;
  return b->ndone >= b->n - b->first;
}

static int start(iblai_batch *b, iblai_transfer *t) {
  if (iblai_transfer_start(b->s, t) == 0) {
    b->running++;
    return 1;
  }
  t->state = T_DONE;
  t->fail_kind = "network";
  t->fail_msg = strdup("could not start the transfer (out of memory)");
  b->ndone++;
  return 0;
}

/* Books what an attempt led to: the end, or a place in its batch's retry list. */
static int settle(iblai_transfer *t) {
  iblai_batch *o = t->owner;
  if (t->state == T_DONE) {
    o->ndone++;
    iblai_transfer_release_easy(o->s, t); /* the next transfer reuses it, connection and all */
    return 1;
  }
  if (o->nagain == o->cap_again) {
    int cap = o->cap_again ? o->cap_again * 2 : 8;
    iblai_transfer **a = realloc(o->again, (size_t)cap * sizeof *a);
    if (!a) {
      t->state = T_DONE;
      t->fail_kind = "network";
      o->ndone++;
      return 1;
    }
    o->again = a;
    o->cap_again = cap;
  }
  o->again[o->nagain++] = t;
  return 0;
}

/* Starts what may start: retries that are due, then new transfers in order; returns the
 * earliest time a waiting retry becomes due (INFINITY if none). */
static double start_due(iblai_batch *b, double now) {
  double wake = INFINITY;
  for (int j = 0; j < b->nagain;) {
    iblai_transfer *t = b->again[j];
    if (t->not_before <= now && b->running < b->concurrency) {
      b->again[j] = b->again[--b->nagain];
      start(b, t);
    } else {
      if (t->not_before > now && t->not_before < wake) wake = t->not_before;
      j++;
    }
  }
  if (b->next_new < b->first) b->next_new = b->first;
  while (b->next_new < b->n && b->running < b->concurrency) {
    iblai_transfer *t = b->t[b->next_new++];
    if (t->state == T_WAITING) start(b, t);
  }
  return wake;
}

/* Returns LUA_OK, or an error status with its message pushed. */
static int run(lua_State *L, iblai_batch *b, int until) {
  iblai_session *s = b->s;
  volatile sig_atomic_t *interrupted = interrupt_flag(L);
  for (;;) {
    double wake = start_due(b, iblai_now());
    if (finished(b, until)) return LUA_OK;
    int still, again = 0;
    curl_multi_perform(s->multi, &still);
    CURLMsg *m;
    int queued;
    while ((m = curl_multi_info_read(s->multi, &queued))) {
      if (m->msg != CURLMSG_DONE) continue;
      iblai_transfer *t = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
      if (!t) continue;
      t->owner->running--;
      int st = iblai_transfer_finish(L, s, t, m->data.result);
      if (st != LUA_OK) return st;
      if (!settle(t) && t->owner == b) again = 1;
    }
    if (finished(b, until)) return LUA_OK;
    if (interrupted && *interrupted) {
      lua_pushliteral(L, "interrupted!");
      return LUA_ERRRUN;
    }
    /* something finished, so a slot is free or a retry is due: go round without waiting */
    int slot_free = b->running < b->concurrency;
    if (again || (slot_free && (b->next_new < b->n || (b->nagain > 0 && wake <= iblai_now())))) continue;
    int timeout_ms = 1000;
    if (wake < INFINITY) {
      double ms = ceil((wake - iblai_now()) * 1000);
      timeout_ms = ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
    }
    curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
  }
}

void iblai_batch_run(lua_State *L, iblai_batch *b, int until) {
  iblai_session *s = b->s;
  if (s->busy) luaL_error(L, "iblai.Session is busy: a hook may not start requests");
  s->busy = 1;
  int st = run(L, b, until);
  s->busy = 0;
  if (st != LUA_OK) {
    iblai_batch_free(b); /* takes its transfers out of the multi handle before unwinding */
    lua_error(L);
  }
}

/* session:request{method=, url=, headers=, body=, timeout=, retries=, retry_unsafe=} */
int iblai_request(lua_State *L) {
  iblai_check_session(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  iblai_batch *b = iblai_batch_new(L, 1, 1);
  iblai_transfer *t = iblai_transfer_new(L, b, 2);
  iblai_batch_run(L, b, -1);
  int ok = iblai_transfer_succeeded(t);
  if (!ok) luaL_pushfail(L);
  if (ok) iblai_push_response(L, t);
  else iblai_push_failure(L, t);
  iblai_batch_free(b);
  return ok ? 1 : 2;
}

/* session:request_many(specs, {concurrency=}) -> responses, errors (aligned by index) */
int iblai_request_many(lua_State *L) {
  iblai_session *s = iblai_check_session(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int concurrency = s->concurrency;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "concurrency");
    concurrency = (int)luaL_optinteger(L, -1, concurrency);
    luaL_argcheck(L, concurrency >= 1, 3, "concurrency must be 1 or more");
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  int n = (int)luaL_len(L, 2);
  iblai_batch *b = iblai_batch_new(L, 1, concurrency);
  for (int i = 0; i < n; i++) {
    lua_geti(L, 2, i + 1);
    luaL_argcheck(L, lua_istable(L, -1), 2, "every request must be a table");
    iblai_transfer_new(L, b, lua_gettop(L));
    lua_pop(L, 1);
  }
  iblai_batch_run(L, b, -1);
  lua_createtable(L, n, 0);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    iblai_transfer *t = b->t[i];
    if (iblai_transfer_succeeded(t)) {
      iblai_push_response(L, t);
      lua_rawseti(L, -3, i + 1);
    } else {
      iblai_push_failure(L, t);
      lua_rawseti(L, -2, i + 1);
    }
  }
  iblai_batch_free(b);
  return 2;
}
