/* util.c: helpers every C file of the project uses, the core and iblai.httpd alike. */
#ifndef IBLAI_UTIL_H
#define IBLAI_UTIL_H

#include <stddef.h>
#include <lua.h>

#define IBLAI_SOURCES_KEY "iblai.sources" /* registry: chunkname prefix of the iblai Lua modules */

/* A growing byte buffer, kept NUL-terminated. */
typedef struct {
  char *data;
  size_t len, cap;
} iblai_buf;

int iblai_buf_append(iblai_buf *b, const void *p, size_t n); /* 0, or -1 when out of memory */
void iblai_buf_free(iblai_buf *b);
char *iblai_strndup(const char *s, size_t n);
double iblai_now(void); /* monotonic seconds */
/* Calls the function at registry ref with the nargs values on top; a lua_pcall status. */
int iblai_call_hook(lua_State *L, int ref, int nargs);
/* Runs a hook that asks to run at the next instruction (what lua.c's SIGINT handler sets, on this
 * thread or the main one) by calling a Lua function: a C wait calls it between slices, so that the
 * hook's error ("interrupted!") is raised there. Returns when there is none, or it did not raise. */
void iblai_run_pending_hook(lua_State *L);
#define IBLAI_WAIT_SLICE 0.1 /* seconds a C wait goes without looking for a pending hook */
/* Raises a misuse error located at the first caller outside the iblai modules. */
int iblai_misuse(lua_State *L, const char *fmt, ...);

#endif
