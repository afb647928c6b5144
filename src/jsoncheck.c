/* A JSON checker fed in pieces (RFC 8259's grammar): it reads a body as it arrives and holds
 * nothing of it but one bit per open container, so a body of any size is checked without being
 * kept. It only says whether the text is JSON; it builds no values, so no number is too large
 * or too precise for it (1e400 and 20-digit integers are JSON like any other). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define MAX_NESTING (1u << 20) /* open containers; the bits cost 128 KB at most */

enum {
  J_VALUE,      /* a value is expected */
  J_ARRAY,      /* just after '[': a value or ']' */
  J_OBJECT,     /* just after '{': a key or '}' */
  J_KEY,        /* after ',' in an object: a key */
  J_COLON,      /* after a key */
  J_AFTER,      /* after a value inside a container: ',' or the closing bracket */
  J_END,        /* after the top-level value: only white space */
  J_STRING,
  J_ESCAPE,
  J_HEX,        /* inside \uXXXX; hex counts the digits still due */
  J_MINUS, J_ZERO, J_INT, J_POINT, J_FRAC, J_E, J_ESIGN, J_EXP,
  J_LITERAL,    /* inside true, false or null; literal points at what is still due */
  J_BAD
};

/* Bytes that end a run of plain string content: the quote, the backslash, control characters. */
static const unsigned char string_stop[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  ['"'] = 1, ['\\'] = 1,
};

void iblai_jcheck_reset(iblai_jcheck *c) {
  c->state = J_VALUE;
  c->key = 0;
  c->hex = 0;
  c->literal = NULL;
  c->depth = 0;
  c->at = 0;
  c->problem = NULL;
}

void iblai_jcheck_free(iblai_jcheck *c) {
  free(c->nest);
  c->nest = NULL;
  c->cap = 0;
}

static int bad(iblai_jcheck *c, const char *problem) {
  c->problem = problem;
  c->state = J_BAD;
  return -1;
}

static int in_object(const iblai_jcheck *c) {
  size_t i = c->depth - 1;
  return (c->nest[i / 8] >> (i % 8)) & 1;
}

static int open_container(iblai_jcheck *c, int object) {
  if (c->depth == MAX_NESTING) return bad(c, "nested more than 1048576 levels deep");
  if (c->depth / 8 >= c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    unsigned char *n = realloc(c->nest, cap);
    if (!n) return bad(c, "out of memory");
    c->nest = n;
    c->cap = cap;
  }
  size_t i = c->depth++;
  if (object) c->nest[i / 8] |= (unsigned char)(1u << (i % 8));
  else c->nest[i / 8] &= (unsigned char)~(1u << (i % 8));
  c->state = object ? J_OBJECT : J_ARRAY;
  return 0;
}

/* A value just ended: what may follow depends on where it stands. */
static void value_ended(iblai_jcheck *c) {
  c->state = c->depth == 0 ? J_END : J_AFTER;
}

static int is_space(unsigned char b) {
  return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

static int is_digit(unsigned char b) {
  return b >= '0' && b <= '9';
}

/* The first byte of a value. */
static int start_value(iblai_jcheck *c, unsigned char b) {
  switch (b) {
  case '{': return open_container(c, 1);
  case '[': return open_container(c, 0);
  case '"': c->key = 0; c->state = J_STRING; return 0;
  case '-': c->state = J_MINUS; return 0;
  case '0': c->state = J_ZERO; return 0;
  case 't': c->literal = "rue"; c->state = J_LITERAL; return 0;
  case 'f': c->literal = "alse"; c->state = J_LITERAL; return 0;
  case 'n': c->literal = "ull"; c->state = J_LITERAL; return 0;
  default:
    if (b >= '1' && b <= '9') {
      c->state = J_INT;
      return 0;
    }
    return bad(c, "a value was expected");
  }
}

/* One byte outside a string's plain content; returns 0, or -1 once the text is not JSON. */
static int step(iblai_jcheck *c, unsigned char b) {
  switch (c->state) {
  case J_VALUE:
    if (is_space(b)) return 0;
    return start_value(c, b);
  case J_ARRAY:
    if (is_space(b)) return 0;
    if (b == ']') {
      c->depth--;
      value_ended(c);
      return 0;
    }
    return start_value(c, b);
  case J_OBJECT:
  case J_KEY:
    if (is_space(b)) return 0;
    if (b == '"') {
      c->key = 1;
      c->state = J_STRING;
      return 0;
    }
    if (b == '}' && c->state == J_OBJECT) {
      c->depth--;
      value_ended(c);
      return 0;
    }
    return bad(c, "a key (a string) was expected");
  case J_COLON:
    if (is_space(b)) return 0;
    if (b != ':') return bad(c, "':' was expected after a key");
    c->state = J_VALUE;
    return 0;
  case J_AFTER:
    if (is_space(b)) return 0;
    if (b == ',') {
      c->state = in_object(c) ? J_KEY : J_VALUE;
      return 0;
    }
    if (b == (in_object(c) ? '}' : ']')) {
      c->depth--;
      value_ended(c);
      return 0;
    }
    return bad(c, in_object(c) ? "',' or '}' was expected" : "',' or ']' was expected");
  case J_END:
    if (is_space(b)) return 0;
    return bad(c, "more text follows the JSON value");
  case J_STRING: /* only the stops come here */
    if (b == '"') {
      if (c->key) c->state = J_COLON;
      else value_ended(c);
      return 0;
    }
    if (b == '\\') {
      c->state = J_ESCAPE;
      return 0;
    }
    return bad(c, "a control character inside a string must be escaped");
  case J_ESCAPE:
    if (b == 'u') {
      c->hex = 4;
      c->state = J_HEX;
      return 0;
    }
    if (!strchr("\"\\/bfnrt", b) || b == 0) return bad(c, "an unknown escape in a string");
    c->state = J_STRING;
    return 0;
  case J_HEX:
    if (!(is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'))) return bad(c, "\\u needs four hex digits");
    if (--c->hex == 0) c->state = J_STRING;
    return 0;
  case J_MINUS:
    if (b == '0') c->state = J_ZERO;
    else if (is_digit(b)) c->state = J_INT;
    else return bad(c, "a digit was expected after '-'");
    return 0;
  case J_INT:
    if (is_digit(b)) return 0;
    /* fall through */
  case J_ZERO:
    if (b == '.') c->state = J_POINT;
    else if (b == 'e' || b == 'E') c->state = J_E;
    else {
      value_ended(c);
      return step(c, b); /* the byte after a number is the next token's */
    }
    return 0;
  case J_POINT:
    if (!is_digit(b)) return bad(c, "a digit was expected after '.'");
    c->state = J_FRAC;
    return 0;
  case J_FRAC:
    if (is_digit(b)) return 0;
    if (b == 'e' || b == 'E') {
      c->state = J_E;
      return 0;
    }
    value_ended(c);
    return step(c, b);
  case J_E:
    if (b == '+' || b == '-') c->state = J_ESIGN;
    else if (is_digit(b)) c->state = J_EXP;
    else return bad(c, "a digit was expected in the exponent");
    return 0;
  case J_ESIGN:
    if (!is_digit(b)) return bad(c, "a digit was expected in the exponent");
    c->state = J_EXP;
    return 0;
  case J_EXP:
    if (is_digit(b)) return 0;
    value_ended(c);
    return step(c, b);
  case J_LITERAL:
    if (b != (unsigned char)*c->literal) return bad(c, "true, false or null was misspelt");
    if (*++c->literal == '\0') value_ended(c);
    return 0;
  default:
    return -1;
  }
}

int iblai_jcheck_feed(iblai_jcheck *c, const char *text, size_t n) {
  const unsigned char *p = (const unsigned char *)text, *end = p + n;
  if (c->state == J_BAD) return -1;
  while (p < end) {
    if (c->state == J_STRING) { /* the bulk of most bodies: skip plain content in one run */
      const unsigned char *q = p;
      while (q < end && !string_stop[*q]) q++;
      c->at += (uint64_t)(q - p);
      p = q;
      if (p == end) break;
    }
    if (step(c, *p) != 0) return -1;
    c->at++;
    p++;
  }
  return 0;
}

int iblai_jcheck_complete(iblai_jcheck *c) {
  switch (c->state) {
  case J_END: return 1;
  case J_ZERO: case J_INT: case J_FRAC: case J_EXP: return c->depth == 0; /* a number ends with the text */
  default: return 0;
  }
}

/* core.json_check(text [, piece]) -> true | false, message: whether text is one JSON value,
 * read in pieces of `piece` bytes (all at once by default) as a download is. */
int iblai_jcheck_lua(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer piece = luaL_optinteger(L, 2, (lua_Integer)(len ? len : 1));
  luaL_argcheck(L, piece >= 1, 2, "piece must be 1 or more bytes");
  iblai_jcheck c = {0};
  iblai_jcheck_reset(&c);
  int ok = 0;
  for (size_t at = 0; at < len; at += (size_t)piece) {
    size_t n = len - at < (size_t)piece ? len - at : (size_t)piece;
    if (iblai_jcheck_feed(&c, text + at, n) != 0) break;
  }
  char msg[120];
  if (c.problem) snprintf(msg, sizeof msg, "%s at byte %llu", c.problem, (unsigned long long)c.at + 1);
  else if (!iblai_jcheck_complete(&c)) snprintf(msg, sizeof msg, "the text ends before the JSON is complete");
  else ok = 1;
  iblai_jcheck_free(&c); /* before anything that may raise */
  if (ok) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushstring(L, msg);
  return 2;
}
