/* Files and the environment in a restricted state: a path is resolved (symbolic links and ..
 * followed) and must lie in one of the directories the host allows; os.getenv sees only the names
 * the host allows. The allowed lists live in the context userdata's user values, so nothing here
 * is malloc'd and a raise leaks nothing. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "iblai.h"
#include "restrict.h"

#define DIRS_SLOT 1 /* user value 1 of the context: the allowed directories, resolved */
#define ENV_SLOT 2  /* user value 2: set of the environment names scripts may read */

static int push_ctx(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_CTX_KEY) == LUA_TUSERDATA) return 1;
  lua_pop(L, 1);
  return 0;
}

/* Resolves path into out (PATH_MAX bytes): realpath, or, for a file that does not exist yet,
 * the resolved directory and the last name. Returns 0, -1 with errno set, or -2 for a symbolic
 * link whose target does not exist. */
static int resolve(const char *path, char *out) {
  if (realpath(path, out)) return 0;
  if (errno != ENOENT) return -1;
  struct stat st;
  if (lstat(path, &st) == 0) return -2; /* a link to nothing: opening it would create its target */
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) return -1; /* errno: ENOENT */
  char dir[PATH_MAX];
  size_t dlen = slash ? (size_t)(slash - path) : 0;
  if (dlen >= sizeof dir) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (!slash) {
    strcpy(dir, ".");
  } else if (dlen == 0) {
    strcpy(dir, "/");
  } else {
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
  }
  if (!realpath(dir, out)) return -1;
  size_t olen = strlen(out), blen = strlen(base);
  if (olen + 1 + blen >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (olen > 1) out[olen++] = '/';
  memcpy(out + olen, base, blen + 1);
  return 0;
}

static int inside(const char *path, const char *dir, size_t dlen) {
  if (strncmp(path, dir, dlen) != 0) return 0;
  return dlen == 1 || path[dlen] == '/' || path[dlen] == '\0'; /* dir "/" holds everything */
}

int iblai_guard_path(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  size_t len;
  const char *path = lua_tolstring(L, idx, &len);
  if (!path) return lua_pushliteral(L, "a path must be a string"), 0;
  if (strlen(path) != len) return lua_pushliteral(L, "a path holds a NUL byte"), 0;
  char *out = lua_newuserdatauv(L, PATH_MAX, 0); /* Lua's memory: a raise leaks nothing */
  int rc = resolve(path, out);
  if (rc == -2) {
    lua_pushfstring(L, "%s: a symbolic link to a file that does not exist (restricted mode)", path);
    return 0;
  }
  if (rc != 0) {
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 0;
  }
  int allowed = 0;
  if (push_ctx(L)) {
    lua_getiuservalue(L, -1, DIRS_SLOT);
    lua_Integer n = lua_istable(L, -1) ? luaL_len(L, -1) : 0;
    for (lua_Integer i = 1; i <= n && !allowed; i++) {
      size_t dlen;
      lua_rawgeti(L, -1, i);
      const char *dir = lua_tolstring(L, -1, &dlen);
      allowed = dir && inside(out, dir, dlen);
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  if (!allowed) {
    lua_pushfstring(L, "%s: outside the directories this script may use (restricted mode)", path);
    return 0;
  }
  lua_pushstring(L, out);
  lua_replace(L, idx);
  lua_pop(L, 1); /* the buffer */
  return 1;
}

int iblai_guard_path_lua(lua_State *L) {
  lua_settop(L, 1);
  if (iblai_guard_path(L, 1)) return 1;
  luaL_pushfail(L);
  lua_insert(L, -2);
  return 2;
}

/* upvalue 1: the original function; 2: the GUARD_* flags. */
static int guarded(lua_State *L) {
  int flags = (int)lua_tointeger(L, lua_upvalueindex(2));
  for (int i = 1; i <= 2; i++) {
    if (!(flags & (i == 1 ? GUARD_ARG1 : GUARD_ARG2))) continue;
    int ok;
    if (lua_type(L, i) == LUA_TSTRING) {
      ok = iblai_guard_path(L, i);
    } else if (i == 1 && (flags & GUARD_NEEDS_PATH)) {
      lua_pushliteral(L, "a file name is required in restricted mode (standard input is not available)");
      ok = 0;
    } else {
      continue; /* a file handle, or no argument: the function checks it */
    }
    if (!ok) {
      if (flags & GUARD_RAISE) return lua_error(L);
      luaL_pushfail(L);
      lua_insert(L, -2);
      lua_pushinteger(L, EACCES);
      return 3;
    }
  }
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

void iblai_guard_wrap(lua_State *L, int flags) {
  lua_pushinteger(L, flags);
  lua_pushcclosure(L, guarded, 2);
}

int iblai_getenv_lua(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  int allowed = 0;
  if (push_ctx(L)) {
    lua_getiuservalue(L, -1, ENV_SLOT);
    allowed = lua_istable(L, -1) && lua_getfield(L, -1, name) == LUA_TBOOLEAN;
  }
  lua_pushstring(L, allowed ? getenv(name) : NULL);
  return 1;
}

int iblai_guard_configure(lua_State *L, int ctx, const iblai_limits *limits) {
  ctx = lua_absindex(L, ctx);
  lua_newtable(L);
  for (int i = 0; limits && limits->dirs && limits->dirs[i]; i++) {
    char *out = lua_newuserdatauv(L, PATH_MAX, 0);
    if (!realpath(limits->dirs[i], out)) {
      lua_pushfstring(L, "allowed directory '%s': %s", limits->dirs[i], strerror(errno));
      return 0;
    }
    lua_pushstring(L, out);
    lua_rawseti(L, -3, i + 1);
    lua_pop(L, 1);
  }
  lua_setiuservalue(L, ctx, DIRS_SLOT);
  lua_newtable(L);
  for (int i = 0; limits && limits->env && limits->env[i]; i++) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, limits->env[i]);
  }
  lua_setiuservalue(L, ctx, ENV_SLOT);
  return 1;
}
