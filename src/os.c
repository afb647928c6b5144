/* core.sleep, core.isatty, core.mkdir: what the library would otherwise ask a shell for (a host
 * that embeds it must never fork); core.lock_file and core.sync_file: what a journal needs so
 * that a second run cannot write into the first one's file, and so that what it says is done
 * survives a crash of the machine. */
#include <errno.h>
#include <sys/file.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <lualib.h>
#include "internal.h"

/* core.sleep(seconds): waits on the monotonic clock in slices, so that Ctrl-C (lua5.4's hook, or
 * the host's interrupt flag) stops it within one. Zero or less returns at once. */
static int core_sleep(lua_State *L) {
  double seconds = luaL_checknumber(L, 1);
  if (seconds != seconds || seconds == HUGE_VAL) return iblai_misuse(L, "sleep expects a finite number of seconds");
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY);
  volatile sig_atomic_t *interrupted = lua_touserdata(L, -1);
  lua_pop(L, 1);
  double until = iblai_now() + seconds;
  for (;;) {
    /* the host's own hook first: left pending, it would fire in the cleanup the error runs */
    iblai_run_pending_hook(L);
    if (interrupted && *interrupted) return luaL_error(L, "interrupted!");
    double left = until - iblai_now();
    if (left <= 0) return 0;
    if (left > IBLAI_WAIT_SLICE) left = IBLAI_WAIT_SLICE;
    struct timespec ts = {(time_t)left, (long)((left - floor(left)) * 1e9)};
    nanosleep(&ts, NULL); /* a signal ends it early: the loop looks again at once */
  }
}

/* core.isatty(fd | file): whether a descriptor, or a Lua file handle, is a terminal. */
static int core_isatty(lua_State *L) {
  int fd;
  luaL_Stream *file = luaL_testudata(L, 1, LUA_FILEHANDLE);
  if (file) {
    if (!file->closef || !file->f) return iblai_misuse(L, "isatty: the file is closed");
    fd = fileno(file->f);
  } else {
    int isint = 0;
    lua_Integer n = lua_type(L, 1) == LUA_TNUMBER ? lua_tointegerx(L, 1, &isint) : -1;
    if (!isint || n < 0 || n > 1 << 20)
      return iblai_misuse(L, "isatty expects a file descriptor (0, 1, 2, ...) or a file, got %s", luaL_typename(L, 1));
    fd = (int)n;
  }
  lua_pushboolean(L, isatty(fd));
  return 1;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p: each missing parent in turn, then the directory itself. */
static int make_parents(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/' || p[-1] == '/') continue;
    *p = '\0';
    int failed = mkdir(path, 0777) != 0 && errno != EEXIST;
    *p = '/';
    if (failed) return -1;
  }
  if (mkdir(path, 0777) == 0) return 0;
  if (errno == EEXIST && !is_dir(path)) errno = ENOTDIR;
  return errno == EEXIST ? 0 : -1;
}

/* core.mkdir(path [, parents]): true, or nil, "path: reason", errno (as io.open says it). With
 * parents, the missing parents are made too and an existing directory is no error (mkdir -p). */
static int core_mkdir(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  int parents = lua_toboolean(L, 2);
  if (len == 0 || strlen(path) != len) return iblai_misuse(L, "mkdir expects a path without NUL bytes, not empty");
  int rc;
  if (parents) {
    char *copy = iblai_strndup(path, len);
    if (!copy) return luaL_error(L, "out of memory");
    rc = make_parents(copy);
    int saved = errno;
    free(copy);
    errno = saved;
  } else {
    rc = mkdir(path, 0777);
  }
  return luaL_fileresult(L, rc == 0, path);
}

/* The open io file at index 1 (misuse raises for anything else). */
static FILE *open_file(lua_State *L, const char *fn) {
  luaL_Stream *s = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  if (!s->closef || !s->f) iblai_misuse(L, "%s: the file is closed", fn);
  return s->f;
}

/* core.lock_file(file): an exclusive lock on the whole file, never waiting; held until the file
 * is closed. Returns true, or nil, a message and "busy" when another process holds it. */
static int core_lock_file(lua_State *L) {
  int fd = fileno(open_file(L, "lock_file"));
  int rc;
  do rc = flock(fd, LOCK_EX | LOCK_NB); while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  int busy = errno == EWOULDBLOCK;
  lua_pushnil(L);
  lua_pushstring(L, busy ? "another process holds its lock" : strerror(errno));
  lua_pushstring(L, busy ? "busy" : "error");
  return 3;
}

/* core.sync_file(file): flushes the file's buffer and fsyncs it. Returns true, or nil and a
 * message (a full disk shows here at the latest). */
static int core_sync_file(lua_State *L) {
  FILE *f = open_file(L, "sync_file");
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

void iblai_os_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"sleep", core_sleep},         {"isatty", core_isatty},
                                   {"mkdir", core_mkdir},         {"lock_file", core_lock_file},
                                   {"sync_file", core_sync_file}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
