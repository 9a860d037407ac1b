#include "mt_err.h"

const char *mt_strerror(int code)
{
    switch (code) {
    case MT_OK: return "success";
    case MT_ERR_NOMEM: return "out of memory";
    case MT_ERR_TRUNCATED: return "input is truncated";
    case MT_ERR_RANGE: return "length or count out of range";
    case MT_ERR_ARG: return "invalid argument";
    case MT_ERR_CRYPTO: return "cryptographic library failure";
    case MT_ERR_PROTO: return "protocol violation";
    case MT_ERR_AUTH_KEY_ID: return "wrong auth_key_id";
    case MT_ERR_MSG_KEY: return "msg_key mismatch";
    case MT_ERR_SESSION_ID: return "wrong session_id";
    case MT_ERR_MSG_ID: return "bad msg_id";
    case MT_ERR_REPLAY: return "replayed msg_id";
    case MT_ERR_GZIP: return "bad or oversized gzip data";
    case MT_ERR_TRANSPORT: return "transport error";
    case MT_ERR_FRAME: return "malformed transport frame";
    case MT_ERR_IO: return "socket error";
    case MT_ERR_TIMEOUT: return "timeout";
    case MT_ERR_CLOSED: return "connection closed";
    case MT_ERR_AGAIN: return "need more input";
    case MT_ERR_UNKNOWN_KEY: return "no known RSA key for the server's fingerprints";
    case MT_ERR_HANDSHAKE: return "auth key handshake failed";
    case MT_ERR_DEPTH: return "nesting too deep";
    case MT_ERR_PROXY_AUTH: return "the proxy refused the login";
    case MT_ERR_PROXY_REFUSED: return "the proxy refused the connection";
    case MT_ERR_PROXY_PROTO: return "the proxy broke its protocol";
    case MT_ERR_PROXY_SECRET: return "the proxy does not know the secret";
    case MT_ERR_SEAL_KEY: return "wrong passphrase or key";
    case MT_ERR_SEAL_AUTH: return "the encrypted data was altered";
    default: return "unknown error";
    }
}

int mt_is_fatal(int code)
{
    switch (code) {
    case MT_ERR_NOMEM: case MT_ERR_CRYPTO: case MT_ERR_TRANSPORT: case MT_ERR_FRAME:
    case MT_ERR_IO: case MT_ERR_CLOSED: case MT_ERR_AUTH_KEY_ID: case MT_ERR_HANDSHAKE:
    case MT_ERR_PROXY_AUTH: case MT_ERR_PROXY_REFUSED: case MT_ERR_PROXY_PROTO: case MT_ERR_PROXY_SECRET:
        return 1;
    default:
        return 0;
    }
}
