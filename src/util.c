/* Helpers shared by every C file of the project (the core and iblai.httpd): a growing byte
 * buffer, string copies, the monotonic clock, hook calls and misuse errors. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include "util.h"

int iblai_buf_append(iblai_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (n > SIZE_MAX / 2 - b->len) return -1;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

void iblai_buf_free(iblai_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *iblai_strndup(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

double iblai_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int iblai_call_hook(lua_State *L, int ref, int nargs) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, -(nargs + 1));
  return lua_pcall(L, nargs, 0, 0);
}

#define TICK_KEY "iblai.tick" /* registry: an empty Lua function, made once */

static int pending(lua_State *L) {
  return lua_gethook(L) != NULL && (lua_gethookmask(L) & LUA_MASKCOUNT) && lua_gethookcount(L) == 1;
}

void iblai_run_pending_hook(lua_State *L) {
  if (!pending(L)) {
    /* lua.c sets its hook on the main thread only: a coroutine waiting here takes it over, and
     * the main thread still stops at its next instruction when the error reaches it */
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    if (main == L || !main || !pending(main)) return;
    lua_sethook(L, lua_gethook(main), lua_gethookmask(main), lua_gethookcount(main));
  }
  luaL_checkstack(L, 2, "no room to run a hook");
  if (lua_getfield(L, LUA_REGISTRYINDEX, TICK_KEY) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    if (luaL_loadstring(L, "return") != LUA_OK) lua_error(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, TICK_KEY);
  }
  lua_call(L, 0, 0); /* its call, or its one instruction, runs the hook */
}

/* Is the function at this level one of the iblai Lua modules? (Their chunknames share the
 * prefix that the iblai module registers when it loads.) */
static int is_ours(lua_State *L, lua_Debug *ar, const char *prefix, size_t plen) {
  if (!lua_getinfo(L, "S", ar)) return 0;
  return prefix && strncmp(ar->source, prefix, plen) == 0;
}

int iblai_misuse(lua_State *L, const char *fmt, ...) {
  lua_getfield(L, LUA_REGISTRYINDEX, IBLAI_SOURCES_KEY);
  size_t plen = 0;
  const char *prefix = lua_tolstring(L, -1, &plen);
  lua_Debug ar;
  int level = 1;
  while (lua_getstack(L, level, &ar) && is_ours(L, &ar, prefix, plen)) level++;
  luaL_where(L, level);
  lua_remove(L, -2);
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}
