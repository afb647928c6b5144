/* Host hooks: a log callback that hears the request events of every session the state creates,
 * and the host's own functions and values, which every script sees; and, in a restricted state,
 * the sessions' ca_file checked against the allowed directories. Each entry point runs
 * protected, so a memory error comes back as a status instead of ending the host. */
#include <string.h>
#include <lauxlib.h>
#include "iblai.h"
#include "internal.h"
#include "restrict.h"

#define HOSTLOG_KEY "iblai.hostlog" /* registry: the host's log callback, a userdata holding it */

typedef struct {
  iblai_log_fn fn;
  void *ud;
} host_log;

/* ---- the log callback ---- */

static const char *string_field(lua_State *L, int t, const char *k) {
  const char *s = lua_getfield(L, t, k) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the event table still holds the string while the callback runs */
  return s;
}

static double number_field(lua_State *L, int t, const char *k) {
  double v = lua_getfield(L, t, k) == LUA_TNUMBER ? (double)lua_tonumber(L, -1) : 0;
  lua_pop(L, 1);
  return v;
}

/* log(event): the host's callback, then the log function the caller gave (upvalue 1, or nil). */
static int forward_log(lua_State *L) {
  if (lua_istable(L, 1) && lua_getfield(L, LUA_REGISTRYINDEX, HOSTLOG_KEY) == LUA_TUSERDATA) {
    host_log *h = lua_touserdata(L, -1);
    iblai_log_event ev;
    ev.event = string_field(L, 1, "event");
    ev.method = string_field(L, 1, "method");
    ev.url = string_field(L, 1, "url");
    ev.attempt = (int)number_field(L, 1, "attempt");
    ev.status = (int)number_field(L, 1, "status");
    ev.error = string_field(L, 1, "error");
    ev.elapsed = number_field(L, 1, "elapsed");
    ev.delay = number_field(L, 1, "delay");
    ev.reason = string_field(L, 1, "reason");
    h->fn(h->ud, &ev);
  }
  lua_settop(L, 1);
  if (!lua_isnil(L, lua_upvalueindex(1))) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 1, 0);
  }
  return 0;
}

/* Replaces the options at index 1 with a copy (the caller's table is left as it was). */
static void copy_options(lua_State *L) {
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_replace(L, 1);
}

/* core.session(opts) as the host wants it (upvalue 1: the core's own constructor): with the
 * host's log callback added when it set one, and, in a restricted state, a ca_file only from
 * the allowed directories (libcurl would read any file it is given). */
static int session_for_host(lua_State *L) {
  int n = lua_gettop(L), copied = 0;
  if (n == 0 || lua_isnil(L, 1)) { /* no options: the host's log all the same */
    lua_settop(L, 1);
    lua_newtable(L);
    lua_replace(L, 1);
    n = lua_gettop(L);
    copied = 1;
  }
  /* read raw, as the core reads options: an __index cannot show one value here, another there */
  if (lua_istable(L, 1) && lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_CTX_KEY) == LUA_TUSERDATA &&
      lua_pushliteral(L, "ca_file") && lua_rawget(L, 1) == LUA_TSTRING) {
    if (!iblai_guard_path(L, -1)) {
      luaL_pushfail(L);
      iblai_error_push(L, "config", lua_tostring(L, -2));
      return 2;
    }
    copy_options(L);
    copied = 1;
    lua_setfield(L, 1, "ca_file"); /* the path resolved */
  }
  lua_settop(L, n);
  if (lua_istable(L, 1) && lua_getfield(L, LUA_REGISTRYINDEX, HOSTLOG_KEY) == LUA_TUSERDATA) {
    lua_pushliteral(L, "log");
    int log = lua_rawget(L, 1);
    if (log == LUA_TNIL || log == LUA_TFUNCTION) { /* anything else: the core says what is wrong */
      if (!copied) copy_options(L);
      lua_pushvalue(L, n + 2);
      lua_pushcclosure(L, forward_log, 1);
      lua_setfield(L, 1, "log");
    }
  }
  lua_settop(L, n);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

int iblai_open_core(lua_State *L) {
  luaopen_iblai_core(L);
  lua_getfield(L, -1, "session");
  lua_pushcclosure(L, session_for_host, 1);
  lua_setfield(L, -2, "session");
  return 1;
}

static int do_set_log(lua_State *L) {
  host_log *given = lua_touserdata(L, 1);
  if (given->fn) *(host_log *)lua_newuserdatauv(L, sizeof(host_log), 0) = *given;
  else lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, HOSTLOG_KEY);
  return 0;
}

int iblai_set_log(lua_State *L, iblai_log_fn fn, void *ud) {
  if (!L) return LUA_ERRRUN;
  host_log h = {fn, ud};
  lua_pushcfunction(L, do_set_log);
  lua_pushlightuserdata(L, &h);
  return lua_pcall(L, 1, 0, 0);
}

/* ---- host functions and values ---- */

/* Makes the value on top the global `name` of every script: recorded for the environments
 * iblai_load makes (each gets its own copy when copy is set), set in the state's globals, and
 * requirable when it is a table. Pops it. */
static void publish(lua_State *L, const char *name, int copy) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, IBLAI_HOST_KEY);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, name);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, IBLAI_HOST_COPY_KEY);
  lua_pushboolean(L, copy);
  lua_setfield(L, -2, name);
  lua_pop(L, 2);
  lua_pushvalue(L, -1);
  lua_setglobal(L, name);
  int restricted = lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_CTX_KEY) == LUA_TUSERDATA;
  lua_pop(L, 1);
  if (lua_istable(L, -1) && !restricted) { /* restricted scripts' require looks in IBLAI_HOST_KEY */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

typedef struct {
  const char *name;
  const luaL_Reg *funcs;
  void *ud;
} reg_args;

static int do_register(lua_State *L) {
  reg_args *a = lua_touserdata(L, 1);
  lua_newtable(L);
  for (const luaL_Reg *r = a->funcs; r->name; r++) {
    if (!r->func) continue;
    lua_pushlightuserdata(L, a->ud);
    lua_pushcclosure(L, r->func, 1);
    lua_setfield(L, -2, r->name);
  }
  publish(L, a->name, 1);
  return 0;
}

int iblai_register(lua_State *L, const char *name, const luaL_Reg *funcs, void *ud) {
  if (!L) return LUA_ERRRUN;
  if (!name || !*name || !funcs) {
    lua_pushliteral(L, "iblai_register: a name and a list of functions are required");
    return LUA_ERRRUN;
  }
  reg_args a = {name, funcs, ud};
  lua_pushcfunction(L, do_register);
  lua_pushlightuserdata(L, &a);
  return lua_pcall(L, 1, 0, 0);
}

static int do_setglobal(lua_State *L) {
  const char *name = lua_touserdata(L, 2);
  lua_settop(L, 1);
  publish(L, name, 0);
  return 0;
}

int iblai_setglobal(lua_State *L, const char *name) {
  if (!L) return LUA_ERRRUN;
  if (lua_gettop(L) < 1) {
    lua_pushliteral(L, "iblai_setglobal: no value on the stack");
    return LUA_ERRRUN;
  }
  if (!name || !*name) {
    lua_pop(L, 1);
    lua_pushliteral(L, "iblai_setglobal: a name is required");
    return LUA_ERRRUN;
  }
  lua_pushcfunction(L, do_setglobal);
  lua_insert(L, -2);
  lua_pushlightuserdata(L, (void *)name);
  return lua_pcall(L, 2, 0, 0);
}
