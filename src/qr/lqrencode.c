/* mtproto.qrencode: the QR code of a login link, through libqrencode (optional: built only
 * where qrencode.h is found; the `mtproto` command prints the link when it is missing).
 *
 *   size, modules = qrencode.encode(text)
 *
 * `modules` holds size*size bytes, row by row, "1" for a dark module and "0" for a light
 * one; the quiet zone is the caller's (lua/mtproto/qr.lua draws it). Error correction is
 * level M, as Telegram's apps use for login tokens. */
#include <errno.h>
#include <string.h>
#include <qrencode.h>
#include <lua.h>
#include <lauxlib.h>

static int l_encode(lua_State *L)
{
    size_t n;
    const char *text = luaL_checklstring(L, 1, &n);
    if (n == 0 || strlen(text) != n) return luaL_argerror(L, 1, "expected a non-empty string without NUL bytes");
    QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (!qr) {
        lua_pushnil(L);
        lua_pushstring(L, errno == ERANGE ? "the text is too long for a QR code" : strerror(errno));
        return 2;
    }
    int w = qr->width;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, (size_t)w * (size_t)w);
    for (int i = 0; i < w * w; i++) out[i] = (qr->data[i] & 1) ? '1' : '0';
    QRcode_free(qr);
    luaL_pushresultsize(&b, (size_t)w * (size_t)w);
    lua_pushinteger(L, w);
    lua_insert(L, -2); /* size, modules */
    return 2;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((visibility("default")))
#endif
int luaopen_mtproto_qrencode(lua_State *L)
{
    luaL_Reg fns[] = { { "encode", l_encode }, { NULL, NULL } };
    luaL_newlib(L, fns);
    return 1;
}
