/* Lua binding: mtproto.core.auth (placeholder until its issue lands). */
#include "lmt.h"

int mt_open_auth(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
