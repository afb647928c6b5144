/* What restricted code gets in place of standard functions: no finalizers, no binary chunks,
 * files only in the allowed directories, require limited to the iblai modules and the host's,
 * and error handlers that no limit can be hidden in.
 *
 * Why xpcall and coroutine.wrap/close are here: the limit hook raises its error from inside a
 * hook, where Lua runs no hooks, and the error machinery calls the message handler and (for a
 * coroutine) the pending __close methods right there. A script's own handler or __close would
 * then run where no limit can stop it; so after a limit, scripts' handlers are skipped and the
 * coroutines it killed are never closed. */
#include <string.h>
#include <lauxlib.h>
#include "iblai.h"
#include "restrict.h"

int iblai_refuse(lua_State *L) {
  return luaL_error(L, "%s is not available in restricted mode", lua_tostring(L, lua_upvalueindex(1)));
}

/* setmetatable without finalizers; upvalue 1: remember the metatable for getmetatable (scripts). */
int iblai_safe_setmetatable(lua_State *L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "a __gc metamethod is not available in restricted mode (no limit could stop it)");
    lua_pop(L, 1);
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  if (t == LUA_TTABLE && lua_toboolean(L, lua_upvalueindex(1))) {
    lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_SCRIPT_MTS_KEY);
    lua_pushvalue(L, 2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  lua_setmetatable(L, 1);
  return 1;
}

/* getmetatable that shows a script only the metatables scripts set: the library's own (files,
 * sessions, strings, the Error type) stay out of reach, so none can be given a finalizer. */
int iblai_script_getmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (!lua_getmetatable(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return 1;
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_SCRIPT_MTS_KEY);
  lua_pushvalue(L, -2);
  if (lua_rawget(L, -2) == LUA_TBOOLEAN) {
    lua_pop(L, 2);
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

/* collectgarbage without the options that would outlast the script (stop, tuning). */
int iblai_safe_collectgarbage(lua_State *L) {
  static const char *const allowed[] = {"collect", "count", "step", "isrunning", NULL};
  const char *opt = luaL_optstring(L, 1, "collect");
  for (int i = 0; allowed[i]; i++) {
    if (strcmp(opt, allowed[i]) != 0) continue;
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
  }
  return luaL_error(L, "collectgarbage('%s') is not available in restricted mode", opt);
}

/* Calls upvalue 1 (the original load or loadfile, whose mode argument is at mode) with mode "t",
 * and with the environment of upvalue 2 when the caller gives none and upvalue 2 is set (a
 * script's own). n: how many arguments the caller gave. */
static int call_text(lua_State *L, int n, int mode) {
  int env = n > mode || !lua_isnil(L, lua_upvalueindex(2));
  lua_settop(L, env ? mode + 1 : mode);
  lua_pushliteral(L, "t");
  lua_replace(L, mode);
  if (env && n <= mode) {
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_replace(L, mode + 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* load(chunk [, chunkname [, mode [, env]]]): text chunks only. */
int iblai_text_load(lua_State *L) { return call_text(L, lua_gettop(L), 3); }

/* loadfile([path [, mode [, env]]]): text only, a path in the allowed directories; upvalue 3: a
 * path is required (scripts have no standard input). */
int iblai_text_loadfile(lua_State *L) {
  int n = lua_gettop(L);
  if (lua_isnoneornil(L, 1)) {
    if (lua_toboolean(L, lua_upvalueindex(3))) {
      luaL_pushfail(L);
      lua_pushliteral(L, "loadfile: a file name is required in restricted mode");
      return 2;
    }
  } else if (!iblai_guard_path(L, 1)) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  return call_text(L, n, 2);
}

/* dofile(path): text only, a path in the allowed directories; upvalue 1: the environment of the
 * chunk (nil: the globals), 2: a path is required. */
int iblai_text_dofile(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    if (lua_toboolean(L, lua_upvalueindex(2))) return luaL_error(L, "dofile: a file name is required in restricted mode");
  } else if (!iblai_guard_path(L, 1)) {
    return lua_error(L);
  }
  lua_settop(L, 1);
  if (luaL_loadfilex(L, lua_tostring(L, 1), "t") != LUA_OK) return lua_error(L);
  if (!lua_isnil(L, lua_upvalueindex(1))) {
    lua_pushvalue(L, lua_upvalueindex(1));
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

static int is_prefixed(const char *name, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(name, prefix, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

/* require for scripts: the standard tables and iblai are the script's copies; the iblai modules but the
 * program's own (cli, sandbox, httpd), and the host's tables. upvalue 1: the script's
 * environment, 2: the real require (whose searchers only look in package.preload). */
int iblai_script_require(lua_State *L) {
  static const char *const own[] = {"string", "table", "math", "utf8", "coroutine", "os", "io", "debug",
    "iblai", NULL}; /* the script's own copies */
  static const char *const program[] = {"iblai.cli", "iblai.sandbox", "iblai.httpd", NULL};
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  if (strcmp(name, "_G") == 0) {
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
  }
  for (int i = 0; own[i]; i++) {
    if (strcmp(name, own[i]) == 0) {
      lua_getfield(L, lua_upvalueindex(1), name);
      return 1;
    }
  }
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_HOST_KEY);
  if (lua_istable(L, -1) && lua_getfield(L, -1, name) != LUA_TNIL) {
    lua_getfield(L, lua_upvalueindex(1), name);
    return 1;
  }
  lua_settop(L, 1);
  int allowed = is_prefixed(name, "iblai");
  for (int i = 0; allowed && program[i]; i++) allowed = !is_prefixed(name, program[i]);
  if (!allowed)
    return luaL_error(L, "module '%s' is not available in restricted mode (scripts may require the iblai "
                         "modules and the host's own)", name);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, 1, 1);
  iblai_guard_classes(L, -1);
  return 1;
}

/* __newindex of the library's metatables: no finalizer can be added to them. */
int iblai_no_gc_field(lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "__gc") == 0)
    return luaL_error(L, "a __gc metamethod is not available in restricted mode (no limit could stop it)");
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

void iblai_guard_classes(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return;
  if (lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_GUARD_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  int guard = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_istable(L, -1) && !lua_getmetatable(L, -1)) {
      lua_pushliteral(L, "__index");
      if (lua_rawget(L, -2) != LUA_TNIL) {
        lua_pushvalue(L, guard);
        lua_setmetatable(L, -3);
      }
    }
    lua_settop(L, guard + 1);
  }
  lua_settop(L, guard - 1);
}

/* ---- error handlers and coroutines ---- */

static int killed(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  int yes = lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_KILLED_KEY) == LUA_TTABLE;
  if (yes) {
    lua_pushvalue(L, idx);
    yes = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return yes;
}

/* The message handler xpcall installs: the script's (upvalue 1), unless a limit stopped the run. */
static int guarded_handler(lua_State *L) {
  iblai_ctx *c = iblai_ctx_of(L);
  if (c && c->active && c->stopped) return 1; /* the limit's error as it is */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int finish_xpcall(lua_State *L, int status, lua_KContext extra) {
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - (int)extra;
}

int iblai_safe_xpcall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, guarded_handler, 1);
  lua_replace(L, 2);
  lua_pushboolean(L, 1); /* as xpcall: true, then the function's results */
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);
  int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_xpcall);
  return finish_xpcall(L, status, 2);
}

/* coroutine.wrap's function (upvalue 1: the coroutine): as Lua's own, except that a coroutine a
 * limit killed keeps its pending __close methods unrun. */
static int wrapped(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int narg = lua_gettop(L), nres;
  if (!lua_checkstack(co, narg)) return luaL_error(L, "too many arguments to resume");
  lua_xmove(L, co, narg);
  int status = lua_resume(co, L, narg, &nres);
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      return luaL_error(L, "too many results to resume");
    }
    lua_xmove(co, L, nres);
    return nres;
  }
  lua_xmove(co, L, 1); /* the error */
  status = lua_status(co);
  if (status != LUA_OK && status != LUA_YIELD && !killed(L, lua_upvalueindex(1))) { /* it died of it */
    status = lua_resetthread(co); /* close its to-be-closed variables */
    lua_xmove(co, L, 1);
  }
  if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

int iblai_safe_wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, wrapped, 1);
  return 1;
}

/* coroutine.close (upvalue 1: Lua's own), refusing a coroutine a limit killed. */
int iblai_safe_close(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD);
  if (killed(L, 1)) {
    luaL_pushfail(L);
    lua_pushliteral(L, "a limit stopped this coroutine; it cannot be closed");
    return 2;
  }
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, LUA_MULTRET);
  return lua_gettop(L);
}
