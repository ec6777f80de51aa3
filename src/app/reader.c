/* The read path. Each shard is a small state machine:
 *   NEED_ITERATOR -> (GetShardIterator) -> POLL -> (GetRecords) -> POLL ...
 * and ends DONE when it is caught up (unless following) or closed and
 * read to its end. Every shard has its own timer, so shards never wait on
 * each other and each keeps under 5 calls a second. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shardpipe/shardlist.h"
#include "shardpipe/base64.h"
#include "shardpipe/reader.h"

#define MIN_POLL_MS 200     /* 5 GetRecords per second per shard */

enum shard_state { NEED_ITERATOR, POLL, DONE };

struct rshard {
    struct reader *rd;
    char id[SP_SHARD_ID_MAX + 1];
    enum shard_state state;
    char *iterator;
    char *last_seq;           /* of the last record delivered */
    unsigned failures;        /* consecutive, for backoff */
    int busy;                 /* a call is in flight */
    sp_timer timer;
};

struct reader {
    sp_loop *loop;
    sp_kinesis *k;
    const sp_reader_opts *o;
    sp_reader_stats *stats;
    struct rshard *shards;
    size_t n;
    sp_rng rng;
    sp_buf data;              /* decoded record data, reused */
    sp_shardlist *listing;    /* while the shards are being listed */
    int stop;
    int failed;
    sp_err err;
};

static const char *const iter_names[] = {"latest", "trim-horizon", "at-sequence", "after-sequence", "at-timestamp"};
static const char *const iter_api[] = {"LATEST", "TRIM_HORIZON", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"};

int sp_iter_kind_parse(const char *s, enum sp_iter_kind *out)
{
    for (size_t i = 0; i < sizeof iter_names / sizeof iter_names[0]; i++) {
        if (strcmp(s, iter_names[i]) == 0) {
            *out = (enum sp_iter_kind)i;
            return SP_OK;
        }
    }
    return SP_ERR;
}

int sp_parse_timestamp_ms(const char *s, int64_t *out_ms, sp_err *err)
{
    const char *p = s;
    if (*p == '\0')
        return sp_err_set(err, "empty timestamp");
    /* Epoch seconds with an optional fraction. */
    size_t digits = strspn(p, "0123456789");
    if (digits > 0 && digits <= 12 && (p[digits] == '\0' || p[digits] == '.')) {
        int64_t sec = 0, ms = 0;
        for (size_t i = 0; i < digits; i++)
            sec = sec * 10 + (p[i] - '0');
        if (p[digits] == '.') {
            const char *f = p + digits + 1;
            size_t fd = strspn(f, "0123456789");
            if (fd == 0 || f[fd] != '\0')
                return sp_err_set(err, "timestamp '%s' is not epoch seconds or YYYY-MM-DDTHH:MM:SSZ", s);
            for (size_t i = 0; i < 3; i++)
                ms = ms * 10 + (i < fd ? f[i] - '0' : 0);
        }
        *out_ms = sec * 1000 + ms;
        return SP_OK;
    }
    /* ISO 8601, UTC only: a zone other than Z would be guessed at. */
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(p, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL)
        return sp_err_set(err, "timestamp '%s' is not epoch seconds or YYYY-MM-DDTHH:MM:SSZ", s);
    int64_t ms = 0;
    if (*rest == '.') {
        rest++;
        size_t fd = strspn(rest, "0123456789");
        if (fd == 0)
            return sp_err_set(err, "timestamp '%s' has an empty fraction", s);
        for (size_t i = 0; i < 3; i++)
            ms = ms * 10 + (i < fd ? rest[i] - '0' : 0);
        rest += fd;
    }
    if (strcmp(rest, "Z") != 0)
        return sp_err_set(err, "timestamp '%s' must end in Z (UTC)", s);
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return sp_err_set(err, "timestamp '%s' is out of range", s);
    *out_ms = (int64_t)t * 1000 + ms;
    return SP_OK;
}

/* ---- polling ---- */

static void shard_step(sp_loop *loop, void *arg);

static void finish_if_done(struct reader *rd)
{
    for (size_t i = 0; i < rd->n; i++)
        if (rd->shards[i].state != DONE || rd->shards[i].busy)
            return;
    sp_loop_stop(rd->loop);
}

static void stop_all(struct reader *rd)
{
    rd->stop = 1;
    for (size_t i = 0; i < rd->n; i++) {
        sp_timer_stop(rd->loop, &rd->shards[i].timer);
        if (!rd->shards[i].busy)
            rd->shards[i].state = DONE;
    }
    finish_if_done(rd);
}

static void fatal(struct reader *rd, const char *op, const sp_kinesis_result *res)
{
    if (!rd->failed) {
        rd->failed = 1;
        sp_kinesis_explain(rd->k, op, rd->o->stream, res, &rd->err);
    }
    stop_all(rd);
}

static void schedule(struct rshard *s, uint64_t delay_ms)
{
    sp_err err;
    if (s->rd->stop) {
        s->state = DONE;
        finish_if_done(s->rd);
        return;
    }
    if (sp_timer_start(s->rd->loop, &s->timer, delay_ms, &err) != SP_OK) {
        s->rd->failed = 1;
        s->rd->err = err;
        stop_all(s->rd);
    }
}

static void retry_later(struct rshard *s, const sp_kinesis_result *res)
{
    s->failures++;
    uint32_t d = sp_backoff_delay(&s->rd->o->backoff, s->failures, &s->rd->rng);
    if (d < MIN_POLL_MS)
        d = MIN_POLL_MS;
    sp_log_warn(s->rd->o->log, "%s: %s %s; retrying in %u ms", s->id, res->code, res->message, d);
    schedule(s, d);
}

static int set_str(char **dst, const char *src)
{
    char *c = src ? strdup(src) : NULL;
    if (src && c == NULL)
        return SP_ERR;
    free(*dst);
    *dst = c;
    return SP_OK;
}

static void on_iterator(void *arg, const sp_kinesis_result *res)
{
    struct rshard *s = arg;
    struct reader *rd = s->rd;
    s->busy = 0;
    rd->stats->calls++;
    if (rd->stop) {
        s->state = DONE;
        finish_if_done(rd);
        return;
    }
    if (res->klass != SP_KC_OK) {
        if (sp_kclass_retryable(res->klass)) {
            retry_later(s, res);
            return;
        }
        fatal(rd, "GetShardIterator", res);
        return;
    }
    json_object *v;
    if (!json_object_object_get_ex(res->json, "ShardIterator", &v) || !json_object_is_type(v, json_type_string) ||
        set_str(&s->iterator, json_object_get_string(v)) != SP_OK) {
        sp_kinesis_result bad = *res;
        bad.klass = SP_KC_FATAL;
        snprintf(bad.code, sizeof bad.code, "MalformedResponse");
        snprintf(bad.message, sizeof bad.message, "GetShardIterator answer has no ShardIterator");
        fatal(rd, "GetShardIterator", &bad);
        return;
    }
    s->failures = 0;
    s->state = POLL;
    schedule(s, 0);
}

static void on_records(void *arg, const sp_kinesis_result *res)
{
    struct rshard *s = arg;
    struct reader *rd = s->rd;
    s->busy = 0;
    rd->stats->calls++;
    if (rd->stop) {
        s->state = DONE;
        finish_if_done(rd);
        return;
    }
    if (res->klass == SP_KC_EXPIRED_ITERATOR) {
        /* Iterators live 5 minutes: start again just after what we have. */
        rd->stats->renewed++;
        s->state = NEED_ITERATOR;
        schedule(s, 0);
        return;
    }
    if (res->klass != SP_KC_OK) {
        if (res->klass == SP_KC_THROTTLE)
            rd->stats->throttled++;
        if (sp_kclass_retryable(res->klass)) {
            retry_later(s, res);
            return;
        }
        fatal(rd, "GetRecords", res);
        return;
    }
    sp_get_records g;
    sp_err err;
    if (sp_kinesis_parse_get_records(res->json, &g, &err) != SP_OK) {
        sp_kinesis_result bad = *res;
        snprintf(bad.code, sizeof bad.code, "MalformedResponse");
        snprintf(bad.message, sizeof bad.message, "%s", err.msg);
        retry_later(s, &bad);
        return;
    }
    s->failures = 0;
    for (size_t i = 0; i < g.n && !rd->stop; i++) {
        sp_kinesis_record rec;
        if (sp_kinesis_record_at(&g, i, &rec, &err) != SP_OK)
            goto bad_record;
        sp_buf_reset(&rd->data);
        size_t len = 0;
        if (sp_buf_reserve(&rd->data, sp_base64_decoded_max(rec.data_b64_len)) != SP_OK ||
            sp_base64_decode(rec.data_b64, rec.data_b64_len, rd->data.data, &len) != 0) {
            sp_err_set(&err, "GetRecords: record %s has data that is not valid base64", rec.seq);
            goto bad_record;
        }
        if (set_str(&s->last_seq, rec.seq) != SP_OK) {
            sp_err_set(&err, "out of memory");
            goto bad_record;
        }
        rd->stats->records++;
        rd->stats->bytes += len;
        if (rd->o->on_record(rd->o->arg, s->id, &rec, rd->data.data, len, &err) != SP_OK)
            goto bad_record;
        if (rd->o->max_records && rd->stats->records >= rd->o->max_records) {
            stop_all(rd);
            return;
        }
    }
    if (g.next_iterator == NULL) {
        /* Closed and read to its end. */
        s->state = DONE;
        finish_if_done(rd);
        return;
    }
    if (set_str(&s->iterator, g.next_iterator) != SP_OK) {
        sp_err_set(&err, "out of memory");
        goto bad_record;
    }
    if (g.n == 0 && g.millis_behind <= 0 && !rd->o->follow) {
        s->state = DONE;
        finish_if_done(rd);
        return;
    }
    schedule(s, g.n > 0 || g.millis_behind > 0 ? MIN_POLL_MS
                 : (rd->o->idle_poll_ms ? rd->o->idle_poll_ms : 1000));
    return;
bad_record:
    if (!rd->failed) {
        rd->failed = 1;
        rd->err = err;
    }
    stop_all(rd);
}

static void shard_step(sp_loop *loop, void *arg)
{
    (void)loop;
    struct rshard *s = arg;
    struct reader *rd = s->rd;
    sp_buf body;
    sp_err err;
    sp_buf_init(&body, 0);
    const char *op;
    sp_kinesis_cb cb;
    if (s->state == NEED_ITERATOR) {
        const sp_reader_opts *o = rd->o;
        enum sp_iter_kind kind = o->iter;
        const char *seq = o->seq;
        if (s->last_seq) { /* renewing: continue after the last record seen */
            kind = SP_ITER_AFTER_SEQUENCE;
            seq = s->last_seq;
        }
        sp_kinesis_body_shard_iterator(&body, o->stream, s->id, iter_api[kind],
                                       (kind == SP_ITER_AT_SEQUENCE || kind == SP_ITER_AFTER_SEQUENCE) ? seq : NULL,
                                       o->ts_ms);
        op = "GetShardIterator";
        cb = on_iterator;
    } else if (s->state == POLL) {
        sp_kinesis_body_get_records(&body, s->iterator, rd->o->limit);
        op = "GetRecords";
        cb = on_records;
    } else {
        sp_buf_free(&body);
        return;
    }
    if (sp_kinesis_call(rd->k, op, &body, cb, s, &err) != SP_OK) {
        sp_buf_free(&body);
        if (!rd->failed) {
            rd->failed = 1;
            rd->err = err;
        }
        stop_all(rd);
        return;
    }
    sp_buf_free(&body);
    s->busy = 1;
}

/* The shards are known: start reading each (or the one asked for). */
static void on_listed(void *arg, sp_shard *list, size_t nlist, const char *errmsg, int retryable)
{
    (void)retryable;
    struct reader *rd = arg;
    rd->listing = NULL;
    if (errmsg) {
        rd->failed = 1;
        sp_err_set(&rd->err, "%s", errmsg);
        sp_loop_stop(rd->loop);
        return;
    }
    rd->shards = calloc(nlist ? nlist : 1, sizeof *rd->shards);
    if (rd->shards == NULL) {
        rd->failed = 1;
        sp_err_set(&rd->err, "out of memory");
    }
    for (size_t i = 0; rd->shards && i < nlist; i++) {
        if (rd->o->shard && strcmp(rd->o->shard, list[i].id) != 0)
            continue;
        struct rshard *s = &rd->shards[rd->n++];
        s->rd = rd;
        snprintf(s->id, sizeof s->id, "%s", list[i].id);
        s->state = NEED_ITERATOR;
        sp_timer_init(&s->timer, shard_step, s);
    }
    sp_shards_free(list, nlist);
    if (!rd->failed && rd->o->shard && rd->n == 0) {
        rd->failed = 1;
        sp_err_set(&rd->err, "stream '%s' has no shard '%s'", rd->o->stream, rd->o->shard);
    }
    if (rd->failed || rd->n == 0) {
        sp_loop_stop(rd->loop);
        return;
    }
    for (size_t i = 0; i < rd->n; i++)
        schedule(&rd->shards[i], 0);
}

int sp_reader_run(sp_loop *loop, sp_kinesis *k, const sp_reader_opts *o,
                  sp_reader_stats *stats, sp_err *err)
{
    memset(stats, 0, sizeof *stats);
    if ((o->iter == SP_ITER_AT_SEQUENCE || o->iter == SP_ITER_AFTER_SEQUENCE) && (o->seq == NULL || o->shard == NULL))
        return sp_err_set(err, "a sequence-number iterator needs --shard and a sequence number (it belongs to one shard)");
    if (o->limit < 0 || o->limit > 10000)
        return sp_err_set(err, "--limit must be 1 to 10000");
    struct reader rd;
    memset(&rd, 0, sizeof rd);
    rd.loop = loop;
    rd.k = k;
    rd.o = o;
    rd.stats = stats;
    sp_buf_init(&rd.data, (size_t)16 << 20);
    if (sp_rng_seed(&rd.rng, err) != SP_OK)
        return SP_ERR;

    int rc = SP_OK;
    if (sp_shardlist_start(k, o->stream, NULL, on_listed, &rd, &rd.listing, err) != SP_OK)
        rc = SP_ERR;
    else
        rc = sp_loop_run(loop, err);
    if (rc == SP_OK && rd.failed) {
        *err = rd.err;
        rc = SP_ERR;
    }
    sp_shardlist_cancel(rd.listing);    /* stopped (a signal) before the answer */
    for (size_t i = 0; i < rd.n; i++) {
        sp_timer_stop(loop, &rd.shards[i].timer);
        free(rd.shards[i].iterator);
        free(rd.shards[i].last_seq);
    }
    free(rd.shards);
    sp_buf_free(&rd.data);
    return rc;
}
