/* Lua binding: mtproto.core.conn (placeholder until its issue lands). */
#include "lmt.h"

int mt_open_conn(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
