/* The write pipeline. Records wait in `ready` (FIFO) until a batch takes
 * them; a batch leaves when it is full or its oldest record has waited
 * linger_ms. Entries that fail inside a response go to `retry` with a
 * backoff deadline and rejoin the front of `ready` when it passes, so only
 * the failed entries are ever resent. */
#include <stdlib.h>
#include <string.h>

#include "shardpipe/batch.h"
#include "shardpipe/producer.h"

struct queue {
    sp_record *head, *tail;
    size_t count;
    size_t bytes;      /* Σ(pk + data) of the records in it */
};

struct sp_producer {
    sp_loop *loop;
    sp_kinesis *k;
    sp_producer_opts o;
    char stream[SP_STREAM_NAME_MAX + 1];
    struct queue ready;
    struct queue retry;
    sp_timer linger_timer;
    sp_timer retry_timer;
    sp_batch batch;
    sp_rng rng;
    size_t held;        /* bytes of memory held by records */
    unsigned in_flight;
    struct inflight *flights;
    int flushing;
    int fatal;
    int was_full;
    int drained_sent;
    sp_producer_stats stats;
};

struct inflight {
    sp_producer *p;
    struct inflight *next, *prev;   /* so shutdown can find every record */
    size_t n;
    sp_record *recs[];
};

static void pump(sp_producer *p);

static void flight_link(sp_producer *p, struct inflight *f)
{
    f->prev = NULL;
    f->next = p->flights;
    if (p->flights)
        p->flights->prev = f;
    p->flights = f;
    p->in_flight++;
}

static void flight_unlink(sp_producer *p, struct inflight *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        p->flights = f->next;
    if (f->next)
        f->next->prev = f->prev;
    p->in_flight--;
}

static void q_push(struct queue *q, sp_record *r)
{
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->count++;
    q->bytes += (size_t)r->pk_len + r->len;
}

static sp_record *q_pop(struct queue *q)
{
    sp_record *r = q->head;
    if (r == NULL)
        return NULL;
    q->head = r->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->count--;
    q->bytes -= (size_t)r->pk_len + r->len;
    r->next = NULL;
    return r;
}

static size_t rec_mem(const sp_record *r)
{
    return sizeof *r + r->pk_len + r->len;
}

static void release(sp_producer *p, sp_record *r, int stored)
{
    if (p->o.on_ack)
        p->o.on_ack(p->o.arg, r, stored);
    p->held -= rec_mem(r);
    free(r);
    if (p->was_full && !sp_producer_full(p)) {
        p->was_full = 0;
        if (p->o.on_space)
            p->o.on_space(p->o.arg);
    }
}

static void check_drained(sp_producer *p)
{
    if (p->flushing && !p->drained_sent && sp_producer_idle(p)) {
        p->drained_sent = 1;
        if (p->o.on_drained)
            p->o.on_drained(p->o.arg);
    }
}

static void on_linger(sp_loop *loop, void *arg)
{
    (void)loop;
    pump(arg);
}

/* Moves retries whose backoff has passed to the front of `ready`, keeping
 * their order, and re-arms the timer for the next one. */
static void on_retry_timer(sp_loop *loop, void *arg)
{
    sp_producer *p = arg;
    uint64_t now = sp_loop_now_ms(loop), next = UINT64_MAX;
    struct queue due = {0}, wait = {0};
    sp_record *r;
    while ((r = q_pop(&p->retry)) != NULL) {
        if (r->due_ms <= now) {
            q_push(&due, r);
        } else {
            q_push(&wait, r);
            if (r->due_ms < next)
                next = r->due_ms;
        }
    }
    p->retry = wait;
    if (due.head) {
        due.tail->next = p->ready.head;
        if (p->ready.tail == NULL)
            p->ready.tail = due.tail;
        p->ready.head = due.head;
        p->ready.count += due.count;
        p->ready.bytes += due.bytes;
    }
    if (next != UINT64_MAX) {
        sp_err err;
        if (sp_timer_start_at(loop, &p->retry_timer, next, &err) != SP_OK)
            sp_log_error(p->o.log, "%s", err.msg);
    }
    pump(p);
}

static void schedule_retry(sp_producer *p, sp_record *r, const char *why)
{
    if (p->o.max_attempts && r->attempts >= p->o.max_attempts) {
        sp_log_error(p->o.log, "giving up on a record after %u attempts: %s", r->attempts, why);
        p->stats.failed++;
        release(p, r, 0);
        return;
    }
    uint64_t now = sp_loop_now_ms(p->loop);
    r->due_ms = now + sp_backoff_delay(&p->o.backoff, r->attempts, &p->rng);
    p->stats.retried++;
    q_push(&p->retry, r);
    if (!p->retry_timer.armed || p->retry_timer.when > r->due_ms) {
        sp_err err;
        if (sp_timer_start_at(p->loop, &p->retry_timer, r->due_ms, &err) != SP_OK)
            sp_log_error(p->o.log, "%s", err.msg);
    }
}

static void fail_all(sp_producer *p, struct inflight *f)
{
    for (size_t i = 0; i < f->n; i++) {
        p->stats.failed++;
        release(p, f->recs[i], 0);
    }
}

static void on_put_response(void *arg, const sp_kinesis_result *res)
{
    struct inflight *f = arg;
    sp_producer *p = f->p;
    flight_unlink(p, f);
    p->stats.requests++;

    if (res->klass != SP_KC_OK) {
        if (sp_kclass_retryable(res->klass) && !p->fatal) {
            sp_log_warn(p->o.log, "PutRecords of %zu records: %s %s (%s); retrying", f->n,
                        res->code, res->message, sp_kclass_name(res->klass));
            for (size_t i = 0; i < f->n; i++)
                schedule_retry(p, f->recs[i], res->code);
        } else {
            sp_err e;
            sp_kinesis_explain(p->k, "PutRecords", p->stream, res, &e);
            fail_all(p, f);
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
    if (out == NULL || sp_kinesis_parse_put_records(res->json, f->n, out, &e) != SP_OK) {
        /* We cannot tell which entries were stored: send them all again.
         * At-least-once: duplicates are possible, loss is not. */
        sp_log_warn(p->o.log, "%s; resending all %zu records of the batch",
                    out ? e.msg : "out of memory", f->n);
        for (size_t i = 0; i < f->n; i++)
            schedule_retry(p, f->recs[i], "unusable PutRecords response");
        free(out);
        free(f);
        pump(p);
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        sp_record *r = f->recs[i];
        if (out[i].code == NULL) {
            p->stats.records++;
            p->stats.bytes += r->len;
            release(p, r, 1);
            continue;
        }
        enum sp_kclass c = sp_kinesis_classify(400, out[i].code, out[i].message);
        if (c == SP_KC_THROTTLE)
            p->stats.throttled++;
        if (strcmp(out[i].code, "InternalFailure") == 0 || sp_kclass_retryable(c) ||
            strcmp(out[i].code, "MissingSequenceNumber") == 0) {
            schedule_retry(p, r, out[i].code);
        } else {
            sp_log_error(p->o.log, "record refused by Kinesis: %s: %s", out[i].code,
                         out[i].message ? out[i].message : "");
            p->stats.failed++;
            release(p, r, 0);
        }
    }
    free(out);
    free(f);
    pump(p);
}

static int should_send(sp_producer *p, uint64_t now)
{
    if (p->ready.count == 0)
        return 0;
    if (p->flushing)
        return 1;
    if (p->ready.count >= p->batch.max_records || p->ready.bytes >= p->batch.max_bytes)
        return 1;
    /* Retried records are old already, so they leave at once. */
    return now >= p->ready.head->read_ms + p->o.linger_ms || p->ready.head->attempts > 0;
}

static void send_batch(sp_producer *p)
{
    sp_err err;
    size_t cap = p->ready.count < p->batch.max_records ? p->ready.count : p->batch.max_records;
    struct inflight *f = malloc(sizeof *f + cap * sizeof f->recs[0]);
    if (f == NULL) {
        sp_log_error(p->o.log, "out of memory building a batch; will try again");
        return;
    }
    f->p = p;
    f->n = 0;
    sp_batch_begin(&p->batch, p->stream);
    while (p->ready.head && f->n < cap) {
        sp_record *r = p->ready.head;
        if (!sp_batch_fits(&p->batch, r->pk_len, r->len))
            break;
        if (sp_batch_add(&p->batch, r->bytes, r->pk_len, r->has_ehk ? &r->ehk : NULL,
                         r->bytes + r->pk_len, r->len) != SP_OK)
            break;
        f->recs[f->n++] = q_pop(&p->ready);
        r->attempts++;
    }
    if (f->n == 0 || sp_batch_finish(&p->batch, &err) != SP_OK ||
        sp_kinesis_call(p->k, "PutRecords", &p->batch.body, on_put_response, f, &err) != SP_OK) {
        if (f->n == 0)
            snprintf(err.msg, sizeof err.msg, "out of memory");
        sp_log_error(p->o.log, "could not send a batch: %s; retrying", err.msg);
        for (size_t i = 0; i < f->n; i++)
            schedule_retry(p, f->recs[i], err.msg);
        free(f);
        return;
    }
    flight_link(p, f);
}

static void pump(sp_producer *p)
{
    if (p->fatal) {
        check_drained(p);
        return;
    }
    uint64_t now = sp_loop_now_ms(p->loop);
    while (p->in_flight < p->o.max_in_flight && should_send(p, now)) {
        unsigned before = p->in_flight;
        send_batch(p);
        if (p->in_flight == before)
            break; /* could not send; the retry timer brings us back */
    }
    if (p->ready.count > 0 && !should_send(p, now)) {
        sp_err err;
        if (sp_timer_start_at(p->loop, &p->linger_timer, p->ready.head->read_ms + p->o.linger_ms, &err) != SP_OK)
            sp_log_error(p->o.log, "%s", err.msg);
    } else {
        sp_timer_stop(p->loop, &p->linger_timer);
    }
    check_drained(p);
}

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
    if (sp_kinesis_check_stream_name(o->stream, err) != SP_OK)
        return NULL;
    sp_producer *p = calloc(1, sizeof *p);
    if (p == NULL) {
        sp_err_set(err, "out of memory");
        return NULL;
    }
    if (sp_rng_seed(&p->rng, err) != SP_OK) {
        free(p);
        return NULL;
    }
    p->loop = loop;
    p->k = k;
    p->o = *o;
    snprintf(p->stream, sizeof p->stream, "%s", o->stream);
    p->o.stream = p->stream;
    if (p->o.max_in_flight == 0)
        p->o.max_in_flight = 8;
    if (p->o.budget_bytes == 0)
        p->o.budget_bytes = (size_t)64 << 20;
    if (p->o.backoff.base_ms == 0)
        p->o.backoff.base_ms = SP_BACKOFF_BASE_MS;
    if (p->o.backoff.cap_ms == 0)
        p->o.backoff.cap_ms = SP_BACKOFF_CAP_MS;
    sp_batch_init(&p->batch, o->batch_records, o->batch_bytes);
    sp_timer_init(&p->linger_timer, on_linger, p);
    sp_timer_init(&p->retry_timer, on_retry_timer, p);
    return p;
}

void sp_producer_abandon(sp_producer *p)
{
    sp_timer_stop(p->loop, &p->linger_timer);
    sp_timer_stop(p->loop, &p->retry_timer);
    p->fatal = 1; /* nothing more is sent */
    sp_record *r;
    while ((r = q_pop(&p->ready)) != NULL) {
        p->stats.failed++;
        release(p, r, 0);
    }
    while ((r = q_pop(&p->retry)) != NULL) {
        p->stats.failed++;
        release(p, r, 0);
    }
    /* The HTTP layer drops these requests without calling back. */
    while (p->flights) {
        struct inflight *f = p->flights;
        flight_unlink(p, f);
        fail_all(p, f);
        free(f);
    }
}

void sp_producer_free(sp_producer *p)
{
    if (p == NULL)
        return;
    sp_producer_abandon(p);
    sp_batch_free(&p->batch);
    free(p);
}

int sp_producer_put(sp_producer *p, const char *pk, size_t pk_len, const sp_u128 *ehk,
                    const void *data, size_t len, uint64_t pos, void *source, sp_err *err)
{
    if (pk_len == 0 || pk_len > UINT16_MAX || len > UINT32_MAX)
        return sp_err_set(err, "record of %zu bytes with a %zu-byte key cannot be sent", len, pk_len);
    sp_record *r = malloc(sizeof *r + pk_len + len);
    if (r == NULL)
        return sp_err_set(err, "out of memory for a %zu-byte record", len);
    memset(r, 0, sizeof *r);
    r->pos = pos;
    r->source = source;
    r->read_ms = sp_loop_now_ms(p->loop);
    r->len = (uint32_t)len;
    r->pk_len = (uint16_t)pk_len;
    if (ehk) {
        r->has_ehk = 1;
        r->ehk = *ehk;
    }
    memcpy(r->bytes, pk, pk_len);
    if (len)
        memcpy(r->bytes + pk_len, data, len);
    p->held += rec_mem(r);
    q_push(&p->ready, r);
    p->drained_sent = 0;
    if (sp_producer_full(p))
        p->was_full = 1;
    /* Only a full batch is worth a pump here; otherwise the linger timer
     * sends. This keeps the per-record cost to a compare. */
    if (p->ready.count >= p->batch.max_records || p->ready.bytes >= p->batch.max_bytes ||
        !p->linger_timer.armed)
        pump(p);
    return SP_OK;
}

int sp_producer_full(const sp_producer *p)
{
    return p->held >= p->o.budget_bytes;
}

size_t sp_producer_buffered(const sp_producer *p)
{
    return p->held;
}

void sp_producer_flush(sp_producer *p)
{
    p->flushing = 1;
    pump(p);
}

int sp_producer_idle(const sp_producer *p)
{
    return p->ready.count == 0 && p->retry.count == 0 && p->in_flight == 0;
}

const sp_producer_stats *sp_producer_stats_get(const sp_producer *p)
{
    return &p->stats;
}
