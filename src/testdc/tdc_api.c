/* The API methods the test DC serves: the login-code flow and help.*.
 *
 * Requests are decoded by hand from the layer-223 schema (schema/api.tl), answers
 * encoded by hand; every length is distrusted (mt_reader). Test numbers are
 * 99966XYYYY: X is their DC (another DC answers 303 PHONE_MIGRATE_X) and the
 * login code is X repeated five times. Every other valid number logs in with 12345. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tdc.h"

enum {
    ID_INVOKE_WITH_LAYER = 0xda9b0d0du,
    ID_INIT_CONNECTION = 0xc1cd5ea9u,
    ID_INVOKE_WITHOUT_UPDATES = 0xbf9459b7u,
    ID_INVOKE_AFTER_MSG = 0xcb9f372du,
    ID_INVOKE_AFTER_MSGS = 0x3dc4b4f0u,
    ID_SEND_CODE = 0xa677244fu,
    ID_RESEND_CODE = 0xcae47523u,
    ID_RESEND_CODE_OLD = 0x3ef1a9bfu,
    ID_SIGN_IN = 0x8d52a951u,
    ID_CANCEL_CODE = 0x1f040578u,
    ID_IMPORT_BOT = 0x67a3ff2cu,
    ID_GET_CONFIG = 0xc4f9186bu,
    ID_GET_NEAREST_DC = 0x1fb33026u,
    ID_RPC_ERROR = 0x2144ca19u,
    ID_SENT_CODE = 0x5e002502u,
    ID_SENT_APP = 0x3dbb5986u,
    ID_SENT_SMS = 0xc000bba2u,
    ID_SENT_CALL = 0x5353e5a7u,
    ID_SENT_FLASH = 0xab03c6d9u,
    ID_CODE_SMS = 0x72a3158cu,
    ID_CODE_CALL = 0x741cd3e3u,
    ID_CODE_FLASH = 0x226ccefbu,
    ID_AUTHORIZATION = 0x2ea2c0d4u,
    ID_USER = 0x31774388u,
    ID_USER_L198 = 0x4b46c37eu,    /* the same fields up to flags2.5 */
    ID_USER_STATUS_ONLINE = 0xedb93949u,
    ID_CONFIG = 0xcc1a241eu,
    ID_DC_OPTION = 0x18b7a10du,
    ID_NEAREST_DC = 0x8e1a1775u,
    ID_VECTOR = 0x1cb5c415u,
    ID_BOOL_TRUE = 0x997275b5u,
    ID_BOOL_FALSE = 0xbc799737u,
    ID_INPUT_CLIENT_PROXY = 0x75588b3fu,
    ID_JSON_NULL = 0x3f6d7b68u,
    ID_JSON_BOOL = 0xc7345e6au,
    ID_JSON_NUMBER = 0x2be0dfa4u,
    ID_JSON_STRING = 0xb71e767au,
    ID_JSON_ARRAY = 0xf7444763u,
    ID_JSON_OBJECT = 0x99c1d49du,
};

static const struct { uint32_t id; const char *name; } names[] = {
    { ID_INVOKE_WITH_LAYER, "invokeWithLayer" }, { ID_INIT_CONNECTION, "initConnection" },
    { ID_INVOKE_WITHOUT_UPDATES, "invokeWithoutUpdates" }, { ID_INVOKE_AFTER_MSG, "invokeAfterMsg" },
    { ID_INVOKE_AFTER_MSGS, "invokeAfterMsgs" },
    { ID_SEND_CODE, "auth.sendCode" }, { ID_RESEND_CODE, "auth.resendCode" },
    { ID_RESEND_CODE_OLD, "auth.resendCode(old)" }, { ID_SIGN_IN, "auth.signIn" },
    { ID_CANCEL_CODE, "auth.cancelCode" }, { ID_IMPORT_BOT, "auth.importBotAuthorization" },
    { ID_GET_CONFIG, "help.getConfig" }, { ID_GET_NEAREST_DC, "help.getNearestDc" },
    { ID_RPC_ERROR, "rpc_error" }, { ID_SENT_CODE, "auth.sentCode" },
    { ID_AUTHORIZATION, "auth.authorization" }, { ID_CONFIG, "config" }, { ID_NEAREST_DC, "nearestDc" },
    { ID_BOOL_TRUE, "boolTrue" }, { ID_BOOL_FALSE, "boolFalse" },
    { 0xf35c6d01u, "rpc_result" }, { 0x3072cfa1u, "gzip_packed" }, { 0x73f1f8dcu, "msg_container" },
    { 0x62d6b459u, "msgs_ack" }, { 0xa7eff811u, "bad_msg_notification" }, { 0xedab447bu, "bad_server_salt" },
    { 0x9ec20908u, "new_session_created" }, { 0x347773c5u, "pong" }, { 0x7abe77ecu, "ping" },
    { 0xf3427b8cu, "ping_delay_disconnect" }, { 0xb921bd04u, "get_future_salts" },
    { 0xae500895u, "future_salts" }, { 0xe317af7eu, "updatesTooLong" },
    { 0xe7512126u, "destroy_session" }, { 0x58e4a740u, "rpc_drop_answer" },
    { 0xda69fb52u, "msgs_state_req" }, { 0x7d861a08u, "msg_resend_req" },
    { 0x60469778u, "req_pq" }, { 0xbe7e8ef1u, "req_pq_multi" }, { 0xd712e4beu, "req_DH_params" },
    { 0xf5045f1fu, "set_client_DH_params" }, { 0x05162463u, "resPQ" },
    { 0xd0e8075cu, "server_DH_params_ok" }, { 0x3bcbf734u, "dh_gen_ok" },
    { 0x46dc1fb9u, "dh_gen_retry" }, { 0xa69dae02u, "dh_gen_fail" },
};

const char *tdc_name(uint32_t id)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].id == id) return names[i].name;
    return NULL;
}

void tdc_put_rpc_error(mt_buf *out, int code, const char *message)
{
    mt_buf_put_u32(out, ID_RPC_ERROR);
    mt_buf_put_i32(out, code);
    mt_buf_put_tlbytes(out, message, strlen(message));
}

static void put_str(mt_buf *out, const char *s) { mt_buf_put_tlbytes(out, s, strlen(s)); }

/* Skips a JSONValue (initConnection.params); depth-limited. */
static int skip_json(mt_reader *r, int depth)
{
    if (depth > 16) return MT_ERR_DEPTH;
    const uint8_t *p; size_t n;
    switch (mt_rd_u32(r)) {
    case ID_JSON_NULL: return r->err;
    case ID_JSON_BOOL: mt_rd_u32(r); return r->err;
    case ID_JSON_NUMBER: mt_rd_u64(r); return r->err;
    case ID_JSON_STRING: return mt_rd_tlbytes(r, &p, &n);
    case ID_JSON_ARRAY:
    case ID_JSON_OBJECT: {
        /* a Vector of JSONValue, or of jsonObjectValue#c0de1bd9 key:string value:JSONValue */
        int obj = mt_le32(r->p + r->pos - 4) == ID_JSON_OBJECT;
        if (mt_rd_u32(r) != ID_VECTOR) return r->err ? r->err : MT_ERR_PROTO;
        uint32_t c = mt_rd_u32(r);
        if (c > mt_rd_left(r) / 4) return MT_ERR_RANGE;
        for (uint32_t i = 0; i < c; i++) {
            if (obj) {
                if (mt_rd_u32(r) != 0xc0de1bd9u) return r->err ? r->err : MT_ERR_PROTO;
                if (mt_rd_tlbytes(r, &p, &n) < 0) return r->err;
            }
            int rc = skip_json(r, depth + 1);
            if (rc < 0) return rc;
        }
        return r->err;
    }
    default: return r->err ? r->err : MT_ERR_PROTO;
    }
}

/* Skips the wrappers around a query; returns the inner query's offset or a negative code. */
int tdc_unwrap(const uint8_t *q, size_t n, size_t *off, int *layer)
{
    mt_reader r;
    mt_rd_init(&r, q, n);
    for (int depth = 0; depth < 8; depth++) {
        size_t at = r.pos;
        uint32_t id = mt_rd_u32(&r);
        const uint8_t *p; size_t pn;
        switch (id) {
        case ID_INVOKE_WITH_LAYER: {
            int32_t l = mt_rd_i32(&r);
            if (layer && !r.err) *layer = l;
            break;
        }
        case ID_INVOKE_WITHOUT_UPDATES: break;
        case ID_INVOKE_AFTER_MSG: mt_rd_u64(&r); break;
        case ID_INVOKE_AFTER_MSGS: {
            if (mt_rd_u32(&r) != ID_VECTOR) return MT_ERR_PROTO;
            uint32_t c = mt_rd_u32(&r);
            if (c > mt_rd_left(&r) / 8) return MT_ERR_RANGE;
            mt_rd_raw(&r, (size_t)c * 8);
            break;
        }
        case ID_INIT_CONNECTION: {
            uint32_t flags = mt_rd_u32(&r);
            mt_rd_u32(&r);                                   /* api_id */
            for (int i = 0; i < 6; i++) mt_rd_tlbytes(&r, &p, &pn);
            if (flags & 1) {
                if (mt_rd_u32(&r) != ID_INPUT_CLIENT_PROXY) return MT_ERR_PROTO;
                mt_rd_tlbytes(&r, &p, &pn);
                mt_rd_u32(&r);
            }
            if (flags & 2) { int rc = skip_json(&r, 0); if (rc < 0) return rc; }
            break;
        }
        default:
            if (r.err) return r.err;
            *off = at;
            return MT_OK;
        }
        if (r.err) return r.err;
    }
    return MT_ERR_DEPTH;
}

uint32_t tdc_inner_id(const uint8_t *q, size_t n)
{
    size_t off;
    if (tdc_unwrap(q, n, &off, NULL) < 0 || n - off < 4) return n >= 4 ? mt_le32(q) : 0;
    return mt_le32(q + off);
}

/* ---- phone numbers -------------------------------------------------------- */

/* Normalises "+15550001111" to digits; 0 on success, -1 when not 5..15 digits. */
static int phone_norm(const uint8_t *p, size_t n, char out[TDC_PHONE_MAX + 1])
{
    if (n && p[0] == '+') { p++; n--; }
    if (n < 5 || n > TDC_PHONE_MAX) return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        out[i] = (char)p[i];
    }
    out[n] = 0;
    return 0;
}

/* The DC of a test number 99966XYYYY, or 0 for an ordinary number. */
static int test_dc(const char *phone)
{
    if (strlen(phone) != 10 || memcmp(phone, "99966", 5) != 0) return 0;
    return phone[5] - '0';
}

static void login_code(const char *phone, char code[TDC_CODE_LEN + 1])
{
    int x = test_dc(phone);
    if (x > 0) memset(code, '0' + x, TDC_CODE_LEN);
    else memcpy(code, "12345", TDC_CODE_LEN);
    code[TDC_CODE_LEN] = 0;
}

/* ---- answers ----------------------------------------------------------------- */

static void put_sent_code(const tdc_server *srv, const tdc_login *l, mt_buf *out)
{
    static const uint32_t next_ids[] = { ID_CODE_SMS, ID_CODE_CALL, ID_CODE_FLASH };
    int has_next = l->step < 3;
    mt_buf_put_u32(out, ID_SENT_CODE);
    mt_buf_put_u32(out, has_next ? (2u | 4u) : 0u);
    switch (l->step) {
    case 0: mt_buf_put_u32(out, ID_SENT_APP); mt_buf_put_i32(out, TDC_CODE_LEN); break;
    case 1: mt_buf_put_u32(out, ID_SENT_SMS); mt_buf_put_i32(out, TDC_CODE_LEN); break;
    case 2: mt_buf_put_u32(out, ID_SENT_CALL); mt_buf_put_i32(out, TDC_CODE_LEN); break;
    default: {
        /* the calling number's pattern: "+" and the first four digits, then *** */
        char pat[16];
        snprintf(pat, sizeof pat, "+%.4s***", l->phone);
        mt_buf_put_u32(out, ID_SENT_FLASH);
        put_str(out, pat);
    }
    }
    mt_buf_put_tlbytes(out, l->hash, TDC_HASH_LEN);
    if (has_next) {
        mt_buf_put_u32(out, next_ids[l->step]);
        mt_buf_put_i32(out, srv->cfg.resend_timeout);
    }
}

/* user#31774388 for the signed-in account or bot (layer 223). */
static void put_user(mt_buf *out, int layer, int64_t id, const char *first_name, const char *phone, const char *username,
                     int64_t now)
{
    uint32_t flags = (1u << 10) | 1u | 2u | (1u << 6);     /* self, access_hash, first_name, status */
    if (phone) flags |= 1u << 4;
    if (username) flags |= (1u << 3) | (1u << 14);         /* bot: bot_info_version is flags.14 too */
    mt_buf_put_u32(out, layer >= 223 ? ID_USER : ID_USER_L198);
    mt_buf_put_u32(out, flags);
    mt_buf_put_u32(out, 0);                                /* flags2 */
    mt_buf_put_i64(out, id);
    mt_buf_put_i64(out, (int64_t)0x5eed5eed5eedull ^ id);  /* access_hash */
    put_str(out, first_name);
    if (username) put_str(out, username);
    if (phone) put_str(out, phone);
    mt_buf_put_u32(out, ID_USER_STATUS_ONLINE);
    mt_buf_put_i32(out, (int32_t)(now + 300));
    if (username) mt_buf_put_i32(out, 1);                  /* bot_info_version */
}

static void put_config(const tdc_server *srv, int dc, int64_t now, mt_buf *out)
{
    const tdc_config *c = &srv->cfg;
    mt_buf_put_u32(out, ID_CONFIG);
    mt_buf_put_u32(out, 0);                                 /* flags */
    mt_buf_put_i32(out, (int32_t)now);                      /* date */
    mt_buf_put_i32(out, (int32_t)(now + 3600));             /* expires */
    mt_buf_put_u32(out, ID_BOOL_TRUE);                      /* test_mode */
    mt_buf_put_i32(out, dc);                                /* this_dc */
    int n4 = 0, n6 = 0;
    for (int i = 1; i <= c->ndcs; i++) { n4 += srv->ports[i] != 0; n6 += srv->ports6[i] != 0; }
    mt_buf_put_u32(out, ID_VECTOR);
    mt_buf_put_u32(out, (uint32_t)(n4 + n6));
    for (int v6 = 0; v6 < 2; v6++) {
        for (int i = 1; i <= c->ndcs; i++) {
            uint16_t port = v6 ? srv->ports6[i] : srv->ports[i];
            if (!port) continue;
            mt_buf_put_u32(out, ID_DC_OPTION);
            mt_buf_put_u32(out, v6 ? 1u : 0u);              /* flags: ipv6 */
            mt_buf_put_i32(out, i);
            put_str(out, v6 ? c->host6 : c->host);
            mt_buf_put_i32(out, port);
        }
    }
    put_str(out, "localhost");                              /* dc_txt_domain_name */
    static const int32_t ints1[] = {
        200,        /* chat_size_max */
        200000,     /* megagroup_size_max */
        100,        /* forwarded_count_max */
        120000,     /* online_update_period_ms */
        5000,       /* offline_blur_timeout_ms */
        30000,      /* offline_idle_timeout_ms */
        300000,     /* online_cloud_timeout_ms */
        30000,      /* notify_cloud_delay_ms */
        1500,       /* notify_default_delay_ms */
        60000,      /* push_chat_period_ms */
        2,          /* push_chat_limit */
        172800,     /* edit_time_limit */
        2147483647, /* revoke_time_limit */
        2147483647, /* revoke_pm_time_limit */
        2419200,    /* rating_e_decay */
        200,        /* stickers_recent_limit */
        86400,      /* channels_read_media_period */
        20000,      /* call_receive_timeout_ms */
        90000,      /* call_ring_timeout_ms */
        30000,      /* call_connect_timeout_ms */
        10000,      /* call_packet_timeout_ms */
    };
    for (size_t i = 0; i < sizeof ints1 / sizeof ints1[0]; i++) mt_buf_put_i32(out, ints1[i]);
    put_str(out, "https://t.me/");                          /* me_url_prefix */
    mt_buf_put_i32(out, 1024);                              /* caption_length_max */
    mt_buf_put_i32(out, 4096);                              /* message_length_max */
    mt_buf_put_i32(out, dc);                                /* webfile_dc_id */
}

/* ---- methods ------------------------------------------------------------------- */

typedef struct call {
    tdc_server *srv;
    int dc, layer;
    int64_t now_ms;
    mt_buf *out;
} call;

static int fail(call *c, int code, const char *msg)
{
    tdc_put_rpc_error(c->out, code, msg);
    return 0;
}

/* Checks the number: invalid -> 400, a test number of another DC -> 303. 1 when fine. */
static int check_phone(call *c, const uint8_t *p, size_t n, char phone[TDC_PHONE_MAX + 1])
{
    if (phone_norm(p, n, phone) < 0) return fail(c, 400, "PHONE_NUMBER_INVALID"), 0;
    int x = test_dc(phone);
    if (x != 0 && (x < 1 || x > c->srv->cfg.ndcs)) return fail(c, 400, "PHONE_NUMBER_INVALID"), 0;
    if (x != 0 && x != c->dc) {
        char m[32];
        snprintf(m, sizeof m, "PHONE_MIGRATE_%d", x);
        return fail(c, 303, m), 0;
    }
    return 1;
}

/* The login a (phone, hash) pair names, or NULL after answering the error. */
static tdc_login *find_login(call *c, const char *phone, const uint8_t *h, size_t hn)
{
    if (hn == 0) return fail(c, 400, "PHONE_CODE_HASH_EMPTY"), NULL;
    tdc_login *l = tdc_logins_find(&c->srv->logins, (const char *)h, hn);
    int64_t life = (int64_t)c->srv->cfg.code_lifetime * 1000;
    if (l && c->now_ms - l->sent_ms > life) {
        tdc_logins_remove(&c->srv->logins, l);
        l = NULL;
    }
    if (!l || strcmp(l->phone, phone) != 0) return fail(c, 400, "PHONE_CODE_EXPIRED"), NULL;
    return l;
}

static int m_send_code(call *c, mt_reader *r)
{
    const uint8_t *p; size_t n;
    if (mt_rd_tlbytes(r, &p, &n) < 0) return fail(c, 400, "INPUT_REQUEST_INVALID");
    char phone[TDC_PHONE_MAX + 1];
    if (!check_phone(c, p, n, phone)) return 0;
    tdc_login *l = tdc_logins_add(&c->srv->logins, phone, c->now_ms,
                                  (int64_t)c->srv->cfg.code_lifetime * 1000, &c->srv->rnd);
    if (!l) return fail(c, 500, "INTERNAL_SERVER_ERROR");
    put_sent_code(c->srv, l, c->out);
    return 1;
}

/* 1 when this resendCode is one too many for the hash within a second. */
static int flooded(call *c, tdc_login *l, int *wait_s)
{
    int lim = c->srv->cfg.flood_limit;
    if (lim <= 0) return 0;
    if (lim > TDC_FLOOD_MAX) lim = TDC_FLOOD_MAX;
    if (l->ncalls >= (unsigned)lim) {
        int64_t oldest = l->calls[(l->ncalls - (unsigned)lim) % TDC_FLOOD_MAX];
        if (c->now_ms - oldest < 1000) {
            *wait_s = (int)((1000 - (c->now_ms - oldest) + 999) / 1000);
            if (*wait_s < 1) *wait_s = 1;
            return 1;
        }
    }
    l->calls[l->ncalls++ % TDC_FLOOD_MAX] = c->now_ms;
    return 0;
}

static int m_resend_code(call *c, mt_reader *r, int has_flags)
{
    uint32_t flags = has_flags ? mt_rd_u32(r) : 0;
    const uint8_t *p, *h, *reason; size_t n, hn, rn;
    mt_rd_tlbytes(r, &p, &n);
    mt_rd_tlbytes(r, &h, &hn);
    if (flags & 1) mt_rd_tlbytes(r, &reason, &rn);
    if (r->err) return fail(c, 400, "INPUT_REQUEST_INVALID");
    if (hn == 0) return fail(c, 400, "PHONE_CODE_HASH_EMPTY");
    char phone[TDC_PHONE_MAX + 1];
    if (!check_phone(c, p, n, phone)) return 0;
    tdc_login *l = find_login(c, phone, h, hn);
    if (!l) return 0;
    int wait_s;
    if (flooded(c, l, &wait_s)) {
        char m[32];
        snprintf(m, sizeof m, "FLOOD_WAIT_%d", wait_s);
        return fail(c, 420, m);
    }
    if (l->step >= 3) return fail(c, 406, "SEND_CODE_UNAVAILABLE");
    l->step++;
    l->sent_ms = c->now_ms;
    put_sent_code(c->srv, l, c->out);
    return 1;
}

static int64_t phone_id(const char *phone)
{
    return strtoll(phone, NULL, 10) % 1000000000000ll + 1;
}

static int m_sign_in(call *c, mt_reader *r)
{
    uint32_t flags = mt_rd_u32(r);
    const uint8_t *p, *h, *code = NULL; size_t n, hn, cn = 0;
    mt_rd_tlbytes(r, &p, &n);
    mt_rd_tlbytes(r, &h, &hn);
    if (flags & 1) mt_rd_tlbytes(r, &code, &cn);
    if (r->err) return fail(c, 400, "INPUT_REQUEST_INVALID");
    if (hn == 0) return fail(c, 400, "PHONE_CODE_HASH_EMPTY");
    char phone[TDC_PHONE_MAX + 1];
    if (!check_phone(c, p, n, phone)) return 0;
    if (!(flags & 1) || cn == 0) return fail(c, 400, "PHONE_CODE_EMPTY");
    tdc_login *l = find_login(c, phone, h, hn);
    if (!l) return 0;
    char want[TDC_CODE_LEN + 1];
    login_code(phone, want);
    if (cn != TDC_CODE_LEN || memcmp(code, want, TDC_CODE_LEN) != 0) return fail(c, 400, "PHONE_CODE_INVALID");
    tdc_logins_remove(&c->srv->logins, l);
    mt_buf_put_u32(c->out, ID_AUTHORIZATION);
    mt_buf_put_u32(c->out, 0);
    put_user(c->out, c->layer, phone_id(phone), "Test", phone, NULL, c->now_ms / 1000);
    return 1;
}

static int m_cancel_code(call *c, mt_reader *r)
{
    const uint8_t *p, *h; size_t n, hn;
    mt_rd_tlbytes(r, &p, &n);
    mt_rd_tlbytes(r, &h, &hn);
    if (r->err) return fail(c, 400, "INPUT_REQUEST_INVALID");
    if (hn == 0) return fail(c, 400, "PHONE_CODE_HASH_EMPTY");
    char phone[TDC_PHONE_MAX + 1];
    if (!check_phone(c, p, n, phone)) return 0;
    tdc_login *l = find_login(c, phone, h, hn);
    if (!l) return 0;
    tdc_logins_remove(&c->srv->logins, l);
    mt_buf_put_u32(c->out, ID_BOOL_TRUE);
    return 1;
}

/* bot_auth_token "<digits>:<[A-Za-z0-9_-]{1,}>" -> a bot user with that id. */
static int m_import_bot(call *c, mt_reader *r)
{
    const uint8_t *p; size_t n;
    mt_rd_u32(r);                       /* flags */
    mt_rd_u32(r);                       /* api_id */
    mt_rd_tlbytes(r, &p, &n);           /* api_hash */
    mt_rd_tlbytes(r, &p, &n);           /* bot_auth_token */
    if (r->err) return fail(c, 400, "INPUT_REQUEST_INVALID");
    size_t i = 0;
    int64_t id = 0;
    while (i < n && i < 15 && p[i] >= '0' && p[i] <= '9') id = id * 10 + (p[i++] - '0');
    if (i == 0 || i >= n || p[i] != ':' || i + 1 == n) return fail(c, 400, "ACCESS_TOKEN_INVALID");
    for (size_t j = i + 1; j < n; j++) {
        uint8_t ch = p[j];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '-'))
            return fail(c, 400, "ACCESS_TOKEN_INVALID");
    }
    char uname[40];
    snprintf(uname, sizeof uname, "test%lld_bot", (long long)id);
    mt_buf_put_u32(c->out, ID_AUTHORIZATION);
    mt_buf_put_u32(c->out, 0);
    put_user(c->out, c->layer, id, "Test Bot", NULL, uname, c->now_ms / 1000);
    return 1;
}

int tdc_api_answer(tdc_server *srv, int dc, int *layer, int64_t req_msg_id, const uint8_t *q, size_t n,
                   int64_t now_ms, mt_buf *out)
{
    size_t off;
    int rc;
    int ur = tdc_unwrap(q, n, &off, layer);
    call c = { srv, dc, *layer, now_ms, out };
    (void)req_msg_id;
    if (ur < 0) {
        rc = fail(&c, 400, "INPUT_REQUEST_INVALID");
    } else {
        mt_reader r;
        mt_rd_init(&r, q + off, n - off);
        uint32_t id = mt_rd_u32(&r);
        switch (id) {
        case ID_SEND_CODE: rc = m_send_code(&c, &r); break;
        case ID_RESEND_CODE: rc = m_resend_code(&c, &r, 1); break;
        case ID_RESEND_CODE_OLD: rc = m_resend_code(&c, &r, 0); break;
        case ID_SIGN_IN: rc = m_sign_in(&c, &r); break;
        case ID_CANCEL_CODE: rc = m_cancel_code(&c, &r); break;
        case ID_IMPORT_BOT: rc = m_import_bot(&c, &r); break;
        case ID_GET_CONFIG: put_config(srv, dc, now_ms / 1000, out); rc = 1; break;
        case ID_GET_NEAREST_DC:
            mt_buf_put_u32(out, ID_NEAREST_DC);
            put_str(out, "ZZ");
            mt_buf_put_i32(out, dc);
            mt_buf_put_i32(out, dc);
            rc = 1;
            break;
        default: rc = fail(&c, 400, "METHOD_INVALID"); break;
        }
    }
    return out->oom ? MT_ERR_NOMEM : rc;
}

void tdc_log(const tdc_server *srv, int level, const char *fmt, ...)
{
    if (srv->cfg.verbose < level) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("testdc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
