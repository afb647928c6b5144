/* Streams: requests added one at a time, kept in flight (up to a concurrency) on the session's
 * multi handle between calls, and answered strictly in the order they were added. The pager
 * and call_many use one, so later requests download while the caller works on earlier answers. */
#include "internal.h"

typedef struct {
  iblai_group *g;        /* NULL once closed (by close, or by the session closing) */
  int bodies;            /* answers are bodies, as client:call returns them, not responses */
  lua_Integer delivered; /* answers handed out so far */
  lua_Integer added;
} stream;

static stream *check_stream(lua_State *L) {
  stream *st = luaL_checkudata(L, 1, IBLAI_STREAM_MT);
  if (!st->g) iblai_misuse(L, "attempt to use a closed iblai.Stream");
  return st;
}

static int read_concurrency(lua_State *L, int idx, int fallback) {
  if (lua_isnoneornil(L, idx)) return fallback;
  lua_getfield(L, idx, "concurrency");
  int isint = 0;
  lua_Integer c = lua_isnil(L, -1) ? fallback : lua_tointegerx(L, -1, &isint);
  if (!lua_isnil(L, -1) && (!isint || lua_type(L, -1) != LUA_TNUMBER || c < 1 || c > 1000))
    iblai_misuse(L, "concurrency must be a whole number from 1 to 1000, got %s", luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
  return (int)c;
}

/* session:stream{concurrency = n, bodies = false} */
int iblai_stream_new(lua_State *L) {
  iblai_session *s = iblai_check_session(L, 1);
  if (!lua_isnoneornil(L, 2) && !lua_istable(L, 2)) iblai_misuse(L, "stream options must be a table");
  int concurrency = read_concurrency(L, 2, (int)s->concurrency);
  int bodies = 0;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "bodies");
    bodies = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  stream *st = lua_newuserdatauv(L, sizeof *st, 1);
  st->g = NULL;
  st->bodies = bodies;
  st->delivered = st->added = 0;
  luaL_setmetatable(L, IBLAI_STREAM_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1); /* the session outlives its streams */
  if (!iblai_group_new(s, concurrency, &st->g)) return luaL_error(L, "out of memory");
  return 1;
}

/* stream:add(request) -> ticket. With a free slot the request goes out now, so it downloads
 * while the caller works; otherwise it starts when an earlier one finishes. */
static int stream_add(lua_State *L) {
  stream *st = check_stream(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  iblai_session *s = st->g->s;
  lua_getiuservalue(L, 1, 1); /* the stream's session */
  iblai_enter(L, s, 3, 0);
  iblai_transfer *t = iblai_transfer_read(L, s, 2);
  if (!st->g) { /* closed by a finalizer while the request was read */
    iblai_transfer_free(s, t);
    return iblai_misuse(L, "the iblai.Stream was closed while a request was added");
  }
  iblai_group_add(L, st->g, t);
  iblai_group_kick(st->g);
  lua_pushinteger(L, ++st->added);
  return 1;
}

/* stream:next() -> ticket, response (or body) | ticket, nil, err | nothing when none is pending */
static int stream_next(lua_State *L) {
  stream *st = check_stream(L);
  iblai_group *g = st->g;
  if (g->first == g->n) return 0;
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1); /* the stream's session */
  iblai_enter(L, g->s, 2, 1);
  if (st->g != g) return iblai_misuse(L, "the iblai.Stream was closed by a __close method a coroutine's reset ran");
  iblai_group_run(L, g, g->first);
  iblai_transfer *t = g->t[g->first];
  lua_pushinteger(L, ++st->delivered);
  int n = iblai_transfer_push(L, t, st->bodies);
  if (n == 1) lua_pushnil(L); /* ticket, response, nil: the same shape every time */
  g->t[g->first++] = NULL;
  iblai_transfer_free(g->s, t);
  return 3;
}

/* __gc, __close and close: stop every request still in flight. Closed from inside a hook, the
 * group is only cancelled, and freed once the loop is done with it. */
static int stream_close(lua_State *L) {
  stream *st = luaL_checkudata(L, 1, IBLAI_STREAM_MT);
  if (st->g && st->g->s->driving == st->g)
    return iblai_misuse(L, "cannot close an iblai.Stream from a hook while it waits for its own answer");
  iblai_group_free(st->g);
  return 0;
}

void iblai_stream_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"add", stream_add}, {"next", stream_next}, {"close", stream_close}, {NULL, NULL}};
  if (luaL_newmetatable(L, IBLAI_STREAM_MT)) {
    lua_pushcfunction(L, stream_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, stream_close);
    lua_setfield(L, -2, "__close");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}
