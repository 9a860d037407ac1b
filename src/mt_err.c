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

const char *mt_err_name(int code)
{
    switch (code) {
    case MT_OK: return "OK";
    case MT_ERR_NOMEM: return "OUT_OF_MEMORY";
    case MT_ERR_TRUNCATED: return "INPUT_TRUNCATED";
    case MT_ERR_RANGE: return "OUT_OF_RANGE";
    case MT_ERR_ARG: return "INVALID_ARGUMENT";
    case MT_ERR_CRYPTO: return "CRYPTO_FAILED";
    case MT_ERR_PROTO: return "PROTOCOL_ERROR";
    case MT_ERR_AUTH_KEY_ID: return "AUTH_KEY_ID_INVALID";
    case MT_ERR_MSG_KEY: return "MSG_KEY_INVALID";
    case MT_ERR_SESSION_ID: return "SESSION_ID_INVALID";
    case MT_ERR_MSG_ID: return "MSG_ID_INVALID";
    case MT_ERR_REPLAY: return "MSG_ID_REPLAYED";
    case MT_ERR_GZIP: return "GZIP_INVALID";
    case MT_ERR_TRANSPORT: return "TRANSPORT_ERROR";
    case MT_ERR_FRAME: return "FRAME_INVALID";
    case MT_ERR_IO: return "NETWORK_ERROR";
    case MT_ERR_TIMEOUT: return "TIMEOUT";
    case MT_ERR_CLOSED: return "CONNECTION_CLOSED";
    case MT_ERR_AGAIN: return "NEED_MORE_INPUT";
    case MT_ERR_UNKNOWN_KEY: return "RSA_KEY_UNKNOWN";
    case MT_ERR_HANDSHAKE: return "HANDSHAKE_FAILED";
    case MT_ERR_DEPTH: return "NESTING_TOO_DEEP";
    case MT_ERR_PROXY_AUTH: return "PROXY_AUTH_FAILED";
    case MT_ERR_PROXY_REFUSED: return "PROXY_REFUSED";
    case MT_ERR_PROXY_PROTO: return "PROXY_PROTOCOL_ERROR";
    case MT_ERR_PROXY_SECRET: return "PROXY_SECRET_INVALID";
    case MT_ERR_SEAL_KEY: return "SEAL_KEY_INVALID";
    case MT_ERR_SEAL_AUTH: return "SEAL_ALTERED";
    default: return "UNKNOWN_ERROR";
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
