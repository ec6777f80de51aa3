/* Routing by hash key: 128-bit arithmetic on two 64-bit words, MD5 of the
 * partition key, and the sorted map of open shards (KINESIS.md §3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "shardpipe/kinesis.h"
#include "shardpipe/shardmap.h"

#define DEC_DIGITS_MAX 39   /* digits of 2^128-1 */

/* v = v * 10 + d; returns -1 when the result does not fit in 128 bits. */
static int mul10_add(sp_u128 *v, unsigned d)
{
    /* The low word in 32-bit halves, so each partial product fits. */
    uint64_t a = (v->lo & 0xffffffffu) * 10 + d;
    uint64_t b = (v->lo >> 32) * 10 + (a >> 32);
    uint64_t carry = b >> 32;
    if (v->hi > (UINT64_MAX - carry) / 10)
        return -1;
    v->hi = v->hi * 10 + carry;
    v->lo = b << 32 | (a & 0xffffffffu);
    return 0;
}

int sp_u128_parse(const char *s, size_t n, sp_u128 *out)
{
    sp_u128 v = {0, 0};

    if (s == NULL || n == 0 || n > DEC_DIGITS_MAX)
        return -1;
    if (s[0] == '0' && n > 1)           /* the pattern allows no leading zero */
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9 || mul10_add(&v, d) != 0)
            return -1;
    }
    *out = v;
    return 0;
}

/* v /= div (div < 2^32), returning the remainder: long division by 32-bit
 * limbs, so that each step's dividend fits in 64 bits. */
static uint32_t divmod32(sp_u128 *v, uint32_t div)
{
    uint32_t limb[4] = {
        (uint32_t)(v->hi >> 32), (uint32_t)v->hi,
        (uint32_t)(v->lo >> 32), (uint32_t)v->lo,
    };
    uint64_t rem = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t cur = rem << 32 | limb[i];
        limb[i] = (uint32_t)(cur / div);
        rem = cur % div;
    }
    v->hi = (uint64_t)limb[0] << 32 | limb[1];
    v->lo = (uint64_t)limb[2] << 32 | limb[3];
    return (uint32_t)rem;
}

size_t sp_u128_format(sp_u128 v, char out[SP_U128_DEC_MAX])
{
    char tmp[SP_U128_DEC_MAX + 8];
    size_t n = 0;

    /* Nine digits per division: 10^9 < 2^32. */
    do {
        uint32_t chunk = divmod32(&v, 1000000000u);
        int last = v.hi == 0 && v.lo == 0;
        for (int k = 0; k < 9; k++) {
            tmp[n++] = (char)('0' + chunk % 10);
            chunk /= 10;
            if (last && chunk == 0)
                break;
        }
    } while (v.hi != 0 || v.lo != 0);

    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

int sp_u128_cmp(sp_u128 a, sp_u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

/* EVP_Digest can only fail when MD5 is unavailable (a FIPS-only OpenSSL
 * configuration) or memory runs out; the signature has no error path, so
 * the key 0 is returned, which still routes every record somewhere. */
sp_u128 sp_hashkey(const void *pk, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    sp_u128 h = {0, 0};

    if (EVP_Digest(pk, n, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16)
        return h;
    for (int i = 0; i < 8; i++) {
        h.hi = h.hi << 8 | md[i];
        h.lo = h.lo << 8 | md[8 + i];
    }
    return h;
}

void sp_shard_clear(sp_shard *s)
{
    free(s->start_seq);
    free(s->end_seq);
    free(s->parent);
    free(s->adjacent_parent);
    s->start_seq = s->end_seq = s->parent = s->adjacent_parent = NULL;
}

static void free_shards(sp_shard *shards, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sp_shard_clear(&shards[i]);
    free(shards);
}

static int cmp_end(const void *pa, const void *pb)
{
    const sp_shard *a = pa, *b = pb;
    int c = sp_u128_cmp(a->end, b->end);
    return c != 0 ? c : sp_u128_cmp(a->start, b->start);
}

/* m's previous contents are not looked at: free it first, or build the new
 * map in a fresh one and swap, so that a failed refresh keeps the old map. */
int sp_shardmap_take(sp_shardmap *m, sp_shard *shards, size_t n, sp_err *err)
{
    size_t open = 0;

    m->shards = NULL;
    m->n = 0;
    if (shards == NULL)
        return n == 0 ? SP_OK : sp_err_set(err, "shard map: no shard array");

    for (size_t i = 0; i < n; i++) {
        if (shards[i].end_seq != NULL) {
            sp_shard_clear(&shards[i]);
            continue;
        }
        if (sp_u128_cmp(shards[i].start, shards[i].end) > 0) {
            char id[SP_SHARD_ID_MAX + 1];
            memcpy(id, shards[i].id, sizeof id);
            id[SP_SHARD_ID_MAX] = '\0';
            free_shards(shards, n);
            return sp_err_set(err, "shard map: shard %s starts after it ends", id);
        }
        if (open != i) {
            shards[open] = shards[i];
            memset(&shards[i], 0, sizeof shards[i]);
        }
        open++;
    }
    if (open == 0) {
        free_shards(shards, n);
        return SP_OK;
    }

    qsort(shards, open, sizeof *shards, cmp_end);
    for (size_t i = 1; i < open; i++) {
        if (sp_u128_cmp(shards[i].start, shards[i - 1].end) <= 0) {
            sp_err_set(err, "shard map: open shards %.*s and %.*s overlap",
                       SP_SHARD_ID_MAX, shards[i - 1].id,
                       SP_SHARD_ID_MAX, shards[i].id);
            free_shards(shards, n);
            return SP_ERR;
        }
    }

    /* Closed shards were moved out; shrinking is optional. */
    if (open < n) {
        sp_shard *p = realloc(shards, open * sizeof *shards);
        if (p != NULL)
            shards = p;
    }
    m->shards = shards;
    m->n = open;
    return SP_OK;
}

long sp_shardmap_lookup(const sp_shardmap *m, sp_u128 h)
{
    size_t lo = 0, hi = m->n;

    /* First shard whose end >= h. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp_u128_cmp(m->shards[mid].end, h) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == m->n || sp_u128_cmp(m->shards[lo].start, h) > 0)
        return -1;      /* a gap in the ranges, e.g. during resharding */
    return (long)lo;
}

long sp_shardmap_find(const sp_shardmap *m, const char *shard_id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->shards[i].id, shard_id) == 0)
            return (long)i;
    return -1;
}

void sp_shardmap_free(sp_shardmap *m)
{
    if (m->shards != NULL)
        free_shards(m->shards, m->n);
    m->shards = NULL;
    m->n = 0;
}

/* ---- listing ---- */


struct sp_shardlist {
    sp_kinesis *k;
    char stream[SP_STREAM_NAME_MAX + 1];
    char filter[32];
    sp_shard *shards;
    size_t n;
    char *token;
    int restarts;
    sp_shardlist_fn done;
    void *arg;
};

void sp_shards_free(sp_shard *shards, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sp_shard_clear(&shards[i]);
    free(shards);
}

static void lister_finish(struct sp_shardlist *l, const char *msg, int retryable)
{
    if (l->done == NULL) {
        sp_shards_free(l->shards, l->n); /* cancelled */
    } else if (msg) {
        sp_shards_free(l->shards, l->n);
        l->done(l->arg, NULL, 0, msg, retryable);
    } else {
        l->done(l->arg, l->shards, l->n, NULL, 0);
    }
    free(l->token);
    free(l);
}

static int lister_next(struct sp_shardlist *l, sp_err *err);

static void on_page(void *arg, const sp_kinesis_result *res)
{
    struct sp_shardlist *l = arg;
    sp_err err;
    if (res->klass == SP_KC_EXPIRED_NEXT_TOKEN && l->restarts++ < 3) {
        /* Tokens live 300 s: start the listing again from the top. */
        sp_shards_free(l->shards, l->n);
        l->shards = NULL;
        l->n = 0;
        free(l->token);
        l->token = NULL;
    } else if (res->klass != SP_KC_OK) {
        sp_kinesis_explain(l->k, "ListShards", l->stream, res, &err);
        lister_finish(l, err.msg, sp_kclass_retryable(res->klass));
        return;
    } else {
        free(l->token);
        l->token = NULL;
        if (sp_kinesis_parse_shards(res->json, &l->shards, &l->n, &l->token, &err) != SP_OK) {
            lister_finish(l, err.msg, 1);
            return;
        }
        if (l->token == NULL) {
            lister_finish(l, NULL, 0);
            return;
        }
    }
    if (lister_next(l, &err) != SP_OK)
        lister_finish(l, err.msg, 1);
}

static int lister_next(struct sp_shardlist *l, sp_err *err)
{
    sp_buf body;
    sp_buf_init(&body, 0);
    sp_kinesis_body_list_shards(&body, l->stream, l->filter[0] ? l->filter : NULL, l->token);
    int rc = sp_kinesis_call(l->k, "ListShards", &body, on_page, l, err);
    sp_buf_free(&body);
    return rc;
}

void sp_shardmap_list_cancel(sp_shardlist *l)
{
    if (l != NULL)
        l->done = NULL;
}

int sp_shardmap_list(sp_kinesis *k, const char *stream, const char *filter,
                     sp_shardlist_fn done, void *arg, sp_shardlist **handle, sp_err *err)
{
    struct sp_shardlist *l = calloc(1, sizeof *l);
    if (l == NULL)
        return sp_err_set(err, "out of memory");
    l->k = k;
    snprintf(l->stream, sizeof l->stream, "%s", stream);
    snprintf(l->filter, sizeof l->filter, "%s", filter ? filter : "");
    l->done = done;
    l->arg = arg;
    if (lister_next(l, err) != SP_OK) {
        free(l);
        return SP_ERR;
    }
    if (handle)
        *handle = l;
    return SP_OK;
}

struct sync_list {
    sp_loop *loop;
    int done;
    sp_shard *shards;
    size_t n;
    sp_err err;
};

static void on_sync_list(void *arg, sp_shard *shards, size_t n, const char *errmsg, int retryable)
{
    (void)retryable;
    struct sync_list *s = arg;
    s->done = 1;
    s->shards = shards;
    s->n = n;
    if (errmsg)
        sp_err_set(&s->err, "%s", errmsg);
    sp_loop_stop(s->loop);
}

int sp_shardmap_list_sync(sp_kinesis *k, const char *stream, const char *filter,
                          sp_shard **out, size_t *n, sp_err *err)
{
    struct sync_list s;
    memset(&s, 0, sizeof s);
    s.loop = sp_kinesis_loop(k);
    *out = NULL;
    *n = 0;
    if (sp_shardmap_list(k, stream, filter, on_sync_list, &s, NULL, err) != SP_OK)
        return SP_ERR;
    while (!s.done)
        if (sp_loop_run(s.loop, err) != SP_OK)
            return SP_ERR; /* the lister is still registered; the caller is exiting */
    if (s.shards == NULL && s.err.msg[0]) {
        *err = s.err;
        return SP_ERR;
    }
    *out = s.shards;
    *n = s.n;
    return SP_OK;
}
