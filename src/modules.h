/* The Lua modules built into libiblai (see tools/embed.lua). */
#ifndef IBLAI_MODULES_H
#define IBLAI_MODULES_H
#include <stddef.h>

typedef struct {
  const char *name;      /* module name for require, e.g. "iblai.errors" */
  const char *chunkname; /* "@iblai/errors.lua", so tracebacks name the file */
  const char *source;
  size_t len;
} iblai_module;

extern const iblai_module iblai_modules[];

#endif
