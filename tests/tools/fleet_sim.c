/* A fleet of agents sharing one stream, in simulated time.
 *
 * Each agent is a real sp_producer (windows, AIMD, batching, backoff,
 * requeue: the code the agent runs) on one shared event loop whose clock
 * is simulated, with the producer's transport seam pointed at a simulated
 * Kinesis: every PutRecords body is read back, each entry routed by the
 * MD5 of its key to one of `shards` equal shards, admitted or refused
 * ProvisionedThroughputExceeded by that shard's limiter at the moment the
 * request arrives (half its latency after it left), and answered after
 * the whole latency (uniform in [lat_min, lat_max] ms, per request). Two
 * limiters: the service's rolling second (as tests/fake/kinesis_model.py
 * WindowLimiter: 1000 records and 1 MiB in any second) and a token bucket
 * with a one-second burst (what the KPL models). Every agent is offered
 * more than its fair share (offer × capacity / agents) and starts at full
 * rate at time 0, as a fleet restarting together would.
 *
 * Figures, over arrivals after the warm-up (5 s): `used` is the stream's
 * binding limit used (stored records or bytes over capacity), `throttled`
 * the refused entries over all entries answered, `spread` max/min − 1 of
 * the records each agent had stored.
 *
 * Usage: fleet_sim [--agents 2,4,10,100] [--seconds 60] [--shards 4]
 *                  [--limiter rolling|bucket|both] [--offer 2] [--bytes 100]
 *                  [--buffer-s 5] [--latency 20-50] [--seed N] [--trace]
 * tests/check_fleet.c includes this file (FLEET_SIM_NO_MAIN) and asserts
 * the figures. */
#include <inttypes.h>
#include <stddef.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/batch.h"
#include "shardpipe/loop.h"
#include "shardpipe/producer.h"
#include "shardpipe/rng.h"
#include "shardpipe/u128.h"

#define FLEET_MAX_SHARDS 64
#define FLEET_WIN_MS 1000

enum fleet_limiter { FLEET_ROLLING, FLEET_BUCKET };

typedef struct fleet_cfg {
    size_t agents;
    size_t shards;
    uint32_t seconds;
    uint32_t warmup_s;
    enum fleet_limiter limiter;
    double offer;            /* each agent's offered rate, × its fair share */
    size_t data_bytes;       /* per record (key: 12 more) */
    uint32_t lat_min_ms, lat_max_ms;
    double buffer_s;         /* each agent's memory budget, in seconds of its share */
    uint64_t seed;
    sp_throttle_cfg throttle;/* the agents' windows (default: sp_throttle_cfg_default) */
    int trace;               /* a line per simulated second on stderr (2: and one agent's rate) */
    size_t trace_agent;
} fleet_cfg;

typedef struct fleet_result {
    double used;             /* of the binding limit, after the warm-up */
    double throttled;        /* refused / answered, after the warm-up */
    double spread;           /* max/min − 1 of stored per agent, after the warm-up */
    double used_all;         /* the same over the whole run */
    double throttled_all;
    uint64_t requests, entries;
} fleet_result;

/* ---- the service ---- */

struct shard_lim {
    /* rolling: records and bytes per millisecond of the last second */
    uint32_t rec[FLEET_WIN_MS];
    uint64_t byt[FLEET_WIN_MS];
    uint64_t n, b;           /* in the window */
    uint64_t tail_ms;        /* oldest millisecond still counted */
    /* bucket */
    double tok_r, tok_b;
    uint64_t last_ms;
};

struct agent;

struct req {
    struct agent *a;
    sp_kinesis_cb cb;
    void *cb_arg;
    int cancelled;
    size_t n;
    uint16_t shard[SP_BATCH_MAX_RECORDS];
    uint32_t bytes[SP_BATCH_MAX_RECORDS];
    uint8_t ok[SP_BATCH_MAX_RECORDS];
    uint64_t resp_ms;
};

struct listing {
    struct agent *a;
    sp_shardlist_fn done;
    void *arg;
    int cancelled;
};

enum ev_kind { EV_ARRIVE, EV_RESPOND, EV_LIST };

struct ev {
    uint64_t at, seq;
    enum ev_kind kind;
    void *ptr;
};

struct fleet;

struct agent {
    struct fleet *f;
    size_t idx;
    sp_producer *p;
    sp_producer_transport tx;
    sp_rng rng;
    double rate;             /* offered records per second */
    double credit;
    int started;
    uint64_t stored_after, refused_after;
    uint64_t sec_stored;     /* trace */
    double last_share;
};

struct fleet {
    fleet_cfg c;
    uint64_t now;
    sp_loop *loop;
    sp_log log;
    struct agent *agents;
    struct shard_lim lim[FLEET_MAX_SHARDS];
    char shard_id[FLEET_MAX_SHARDS][32];
    struct ev *heap;
    size_t nheap, capheap;
    uint64_t seq;
    sp_rng rng;
    char *data;
    uint64_t ok_after_r, ok_after_b, refused_after, ok_all_r, ok_all_b, refused_all;
    uint64_t requests, entries;
    uint64_t sec_ok, sec_refused; /* trace */
    uint64_t sec_shard[FLEET_MAX_SHARDS];
    uint64_t last_refusal0;
    int failed;              /* an allocation or call failed: the run is void */
};

static void heap_push(struct fleet *f, uint64_t at, enum ev_kind k, void *ptr)
{
    if (f->nheap == f->capheap) {
        size_t cap = f->capheap ? f->capheap * 2 : 1024;
        struct ev *h = realloc(f->heap, cap * sizeof *h);
        if (h == NULL) {
            f->failed = 1;
            return;
        }
        f->heap = h;
        f->capheap = cap;
    }
    struct ev e = {at, f->seq++, k, ptr};
    size_t i = f->nheap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        struct ev *u = &f->heap[up];
        if (u->at < e.at || (u->at == e.at && u->seq < e.seq))
            break;
        f->heap[i] = *u;
        i = up;
    }
    f->heap[i] = e;
}

static struct ev heap_pop(struct fleet *f)
{
    struct ev top = f->heap[0], last = f->heap[--f->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct ev *mv = &last;
        if (l < f->nheap && (f->heap[l].at < mv->at || (f->heap[l].at == mv->at && f->heap[l].seq < mv->seq))) {
            m = l;
            mv = &f->heap[l];
        }
        if (r < f->nheap && (f->heap[r].at < mv->at || (f->heap[r].at == mv->at && f->heap[r].seq < mv->seq)))
            m = r;
        if (m == i)
            break;
        f->heap[i] = f->heap[m];
        i = m;
    }
    if (f->nheap > 0)
        f->heap[i] = last;
    return top;
}

static int admit(struct fleet *f, struct shard_lim *s, uint64_t bytes)
{
    uint64_t now = f->now;
    if (f->c.limiter == FLEET_ROLLING) {
        /* Entries older than a second leave (kinesis_model: t <= now - 1). */
        while (s->tail_ms + FLEET_WIN_MS <= now) {
            size_t i = (size_t)(s->tail_ms % FLEET_WIN_MS);
            s->n -= s->rec[i];
            s->b -= s->byt[i];
            s->rec[i] = 0;
            s->byt[i] = 0;
            s->tail_ms++;
        }
        if (s->n + 1 > (uint64_t)SP_SHARD_RECORDS_PER_S ||
            (s->b + bytes > (uint64_t)SP_SHARD_BYTES_PER_S && s->b > 0))
            return 0;
        size_t i = (size_t)(now % FLEET_WIN_MS);
        s->rec[i]++;
        s->byt[i] += bytes;
        s->n++;
        s->b += bytes;
        return 1;
    }
    /* A token bucket holding one second's worth, refilled continuously. */
    double dt = (double)(now - s->last_ms) / 1000.0;
    s->last_ms = now;
    s->tok_r += dt * SP_SHARD_RECORDS_PER_S;
    s->tok_b += dt * SP_SHARD_BYTES_PER_S;
    if (s->tok_r > SP_SHARD_RECORDS_PER_S)
        s->tok_r = SP_SHARD_RECORDS_PER_S;
    if (s->tok_b > SP_SHARD_BYTES_PER_S)
        s->tok_b = SP_SHARD_BYTES_PER_S;
    if (s->tok_r < 1.0 || (s->tok_b < (double)bytes && s->tok_b < SP_SHARD_BYTES_PER_S))
        return 0;
    s->tok_r -= 1.0;
    s->tok_b -= (double)bytes;
    return 1;
}

static uint64_t latency(struct fleet *f)
{
    return f->c.lat_min_ms + sp_rng_below(&f->rng, f->c.lat_max_ms - f->c.lat_min_ms + 1);
}

static void arrive(struct fleet *f, struct req *r)
{
    int after = f->now >= (uint64_t)f->c.warmup_s * 1000;
    for (size_t i = 0; i < r->n; i++) {
        r->ok[i] = (uint8_t)admit(f, &f->lim[r->shard[i]], r->bytes[i]);
        if (r->ok[i]) {
            f->ok_all_r++;
            f->ok_all_b += r->bytes[i];
            f->sec_ok++;
            f->sec_shard[r->shard[i]]++;
            r->a->sec_stored++;
        } else {
            f->refused_all++;
            f->sec_refused++;
            if (f->c.trace > 2 && r->shard[i] == 0) {
                if (f->now > f->last_refusal0 + 300)
                    fprintf(stderr, "-- event\n");
                f->last_refusal0 = f->now;
                fprintf(stderr, "   %6" PRIu64 " refused agent %zu (window n=%" PRIu64 ")\n", f->now, r->a->idx,
                        f->lim[0].n);
            }
        }
        if (!after)
            continue;
        if (r->ok[i]) {
            f->ok_after_r++;
            f->ok_after_b += r->bytes[i];
            r->a->stored_after++;
        } else {
            f->refused_after++;
            r->a->refused_after++;
        }
    }
}

static void respond(struct fleet *f, struct req *r)
{
    if (r->cancelled)
        return;
    json_object *j = json_object_new_object(), *arr = json_object_new_array();
    int failed = 0;
    if (j == NULL || arr == NULL) {
        f->failed = 1;
        json_object_put(j);
        json_object_put(arr);
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        json_object *o = json_object_new_object();
        if (r->ok[i]) {
            json_object_object_add(o, "SequenceNumber", json_object_new_string("49590338271490256608559692538361571095921575989136588898"));
            json_object_object_add(o, "ShardId", json_object_new_string(f->shard_id[r->shard[i]]));
        } else {
            failed++;
            json_object_object_add(o, "ErrorCode", json_object_new_string("ProvisionedThroughputExceededException"));
            json_object_object_add(o, "ErrorMessage", json_object_new_string("Rate exceeded for shard"));
        }
        json_object_array_add(arr, o);
    }
    json_object_object_add(j, "FailedRecordCount", json_object_new_int(failed));
    json_object_object_add(j, "Records", arr);
    sp_kinesis_result res;
    memset(&res, 0, sizeof res);
    res.status = 200;
    res.klass = SP_KC_OK;
    res.json = j;
    res.body = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN); /* as kinesis.c hands it on */
    res.body_len = res.body ? strlen(res.body) : 0;
    f->requests++;
    f->entries += r->n;
    r->cb(r->cb_arg, &res);
    json_object_put(j);
}

/* ---- the transport ---- */

/* Reads back the entries of a body as sp_batch writes it. */
static int parse_body(struct fleet *f, const char *body, struct req *r)
{
    static const char data_tag[] = "{\"Data\":\"", pk_tag[] = "\"PartitionKey\":\"";
    const char *p = body;
    uint64_t step = f->c.shards == 1 ? 0 : UINT64_MAX / f->c.shards + 1;
    while ((p = strstr(p, data_tag)) != NULL) {
        if (r->n == SP_BATCH_MAX_RECORDS)
            return -1;
        p += sizeof data_tag - 1;
        const char *q = strchr(p, '"');
        if (q == NULL)
            return -1;
        size_t enc = (size_t)(q - p);
        size_t dlen = enc / 4 * 3 - (enc && q[-1] == '=') - (enc > 1 && q[-2] == '=');
        const char *k = strstr(q, pk_tag);
        if (k == NULL)
            return -1;
        k += sizeof pk_tag - 1;
        const char *ke = strchr(k, '"');
        if (ke == NULL)
            return -1;
        sp_u128 h = sp_hashkey(k, (size_t)(ke - k));
        uint64_t sh = step ? h.hi / step : 0;
        r->shard[r->n] = (uint16_t)(sh < f->c.shards ? sh : f->c.shards - 1);
        r->bytes[r->n] = (uint32_t)(dlen + (size_t)(ke - k));
        r->n++;
        p = ke;
    }
    return r->n ? 0 : -1;
}

static int fake_put(void *arg, sp_buf *body, sp_kinesis_cb cb, void *cb_arg, void **handle, sp_err *err)
{
    struct agent *a = arg;
    struct fleet *f = a->f;
    struct req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return sp_err_set(err, "out of memory");
    if (parse_body(f, body->data, r) != 0) {
        free(r);
        f->failed = 1;
        return sp_err_set(err, "fleet: unreadable PutRecords body");
    }
    size_t max = body->max;
    sp_buf_free(body); /* moved, as sp_kinesis_call_h does */
    sp_buf_init(body, max);
    r->a = a;
    r->cb = cb;
    r->cb_arg = cb_arg;
    uint64_t lat = latency(f);
    r->resp_ms = f->now + lat;
    heap_push(f, f->now + lat / 2, EV_ARRIVE, r);
    *handle = r;
    return SP_OK;
}

static void fake_cancel_put(void *arg, void *handle)
{
    (void)arg;
    ((struct req *)handle)->cancelled = 1;
}

static int fake_list(void *arg, const char *stream, const char *filter, sp_shardlist_fn done, void *done_arg,
                     void **handle, sp_err *err)
{
    (void)stream;
    (void)filter;
    struct agent *a = arg;
    struct listing *l = calloc(1, sizeof *l);
    if (l == NULL)
        return sp_err_set(err, "out of memory");
    l->a = a;
    l->done = done;
    l->arg = done_arg;
    heap_push(a->f, a->f->now + latency(a->f), EV_LIST, l);
    *handle = l;
    return SP_OK;
}

static void fake_cancel_list(void *arg, void *handle)
{
    (void)arg;
    ((struct listing *)handle)->cancelled = 1;
}

static void answer_list(struct fleet *f, struct listing *l)
{
    if (l->cancelled)
        return;
    sp_shard *s = calloc(f->c.shards, sizeof *s);
    if (s == NULL) {
        f->failed = 1;
        l->done(l->arg, NULL, 0, "out of memory", 1);
        return;
    }
    uint64_t step = f->c.shards == 1 ? 0 : UINT64_MAX / f->c.shards + 1;
    for (size_t i = 0; i < f->c.shards; i++) {
        snprintf(s[i].id, sizeof s[i].id, "%s", f->shard_id[i]);
        s[i].start = (sp_u128){step * i, 0};
        s[i].end = i + 1 == f->c.shards ? (sp_u128){UINT64_MAX, UINT64_MAX}
                                         : (sp_u128){step * (i + 1) - 1, UINT64_MAX};
    }
    l->done(l->arg, s, f->c.shards, NULL, 0);
}

static void on_started(void *arg)
{
    ((struct agent *)arg)->started = 1;
}

/* ---- the sources ---- */

static void feed(struct fleet *f, struct agent *a)
{
    if (!a->started)
        return;
    a->credit += a->rate / 1000.0;
    while (a->credit >= 1.0 && !sp_producer_full(a->p)) {
        char pk[16];
        uint64_t v = sp_rng_next(&a->rng);
        snprintf(pk, sizeof pk, "%012" PRIx64, v & (uint64_t)0xffffffffffff);
        sp_put_rec in = {.pk = pk, .pk_len = 12, .data = f->data, .len = f->c.data_bytes};
        sp_err err;
        if (sp_producer_put(a->p, &in, &err) != SP_OK) {
            f->failed = 1;
            return;
        }
        a->credit -= 1.0;
    }
    if (a->credit > 1.0)
        a->credit = 1.0; /* paused by backpressure: the rest waits in the source */
}

/* ---- a run ---- */

static void trace_second(struct fleet *f)
{
    double lo = 1e9, hi = 0, sum = 0;
    for (size_t i = 0; i < f->c.agents; i++) {
        sp_shard_counters c;
        double share = 0;
        if (sp_producer_shard_at(f->agents[i].p, 0, &c, &share) == NULL)
            continue;
        lo = share < lo ? share : lo;
        hi = share > hi ? share : hi;
        sum += share;
    }
    fprintf(stderr, "t=%3" PRIu64 "s stored %6" PRIu64 " refused %5" PRIu64 "  shard 0 shares: sum %.3f min %.4f "
            "max %.4f; agent 0 holds %zu bytes\n", f->now / 1000, f->sec_ok, f->sec_refused, sum, lo, hi,
            sp_producer_held(f->agents[0].p));
    fprintf(stderr, "      per shard:");
    for (size_t i = 0; i < f->c.shards && i < 8; i++)
        fprintf(stderr, " %" PRIu64, f->sec_shard[i]);
    fprintf(stderr, "\n      agents (stored, share of shard 0):");
    for (size_t i = 0; i < f->c.agents && i < 8; i++) {
        sp_shard_counters c;
        double share = 0;
        sp_producer_shard_at(f->agents[i].p, 0, &c, &share);
        fprintf(stderr, " %" PRIu64 "/%.3f", f->agents[i].sec_stored, share);
        f->agents[i].sec_stored = 0;
    }
    fprintf(stderr, "\n");
    memset(f->sec_shard, 0, sizeof f->sec_shard);
    f->sec_ok = f->sec_refused = 0;
}

static void fleet_free(struct fleet *f)
{
    for (size_t i = 0; f->agents && i < f->c.agents; i++)
        sp_producer_free(f->agents[i].p);
    while (f->nheap > 0)
        free(heap_pop(f).ptr);
    free(f->heap);
    free(f->agents);
    free(f->data);
    if (f->loop)
        sp_loop_free(f->loop);
    if (f->log.out)
        fclose(f->log.out);
    free(f);
}

static uint64_t fleet_clock(void *arg)
{
    return ((struct fleet *)arg)->now;
}

/* Runs one simulation; 0 on success (figures in *out), -1 when it could not run. */
static int fleet_run(const fleet_cfg *c, fleet_result *out)
{
    if (c->agents == 0 || c->shards == 0 || c->shards > FLEET_MAX_SHARDS || c->seconds <= c->warmup_s ||
        c->lat_max_ms < c->lat_min_ms || c->data_bytes == 0)
        return -1;
    struct fleet *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->c = *c;
    sp_rng_seed_with(&f->rng, c->seed);
    sp_err err;
    f->loop = sp_loop_new(&err);
    f->agents = calloc(c->agents, sizeof *f->agents);
    f->data = malloc(c->data_bytes);
    f->log.level = SP_LOG_ERROR;
    f->log.out = fopen("/dev/null", "w");
    if (f->loop == NULL || f->agents == NULL || f->data == NULL || f->log.out == NULL) {
        fleet_free(f);
        return -1;
    }
    memset(f->data, 'x', c->data_bytes);
    sp_loop_set_clock(f->loop, fleet_clock, f);
    for (size_t i = 0; i < c->shards; i++) {
        snprintf(f->shard_id[i], sizeof f->shard_id[i], "shardId-%012zu", i);
        f->lim[i].tok_r = SP_SHARD_RECORDS_PER_S;
        f->lim[i].tok_b = SP_SHARD_BYTES_PER_S;
    }
    double fair = (double)c->shards * SP_SHARD_RECORDS_PER_S / (double)c->agents;
    double fair_b = (double)c->shards * SP_SHARD_BYTES_PER_S / (double)(c->data_bytes + 12) / (double)c->agents;
    if (fair_b < fair)
        fair = fair_b;
    for (size_t i = 0; i < c->agents; i++) {
        struct agent *a = &f->agents[i];
        a->f = f;
        a->idx = i;
        a->rate = fair * c->offer;
        sp_rng_seed_with(&a->rng, c->seed * 7919 + i + 1);
        a->tx = (sp_producer_transport){fake_put, fake_cancel_put, fake_list, fake_cancel_list, a};
        sp_producer_opts o;
        memset(&o, 0, sizeof o);
        o.stream = "fleet";
        o.linger_ms = 200;
        o.max_in_flight = 8;
        o.route = 1;
        o.throttle = c->throttle;
        /* buffer_s seconds of the agent's share: its backlog, and what it
         * has to ride out one shard's dip while the others go on. */
        o.budget_bytes = (size_t)(c->buffer_s * fair * (double)(c->data_bytes + 12 + sizeof(sp_record))) + 65536;
        o.log = &f->log;
        o.on_started = on_started;
        o.arg = a;
        o.transport = &a->tx;
        o.seed = c->seed * 104729 + i + 1;
        a->p = sp_producer_new(f->loop, NULL, &o, &err);
        if (a->p == NULL || sp_producer_start(a->p, &err) != SP_OK) {
            fleet_free(f);
            return -1;
        }
    }
    uint64_t end = (uint64_t)c->seconds * 1000;
    for (f->now = 0; f->now < end && !f->failed; f->now++) {
        while (f->nheap > 0 && f->heap[0].at <= f->now) {
            struct ev e = heap_pop(f);
            if (e.kind == EV_ARRIVE) {
                struct req *r = e.ptr;
                if (!r->cancelled)
                    arrive(f, r);
                heap_push(f, r->resp_ms, EV_RESPOND, r);
            } else if (e.kind == EV_RESPOND) {
                respond(f, e.ptr);
                free(e.ptr);
            } else {
                answer_list(f, e.ptr);
                free(e.ptr);
            }
        }
        for (size_t i = 0; i < c->agents; i++)
            feed(f, &f->agents[(i + f->now) % c->agents]); /* no agent always first */
        sp_loop_run_due(f->loop);
        if (c->trace > 1) {
            /* --trace --trace: every change of one agent's shard-0 rate */
            struct agent *a = &f->agents[c->trace_agent % c->agents];
            sp_shard_counters sc;
            double share = 0;
            if (sp_producer_shard_at(a->p, 0, &sc, &share) && share != a->last_share) {
                fprintf(stderr, "  %6" PRIu64 " ms agent %zu shard 0: %.4f -> %.4f (throttled so far %" PRIu64 ")\n",
                        f->now, a->idx, a->last_share, share, sc.throttled);
                a->last_share = share;
            }
        }
        if (c->trace && f->now % 1000 == 999)
            trace_second(f);
    }
    int rc = f->failed ? -1 : 0;
    double secs = (double)(c->seconds - c->warmup_s);
    double cap_r = (double)c->shards * SP_SHARD_RECORDS_PER_S, cap_b = (double)c->shards * SP_SHARD_BYTES_PER_S;
    double ur = (double)f->ok_after_r / (cap_r * secs), ub = (double)f->ok_after_b / (cap_b * secs);
    out->used = ur > ub ? ur : ub;
    ur = (double)f->ok_all_r / (cap_r * c->seconds);
    ub = (double)f->ok_all_b / (cap_b * c->seconds);
    out->used_all = ur > ub ? ur : ub;
    uint64_t ans = f->ok_after_r + f->refused_after;
    out->throttled = ans ? (double)f->refused_after / (double)ans : 1.0;
    ans = f->ok_all_r + f->refused_all;
    out->throttled_all = ans ? (double)f->refused_all / (double)ans : 1.0;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < c->agents; i++) {
        uint64_t v = f->agents[i].stored_after;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    out->spread = lo ? (double)hi / (double)lo - 1.0 : 1e9;
    if (c->trace) {
        fprintf(stderr, "stored/refused after the warm-up, per agent:");
        for (size_t i = 0; i < c->agents; i++)
            fprintf(stderr, " %zu:%" PRIu64 "/%" PRIu64, i, f->agents[i].stored_after, f->agents[i].refused_after);
        fprintf(stderr, "\n");
    }
    out->requests = f->requests;
    out->entries = f->entries;
    fleet_free(f);
    return rc;
}

static void fleet_cfg_default(fleet_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->agents = 2;
    c->shards = 4;
    c->seconds = 60;
    c->warmup_s = 5;
    c->limiter = FLEET_ROLLING;
    c->offer = 2.0;
    c->data_bytes = 100;
    c->lat_min_ms = 20;
    c->lat_max_ms = 50;
    c->buffer_s = 5;
    c->seed = 1;
    sp_throttle_cfg_default(&c->throttle);
}

static const char *fleet_limiter_name(enum fleet_limiter l)
{
    return l == FLEET_ROLLING ? "rolling second" : "token bucket";
}

#ifndef FLEET_SIM_NO_MAIN
static int usage(void)
{
    fprintf(stderr, "usage: fleet_sim [--agents 2,4,10,100] [--seconds 60] [--shards 4] "
                    "[--limiter rolling|bucket|both] [--offer 2] [--bytes 100] [--buffer-s 5] [--latency 20-50] "
                    "[--seed N] [--trace]\n");
    return 2;
}

int main(int argc, char **argv)
{
    fleet_cfg c;
    fleet_cfg_default(&c);
    const char *agents = "2,4,10,100", *lim = "both";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--trace") == 0) {
            c.trace++;
            continue;
        }
        if (v == NULL)
            return usage();
        i++;
        if (strcmp(a, "--agents") == 0)
            agents = v;
        else if (strcmp(a, "--seconds") == 0)
            c.seconds = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--shards") == 0)
            c.shards = strtoul(v, NULL, 10);
        else if (strcmp(a, "--limiter") == 0)
            lim = v;
        else if (strcmp(a, "--offer") == 0)
            c.offer = strtod(v, NULL);
        else if (strcmp(a, "--bytes") == 0)
            c.data_bytes = strtoul(v, NULL, 10);
        else if (strcmp(a, "--trace-agent") == 0)
            c.trace_agent = strtoul(v, NULL, 10);
        else if (strcmp(a, "--buffer-s") == 0)
            c.buffer_s = strtod(v, NULL);
        else if (strcmp(a, "--set") == 0) {
            /* --set name=value: a throttle setting, to try another tuning */
            static const struct { const char *name; size_t off; int is_u32; } knobs[] = {
                {"start", offsetof(sp_throttle_cfg, start), 0},
                {"min_share", offsetof(sp_throttle_cfg, min_share), 0},
                {"decrease", offsetof(sp_throttle_cfg, decrease), 0},
                {"per_entry", offsetof(sp_throttle_cfg, per_entry), 0},
                {"increase", offsetof(sp_throttle_cfg, increase), 0},
                {"quiet_ms", offsetof(sp_throttle_cfg, quiet_ms), 1},
                {"step_ms", offsetof(sp_throttle_cfg, step_ms), 1},
                {"cut_ms", offsetof(sp_throttle_cfg, cut_ms), 1},
                {"pace_ms", offsetof(sp_throttle_cfg, pace_ms), 1},
            };
            const char *eq = strchr(v, '=');
            size_t k = 0, nk = sizeof knobs / sizeof knobs[0];
            while (eq && k < nk && (strlen(knobs[k].name) != (size_t)(eq - v) ||
                                    strncmp(knobs[k].name, v, (size_t)(eq - v)) != 0))
                k++;
            if (eq == NULL || k == nk)
                return usage();
            char *at = (char *)&c.throttle + knobs[k].off;
            if (knobs[k].is_u32) {
                uint32_t u = (uint32_t)strtoul(eq + 1, NULL, 10);
                memcpy(at, &u, sizeof u);
            } else {
                double d = strtod(eq + 1, NULL);
                memcpy(at, &d, sizeof d);
            }
        } else if (strcmp(a, "--seed") == 0)
            c.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--latency") == 0) {
            if (sscanf(v, "%" SCNu32 "-%" SCNu32, &c.lat_min_ms, &c.lat_max_ms) != 2)
                return usage();
        } else
            return usage();
    }
    int lims[2], nl = 0;
    if (strcmp(lim, "rolling") == 0 || strcmp(lim, "both") == 0)
        lims[nl++] = FLEET_ROLLING;
    if (strcmp(lim, "bucket") == 0 || strcmp(lim, "both") == 0)
        lims[nl++] = FLEET_BUCKET;
    if (nl == 0)
        return usage();
    printf("%zu shards, %zu-byte records, latency %" PRIu32 "-%" PRIu32 " ms, each agent offered %.1fx its share, "
           "%" PRIu32 " s simulated; figures after the first %" PRIu32 " s\n",
           c.shards, c.data_bytes, c.lat_min_ms, c.lat_max_ms, c.offer, c.seconds, c.warmup_s);
    printf("%-15s %6s %9s %11s %8s %11s %15s\n", "limiter", "agents", "achieved", "throttled", "spread",
           "achieved*", "throttled*");
    int bad = 0;
    for (int l = 0; l < nl; l++) {
        const char *p = agents;
        while (*p) {
            char *e;
            c.agents = strtoul(p, &e, 10);
            if (e == p)
                return usage();
            c.limiter = (enum fleet_limiter)lims[l];
            fleet_result r;
            if (fleet_run(&c, &r) != 0) {
                fprintf(stderr, "fleet_sim: the run with %zu agents could not be made\n", c.agents);
                bad = 1;
            } else {
                printf("%-15s %6zu %8.1f%% %10.2f%% %7.1f%% %10.1f%% %14.2f%%\n", fleet_limiter_name(c.limiter),
                       c.agents, 100 * r.used, 100 * r.throttled, 100 * r.spread, 100 * r.used_all,
                       100 * r.throttled_all);
                fflush(stdout);
            }
            p = *e == ',' ? e + 1 : e;
        }
    }
    printf("(* over the whole run, the start included)\n");
    return bad;
}
#endif
