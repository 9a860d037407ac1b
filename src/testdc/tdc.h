/* mtproto-testdc: the local test DC. Internal header shared by the files of src/testdc.
 *
 *   tdc_main.c   command line, RSA key, start-up JSON line
 *   tdc_net.c    the sockets: listeners, the loop (io_uring or epoll), timers (no protocol)
 *   tdc_ring.c   the loop's io_uring (raw system calls)
 *   tdc_conn.c   one connection's protocol, sans-IO: transport, MTProxy front, handshake,
 *                encrypted sessions, service messages
 *   tdc_fault.c  the fault hooks (--fault): what a broken or hostile server does
 *   tdc_api.c    the API entry: wrappers (invokeWithLayer, initConnection), help.*, dispatch
 *   tdc_login.c  the login states: test numbers, codes, email, sign-up, future auth tokens,
 *                QR login tokens, who is signed in on each auth key
 *   tdc_password.c two-step verification: the password accounts, SRP checked on the server side
 *   tdc_store.c  the shared state: login codes (per phone_code_hash) and auth keys
 *   tdc_updates.c  accounts and their updates: getState, getDifference, sendMessage, pushes
 *   tdc_pfs.c    temporary keys: auth.bindTempAuthKey checked, unbound keys limited
 *
 * Everything lives in one tdc_server: there is no global mutable state. Time is
 * passed in as `now_ms` (wall clock + the clock_offset fault, in milliseconds). */
#ifndef TDC_H
#define TDC_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"
#include "mt_map.h"
#include "mt_msg.h"
#include "mt_rsa.h"

#define TDC_MAX_DCS 5
#define TDC_CODE_LEN 5
#define TDC_HASH_LEN 32           /* phone_code_hash: 16 random bytes in hex */
#define TDC_PHONE_MAX 15
#define TDC_FLOOD_MAX 64
#define TDC_EMAIL_MAX 64
enum { TDC_EMAIL_NONE, TDC_EMAIL_SETUP, TDC_EMAIL_SETUP_SENT, TDC_EMAIL_CODE };

/* Fault switches (--fault NAME[=N]). */
typedef struct tdc_faults {
    int bad_salt;        /* a new key starts with a salt the client does not know */
    int new_session;     /* every answer goes in a container after a new_session_created */
    int gzip;            /* answers are gzip_packed */
    int update_first;    /* an updatesTooLong (msg_id 3 mod 4) is pushed before each answer */
    int garbage;         /* a packet that fails msg_key checks is sent before each answer */
    int64_t clock_offset;/* seconds added to the server clock */
    int delay_ms;        /* answers are written this long after the request arrived */
    int drop_after;      /* close a session's first connection after N received messages */
    int strict_seqno;    /* a msgs_ack with an odd seqno gets bad_msg_notification 34 (Telegram
                          * accepts it, and clients rely on that) */
    /* hostile servers (for the hardening specs); the once-per-session ones keep the answers
     * in the dedup store, so a client that reconnects and re-sends gets them */
    int replay;          /* the previous answer packet, byte for byte, before each answer */
    int nested;          /* a container inside a container (holding an rpc_error 500
                          * NESTED_CONTAINER_ACCEPTED for the request) before each answer */
    int gzip_bomb;       /* once per session: an rpc_result for the request whose gzip_packed
                          * inflates past 16 MiB, before the answer */
    int huge_frame;      /* once per session: a frame header claiming 32 MiB, then close
                          * (not on obfuscated connections) */
    int stall_after;     /* once per session: after N messages, answer nothing more on that connection */
    int cut_after;       /* once per session: after N messages, half of the answer frame, then close */
    int skip_pts;        /* every Nth update of the push timer is logged but not pushed (a gap) */
} tdc_faults;

typedef struct tdc_config {
    const char *host;        /* IPv4 listen address, default 127.0.0.1 */
    const char *host6;       /* IPv6 listen address, default ::1 ("" disables) */
    int port;                /* first port; 0 = any free port */
    int ndcs;                /* number of DCs, 1..TDC_MAX_DCS */
    int code_lifetime;       /* seconds a phone_code_hash stays valid (default 300) */
    int resend_timeout;      /* auth.sentCode.timeout (default 120) */
    int flood_limit;         /* resendCode calls per hash per second before 420; 0 = off */
    int qr_lifetime;         /* seconds a QR login token stays valid (default 30) */
    int temp_key_ttl;        /* temporary keys live at most this many seconds (0: their expires_in) */
    const char *qr_auto_accept; /* a test number whose account accepts every QR token at once, or NULL */
    int verbose;
    int push_ms;             /* --push-updates: a new update for each online account every N ms; 0 = off */
    int diff_slice;          /* --diff-slice: updates per updates.getDifference answer (default 100) */
    tdc_faults faults;
    int mtproxy;             /* an MTProxy listener too (--mtproxy SECRET) */
    int mtproxy_any_hello;   /* --mtproxy-any-hello: fake-TLS hellos of any record size, not only 16 03 01 02 */
    uint8_t mtproxy_secret[16];
    int no_io_uring;         /* --no-io-uring: the epoll loop even where io_uring works */
} tdc_config;

/* ---- the login store (tdc_store.c) ------------------------------------ */
typedef struct tdc_login {
    struct tdc_login *next;
    char hash[TDC_HASH_LEN + 1];
    char phone[TDC_PHONE_MAX + 1];   /* digits only */
    int step;                        /* 0 App, 1 Sms, 2 Call, 3 FlashCall */
    int verified;                    /* the code was right: auth.signUp may follow */
    int email;                       /* the email states: TDC_EMAIL_* */
    char email_addr[TDC_EMAIL_MAX + 1];
    int64_t reset_ms;                /* auth.resetLoginEmail: when the reset happens (0: none asked) */
    int64_t sent_ms;                 /* when the current code was sent */
    int64_t calls[TDC_FLOOD_MAX];    /* ring of recent resendCode times */
    unsigned ncalls;
} tdc_login;

typedef struct tdc_logins {
    tdc_login **buckets;
    size_t nbuckets, count;
} tdc_logins;

int tdc_logins_init(tdc_logins *ls);
void tdc_logins_free(tdc_logins *ls);
tdc_login *tdc_logins_find(tdc_logins *ls, const char *hash, size_t hlen);
/* Adds a login with a fresh random hash; NULL on allocation failure. */
tdc_login *tdc_logins_add(tdc_logins *ls, const char *phone, int64_t now_ms, int64_t lifetime_ms,
                          const mt_random *rnd);
void tdc_logins_remove(tdc_logins *ls, tdc_login *l);

/* ---- auth keys and sessions (tdc_store.c) ------------------------------ */
#define TDC_DEDUP 256   /* answers remembered per session for re-sent requests */

typedef struct tdc_answer {
    int64_t req_msg_id;
    uint8_t *data;       /* the whole message body to re-send (a buffer the slot keeps) */
    size_t len, cap;     /* len 0: still running */
} tdc_answer;

enum { TDC_PUSH_LOGIN_TOKEN = 1 };     /* updateLoginToken: a QR token of the session was accepted */
enum { TDC_ONCE_STALL = 1, TDC_ONCE_CUT = 2, TDC_ONCE_HUGE = 4, TDC_ONCE_BOMB = 8 };

typedef struct tdc_session {
    struct tdc_session *next;
    int64_t session_id;
    uint32_t seq;                     /* content messages sent so far */
    unsigned nrecv;                   /* messages received (drop_after) */
    int dropped;                      /* drop_after already applied */
    unsigned once;                    /* TDC_ONCE_* faults already applied */
    unsigned push;                    /* TDC_PUSH_* updates to send on the next chance */
    tdc_answer dedup[TDC_DEDUP];      /* ring */
    unsigned dedup_pos;
    int64_t dedup_max;                /* no remembered req_msg_id is above it (0: none yet) */
    int dedup_any;
} tdc_session;

/* A login that got SESSION_PASSWORD_NEEDED on this key (tdc_password.c). */
typedef struct tdc_pw_state {
    char phone[TDC_PHONE_MAX + 1];   /* the account waiting for its password ("": none) */
    int64_t srp_id;                  /* the latest account.getPassword's srp_id (0: none or spent) */
    uint8_t b[256];                  /* its secret SRP exponent */
    int recovery;                    /* auth.requestPasswordRecovery was asked */
} tdc_pw_state;

typedef struct tdc_key {
    struct tdc_key *next;
    uint64_t id;
    int dc;
    uint8_t key[256];
    int64_t salt;
    tdc_session *sessions;
    int64_t user_id;                 /* the account signed in with this key (0: none) */
    int64_t expires_ms;              /* a temporary key: server time it expires (0: permanent) */
    uint64_t perm_id;                /* a temporary key: the permanent key it is bound to (0: none) */
    int dead;                        /* an expired temporary key: forgotten (-404 to its packets) */
    char phone[TDC_PHONE_MAX + 1];   /* its phone number ("" for a bot) */
    tdc_pw_state pw;                 /* a login waiting for the account's password */
} tdc_key;

typedef struct tdc_keys {
    mt_map by_id;                     /* auth_key_id -> tdc_key * (keys of other DCs in ->next) */
    size_t count;
} tdc_keys;

/* The live key (an expired temporary key is not found). */
tdc_key *tdc_keys_find(tdc_keys *ks, int dc, uint64_t id);
tdc_key *tdc_keys_add(tdc_keys *ks, int dc, const uint8_t key[256], int64_t salt);
void tdc_keys_free(tdc_keys *ks);
/* The session, created when missing (*created set to 1). NULL on allocation failure. */
tdc_session *tdc_session_get(tdc_key *k, int64_t session_id, int *created);
tdc_answer *tdc_session_seen(tdc_session *s, int64_t msg_id);
/* Records msg_id as received (answer pending). */
tdc_answer *tdc_session_remember(tdc_session *s, int64_t msg_id);
/* Keeps a copy of the answer (a content message) for re-sent requests; nothing is kept when
 * memory runs out (the request then counts as still running). */
void tdc_answer_keep(tdc_answer *a, const uint8_t *body, size_t len);

/* ---- QR login tokens and future auth tokens (tdc_login.c) ------------------ */
#define TDC_TOKEN_LEN 32
#define TDC_QR_MAX 64          /* live QR tokens (a ring: the oldest is reused) */
#define TDC_FUTURE_MAX 256     /* future auth tokens remembered (a ring) */

typedef struct tdc_qr {
    uint8_t token[TDC_TOKEN_LEN];
    int used;                        /* the slot holds a token */
    int dc;                          /* the exporter: DC, auth key, session */
    uint64_t key_id;
    uint64_t sess_key_id;            /* the key its session belongs to (a bound temporary key) */
    int64_t session_id;
    int64_t expires_ms;
    int64_t user_id;                 /* the account that accepted it (0: not yet) */
    int user_dc;
    char phone[TDC_PHONE_MAX + 1];
} tdc_qr;

typedef struct tdc_future {
    uint8_t token[TDC_TOKEN_LEN];
    char phone[TDC_PHONE_MAX + 1];   /* "" when the slot is empty */
} tdc_future;

/* ---- accounts and their updates (tdc_updates.c) ------------------------------ */
#define TDC_UPD_LOG 256        /* recent updates kept per account for updates.getDifference */
#define TDC_ACCOUNTS_MAX 4096

typedef struct tdc_upd {       /* one logged update: a new message, pts_count 1 */
    int32_t pts, date, id;     /* the pts after it, date, message id */
    int64_t peer;              /* the other side of the private chat (the account itself: saved messages) */
    int out;
    char *text;
    size_t len;
} tdc_upd;

/* An account (a user id signed in with some key): made on first use by an update method or
 * the push timer. */
typedef struct tdc_account {
    struct tdc_account *next;
    int64_t user_id;
    int32_t pts, qts, seq, date, last_msg_id;
    unsigned made;                       /* updates made by the push timer (skip_pts counts them) */
    unsigned tick;                       /* the push timer's last round for it */
    tdc_upd log[TDC_UPD_LOG];            /* by pts % TDC_UPD_LOG */
} tdc_account;

typedef struct tdc_conn tdc_conn;

/* ---- the server ---------------------------------------------------------- */
typedef struct tdc_server {
    tdc_config cfg;
    uint16_t ports[TDC_MAX_DCS + 1];   /* index = DC id */
    uint16_t ports6[TDC_MAX_DCS + 1];
    uint16_t mtproxy_port;
    tdc_logins logins;
    tdc_keys keys;
    mt_rsa_priv *rsa;
    int64_t rsa_fingerprint;
    mt_random rnd;
    mt_random_pool *pool;              /* padding and per-message randomness of every connection
                                        * (one thread: a shared 16 KiB pool refills least often) */
    mt_msgid_gen clock;                /* server msg_ids (time_offset = clock_offset) */
    mt_buf bomb;                       /* the gzip_bomb fault's gzip data, made on first use */
    tdc_qr qr[TDC_QR_MAX];
    unsigned qr_next;
    tdc_future future[TDC_FUTURE_MAX];
    unsigned future_next;
    uint8_t pw_v[256];                 /* the SRP verifier of the password accounts' password */
    int pw_v_ready;                    /* pw_v computed (on first use: one PBKDF2) */
    tdc_conn *conns;                   /* every open connection (pushes go through them) */
    tdc_account *accounts;
    size_t naccounts;
    unsigned ticks;                    /* rounds of the push timer */
} tdc_server;

/* ---- sockets and the event loop (tdc_net.c) --------------------------------------- */
typedef struct tdc_net tdc_net;
/* Listens for every DC (IPv4, and IPv6 unless cfg.host6 is ""; --port 0: free ports) and the
 * MTProxy, filling srv->ports, ports6 and mtproxy_port. NULL (said on stderr) on failure. */
tdc_net *tdc_net_listen(tdc_server *srv);
/* Serves until a signal on `sfd` (a signalfd), EOF on stdin (watch_stdin) or the end of
 * process parent_pid (0: none). 0, or -1 when the loop could not start. */
int tdc_net_run(tdc_net *n, int sfd, int watch_stdin, long parent_pid);
/* The loop tdc_net_run runs: "io_uring" or "epoll" (no usable io_uring, or --no-io-uring). */
const char *tdc_net_loop(const tdc_net *n);
/* Closes every connection and listener. NULL is fine. */
void tdc_net_free(tdc_net *n);

/* ---- the API (tdc_api.c, tdc_login.c) ------------------------------------------ */
/* One API call being answered: on DC `dc`, with auth key `key` in session `sess`. */
typedef struct tdc_call {
    tdc_server *srv;
    tdc_key *key;
    tdc_session *sess;
    int dc, layer;
    int64_t now_ms;
    mt_buf *out;
    int64_t msg_id;          /* the request's own msg_id */
    tdc_key *sess_key;       /* the key `sess` belongs to (a temporary key: not `key`) */
} tdc_call;

/* Appends rpc_error code message to c->out; returns 0 (the answer is an error). */
int tdc_fail(tdc_call *c, int code, const char *message);
void tdc_put_str(mt_buf *out, const char *s);
#define TDC_NOT_MINE (-1000)
/* Answers a login method (auth.*, account.sendVerifyEmailCode/verifyEmail); 1 result,
 * 0 rpc_error, TDC_NOT_MINE when `id` is none of them. */
int tdc_login_answer(tdc_call *c, uint32_t id, mt_reader *r);
/* Signs c->key in as the account of `phone` and appends its auth.authorization (with a
 * future auth token); returns 1. */
int tdc_signed_in(tdc_call *c, const char *phone, const char *first_name);
/* The number's login code (X five times for test numbers, else 12345) is code[0..n). */
int tdc_code_ok(const char *phone, const uint8_t *code, size_t n);
/* 1 for a password account (test number 99966X2YYY). */
int tdc_is_password_account(const char *phone);
/* Two-step verification (tdc_password.c): c->key now waits for the password of `phone`;
 * answers 401 SESSION_PASSWORD_NEEDED (returns 0). */
int tdc_password_needed(tdc_call *c, const char *phone);
/* Answers account.getPassword, auth.checkPassword, auth.requestPasswordRecovery,
 * auth.checkRecoveryPassword, auth.recoverPassword; TDC_NOT_MINE for any other id. */
int tdc_password_answer(tdc_call *c, uint32_t id, mt_reader *r);
/* Temporary keys (tdc_pfs.c). Answers auth.bindTempAuthKey, and refuses every method but the
 * bind, help.getConfig and help.getNearestDc over a temporary key not bound yet: 1 result,
 * 0 rpc_error, TDC_NOT_MINE when the call may go on. */
int tdc_pfs_answer(tdc_call *c, uint32_t id, mt_reader *r);
/* The key whose account a call acts for: the permanent key a temporary one is bound to, else
 * the key itself. */
tdc_key *tdc_pfs_account(tdc_server *srv, tdc_key *k);
/* Forgets a temporary key once the server clock passes its expiry; returns 1 then. */
int tdc_pfs_expire(tdc_key *k, int64_t now_ms);
/* The updates pushed to a connection when it gets the chance (TDC_PUSH_* of its session). */
void tdc_put_update_login_token(mt_buf *out, int64_t now_s);
/* user#31774388 (or the layer-198 one below layer 223) */
typedef struct tdc_user_desc {
    int64_t id;
    const char *first_name, *phone, *username;   /* phone, username may be NULL (username: a bot) */
    int self;
} tdc_user_desc;
void tdc_put_user(mt_buf *out, int layer, const tdc_user_desc *u, int64_t now);

/* updates.getState, updates.getDifference, messages.sendMessage (tdc_updates.c); 1 result,
 * 0 rpc_error, TDC_NOT_MINE for another method. */
int tdc_updates_answer(tdc_call *c, uint32_t id, mt_reader *r);
void tdc_accounts_free(tdc_server *srv);
/* The push timer's step (every cfg.push_ms). */
void tdc_updates_tick(tdc_server *srv, int64_t real_ms);

/* Answers one API query `q` (already unwrapped: see tdc_unwrap) received on DC `dc` with auth
 * key `key` in session `sess` over a connection of layer `layer` (223 until an invokeWithLayer
 * says otherwise): layers below 223 get the user constructor of layer 198, the one other layer
 * whose clients (GramJS) are tested. Appends the result object, or an rpc_error object, to
 * `out`. Returns 1 for a result, 0 for an rpc_error, or MT_ERR_NOMEM. */
int tdc_api_answer(tdc_server *srv, tdc_key *key, tdc_session *sess, int dc, int layer, int64_t msg_id,
                   const uint8_t *q, size_t n, int64_t now_ms, mt_buf *out);
/* The innermost query of a request: where it is, and whether wrappers stood around it. */
typedef struct tdc_query {
    const uint8_t *p;
    size_t len;
    int wrapped;
} tdc_query;
/* Finds the innermost query of request `q` through its wrappers (invokeWithLayer,
 * initConnection, invokeWithoutUpdates, invokeAfterMsg(s)); every gzip_packed standing for the
 * request, a wrapper's query or initConnection's proxy/params counts as what it inflates to
 * (gzip, zlib or raw deflate; MT_GZIP_MAX_OUT in all). Without any gzip_packed, query->p points
 * into `q`; else the request is appended to `out` with every gzip_packed inflated (the wrappers
 * kept) and query->p points there (valid until `out` changes). *layer (may be NULL) gets the
 * layer of an invokeWithLayer. MT_OK or a negative MT_ERR_* (out unchanged then). */
int tdc_unwrap(const uint8_t *q, size_t n, mt_buf *out, tdc_query *query, int *layer);
/* Appends rpc_error#2144ca19 code message. */
void tdc_put_rpc_error(mt_buf *out, int code, const char *message);
/* A readable name for a constructor id, or NULL. */
const char *tdc_name(uint32_t id);
/* The innermost query of invokeWithLayer/initConnection/... wrappers (for logs). */
uint32_t tdc_inner_id(const uint8_t *q, size_t n);

/* ---- connections (tdc_conn.c) -------------------------------------------- */
/* dc 0: a connection of the MTProxy listener. It takes obfuscated2 keyed with the
 * secret, plain or inside fake TLS (a ClientHello first, answered with a signed server
 * hello), whatever the framing inside, and serves the DC the init names (|n| mod 10000:
 * test DCs are +10000, media DCs negative); a hello with a wrong digest gets an answer
 * signed with another key (as a fronted web site would give), then the end. */
tdc_conn *tdc_conn_new(tdc_server *srv, int dc, int id);
void tdc_conn_free(tdc_conn *c);
/* Feeds received bytes (now_ms: real wall clock). Negative: close the connection now. */
int tdc_conn_input(tdc_conn *c, const uint8_t *in, size_t n, int64_t now_ms);
/* Moves the answers that are due into the write buffer; returns the next due
 * time in ms, or -1 when nothing waits. */
int64_t tdc_conn_due(tdc_conn *c, int64_t now_ms);
/* Bytes to write (framed), and whether to close once they are written. */
mt_buf *tdc_conn_wbuf(tdc_conn *c);
int tdc_conn_closing(const tdc_conn *c);
/* The next connection of srv->conns, the key of a connection's last message (NULL: none yet)
 * and its session id (0: none). */
tdc_conn *tdc_conn_next(const tdc_conn *c);
const tdc_key *tdc_conn_key(const tdc_conn *c);
/* The key whose account the connection acts for (the permanent key its temporary key is bound to). */
const tdc_key *tdc_conn_account(const tdc_conn *c);
int64_t tdc_conn_session_id(const tdc_conn *c);
/* Sends an update (a content message, msg_id 3 mod 4) in the connection's session: 1 when
 * queued, 0 when the connection has no session or stopped answering, or a negative MT_ERR_*. */
int tdc_conn_push(tdc_conn *c, const uint8_t *body, size_t len, int64_t real_ms);
/* Server wall clock (with the clock_offset fault) in ms, from real ms. */
int64_t tdc_server_ms(const tdc_server *srv, int64_t real_ms);

/* Logs one line on stderr when srv runs at least this verbose (1: -v, 2: -vv). A macro, so
 * that the level is checked before anything is passed (the loop logs on every read at -vv):
 * the arguments are evaluated only when the line is written, so none may do work. */
#define tdc_log(srv, level, ...) \
    do { if ((srv)->cfg.verbose >= (level)) tdc_log_line(__VA_ARGS__); } while (0)
void tdc_log_line(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
