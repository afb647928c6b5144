/* iblai.httpd: the libmicrohttpd server module (tests and the sandbox; not in libiblai). */
#ifndef IBLAI_HTTPD_H
#define IBLAI_HTTPD_H
#include <lua.h>
int luaopen_iblai_httpd(lua_State *L);
/* httpd_os.c: durable file writes and background start, added to the module's table on the stack. */
void iblai_httpd_os_funcs(lua_State *L);
/* httpd_json.c: encode_json, the sandbox's JSON writer (sorted keys), added the same way. */
void iblai_httpd_json_funcs(lua_State *L);
#endif
