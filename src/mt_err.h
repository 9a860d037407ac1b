/* Error codes of the Lua-free core.
 *
 * Every mt_* function that can fail returns an int: >= 0 is success (often a
 * byte count), a negative MT_ERR_* value is a failure. mt_strerror() gives a
 * short fixed English text for a code; the caller adds context. */
#ifndef MT_ERR_H
#define MT_ERR_H

enum {
    MT_OK = 0,
    MT_ERR_NOMEM = -1,        /* allocation failed */
    MT_ERR_TRUNCATED = -2,    /* input ends before the value does */
    MT_ERR_RANGE = -3,        /* a length or count is out of range */
    MT_ERR_ARG = -4,          /* invalid argument from the caller */
    MT_ERR_CRYPTO = -5,       /* OpenSSL failed */
    MT_ERR_PROTO = -6,        /* the peer broke the protocol */
    MT_ERR_AUTH_KEY_ID = -7,  /* wrong auth_key_id on an encrypted packet */
    MT_ERR_MSG_KEY = -8,      /* msg_key does not match the plaintext */
    MT_ERR_SESSION_ID = -9,   /* wrong session_id */
    MT_ERR_MSG_ID = -10,      /* bad msg_id (parity, too old, too new) */
    MT_ERR_REPLAY = -11,      /* msg_id seen before */
    MT_ERR_GZIP = -12,        /* gzip data is corrupt or inflates too large */
    MT_ERR_TRANSPORT = -13,   /* the transport reported an error code */
    MT_ERR_FRAME = -14,       /* a transport frame is malformed */
    MT_ERR_IO = -15,          /* socket error */
    MT_ERR_TIMEOUT = -16,     /* deadline passed */
    MT_ERR_CLOSED = -17,      /* peer closed the connection */
    MT_ERR_AGAIN = -18,       /* need more input: call again */
    MT_ERR_UNKNOWN_KEY = -19, /* no RSA key matches the server's fingerprints */
    MT_ERR_HANDSHAKE = -20,   /* a handshake check failed (see the detail text) */
    MT_ERR_DEPTH = -21,       /* nesting too deep */
    MT_ERR_PROXY_AUTH = -22,  /* the proxy refused our login (SOCKS5 username/password) */
    MT_ERR_PROXY_REFUSED = -23, /* the proxy could not or would not reach the DC */
    MT_ERR_PROXY_PROTO = -24, /* the proxy's answer is not the protocol it should speak */
    MT_ERR_PROXY_SECRET = -25,/* the MTProxy does not know our secret (its digest differs) */
    MT_ERR_SEAL_KEY = -26,    /* a sealed file was made with another passphrase or key */
    MT_ERR_SEAL_AUTH = -27,   /* a sealed file or AEAD message was altered (the tag fails) */
};

const char *mt_strerror(int code);
/* The UPPER_CASE name of a code ("NETWORK_ERROR", "TIMEOUT"...), the `message` of the Lua
 * bindings' error tables; names the Lua error layer knows where one fits. */
const char *mt_err_name(int code);

/* Fatal errors end the connection; others concern one message or call. */
int mt_is_fatal(int code);

#endif
