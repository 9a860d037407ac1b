/* Lua binding: mtproto.core.transport (placeholder until its issue lands). */
#include "lmt.h"

int mt_open_transport(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
