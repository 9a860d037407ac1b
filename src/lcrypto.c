/* Lua binding: mtproto.core.crypto (placeholder until its issue lands). */
#include "lmt.h"

int mt_open_crypto(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
