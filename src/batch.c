/* Groups of transfers and the loop that drives them on the session's curl multi handle.
 * Several groups may be live at once (a stream prefetching pages while the loop body sends its
 * own requests); whichever loop is running drives every group: it starts what is due, hears
 * every answer, and schedules every retry, each transfer by the rules of its own group. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* Transfers of a group waiting to retry or to follow a redirect are kept on a side list, so the
 * loop never scans the whole group to find them. */
typedef struct {
  iblai_transfer **t;
  int n, cap;
} waiting_list;

/* The group as the loop sees it; iblai_group is its first member. */
typedef struct {
  iblai_group g;
  waiting_list waiting;
  int ndone; /* DONE transfers among those not yet delivered */
} group;

static group *of(iblai_group *g) { return (group *)g; }

static void link_group(iblai_group **list, iblai_group *g) {
  g->prev = NULL;
  g->next = *list;
  if (*list) (*list)->prev = g;
  *list = g;
}

static void unlink_group(iblai_group **list, iblai_group *g) {
  if (g->prev) g->prev->next = g->next;
  else if (*list == g) *list = g->next;
  if (g->next) g->next->prev = g->prev;
  g->next = g->prev = NULL;
}

iblai_group *iblai_group_new(iblai_session *s, int concurrency, iblai_group **holder) {
  group *gr = calloc(1, sizeof *gr);
  if (!gr) return NULL;
  iblai_group *g = &gr->g;
  g->s = s;
  g->concurrency = concurrency;
  g->holder = holder;
  if (holder) *holder = g;
  link_group(&s->groups, g);
  return g;
}

static void cancel_all(iblai_group *g) {
  for (int i = g->first; i < g->n; i++)
    if (g->t[i]) iblai_transfer_cancel(g->s, g->t[i]);
  g->running = 0;
  of(g)->waiting.n = 0;
}

static void free_transfers(iblai_group *g) {
  for (int i = g->first; i < g->n; i++) iblai_transfer_free(g->s, g->t[i]);
  g->n = g->first = g->next_new = 0;
  of(g)->ndone = 0;
}

static void destroy(iblai_group *g) {
  free_transfers(g);
  free(g->t);
  free(of(g)->waiting.t);
  free(of(g));
}

void iblai_group_free(iblai_group *g) {
  if (!g) return;
  iblai_session *s = g->s;
  cancel_all(g);
  if (g->holder) *g->holder = NULL;
  g->holder = NULL;
  unlink_group(&s->groups, g);
  if (s->busy) link_group(&s->graveyard, g); /* the session may still hold its transfers */
  else destroy(g);
}

static void sweep(iblai_session *s) {
  while (s->graveyard) {
    iblai_group *g = s->graveyard;
    unlink_group(&s->graveyard, g);
    destroy(g);
  }
}

void iblai_groups_release(iblai_session *s) {
  while (s->groups) iblai_group_free(s->groups);
  sweep(s);
}

void iblai_group_clear(iblai_group *g) {
  cancel_all(g);
  free_transfers(g);
}

void iblai_group_add(lua_State *L, iblai_group *g, iblai_transfer *t) {
  if (g->first > 0 && g->first == g->n) g->first = g->n = g->next_new = 0; /* all delivered: reuse */
  if (g->n == g->cap) {
    int cap = g->cap ? g->cap * 2 : 8;
    iblai_transfer **a = realloc(g->t, (size_t)cap * sizeof *a);
    if (!a) {
      iblai_transfer_free(g->s, t);
      luaL_error(L, "out of memory");
    }
    g->t = a;
    g->cap = cap;
  }
  t->group = g;
  g->t[g->n++] = t;
  if (t->state == T_DONE) of(g)->ndone++; /* failed its checks: nothing to send */
}

static void finished_one(iblai_group *g) { of(g)->ndone++; }

static void start(iblai_group *g, iblai_transfer *t) {
  if (iblai_transfer_start(g->s, t) == 0) {
    g->running++;
    return;
  }
  iblai_transfer_cancel(g->s, t);
  free(t->fail_msg);
  t->fail_msg = strdup("could not start the request: libcurl refused it (out of memory?)");
  t->fail_kind = "network";
  finished_one(g);
}

/* Starts what may start in every group: due retries first, then new transfers in order.
 * Returns the earliest time a waiting transfer becomes due (INFINITY if none). */
static double start_due(iblai_session *s, double now) {
  double wake = INFINITY;
  for (iblai_group *g = s->groups; g; g = g->next) {
    waiting_list *w = &of(g)->waiting;
    for (int j = 0; j < w->n;) {
      iblai_transfer *t = w->t[j];
      if (t->not_before <= now && g->running < g->concurrency) {
        w->t[j] = w->t[--w->n];
        start(g, t);
      } else {
        /* due but with no free slot: an answer that frees one wakes the loop, not the clock */
        if (t->not_before > now && t->not_before < wake) wake = t->not_before;
        j++;
      }
    }
    if (g->next_new < g->first) g->next_new = g->first;
    while (g->next_new < g->n && g->running < g->concurrency) {
      iblai_transfer *t = g->t[g->next_new++];
      if (t->state == T_PENDING) start(g, t);
    }
  }
  return wake;
}

void iblai_group_kick(iblai_group *g) {
  iblai_session *s = g->s;
  if (s->driving) return; /* the running loop starts it */
  int before = s->running, still;
  start_due(s, iblai_now());
  if (s->running > before) curl_multi_perform(s->multi, &still); /* sends what it can, never waits */
}

static int keep_waiting(iblai_group *g, iblai_transfer *t) {
  waiting_list *w = &of(g)->waiting;
  if (w->n == w->cap) {
    int cap = w->cap ? w->cap * 2 : 8;
    iblai_transfer **a = realloc(w->t, (size_t)cap * sizeof *a);
    if (!a) return 0;
    w->t = a;
    w->cap = cap;
  }
  w->t[w->n++] = t;
  return 1;
}

/* What follows an attempt that curl finished: settle it, tell the hooks, book the outcome. The
 * hooks may run the GC, which may cancel the transfer's group: its memory stays until sweep. */
static int after_attempt(lua_State *L, iblai_session *s, iblai_transfer *t, CURLcode rc) {
  iblai_group *g = t->group;
  g->running--;
  iblai_transfer_settle(s, t, rc);
  int st = iblai_transfer_log(L, s, t);
  if (st == LUA_OK && t->state == T_WAITING && !t->redirected && s->sleep_ref != LUA_NOREF) {
    lua_pushnumber(L, t->delay);
    st = iblai_call_hook(L, s->sleep_ref, 1);
    t->not_before = 0;
  }
  if (t->state == T_WAITING && !keep_waiting(g, t)) {
    iblai_transfer_cancel(s, t);
    free(t->fail_msg);
    t->fail_msg = strdup("out of memory while scheduling a retry");
  }
  if (t->state == T_DONE) finished_one(g);
  return st;
}

static volatile sig_atomic_t *interrupt_flag(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY);
  volatile sig_atomic_t *flag = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return flag;
}

static int finished(iblai_group *g, int until) {
  if (until >= 0) return g->t[until]->state == T_DONE;
  return of(g)->ndone >= g->n - g->first;
}

/* Returns LUA_OK, or an error status with its message pushed. */
static int drive(lua_State *L, iblai_group *g, int until) {
  iblai_session *s = g->s;
  volatile sig_atomic_t *interrupted = interrupt_flag(L);
  for (;;) {
    double wake = start_due(s, iblai_now());
    if (finished(g, until)) return LUA_OK;
    int still, progressed = 0;
    curl_multi_perform(s->multi, &still);
    CURLMsg *m;
    int queued;
    while ((m = curl_multi_info_read(s->multi, &queued))) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL *easy = m->easy_handle;
      CURLcode rc = m->data.result;
      iblai_handle *h = NULL;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&h);
      iblai_transfer *t = h ? h->t : NULL;
      if (!t || t->easy != h || t->state != T_RUNNING) continue;
      progressed = 1;
      int st = after_attempt(L, s, t, rc);
      if (st != LUA_OK) return st;
    }
    if (finished(g, until)) return LUA_OK;
    /* a Ctrl-C under lua5.4 (or the iblai program) raises in the host's hook here, and the caller
     * clears g; run first, so that it is not left pending to fire in the cleanup the error runs */
    iblai_run_pending_hook(L);
    if (interrupted && *interrupted) {
      lua_pushliteral(L, "interrupted!");
      return LUA_ERRRUN;
    }
    if (progressed) continue; /* a slot is free or a retry may be due: go round without waiting */
    const int slice_ms = (int)(IBLAI_WAIT_SLICE * 1000);
    int timeout_ms = slice_ms;
    if (wake < INFINITY) {
      double ms = ceil((wake - iblai_now()) * 1000);
      timeout_ms = ms < 0 ? 0 : ms > slice_ms ? slice_ms : (int)ms;
    }
    if (timeout_ms > 0 || s->running > 0) curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
  }
}

/* The guard of a session, made once and kept as the session's user value: marked to-be-closed
 * by each operation, closing it (on return, or as an error unwinds) leaves the session. Its user
 * value counts the operations under way of each coroutine ({thread = n}; the main thread's are
 * not counted, since an error there always unwinds through a pcall, which closes the guard). */
typedef struct {
  iblai_session *s;
} guard;

/* Adds delta to the running coroutine's count in the guard at gidx. */
static void count_holder(lua_State *L, int gidx, int delta) {
  if (lua_pushthread(L)) {
    lua_pop(L, 1);
    return;
  }
  if (lua_getiuservalue(L, gidx, 1) != LUA_TTABLE) {
    if (delta < 0) {
      lua_pop(L, 2);
      return;
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, gidx, 1);
  }
  lua_pushvalue(L, -2);
  lua_Integer n = (lua_rawget(L, -2) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0) + delta;
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  if (n > 0) lua_pushinteger(L, n);
  else lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 2);
}

static int guard_close(lua_State *L) {
  guard *gd = lua_touserdata(L, 1);
  iblai_session *s = gd->s;
  count_holder(L, 1, -1); /* L is the thread that entered, also when a reset closes it */
  if (--s->busy == 0) sweep(s); /* nothing of the session is in use any more */
  return 0;
}

/* Resets the coroutines that died by an error inside an operation (Lua closes a dead
 * coroutine's to-be-closed variables only when it is reset, so their guards never closed); the
 * caller counts as busy meanwhile, so that what their __close methods do (close a stream, the
 * session) is deferred or refused, never done under the caller's feet. */
static int reset_dead_once(lua_State *L, int gidx) {
  if (lua_getiuservalue(L, gidx, 1) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  int holders = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, holders)) {
    lua_pop(L, 1);
    lua_State *co = lua_tothread(L, -1);
    int status = lua_status(co);
    if (co != L && status != LUA_OK && status != LUA_YIELD && lua_checkstack(L, 2)) {
      lua_pushvalue(L, -1);
      lua_insert(L, -2); /* kept below the key, to reset once the walk is over */
    }
  }
  int found = lua_gettop(L) - holders;
  for (int i = holders + 1; i <= lua_gettop(L); i++) {
    lua_State *co = lua_tothread(L, i);
#if LUA_VERSION_RELEASE_NUM >= 50406
    lua_closethread(co, L);
#else
    lua_resetthread(co);
#endif
    lua_settop(co, 0); /* without its error left on the stack, coroutine.status says "dead" */
  }
  lua_settop(L, holders - 1);
  return found;
}

/* Again while the __close methods a reset runs leave more coroutines dead inside (a bounded
 * number of rounds: a __close that does so every time cannot keep the caller here). */
static void reset_dead(lua_State *L, int gidx) {
  for (int round = 0; round < 16 && reset_dead_once(L, gidx) > 0; round++) {
  }
}

/* Pushes the session's guard, made on first use. */
static int push_guard(lua_State *L, iblai_session *s, int sidx) {
  if (lua_getiuservalue(L, sidx, 1) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    guard *gd = lua_newuserdatauv(L, sizeof *gd, 1);
    gd->s = s;
    if (luaL_newmetatable(L, "iblai.Guard")) {
      lua_pushcfunction(L, guard_close);
      lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, sidx, 1);
  }
  return lua_gettop(L);
}

void iblai_reclaim(lua_State *L, iblai_session *s, int sidx) {
  if (!s->busy) return;
  sidx = lua_absindex(L, sidx);
  int gidx = push_guard(L, s, sidx);
  s->busy++;
  reset_dead(L, gidx);
  if (--s->busy == 0) sweep(s);
  lua_pop(L, 1);
}

void iblai_enter(lua_State *L, iblai_session *s, int sidx, int exclusive) {
  sidx = lua_absindex(L, sidx);
  int gidx = push_guard(L, s, sidx);
  count_holder(L, gidx, 1);
  s->busy++;
  lua_toclose(L, gidx);
  if (exclusive && s->busy > 1) {
    reset_dead(L, gidx); /* this operation already counts: see reset_dead */
    if (s->busy > 1)
      iblai_misuse(L, "iblai.Session is busy: hooks, finalizers and metamethods it runs may not start requests");
  }
}

typedef struct {
  iblai_group *g;
  int until, status;
} drive_args;

/* drive() as a protected call: a memory error inside the loop (building a log event at a state's
 * memory cap) must not skip the cleanup below, or the session stays marked as driving with its
 * requests running. The loop's own error comes back as the result, its status in the args. */
static int drive_protected(lua_State *L) {
  drive_args *a = lua_touserdata(L, 1);
  a->status = drive(L, a->g, a->until);
  return a->status == LUA_OK ? 0 : 1;
}

void iblai_group_run(lua_State *L, iblai_group *g, int until) {
  iblai_session *s = g->s;
  if (s->driving) iblai_misuse(L, "iblai.Session is busy: a hook may not start requests");
  luaL_checkstack(L, 3, "no room for the transfer loop");
  drive_args a = {g, until, LUA_OK};
  lua_pushcfunction(L, drive_protected);
  lua_pushlightuserdata(L, &a);
  s->driving = g;
  int st = lua_pcall(L, 1, 1, 0);
  if (st == LUA_OK) st = a.status;
  s->driving = NULL;
  if (st != LUA_OK) {
    iblai_group_clear(g); /* its requests stop before the error unwinds */
    lua_error(L);
  }
  lua_pop(L, 1);
}
