/* pool.c: the iblai program's Lua allocator, free lists for small blocks (see pool.c). */
#ifndef IBLAI_POOL_H
#define IBLAI_POOL_H
#include <stddef.h>

typedef struct iblai_pool iblai_pool;

iblai_pool *iblai_pool_new(void); /* NULL without memory */
/* A lua_Alloc: lua_newstate(iblai_pool_alloc, pool). */
void *iblai_pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
void iblai_pool_free(iblai_pool *p); /* after lua_close: the slabs go back to the system */

#endif
