/* Restricted mode and host hooks, inside libiblai; not part of the public API (see iblai.h).
 *
 * The files, each calling only the ones before it:
 *   limits.c    the per-state context: the counting allocator (memory), the count hook (time and
 *               instructions), the watchdog thread that stops requests in flight, iblai_run
 *   guard.c     files and the environment: paths checked against the allowed directories,
 *               os.getenv filtered
 *   safe.c      the functions restricted code gets in place of standard ones
 *   restrict.c  iblai_restrict: the curated state, and a fresh environment per script (iblai_load)
 *   hooks.c     host hooks: the log callback, host functions and values for scripts
 *
 * Ownership: the context lives in a full userdata kept in the registry, so it costs no malloc and
 * lives as long as the state. Its allocator reaches it as the allocator's ud; at lua_close the
 * userdata's finalizer hands the state back to the allocator it had before, so nothing touches
 * the context after it is gone. */
#ifndef IBLAI_RESTRICT_H
#define IBLAI_RESTRICT_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <lua.h>

#define IBLAI_CTX_KEY "iblai.restrict"        /* registry: the context userdata */
#define IBLAI_TRUSTED_KEY "iblai.trusted"     /* registry: the globals the iblai modules run with */
#define IBLAI_TEMPLATE_KEY "iblai.template"   /* registry: what every script environment copies */
#define IBLAI_HOST_KEY "iblai.host"           /* registry: name -> value the host gives every script */
#define IBLAI_HOST_COPY_KEY "iblai.host_copy" /* registry: names of host tables each script copies */
#define IBLAI_SCRIPT_MTS_KEY "iblai.script_mts" /* registry: metatables scripts set (weak keys) */
#define IBLAI_GUARD_KEY "iblai.gc_guard"      /* registry: the metatable refusing new __gc fields */
#define IBLAI_KILLED_KEY "iblai.killed"       /* registry: threads the limit hook raised in (weak keys) */

/* Why a run was stopped. */
enum { STOP_NONE, STOP_MEMORY, STOP_TIME, STOP_INSTRUCTIONS, STOP_INTERRUPT };

typedef struct iblai_ctx {
  lua_Alloc f; /* the allocator underneath */
  void *ud;
  size_t used;       /* bytes the state holds (what lua_gc(L, LUA_GCCOUNT) tells) */
  size_t max_memory; /* 0: no cap */
  double max_seconds;
  unsigned long long max_instructions;
  void (*stuck)(void *ud); /* iblai_limits.stuck */
  void *stuck_ud;
  int grace;   /* the error report of a run may go a little over the cap */
  int refused; /* an allocation was refused since the run began */
  /* the run in progress */
  int active;
  lua_State *running; /* the thread iblai_run was called on */
  int stopped; /* STOP_*, once the count hook stopped it */
  double deadline;
  unsigned long long instructions;
  volatile sig_atomic_t *host_flag; /* the host's interrupt flag (iblai_set_interrupt_flag) */
  volatile sig_atomic_t stop;       /* what the transfer loop watches during a timed run */
  volatile sig_atomic_t timed_out, interrupted;
  /* the watchdog thread of a timed run */
  pthread_t watchdog;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int watching, quit;
} iblai_ctx;

/* ---- limits.c ---- */
/* The context of a restricted state, or NULL. */
iblai_ctx *iblai_ctx_of(lua_State *L);
/* Puts the counting allocator and the count hook on L (the context is new: zeroed). */
void iblai_limits_install(lua_State *L, iblai_ctx *c);
/* Gives the allocator back (the context's finalizer). */
void iblai_limits_uninstall(lua_State *L, iblai_ctx *c);
/* Raises the limit's error when the run in progress must stop; otherwise returns. */
void iblai_limits_check(lua_State *L);
int iblai_sleep_lua(lua_State *L); /* sleep(seconds), stopping at a limit */

/* ---- guard.c ---- */
/* Checks the path at idx against the allowed directories; on success replaces it with the path
 * resolved (symbolic links and .. followed) and returns 1, otherwise pushes a message, returns 0. */
int iblai_guard_path(lua_State *L, int idx);
int iblai_guard_path_lua(lua_State *L); /* (path) -> the path resolved, or nil and the message */
/* Wraps the function on top: a closure that checks its path arguments first.
 * flags: GUARD_ARG1, GUARD_ARG2 (which arguments are paths), GUARD_RAISE (refusal raises, as the
 * function does on failure; otherwise nil, message, errno), GUARD_NEEDS_PATH (no path: refused). */
enum { GUARD_ARG1 = 1, GUARD_ARG2 = 2, GUARD_RAISE = 4, GUARD_NEEDS_PATH = 8 };
void iblai_guard_wrap(lua_State *L, int flags);
int iblai_getenv_lua(lua_State *L); /* os.getenv that sees the allowed names only */
/* Sets the allowed directories (resolved) and environment names from the limits, in the
 * context userdata at idx; returns 1, or pushes a message and returns 0. */
struct iblai_limits;
int iblai_guard_configure(lua_State *L, int ctx, const struct iblai_limits *limits);

/* ---- safe.c (each a lua_CFunction; upvalues as said) ---- */
int iblai_refuse(lua_State *L);              /* 1: the name, for the message */
int iblai_safe_setmetatable(lua_State *L);   /* 1: remember the metatable for getmetatable (scripts) */
int iblai_script_getmetatable(lua_State *L);
int iblai_safe_collectgarbage(lua_State *L); /* 1: the original */
int iblai_text_load(lua_State *L);           /* 1: the original load, 2: the environment or nil */
int iblai_text_loadfile(lua_State *L);       /* 1: the original loadfile, 2: the environment or nil,
                                                3: a path is required */
int iblai_text_dofile(lua_State *L);         /* 1: the environment or nil, 2: a path is required */
int iblai_script_require(lua_State *L);      /* 1: the script's environment, 2: the real require */
int iblai_no_gc_field(lua_State *L);         /* __newindex of the library's metatables */
/* Guards the classes (tables with an __index field) a module table at idx hands out. */
void iblai_guard_classes(lua_State *L, int idx);
int iblai_safe_xpcall(lua_State *L);
int iblai_safe_wrap(lua_State *L);
int iblai_safe_close(lua_State *L);          /* 1: the original coroutine.close */

/* ---- restrict.c ---- */
/* Pushes a fresh environment for a script (the template, copied). */
void iblai_env_push(lua_State *L);

/* ---- hooks.c ---- */
/* The iblai.core preload: the module, its session constructor sending events to the host's log. */
int iblai_open_core(lua_State *L);

#endif
