/* Lua binding: mtproto.core.tl (placeholder until its issue lands). */
#include "lmt.h"

int mt_open_tl(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
