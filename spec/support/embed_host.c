/* A test host for the embedding API (spec/embed_spec.lua, spec/restricted_spec.lua): runs each
 * SCRIPT in turn in one state and prints, for each, "script N ok RESULTS" or
 * "script N error: MESSAGE" (the message's first line; the traceback with --traceback).
 *
 * usage: embed_host [--plain] [--max-memory BYTES] [--max-seconds S] [--max-instructions N]
 *                   [--dir DIR]... [--env NAME]... [--log] [--traceback] [--null] SCRIPT...
 *   --plain  do not restrict the state      --log  print the host log callback's events
 *   --null   call the API with NULL arguments, then run the scripts
 * Scripts see host.add(a, b), host.calls(), host.fail(message), the global `base` (from
 * IBLAI_TEST_BASE, read by the host: restricted scripts cannot read the environment), and
 * `shared`, one table all scripts share (what a script leaves there, the next one finds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "iblai.h"

typedef struct {
  int calls;
} host_data;

static int host_add(lua_State *L) {
  host_data *h = lua_touserdata(L, lua_upvalueindex(1));
  h->calls++;
  luaL_checknumber(L, 1);
  luaL_checknumber(L, 2);
  lua_settop(L, 2);
  lua_arith(L, LUA_OPADD);
  return 1;
}

static int host_calls(lua_State *L) {
  host_data *h = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushinteger(L, h->calls);
  return 1;
}

static int host_fail(lua_State *L) { return luaL_error(L, "host says: %s", luaL_optstring(L, 1, "no")); }

static void on_log(void *ud, const iblai_log_event *e) {
  (void)ud;
  printf("log %s %s %d attempt=%d url=%s error=%s reason=%s\n", e->event, e->method, e->status, e->attempt,
         e->url ? e->url : "-", e->error ? e->error : "-", e->reason ? e->reason : "-");
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc(n > 0 ? (size_t)n : 1);
  *len = buf ? fread(buf, 1, (size_t)n, f) : 0;
  fclose(f);
  return buf;
}

#define CHECK(expr) (bad += !(expr) && printf("null check failed: %s\n", #expr) > 0)

static int check_null(lua_State *L) {
  int bad = 0, top = lua_gettop(L);
  iblai_openlibs(NULL);
  CHECK(iblai_restrict(NULL, NULL) == LUA_ERRRUN);
  CHECK(iblai_load(NULL, "return 1", 8, NULL) == LUA_ERRRUN);
  CHECK(iblai_run(NULL, 0, 0) == LUA_ERRRUN);
  CHECK(iblai_set_log(NULL, on_log, NULL) == LUA_ERRRUN);
  CHECK(iblai_register(NULL, "x", NULL, NULL) == LUA_ERRRUN);
  CHECK(iblai_setglobal(NULL, "x") == LUA_ERRRUN);
  CHECK(iblai_load(L, NULL, 0, NULL) == LUA_ERRRUN && lua_isstring(L, -1)); /* a message pushed */
  lua_settop(L, top);
  CHECK(iblai_register(L, NULL, NULL, NULL) == LUA_ERRRUN);
  CHECK(iblai_register(L, "x", NULL, NULL) == LUA_ERRRUN);
  lua_settop(L, top);
  CHECK(iblai_setglobal(L, "x") == LUA_ERRRUN); /* nothing to pop */
  lua_settop(L, top);
  lua_pushinteger(L, 1);
  CHECK(iblai_setglobal(L, NULL) == LUA_ERRRUN && lua_gettop(L) == top + 1); /* the value popped, a message pushed */
  lua_settop(L, top);
  CHECK(iblai_run(L, 0, 0) == LUA_ERRRUN); /* no function */
  lua_settop(L, top);
  CHECK(iblai_set_log(L, NULL, NULL) == LUA_OK);
  iblai_set_interrupt_flag(L, NULL);
  printf("null %s\n", bad ? "FAILED" : "ok");
  return bad;
}

int main(int argc, char **argv) {
  iblai_limits limits = {0};
  const char *dirs[16] = {0}, *env[16] = {0};
  int ndirs = 0, nenv = 0, plain = 0, log = 0, traceback = 0, null = 0, i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
    if (strcmp(o, "--plain") == 0) plain = 1;
    else if (strcmp(o, "--log") == 0) log = 1;
    else if (strcmp(o, "--traceback") == 0) traceback = 1;
    else if (strcmp(o, "--null") == 0) null = 1;
    else if (strcmp(o, "--max-memory") == 0) limits.max_memory = strtoull(v, NULL, 10), i++;
    else if (strcmp(o, "--max-seconds") == 0) limits.max_seconds = atof(v), i++;
    else if (strcmp(o, "--max-instructions") == 0) limits.max_instructions = strtoull(v, NULL, 10), i++;
    else if (strcmp(o, "--dir") == 0 && ndirs < 15) dirs[ndirs++] = v, i++;
    else if (strcmp(o, "--env") == 0 && nenv < 15) env[nenv++] = v, i++;
    else return fprintf(stderr, "embed_host: unknown option %s\n", o), 2;
  }
  limits.dirs = dirs;
  limits.env = env;
  host_data data = {0};
  static const luaL_Reg host_funcs[] = {{"add", host_add}, {"calls", host_calls}, {"fail", host_fail}, {NULL, NULL}};

  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  iblai_openlibs(L);
  iblai_openlibs(L); /* twice: no harm */
  if (null && check_null(L)) return 1;
  if (log && iblai_set_log(L, on_log, NULL) != LUA_OK) return 1;
  if (iblai_register(L, "host", host_funcs, &data) != LUA_OK) return 1;
  lua_pushstring(L, getenv("IBLAI_TEST_BASE") ? getenv("IBLAI_TEST_BASE") : "http://127.0.0.1:1");
  if (iblai_setglobal(L, "base") != LUA_OK) return 1;
  lua_newtable(L);
  if (iblai_setglobal(L, "shared") != LUA_OK) return 1;
  if (!plain && iblai_restrict(L, &limits) != LUA_OK) {
    printf("restrict error: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  for (int n = 1; i < argc; i++, n++) {
    size_t len = 0;
    char *code = slurp(argv[i], &len);
    if (!code) return fprintf(stderr, "embed_host: cannot read %s\n", argv[i]), 2;
    lua_pushfstring(L, "@%s", argv[i]);
    int top = lua_gettop(L);
    int st = iblai_load(L, code, len, lua_tostring(L, -1));
    free(code);
    if (st == LUA_OK) st = iblai_run(L, 0, LUA_MULTRET);
    if (st == LUA_OK) {
      printf("script %d ok", n);
      for (int r = top + 1; r <= lua_gettop(L); r++) printf(" %s", luaL_tolstring(L, r, NULL)), lua_pop(L, 1);
      printf("\n");
    } else {
      const char *msg = lua_tostring(L, -1);
      if (!msg) msg = "(not a string)";
      int cut = traceback ? (int)strlen(msg) : (int)strcspn(msg, "\n");
      printf("script %d error: %.*s\n", n, cut, msg);
    }
    lua_settop(L, top - 1);
    fflush(stdout);
  }
  lua_close(L);
  return 0;
}
