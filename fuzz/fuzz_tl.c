/* libFuzzer target: the TL decoder on the full layer-223 schema, through the
 * same Lua binding users call (tl.decode and tl.decode_result). Any input must
 * give an object or `nil, err`: never a crash, a read out of bounds or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

int luaopen_mtproto_core(lua_State *L);

static lua_State *fuzz_state(void)
{
    static lua_State *L; /* one interpreter per fuzzing process */
    if (!L) {
        L = luaL_newstate();
        luaL_openlibs(L);
        luaopen_mtproto_core(L);
        lua_getfield(L, -1, "tl");
        lua_setglobal(L, "tl");
        lua_settop(L, 0);
    }
    return L;
}

/* Methods whose answers need the method to decode (bare vectors of ints/longs). */
static const char *const methods[] = { NULL, "auth.resendCode", "messages.getMessagesViews",
                                       "contacts.getContactIDs", "help.getConfig" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = fuzz_state();
    if (size < 1) return 0;
    const char *method = methods[data[0] % (sizeof methods / sizeof methods[0])];
    lua_getglobal(L, "tl");
    lua_getfield(L, -1, method ? "decode_result" : "decode");
    int nargs = 1;
    if (method) { lua_pushstring(L, method); nargs = 2; }
    lua_pushlstring(L, (const char *)data + 1, size - 1);
    if (lua_pcall(L, nargs, 2, 0) != LUA_OK) {
        /* decode never raises on bad bytes: that would be a bug */
        __builtin_trap();
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
