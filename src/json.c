/* JSON decoding straight into Lua values (RFC 8259), for response bodies.
 *
 * Debian's lua-cjson 2.1 decodes every number as a float under Lua 5.4, so ids come back as 1.0,
 * and it grows each table as keys arrive. Here whole numbers become Lua integers, and each table
 * is created at its final size from values gathered on the Lua stack: the decoding costs well
 * under half of lua-cjson's plus a pass to fix the numbers (make bench measures it). Encoding
 * stays with lua-cjson. */
#include <stdint.h>
#include <string.h>
#include "internal.h"

#define MAX_DEPTH 1000
#define FLUSH_AT 256 /* values kept on the Lua stack per container before moving them into it */

/* Object keys repeat from one answer to the next. Each of KEY_SLOTS slots keeps the last key
 * that hashed to it: its Lua string in a table of the registry, its bytes here, so a repeated key
 * is one comparison and one table read instead of Lua hashing and interning it again.
 *
 * A slot also remembers the object that last used it (objects are numbered as they open, across
 * decodes). That tells when an object may hold a key twice, the one case where the order pairs
 * go into its table matters (the last one wins): such an object is "forced", the others go in
 * from the top of the stack, which saves copying each key and value. */
#define KEY_SLOTS 256
#define KEY_MAX 40 /* Lua's longest interned string; longer keys go the usual way */
typedef struct {
  const char *s; /* the bytes of the Lua string in the slot, which the table keeps alive */
  size_t len;
  uint64_t object; /* the number of the object that used it last */
} key_slot;
typedef struct {
  uint64_t objects; /* objects numbered so far */
  key_slot slot[KEY_SLOTS];
} key_cache;
static const char key_cache_id = 0; /* its address is the cache's key in the registry */

typedef struct {
  lua_State *L;
  const char *start, *p, *end;
  int depth;
  const char *problem; /* what went wrong, at p */
  key_cache *cache;    /* NULL when the document has no container */
  int keys;            /* stack index of the table holding the slots' strings */
  uint64_t first;      /* the number of this document's first object */
  uint64_t forced;     /* objects numbered up to this one keep their pairs in order */
  uint64_t seen;       /* the cache's object count as this decode last left it */
  int nopen;           /* objects open, the innermost last in open[] */
  uint64_t open[MAX_DEPTH + 1];
} parser;

static int fail(parser *P, const char *problem) {
  if (!P->problem) P->problem = problem;
  return 0;
}

/* Bytes that end a plain run inside a string: the quote, the backslash and control characters. */
static const unsigned char stops[256] = {
  [0] = 1, [1] = 1, [2] = 1, [3] = 1, [4] = 1, [5] = 1, [6] = 1, [7] = 1, [8] = 1, [9] = 1, [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1, [15] = 1, [16] = 1,
  [17] = 1, [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1, [23] = 1, [24] = 1, [25] = 1, [26] = 1, [27] = 1, [28] = 1, [29] = 1, [30] = 1, [31] = 1,
  ['"'] = 1, ['\\'] = 1,
};

static const char *plain_run(const char *p, const char *end) {
  while (end - p >= 4) {
    if (stops[(unsigned char)p[0]]) return p;
    if (stops[(unsigned char)p[1]]) return p + 1;
    if (stops[(unsigned char)p[2]]) return p + 2;
    if (stops[(unsigned char)p[3]]) return p + 3;
    p += 4;
  }
  while (p < end && !stops[(unsigned char)*p]) p++;
  return p;
}

static void skip_space(parser *P) {
  if (P->p < P->end && (unsigned char)*P->p > ' ') return; /* the usual case: no space at all */
  while (P->p < P->end && (*P->p == ' ' || *P->p == '\n' || *P->p == '\r' || *P->p == '\t')) P->p++;
}

/* Room on the Lua stack for the next ROOM_FOR values (keys included) of a container. */
#define ROOM_FOR 16
static int room(parser *P) {
  return lua_checkstack(P->L, ROOM_FOR + 4) ? 1 : fail(P, "the document holds too many values at once");
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static void add_utf8(luaL_Buffer *b, unsigned cp) {
  if (cp < 0x80) {
    luaL_addchar(b, (char)cp);
  } else if (cp < 0x800) {
    luaL_addchar(b, (char)(0xC0 | (cp >> 6)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    luaL_addchar(b, (char)(0xE0 | (cp >> 12)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  } else {
    luaL_addchar(b, (char)(0xF0 | (cp >> 18)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  }
}

/* A string with escapes, from just after its opening quote; pushes it. */
static int escaped_string(parser *P) {
  luaL_Buffer b;
  luaL_buffinit(P->L, &b);
  const char *p = P->p;
  for (;;) {
    const char *run = p;
    p = plain_run(p, P->end);
    luaL_addlstring(&b, run, (size_t)(p - run));
    if (p >= P->end) {
      P->p = p;
      luaL_pushresult(&b);
      return fail(P, "a string is not closed");
    }
    if (*p == '"') break;
    if (*p != '\\') {
      P->p = p;
      luaL_pushresult(&b);
      return fail(P, "a control character inside a string must be escaped");
    }
    if (p + 1 >= P->end) {
      P->p = p;
      luaL_pushresult(&b);
      return fail(P, "a string is not closed");
    }
    char c = p[1];
    p += 2;
    switch (c) {
    case '"': luaL_addchar(&b, '"'); break;
    case '\\': luaL_addchar(&b, '\\'); break;
    case '/': luaL_addchar(&b, '/'); break;
    case 'b': luaL_addchar(&b, '\b'); break;
    case 'f': luaL_addchar(&b, '\f'); break;
    case 'n': luaL_addchar(&b, '\n'); break;
    case 'r': luaL_addchar(&b, '\r'); break;
    case 't': luaL_addchar(&b, '\t'); break;
    case 'u': {
      unsigned cp, low;
      if (P->end - p < 4 || !hex4(p, &cp)) {
        P->p = p;
        luaL_pushresult(&b);
        return fail(P, "\\u needs four hex digits");
      }
      p += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate must be followed by a low one */
        if (P->end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) || low < 0xDC00 || low > 0xDFFF) {
          P->p = p;
          luaL_pushresult(&b);
          return fail(P, "a UTF-16 surrogate without its pair");
        }
        p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        P->p = p;
        luaL_pushresult(&b);
        return fail(P, "a UTF-16 surrogate without its pair");
      }
      add_utf8(&b, cp);
      break;
    }
    default:
      P->p = p - 1;
      luaL_pushresult(&b);
      return fail(P, "an unknown escape in a string");
    }
  }
  P->p = p + 1;
  luaL_pushresult(&b);
  return 1;
}

/* A string, from its opening quote; pushes it. */
static int string(parser *P) {
  const char *s = ++P->p, *p = plain_run(s, P->end);
  if (p < P->end && *p == '"') { /* the usual case: nothing to unescape */
    lua_pushlstring(P->L, s, (size_t)(p - s));
    P->p = p + 1;
    return 1;
  }
  return escaped_string(P);
}

/* Pushes the key cache's table (made on first use) and points P at the cache. */
static void keys_open(parser *P) {
  lua_State *L = P->L;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_cache_id) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    key_cache *c = lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    lua_createtable(L, KEY_SLOTS, 0); /* every slot in the array part: setting one never allocates */
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_cache_id);
  }
  P->cache = lua_touserdata(L, -1);
  P->seen = P->cache->objects;
  P->first = P->seen + 1;
  lua_getiuservalue(L, -1, 1);
  lua_remove(L, -2);
  P->keys = lua_gettop(L);
}

static void force(parser *P, uint64_t object) {
  if (object > P->forced) P->forced = object;
}

/* Whether object n of this document is still open (open[] is in increasing order). */
static int is_open(const parser *P, uint64_t n) {
  int lo = 0, hi = P->nopen - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (P->open[mid] == n) return 1;
    if (P->open[mid] < n) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

/* Another decode ran in the middle of this one (a __gc finalizer run by an allocation of ours)
 * when the cache numbered objects this one did not: it may have taken slots of the objects open
 * here, which are forced. */
static void notice_others(parser *P) {
  if (P->cache->objects == P->seen) return;
  if (P->nopen > 0) force(P, P->open[P->nopen - 1]);
  P->seen = P->cache->objects;
}

/* The innermost open object takes slot k. Whoever held it and is still open could no longer
 * tell a repeated key from a new one: it is forced. So is this object when the key is its own. */
static void take_slot(parser *P, key_slot *k) {
  notice_others(P);
  uint64_t cur = P->open[P->nopen - 1], was = k->object;
  if (was == cur) force(P, cur); /* the same key twice, or two of its keys sharing the slot */
  else if (was >= P->first && was < cur && is_open(P, was)) force(P, was);
  k->object = cur;
}

/* A key the cache does not hold (escaped, or long): read as any string, and its object forced,
 * since its slot cannot tell whether the key comes again. */
static int untracked_key(parser *P) {
  force(P, P->open[P->nopen - 1]);
  return string(P);
}

/* An object key, from its opening quote; pushes it, from the key cache when it is there. The
 * bytes up to the next quote pick the slot; a cached key holds no escape or control character,
 * so when it matches them the key is plain and needs no scan. */
static int key(parser *P) {
  const char *s = P->p + 1;
  const char *quote = memchr(s, '"', (size_t)(P->end - s));
  size_t n = quote ? (size_t)(quote - s) : 0;
  if (!quote || n > KEY_MAX) return untracked_key(P); /* not closed (string says so), or long */
  unsigned h = n ? (unsigned)n * 131u + (unsigned char)s[0] * 31u + (unsigned char)s[n >> 1] * 7u + (unsigned char)s[n - 1] : 0;
  h = (h ^ (h >> 8)) & (KEY_SLOTS - 1);
  key_slot *k = &P->cache->slot[h];
  take_slot(P, k);
  if (k->s && k->len == n && memcmp(k->s, s, n) == 0) {
    P->p = quote + 1;
    lua_rawgeti(P->L, P->keys, (lua_Integer)h + 1);
    return 1;
  }
  if (plain_run(s, quote) < quote) return untracked_key(P); /* escapes or control characters */
  P->p = quote + 1;
  lua_pushlstring(P->L, s, n);
  lua_pushvalue(P->L, -1);
  lua_rawseti(P->L, P->keys, (lua_Integer)h + 1);
  k->s = lua_tostring(P->L, -1);
  k->len = n;
  notice_others(P); /* pushing the string may have run one, which may have taken this slot */
  k->object = P->open[P->nopen - 1];
  return 1;
}

static int digits(const char **p, const char *end) {
  const char *s = *p;
  while (*p < end && **p >= '0' && **p <= '9') (*p)++;
  return *p > s;
}

/* A number; whole numbers that fit become integers, the rest floats (as Lua reads them). */
static int number(parser *P) {
  const char *s = P->p, *p = s;
  int negative = p < P->end && *p == '-';
  if (negative) p++;
  const char *int_start = p;
  if (p < P->end && *p == '0') p++;
  else if (!digits(&p, P->end)) return fail(P, "a number needs digits");
  int whole = 1;
  if (p < P->end && *p == '.') {
    p++;
    whole = 0;
    if (!digits(&p, P->end)) return fail(P, "a number needs digits after its point");
  }
  if (p < P->end && (*p == 'e' || *p == 'E')) {
    p++;
    whole = 0;
    if (p < P->end && (*p == '+' || *p == '-')) p++;
    if (!digits(&p, P->end)) return fail(P, "a number needs digits in its exponent");
  }
  P->p = p;
  if (whole && p - int_start <= 18) { /* fits in 64 bits for sure */
    lua_Integer v = 0;
    for (const char *d = int_start; d < p; d++) v = v * 10 + (*d - '0');
    lua_pushinteger(P->L, negative ? -v : v);
    return 1;
  }
  char text[128];
  size_t n = (size_t)(p - s);
  if (n >= sizeof text) { /* a float this long only differs from its first digits in noise */
    luaL_Buffer b;
    luaL_buffinit(P->L, &b);
    luaL_addlstring(&b, s, n);
    luaL_pushresult(&b);
    size_t used = lua_stringtonumber(P->L, lua_tostring(P->L, -1));
    lua_remove(P->L, used ? -2 : -1);
    return used ? 1 : fail(P, "a number Lua cannot read");
  }
  memcpy(text, s, n);
  text[n] = '\0';
  return lua_stringtonumber(P->L, text) ? 1 : fail(P, "a number Lua cannot read");
}

static int literal(parser *P, const char *word, size_t n) {
  if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n) != 0) return fail(P, "an unexpected character");
  P->p += n;
  return 1;
}

static int value(parser *P);

/* Moves the values pending above base into the table at base (created when first needed, with
 * room for them all when none follow). Pairs go in from the top of the stack, last first, unless
 * the object is forced (see key_slot): then in order, so that a repeated key keeps its last value. */
static void flush(lua_State *L, int base, int *has_table, int is_object, int pending, int final, int in_order) {
  if (!*has_table) {
    int n = is_object ? pending / 2 : pending;
    if (!final) n *= 2;
    lua_createtable(L, is_object ? 0 : n, is_object ? n : 0);
    lua_copy(L, -1, base); /* over the placeholder */
    lua_pop(L, 1);
    *has_table = 1;
  }
  int top = lua_gettop(L);
  if (!is_object) {
    lua_Integer at = (lua_Integer)lua_rawlen(L, base) + (top - base);
    for (int i = top; i > base; i--) lua_rawseti(L, base, at--);
  } else if (!in_order) {
    for (int i = top; i > base; i -= 2) lua_rawset(L, base);
  } else {
    for (int i = base + 1; i < top; i += 2) {
      lua_pushvalue(L, i);
      lua_pushvalue(L, i + 1);
      lua_rawset(L, base);
    }
    lua_settop(L, base);
  }
}

/* An object or an array, from its opening bracket; pushes a table. */
static int container(parser *P, int is_object) {
  lua_State *L = P->L;
  char close = is_object ? '}' : ']';
  if (++P->depth > MAX_DEPTH) return fail(P, "nested more than 1000 levels deep");
  P->p++;
  if (!room(P)) return 0;
  lua_pushnil(L); /* where the table goes, below the values gathered for it */
  int base = lua_gettop(L), has_table = 0, pending = 0;
  uint64_t number = 0;
  if (is_object) {
    notice_others(P);
    P->open[P->nopen++] = number = P->seen = ++P->cache->objects;
  }
  skip_space(P);
  if (P->p < P->end && *P->p == close) {
    P->p++;
  } else {
    for (;;) {
      if (pending % ROOM_FOR >= ROOM_FOR - 2 && !room(P)) return 0; /* a key and a value may follow */
      skip_space(P);
      if (is_object) {
        if (P->p >= P->end || *P->p != '"') return fail(P, "an object key must be a string");
        if (!key(P)) return 0;
        skip_space(P);
        if (P->p >= P->end || *P->p != ':') return fail(P, "a ':' must follow an object key");
        P->p++;
        skip_space(P);
        pending++;
      }
      if (!value(P)) return 0;
      pending++;
      if (pending >= FLUSH_AT) {
        flush(L, base, &has_table, is_object, pending, 0, number <= P->forced); /* the table now sits at base */
        pending = 0;
      }
      skip_space(P);
      if (P->p < P->end && *P->p == ',') {
        P->p++;
        continue;
      }
      if (P->p < P->end && *P->p == close) {
        P->p++;
        break;
      }
      return fail(P, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  if (pending > 0 || !has_table) flush(L, base, &has_table, is_object, pending, 1, number <= P->forced);
  if (is_object) P->nopen--;
  P->depth--;
  return 1;
}

static int value(parser *P) {
  if (P->p >= P->end) return fail(P, "the document ends where a value was expected");
  switch (*P->p) {
  case '"': return string(P);
  case '{': return container(P, 1);
  case '[': return container(P, 0);
  case 't':
    if (!literal(P, "true", 4)) return 0;
    lua_pushboolean(P->L, 1);
    return 1;
  case 'f':
    if (!literal(P, "false", 5)) return 0;
    lua_pushboolean(P->L, 0);
    return 1;
  case 'n':
    if (!literal(P, "null", 4)) return 0;
    lua_pushlightuserdata(P->L, NULL); /* lua-cjson's null, so both agree */
    return 1;
  default:
    if (*P->p == '-' || (*P->p >= '0' && *P->p <= '9')) return number(P);
    return fail(P, "an unexpected character");
  }
}

int iblai_json_decode(lua_State *L, const char *s, size_t len) {
  int top = lua_gettop(L);
  parser P; /* open[] is written before it is read: not zeroed, it is 8 KB */
  P.L = L;
  P.start = P.p = s;
  P.end = s + len;
  P.depth = P.nopen = 0;
  P.problem = NULL;
  P.cache = NULL;
  P.keys = 0;
  P.first = P.forced = 0;
  if (!lua_checkstack(L, 8)) return luaL_error(L, "out of memory");
  skip_space(&P);
  if (P.p < P.end && (*P.p == '{' || *P.p == '[')) keys_open(&P);
  int ok = value(&P);
  if (ok) {
    skip_space(&P);
    if (P.p < P.end) ok = fail(&P, "more follows the value");
  }
  if (ok) {
    if (P.cache) lua_remove(L, P.keys);
    return 1;
  }
  lua_settop(L, top);
  lua_pushfstring(L, "invalid JSON at byte %I: %s", (LUAI_UACINT)(P.p - P.start + 1), P.problem);
  return 0;
}

/* core.json_decode(s) -> value | nil, message */
int iblai_json_decode_lua(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  if (iblai_json_decode(L, s, len)) return 1;
  luaL_pushfail(L);
  lua_insert(L, -2);
  return 2;
}
