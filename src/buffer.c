/* A growable byte buffer for response bodies and header blocks. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

int iblai_buf_append(iblai_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

void iblai_buf_free(iblai_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
