/* A C program that embeds the iblai runtime: the Lua modules come from the library, with no
 * LUA_PATH and no files on disk. It makes a client from the environment (iblai.from_env reads
 * IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG, IBLAI_USERNAME), calls one operation, the org's user
 * listing, and prints how many users there are. It exits 0, or 1 with the error on stderr when
 * the call fails (a wrong key, a server that does not answer). Ctrl-C stops the request in
 * flight: the signal handler raises the flag given to iblai_set_interrupt_flag.
 *
 * Build: cc host.c $(pkg-config --cflags --libs iblai) -o host
 * Run:   eval "$(iblai sandbox --background)"; ./host      (or with your own IBLAI_* variables) */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "iblai.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* Returns a line to print, or raises the Error (its message says what to do). */
static const char *script =
  "local iblai = require 'iblai'\n"
  "local client <close> = assert(iblai.from_env())\n"
  "local page = assert(client:call('core_platform_users_retrieve', { platform_key = client.org, page_size = 1 }))\n"
  "local first = page.results[1]\n"
  "return ('iblai %s: %d users in org %s; the first is %s'):format(iblai.version, page.count,\n"
  "  client.org or '(none)', first and first.username or '(nobody)')\n";

int main(void) {
  lua_State *L = luaL_newstate();
  if (!L) return fprintf(stderr, "host: not enough memory\n"), 1;
  luaL_openlibs(L);
  iblai_openlibs(L);
  iblai_set_interrupt_flag(L, &interrupted);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint; /* no SA_RESTART: a wait on the network returns at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);

  int rc = luaL_loadstring(L, script);
  if (rc == LUA_OK) rc = lua_pcall(L, 0, 1, 0);
  if (rc == LUA_OK) {
    printf("%s\n", lua_tostring(L, -1));
  } else {
    const char *msg = interrupted ? "interrupted" : luaL_tolstring(L, -1, NULL); /* an Error: its __tostring */
    fprintf(stderr, strncmp(msg, "iblai: ", 7) == 0 ? "%s\n" : "host: %s\n", msg);
  }
  lua_close(L);
  return rc == LUA_OK ? 0 : 1;
}
