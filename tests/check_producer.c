/* The producer through a fake transport and a fake clock: routing, requeue
 * after a partial failure, giving up after max_attempts (failed vs
 * unknown), ordered mode, per-shard backoff, a reshard while records wait,
 * and where the started/drained callbacks come from. No network, no
 * sleeping: time moves only when a test moves it, and every request the
 * producer makes is decoded and answered as the test scripts it. */
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/base64.h"
#include "shardpipe/loop.h"
#include "shardpipe/producer.h"

#define MAXREQ 64
#define MAXENT 32
#define MAXLIST 8
#define MAXSHARD 8
#define MAXREC 64
#define SEED 12345u

#define PTEE "ProvisionedThroughputExceededException"

struct ent {
    char pk[32];
    char data[32];          /* "r<tag>": every record is told apart by its data */
    int has_ehk;
    sp_u128 ehk;
    int tag;
};

struct req {
    struct ent e[MAXENT];
    size_t n;
    char stream[64];
    sp_kinesis_cb cb;
    void *cb_arg;
    int answered, cancelled;
    uint64_t at;            /* fake time it was sent */
};

struct listing {
    sp_shardlist_fn done;
    void *arg;
    char filter[32];
    int answered, cancelled;
};

struct srv_shard {
    char id[32];
    sp_u128 start, end;
    int closed;
};

struct fx {
    uint64_t now;
    sp_loop *loop;
    sp_producer *p;
    sp_producer_transport tx;
    sp_log log;
    struct req *reqs;
    size_t nreq;
    struct listing lists[MAXLIST];
    size_t nlist;
    struct srv_shard srv[MAXSHARD];  /* the service's shards: what answers name */
    size_t nsrv;
    int refuse_list;
    size_t put_cancels, list_cancels;
    size_t shard_overlap;   /* a request shared a shard with one still unanswered */
    int acks[MAXREC];       /* per tag */
    int ack_how[MAXREC];
    int ack_order[MAXREC * 2];
    size_t nacks;
    int in_call;            /* inside sp_producer_put/flush/start */
    int started, drained, fatal, early; /* early: a callback came from inside a call */
    char fatal_msg[SP_ERR_MSG_MAX];
};

/* ---- helpers: hash keys, the service's view of shards ---- */

static sp_u128 u(uint64_t hi, uint64_t lo)
{
    sp_u128 v = {hi, lo};
    return v;
}

/* MD5 of the key, big-endian: computed here, not with sp_hashkey. */
static sp_u128 md5_key(const char *pk)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(pk, strlen(pk), md, &n, EVP_md5(), NULL), 1);
    ck_assert_uint_eq(n, 16);
    sp_u128 h = {0, 0};
    for (int i = 0; i < 8; i++) {
        h.hi = h.hi << 8 | md[i];
        h.lo = h.lo << 8 | md[8 + i];
    }
    return h;
}

static int le(sp_u128 a, sp_u128 b)
{
    return a.hi < b.hi || (a.hi == b.hi && a.lo <= b.lo);
}

static sp_u128 ent_hash(const struct ent *e)
{
    return e->has_ehk ? e->ehk : md5_key(e->pk);
}

/* Index in fx->srv of the open shard holding h: a plain scan. */
static int srv_shard_of(const struct fx *x, sp_u128 h)
{
    for (size_t i = 0; i < x->nsrv; i++)
        if (!x->srv[i].closed && le(x->srv[i].start, h) && le(h, x->srv[i].end))
            return (int)i;
    ck_abort_msg("no open shard holds the hash");
    return -1;
}

static void srv_set(struct fx *x, size_t i, const char *id, sp_u128 start, sp_u128 end, int closed)
{
    snprintf(x->srv[i].id, sizeof x->srv[i].id, "%s", id);
    x->srv[i].start = start;
    x->srv[i].end = end;
    x->srv[i].closed = closed;
    if (i >= x->nsrv)
        x->nsrv = i + 1;
}

/* n equal shards over the whole range (n = 1, 2 or 4). */
static void srv_even(struct fx *x, size_t n)
{
    uint64_t step = n == 1 ? 0 : UINT64_MAX / n + 1;
    x->nsrv = 0;
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "shardId-%02zu", i);
        sp_u128 end = i + 1 == n ? u(UINT64_MAX, UINT64_MAX) : u(step * (i + 1) - 1, UINT64_MAX);
        srv_set(x, i, id, u(step * i, 0), end, 0);
    }
}

/* An ExplicitHashKey inside the q-th of n equal ranges. */
static sp_u128 in_range(size_t q, size_t n)
{
    return u((UINT64_MAX / n + 1) * q + 12345, 678);
}

/* ---- the fake transport ---- */

static uint64_t fake_clock(void *arg)
{
    return ((struct fx *)arg)->now;
}

static void str_of(json_object *o, const char *key, char *out, size_t n)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string),
                  "entry has no string %s", key);
    ck_assert_uint_lt((size_t)json_object_get_string_len(v), n);
    snprintf(out, n, "%s", json_object_get_string(v));
}

static int fake_put(void *arg, sp_buf *body, sp_kinesis_cb cb, void *cb_arg, void **handle, sp_err *err)
{
    (void)err;
    struct fx *x = arg;
    ck_assert_uint_lt(x->nreq, MAXREQ);
    struct req *r = &x->reqs[x->nreq];
    memset(r, 0, sizeof *r);
    json_object *j = json_tokener_parse(body->data);
    ck_assert_ptr_nonnull(j);
    str_of(j, "StreamName", r->stream, sizeof r->stream);
    json_object *recs;
    ck_assert(json_object_object_get_ex(j, "Records", &recs));
    r->n = json_object_array_length(recs);
    ck_assert_uint_le(r->n, MAXENT);
    ck_assert_uint_gt(r->n, 0);
    for (size_t i = 0; i < r->n; i++) {
        json_object *o = json_object_array_get_idx(recs, i), *v;
        struct ent *e = &r->e[i];
        char b64[64];
        size_t len = 0;
        str_of(o, "PartitionKey", e->pk, sizeof e->pk);
        str_of(o, "Data", b64, sizeof b64);
        ck_assert_int_eq(sp_base64_decode(b64, strlen(b64), e->data, &len), 0);
        ck_assert_uint_lt(len, sizeof e->data);
        e->data[len] = '\0';
        ck_assert_int_eq(sscanf(e->data, "r%d", &e->tag), 1);
        if (json_object_object_get_ex(o, "ExplicitHashKey", &v)) {
            const char *s = json_object_get_string(v);
            e->has_ehk = 1;
            ck_assert_int_eq(sp_u128_parse(s, strlen(s), &e->ehk), 0);
        }
    }
    json_object_put(j);
    /* Moved, as sp_kinesis_call_h does. */
    size_t max = body->max;
    sp_buf_free(body);
    sp_buf_init(body, max);
    /* Which shards this request writes to, against those still out. */
    for (size_t k = 0; x->nsrv > 0 && k < x->nreq; k++) {
        struct req *o = &x->reqs[k];
        if (o->answered || o->cancelled)
            continue;
        for (size_t a = 0; a < o->n; a++)
            for (size_t b = 0; b < r->n; b++)
                if (srv_shard_of(x, ent_hash(&o->e[a])) == srv_shard_of(x, ent_hash(&r->e[b])))
                    x->shard_overlap++;
    }
    r->cb = cb;
    r->cb_arg = cb_arg;
    r->at = x->now;
    *handle = r;
    x->nreq++;
    return SP_OK;
}

static void fake_cancel_put(void *arg, void *handle)
{
    struct fx *x = arg;
    struct req *r = handle;
    ck_assert(!r->answered && !r->cancelled);
    r->cancelled = 1;
    x->put_cancels++;
}

static int fake_list(void *arg, const char *stream, const char *filter, sp_shardlist_fn done, void *done_arg,
                     void **handle, sp_err *err)
{
    struct fx *x = arg;
    ck_assert_str_eq(stream, "s1");
    if (x->refuse_list)
        return sp_err_set(err, "ListShards: refused by the test");
    ck_assert_uint_lt(x->nlist, MAXLIST);
    struct listing *l = &x->lists[x->nlist++];
    memset(l, 0, sizeof *l);
    snprintf(l->filter, sizeof l->filter, "%s", filter ? filter : "");
    l->done = done;
    l->arg = done_arg;
    *handle = l;
    return SP_OK;
}

static void fake_cancel_list(void *arg, void *handle)
{
    struct fx *x = arg;
    struct listing *l = handle;
    ck_assert(!l->answered && !l->cancelled);
    l->cancelled = 1;
    x->list_cancels++;
}

/* Answers listing i with the service's current shards (closed ones too). */
static void answer_list(struct fx *x, size_t i)
{
    struct listing *l = &x->lists[i];
    ck_assert(i < x->nlist && !l->answered && !l->cancelled);
    ck_assert_str_eq(l->filter, "AT_LATEST");
    sp_shard *s = calloc(x->nsrv, sizeof *s);
    ck_assert_ptr_nonnull(s);
    for (size_t k = 0; k < x->nsrv; k++) {
        snprintf(s[k].id, sizeof s[k].id, "%s", x->srv[k].id);
        s[k].start = x->srv[k].start;
        s[k].end = x->srv[k].end;
        if (x->srv[k].closed)
            ck_assert_ptr_nonnull(s[k].end_seq = strdup("49590338271490256608559692540925702759324208523137515618"));
    }
    l->answered = 1;
    l->done(l->arg, s, x->nsrv, NULL, 0);
}

static void answer_list_error(struct fx *x, size_t i)
{
    struct listing *l = &x->lists[i];
    ck_assert(i < x->nlist && !l->answered && !l->cancelled);
    l->answered = 1;
    l->done(l->arg, NULL, 0, "ListShards: AccessDeniedException", 0);
}

/* Answers request i entry by entry: codes[k] NULL is a success (with the
 * ShardId the service's map gives, or ids[k] when given), else that
 * ErrorCode. NULL arrays: all succeed, as mapped. */
static void answer_entries(struct fx *x, size_t i, const char *const *codes, const char *const *ids)
{
    ck_assert_uint_lt(i, x->nreq);
    struct req *r = &x->reqs[i];
    ck_assert(!r->answered && !r->cancelled);
    json_object *j = json_object_new_object(), *arr = json_object_new_array();
    int failed = 0;
    for (size_t k = 0; k < r->n; k++) {
        json_object *o = json_object_new_object();
        if (codes && codes[k]) {
            failed++;
            json_object_object_add(o, "ErrorCode", json_object_new_string(codes[k]));
            json_object_object_add(o, "ErrorMessage", json_object_new_string("scripted by the test"));
        } else {
            const char *id = ids && ids[k] ? ids[k]
                             : x->nsrv ? x->srv[srv_shard_of(x, ent_hash(&r->e[k]))].id
                                       : "shardId-000000000000"; /* not listed: any */
            json_object_object_add(o, "SequenceNumber", json_object_new_string("4959"));
            json_object_object_add(o, "ShardId", json_object_new_string(id));
        }
        json_object_array_add(arr, o);
    }
    json_object_object_add(j, "FailedRecordCount", json_object_new_int(failed));
    json_object_object_add(j, "Records", arr);
    sp_kinesis_result res;
    memset(&res, 0, sizeof res);
    res.status = 200;
    res.body = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN); /* as kinesis.c hands it on */
    res.body_len = strlen(res.body);
    r->answered = 1;
    r->cb(r->cb_arg, &res);
    json_object_put(j);
}

static void answer_ok(struct fx *x, size_t i)
{
    answer_entries(x, i, NULL, NULL);
}

/* A whole-request failure as kinesis.c reports it. status 0: a timeout. */
static void answer_error(struct fx *x, size_t i, long status, const char *code)
{
    ck_assert_uint_lt(i, x->nreq);
    struct req *r = &x->reqs[i];
    ck_assert(!r->answered && !r->cancelled);
    sp_kinesis_result res;
    memset(&res, 0, sizeof res);
    res.status = status;
    snprintf(res.code, sizeof res.code, "%s", code);
    snprintf(res.message, sizeof res.message, "%s", status ? "scripted by the test" : "Timeout was reached");
    res.klass = sp_kinesis_classify(status, code, res.message);
    res.maybe_done = status == 0 || status == 500 || status == 502 || status == 504;
    r->answered = 1;
    r->cb(r->cb_arg, &res);
}

/* ---- the producer's callbacks ---- */

static void on_ack(void *token, uint64_t tag, int how)
{
    struct fx *x = token;
    ck_assert_uint_lt(tag, MAXREC);
    x->acks[tag]++;
    x->ack_how[tag] = how;
    x->ack_order[x->nacks++] = (int)tag;
}

static void on_started(void *arg)
{
    struct fx *x = arg;
    x->early += x->in_call;
    x->started++;
}

static void on_drained(void *arg)
{
    struct fx *x = arg;
    x->early += x->in_call;
    x->drained++;
}

static void on_fatal(void *arg, const char *msg)
{
    struct fx *x = arg;
    x->fatal++;
    snprintf(x->fatal_msg, sizeof x->fatal_msg, "%s", msg);
}

/* ---- set-up and driving ---- */

static sp_producer_opts opts(struct fx *x)
{
    sp_producer_opts o;
    memset(&o, 0, sizeof o);
    o.stream = "s1";
    o.linger_ms = 200;
    o.backoff = (sp_backoff){100, 800};
    o.max_in_flight = 8;
    o.route = 1;
    o.log = &x->log;
    o.on_started = on_started;
    o.on_drained = on_drained;
    o.on_fatal = on_fatal;
    o.arg = x;
    o.transport = &x->tx;
    o.seed = SEED;
    return o;
}

static struct fx *fx_new(void)
{
    struct fx *x = calloc(1, sizeof *x);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(x->reqs = calloc(MAXREQ, sizeof *x->reqs));
    sp_err err;
    x->loop = sp_loop_new(&err);
    ck_assert_ptr_nonnull(x->loop);
    x->now = 1000000;
    sp_loop_set_clock(x->loop, fake_clock, x);
    x->log.level = SP_LOG_ERROR;
    ck_assert_ptr_nonnull(x->log.out = fopen("/dev/null", "w"));
    x->tx = (sp_producer_transport){fake_put, fake_cancel_put, fake_list, fake_cancel_list, x};
    return x;
}

static void fx_start(struct fx *x, const sp_producer_opts *o)
{
    sp_err err;
    x->p = sp_producer_new(x->loop, NULL, o, &err);
    ck_assert_msg(x->p != NULL, "%s", err.msg);
    x->in_call = 1;
    ck_assert_int_eq(sp_producer_start(x->p, &err), SP_OK);
    x->in_call = 0;
}

/* Starts and installs the service's map through the first listing. */
static void fx_start_routed(struct fx *x, const sp_producer_opts *o)
{
    fx_start(x, o);
    ck_assert_uint_eq(x->nlist, 1);
    answer_list(x, 0);
    ck_assert_int_eq(x->started, 1);
    ck_assert_uint_eq(sp_producer_shards(x->p), x->nsrv - (x->srv[0].closed ? 1 : 0));
}

static void fx_free(struct fx *x)
{
    sp_producer_free(x->p);
    sp_loop_free(x->loop);
    fclose(x->log.out);
    free(x->reqs);
    free(x);
}

static void put(struct fx *x, int tag, const char *pk, const sp_u128 *ehk)
{
    char data[16];
    snprintf(data, sizeof data, "r%d", tag);
    sp_put_rec in = {pk, strlen(pk), ehk, 0, data, strlen(data), on_ack, x, (uint64_t)tag};
    sp_err err;
    x->in_call = 1;
    ck_assert_int_eq(sp_producer_put(x->p, &in, &err), SP_OK);
    x->in_call = 0;
}

/* A record into range q of n, with a key of its own. */
static void put_in(struct fx *x, int tag, size_t q, size_t n)
{
    char pk[16];
    snprintf(pk, sizeof pk, "k%d", tag);
    sp_u128 h = in_range(q, n);
    put(x, tag, pk, &h);
}

static void flush(struct fx *x)
{
    x->in_call = 1;
    sp_producer_flush(x->p);
    x->in_call = 0;
}

static void advance(struct fx *x, uint64_t ms)
{
    x->now += ms;
    sp_loop_run_due(x->loop);
}

/* Moves time 1 ms at a time until request number `want` leaves; returns
 * the milliseconds that took (the limit is a failure). */
static uint64_t wait_request(struct fx *x, size_t want, uint64_t limit)
{
    uint64_t t = 0;
    while (x->nreq < want) {
        ck_assert_msg(t < limit, "request %zu did not leave within %llu ms", want, (unsigned long long)limit);
        advance(x, 1);
        t++;
    }
    ck_assert_uint_eq(x->nreq, want);
    return t;
}

/* Request i holds exactly these tags, in this order. */
static void expect_tags(const struct fx *x, size_t i, const int *tags, size_t n)
{
    ck_assert_uint_lt(i, x->nreq);
    const struct req *r = &x->reqs[i];
    ck_assert_msg(r->n == n, "request %zu has %zu entries, expected %zu", i, r->n, n);
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(r->e[k].tag == tags[k], "request %zu entry %zu is r%d, expected r%d", i, k, r->e[k].tag,
                      tags[k]);
}

#define EXPECT(x, i, ...)                                                    \
    do {                                                                     \
        const int want_[] = {__VA_ARGS__};                                   \
        expect_tags((x), (i), want_, sizeof want_ / sizeof want_[0]);        \
    } while (0)

/* The backoff delays the producer should draw, replayed from its seed. */
static uint32_t replay_delay(sp_rng *rep, const sp_backoff *b, unsigned streak)
{
    return sp_backoff_delay(b, streak, rep);
}

/* ---- the fake clock itself ---- */

static void count_fire(sp_loop *l, void *arg)
{
    (void)l;
    (*(int *)arg)++;
}

struct rearm {
    sp_timer t;
    int n;
};

static void rearm_once(sp_loop *l, void *arg)
{
    struct rearm *r = arg;
    sp_err err;
    if (r->n++ == 0)
        ck_assert_int_eq(sp_timer_start(l, &r->t, 0, &err), SP_OK); /* due at once: runs in the same call */
}

START_TEST(fake_clock_steps_timers)
{
    struct fx *x = fx_new();
    sp_err err;
    int a = 0, b = 0;
    sp_timer ta, tb;
    struct rearm r = {.n = 0};
    sp_timer_init(&ta, count_fire, &a);
    sp_timer_init(&tb, count_fire, &b);
    sp_timer_init(&r.t, rearm_once, &r);
    ck_assert_uint_eq(sp_loop_now_ms(x->loop), 1000000);
    ck_assert_int_eq(sp_timer_start(x->loop, &ta, 10, &err), SP_OK);
    ck_assert_int_eq(sp_timer_start(x->loop, &tb, 5, &err), SP_OK);
    ck_assert_int_eq(sp_timer_start(x->loop, &r.t, 7, &err), SP_OK);
    ck_assert_uint_eq(ta.when, 1000010); /* from the fake clock, not CLOCK_MONOTONIC */
    ck_assert_uint_eq(sp_loop_run_due(x->loop), 0);
    x->now += 4;
    ck_assert_uint_eq(sp_loop_run_due(x->loop), 0);
    ck_assert_uint_eq(sp_loop_now_ms(x->loop), 1000004);
    x->now += 1;
    ck_assert_uint_eq(sp_loop_run_due(x->loop), 1);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(a, 0);
    x->now += 5;
    ck_assert_uint_eq(sp_loop_run_due(x->loop), 3); /* rearm twice, then ta */
    ck_assert_int_eq(r.n, 2);
    ck_assert_int_eq(a, 1);
    ck_assert_uint_eq(sp_loop_run_due(x->loop), 0);
    sp_loop_set_clock(x->loop, NULL, NULL);
    uint64_t real = sp_monotonic_ms();
    ck_assert_uint_le(sp_loop_now_ms(x->loop), real);
    ck_assert_uint_ge(sp_loop_now_ms(x->loop) + 1000, real);
    sp_loop_free(x->loop);
    fclose(x->log.out);
    free(x->reqs);
    free(x);
}
END_TEST

/* ---- routing ---- */

START_TEST(routes_by_hash_and_counts_wrong_shard)
{
    struct fx *x = fx_new();
    srv_even(x, 4);
    sp_producer_opts o = opts(x);
    fx_start_routed(x, &o);
    ck_assert_uint_eq(sp_producer_shards(x->p), 4);
    /* Even tags: key only (MD5); odd tags: an ExplicitHashKey per quarter. */
    int shard_of[12];
    for (int t = 0; t < 12; t++) {
        char pk[16];
        snprintf(pk, sizeof pk, "key-%d", t);
        if (t % 2) {
            sp_u128 h = in_range((size_t)(t / 2) % 4, 4);
            put(x, t, pk, &h);
            shard_of[t] = srv_shard_of(x, h);
        } else {
            put(x, t, pk, NULL);
            shard_of[t] = srv_shard_of(x, md5_key(pk));
        }
    }
    ck_assert_uint_eq(x->nreq, 0); /* lingering */
    flush(x);
    ck_assert_uint_eq(x->nreq, 1);
    /* One request, the records grouped by predicted shard, each shard's in
     * the order put. */
    int want[12], n = 0;
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 12; t++)
            if (shard_of[t] == s)
                want[n++] = t;
    expect_tags(x, 0, want, 12);
    const struct req *r = &x->reqs[0];
    ck_assert_str_eq(r->stream, "s1");
    for (size_t k = 0; k < r->n; k++) {
        const struct ent *e = &r->e[k];
        char pk[16];
        snprintf(pk, sizeof pk, "key-%d", e->tag);
        ck_assert_str_eq(e->pk, pk);
        ck_assert_int_eq(e->has_ehk, e->tag % 2);
        if (e->has_ehk) {
            sp_u128 h = in_range((size_t)(e->tag / 2) % 4, 4);
            ck_assert(e->ehk.hi == h.hi && e->ehk.lo == h.lo);
        }
    }
    answer_ok(x, 0);
    const sp_producer_stats *st = sp_producer_stats_get(x->p);
    ck_assert_uint_eq(st->records, 12);
    ck_assert_uint_eq(st->requests, 1);
    ck_assert_uint_eq(st->wrong_shard, 0);
    for (int t = 0; t < 12; t++) {
        ck_assert_int_eq(x->acks[t], 1);
        ck_assert_int_eq(x->ack_how[t], SP_ACK_STORED);
    }

    /* Stored elsewhere than predicted: counted; a refresh only when the
     * map is over a second old. */
    put_in(x, 12, 2, 4);
    flush(x);
    ck_assert_uint_eq(x->nreq, 2);
    const char *other[] = {"shardId-03"};
    answer_entries(x, 1, NULL, other);
    ck_assert_uint_eq(st->wrong_shard, 1);
    ck_assert_uint_eq(x->nlist, 1);
    advance(x, 1000);
    put_in(x, 13, 1, 4);
    flush(x);
    ck_assert_uint_eq(x->nreq, 3);
    answer_entries(x, 2, NULL, other);
    ck_assert_uint_eq(st->wrong_shard, 2);
    ck_assert_uint_eq(x->nlist, 2);
    ck_assert_uint_eq(st->records, 14);
    ck_assert_int_eq(x->early, 0);
    fx_free(x);
}
END_TEST

/* ---- requeue after a partial failure ---- */

START_TEST(requeues_only_failed_entries_at_the_head)
{
    struct fx *x = fx_new();
    srv_even(x, 2);
    sp_producer_opts o = opts(x);
    o.max_in_flight = 1;
    fx_start_routed(x, &o);
    /* a0 a1 a2 in shard 0 (tags 0-2), b0 b1 b2 in shard 1 (tags 3-5). */
    for (int t = 0; t < 6; t++)
        put_in(x, t, t < 3 ? 0 : 1, 2);
    flush(x);
    EXPECT(x, 0, 0, 1, 2, 3, 4, 5);
    put_in(x, 6, 0, 2);     /* a3 */
    put_in(x, 7, 0, 2);     /* a4 */
    put_in(x, 8, 1, 2);     /* b3 */
    ck_assert_uint_eq(x->nreq, 1); /* one request at most in flight */

    sp_rng rep;
    sp_rng_seed_with(&rep, SEED);
    uint32_t d = replay_delay(&rep, &o.backoff, 1);
    ck_assert_uint_gt(d, 1); /* this seed pauses shard 0 for a while */
    uint64_t t0 = x->now;
    const char *codes[] = {NULL, PTEE, "InternalFailure", NULL, NULL, NULL};
    answer_entries(x, 0, codes, NULL);
    const sp_producer_stats *st = sp_producer_stats_get(x->p);
    ck_assert_uint_eq(st->records, 4);
    ck_assert_uint_eq(st->retried, 2);
    ck_assert_uint_eq(st->throttled, 1);
    ck_assert_uint_eq(x->nacks, 4);
    ck_assert_int_eq(x->acks[1] + x->acks[2], 0);

    /* Shard 1 goes on at once; shard 0 waits out its backoff. */
    ck_assert_uint_eq(x->nreq, 2);
    EXPECT(x, 1, 8);
    answer_ok(x, 1);
    ck_assert_uint_eq(x->nreq, 2);
    advance(x, d - 1);
    ck_assert_uint_eq(x->nreq, 2);
    advance(x, 1);
    ck_assert_uint_eq(x->nreq, 3);
    ck_assert_uint_eq(x->reqs[2].at, t0 + d);
    EXPECT(x, 2, 1, 2, 6, 7);  /* the failed ones first, in their order */
    answer_ok(x, 2);
    ck_assert_uint_eq(st->records, 9);
    ck_assert_uint_eq(st->retried, 2);
    ck_assert_uint_eq(st->failed + st->unknown, 0);
    for (int t = 0; t < 9; t++) {
        ck_assert_int_eq(x->acks[t], 1);
        ck_assert_int_eq(x->ack_how[t], SP_ACK_STORED);
    }
    advance(x, 10000);
    ck_assert_uint_eq(x->nreq, 3); /* nothing sent twice */
    fx_free(x);
}
END_TEST

/* ---- giving up after max_attempts: failed vs unknown ---- */

struct giveup_case {
    long status[3];         /* the answer to each attempt */
    const char *code[3];
    int unknown;            /* the records' fate: 1 unknown, 0 failed */
    int throttled;
};

static const struct giveup_case giveup_cases[] = {
    {{503, 503, 503}, {"ServiceUnavailable", "ServiceUnavailable", "ServiceUnavailable"}, 0, 0},
    {{500, 500, 500}, {"InternalFailure", "InternalFailure", "InternalFailure"}, 1, 0},
    {{0, 0, 0}, {"", "", ""}, 1, 0},                       /* timeouts */
    {{500, 503, 503}, {"InternalFailure", "ServiceUnavailable", "ServiceUnavailable"}, 1, 0},
    {{400, 400, 400}, {PTEE, PTEE, PTEE}, 0, 1},
    {{400, 503, 400}, {"ExpiredTokenException", "ServiceUnavailable", "ResourceInUseException"}, 0, 0},
};

START_TEST(gives_up_after_max_attempts)
{
    const struct giveup_case *c = &giveup_cases[_i];
    struct fx *x = fx_new();
    sp_producer_opts o = opts(x);
    o.route = 0;
    o.max_attempts = 3;
    o.backoff = (sp_backoff){10, 40};
    fx_start(x, &o);
    sp_loop_run_due(x->loop);
    ck_assert_int_eq(x->started, 1);
    put(x, 0, "a", NULL);
    put(x, 1, "b", NULL);
    flush(x);
    for (size_t i = 0; i < 3; i++) {
        if (i > 0)
            wait_request(x, i + 1, 1000);
        EXPECT(x, i, 0, 1);
        answer_error(x, i, c->status[i], c->code[i]);
    }
    advance(x, 5000);
    ck_assert_uint_eq(x->nreq, 3);
    const sp_producer_stats *st = sp_producer_stats_get(x->p);
    ck_assert_uint_eq(st->requests, 3);
    ck_assert_uint_eq(st->retried, 4);
    ck_assert_uint_eq(st->records, 0);
    ck_assert_uint_eq(st->unknown, c->unknown ? 2 : 0);
    ck_assert_uint_eq(st->failed, c->unknown ? 0 : 2);
    ck_assert_uint_eq(st->throttled, c->throttled ? 6 : 0);
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq(x->acks[t], 1);
        ck_assert_int_eq(x->ack_how[t], SP_ACK_FAILED);
    }
    ck_assert_int_eq(x->fatal, 0);
    ck_assert_int_eq(x->drained, 1);
    ck_assert_int_eq(x->early, 0);
    fx_free(x);
}
END_TEST

START_TEST(entry_failures_count_per_entry)
{
    struct fx *x = fx_new();
    srv_even(x, 1);
    sp_producer_opts o = opts(x);
    o.max_attempts = 2;
    o.backoff = (sp_backoff){10, 40};
    fx_start_routed(x, &o);
    put(x, 0, "a", NULL);
    put(x, 1, "b", NULL);
    put(x, 2, "c", NULL);
    flush(x);
    /* a: throttled twice, so failed; b: refused for good at once; c: stored. */
    const char *c1[] = {PTEE, "KMSAccessDeniedException", NULL};
    answer_entries(x, 0, c1, NULL);
    const sp_producer_stats *st = sp_producer_stats_get(x->p);
    ck_assert_uint_eq(st->failed, 1);
    ck_assert_int_eq(x->ack_how[1], SP_ACK_FAILED);
    ck_assert_int_eq(x->acks[2], 1);
    wait_request(x, 2, 1000);
    EXPECT(x, 1, 0);
    const char *c2[] = {PTEE};
    answer_entries(x, 1, c2, NULL);
    advance(x, 5000);
    ck_assert_uint_eq(x->nreq, 2);
    ck_assert_uint_eq(st->failed, 2);
    ck_assert_uint_eq(st->unknown, 0);
    ck_assert_uint_eq(st->records, 1);
    ck_assert_uint_eq(st->throttled, 2);
    ck_assert_uint_eq(st->retried, 1);
    ck_assert_int_eq(x->acks[0], 1);
    ck_assert_int_eq(x->ack_how[0], SP_ACK_FAILED);
    fx_free(x);
}
END_TEST

/* ---- ordered mode ---- */

START_TEST(ordered_one_request_per_shard_one_record_per_key)
{
    struct fx *x = fx_new();
    srv_even(x, 2);
    sp_producer_opts o = opts(x);
    o.ordered = 1;
    fx_start_routed(x, &o);
    sp_u128 A = in_range(0, 2), B = u(A.hi + 1, 0), C = in_range(1, 2);
    put(x, 0, "A", &A);       /* A1 */
    flush(x);
    EXPECT(x, 0, 0);
    put(x, 1, "A", &A);       /* A2 */
    put(x, 2, "B", &B);       /* B1 */
    put(x, 3, "A", &A);       /* A3 */
    put(x, 4, "B", &B);       /* B2 */
    ck_assert_uint_eq(x->nreq, 1); /* shard 0 has a request out */
    put(x, 5, "C", &C);       /* C1, shard 1: free to go */
    ck_assert_uint_eq(x->nreq, 2);
    EXPECT(x, 1, 5);
    put(x, 6, "C", &C);       /* C2 waits for C1 */
    ck_assert_uint_eq(x->nreq, 2);

    answer_ok(x, 0);
    EXPECT(x, 2, 1, 2);       /* A2 B1, not A3: one record per key */
    sp_rng rep;
    sp_rng_seed_with(&rep, SEED);
    uint32_t d = replay_delay(&rep, &o.backoff, 1);
    ck_assert_uint_gt(d, 0);
    uint64_t t0 = x->now;
    const char *codes[] = {PTEE, NULL};
    answer_entries(x, 2, codes, NULL); /* A2 fails, B1 stored */
    ck_assert_uint_eq(x->nreq, 3);
    answer_ok(x, 1);
    EXPECT(x, 3, 6);          /* shard 1 goes on */
    ck_assert_uint_eq(wait_request(x, 5, 1000), d);
    ck_assert_uint_eq(x->reqs[4].at, t0 + d);
    EXPECT(x, 4, 1);          /* A2 again, alone: A3 must wait for it */
    answer_ok(x, 4);
    EXPECT(x, 5, 3, 4);
    answer_ok(x, 5);
    answer_ok(x, 3);
    ck_assert_uint_eq(x->nreq, 6);
    ck_assert_uint_eq(x->shard_overlap, 0);
    /* Stored in order per key: A1 A2 A3, B1 B2, C1 C2. */
    const int order[] = {0, 2, 5, 1, 3, 4, 6};
    ck_assert_uint_eq(x->nacks, 7);
    for (size_t i = 0; i < 7; i++)
        ck_assert_int_eq(x->ack_order[i], order[i]);
    ck_assert_uint_eq(sp_producer_stats_get(x->p)->records, 7);
    fx_free(x);
}
END_TEST

START_TEST(unordered_sends_a_key_many_times_per_request)
{
    /* The same records without --ordered: one request, the shard not held. */
    struct fx *x = fx_new();
    srv_even(x, 2);
    sp_producer_opts o = opts(x);
    fx_start_routed(x, &o);
    sp_u128 A = in_range(0, 2);
    put(x, 0, "A", &A);
    flush(x);
    put(x, 1, "A", &A);
    put(x, 2, "A", &A);
    ck_assert_uint_eq(x->nreq, 3);
    ck_assert_uint_eq(x->shard_overlap, 2 + 1); /* r1 with r0's request, r2 with r0's and r1's */
    fx_free(x);
}
END_TEST

/* ---- backoff per shard ---- */

START_TEST(backoff_is_per_shard_and_grows_to_the_cap)
{
    struct fx *x = fx_new();
    srv_even(x, 2);
    sp_producer_opts o = opts(x);
    fx_start_routed(x, &o);
    sp_rng rep;
    sp_rng_seed_with(&rep, SEED);
    put_in(x, 0, 0, 2);       /* a, shard 0: always throttled */
    put_in(x, 1, 1, 2);       /* shard 1 */
    flush(x);
    EXPECT(x, 0, 0, 1);
    size_t last_a = 0;        /* the request a is in */
    uint32_t longest_late = 0;
    int tag = 2;
    for (unsigned streak = 1; streak <= 7; streak++) {
        const char *codes[] = {PTEE, NULL};
        uint32_t d = replay_delay(&rep, &o.backoff, streak);
        uint64_t t0 = x->now;
        answer_entries(x, last_a, codes, NULL);
        ck_assert_uint_le(d, sp_backoff_ceiling(&o.backoff, streak));
        if (d == 0) {
            ck_assert_uint_eq(x->nreq, last_a + 2); /* no pause at all */
            last_a++;
            continue;
        }
        /* Shard 0 is paused; shard 1 is not. */
        put_in(x, tag, 1, 2);
        ck_assert_uint_eq(x->nreq, last_a + 2);
        EXPECT(x, last_a + 1, tag);
        ck_assert_uint_eq(x->reqs[last_a + 1].at, t0);
        answer_ok(x, last_a + 1);
        tag++;
        uint64_t waited = wait_request(x, last_a + 3, 2000);
        ck_assert_uint_eq(waited, d);
        ck_assert_uint_le(waited, o.backoff.cap_ms);
        if (streak >= 3 && d > longest_late)
            longest_late = d;
        last_a += 2;
        EXPECT(x, last_a, 0);
    }
    /* Beyond the first ceiling: the streak raised it. */
    ck_assert_uint_gt(longest_late, sp_backoff_ceiling(&o.backoff, 1));
    /* A success ends the streak: the next failure draws from the first
     * ceiling again. */
    answer_ok(x, last_a);
    put_in(x, tag, 0, 2);
    ck_assert_uint_eq(x->nreq, last_a + 2);
    uint32_t d = replay_delay(&rep, &o.backoff, 1);
    ck_assert_uint_gt(d, 0);
    const char *codes[] = {PTEE};
    answer_entries(x, last_a + 1, codes, NULL);
    ck_assert_uint_eq(wait_request(x, last_a + 3, 2000), d);
    EXPECT(x, last_a + 2, tag);
    ck_assert_int_eq(x->acks[0], 1);
    fx_free(x);
}
END_TEST

START_TEST(paused_shard_does_not_hold_back_linger)
{
    /* Not flushing: shard 1's record leaves after its linger, not when
     * shard 0's long backoff ends. */
    struct fx *x = fx_new();
    srv_even(x, 2);
    sp_producer_opts o = opts(x);
    o.backoff = (sp_backoff){4000, 4000};
    fx_start_routed(x, &o);
    sp_rng rep;
    sp_rng_seed_with(&rep, SEED);
    uint32_t d = replay_delay(&rep, &o.backoff, 1);
    ck_assert_uint_gt(d, 1000);
    put_in(x, 0, 0, 2);
    ck_assert_uint_eq(wait_request(x, 1, 1000), o.linger_ms);
    uint64_t t0 = x->now;
    const char *codes[] = {PTEE};
    answer_entries(x, 0, codes, NULL);
    advance(x, 10);
    put_in(x, 1, 1, 2);
    ck_assert_uint_eq(wait_request(x, 2, 5000), o.linger_ms);
    EXPECT(x, 1, 1);
    answer_ok(x, 1);
    uint64_t left = t0 + d - x->now;
    ck_assert_uint_eq(wait_request(x, 3, 5000), left);
    ck_assert_uint_eq(x->reqs[2].at, t0 + d);
    EXPECT(x, 2, 0);
    fx_free(x);
}
END_TEST

/* ---- flushing is not held back by the linger ---- */

START_TEST(flush_sends_what_a_window_held_back_at_once)
{
    /* A long linger keeps records until a flush (the agent's stop); a
     * window lets only part of them go in the first request. The rest
     * must follow as the window makes room, not when the linger ends:
     * before, they waited the linger out and a stop lost them. */
    struct fx *x = fx_new();
    srv_even(x, 2);
    sp_producer_opts o = opts(x);
    o.linger_ms = 600000;
    sp_throttle_cfg_default(&o.throttle);
    o.throttle.share = 0.05;                 /* 50 records/s: 5 per 25 ms slot */
    fx_start_routed(x, &o);
    for (int i = 0; i < 20; i++)
        put_in(x, i, 0, 2);
    advance(x, 10);
    ck_assert_uint_eq(x->nreq, 0);           /* lingering */
    flush(x);
    uint64_t t = 0;
    size_t answered = 0;
    while (x->nacks < 20 && t < 3000) {
        for (; answered < x->nreq; answered++)
            answer_ok(x, answered);
        advance(x, 1);
        t++;
    }
    ck_assert_msg(x->nacks == 20, "%zu of 20 stored after %llu ms", x->nacks, (unsigned long long)t);
    ck_assert_uint_gt(x->nreq, 1);           /* the window did split them */
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(x->acks[i], 1);
    fx_free(x);
}
END_TEST

/* ---- a reshard while records wait ---- */

START_TEST(reshard_reroutes_waiting_records)
{
    struct fx *x = fx_new();
    srv_even(x, 1);
    sp_producer_opts o = opts(x);
    o.max_in_flight = 1;
    o.refresh_ms = 1000;
    fx_start_routed(x, &o);
    ck_assert_uint_eq(sp_producer_shards(x->p), 1);
    /* Even tags in the low half, odd in the high half. */
    for (int t = 0; t < 4; t++)
        put_in(x, t, (size_t)t % 2, 2);
    flush(x);
    EXPECT(x, 0, 0, 1, 2, 3);
    for (int t = 4; t < 10; t++)
        put_in(x, t, (size_t)t % 2, 2);
    ck_assert_uint_eq(x->nreq, 1);

    /* The shard splits; the periodic refresh lists the new shards. */
    srv_set(x, 0, "shardId-00", u(0, 0), u(UINT64_MAX, UINT64_MAX), 1);
    srv_set(x, 1, "shardId-01", u(0, 0), u(UINT64_MAX / 2, UINT64_MAX), 0);
    srv_set(x, 2, "shardId-02", u(UINT64_MAX / 2 + 1, 0), u(UINT64_MAX, UINT64_MAX), 0);
    advance(x, 999);
    ck_assert_uint_eq(x->nlist, 1);
    advance(x, 1);
    ck_assert_uint_eq(x->nlist, 2);
    answer_list(x, 1);
    const sp_producer_stats *st = sp_producer_stats_get(x->p);
    ck_assert_uint_eq(st->map_refreshes, 2);
    ck_assert_uint_eq(sp_producer_shards(x->p), 2);

    /* The old request's answer comes after the split: r1 is throttled and
     * goes back to the head of its new shard's queue. */
    sp_rng rep;
    sp_rng_seed_with(&rep, SEED);
    uint32_t d = replay_delay(&rep, &o.backoff, 1);
    ck_assert_uint_gt(d, 0);
    const char *codes[] = {NULL, PTEE, NULL, NULL};
    const char *ids[] = {"shardId-00", NULL, "shardId-00", "shardId-00"};
    answer_entries(x, 0, codes, ids);
    ck_assert_uint_eq(st->records, 3);
    ck_assert_uint_eq(x->nreq, 2);
    EXPECT(x, 1, 4, 6, 8);    /* the low child: not paused */
    answer_ok(x, 1);
    wait_request(x, 3, 1000);
    EXPECT(x, 2, 1, 5, 7, 9); /* the high child: r1 first */
    answer_ok(x, 2);

    ck_assert_uint_eq(st->records, 10);
    ck_assert_uint_eq(st->wrong_shard, 0);
    ck_assert_uint_eq(st->failed + st->unknown, 0);
    size_t sent[10] = {0};
    for (size_t i = 0; i < x->nreq; i++)
        for (size_t k = 0; k < x->reqs[i].n; k++)
            sent[x->reqs[i].e[k].tag]++;
    for (int t = 0; t < 10; t++) {
        ck_assert_uint_eq(sent[t], t == 1 ? 2 : 1); /* only the throttled one twice */
        ck_assert_int_eq(x->acks[t], 1);
        ck_assert_int_eq(x->ack_how[t], SP_ACK_STORED);
    }
    fx_free(x);
}
END_TEST

/* ---- started and drained come from the loop ---- */

START_TEST(started_and_drained_fire_from_the_loop)
{
    struct fx *x = fx_new();
    sp_producer_opts o = opts(x);
    o.route = 0;
    fx_start(x, &o);
    ck_assert_int_eq(x->started, 0);
    ck_assert_uint_eq(x->nlist, 0);
    sp_loop_run_due(x->loop);
    ck_assert_int_eq(x->started, 1);
    sp_loop_run_due(x->loop);
    ck_assert_int_eq(x->started, 1);

    flush(x);                 /* already idle: answered, but from the loop */
    ck_assert_int_eq(x->drained, 0);
    sp_loop_run_due(x->loop);
    ck_assert_int_eq(x->drained, 1);

    put(x, 0, "a", NULL);     /* flushing stays on: each goes at once */
    put(x, 1, "b", NULL);
    flush(x);
    ck_assert_uint_eq(x->nreq, 2);
    answer_ok(x, 0);
    sp_loop_run_due(x->loop);
    ck_assert_int_eq(x->drained, 1); /* b is still out */
    answer_ok(x, 1);
    ck_assert_int_eq(x->drained, 1);
    sp_loop_run_due(x->loop);
    ck_assert_int_eq(x->drained, 2);
    sp_loop_run_due(x->loop);
    ck_assert_int_eq(x->drained, 2);
    ck_assert_int_eq(x->early, 0);
    fx_free(x);
}
END_TEST

START_TEST(started_without_a_listing)
{
    /* ListShards refused at once, or answered with an error: records go
     * unrouted, and on_started still comes from the loop. */
    for (int how = 0; how < 2; how++) {
        struct fx *x = fx_new();
        sp_producer_opts o = opts(x);
        x->refuse_list = how == 0;
        fx_start(x, &o);
        ck_assert_int_eq(x->started, 0);
        if (how == 0) {
            ck_assert_uint_eq(x->nlist, 0);
            sp_loop_run_due(x->loop);
        } else {
            ck_assert_uint_eq(x->nlist, 1);
            answer_list_error(x, 0);
        }
        ck_assert_int_eq(x->started, 1);
        ck_assert_uint_eq(sp_producer_shards(x->p), 0);
        put(x, 0, "a", NULL);
        flush(x);
        EXPECT(x, 0, 0);
        answer_ok(x, 0);
        ck_assert_int_eq(x->acks[0], 1);
        ck_assert_int_eq(x->early, 0);
        fx_free(x);
    }
}
END_TEST

/* ---- shutdown and fatal errors ---- */

START_TEST(abandon_withdraws_what_is_out)
{
    struct fx *x = fx_new();
    sp_producer_opts o = opts(x);
    o.max_in_flight = 1;
    fx_start(x, &o);          /* the listing never answers */
    put(x, 0, "a", NULL);
    put(x, 1, "b", NULL);
    put(x, 2, "c", NULL);
    flush(x);
    EXPECT(x, 0, 0, 1, 2);    /* unrouted while the listing is out */
    put(x, 3, "d", NULL);
    put(x, 4, "e", NULL);
    ck_assert_uint_eq(x->nreq, 1);
    sp_producer_abandon(x->p);
    ck_assert_uint_eq(x->put_cancels, 1);
    ck_assert_uint_eq(x->list_cancels, 1);
    ck_assert(x->reqs[0].cancelled);
    const sp_producer_stats *st = sp_producer_stats_get(x->p);
    ck_assert_uint_eq(st->unknown, 3); /* sent, no answer */
    ck_assert_uint_eq(st->failed, 2);  /* never sent */
    for (int t = 0; t < 5; t++) {
        ck_assert_int_eq(x->acks[t], 1);
        ck_assert_int_eq(x->ack_how[t], SP_ACK_ABANDONED);
    }
    fx_free(x);
    /* fx_free ran abandon again: nothing cancelled twice (the fake checks). */
}
END_TEST

/* ---- per-shard counters, held bytes, latency (for /metrics) ---- */

START_TEST(counts_per_shard_and_held_bytes)
{
    struct fx *x = fx_new();
    srv_even(x, 4);
    sp_producer_opts o = opts(x);
    fx_start_routed(x, &o);
    ck_assert_uint_eq(sp_producer_held(x->p), 0);
    /* Tags 0..7: two records into each quarter, in shard order. */
    for (int t = 0; t < 8; t++)
        put_in(x, t, (size_t)t / 2, 4);
    ck_assert_uint_gt(sp_producer_held(x->p), 8 * (2 + 2));
    advance(x, 7);
    flush(x);
    ck_assert_uint_eq(x->nreq, 1);
    /* The second record of shard 1 (entry 3) is throttled, then resent. */
    const char *codes[8] = {NULL, NULL, NULL, "ProvisionedThroughputExceededException"};
    answer_entries(x, 0, codes, NULL);
    wait_request(x, 2, 60000);
    answer_ok(x, 1);
    for (size_t i = 0; i < 4; i++) {
        sp_shard_counters c;
        double share = 0;
        const char *id = sp_producer_shard_at(x->p, i, &c, &share);
        ck_assert_ptr_nonnull(id);
        ck_assert_str_eq(id, x->srv[i].id);
        ck_assert_uint_eq(c.records, 2);
        ck_assert_uint_eq(c.bytes, 4);         /* "rN" twice */
        ck_assert_uint_eq(c.throttled, i == 1 ? 1 : 0);
        ck_assert(share > 0 && share <= 1.0);
    }
    sp_shard_counters c;
    double share;
    ck_assert_ptr_null(sp_producer_shard_at(x->p, 4, &c, &share));
    ck_assert_uint_eq(sp_producer_held(x->p), 0);
    const sp_hist *h = sp_producer_latency(x->p, SP_LAT_RECORD);
    ck_assert_uint_eq(h->n, 8);
    /* One request-time sample per answered request. */
    size_t answered = 0;
    for (size_t i = 0; i < x->nreq; i++)
        answered += x->reqs[i].answered;
    ck_assert_uint_gt(answered, 0);
    ck_assert_uint_eq(sp_producer_latency(x->p, SP_LAT_REQUEST)->n, answered);
    uint64_t bounds[2] = {6, 7}, counts[2];
    sp_hist_cumulative(h, bounds, 2, counts);
    ck_assert_uint_eq(counts[0], 0);          /* the first seven waited 7 ms */
    ck_assert_uint_eq(counts[1], 7);
    ck_assert_uint_ge(h->sum_ms, 8 * 7);
    fx_free(x);
}
END_TEST

static const struct {
    long status;
    const char *code;
} fatal_cases[] = {
    {400, "AccessDeniedException"},
    {400, "ResourceNotFoundException"},
    {400, "ValidationException"},
};

START_TEST(fatal_error_stops_sending)
{
    struct fx *x = fx_new();
    sp_producer_opts o = opts(x);
    o.route = 0;
    fx_start(x, &o);
    put(x, 0, "a", NULL);
    put(x, 1, "b", NULL);
    flush(x);
    answer_error(x, 0, fatal_cases[_i].status, fatal_cases[_i].code);
    ck_assert_int_eq(x->fatal, 1);
    ck_assert_ptr_nonnull(strstr(x->fatal_msg, fatal_cases[_i].code));
    ck_assert_ptr_nonnull(strstr(x->fatal_msg, "s1"));
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(x->ack_how[t], SP_ACK_ABANDONED);
    put(x, 2, "c", NULL);
    flush(x);
    advance(x, 10000);
    ck_assert_uint_eq(x->nreq, 1);
    ck_assert_int_eq(x->fatal, 1);
    fx_free(x);
}
END_TEST

/* ---- balanced keys ---- */

START_TEST(balanced_keys_go_to_the_least_loaded_shard)
{
    /* Each balanced record goes to the shard that will drain soonest (ties:
     * the first), with the middle of its range as the ExplicitHashKey: 12
     * records over 4 empty shards are 3 each, in turn. A shard whose rate
     * was cut drains slower and then gets fewer. */
    struct fx *x = fx_new();
    srv_even(x, 4);
    sp_producer_opts o = opts(x);
    fx_start_routed(x, &o);
    sp_err err;
    for (int t = 0; t < 12; t++) {
        char data[16];
        snprintf(data, sizeof data, "r%d", t);
        sp_put_rec in = {"b", 1, NULL, 1, data, strlen(data), on_ack, x, (uint64_t)t};
        ck_assert_int_eq(sp_producer_put(x->p, &in, &err), SP_OK);
    }
    flush(x);
    ck_assert_uint_eq(x->nreq, 1);
    int per[4] = {0};
    for (size_t k = 0; k < x->reqs[0].n; k++) {
        const struct ent *e = &x->reqs[0].e[k];
        ck_assert(e->has_ehk);
        int sh = srv_shard_of(x, e->ehk);
        per[sh]++;
        /* Records are taken shard by shard: tag t went to shard t % 4. */
        ck_assert_int_eq(sh, e->tag % 4);
        sp_u128 mid = sp_u128_midpoint(x->srv[sh].start, x->srv[sh].end);
        ck_assert(e->ehk.hi == mid.hi && e->ehk.lo == mid.lo);
    }
    for (int sh = 0; sh < 4; sh++)
        ck_assert_int_eq(per[sh], 3);
    /* Shard 2 throttles one entry: its rate is cut, the rest are stored. */
    const char *codes[12] = {NULL};
    for (size_t k = 0; k < x->reqs[0].n; k++)
        if (srv_shard_of(x, x->reqs[0].e[k].ehk) == 2 && codes[0] == NULL) {
            codes[k] = PTEE;
            break;
        }
    answer_entries(x, 0, codes, NULL);
    wait_request(x, 2, 60000);
    answer_ok(x, 1);
    ck_assert_uint_eq(x->nacks, 12);
    /* 40 more: shard 2 drains at 0.7 of the others' rate, so it gets fewer. */
    memset(per, 0, sizeof per);
    size_t first = x->nreq;
    for (int t = 12; t < 52; t++) {
        char data[16];
        snprintf(data, sizeof data, "r%d", t);
        sp_put_rec in = {"b", 1, NULL, 1, data, strlen(data), on_ack, x, (uint64_t)t};
        ck_assert_int_eq(sp_producer_put(x->p, &in, &err), SP_OK);
    }
    for (size_t i = first, t = 0; x->nacks < 52; t++) {
        ck_assert_uint_lt(t, 60000);
        for (; i < x->nreq; i++) {
            for (size_t k = 0; k < x->reqs[i].n; k++)
                per[srv_shard_of(x, x->reqs[i].e[k].ehk)]++;
            answer_ok(x, i);
        }
        advance(x, 1);
    }
    ck_assert_int_eq(per[0] + per[1] + per[2] + per[3], 40);
    ck_assert_int_lt(per[2], per[0]);
    ck_assert_int_lt(per[2], per[1]);
    ck_assert_int_lt(per[2], per[3]);
    fx_free(x);
}
END_TEST

static Suite *producer_suite(void)
{
    Suite *s = suite_create("producer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, fake_clock_steps_timers);
    tcase_add_test(tc, routes_by_hash_and_counts_wrong_shard);
    tcase_add_test(tc, counts_per_shard_and_held_bytes);
    tcase_add_test(tc, balanced_keys_go_to_the_least_loaded_shard);
    tcase_add_test(tc, requeues_only_failed_entries_at_the_head);
    tcase_add_loop_test(tc, gives_up_after_max_attempts, 0,
                        (int)(sizeof giveup_cases / sizeof giveup_cases[0]));
    tcase_add_test(tc, entry_failures_count_per_entry);
    tcase_add_test(tc, ordered_one_request_per_shard_one_record_per_key);
    tcase_add_test(tc, unordered_sends_a_key_many_times_per_request);
    tcase_add_test(tc, backoff_is_per_shard_and_grows_to_the_cap);
    tcase_add_test(tc, paused_shard_does_not_hold_back_linger);
    tcase_add_test(tc, flush_sends_what_a_window_held_back_at_once);
    tcase_add_test(tc, reshard_reroutes_waiting_records);
    tcase_add_test(tc, started_and_drained_fire_from_the_loop);
    tcase_add_test(tc, started_without_a_listing);
    tcase_add_test(tc, abandon_withdraws_what_is_out);
    tcase_add_loop_test(tc, fatal_error_stops_sending, 0, (int)(sizeof fatal_cases / sizeof fatal_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(producer_suite)
