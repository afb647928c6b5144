/* iblai.httpd: the libmicrohttpd server module (tests and the sandbox; not in libiblai). */
#ifndef IBLAI_HTTPD_H
#define IBLAI_HTTPD_H
#include <lua.h>
int luaopen_iblai_httpd(lua_State *L);
#endif
