/* Locking and syncing an open Lua file: what a journal needs so that a second run cannot write
 * into the first one's file, and so that what it says is done survives a crash of the machine. */
#include <errno.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <lauxlib.h>
#include "internal.h"

/* The descriptor of an open io file at index 1 (misuse raises for anything else). */
static int open_fd(lua_State *L) {
  luaL_Stream *s = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  if (s->closef == NULL || s->f == NULL) iblai_misuse(L, "the file is closed");
  return fileno(s->f);
}

/* core.lock_file(file): an exclusive lock on the whole file, never waiting; held until the file
 * is closed. Returns true, or nil, a message and "busy" when another process holds it. */
int iblai_file_lock(lua_State *L) {
  int fd = open_fd(L);
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
int iblai_file_sync(lua_State *L) {
  int fd = open_fd(L);
  luaL_Stream *s = lua_touserdata(L, 1);
  if (fflush(s->f) != 0 || fsync(fd) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}
