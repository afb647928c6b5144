/* A host that owns its users (an in-memory table standing in for its database) and lets a
 * script it did not write reset their memory. The script runs in restricted mode: no programs,
 * no files, no environment, 64 MB and 60 seconds at most. It sees the host's users through
 * host.users(), a client the host made from the environment (it can use the key, not read it),
 * and the memory-reset workflow; it prints the summary. The host's log callback counts the
 * requests, and the host exits 1 when the script failed or some user could not be reset.
 *
 * Build: cc users_from_host.c $(pkg-config --cflags --libs iblai) -o users_from_host
 * Run:   eval "$(iblai sandbox --background)"; ./users_from_host [SCRIPT.lua]
 *        (without SCRIPT, the script below; a script of your own gets the same restrictions) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "iblai.h"

/* The host's database: who asked to have the assistant forget them. */
typedef struct {
  const char *username;
  const char *plan;
  int asked_to_forget;
} user;

static const user users[] = {
  {"niklaus.turing2", "pro", 1},
  {"frances.lamarr3", "free", 1},
  {"linus.berners4", "pro", 0},
  {"barbara.dijkstra5", "free", 1},
};

/* host.users([plan]): the usernames of the users who asked to be forgotten (of one plan, if given). */
static int host_users(lua_State *L) {
  const user *db = lua_touserdata(L, lua_upvalueindex(1));
  const char *plan = luaL_optstring(L, 1, NULL);
  lua_newtable(L);
  int n = 0;
  for (size_t i = 0; i < sizeof users / sizeof *users; i++) {
    if (!db[i].asked_to_forget || (plan && strcmp(plan, db[i].plan) != 0)) continue;
    lua_pushstring(L, db[i].username);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

static const char *default_script =
  "local reset = require 'iblai.workflows.memory_reset'\n"
  "local result = assert(reset.run(client, { users = host.users(), concurrency = 4 }))\n"
  "local d = result.deleted\n"
  "print(('reset %d users: %d chats, %d prompt, %d edx, %d profile and %d mentor memories deleted; '\n"
  "  .. '%d stores already empty, %d failed'):format(result.users, d.chats, d.prompt, d.edx, d.profile,\n"
  "  d.mentor, result.already_empty, #result.failed))\n"
  "for _, f in ipairs(result.failed) do print('failed: ' .. f.user .. ' ' .. f.store .. ': ' .. f.error) end\n"
  "return #result.failed == 0\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

typedef struct {
  int responses, retries;
} request_counts;

static void on_log(void *ud, const iblai_log_event *event) {
  request_counts *counts = ud;
  if (strcmp(event->event, "response") == 0) counts->responses++;
  else if (strcmp(event->event, "retry") == 0) counts->retries++;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, got;
  *len = 0;
  do {
    if (*len == cap) {
      char *bigger = realloc(buf, cap = cap ? cap * 2 : 4096);
      if (!bigger) break;
      buf = bigger;
    }
    got = fread(buf + *len, 1, cap - *len, f);
    *len += got;
  } while (got > 0);
  fclose(f);
  return buf;
}

static int fail(lua_State *L, const char *what) {
  const char *msg = interrupted ? "interrupted" : luaL_tolstring(L, -1, NULL);
  fprintf(stderr, "users_from_host: %s: %s\n", what, msg);
  lua_close(L);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L) return fprintf(stderr, "users_from_host: not enough memory\n"), 1;
  luaL_openlibs(L);
  iblai_openlibs(L);
  iblai_set_interrupt_flag(L, &interrupted);
  signal(SIGINT, on_sigint);
  request_counts counts = {0, 0};
  static const luaL_Reg host_functions[] = {{"users", host_users}, {NULL, NULL}};
  if (iblai_set_log(L, on_log, &counts) != LUA_OK) return fail(L, "log");
  if (iblai_register(L, "host", host_functions, (void *)users) != LUA_OK) return fail(L, "host functions");

  /* The client, made by the host while it can still read the environment. */
  if (luaL_loadstring(L, "return require('iblai').from_env()") != LUA_OK || lua_pcall(L, 0, 2, 0) != LUA_OK)
    return fail(L, "client");
  if (lua_isnil(L, -2)) return fail(L, "client");
  lua_pop(L, 1);
  if (iblai_setglobal(L, "client") != LUA_OK) return fail(L, "client");

  iblai_limits limits = {.max_memory = 64 * 1024 * 1024, .max_seconds = 60};
  if (iblai_restrict(L, &limits) != LUA_OK) return fail(L, "restricted mode");

  size_t len = strlen(default_script);
  char *code = argc > 1 ? read_file(argv[1], &len) : NULL;
  if (argc > 1 && !code) return fprintf(stderr, "users_from_host: cannot read %s\n", argv[1]), lua_close(L), 1;
  char name[512];
  snprintf(name, sizeof name, "@%s", argc > 1 ? argv[1] : "reset script"); /* @: messages say name:line */
  int rc = iblai_load(L, code ? code : default_script, len, name);
  free(code);
  if (rc != LUA_OK) return fail(L, "the script does not load");
  if (iblai_run(L, 0, 1) != LUA_OK) return fail(L, "the script stopped");
  int all_reset = lua_toboolean(L, -1);
  printf("the host saw %d responses and %d retries\n", counts.responses, counts.retries);
  lua_close(L);
  return all_reset ? 0 : 1;
}
