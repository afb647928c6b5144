/* luaopen_iblai_core: the iblai.core module table. */
#include <pthread.h>
#include "internal.h"
#include "iblai.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static int core_now(lua_State *L) {
  lua_pushnumber(L, iblai_now());
  return 1;
}

int luaopen_iblai_core(lua_State *L) {
  pthread_once(&global_once, global_init); /* curl_global_init is not thread-safe on its own */
  if (global_rc != CURLE_OK) return luaL_error(L, "libcurl failed to initialise: %s", curl_easy_strerror(global_rc));
  static const luaL_Reg funcs[] = {
    {"session", iblai_session_new}, {"error", iblai_error_new},       {"escape", iblai_url_escape},
    {"origin", iblai_url_origin},   {"integralize", iblai_integralize}, {"now", core_now},
    {NULL, NULL}};
  iblai_error_open(L);
  iblai_batch_open(L);
  iblai_stream_open(L);
  iblai_session_open(L);
  luaL_newlib(L, funcs);
  lua_pushliteral(L, IBLAI_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  luaL_getmetatable(L, IBLAI_ERROR_MT);
  lua_setfield(L, -2, "Error");
  return 1;
}

void iblai_set_interrupt_flag(lua_State *L, volatile sig_atomic_t *flag) {
  lua_pushlightuserdata(L, (void *)flag);
  lua_setfield(L, LUA_REGISTRYINDEX, IBLAI_INTERRUPT_KEY);
}
