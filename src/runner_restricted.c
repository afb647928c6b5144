/* iblai --restricted [--max-memory MB] [--max-seconds S] [--allow-dir DIR]... SCRIPT [args]:
 * a script the user did not write, run through the embedding API's restricted mode (iblai.h).
 * The program makes the client from the environment before the script runs; the script gets
 * the client, never the environment, so it can use the key without reading it or sending it
 * to another origin. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include "iblai.h"
#include "runner.h"

#define DEFAULT_MAX_MEMORY_MB 256.0

static const char usage[] =
  "usage: iblai --restricted [--max-memory MB] [--max-seconds S] [--allow-dir DIR]... SCRIPT.lua [args]\n"
  "Runs a script you did not write. It cannot run programs, load native code or binary chunks,\n"
  "touch files outside the allowed directories, or read environment variables; the global\n"
  "`client` is made from IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG and IBLAI_USERNAME, and sends\n"
  "the key to that base URL only.\n"
  "  --max-memory MB   memory the script may hold (default 256)\n"
  "  --max-seconds S   wall-clock seconds it may run, waits on requests included (default: no limit)\n"
  "  --allow-dir DIR   a directory it may read and write files in (repeatable)\n"
  "A limit stops the script with an error naming it (exit 1).\n";

static int usage_error(const char *fmt, const char *what) {
  fprintf(stderr, "iblai: ");
  fprintf(stderr, fmt, what);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

static int positive(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v > 0) || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

/* Reads the script (path, or "-" for standard input) into a malloc'd buffer; a "#!" first line
 * becomes blank, keeping the line numbers. NULL with errno set on failure. */
static char *read_script(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0, got;
  char *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) free(buf);
      buf = bigger;
      cap *= 2;
    }
  }
  int failed = !buf || ferror(f);
  if (f != stdin) fclose(f);
  if (failed) {
    free(buf);
    errno = errno ? errno : ENOMEM;
    return NULL;
  }
  for (size_t i = 0; n > 0 && buf[0] == '#' && i < n && buf[i] != '\n'; i++) buf[i] = ' ';
  *len = n;
  return buf;
}

/* The script is stuck in one C call past its time limit (iblai_limits.stuck): end the process
 * with the limit's error, as the limit would have. Called from the watchdog thread. */
static void stuck(void *ud) {
  const char *msg = ud;
  ssize_t unused = write(2, msg, strlen(msg));
  (void)unused;
  _exit(1);
}

static void report(lua_State *L) {
  const char *msg = luaL_tolstring(L, -1, NULL); /* an Error says it with its __tostring */
  fprintf(stderr, strncmp(msg, "iblai: ", 7) == 0 ? "%s\n" : "iblai: %s\n", msg);
  lua_pop(L, 2);
}

/* arg as lua.c sets it: the script at 0, its arguments from 1, the program and options below. */
static int set_arg(lua_State *L, int argc, char **argv, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  return iblai_setglobal(L, "arg");
}

int iblai_restricted_main(lua_State *L, int argc, char **argv, volatile sig_atomic_t *interrupted) {
  double memory_mb = DEFAULT_MAX_MEMORY_MB, seconds = 0;
  const char **dirs = lua_newuserdatauv(L, sizeof(char *) * (size_t)argc, 0);
  int ndirs = 0, i = 2;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
    const char *opt = argv[i];
    if (strcmp(opt, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(opt, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(opt, "--max-memory") == 0 || strcmp(opt, "--max-seconds") == 0 || strcmp(opt, "--allow-dir") == 0) {
      if (!v) return usage_error("'%s' needs a value", opt);
      if (strcmp(opt, "--allow-dir") == 0) dirs[ndirs++] = v;
      else if (!positive(v, strcmp(opt, "--max-memory") == 0 ? &memory_mb : &seconds))
        return usage_error("'%s' needs a positive number", opt);
      else if (strcmp(opt, "--max-memory") == 0 && (memory_mb < 1 || memory_mb > 1048576))
        return usage_error("'%s' takes 1 to 1048576 (MB)", opt); /* 0 bytes would mean no cap */
      i++;
    } else {
      return usage_error("unknown option '%s'", opt);
    }
  }
  dirs[ndirs] = NULL;
  if (i >= argc) return usage_error("%s", "no script given");
  const char *script = argv[i];

  /* The client, made while the environment is still readable. */
  if (luaL_loadstring(L, "return require('iblai').from_env()") != LUA_OK || lua_pcall(L, 0, 2, 0) != LUA_OK)
    return report(L), 1;
  if (lua_isnil(L, -2)) return report(L), 1;
  lua_pop(L, 1);
  if (iblai_setglobal(L, "client") != LUA_OK || set_arg(L, argc, argv, i) != LUA_OK) return report(L), 1;

  iblai_limits limits = {0};
  limits.max_memory = (size_t)(memory_mb * 1024 * 1024);
  limits.max_seconds = seconds;
  limits.dirs = dirs;
  char stuck_message[160];
  snprintf(stuck_message, sizeof stuck_message,
           "iblai: time limit of %g s exceeded (the script was stuck in a call no limit can stop)\n", seconds);
  limits.stuck = stuck;
  limits.stuck_ud = stuck_message;
  if (iblai_restrict(L, &limits) != LUA_OK) return report(L), 1;

  lua_pushfstring(L, "@%s", strcmp(script, "-") == 0 ? "stdin" : script);
  size_t len = 0;
  char *code = read_script(script, &len);
  if (!code) {
    fprintf(stderr, "iblai: cannot read %s: %s\n", script, strerror(errno));
    return 1;
  }
  int status = iblai_load(L, code, len, lua_tostring(L, -1)); /* protected: code is freed next */
  free(code);
  lua_remove(L, -2);
  if (status != LUA_OK) return report(L), 1;
  int nargs = argc - i - 1;
  luaL_checkstack(L, nargs, "too many arguments to the script");
  for (int a = i + 1; a < argc; a++) lua_pushstring(L, argv[a]);
  if (iblai_run(L, nargs, 0) != LUA_OK) {
    if (*interrupted) return 130; /* the program says so */
    report(L);
    return 1;
  }
  return 0;
}
