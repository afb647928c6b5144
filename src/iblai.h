/* iblai: embed the ibl.ai Data Manager Lua runtime in a C program.
 *
 *   lua_State *L = luaL_newstate();
 *   luaL_openlibs(L);
 *   iblai_openlibs(L);          -- require "iblai" now works, with no files on disk
 *   luaL_dostring(L, "local c = assert(require('iblai').from_env()) ...");
 *
 * Link with -liblai (pkg-config --libs iblai). */
#ifndef IBLAI_H
#define IBLAI_H

#include <signal.h>
#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opens the C core; what `require "iblai.core"` returns. */
int luaopen_iblai_core(lua_State *L);

/* Registers every iblai.* module (the C core and the Lua modules built into the library)
 * in package.preload of L, so require finds them without LUA_PATH or files on disk. */
void iblai_openlibs(lua_State *L);

/* Lets a host interrupt requests in flight: when *flag becomes non-zero (say, from a SIGINT
 * handler) the transfer loop stops its requests and raises the Lua error "interrupted!". */
void iblai_set_interrupt_flag(lua_State *L, volatile sig_atomic_t *flag);

#ifdef __cplusplus
}
#endif

#endif
