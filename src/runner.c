/* The iblai program: a Lua 5.4 host with every iblai module built in (modelled on lua.c).
 * Argument handling lives in iblai.cli; this file owns the state, signals and error reporting. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "iblai.h"
#include "httpd.h"
#include "pool.h"
#include "runner.h"

static lua_State *running_state; /* only for the SIGINT handler, as in lua.c */
static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t restricted; /* the limits' own hook watches the flag: leave it be */

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* First Ctrl-C stops the script at the next Lua instruction or transfer-loop turn; a second one kills. */
static void on_sigint(int sig) {
  signal(sig, SIG_DFL);
  interrupted = 1;
  if (!restricted) lua_sethook(running_state, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* What luaL_newstate would set, for a state made with the pool allocator: an error outside any
 * pcall is reported before the abort, and warn() is off until a script says "@on". */
static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "iblai: unprotected error in call to Lua API (%s)\n", msg ? msg : "not a string");
  return 0;
}

static int warnings_on, warning_continues;

static void on_warning(void *ud, const char *msg, int tocont) {
  (void)ud;
  if (!warning_continues && !tocont && msg[0] == '@') { /* a control message */
    if (strcmp(msg, "@on") == 0) warnings_on = 1;
    else if (strcmp(msg, "@off") == 0) warnings_on = 0;
    return;
  }
  if (warnings_on) {
    if (!warning_continues) fputs("Lua warning: ", stderr);
    fputs(msg, stderr);
    if (!tocont) fputs("\n", stderr);
  }
  warning_continues = tocont;
}

static int message_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Runs iblai.cli.main(argv) and returns the exit status it asks for. */
static int run_main(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  iblai_openlibs(L);
  lua_gc(L, LUA_GCGEN, 0, 0); /* as lua5.4 runs scripts: short-lived responses are cheap to collect */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_iblai_httpd);
  lua_setfield(L, -2, "iblai.httpd");
  lua_pop(L, 1);
  if (argc > 1 && strcmp(argv[1], "--restricted") == 0) {
    restricted = 1;
    lua_pushinteger(L, iblai_restricted_main(L, argc, argv, &interrupted));
    return 1;
  }
  lua_getglobal(L, "require");
  lua_pushliteral(L, "iblai.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  return 1;
}

/* A closed standard descriptor would go to the next file or socket opened (curl's among them),
 * and what is written to it with it: hold each closed one with /dev/null opened the wrong way
 * round, so that using it still fails as a closed descriptor does. */
static void hold_closed_std_fds(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (got >= 0 && got != fd) {
      dup2(got, fd);
      close(got);
    }
  }
}

int main(int argc, char **argv) {
  hold_closed_std_fds();
  iblai_pool *pool = iblai_pool_new();
  lua_State *L = pool ? lua_newstate(iblai_pool_alloc, pool) : NULL;
  if (!L) {
    fprintf(stderr, "iblai: not enough memory to start Lua\n");
    return 1;
  }
  lua_atpanic(L, panic);
  lua_setwarnf(L, on_warning, NULL);
  running_state = L;
  iblai_set_interrupt_flag(L, &interrupted);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint; /* no SA_RESTART: a wait in poll() returns at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);

  lua_pushcfunction(L, message_handler);
  lua_pushcfunction(L, run_main);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 1);
  int code;
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (interrupted) {
      fprintf(stderr, "iblai: interrupted\n");
      code = 130;
    } else {
      if (!msg) msg = "(no error message)";
      fprintf(stderr, strncmp(msg, "iblai: ", 7) == 0 ? "%s\n" : "iblai: %s\n", msg);
      code = 1;
    }
  } else if (interrupted) { /* a command caught the interruption: Ctrl-C still means 130 */
    int told = lua_isinteger(L, -1) && lua_tointeger(L, -1) == 130; /* it said so itself */
    if (!told) fprintf(stderr, "iblai: interrupted\n");
    code = 130;
  } else {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : lua_toboolean(L, -1) || lua_isnil(L, -1) ? 0 : 1;
  }
  lua_close(L);
  iblai_pool_free(pool);
  /* as for any filter, output that could not be written (a closed stdout, a full disk) is a
   * failure: what print and io.write let pass is caught here */
  if (code == 0) {
    errno = 0;
    int flushed = fflush(stdout) == 0; /* errno now tells why, when this write is the one failing */
    if (!flushed || ferror(stdout)) {
      fprintf(stderr, "iblai: could not write the output: %s\n",
              !flushed && errno ? strerror(errno) : "a write to standard output failed");
      code = 1;
    }
  }
  return code;
}
