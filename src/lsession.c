/* Lua binding: mtproto.core.session (placeholder until its issue lands). */
#include "lmt.h"

int mt_open_session(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
