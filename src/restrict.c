/* iblai_restrict: a state for scripts the host did not write, and a fresh environment for each
 * script (iblai_load).
 *
 * The state as a whole loses what no script may have, for the iblai modules as much as for
 * scripts: running programs, exiting, native code, binary chunks, files outside the allowed
 * directories, and Lua finalizers (a __gc runs with hooks off, where no limit could stop it).
 * Scripts then see copies of the standard tables, without the removed names, so what one script
 * changes in them no other code sees; the iblai modules keep the original globals. */
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "iblai.h"
#include "internal.h"
#include "restrict.h"

/* ---- the curated state ---- */

static void set_refuser(lua_State *L, int tbl, const char *lib, const char *name) {
  lua_pushfstring(L, "%s%s%s", lib, *lib ? "." : "", name);
  lua_pushcclosure(L, iblai_refuse, 1);
  lua_setfield(L, tbl, name);
}

static void set_guarded(lua_State *L, int tbl, const char *name, int flags) {
  if (lua_getfield(L, tbl, name) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  iblai_guard_wrap(L, flags);
  lua_setfield(L, tbl, name);
}

/* Pushes lib (a field of the table at g), or nil when the host did not open it. */
static int push_lib(lua_State *L, int g, const char *lib) {
  if (lua_getfield(L, g, lib) == LUA_TTABLE) return lua_gettop(L);
  lua_pop(L, 1);
  lua_pushnil(L);
  return 0;
}

/* The standard tables of the state itself, which the iblai modules use too. */
static void curate_libraries(lua_State *L, int g) {
  static const char *const os_out[] = {"execute", "exit", "tmpname", "setlocale", NULL};
  static const char *const io_out[] = {"popen", "tmpfile", NULL};
  int lib;
  if ((lib = push_lib(L, g, "os"))) {
    for (int i = 0; os_out[i]; i++) set_refuser(L, lib, "os", os_out[i]);
    set_guarded(L, lib, "remove", GUARD_ARG1);
    set_guarded(L, lib, "rename", GUARD_ARG1 | GUARD_ARG2);
    lua_pushcfunction(L, iblai_getenv_lua);
    lua_setfield(L, lib, "getenv");
  }
  lua_pop(L, 1);
  if ((lib = push_lib(L, g, "io"))) {
    for (int i = 0; io_out[i]; i++) set_refuser(L, lib, "io", io_out[i]);
    set_guarded(L, lib, "open", GUARD_ARG1);
    set_guarded(L, lib, "lines", GUARD_ARG1 | GUARD_RAISE);
    set_guarded(L, lib, "input", GUARD_ARG1 | GUARD_RAISE);
    set_guarded(L, lib, "output", GUARD_ARG1 | GUARD_RAISE);
    lua_pushnil(L); /* the host's standard input is not the script's, not even through a module */
    lua_setfield(L, lib, "stdin");
  }
  lua_pop(L, 1);
  if ((lib = push_lib(L, g, "string"))) set_refuser(L, lib, "string", "dump");
  lua_pop(L, 1);
  if ((lib = push_lib(L, g, "debug"))) {
    lua_pushnil(L);
    while (lua_next(L, lib)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "traceback") != 0)
        set_refuser(L, lib, "debug", lua_tostring(L, -1)); /* assigning existing fields keeps next valid */
    }
  }
  lua_pop(L, 1);
  if ((lib = push_lib(L, g, "package"))) {
    set_refuser(L, lib, "package", "loadlib");
    lua_pushliteral(L, "");
    lua_setfield(L, lib, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, lib, "cpath");
    lua_getfield(L, lib, "searchers"); /* keep the first, which looks in package.preload */
    lua_createtable(L, 1, 0);
    lua_rawgeti(L, -2, 1);
    lua_rawseti(L, -2, 1);
    lua_setfield(L, lib, "searchers");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* The base functions of the state: text-only loading, no finalizers, collectgarbage curbed. */
static void curate_base(lua_State *L, int g, int tpl) {
  lua_getfield(L, g, "load");
  lua_pushvalue(L, -1);
  lua_setfield(L, tpl, "load"); /* the original, for the scripts' own closures */
  lua_pushnil(L);
  lua_pushcclosure(L, iblai_text_load, 2);
  lua_setfield(L, g, "load");
  lua_getfield(L, g, "loadfile");
  lua_pushvalue(L, -1);
  lua_setfield(L, tpl, "loadfile");
  lua_pushnil(L);
  lua_pushboolean(L, 0);
  lua_pushcclosure(L, iblai_text_loadfile, 3);
  lua_setfield(L, g, "loadfile");
  lua_pushnil(L);
  lua_pushboolean(L, 0);
  lua_pushcclosure(L, iblai_text_dofile, 2);
  lua_setfield(L, g, "dofile");
  lua_getfield(L, g, "require");
  lua_setfield(L, tpl, "require");
  lua_pushboolean(L, 0);
  lua_pushcclosure(L, iblai_safe_setmetatable, 1);
  lua_setfield(L, g, "setmetatable");
  lua_getfield(L, g, "collectgarbage");
  lua_pushcclosure(L, iblai_safe_collectgarbage, 1);
  lua_setfield(L, g, "collectgarbage");
}

/* Gives every named metatable of the registry, and the strings' one, a guard against new
 * finalizers (scripts cannot reach them through getmetatable; this holds for the Error type,
 * which iblai.Error hands out). The guard is kept for the iblai modules' classes (safe.c). */
static void guard_metatables(lua_State *L) {
  lua_createtable(L, 0, 2);
  int guard = lua_gettop(L);
  lua_pushcfunction(L, iblai_no_gc_field);
  lua_setfield(L, guard, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, guard, "__metatable");
  lua_pushvalue(L, guard);
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_GUARD_KEY);
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1) && lua_getfield(L, -1, "__name") == LUA_TSTRING &&
        lua_rawequal(L, -1, -3) && !lua_getmetatable(L, -2)) {
      lua_pushvalue(L, guard);
      lua_setmetatable(L, -3);
    }
    lua_settop(L, guard + 1);
  }
  lua_pushliteral(L, "");
  if (lua_getmetatable(L, -1) && !lua_getmetatable(L, -1)) {
    lua_pushvalue(L, guard);
    lua_setmetatable(L, -2);
  }
  lua_settop(L, guard - 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* the classes of the modules loaded so far */
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING && strncmp(lua_tostring(L, -2), "iblai", 5) == 0) iblai_guard_classes(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void copy_fields(lua_State *L, int from, int to, const char *const *names) {
  for (int i = 0; names[i]; i++) {
    lua_getfield(L, from, names[i]);
    lua_setfield(L, to, names[i]);
  }
}

/* A copy of lib for scripts: the names listed, or every name but the refused ones. */
static void template_lib(lua_State *L, int g, int globals, const char *lib, const char *const *names) {
  int from = push_lib(L, g, lib);
  if (!from) {
    lua_pop(L, 1);
    return;
  }
  lua_newtable(L);
  if (names) {
    copy_fields(L, from, from + 1, names);
  } else {
    lua_pushnil(L);
    while (lua_next(L, from)) {
      if (lua_tocfunction(L, -1) == iblai_refuse) lua_pop(L, 1);
      else lua_setfield(L, from + 1, lua_tostring(L, -2));
    }
  }
  lua_setfield(L, globals, lib);
  lua_pop(L, 1);
}

/* What every script environment starts from (registry[IBLAI_TEMPLATE_KEY].globals). */
static void build_template(lua_State *L, int g, int tpl) {
  static const char *const base[] = {"assert", "error", "ipairs", "next", "pairs", "pcall", "print",
    "rawequal", "rawget", "rawlen", "select", "tonumber", "tostring", "type", "warn", "_VERSION",
    "collectgarbage", NULL};
  static const char *const os_in[] = {"clock", "date", "difftime", "time", "getenv", "remove", "rename", NULL};
  static const char *const io_in[] = {"open", "write", "close", "type", "stdout", "stderr", NULL};
  static const char *const debug_in[] = {"traceback", NULL};
  lua_newtable(L);
  int globals = lua_gettop(L);
  copy_fields(L, g, globals, base);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* scripts find iblai as a global, as with the program */
  lua_getfield(L, -1, "iblai");
  lua_setfield(L, globals, "iblai");
  lua_pop(L, 1);
  lua_pushboolean(L, 1);
  lua_pushcclosure(L, iblai_safe_setmetatable, 1);
  lua_setfield(L, globals, "setmetatable");
  lua_pushcfunction(L, iblai_script_getmetatable);
  lua_setfield(L, globals, "getmetatable");
  lua_pushcfunction(L, iblai_safe_xpcall);
  lua_setfield(L, globals, "xpcall");
  template_lib(L, g, globals, "string", NULL);
  template_lib(L, g, globals, "table", NULL);
  template_lib(L, g, globals, "math", NULL);
  template_lib(L, g, globals, "utf8", NULL);
  template_lib(L, g, globals, "coroutine", NULL);
  template_lib(L, g, globals, "os", os_in);
  template_lib(L, g, globals, "io", io_in);
  template_lib(L, g, globals, "debug", debug_in);
  if (lua_getfield(L, globals, "io") == LUA_TTABLE && push_lib(L, g, "io")) {
    lua_getfield(L, -1, "lines"); /* already guarded; scripts must name a file */
    lua_getupvalue(L, -1, 1);
    iblai_guard_wrap(L, GUARD_ARG1 | GUARD_RAISE | GUARD_NEEDS_PATH);
    lua_setfield(L, -4, "lines");
    lua_pop(L, 2);
  }
  lua_settop(L, globals);
  if (lua_getfield(L, globals, "coroutine") == LUA_TTABLE) {
    lua_pushcfunction(L, iblai_safe_wrap);
    lua_setfield(L, -2, "wrap");
    lua_getfield(L, -1, "close");
    lua_pushcclosure(L, iblai_safe_close, 1);
    lua_setfield(L, -2, "close");
  }
  lua_settop(L, globals);
  lua_setfield(L, tpl, "globals");
}

static void copy_table(lua_State *L, int src) {
  src = lua_absindex(L, src);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
}

/* Copies the fields of the table at from into to; the tables among them are copied one level
 * deep, unless copy (a table) says otherwise for their name. */
static void fill_env(lua_State *L, int from, int to, int copy) {
  lua_pushnil(L);
  while (lua_next(L, from)) {
    int deep = lua_istable(L, -1);
    if (deep && copy) {
      lua_pushvalue(L, -2);
      deep = lua_rawget(L, copy) == LUA_TBOOLEAN && lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    if (deep) {
      copy_table(L, -1);
      lua_replace(L, -2);
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, to);
  }
}

void iblai_env_push(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_TEMPLATE_KEY);
  int tpl = lua_gettop(L);
  lua_newtable(L);
  int env = tpl + 1;
  lua_getfield(L, tpl, "globals");
  fill_env(L, env + 1, env, 0);
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_HOST_COPY_KEY);
  if (lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_HOST_KEY) == LUA_TTABLE && lua_istable(L, env + 1))
    fill_env(L, env + 2, env, env + 1);
  lua_pop(L, 2);
  lua_pushvalue(L, env);
  lua_setfield(L, env, "_G");
  lua_getfield(L, tpl, "load");
  lua_pushvalue(L, env);
  lua_pushcclosure(L, iblai_text_load, 2);
  lua_setfield(L, env, "load");
  lua_getfield(L, tpl, "loadfile");
  lua_pushvalue(L, env);
  lua_pushboolean(L, 1);
  lua_pushcclosure(L, iblai_text_loadfile, 3);
  lua_setfield(L, env, "loadfile");
  lua_pushvalue(L, env);
  lua_pushboolean(L, 1);
  lua_pushcclosure(L, iblai_text_dofile, 2);
  lua_setfield(L, env, "dofile");
  lua_pushvalue(L, env);
  lua_getfield(L, tpl, "require");
  lua_pushcclosure(L, iblai_script_require, 2);
  lua_setfield(L, env, "require");
  lua_remove(L, tpl);
}

/* ---- iblai_restrict ---- */

static int ctx_gc(lua_State *L) {
  iblai_limits_uninstall(L, lua_touserdata(L, 1));
  return 0;
}

static void set_limits(iblai_ctx *c, const iblai_limits *limits) {
  c->max_memory = limits ? limits->max_memory : 0;
  c->max_seconds = limits && limits->max_seconds > 0 ? limits->max_seconds : 0;
  c->max_instructions = limits ? limits->max_instructions : 0;
  c->stuck = limits ? limits->stuck : NULL;
  c->stuck_ud = limits ? limits->stuck_ud : NULL;
}

static void weak_set(lua_State *L, const char *key) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, key);
}

/* A cap the state is already over would fail every allocation: refused up front. */
static void check_cap(lua_State *L, const iblai_limits *limits) {
  size_t held = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
  if (limits && limits->max_memory && limits->max_memory <= held)
    luaL_error(L, "iblai_restrict: max_memory (%I bytes) is less than the state already holds (%I bytes)",
               (LUAI_UACINT)limits->max_memory, (LUAI_UACINT)held);
}

static int do_restrict(lua_State *L) {
  const iblai_limits *limits = lua_touserdata(L, 1);
  if (lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_CTX_KEY) == LUA_TUSERDATA) { /* restricted already: new limits */
    iblai_ctx *c = lua_touserdata(L, -1);
    if (c->active) return luaL_error(L, "iblai_restrict: not while a script runs");
    check_cap(L, limits);
    if (!iblai_guard_configure(L, -1, limits)) return lua_error(L);
    set_limits(c, limits);
    return 0;
  }
  check_cap(L, limits); /* before anything changes, and again once the state is curated */
  lua_pushglobaltable(L);
  int g = lua_gettop(L);
  if (lua_getfield(L, g, "require") != LUA_TFUNCTION || !push_lib(L, g, "package"))
    return luaL_error(L, "iblai_restrict: open the standard libraries first (luaL_openlibs)");
  lua_settop(L, g);
  iblai_openlibs(L);
  lua_getfield(L, g, "require");
  lua_pushliteral(L, "iblai"); /* loaded now, with the debug library it reads once */
  lua_call(L, 1, 0);
  if (lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY) == LUA_TNIL) { /* from now on, setting it allocates nothing */
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY);
  }
  weak_set(L, IBLAI_SCRIPT_MTS_KEY);
  weak_set(L, IBLAI_KILLED_KEY);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, IBLAI_HOST_KEY);
  lua_settop(L, g);

  iblai_ctx *c = lua_newuserdatauv(L, sizeof *c, 2);
  memset(c, 0, sizeof *c);
  int ctx = lua_gettop(L);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, ctx);
  if (!iblai_guard_configure(L, ctx, limits)) return lua_error(L);
  set_limits(c, limits);
  lua_pushvalue(L, ctx);
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_CTX_KEY);
  lua_pushcfunction(L, iblai_guard_path_lua); /* the core checks a request's to_file with it */
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_FILE_GUARD_KEY);

  lua_newtable(L);
  int tpl = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "iblai.tasks") == LUA_TTABLE) { /* task polling sleeps without a program */
    lua_pushcfunction(L, iblai_sleep_lua);
    lua_setfield(L, -2, "sleep");
  }
  lua_pop(L, 1);
  if (lua_getfield(L, -1, "iblai.core") == LUA_TTABLE) /* directories only where files may go */
    set_guarded(L, lua_gettop(L), "mkdir", GUARD_ARG1);
  lua_settop(L, tpl);
  curate_libraries(L, g);
  curate_base(L, g, tpl);
  build_template(L, g, tpl);
  guard_metatables(L);
  lua_pushvalue(L, tpl);
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_TEMPLATE_KEY);
  lua_pushvalue(L, g);
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_TRUSTED_KEY);
  iblai_env_push(L); /* the globals of whatever the host loads from now on */
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_settop(L, g);
  lua_gc(L, LUA_GCCOLLECT, 0);
  check_cap(L, limits);
  iblai_limits_install(L, c); /* last: a failure above leaves the allocator alone */
  return 0;
}

int iblai_restrict(lua_State *L, const iblai_limits *limits) {
  if (!L) return LUA_ERRRUN;
  lua_pushcfunction(L, do_restrict);
  lua_pushlightuserdata(L, (void *)limits);
  return lua_pcall(L, 1, 0, 0);
}

/* ---- iblai_load ---- */

typedef struct {
  const char *code, *name;
  size_t len;
  int status;
} load_args;

static int do_load(lua_State *L) {
  load_args *a = lua_touserdata(L, 1);
  a->status = luaL_loadbufferx(L, a->code, a->len, a->name, "t");
  if (a->status == LUA_OK && lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_CTX_KEY) == LUA_TUSERDATA) {
    lua_pop(L, 1);
    iblai_env_push(L);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
  lua_settop(L, 2);
  return 1;
}

int iblai_load(lua_State *L, const char *code, size_t len, const char *chunkname) {
  if (!L) return LUA_ERRRUN;
  load_args a = {code, chunkname ? chunkname : "=(script)", len, LUA_OK};
  if (!code) {
    lua_pushliteral(L, "iblai_load: no code (NULL)");
    return LUA_ERRRUN;
  }
  lua_pushcfunction(L, do_load);
  lua_pushlightuserdata(L, &a);
  int status = lua_pcall(L, 1, 1, 0);
  return status != LUA_OK ? status : a.status;
}
