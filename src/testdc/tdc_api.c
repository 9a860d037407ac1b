/* The API entry of the test DC: the wrappers around a query, help.*, and the dispatch to
 * the login methods (tdc_login.c, where the test numbers are described).
 *
 * Requests are decoded by hand from the layer-223 schema (schema/api.tl), answers
 * encoded by hand; every length is distrusted (mt_reader). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mt_gzip.h"
#include "tdc.h"
#include "mt_ids.h"

#define NAME_ENTRY(id, name) { id, name },
static const struct { uint32_t id; const char *name; } names[] = {
    MT_IDS_EACH(NAME_ENTRY)
    { 0x3ef1a9bfu, "auth.resendCode(old)" },
};
#undef NAME_ENTRY

const char *tdc_name(uint32_t id)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].id == id) return names[i].name;
    return NULL;
}

void tdc_put_rpc_error(mt_buf *out, int code, const char *message)
{
    mt_buf_put_u32(out, MT_ID_RPC_ERROR);
    mt_buf_put_i32(out, code);
    mt_buf_put_tlbytes(out, message, strlen(message));
}

void tdc_put_str(mt_buf *out, const char *s) { mt_buf_put_tlbytes(out, s, strlen(s)); }

/* ---- what stands around a query --------------------------------------------------
 *
 * A request is a method call, maybe inside wrappers (invokeWithLayer, initConnection, ...).
 * Wherever an object may stand, a client may send gzip_packed instead (Telegram's clients do
 * so for large requests, in gzip, zlib or raw deflate framing). The walk below copies a
 * request with every such gzip_packed replaced by what it inflates to: the request itself,
 * each wrapper's query, initConnection's proxy and params (JSONValue, recursively). */

#define UNWRAP_DEPTH 32

typedef struct unwrap {
    mt_buf *out;
    size_t budget;       /* bytes the gzip_packed of this request may still inflate to */
    size_t off;          /* where the innermost query starts in out (in the request while `same`) */
    int *layer;          /* set by invokeWithLayer (may be NULL) */
    int same;            /* no gzip_packed so far: the output would be the request itself, so
                          * nothing is copied (the common case costs no copy at all) */
} unwrap;

/* One input of the walk: the request, or the data of one gzip_packed. `copied`: how far its
 * bytes are already in the output. */
typedef struct src {
    mt_reader r;
    size_t copied;
} src;

static void copy_to(unwrap *u, src *s, size_t upto)
{
    if (u->same) return;
    mt_buf_put(u->out, s->r.p + s->copied, upto - s->copied);
    s->copied = upto;
}

enum { OBJ_QUERY, OBJ_JSON, OBJ_PROXY };
static int walk(unwrap *u, src *s, int kind, int depth);

/* A JSONValue: a Vector of JSONValue, or of jsonObjectValue#c0de1bd9 key:string value:JSONValue */
static int walk_json(unwrap *u, src *s, int depth)
{
    mt_reader *r = &s->r;
    const uint8_t *p; size_t n;
    switch (mt_rd_u32(r)) {
    case MT_ID_JSON_NULL: return r->err;
    case MT_ID_JSON_BOOL: mt_rd_u32(r); return r->err;
    case MT_ID_JSON_NUMBER: mt_rd_u64(r); return r->err;
    case MT_ID_JSON_STRING: return mt_rd_tlbytes(r, &p, &n);
    case MT_ID_JSON_ARRAY:
    case MT_ID_JSON_OBJECT: {
        int obj = mt_le32(r->p + r->pos - 4) == MT_ID_JSON_OBJECT;
        if (mt_rd_u32(r) != MT_ID_VECTOR) return r->err ? r->err : MT_ERR_PROTO;
        uint32_t c = mt_rd_u32(r);
        if (c > mt_rd_left(r) / 4) return MT_ERR_RANGE;
        for (uint32_t i = 0; i < c; i++) {
            if (obj) {
                if (mt_rd_u32(r) != MT_ID_JSON_OBJECT_VALUE) return r->err ? r->err : MT_ERR_PROTO;
                if (mt_rd_tlbytes(r, &p, &n) < 0) return r->err;
            }
            int rc = walk(u, s, OBJ_JSON, depth + 1);
            if (rc < 0) return rc;
        }
        return r->err;
    }
    default: return r->err ? r->err : MT_ERR_PROTO;
    }
}

/* A query: a wrapper around another query, or the method call itself (the rest of the input). */
static int walk_query(unwrap *u, src *s, int depth)
{
    mt_reader *r = &s->r;
    size_t at = r->pos;
    const uint8_t *p; size_t pn;
    int rc = MT_OK;
    switch (mt_rd_u32(r)) {
    case MT_ID_INVOKE_WITH_LAYER: {
        int32_t l = mt_rd_i32(r);
        if (u->layer && !r->err) *u->layer = l;
        break;
    }
    case MT_ID_INVOKE_WITHOUT_UPDATES: break;
    case MT_ID_INVOKE_AFTER_MSG: mt_rd_u64(r); break;
    case MT_ID_INVOKE_AFTER_MSGS: {
        if (mt_rd_u32(r) != MT_ID_VECTOR) return r->err ? r->err : MT_ERR_PROTO;
        uint32_t c = mt_rd_u32(r);
        if (c > mt_rd_left(r) / 8) return MT_ERR_RANGE;
        mt_rd_raw(r, (size_t)c * 8);
        break;
    }
    case MT_ID_INIT_CONNECTION: {
        uint32_t flags = mt_rd_u32(r);
        mt_rd_u32(r);                                        /* api_id */
        for (int i = 0; i < 6; i++) mt_rd_tlbytes(r, &p, &pn);
        if (r->err) return r->err;
        if (flags & 1) rc = walk(u, s, OBJ_PROXY, depth + 1);
        if (rc >= 0 && (flags & 2)) rc = walk(u, s, OBJ_JSON, depth + 1);
        if (rc < 0) return rc;
        break;
    }
    default:
        if (r->err) return r->err;
        copy_to(u, s, at);
        u->off = u->same ? at : u->out->len;
        r->pos = r->len;
        return MT_OK;
    }
    if (r->err) return r->err;
    return walk(u, s, OBJ_QUERY, depth + 1);
}

/* The object of `kind` at the reader, inflating a gzip_packed that stands for it. */
static int walk(unwrap *u, src *s, int kind, int depth)
{
    if (depth > UNWRAP_DEPTH) return MT_ERR_DEPTH;
    mt_reader *r = &s->r;
    if (mt_rd_left(r) >= 4 && mt_le32(r->p + r->pos) == MT_ID_GZIP_PACKED) {
        u->same = 0;                     /* only the request itself can be `same`: copied from its start */
        copy_to(u, s, r->pos);
        mt_rd_u32(r);
        const uint8_t *p; size_t pn;
        if (mt_rd_tlbytes(r, &p, &pn) < 0) return r->err;
        s->copied = r->pos;
        mt_buf z;
        mt_buf_init(&z);
        int rc = mt_inflate_any(p, pn, u->budget, &z);
        if (rc >= 0) {
            u->budget -= z.len;
            src t = { .copied = 0 };
            mt_rd_init(&t.r, z.data, z.len);
            rc = walk(u, &t, kind, depth + 1);
            if (rc >= 0 && mt_rd_left(&t.r) != 0) rc = MT_ERR_PROTO;   /* more than one object */
            if (rc >= 0) copy_to(u, &t, t.r.pos);
        }
        mt_wipe(z.data, z.len);
        mt_buf_free(&z);
        return rc;
    }
    switch (kind) {
    case OBJ_QUERY: return walk_query(u, s, depth);
    case OBJ_JSON: return walk_json(u, s, depth);
    default: {                           /* inputClientProxy address:string port:int */
        const uint8_t *p; size_t pn;
        if (mt_rd_u32(r) != MT_ID_INPUT_CLIENT_PROXY) return r->err ? r->err : MT_ERR_PROTO;
        mt_rd_tlbytes(r, &p, &pn);
        mt_rd_u32(r);
        return r->err;
    }
    }
}

int tdc_unwrap(const uint8_t *q, size_t n, mt_buf *out, tdc_query *query, int *layer)
{
    unwrap u = { .out = out, .budget = MT_GZIP_MAX_OUT, .layer = layer, .same = 1 };
    src s = { .copied = 0 };
    mt_rd_init(&s.r, q, n);
    size_t start = out->len;
    int rc = walk(&u, &s, OBJ_QUERY, 0);
    if (rc >= 0) copy_to(&u, &s, s.r.pos);
    if (rc >= 0 && out->oom) rc = MT_ERR_NOMEM;
    if (rc < 0) {
        mt_wipe(out->data + start, out->len - start);
        out->len = start;
        return rc;
    }
    query->wrapped = u.same ? u.off > 0 : u.off > start;
    query->p = u.same ? q + u.off : out->data + u.off;
    query->len = u.same ? n - u.off : out->len - u.off;
    return MT_OK;
}

uint32_t tdc_inner_id(const uint8_t *q, size_t n)
{
    mt_buf b;
    mt_buf_init(&b);
    tdc_query query;
    uint32_t id = n >= 4 ? mt_le32(q) : 0;
    if (tdc_unwrap(q, n, &b, &query, NULL) >= 0 && query.len >= 4) id = mt_le32(query.p);
    mt_wipe(b.data, b.len);
    mt_buf_free(&b);
    return id;
}

/* ---- answers ----------------------------------------------------------------- */

static void put_config(const tdc_server *srv, int dc, int64_t now, mt_buf *out)
{
    const tdc_config *c = &srv->cfg;
    mt_buf_put_u32(out, MT_ID_CONFIG);
    mt_buf_put_u32(out, 0);                                 /* flags */
    mt_buf_put_i32(out, (int32_t)now);                      /* date */
    mt_buf_put_i32(out, (int32_t)(now + 3600));             /* expires */
    mt_buf_put_u32(out, MT_ID_BOOL_TRUE);                      /* test_mode */
    mt_buf_put_i32(out, dc);                                /* this_dc */
    int n4 = 0, n6 = 0;
    for (int i = 1; i <= c->ndcs; i++) { n4 += srv->ports[i] != 0; n6 += srv->ports6[i] != 0; }
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, (uint32_t)(n4 + n6));
    for (int v6 = 0; v6 < 2; v6++) {
        for (int i = 1; i <= c->ndcs; i++) {
            uint16_t port = v6 ? srv->ports6[i] : srv->ports[i];
            if (!port) continue;
            mt_buf_put_u32(out, MT_ID_DC_OPTION);
            mt_buf_put_u32(out, v6 ? 1u : 0u);              /* flags: ipv6 */
            mt_buf_put_i32(out, i);
            tdc_put_str(out, v6 ? c->host6 : c->host);
            mt_buf_put_i32(out, port);
        }
    }
    tdc_put_str(out, "localhost");                              /* dc_txt_domain_name */
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
    tdc_put_str(out, "https://t.me/");                          /* me_url_prefix */
    mt_buf_put_i32(out, 1024);                              /* caption_length_max */
    mt_buf_put_i32(out, 4096);                              /* message_length_max */
    mt_buf_put_i32(out, dc);                                /* webfile_dc_id */
}

/* ---- methods ------------------------------------------------------------------- */

int tdc_fail(tdc_call *c, int code, const char *msg)
{
    tdc_put_rpc_error(c->out, code, msg);
    return 0;
}

int tdc_api_answer(tdc_server *srv, tdc_key *key, tdc_session *sess, int dc, int layer, int64_t msg_id,
                   const uint8_t *q, size_t n, int64_t now_ms, mt_buf *out)
{
    tdc_call c = { srv, key, sess, dc, layer, now_ms, out, msg_id, key };
    mt_reader r;
    mt_rd_init(&r, q, n);
    uint32_t id = mt_rd_u32(&r);
    int rc = tdc_pfs_answer(&c, id, &r);
    if (rc != TDC_NOT_MINE) return out->oom ? MT_ERR_NOMEM : rc;
    c.key = tdc_pfs_account(srv, key);
    switch (id) {
    case MT_ID_HELP_GET_CONFIG: put_config(srv, dc, now_ms / 1000, out); rc = 1; break;
    case MT_ID_HELP_GET_NEAREST_DC:
        mt_buf_put_u32(out, MT_ID_NEAREST_DC);
        tdc_put_str(out, "ZZ");
        mt_buf_put_i32(out, dc);
        mt_buf_put_i32(out, dc);
        rc = 1;
        break;
    default:
        rc = tdc_login_answer(&c, id, &r);
        if (rc == TDC_NOT_MINE) rc = tdc_password_answer(&c, id, &r);
        if (rc == TDC_NOT_MINE) rc = tdc_updates_answer(&c, id, &r);
        if (rc == TDC_NOT_MINE) rc = tdc_fail(&c, 400, "METHOD_INVALID");
        break;
    }
    return out->oom ? MT_ERR_NOMEM : rc;
}

void tdc_log_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("testdc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
