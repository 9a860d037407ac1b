/* SOCKS5 client (RFC 1928, with the username/password login of RFC 1929), sans-IO.
 *
 * The exchange, client bytes left, proxy bytes right:
 *
 *   05 n m1..mn                        greeting: n methods (00 none, 02 username/password)
 *                        05 m          the method chosen (ff: none acceptable)
 *   01 ulen user plen pass             (method 02 only)
 *                        01 st         st 00: logged in
 *   05 01 00 atyp addr port            CONNECT: atyp 01 IPv4 (4), 04 IPv6 (16), 03 name (len + bytes)
 *                        05 rep 00 atyp addr port   rep 00: connected
 *
 * Everything after the last reply belongs to the tunnelled stream. The DC
 * address is sent as given: an IPv4 or IPv6 literal as such, anything else as
 * a name the proxy resolves. */
#ifndef MT_SOCKS5_H
#define MT_SOCKS5_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"

typedef struct mt_socks5 mt_socks5;

/* A client that will ask the proxy to CONNECT host:port. `user`/`pass` (each
 * 1..255 bytes) together, or both NULL for no login. All strings are copied.
 * NULL with *err = MT_ERR_ARG (empty or too long host/user/pass, bad port) or
 * MT_ERR_NOMEM. */
mt_socks5 *mt_socks5_new(const char *host, int port, const char *user, const char *pass, int *err);

/* Appends the greeting to `out`. Call once, first. MT_OK or MT_ERR_NOMEM. */
int mt_socks5_start(mt_socks5 *s, mt_buf *out);

/* Feeds proxy bytes; appends to `out` what must be sent next. Sets *used to
 * the bytes of `in` that belonged to SOCKS5 (the rest, after success, is the
 * tunnelled stream's). Returns 1 when connected, 0 when more input is needed,
 * or a negative code (sticky):
 *   MT_ERR_PROXY_AUTH     no acceptable method (login needed or refused), bad login
 *   MT_ERR_PROXY_REFUSED  a CONNECT reply other than 00 (mt_socks5_reply() gives it)
 *   MT_ERR_PROXY_PROTO    not a SOCKS5 answer
 *   MT_ERR_NOMEM */
int mt_socks5_feed(mt_socks5 *s, const uint8_t *in, size_t n, mt_buf *out, size_t *used);

/* The proxy's CONNECT reply code (0 until one came). */
int mt_socks5_reply(const mt_socks5 *s);
/* Static English text for a CONNECT reply code ("connection refused", ...). */
const char *mt_socks5_reply_text(int rep);

/* Wipes the login and frees; NULL is fine. */
void mt_socks5_free(mt_socks5 *s);

#endif
