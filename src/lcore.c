/* luaopen_mtproto_core: the C module `mtproto.core`. */
#include "lmt.h"
#include "mt_ids.h"

static const struct { const char *name; lua_CFunction open; } parts[] = {
    { "tl", mt_open_tl },
    { "crypto", mt_open_crypto },
    { "auth", mt_open_auth },
    { "transport", mt_open_transport },
    { "session", mt_open_session },
    { "conn", mt_open_conn },
    { "srp", mt_open_srp },
    { "file", mt_open_file },
    { "link", mt_open_link },
    { "proxy", mt_open_proxy },
    { "seal", mt_open_seal },
};

#if defined(__GNUC__) || defined(__clang__)
__attribute__((visibility("default")))
#endif
int luaopen_mtproto_core(lua_State *L)
{
    lua_createtable(L, 0, (int)(sizeof parts / sizeof parts[0]) + 2);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        lua_pushcfunction(L, parts[i].open);
        lua_call(L, 0, 1);
        lua_setfield(L, -2, parts[i].name);
    }
    lua_pushliteral(L, MTPROTO_VERSION);
    lua_setfield(L, -2, "VERSION");
    lua_pushinteger(L, MT_LAYER); /* the built-in schema's (tl.layer follows a tl.load) */
    lua_setfield(L, -2, "LAYER");
    return 1;
}
