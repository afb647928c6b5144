/* Several lua_States in one process, each on its own thread with its own client:
 * libcurl's global set-up happens once, and nothing else is shared.
 * usage: threads BASE_URL   (exits 0 when every thread got its answers) */
#include <pthread.h>
#include <stdio.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "iblai.h"

#define THREADS 4

static const char *script =
  "local base = ...\n"
  "local iblai = require 'iblai'\n"
  "local client = assert(iblai.new{ base_url = base, retries = 0 })\n"
  "for i = 1, 25 do\n"
  "  local res = assert(client:request{ path = '/echo', query = { i = i } })\n"
  "  assert(res.body.query.i == tostring(i))\n"
  "end\n"
  "client:close()\n";

static const char *base_url;

static void *worker(void *arg) {
  (void)arg;
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  iblai_openlibs(L);
  int rc = luaL_loadstring(L, script);
  if (rc == LUA_OK) {
    lua_pushstring(L, base_url);
    rc = lua_pcall(L, 1, 0, 0);
  }
  if (rc != LUA_OK) fprintf(stderr, "threads: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return (void *)(long)rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: threads BASE_URL\n");
    return 2;
  }
  base_url = argv[1];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, NULL);
  int failed = 0;
  for (int i = 0; i < THREADS; i++) {
    void *rc;
    pthread_join(t[i], &rc);
    failed += rc != NULL;
  }
  printf("%d of %d states finished cleanly\n", THREADS - failed, THREADS);
  return failed ? 1 : 0;
}
