/* The Lua bindings of the core: one file per core object. Each mt_open_*
 * pushes one table of functions; lcore.c gathers them into `mtproto.core`. */
#ifndef LMT_H
#define LMT_H

#include <lua.h>
#include <lauxlib.h>

int mt_open_tl(lua_State *L);        /* ltl.c: schema registry and TL codec */
int mt_open_crypto(lua_State *L);    /* lcrypto.c: hashes, AES-IGE, message keys, RSA */
int mt_open_auth(lua_State *L);      /* lauth.c: handshake client and server objects */
int mt_open_transport(lua_State *L); /* ltransport.c: transport framing objects */
int mt_open_session(lua_State *L);   /* lsession.c: the sans-IO session object */
int mt_open_conn(lua_State *L);      /* lconn.c: the TCP driver */

#endif
