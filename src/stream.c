/* Streams: requests added one at a time, kept in flight (up to a concurrency) on the session's
 * multi handle between calls, and answered strictly in the order they were added. The pager
 * uses one so the next pages download while the caller works through the current one. */
#include "internal.h"

typedef struct {
  iblai_batch *b;         /* NULL once closed */
  lua_Integer delivered;  /* answers handed out so far; the next ticket is delivered + 1 */
  lua_Integer added;
} stream;

static stream *check_stream(lua_State *L) {
  stream *st = luaL_checkudata(L, 1, IBLAI_STREAM_MT);
  if (!st->b) luaL_error(L, "attempt to use a closed iblai.Stream");
  return st;
}

/* session:stream{concurrency = n} */
int iblai_stream_new(lua_State *L) {
  iblai_session *s = iblai_check_session(L, 1);
  int concurrency = s->concurrency;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "concurrency");
    concurrency = (int)luaL_optinteger(L, -1, concurrency);
    luaL_argcheck(L, concurrency >= 1, 2, "concurrency must be 1 or more");
    lua_pop(L, 1);
  }
  stream *st = lua_newuserdatauv(L, sizeof *st, 1);
  st->b = NULL;
  st->delivered = st->added = 0;
  luaL_setmetatable(L, IBLAI_STREAM_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1); /* the session outlives its streams */
  if (!iblai_batch_create(s, concurrency, &st->b)) return luaL_error(L, "out of memory");
  return 1;
}

/* stream:add(request) -> ticket. With a free slot the request goes out now, so it downloads
 * while the caller works; otherwise it starts when an earlier one finishes. */
static int stream_add(lua_State *L) {
  stream *st = check_stream(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  iblai_batch *b = st->b;
  iblai_transfer *t = iblai_transfer_new(L, b, 2);
  if (t->state == T_WAITING && b->running < b->concurrency && !b->s->busy) {
    if (iblai_transfer_start(b->s, t) == 0) {
      int still;
      b->running++;
      curl_multi_perform(b->s->multi, &still); /* non-blocking: sends what it can */
    }
  }
  lua_pushinteger(L, ++st->added);
  return 1;
}

/* stream:next() -> ticket, response | ticket, nil, err | nil when nothing is pending */
static int stream_next(lua_State *L) {
  stream *st = check_stream(L);
  iblai_batch *b = st->b;
  if (b->first == b->n) return 0;
  iblai_batch_run(L, b, b->first);
  if (!st->b) return luaL_error(L, "the stream was closed while it waited");
  iblai_transfer *t = b->t[b->first];
  lua_pushinteger(L, ++st->delivered);
  int n;
  if (iblai_transfer_succeeded(t)) {
    iblai_push_response(L, t);
    n = 2;
  } else {
    lua_pushnil(L);
    iblai_push_failure(L, t);
    n = 3;
  }
  b->t[b->first++] = NULL;
  iblai_transfer_free(b->s, t);
  return n;
}

static int stream_pending(lua_State *L) {
  stream *st = luaL_checkudata(L, 1, IBLAI_STREAM_MT);
  lua_pushinteger(L, st->b ? st->b->n - st->b->first : 0);
  return 1;
}

/* __gc: an unreachable stream is never the one a transfer loop is running, so it can go. */
static int stream_gc(lua_State *L) {
  stream *st = luaL_checkudata(L, 1, IBLAI_STREAM_MT);
  iblai_batch_free(st->b);
  return 0;
}

/* close and __close: stop every transfer still in flight (not from a hook mid-request). */
static int stream_close(lua_State *L) {
  stream *st = luaL_checkudata(L, 1, IBLAI_STREAM_MT);
  if (st->b && st->b->s->busy) return luaL_error(L, "cannot close an iblai.Stream from inside a request");
  return stream_gc(L);
}

void iblai_stream_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"add", stream_add},         {"next", stream_next},
                                     {"pending", stream_pending}, {"close", stream_close},
                                     {NULL, NULL}};
  if (luaL_newmetatable(L, IBLAI_STREAM_MT)) {
    lua_pushcfunction(L, stream_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, stream_close);
    lua_setfield(L, -2, "__close");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}
