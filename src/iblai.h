/***
Embedding the iblai runtime in a C program: the libraries, restricted mode and host hooks.

A host creates its own `lua_State`, opens the standard libraries and the iblai ones, and runs
scripts. Scripts the host did not write (its users' own workflows) run in restricted mode:
a curated environment, a memory cap, and a time or instruction limit, each stopping the script
with an error that names it while the host goes on.

Build with `cc host.c $(pkg-config --cflags --libs iblai)` after `make install`; complete hosts
are in `examples/embed/` (`host.c`, `users_from_host.c`, `threads.c`).

The functions below that return `int` run protected: `LUA_OK`, or an error status with the
message on top of the stack, never a Lua error thrown at the host. Given a NULL state they
return `LUA_ERRRUN` at once, and `iblai_openlibs` does nothing; `luaopen_iblai_core` and
`iblai_set_interrupt_flag` need a state.
@module iblai.h
@usage
lua_State *L = luaL_newstate();
luaL_openlibs(L);
iblai_openlibs(L);   // require "iblai" works, with no files on disk
iblai_limits limits = { .max_memory = 64 << 20, .max_seconds = 10 };
iblai_restrict(L, &limits);
if (iblai_load(L, code, len, "=user script") != LUA_OK || iblai_run(L, 0, 0) != LUA_OK)
  fprintf(stderr, "%s\n", lua_tostring(L, -1));   // "iblai: time limit of 10 s exceeded" ...
lua_pop(L, 1);       // the state stays usable: load and run the next script
lua_close(L);
*/
#ifndef IBLAI_H
#define IBLAI_H

#include <signal.h>
#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/*** The C core, as `require "iblai.core"` returns it.
@function luaopen_iblai_core
@param L the state
@return 1 (the module table is on the stack)
*/
int luaopen_iblai_core(lua_State *L);

/*** Registers every iblai module (the C core and the Lua modules built into the library) in
`package.preload` of L, so `require` finds them without `LUA_PATH` or files on disk. Calling it
twice does no harm.
@function iblai_openlibs
@param L the state (the standard libraries opened first, with `luaL_openlibs`)
*/
void iblai_openlibs(lua_State *L);

/*** Lets a host interrupt requests in flight: when `*flag` becomes non-zero (say, from a SIGINT
handler) the transfer loop stops its requests and raises the Lua error "interrupted!". During
`iblai_run` on a restricted state the flag also stops Lua code.
@function iblai_set_interrupt_flag
@param L the state (not NULL)
@param flag the flag, or NULL for none
*/
void iblai_set_interrupt_flag(lua_State *L, volatile sig_atomic_t *flag);

/*** The limits of a restricted state (`iblai_restrict`); a zero field means no limit.
@table iblai_limits
@field max_memory bytes the whole state may hold (the iblai modules take about 2 MB of it).
An allocation beyond it fails, and a script that does not recover stops with
"iblai: memory limit of 64 MB exceeded". Memory outside Lua (libcurl, response bodies as they
arrive, bounded by the `max_response_bytes` option) is not counted.
@field max_seconds wall-clock seconds one `iblai_run` may take: "iblai: time limit of 10 s
exceeded". It also cuts short a wait on a request (a watchdog thread raises the transfer loop's
interrupt flag), and the requests in flight are cancelled.
@field max_instructions Lua instructions one `iblai_run` may execute, counted in steps of 1000:
"iblai: instruction limit of N exceeded".
@field dirs NULL-terminated list of directories in which restricted code may open, create,
remove and rename files (`io.open`, `io.lines`, `os.remove`, `os.rename`, `loadfile`,
`dofile`, and a client's `ca_file`); paths are resolved first, so `..` and symbolic links cannot
lead outside. NULL: none.
@field env NULL-terminated list of environment variables restricted code may read with
`os.getenv` (so also `iblai.from_env`). NULL: none, which keeps `IBLAI_API_KEY` out of scripts'
reach: hand them a client made by the host instead (`iblai_setglobal`).
@field stuck called, from the watchdog thread, when a script is still running a second after
its time limit: it is inside one C call that no hook reaches (a pattern match that backtracks
for ages, say), and nothing can stop it safely from within the process. The callback may end
the process (`iblai --restricted` prints the time limit's error and exits 1); if it returns,
the script stops when that call returns. NULL: wait.
@field stuck_ud passed to stuck
*/
typedef struct iblai_limits {
  size_t max_memory;
  double max_seconds;
  unsigned long long max_instructions;
  const char *const *dirs;
  const char *const *env;
  void (*stuck)(void *ud);
  void *stuck_ud;
} iblai_limits;

/*** Restricts L for scripts the host did not write. The whole state loses what no script may
have, the iblai modules included: `os.execute`, `os.exit`, `os.tmpname`, `os.setlocale`,
`io.popen`, `io.tmpfile`, `package.loadlib`, native modules and modules from disk (`require`
looks only in `package.preload`), binary chunks (`load`, `loadfile` and `dofile` take text only),
`string.dump`, every `debug` function but `traceback`, `collectgarbage` options other than
collect, count, step and isrunning, `__gc` metamethods (a finalizer runs where no hook can stop
it), and files outside `limits->dirs`. Calling a removed function raises "... is not available
in restricted mode".

Every chunk loaded afterwards sees a curated environment: copies of the standard tables without
the removed names (so they are absent, not stubs), `getmetatable` showing only the metatables
scripts set, `require` of the iblai modules (but not the program's own: `iblai.cli`,
`iblai.sandbox`, `iblai.httpd`) and of the host's tables, no standard input, no `rawset`, no
`package`, and the global `iblai`. The iblai modules keep the original globals.

Call it after `luaL_openlibs`, `iblai_openlibs` and any host code that needs the full library,
and never open the standard libraries again afterwards. It installs a counting allocator
(`lua_setallocf`) and a count hook (`lua_sethook`): do not replace them. Calling it again on a
restricted state sets new limits.
@function iblai_restrict
@param L the state
@param limits the limits, or NULL for none (the curated environment only); copied
@return `LUA_OK`, or an error status with a message (an allowed directory that does not exist,
a memory cap below what the state already holds). After an error, do not run untrusted scripts
in L.
*/
int iblai_restrict(lua_State *L, const iblai_limits *limits);

/*** Loads a script (text only: a binary chunk is refused) as a function on the stack. In a
restricted state the script gets a fresh environment, so what one script leaves in its globals
neither reaches the next nor holds memory after it. Scripts still share the iblai modules'
tables; for scripts of different authors, use one state each.
@function iblai_load
@param L the state
@param code the source
@param len its length in bytes
@param chunkname the name in messages, such as "=users.lua" or "@path/users.lua" (NULL: "=(script)")
@return `LUA_OK` with the function on the stack, or an error status (`LUA_ERRSYNTAX`, ...) with
the message
*/
int iblai_load(lua_State *L, const char *code, size_t len, const char *chunkname);

/*** Calls the function below `nargs` arguments, like `lua_pcall` with a message handler that adds
a traceback. On a restricted state the limits count from this call: the clock starts, the
instruction count starts at zero. When a limit stops the script the message names it
("iblai: time limit of 10 s exceeded", "iblai: memory limit of 64 MB exceeded", "iblai:
instruction limit of 1000000 exceeded"), however the script nests `pcall`, coroutines and error
handlers around it; the requests it had in flight are cancelled and what it left is collected,
so the same state can run the next script. A run inside a run (from a host function) is a plain
protected call under the outer run's limits.
@function iblai_run
@param L the state
@param nargs arguments on top of the function
@param nresults results wanted, or `LUA_MULTRET`
@return `LUA_OK` with the results, or an error status with the message
*/
int iblai_run(lua_State *L, int nargs, int nresults);

/*** One request event, as the `log` option of `iblai.new` receives it. The key is never in it:
it travels in a header, which events do not carry. The strings are valid only during the call.
@table iblai_log_event
@field event "response", "retry" or "redirect"
@field method "GET", "POST", ...
@field url the URL of the attempt
@field attempt which attempt this was (1 for the first)
@field status the HTTP status, 0 when no answer came
@field error what failed when no answer came (curl's words), or NULL
@field elapsed response: seconds the attempt took; otherwise 0
@field delay retry: seconds until the next attempt; otherwise 0
@field reason retry: why it is retried ("HTTP 503", "connection failed", ...), or NULL
*/
typedef struct iblai_log_event {
  const char *event;
  const char *method;
  const char *url;
  int attempt;
  int status;
  const char *error;
  double elapsed;
  double delay;
  const char *reason;
} iblai_log_event;

/*** The host's log callback (`iblai_set_log`).
@function iblai_log_fn
@param ud what the host gave `iblai_set_log`
@param event the event
*/
typedef void (*iblai_log_fn)(void *ud, const iblai_log_event *event);

/*** Sends the request events of every client (session) created in L from now on to `fn`, as well
as to the client's own `log` option if it has one. A script cannot turn it off.
@function iblai_set_log
@param L the state
@param fn the callback, or NULL to stop
@param ud passed to fn
@return `LUA_OK`, or an error status with a message
*/
int iblai_set_log(lua_State *L, iblai_log_fn fn, void *ud);

/*** Gives every script a table of the host's own functions, as the global `name` and as
`require(name)`: `host.users()` in `examples/embed/users_from_host.c`. Each function gets `ud`
as its first upvalue: `lua_touserdata(L, lua_upvalueindex(1))`. Call it before the scripts are
loaded; each script gets its own copy of the table.
@function iblai_register
@param L the state, restricted or not
@param name the global's name
@param funcs the functions, ending with `{NULL, NULL}`
@param ud the host's data for them
@return `LUA_OK`, or an error status with a message
*/
int iblai_register(lua_State *L, const char *name, const luaL_Reg *funcs, void *ud);

/*** Pops the value on top of the stack and makes it the global `name` of every script loaded
from now on (a client the host made, the script's arguments). Unlike tables of functions, the
value itself is shared, not copied.
@function iblai_setglobal
@param L the state
@param name the global's name
@return `LUA_OK`, or an error status with a message
*/
int iblai_setglobal(lua_State *L, const char *name);

#ifdef __cplusplus
}
#endif

#endif
