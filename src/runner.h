/* The iblai program's parts (runner.c, runner_restricted.c). */
#ifndef IBLAI_RUNNER_H
#define IBLAI_RUNNER_H
#include <signal.h>
#include <lua.h>

/* iblai --restricted ...: returns the exit status (0, 1, 2 usage, 130 interrupted). */
int iblai_restricted_main(lua_State *L, int argc, char **argv, volatile sig_atomic_t *interrupted);

#endif
