/* The Lua bindings of the core: one file per core object. Each mt_open_*
 * pushes one table of functions; lcore.c gathers them into `mtproto.core`. */
#ifndef LMT_H
#define LMT_H

#include <lua.h>
#include <lauxlib.h>
#include "mt_buf.h"
#include "mt_crypto.h"
#include "mt_link.h"

int mt_open_tl(lua_State *L);        /* ltl.c: schema registry and TL codec */
int mt_open_crypto(lua_State *L);    /* lcrypto.c: hashes, AES-IGE, message keys, RSA */
int mt_open_auth(lua_State *L);      /* lauth.c: handshake client and server objects */
int mt_open_transport(lua_State *L); /* ltransport.c: transport framing objects */
int mt_open_session(lua_State *L);   /* lsession.c: the sans-IO session object */
int mt_open_srp(lua_State *L);       /* lsrp.c: two-step verification (SRP) */
int mt_open_file(lua_State *L);      /* lfile.c: session-file reads, atomic writes, locks */
int mt_open_conn(lua_State *L);      /* lconn.c: the socket shell of a link */
int mt_open_link(lua_State *L);      /* llink.c: the sans-IO connection object */
int mt_open_proxy(lua_State *L);     /* lproxy.c: SOCKS5 and fake-TLS stages */
int mt_open_seal(lua_State *L);      /* lseal.c: encrypted session files */

/* The package's version: mtproto.VERSION (core.VERSION) and initConnection's app_version by
 * default; the rockspecs name it too. */
#define MTPROTO_VERSION "0.2.0"

/* ---- helpers shared by the bindings (lmt_util.c) ---- */

/* Fixed random bytes handed out in order (specs replay exchanges with them); running
 * short fails the draw with MT_ERR_ARG and sets `exhausted`. */
typedef struct lmt_replay {
    const uint8_t *p;
    size_t len, pos;
    int exhausted;
} lmt_replay;

/* Points rep at p[0..len) (the caller keeps the string alive) and returns the source. */
mt_random lmt_replay_init(lmt_replay *rep, const char *p, size_t len);
/* options.random of the table at index opts: nil -> 0; a string -> rep (and *rnd unless
 * NULL) replay it, the string is anchored as user value 1 of the userdata at index ud, 1;
 * anything else raises luaL_argerror(L, arg, msg). */
int lmt_opt_random(lua_State *L, int opts, int ud, lmt_replay *rep, mt_random *rnd, int arg,
                   const char *msg);

/* Registers the metatable `name` (once per state) with `methods` as __index (NULL: none),
 * `close` as both __gc and __close (NULL: none; it must be idempotent) and `tostring`.
 * Leaves the metatable on the stack; returns 1 if it was created now, 0 if it existed. */
int lmt_new_type(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close,
                 lua_CFunction tostring);
/* Pushes a zeroed userdata of `size` bytes with `nuv` user values and the metatable tname
 * (registered by lmt_new_type); returns it. A zeroed object is a closed one until its
 * constructor has acquired everything. */
void *lmt_new_object(lua_State *L, size_t size, int nuv, const char *tname);

/* Runtime failures of the bindings, all in one shape: pushes nil and the table
 * { code = <integer: an MT_ERR_* code, or the server's error code>, message = <string: an
 * UPPER_CASE name, mt_err_name(code) when NULL>, detail = <string: English text,
 * mt_strerror(code) when NULL> }; returns 2 (the count pushed). A binding may add fields to
 * the table (at the stack top) before returning. mtproto.errors.from_conn turns it into an
 * mtproto.Error. Misuse raises instead (luaL_error, luaL_argerror). */
int lmt_fail(lua_State *L, int code, const char *message, const char *detail);
/* The same with a message of mlen bytes (the server's error text). */
int lmt_fail_l(lua_State *L, int code, const char *message, size_t mlen, const char *detail);
/* nil and the error of a libcrypto that cannot hash (CRYPTO_FAILED); returns 2. */
int lmt_crypto_failed(lua_State *L);
/* Pushes the bytes of b as a string (empty if it never grew), frees b; returns 1. */
int lmt_push_buf(lua_State *L, mt_buf *b);

/* The string argument i, which must be `want` bytes long ("<what> must be N bytes, got M"
 * raised otherwise). */
const uint8_t *lmt_check_len(lua_State *L, int i, size_t want, const char *what);

/* The MTProto 2.0 direction argument at index i: 0 (client to server) or 8; raises otherwise. */
int lmt_check_x(lua_State *L, int i);

/* ---- the link's options, shared by core.link and core.conn (llink.c) ---- */

/* Reads the link options of the table at index t (dc_id, transport, rsa_keys, auth_key,
 * salt, time_offset, timeout, connect_timeout, init) into cfg and init (strings and key
 * arrays stay anchored on the stack and in the table: keep both until mt_link_new), then
 * the state's shared objects (lmt_link_shared); raises luaL_argerror(L, t, ...) on a bad
 * option. Returns lmt_link_shared's result: report it once the caller's own options are
 * checked too (misuse raises first). */
int lmt_link_options(lua_State *L, int t, mt_link_config *cfg, mt_session_init *init);
/* initConnection's parameters, the same for core.link, core.conn and core.session (and so a
 * client): the defaults (the schema's layer MT_LAYER, device_model "lua-mtproto",
 * system_version the Lua version, app_version MTPROTO_VERSION, languages "en", lang_pack "",
 * api_id 0), then what the field `init` of the options at index t gives (strings stay
 * anchored by it); raises luaL_argerror(L, t, ...) on a bad field. Returns whether there is
 * an `init` (init->enabled is set either way). */
int lmt_init_options(lua_State *L, int t, mt_session_init *init);
/* State shared by the links of one Lua state (lshared.c): sets cfg->cc, cfg->pool,
 * cfg->scratch and cfg->rsa_keys (the set of cfg->rsa_pems, or the built-in keys) to objects kept in the
 * registry, made on first use (mt_link_new takes its own references). Raises
 * luaL_argerror(L, t, ...) on a bad PEM. MT_OK, or MT_ERR_CRYPTO (nothing set) when libcrypto
 * cannot hash: lmt_crypto_failed pushes its error. */
int lmt_link_shared(lua_State *L, int t, mt_link_config *cfg);
/* A call's outcome (mt_session_take's st, data, len, code): pushes the answer bytes (1), or
 * nil and { code =, message =, detail = } (2), or false when still pending (1). */
int lmt_push_answer(lua_State *L, int st, const uint8_t *d, size_t n, int32_t code);

/* ---- one blocking call for tl.call (lconn.c) ---- */

/* An answer's bytes: in `small` when they fit, else in a string on the Lua stack. */
typedef struct lmt_answer {
    const uint8_t *p;
    size_t n;
    uint8_t small[512];
} lmt_answer;
/* conn:call's round trip for the connection at index 1 with the request's bytes given in C
 * (encoded from argument body_arg): sends, waits until the call's deadline (the seconds at
 * index timeout_arg, as conn:call's argument 3; nil: the connection's) and gives the request
 * up. Returns 0 with the answer in a (in a->small), -1 with it in a string pushed on the stack,
 * or the count of values pushed for a failure (nil, err as conn:call). Misuse raises as
 * conn:call does. The log lines wait for lmt_conn_deliver. */
int lmt_conn_call(lua_State *L, const void *conn_type, const uint8_t *body, size_t n, int body_arg, int timeout_arg,
                  lmt_answer *a);
/* Pushes the metatable of core.conn's connections (made on first use); conn_type above is its
 * address (lua_topointer), kept by the caller: cheaper than luaL_checkudata's look-up by name. */
void lmt_push_conn_type(lua_State *L);
/* The end of such a call (after lmt_conn_call, with index 1 unchanged): hands the log lines to the logger; the nret values on the stack
 * stand unless a logger closed the connection (then nil, CLOSED). Returns the count. */
int lmt_conn_deliver(lua_State *L, int nret);
/* Pushes nil and the link's last error as { code =, message =, detail = }; returns 2. */
int lmt_push_link_error(lua_State *L, const mt_link *l, int rc);
/* Pushes the state table of conn:state() / link:state(). */
void lmt_push_link_state(lua_State *L, mt_link *l);

#endif
