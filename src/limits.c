/* The limits of a restricted state: a counting allocator (memory), a count hook (time and
 * instructions), a watchdog thread that stops requests in flight at the deadline, and iblai_run,
 * which arms them for one script and names the limit that stopped it. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include "iblai.h"
#include "internal.h"
#include "restrict.h"

#define HOOK_EVERY 1000             /* instructions between two looks at the limits */
#define ERROR_RESERVE (1024 * 1024) /* what a run's error report may use beyond the memory cap */
#define WATCH_SLICE 0.05            /* seconds between two looks at the host's interrupt flag */
#define STUCK_AFTER 1.0             /* seconds after the time limit before the host hears of a stuck run */
#define MEMORY_MESSAGE "not enough memory"

/* ---- memory ---- */

static void limit_hook(lua_State *L, lua_Debug *ar);

/* Refuses any growth past the cap; shrinking and freeing always go through. */
static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  iblai_ctx *c = ud;
  size_t old = ptr ? osize : 0; /* without a block, osize tells the kind of object */
  if (nsize > old && c->max_memory) {
    size_t limit = c->max_memory + (c->grace ? ERROR_RESERVE : 0);
    size_t rest = c->used - old;
    if (rest > limit || nsize > limit - rest) {
      c->refused = 1;
      /* a script that catches memory errors in a loop pays a full collection for each: have
       * the running thread look at its limits at its next instruction, not 1000 later */
      if (c->active && c->running) lua_sethook(c->running, limit_hook, LUA_MASKCOUNT, 1);
      return NULL;
    }
  }
  void *p = c->f(c->ud, ptr, osize, nsize);
  if (nsize == 0) c->used -= old;
  else if (p) c->used = c->used - old + nsize;
  return p;
}

iblai_ctx *iblai_ctx_of(lua_State *L) {
  void *ud = NULL;
  return lua_getallocf(L, &ud) == counting_alloc ? ud : NULL;
}

/* ---- time and instructions ---- */

static void arm(lua_State *L) { lua_sethook(L, limit_hook, LUA_MASKCOUNT, HOOK_EVERY); }

static void push_stop_message(lua_State *L, iblai_ctx *c, int why) {
  switch (why) {
  case STOP_TIME: {
    char seconds[32];
    snprintf(seconds, sizeof seconds, "%g", c->max_seconds);
    lua_pushfstring(L, "iblai: time limit of %s s exceeded", seconds);
    break;
  }
  case STOP_INSTRUCTIONS:
    lua_pushfstring(L, "iblai: instruction limit of %I exceeded", (LUAI_UACINT)c->max_instructions);
    break;
  case STOP_MEMORY:
    if (c->max_memory % (1024 * 1024) == 0)
      lua_pushfstring(L, "iblai: memory limit of %I MB exceeded", (LUAI_UACINT)(c->max_memory / (1024 * 1024)));
    else
      lua_pushfstring(L, "iblai: memory limit of %I bytes exceeded", (LUAI_UACINT)c->max_memory);
    break;
  default: lua_pushliteral(L, "interrupted!"); break; /* what the transfer loop says */
  }
}

/* Why the run must stop now (STOP_NONE: it may go on). */
static int due(iblai_ctx *c) {
  if (c->stopped) return c->stopped;
  if (c->timed_out) return STOP_TIME;
  if (c->interrupted || (c->host_flag && *c->host_flag)) return STOP_INTERRUPT;
  if (c->max_seconds > 0 && iblai_now() >= c->deadline) return STOP_TIME;
  if (c->max_instructions && c->instructions > c->max_instructions) return STOP_INSTRUCTIONS;
  return STOP_NONE;
}

/* Once a limit is reached, the thread that saw it stops at its every instruction: a pcall that
 * caught the error returns into code that raises it again, so the script unwinds to iblai_run
 * however it nests pcall, coroutines and error handlers. Other threads stop at their next look. */
static void stop(lua_State *L, iblai_ctx *c, int why) {
  c->stopped = why;
  lua_sethook(L, limit_hook, LUA_MASKCOUNT, 1);
  c->grace = 1; /* at the memory cap too, the thread is recorded and the message made */
  if (lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_KILLED_KEY) == LUA_TTABLE) { /* see safe.c */
    lua_pushthread(L);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
  push_stop_message(L, c, why);
  c->grace = 0;
  lua_error(L);
}

static void limit_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  iblai_ctx *c = iblai_ctx_of(L);
  if (!c || !c->active) return;
  if (!c->stopped) {
    if (lua_gethookcount(L) != HOOK_EVERY) arm(L); /* a thread a past run stopped */
    else c->instructions += HOOK_EVERY;
  }
  int why = due(c);
  if (why != STOP_NONE) stop(L, c, why);
}

void iblai_limits_check(lua_State *L) {
  iblai_ctx *c = iblai_ctx_of(L);
  if (!c || !c->active) return;
  int why = due(c);
  if (why != STOP_NONE) stop(L, c, why);
}

/* sleep(seconds) in short slices, so a limit or an interrupt stops it (task polling's sleep). */
int iblai_sleep_lua(lua_State *L) {
  double seconds = luaL_checknumber(L, 1);
  double until = iblai_now() + (seconds > 0 ? seconds : 0);
  for (;;) {
    iblai_limits_check(L);
    double left = until - iblai_now();
    if (left <= 0) return 0;
    if (left > WATCH_SLICE) left = WATCH_SLICE;
    struct timespec ts = {(time_t)left, (long)((left - floor(left)) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

void iblai_limits_install(lua_State *L, iblai_ctx *c) {
  c->f = lua_getallocf(L, &c->ud);
  c->used = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
  lua_setallocf(L, counting_alloc, c);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  arm(lua_tothread(L, -1));
  lua_pop(L, 1);
  arm(L);
}

void iblai_limits_uninstall(lua_State *L, iblai_ctx *c) {
  void *ud = NULL;
  if (lua_getallocf(L, &ud) == counting_alloc && ud == c) lua_setallocf(L, c->f, c->ud);
}

/* ---- the watchdog: the transfer loop reads no clock of ours, so a thread sets the flag it reads ---- */

static struct timespec abs_time(double t) {
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - floor(t)) * 1e9);
  return ts;
}

/* Waits for the run to end; at the deadline (or the host's flag) raises the flag the transfer
 * loop reads, and, when the run is still going STUCK_AFTER seconds later (one C call that no
 * hook reaches, such as a pattern match that backtracks for ages), tells the host's callback. */
static void *watch(void *arg) {
  iblai_ctx *c = arg;
  double stuck_at = 0;
  pthread_mutex_lock(&c->mu);
  while (!c->quit) {
    double now = iblai_now();
    if (!c->stop) {
      if (c->host_flag && *c->host_flag) c->interrupted = 1; /* the host's flag, passed on to the loop */
      else if (now >= c->deadline) c->timed_out = 1;
      if (c->interrupted || c->timed_out) {
        c->stop = 1;
        /* and the script, having caught the loop's "interrupted!", stops at its next instruction
         * (lua_sethook may be called asynchronously, as from a signal handler) */
        lua_sethook(c->running, limit_hook, LUA_MASKCOUNT, 1);
        if (!c->timed_out || !c->stuck) break;
        stuck_at = now + STUCK_AFTER;
      }
    } else if (now >= stuck_at) {
      pthread_mutex_unlock(&c->mu);
      c->stuck(c->stuck_ud); /* it may end the process; if it returns, the run ends when it can */
      return NULL;
    }
    double wake = c->stop ? stuck_at : c->deadline;
    if (!c->stop && c->host_flag && now + WATCH_SLICE < wake) wake = now + WATCH_SLICE;
    struct timespec ts = abs_time(wake);
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

static void watch_start(iblai_ctx *c) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* the clock of iblai_now */
  pthread_cond_init(&c->cv, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_init(&c->mu, NULL);
  c->quit = 0;
  c->watching = pthread_create(&c->watchdog, NULL, watch, c) == 0;
  if (!c->watching) { /* the count hook still stops Lua code; only a wait on a request is not cut short */
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
  }
}

static void watch_stop(iblai_ctx *c) {
  if (!c->watching) return;
  pthread_mutex_lock(&c->mu);
  c->quit = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->watchdog, NULL);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  c->watching = 0;
}

/* ---- iblai_run ---- */

static volatile sig_atomic_t *get_flag(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY);
  volatile sig_atomic_t *flag = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return flag;
}

/* The key exists from iblai_restrict on, so setting it allocates nothing. */
static void set_flag(lua_State *L, volatile sig_atomic_t *flag) {
  lua_pushlightuserdata(L, (void *)flag);
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY);
}

/* Why the run ended, given its error message (STOP_NONE: the script's own error). */
static int stopped_by(iblai_ctx *c, const char *msg) {
  if (c->stopped) return c->stopped;
  if (c->timed_out) return STOP_TIME;
  if (c->interrupted) return STOP_INTERRUPT;
  if (c->refused && msg && strcmp(msg, MEMORY_MESSAGE) == 0) return STOP_MEMORY;
  return STOP_NONE;
}

/* Whether the message at idx already starts with the stop message on top. */
static int names_limit(lua_State *L, int idx) {
  size_t n = 0;
  const char *want = lua_tolstring(L, -1, &n), *msg = lua_tostring(L, idx);
  return msg && strncmp(msg, want, n) == 0;
}

/* The message handler: the limit's name when one stopped the script, and a traceback. */
static int run_handler(lua_State *L) {
  iblai_ctx *c = iblai_ctx_of(L);
  if (c) c->grace = 1;
  const char *msg = lua_tostring(L, 1);
  int why = c ? stopped_by(c, msg) : STOP_NONE;
  if (why != STOP_NONE && why != STOP_INTERRUPT) {
    push_stop_message(L, c, why); /* whatever the script made of the error on its way out */
    msg = lua_tostring(L, -1);
  } else if (msg == NULL) {
    if (why == STOP_NONE && luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Puts the stop message in place of the error below it unless it is there already (no handler
 * ran: a memory error, or an error in the handler itself). Called protected. */
static int rename_error(lua_State *L) {
  iblai_ctx *c = lua_touserdata(L, 1);
  push_stop_message(L, c, (int)lua_tointeger(L, 2));
  if (!names_limit(L, 3)) lua_replace(L, 3);
  lua_settop(L, 3);
  return 1;
}

static void begin(lua_State *L, iblai_ctx *c) {
  c->active = 1;
  c->stopped = STOP_NONE;
  c->instructions = 0;
  c->refused = c->grace = 0;
  c->stop = c->timed_out = c->interrupted = 0;
  c->host_flag = get_flag(L);
  c->deadline = c->max_seconds > 0 ? iblai_now() + c->max_seconds : 0;
  c->running = L;
  arm(L);
  if (c->max_seconds > 0) {
    set_flag(L, &c->stop); /* the watchdog raises it for the deadline or the host's flag */
    watch_start(c);
  }
}

/* Ends the run; when a limit stopped it, what the script left (streams prefetching, its
 * clients) is collected now, which cancels their requests, and the message names the limit. */
static void end(lua_State *L, iblai_ctx *c, int status) {
  watch_stop(c);
  if (c->max_seconds > 0) set_flag(L, c->host_flag);
  c->active = 0;
  c->running = NULL;
  arm(L); /* a stopped main thread looks every HOOK_EVERY instructions again */
  int why = status == LUA_OK ? STOP_NONE : stopped_by(c, lua_tostring(L, -1));
  if (why != STOP_NONE) lua_gc(L, LUA_GCCOLLECT, 0);
  if (why != STOP_NONE && why != STOP_INTERRUPT) {
    c->grace = 1;
    lua_pushcfunction(L, rename_error);
    lua_pushlightuserdata(L, c);
    lua_pushinteger(L, why);
    lua_pushvalue(L, -4);
    if (lua_pcall(L, 3, 1, 0) == LUA_OK) lua_replace(L, -2);
    else lua_pop(L, 1); /* not even that much memory: the message stays as it was */
  }
  c->grace = 0;
}

int iblai_run(lua_State *L, int nargs, int nresults) {
  if (!L) return LUA_ERRRUN;
  int base = lua_gettop(L) - nargs;
  if (nargs < 0 || base < 1) {
    lua_pushliteral(L, "iblai_run: no function below the arguments");
    return LUA_ERRRUN;
  }
  lua_pushcfunction(L, run_handler);
  lua_insert(L, base);
  iblai_ctx *c = iblai_ctx_of(L);
  int nested = !c || c->active; /* within a run, a run is a plain call under the same limits */
  if (!nested) begin(L, c);
  int status = lua_pcall(L, nargs, nresults, base);
  if (!nested) end(L, c, status);
  lua_remove(L, base);
  return status;
}
