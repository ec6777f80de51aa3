/* The write pipeline.
 *
 * Every record is routed when it arrives: its hash (the ExplicitHashKey or
 * MD5 of its key) picks an open shard from the shard map, and it waits in
 * that shard's queue. A PutRecords batch collects records from many shard
 * queues, each as far as its throttle window allows, and leaves when it is
 * full or its oldest record has waited linger_ms. Entries that fail go
 * back to the head of their shard's queue, and that shard pauses for a
 * backoff (exponential, full jitter), so only failed entries are resent
 * and a throttled shard slows down without holding up the others.
 *
 * With routing off (or before a map exists), records wait in one
 * "unrouted" queue that no window limits. */
#include <stdlib.h>
#include <string.h>

#include "shardpipe/shardlist.h"
#include "shardpipe/batch.h"
#include "shardpipe/hist.h"
#include "shardpipe/list.h"
#include "shardpipe/producer.h"
#include "shardpipe/shardset.h"

#define LAT_CAP_MS 60000      /* 1 ms buckets up to 60 s */
#define WINDOW_TICK_MS 25     /* least wait for room in a window (one slot): lets batches fill */

struct shardq {
    char id[SP_SHARD_ID_MAX + 1];
    sp_recq q;
    sp_recq front;            /* requeue: this shard's failed records, gathered */
    sp_window win;
    int limited;              /* has a window (0 for the unrouted queue) */
    uint64_t paused_until;    /* backoff after failures */
    unsigned fail_streak;
    size_t in_flight;         /* records of this shard in flight */
    sp_shard_counters c;      /* carried over while the shard stays open */
};

struct sp_producer {
    sp_loop *loop;
    sp_kinesis *k;
    sp_producer_opts o;
    char stream[SP_STREAM_NAME_MAX + 1];
    sp_shardmap map;
    struct shardq *sq;        /* parallel to map.shards */
    size_t nsq;
    struct shardq unrouted;
    uint32_t gen;             /* bumped whenever a new map is installed */
    size_t queued;            /* records waiting in all queues */
    size_t queued_bytes;
    size_t rr;                /* where the next batch starts collecting */
    sp_timer wake;            /* linger, window room, backoff */
    sp_timer refresh;
    sp_timer drained;         /* on_drained is announced from here, never
                                 from inside a caller's stack */
    sp_timer started;         /* on_started, when there is no listing to wait for */
    int starting;             /* the first listing has not answered yet */
    sp_producer_transport tx; /* PutRecords and ListShards: Kinesis, or a test's fake */
    void *listing;            /* a refresh under way (tx's handle), NULL when none */
    uint64_t last_refresh_ms;
    sp_batch batch;
    sp_buf scratch;           /* strings of the last PutRecords response */
    sp_rng rng;
    sp_budget own_budget;     /* when no shared one was given */
    sp_budget *budget;
    unsigned in_flight;
    struct inflight *flights;
    int flushing;
    int fatal;
    sp_log_repeat list_log;   /* ListShards refused (permission, no stream) */
    int drained_sent;
    sp_keyset order_set;      /* ordered mode: key hashes in the batch being built */
    uint32_t transit_ms;      /* how long requests take: records count that much
                                 longer in the windows (fast up, slow down) */
    sp_hist lat[2];           /* SP_LAT_RECORD: read to stored; SP_LAT_REQUEST: one PutRecords */
    size_t held;              /* bytes of records held (this producer's part of the budget) */
    sp_producer_stats stats;
    sp_sched sched;           /* indexed like queue_at (unrouted: nsq): no step looks at every shard */
    int balanced;             /* a balanced key was seen: sched keeps the loads */
    struct shardq **touched;  /* requeue: shards in order of first failure */
    sp_recslab slab;          /* record memory */
};

struct inflight {
    sp_producer *p;
    uint64_t sent_ms;
    struct inflight *next, *prev;   /* so shutdown can find every record */
    void *call;                     /* tx's handle, to withdraw from at shutdown */
    size_t n;
    sp_record *recs[];
};

static void pump(sp_producer *p);

/* ---- the real transport: the Kinesis client (arg) ---- */

static int kin_put(void *k, sp_buf *body, sp_kinesis_cb cb, void *arg, void **handle, sp_err *err)
{
    sp_kcall *c = NULL;
    int rc = sp_kinesis_call_h(k, "PutRecords", body, cb, arg, &c, err);
    *handle = c;
    return rc;
}

static int kin_list(void *k, const char *stream, const char *filter, sp_shardlist_fn done, void *arg,
                    void **handle, sp_err *err)
{
    sp_shardlist *l = NULL;
    int rc = sp_shardlist_start(k, stream, filter, done, arg, &l, err);
    *handle = l;
    return rc;
}

static void kin_cancel_put(void *k, void *handle) { (void)k; sp_kinesis_cancel(handle); }
static void kin_cancel_list(void *k, void *handle) { (void)k; sp_shardlist_cancel(handle); }

/* ---- small pieces ---- */

static struct shardq *queue_at(sp_producer *p, size_t i)
{
    return i < p->nsq ? &p->sq[i] : &p->unrouted;
}

/* The shard queue a record belongs to under the current map. */
static struct shardq *route(sp_producer *p, sp_record *r)
{
    long i = p->map.n ? sp_shardmap_lookup(&p->map, r->hash) : -1;
    r->gen = p->gen;
    r->shard = (int32_t)i;
    return i < 0 ? &p->unrouted : &p->sq[i];
}

/* The queue of the shard a record was sent to, if the map is unchanged. */
static struct shardq *sent_queue(sp_producer *p, const sp_record *r)
{
    if (r->gen != p->gen || r->shard < 0 || (size_t)r->shard >= p->nsq)
        return r->gen == p->gen && r->shard < 0 ? &p->unrouted : NULL;
    return &p->sq[r->shard];
}

static size_t index_of(const sp_producer *p, const struct shardq *s)
{
    return s == &p->unrouted ? p->nsq : (size_t)(s - p->sq);
}

/* ---- scheduling: which shards may send, and when ---- */

/* Balanced keys: a shard's time to drain, kept once the first balanced
 * key is seen. */
static void update_load(sp_producer *p, const struct shardq *s)
{
    if (!p->balanced || s == &p->unrouted)
        return;
    double tb = (double)(s->q.bytes + s->in_flight * 64) / sp_window_bytes_rate(&s->win);
    double tr = (double)(s->q.count + s->in_flight) / sp_window_records_rate(&s->win);
    sp_sched_load(&p->sched, index_of(p, s), tb > tr ? tb : tr);
}

/* Puts shard i where its state says: idle when nothing waits or (ordered)
 * a request of it is out; parked while it backs off; else ready, due when
 * its head record is (a retry at once). */
static void settle(sp_producer *p, size_t i, uint64_t now)
{
    struct shardq *s = queue_at(p, i);
    sp_record *h = s->q.head;
    if (h == NULL || (p->o.ordered && s->in_flight > 0))
        sp_sched_idle(&p->sched, i);
    else if (s->paused_until > now)
        sp_sched_park(&p->sched, i, s->paused_until);
    else
        sp_sched_ready(&p->sched, i, h->attempts > 0 ? 0 : h->read_ms + p->o.linger_ms);
}

static void enqueue(sp_producer *p, sp_record *r)
{
    struct shardq *s = route(p, r);
    int was_empty = s->q.head == NULL;
    sp_recq_push(&s->q, r);
    p->queued++;
    p->queued_bytes += sp_record_bytes(r);
    if (was_empty)
        settle(p, index_of(p, s), sp_loop_now_ms(p->loop));
    update_load(p, s);
}

static void flight_link(sp_producer *p, struct inflight *f)
{
    SP_LIST_PUSH(&p->flights, f);
    p->in_flight++;
}

static void flight_unlink(sp_producer *p, struct inflight *f)
{
    SP_LIST_REMOVE(&p->flights, f);
    p->in_flight--;
}

static void release(sp_producer *p, sp_record *r, int stored)
{
    if (stored == SP_ACK_STORED)
        sp_hist_add(&p->lat[SP_LAT_RECORD], sp_loop_now_ms(p->loop) - r->read_ms);
    if (r->ack)
        r->ack(r->token, r->tag, stored);
    /* The budget may be shared: whoever frees the byte that ends "full"
     * announces it, whichever producer filled it. */
    int was_full = sp_producer_full(p);
    p->budget->used -= sp_record_mem(r);
    p->held -= sp_record_mem(r);
    sp_recslab_free(&p->slab, r, sp_record_mem(r));
    if (was_full && !sp_producer_full(p) && p->o.on_space)
        p->o.on_space(p->o.arg);
}

static void on_drained_timer(sp_loop *loop, void *arg)
{
    (void)loop;
    sp_producer *p = arg;
    if (p->flushing && !p->drained_sent && sp_producer_idle(p)) {
        p->drained_sent = 1;
        if (p->o.on_drained)
            p->o.on_drained(p->o.arg);
    }
}

/* The owner may free sources, flows or this producer when it hears that
 * all is settled; so it hears it from the loop, not from within a put or
 * a flush that a source is still inside of. */
static void check_drained(sp_producer *p)
{
    if (p->flushing && !p->drained_sent && sp_producer_idle(p) && !p->drained.armed) {
        sp_err err;
        if (sp_timer_start(p->loop, &p->drained, 0, &err) != SP_OK)
            sp_log_error(p->o.log, "%s", err.msg);
    }
}

/* ---- shard map ---- */

static void on_refresh_timer(sp_loop *loop, void *arg);

/* Installs a new map: windows carry over for shards that remain, and
 * every waiting record is routed again, keeping its order. */
static void install_map(sp_producer *p, sp_shard *shards, size_t n)
{
    sp_err err;
    sp_shardmap m = {0};
    if (sp_shardmap_take(&m, shards, n, &err) != SP_OK) {
        sp_log_warn(p->o.log, "shard map not used: %s", err.msg);
        return;
    }
    struct shardq *sq = calloc(m.n ? m.n : 1, sizeof *sq);
    long *old = malloc((m.n ? m.n : 1) * sizeof *old);
    sp_sched c;
    if (sq == NULL || old == NULL || sp_shardmap_match(&p->map, &m, old, &err) != SP_OK ||
        sp_sched_init(&c, m.n + 1, &err) != SP_OK) {
        sp_log_error(p->o.log, "out of memory for the shard map");
        free(sq);
        free(old);
        sp_shardmap_free(&m);
        return;
    }
    uint64_t now = sp_loop_now_ms(p->loop);
    for (size_t i = 0; i < m.n; i++) {
        snprintf(sq[i].id, sizeof sq[i].id, "%s", m.shards[i].id);
        sq[i].limited = 1;
        if (old[i] >= 0) {
            sq[i].win = p->sq[old[i]].win;
            sq[i].paused_until = p->sq[old[i]].paused_until;
            sq[i].fail_streak = p->sq[old[i]].fail_streak;
            sq[i].c = p->sq[old[i]].c;
        } else {
            sp_window_init(&sq[i].win, &p->o.throttle, now);
        }
    }
    free(old);
    /* Collect every waiting record in order of the old queues. */
    sp_recq all = {0};
    for (size_t i = 0; i <= p->nsq; i++) {
        struct shardq *s = queue_at(p, i);
        sp_record *r;
        while ((r = sp_recq_pop(&s->q)) != NULL)
            sp_recq_push(&all, r);
    }
    struct shardq *old_sq = p->sq;
    sp_shardmap old_map = p->map;
    p->sq = sq;
    p->nsq = m.n;
    p->map = m;
    p->gen++;
    p->rr = 0;
    p->queued = 0;
    p->queued_bytes = 0;
    sp_sched_free(&p->sched);
    p->sched = c;
    for (size_t i = 0; p->balanced && i < p->nsq; i++)
        update_load(p, &p->sq[i]);
    sp_record *r;
    while ((r = sp_recq_pop(&all)) != NULL)
        enqueue(p, r);
    free(old_sq);
    sp_shardmap_free(&old_map);
    p->stats.map_refreshes++;
    sp_log_info(p->o.log, "shard map: %zu open shards", m.n);
}

static void started(sp_producer *p)
{
    sp_err err;
    p->starting = 0;
    p->last_refresh_ms = sp_loop_now_ms(p->loop);
    if (p->o.route && sp_timer_start(p->loop, &p->refresh, p->o.refresh_ms, &err) != SP_OK)
        sp_log_error(p->o.log, "%s", err.msg);
    if (p->o.on_started)
        p->o.on_started(p->o.arg);
}

static void on_started_timer(sp_loop *loop, void *arg)
{
    (void)loop;
    started(arg);
}

static void on_listed(void *arg, sp_shard *shards, size_t n, const char *errmsg, int retryable)
{
    sp_producer *p = arg;
    p->listing = NULL;
    p->last_refresh_ms = sp_loop_now_ms(p->loop);
    if (errmsg && !retryable) {
        /* Refused, not unlucky: an error while it lasts, paced by backoff. */
        if (sp_log_repeat_due(&p->list_log, p->last_refresh_ms, SP_LOG_REPEAT_FIRST_MS, SP_LOG_REPEAT_CAP_MS)) {
            sp_log_error(p->o.log, "listing shards was refused (%" PRIu64 " times since the last "
                         "message), so records are not routed or throttled per shard: %s",
                         p->list_log.held + 1, errmsg);
            p->list_log.held = 0;
        }
    } else if (errmsg && p->starting)
        sp_log_warn(p->o.log, "cannot list shards, so records are not routed or throttled per shard: %s",
                    errmsg);
    else if (errmsg)
        sp_log_warn(p->o.log, "listing shards failed, keeping the old map: %s", errmsg);
    else
        install_map(p, shards, n);
    if (errmsg == NULL && sp_log_repeat_end(&p->list_log))
        sp_log_info(p->o.log, "listing shards works again");
    if (p->starting) {
        started(p);
        return;
    }
    pump(p);
}

static void refresh_now(sp_producer *p)
{
    if (p->listing || !p->o.route || p->fatal)
        return;
    sp_err err;
    if (p->tx.list(p->tx.arg, p->stream, "AT_LATEST", on_listed, p, &p->listing, &err) != SP_OK) {
        sp_log_warn(p->o.log, "listing shards: %s", err.msg);
        p->listing = NULL;
    }
}

static void on_refresh_timer(sp_loop *loop, void *arg)
{
    sp_producer *p = arg;
    sp_err err;
    refresh_now(p);
    if (sp_timer_start(loop, &p->refresh, p->o.refresh_ms, &err) != SP_OK)
        sp_log_error(p->o.log, "%s", err.msg);
}

/* A stored record landed elsewhere than predicted: the shards changed. */
static void wrong_shard(sp_producer *p)
{
    p->stats.wrong_shard++;
    if (sp_loop_now_ms(p->loop) >= p->last_refresh_ms + 1000)
        refresh_now(p);
}

/* ---- responses ---- */

/* A record leaves without being stored: counted as failed, or as unknown
 * when some attempt may have stored it. */
static void count_lost(sp_producer *p, const sp_record *r, int in_flight)
{
    if (in_flight || r->maybe_stored)
        p->stats.unknown++;
    else
        p->stats.failed++;
}

static int give_up(sp_producer *p, sp_record *r, const char *why)
{
    if (p->o.max_attempts && r->attempts >= p->o.max_attempts) {
        sp_log_error(p->o.log, "giving up on a record after %u attempts: %s%s", r->attempts, why,
                     r->maybe_stored ? " (it may have been stored: an attempt got no clear answer)" : "");
        count_lost(p, r, 0);
        release(p, r, 0);
        return 1;
    }
    return 0;
}

static void pause_shard(sp_producer *p, struct shardq *s)
{
    s->fail_streak++;
    uint64_t until = sp_loop_now_ms(p->loop) + sp_backoff_delay(&p->o.backoff, s->fail_streak, &p->rng);
    if (until > s->paused_until)
        s->paused_until = until;
}

/* Requeues the failed records of one response: each goes back to the head
 * of its (current) shard queue in the order it was sent, and each shard
 * involved pauses once, in the order of its first failed record. O(n):
 * the records are gathered per shard, not searched for. */
static void requeue(sp_producer *p, sp_record **recs, size_t n)
{
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i] == NULL)
            continue;
        struct shardq *s = route(p, recs[i]);
        if (s->front.head == NULL)
            p->touched[nt++] = s;
        sp_recq_push(&s->front, recs[i]);
        recs[i] = NULL;
    }
    uint64_t now = sp_loop_now_ms(p->loop);
    for (size_t k = 0; k < nt; k++) {
        struct shardq *s = p->touched[k];
        p->queued += s->front.count;
        p->queued_bytes += s->front.bytes;
        sp_recq_prepend(&s->q, &s->front);
        pause_shard(p, s);
        settle(p, index_of(p, s), now);
        update_load(p, s);
    }
}

static void fail_all(sp_producer *p, struct inflight *f, int how, int in_flight)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->recs[i] == NULL)
            continue;
        count_lost(p, f->recs[i], in_flight);
        release(p, f->recs[i], how);
        f->recs[i] = NULL;
    }
}

static void done_in_flight(sp_producer *p, struct inflight *f)
{
    uint64_t now = sp_loop_now_ms(p->loop);
    for (size_t i = 0; i < f->n; i++) {
        struct shardq *s = sent_queue(p, f->recs[i]);
        if (s && s->in_flight > 0) {
            s->in_flight--;
            if (p->o.ordered && s->in_flight == 0)
                settle(p, index_of(p, s), now);   /* its next request may go */
            update_load(p, s);
        }
    }
}

static void on_put_response(void *arg, const sp_kinesis_result *res)
{
    struct inflight *f = arg;
    sp_producer *p = f->p;
    flight_unlink(p, f);
    done_in_flight(p, f);
    p->stats.requests++;
    uint64_t now = sp_loop_now_ms(p->loop);
    uint64_t took = now - f->sent_ms;
    sp_hist_add(&p->lat[SP_LAT_REQUEST], took);
    if (took > SP_HOLD_MAX_MS)
        took = SP_HOLD_MAX_MS;
    p->transit_ms = took > p->transit_ms ? (uint32_t)took : (uint32_t)((7 * (uint64_t)p->transit_ms + took) / 8);

    if (res->klass != SP_KC_OK) {
        sp_errcount_add(&p->stats.errors, res->code, f->n);
        if (sp_kclass_retryable(res->klass) && !p->fatal) {
            sp_log_warn(p->o.log, "PutRecords of %zu records: %s %s (%s); retrying", f->n,
                        res->code, res->message, sp_kclass_name(res->klass));
            for (size_t i = 0; i < f->n; i++) {
                f->recs[i]->maybe_stored |= (uint8_t)(res->maybe_done != 0);
                if (res->klass == SP_KC_THROTTLE) {
                    struct shardq *s = sent_queue(p, f->recs[i]);
                    if (s && s->limited) {
                        sp_window_throttled(&s->win, &p->o.throttle, now, f->recs[i]->sent_ms, f->recs[i]->attempts,
                                            sp_record_bytes(f->recs[i]));
                        update_load(p, s);
                    }
                    if (s)
                        s->c.throttled++;
                    p->stats.throttled++;
                }
                if (give_up(p, f->recs[i], res->code))
                    f->recs[i] = NULL;
                else
                    p->stats.retried++;
            }
            requeue(p, f->recs, f->n);
        } else {
            sp_err e;
            if (p->k)
                sp_kinesis_explain(p->k, "PutRecords", p->stream, res, &e);
            else
                sp_err_set(&e, "PutRecords on stream '%s' failed: %s %s", p->stream, res->code, res->message);
            /* Not stored and not refused on its own merits: a restart must
             * read these again, so they are abandoned, not failed. */
            fail_all(p, f, SP_ACK_ABANDONED, 0);
            if (!p->fatal) {
                p->fatal = 1;
                if (p->o.on_fatal)
                    p->o.on_fatal(p->o.arg, e.msg);
            }
        }
        free(f);
        pump(p);
        return;
    }

    sp_put_result *out = calloc(f->n, sizeof *out);
    sp_err e;
    if (out == NULL || sp_putresp_parse(res->body, res->body_len, f->n, out, &p->scratch, &e) != SP_OK) {
        /* We cannot tell which entries were stored: send them all again.
         * At-least-once: duplicates are possible, loss is not. */
        sp_log_warn(p->o.log, "%s; resending all %zu records of the batch",
                    out ? e.msg : "out of memory", f->n);
        sp_errcount_add(&p->stats.errors, out && e.code == SP_E_INVALID ? "MalformedResponse" : "UnusableResponse", f->n);
        for (size_t i = 0; i < f->n; i++) {
            f->recs[i]->maybe_stored = 1;
            if (give_up(p, f->recs[i], "unusable PutRecords response"))
                f->recs[i] = NULL;
            else
                p->stats.retried++;
        }
        requeue(p, f->recs, f->n);
        free(out);
        free(f);
        pump(p);
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        sp_record *r = f->recs[i];
        struct shardq *s = sent_queue(p, r);
        if (out[i].code == NULL) {
            if (s && s->limited) {
                sp_window_ok(&s->win, &p->o.throttle, now, sp_record_bytes(r));
                update_load(p, s);   /* the rate may have risen */
                s->fail_streak = 0;
                if (out[i].shard_id && strcmp(out[i].shard_id, s->id) != 0)
                    wrong_shard(p);
            }
            p->stats.records++;
            p->stats.bytes += r->len;
            if (s) {
                s->c.records++;
                s->c.bytes += r->len;
            }
            release(p, r, 1);
            f->recs[i] = NULL;
            continue;
        }
        enum sp_kclass c = sp_kinesis_classify(400, out[i].code, out[i].message);
        sp_errcount_add(&p->stats.errors, out[i].code, 1);
        if (c == SP_KC_THROTTLE) {
            p->stats.throttled++;
            if (s)
                s->c.throttled++;
            if (s && s->limited) {
                sp_window_throttled(&s->win, &p->o.throttle, now, r->sent_ms, r->attempts, sp_record_bytes(r));
                update_load(p, s);
            }
        }
        if (strcmp(out[i].code, "InternalFailure") == 0 || sp_kclass_retryable(c) ||
            strcmp(out[i].code, "MissingSequenceNumber") == 0) {
            if (give_up(p, r, out[i].code))
                f->recs[i] = NULL;
            else
                p->stats.retried++;
        } else {
            sp_log_error(p->o.log, "record refused by Kinesis: %s: %s", out[i].code,
                         out[i].message ? out[i].message : "");
            count_lost(p, r, 0);
            release(p, r, 0);
            f->recs[i] = NULL;
        }
    }
    requeue(p, f->recs, f->n);
    free(out);
    free(f);
    pump(p);
}

/* ---- sending ---- */

static void on_wake(sp_loop *loop, void *arg)
{
    (void)loop;
    pump(arg);
}

/* Nothing lingers while flushing, with a batch's worth waiting, or with
 * the budget full and nothing out (the sources wait for room that only a
 * request can make; with one out, its answer makes room and batches fill). */
static int eager(const sp_producer *p)
{
    return p->flushing || p->queued >= p->batch.max_records || p->queued_bytes >= p->batch.max_bytes ||
           (p->in_flight == 0 && sp_producer_full(p));
}

/* Whether a batch should leave now. A held shard's due record (backing
 * off, its window full, or ordered with a request out) does not count: it
 * would only make the others leave before their linger. */
static int should_send(sp_producer *p, uint64_t now)
{
    if (p->queued == 0)
        return 0;
    return eager(p) || sp_sched_due(&p->sched) <= now;
}

/* Takes what shard i's window allows (or up to cap) into the batch;
 * returns 0 when the batch is full. The shard is then ready, parked until
 * its window has room, or (empty, ordered with a request out) in no set. */
static int take_from(sp_producer *p, size_t i, struct inflight *f, size_t cap, uint64_t now)
{
    struct shardq *s = queue_at(p, i);
    int more = 1, window_full = 0;
    s->win.hold_ms = p->transit_ms;
    while (s->q.head && f->n < cap) {
        sp_record *r = s->q.head;
        if (!sp_batch_fits(&p->batch, r->pk_len, r->len)) {
            more = 0;
            break;
        }
        if (p->o.ordered && sp_keyset_seen(&p->order_set, r->hash))
            break;
        if (s->limited && !sp_window_take(&s->win, &p->o.throttle, now, sp_record_bytes(r))) {
            window_full = 1;
            break;
        }
        if (sp_batch_add(&p->batch, r->bytes, r->pk_len, r->has_ehk ? &r->hash : NULL,
                         r->bytes + r->pk_len, r->len) != SP_OK) {
            more = 0;
            break;
        }
        sp_recq_pop(&s->q);
        p->queued--;
        p->queued_bytes -= sp_record_bytes(r);
        r->attempts++;
        r->sent_ms = now;
        s->in_flight++;
        f->recs[f->n++] = r;
    }
    if (window_full && !(p->o.ordered && s->in_flight > 0)) {
        /* Look again when there is room, a slot at least (lets batches fill). */
        uint64_t w = sp_window_wait_ms(&s->win, &p->o.throttle, now, sp_record_bytes(s->q.head));
        sp_sched_park(&p->sched, i, now + (w < WINDOW_TICK_MS ? WINDOW_TICK_MS : w));
    } else {
        settle(p, i, now);
    }
    update_load(p, s);
    return more;
}

/* Fills the batch from the ready shards, round robin in index order from
 * p->rr, each shard as far as its window allows. Returns the records
 * taken. Only ready shards are looked at, so a batch costs what it takes,
 * not what the stream has. */
static size_t collect(sp_producer *p, struct inflight *f, size_t cap, uint64_t now)
{
    size_t nq = p->nsq + 1;
    if (p->o.ordered)
        sp_keyset_clear(&p->order_set);
    size_t pos = SP_SET_NONE;
    int wrapped;
    while (f->n < cap && sp_sched_next(&p->sched, p->rr % nq, &pos, &wrapped) != SP_SET_NONE)
        if (!take_from(p, pos, f, cap, now))
            break;
    p->rr = (p->rr + 1) % nq;
    return f->n;
}

/* Sends one batch; returns 0 when nothing could be taken. */
static int send_batch(sp_producer *p, uint64_t now)
{
    sp_err err;
    size_t cap = p->queued < p->batch.max_records ? p->queued : p->batch.max_records;
    struct inflight *f = malloc(sizeof *f + cap * sizeof f->recs[0]);
    if (f == NULL) {
        sp_log_error(p->o.log, "out of memory building a batch; will try again");
        return 0;
    }
    f->p = p;
    f->n = 0;
    f->sent_ms = now;
    sp_batch_begin(&p->batch, p->stream);
    if (collect(p, f, cap, now) == 0) {
        free(f);
        return 0;
    }
    if (sp_batch_finish(&p->batch, &err) != SP_OK ||
        p->tx.put(p->tx.arg, &p->batch.body, on_put_response, f, &f->call, &err) != SP_OK) {
        sp_log_error(p->o.log, "could not send a batch: %s; retrying", err.msg);
        done_in_flight(p, f);
        requeue(p, f->recs, f->n);
        free(f);
        return 0;
    }
    flight_link(p, f);
    return 1;
}

static void pump(sp_producer *p)
{
    if (p->fatal) {
        check_drained(p);
        return;
    }
    uint64_t now = sp_loop_now_ms(p->loop);
    for (size_t i; (i = sp_sched_unpark(&p->sched, now)) != SP_SET_NONE;)
        settle(p, i, now);   /* its backoff or wait for window room is over */
    while (p->in_flight < p->o.max_in_flight && should_send(p, now))
        if (!send_batch(p, now))
            break;
    sp_timer_stop(p->loop, &p->wake);
    if (p->queued > 0 && p->in_flight < p->o.max_in_flight) {
        /* The earliest linger deadline of a ready shard (now when eager),
         * or the end of a backoff or of a wait for window room. */
        uint64_t when = sp_sched_wake(&p->sched, now, eager(p));
        if (when <= now)
            when = now + 1; /* only a full window or a paused shard can block at once */
        sp_err err;
        if (when != UINT64_MAX && sp_timer_start_at(p->loop, &p->wake, when, &err) != SP_OK)
            sp_log_error(p->o.log, "%s", err.msg);
    }
    check_drained(p);
}

/* ---- public ---- */

sp_producer *sp_producer_new(sp_loop *loop, sp_kinesis *k, const sp_producer_opts *o, sp_err *err)
{
    if (o->batch_records > SP_BATCH_MAX_RECORDS) {
        sp_err_set(err, "batch records must be 1 to %d", SP_BATCH_MAX_RECORDS);
        return NULL;
    }
    if (o->batch_bytes > SP_BATCH_MAX_BYTES) {
        sp_err_set(err, "batch bytes must be at most %zu (10 MiB, the service's limit)", SP_BATCH_MAX_BYTES);
        return NULL;
    }
    if (k == NULL && o->transport == NULL) {
        sp_err_set(err, "producer: no Kinesis client and no transport");
        return NULL;
    }
    if (sp_kinesis_check_stream_name(o->stream, err) != SP_OK)
        return NULL;
    sp_producer *p = calloc(1, sizeof *p);
    if (p == NULL) {
        sp_err_set(err, "out of memory");
        return NULL;
    }
    if (sp_keyset_init(&p->order_set, err) != SP_OK)
        goto fail;
    if (sp_hist_init(&p->lat[0], LAT_CAP_MS, err) != SP_OK || sp_hist_init(&p->lat[1], LAT_CAP_MS, err) != SP_OK)
        goto fail;
    if (o->seed)
        sp_rng_seed_with(&p->rng, o->seed);
    else if (sp_rng_seed(&p->rng, err) != SP_OK)
        goto fail;
    p->loop = loop;
    p->k = k;
    p->o = *o;
    if (o->transport)
        p->tx = *o->transport;
    else
        p->tx = (sp_producer_transport){kin_put, kin_cancel_put, kin_list, kin_cancel_list, k};
    snprintf(p->stream, sizeof p->stream, "%s", o->stream);
    p->o.stream = p->stream;
    if (p->o.max_in_flight == 0)
        p->o.max_in_flight = 8;
    if (p->o.budget_bytes == 0)
        p->o.budget_bytes = SP_PRODUCER_BUDGET_DEFAULT;
    p->own_budget.limit = p->o.budget_bytes;
    p->budget = p->o.budget ? p->o.budget : &p->own_budget;
    if (p->o.backoff.base_ms == 0)
        p->o.backoff.base_ms = SP_BACKOFF_BASE_MS;
    if (p->o.backoff.cap_ms == 0)
        p->o.backoff.cap_ms = SP_BACKOFF_CAP_MS;
    if (p->o.refresh_ms == 0)
        p->o.refresh_ms = 60000;
    if (p->o.throttle.share <= 0)
        sp_throttle_cfg_default(&p->o.throttle);
    snprintf(p->unrouted.id, sizeof p->unrouted.id, "unrouted");
    sp_recslab_init(&p->slab);
    sp_batch_init(&p->batch, o->batch_records, o->batch_bytes);
    sp_buf_init(&p->scratch, (size_t)16 << 20);   /* a response is far smaller */
    sp_timer_init(&p->wake, on_wake, p);
    sp_timer_init(&p->refresh, on_refresh_timer, p);
    sp_timer_init(&p->drained, on_drained_timer, p);
    sp_timer_init(&p->started, on_started_timer, p);
    p->touched = malloc(p->batch.max_records * sizeof *p->touched);
    if (p->touched == NULL) {
        sp_err_set(err, "out of memory");
        goto fail;
    }
    if (sp_sched_init(&p->sched, 1, err) != SP_OK)
        goto fail;
    return p;
fail:
    sp_batch_free(&p->batch);
    free(p->touched);
    sp_hist_free(&p->lat[0]);
    sp_hist_free(&p->lat[1]);
    sp_keyset_free(&p->order_set);
    free(p);
    return NULL;
}

int sp_producer_start(sp_producer *p, sp_err *err)
{
    p->starting = 1;
    if (!p->o.route)
        return sp_timer_start(p->loop, &p->started, 0, err);
    sp_err lerr;
    if (p->tx.list(p->tx.arg, p->stream, "AT_LATEST", on_listed, p, &p->listing, &lerr) != SP_OK) {
        sp_log_warn(p->o.log, "cannot list shards, so records are not routed or throttled per shard: %s",
                    lerr.msg);
        p->listing = NULL;
        return sp_timer_start(p->loop, &p->started, 0, err);
    }
    return SP_OK;
}

void sp_producer_abandon(sp_producer *p)
{
    sp_timer_stop(p->loop, &p->wake);
    sp_timer_stop(p->loop, &p->refresh);
    sp_timer_stop(p->loop, &p->drained);
    sp_timer_stop(p->loop, &p->started);
    if (p->listing)
        p->tx.cancel_list(p->tx.arg, p->listing); /* its answer must not reach a freed producer */
    p->listing = NULL;
    p->fatal = 1; /* nothing more is sent */
    for (size_t i = 0; i <= p->nsq; i++) {
        struct shardq *s = queue_at(p, i);
        sp_record *r;
        while ((r = sp_recq_pop(&s->q)) != NULL) {
            count_lost(p, r, 0);
            release(p, r, SP_ACK_ABANDONED);
        }
        settle(p, i, 0);
    }
    p->queued = 0;
    p->queued_bytes = 0;
    /* Requests still out: their answers must not reach freed memory (the
     * HTTP layer may outlive this producer, as across an agent reload). */
    while (p->flights) {
        struct inflight *f = p->flights;
        p->tx.cancel_put(p->tx.arg, f->call);
        flight_unlink(p, f);
        fail_all(p, f, SP_ACK_ABANDONED, 1);   /* sent, no answer: may be stored */
        free(f);
    }
}

void sp_producer_free(sp_producer *p)
{
    if (p == NULL)
        return;
    sp_producer_abandon(p);
    sp_batch_free(&p->batch);
    sp_buf_free(&p->scratch);
    sp_shardmap_free(&p->map);
    free(p->sq);
    sp_hist_free(&p->lat[0]);
    sp_hist_free(&p->lat[1]);
    sp_keyset_free(&p->order_set);
    free(p->touched);
    sp_sched_free(&p->sched);
    sp_recslab_release(&p->slab);
    free(p);
}

/* The shard that will drain soonest: least queued work per unit of rate.
 * The heap of loads is built when the first balanced key comes. */
static long least_loaded(sp_producer *p)
{
    if (p->nsq == 0)
        return -1;
    if (!p->balanced) {
        p->balanced = 1;
        for (size_t i = 0; i < p->nsq; i++)
            update_load(p, &p->sq[i]);
    }
    return (long)sp_sched_least(&p->sched);
}

int sp_producer_put(sp_producer *p, const sp_put_rec *in, sp_err *err)
{
    if (in->pk_len == 0 || in->pk_len > UINT16_MAX || in->len > UINT32_MAX)
        return sp_err_set(err, "record of %zu bytes with a %zu-byte key cannot be sent", in->len, in->pk_len);
    sp_record *r = sp_recslab_alloc(&p->slab, sizeof *r + in->pk_len + in->len);
    if (r == NULL)
        return sp_err_set(err, "out of memory for a %zu-byte record", in->len);
    memset(r, 0, sizeof *r);
    r->ack = in->ack;
    r->token = in->token;
    r->tag = in->tag;
    r->read_ms = sp_loop_now_ms(p->loop);
    r->len = (uint32_t)in->len;
    r->pk_len = (uint16_t)in->pk_len;
    long b = in->balanced ? least_loaded(p) : -1;
    if (b >= 0) {
        r->has_ehk = 1;
        r->hash = sp_u128_midpoint(p->map.shards[b].start, p->map.shards[b].end);
    } else if (in->ehk) {
        r->has_ehk = 1;
        r->hash = *in->ehk;
    } else {
        r->hash = sp_hashkey(in->pk, in->pk_len);
    }
    memcpy(r->bytes, in->pk, in->pk_len);
    if (in->len)
        memcpy(r->bytes + in->pk_len, in->data, in->len);
    p->budget->used += sp_record_mem(r);
    p->held += sp_record_mem(r);
    enqueue(p, r);
    p->drained_sent = 0;
    /* A pump is due only when a batch may be full, when no timer will
     * come, or when the record is due before the timer (that may wait for
     * another shard's backoff). While flushing it runs at once; otherwise
     * from the loop, once for all the records of one read: the wake timer
     * is brought forward (with linger 0 the records of a read then share
     * a request instead of taking one each). */
    uint64_t due = p->flushing ? r->read_ms : r->read_ms + p->o.linger_ms;
    uint64_t want = UINT64_MAX;
    if (!p->wake.armed || (eager(p) && p->wake.when > r->read_ms + WINDOW_TICK_MS))
        want = r->read_ms;
    else if (queue_at(p, r->shard < 0 ? p->nsq : (size_t)r->shard)->q.head == r && p->wake.when > due)
        want = due;
    if (want == UINT64_MAX)
        return SP_OK;
    if (p->flushing) {
        pump(p);
        return SP_OK;
    }
    if (sp_timer_start_at(p->loop, &p->wake, want, err) != SP_OK)
        return SP_ERR;   /* the record is queued all the same: the next pump sends it */
    return SP_OK;
}

int sp_producer_full(const sp_producer *p)
{
    return p->budget->used >= p->budget->limit;
}

void sp_producer_flush(sp_producer *p)
{
    p->flushing = 1;
    p->drained_sent = 0;    /* each flush is answered, also when already idle */
    pump(p);
}

int sp_producer_idle(const sp_producer *p)
{
    return p->queued == 0 && p->in_flight == 0;
}

const sp_producer_stats *sp_producer_stats_get(const sp_producer *p)
{
    return &p->stats;
}

const sp_hist *sp_producer_latency(const sp_producer *p, enum sp_lat which)
{
    return &p->lat[which == SP_LAT_REQUEST];
}

size_t sp_producer_held(const sp_producer *p)
{
    return p->held;
}

const char *sp_producer_shard_at(const sp_producer *p, size_t i, sp_shard_counters *c, double *share)
{
    if (i >= p->nsq)
        return NULL;
    *c = p->sq[i].c;
    *share = p->sq[i].win.rate;
    return p->sq[i].id;
}

size_t sp_producer_shards(const sp_producer *p)
{
    return p->nsq;
}
