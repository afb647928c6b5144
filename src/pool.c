/* The iblai program's Lua allocator. Lua allocates and frees a few small blocks for every
 * request (tables, strings, closures); glibc's malloc spends far more on each of them than a
 * free list does. Blocks up to POOL_SMALL bytes come from per-size free lists carved out of
 * 64 KB slabs, which go back to the system when the state closes; larger ones go to malloc.
 * Under valgrind's memcheck each small block is announced as a heap block, so memcheck still
 * sees every overrun, use after free and leak. */
#include <stdlib.h>
#include <string.h>
#include "pool.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif
#ifndef HAVE_MEMCHECK
#define VALGRIND_GET_VBITS(p, bits, n) 0
#define VALGRIND_MALLOCLIKE_BLOCK(p, n, rz, zeroed) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(p, rz) ((void)0)
#define VALGRIND_RESIZEINPLACE_BLOCK(p, o, n, rz) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)0)
#endif

#define POOL_SMALL 256 /* the largest block kept in a free list */
#define STEP 16        /* size classes are multiples of this, which keeps blocks aligned */
#define CLASSES (POOL_SMALL / STEP)
#define SLAB_BYTES 65536

typedef struct slab {
  struct slab *next;
  double align; /* blocks after the header start 16-aligned */
} slab;

struct iblai_pool {
  void *free[CLASSES]; /* per class, the freed blocks, linked through their first word */
  char *next, *end;    /* the part of the newest slab not handed out yet */
  slab *slabs;
  int announce; /* running under memcheck: tell it of every block (elsewhere it costs for nothing) */
};

static int class_of(size_t n) { return (int)((n - 1) / STEP); }

static void *get_small(iblai_pool *p, size_t n) {
  int c = class_of(n);
  void *b = p->free[c];
  if (b) {
    if (p->announce) VALGRIND_MAKE_MEM_DEFINED(b, sizeof(void *));
    p->free[c] = *(void **)b;
  } else {
    size_t size = (size_t)(c + 1) * STEP;
    if ((size_t)(p->end - p->next) < size) {
      slab *s = malloc(SLAB_BYTES);
      if (!s) return NULL;
      s->next = p->slabs;
      p->slabs = s;
      p->next = (char *)(s + 1);
      p->end = (char *)s + SLAB_BYTES;
      if (p->announce) VALGRIND_MAKE_MEM_NOACCESS(p->next, (size_t)(p->end - p->next));
    }
    b = p->next;
    p->next += size;
  }
  if (p->announce) {
    VALGRIND_MALLOCLIKE_BLOCK(b, n, 0, 0);
    if (n < sizeof(void *)) VALGRIND_MAKE_MEM_NOACCESS((char *)b + n, sizeof(void *) - n); /* the link's rest */
  }
  return b;
}

static void put_small(iblai_pool *p, void *b, size_t n) {
  int c = class_of(n);
  if (p->announce) {
    VALGRIND_FREELIKE_BLOCK(b, 0);
    VALGRIND_MAKE_MEM_UNDEFINED(b, sizeof(void *));
  }
  *(void **)b = p->free[c];
  if (p->announce) VALGRIND_MAKE_MEM_NOACCESS(b, sizeof(void *));
  p->free[c] = b;
}

void *iblai_pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  iblai_pool *p = ud;
  if (!ptr) { /* a new block; osize tells what it is for, not a size */
    if (nsize == 0) return NULL;
    return nsize <= POOL_SMALL ? get_small(p, nsize) : malloc(nsize);
  }
  int was_small = osize <= POOL_SMALL;
  if (nsize == 0) {
    if (was_small) put_small(p, ptr, osize);
    else free(ptr);
    return NULL;
  }
  int small = nsize <= POOL_SMALL;
  if (was_small && small && class_of(osize) == class_of(nsize)) {
    if (p->announce) VALGRIND_RESIZEINPLACE_BLOCK(ptr, osize, nsize, 0);
    return ptr;
  }
  if (!was_small && !small) return realloc(ptr, nsize);
  void *moved = small ? get_small(p, nsize) : malloc(nsize);
  if (!moved) return NULL;
  memcpy(moved, ptr, osize < nsize ? osize : nsize);
  if (was_small) put_small(p, ptr, osize);
  else free(ptr);
  return moved;
}

/* Memcheck answers this request with 1; other tools, and no valgrind at all, with 0. */
static int under_memcheck(void) {
  char probe = 0, bits = 0;
  return VALGRIND_GET_VBITS(&probe, &bits, 1) == 1;
}

iblai_pool *iblai_pool_new(void) {
  iblai_pool *p = calloc(1, sizeof(iblai_pool));
  if (p) p->announce = under_memcheck();
  return p;
}

void iblai_pool_free(iblai_pool *p) {
  if (!p) return;
  for (slab *s = p->slabs, *next; s; s = next) {
    next = s->next;
    free(s);
  }
  free(p);
}
