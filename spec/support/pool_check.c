/* Exercises src/pool.c, the iblai program's Lua allocator.
 * usage: pool_check churn | lua | overrun | small-overrun | use-after-free
 *   churn           random allocations, growths, shrinks and frees across every size class and
 *                   past the largest, each block's bytes checked after every move; exits 0
 *   lua             a Lua state on the pool running a script that churns tables and strings
 *   overrun         writes one byte past a small block (memcheck must report it)
 *   small-overrun   the same past a 3-byte block reused from a free list
 *   use-after-free  reads a small block after freeing it (memcheck must report it) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "pool.h"

#define SLOTS 512

static unsigned rng = 12345;
static unsigned next_random(void) {
  rng = rng * 1103515245u + 12345u;
  return rng >> 8;
}

static int churn(iblai_pool *p) {
  unsigned char *block[SLOTS] = {0};
  size_t size[SLOTS] = {0};
  unsigned char mark[SLOTS] = {0};
  for (int round = 0; round < 200000; round++) {
    int i = (int)(next_random() % SLOTS);
    size_t n = next_random() % 3 == 0 ? 1 + next_random() % 600 : 1 + next_random() % 300;
    if (block[i]) {
      for (size_t k = 0; k < size[i]; k++)
        if (block[i][k] != (unsigned char)(mark[i] + k)) {
          fprintf(stderr, "block %d changed at byte %zu\n", i, k);
          return 1;
        }
    }
    if (block[i] && next_random() % 4 == 0) {
      iblai_pool_alloc(p, block[i], size[i], 0);
      block[i] = NULL;
      continue;
    }
    unsigned char *b = iblai_pool_alloc(p, block[i], block[i] ? size[i] : 0, n);
    if (!b) {
      fprintf(stderr, "allocation of %zu bytes failed\n", n);
      return 1;
    }
    size_t kept = block[i] ? (size[i] < n ? size[i] : n) : 0;
    for (size_t k = kept; k < n; k++) b[k] = (unsigned char)(mark[i] + k);
    block[i] = b;
    size[i] = n;
  }
  for (int i = 0; i < SLOTS; i++)
    if (block[i]) iblai_pool_alloc(p, block[i], size[i], 0);
  return 0;
}

static int run_lua(iblai_pool *p) {
  lua_State *L = lua_newstate(iblai_pool_alloc, p);
  if (!L) return 1;
  luaL_openlibs(L);
  const char *script =
    "local keep = {}\n"
    "for i = 1, 200000 do\n"
    "  local t = { i, tostring(i), name = ('n'):rep(i % 300), f = function() return i end }\n"
    "  t[#t + 1] = t.f() .. t.name\n"
    "  if i % 7 == 0 then keep[#keep + 1] = t end\n"
    "  if #keep > 1000 then keep = {} end\n"
    "end\n"
    "collectgarbage('generational')\n"
    "local s = {} for i = 1, 5000 do s[i] = ('x'):rep(i) end\n"
    "for i = 1, 5000 do assert(#s[i] == i) end\n"
    "return 'ok'\n";
  int st = luaL_dostring(L, script);
  if (st != LUA_OK) fprintf(stderr, "%s\n", lua_tostring(L, -1));
  lua_close(L);
  return st != LUA_OK;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  iblai_pool *p = iblai_pool_new();
  if (!p) return 1;
  int rc = 2;
  if (strcmp(mode, "churn") == 0) {
    rc = churn(p);
  } else if (strcmp(mode, "lua") == 0) {
    rc = run_lua(p);
  } else if (strcmp(mode, "overrun") == 0) {
    char *b = iblai_pool_alloc(p, NULL, 0, 20);
    memset(b, 1, 21); /* the block's size class is 32 bytes: only memcheck can notice */
    iblai_pool_alloc(p, b, 20, 0);
    rc = 0;
  } else if (strcmp(mode, "small-overrun") == 0) {
    char *b = iblai_pool_alloc(p, NULL, 0, 3); /* in a slot that held a free list's link before */
    iblai_pool_alloc(p, b, 3, 0);
    b = iblai_pool_alloc(p, NULL, 0, 3);
    b[5] = 1;
    iblai_pool_alloc(p, b, 3, 0);
    rc = 0;
  } else if (strcmp(mode, "use-after-free") == 0) {
    char *b = iblai_pool_alloc(p, NULL, 0, 40);
    memset(b, 1, 40);
    iblai_pool_alloc(p, b, 40, 0);
    volatile char c = b[20];
    (void)c;
    rc = 0;
  }
  iblai_pool_free(p);
  return rc;
}
