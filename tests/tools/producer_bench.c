/* The producer alone, for profiling: records through a fake transport
 * that answers every request at once, under a fake clock, into a stream
 * of any number of shards. No network and no HTTP, so what callgrind
 * counts in sp_producer_put, on_wake and on_put_response is the
 * producer's own work (routing, queues, windows, batches, responses).
 *
 *   producer_bench SHARDS RECORDS [md5|ehk|balanced] [FAIL_EVERY]
 *
 * md5 (default): a random 16-hex-digit key per record (MD5 routing);
 * ehk: an ExplicitHashKey per record; balanced: the least loaded shard.
 * FAIL_EVERY k > 0: every k-th entry of a response is throttled (the
 * shard backs off and the entry is requeued). Prints what was stored. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/loop.h"
#include "shardpipe/producer.h"

#define MAXOUT 4096
#define READ_RECORDS 100    /* records per "read" between loop turns */

struct req {
    sp_kinesis_cb cb;
    void *arg;
    size_t n;
};

struct bench {
    uint64_t now;
    sp_loop *loop;
    sp_producer *p;
    sp_shardlist_fn list_done;
    void *list_arg;
    struct req out[MAXOUT];
    size_t nout;
    size_t fail_every, entry_no;
    uint64_t acked, stored;
    int drained;
};

static uint64_t clock_of(void *arg)
{
    return ((struct bench *)arg)->now;
}

static size_t count_entries(const sp_buf *body)
{
    size_t n = 0;
    const char *s = body->data, *end = body->data + body->len;
    while ((s = memmem(s, (size_t)(end - s), "\"PartitionKey\"", 14)) != NULL) {
        n++;
        s += 14;
    }
    return n;
}

static int fake_put(void *arg, sp_buf *body, sp_kinesis_cb cb, void *cb_arg, void **handle, sp_err *err)
{
    struct bench *b = arg;
    if (b->nout == MAXOUT)
        return sp_err_set(err, "bench: too many requests out");
    struct req *r = &b->out[b->nout++];
    r->cb = cb;
    r->arg = cb_arg;
    r->n = count_entries(body);
    size_t max = body->max;
    sp_buf_free(body);
    sp_buf_init(body, max);
    *handle = r;
    return SP_OK;
}

static void fake_cancel_put(void *arg, void *handle)
{
    (void)arg;
    ((struct req *)handle)->cb = NULL;
}

static int fake_list(void *arg, const char *stream, const char *filter, sp_shardlist_fn done, void *done_arg,
                     void **handle, sp_err *err)
{
    (void)stream;
    (void)filter;
    (void)err;
    struct bench *b = arg;
    b->list_done = done;
    b->list_arg = done_arg;
    *handle = b;
    return SP_OK;
}

static void fake_cancel_list(void *arg, void *handle)
{
    (void)handle;
    ((struct bench *)arg)->list_done = NULL;
}

static void answer_list(struct bench *b, size_t n)
{
    sp_shard *s = calloc(n, sizeof *s);
    if (s == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        snprintf(s[i].id, sizeof s[i].id, "shardId-%012zu", i);
        /* Even ranges over the top 64 bits, the last one to the end. */
        uint64_t step = UINT64_MAX / n;
        s[i].start = (sp_u128){step * i, 0};
        s[i].end = i + 1 == n ? (sp_u128){UINT64_MAX, UINT64_MAX} : (sp_u128){step * (i + 1) - 1, UINT64_MAX};
    }
    sp_shardlist_fn done = b->list_done;
    b->list_done = NULL;
    done(b->list_arg, s, n, NULL, 0);
}

static json_object *response(struct bench *b, size_t n)
{
    json_object *j = json_object_new_object(), *arr = json_object_new_array();
    int failed = 0;
    for (size_t k = 0; k < n; k++) {
        json_object *o = json_object_new_object();
        if (b->fail_every && ++b->entry_no % b->fail_every == 0) {
            failed++;
            json_object_object_add(o, "ErrorCode", json_object_new_string("ProvisionedThroughputExceededException"));
            json_object_object_add(o, "ErrorMessage", json_object_new_string("Rate exceeded for shard"));
        } else {
            json_object_object_add(o, "SequenceNumber", json_object_new_string("49590338271490256608559692538361571095921575989136588898"));
        }
        json_object_array_add(arr, o);
    }
    json_object_object_add(j, "FailedRecordCount", json_object_new_int(failed));
    json_object_object_add(j, "Records", arr);
    return j;
}

static void answer_all(struct bench *b)
{
    /* Answers may send new requests: take the ones out now. */
    size_t n = b->nout;
    struct req batch[MAXOUT];
    memcpy(batch, b->out, n * sizeof batch[0]);
    b->nout = 0;
    for (size_t i = 0; i < n; i++) {
        if (batch[i].cb == NULL)
            continue;
        json_object *j = response(b, batch[i].n);
        sp_kinesis_result res;
        memset(&res, 0, sizeof res);
        res.status = 200;
        res.body = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN); /* as kinesis.c hands it on */
        res.body_len = strlen(res.body);
        batch[i].cb(batch[i].arg, &res);
        json_object_put(j);
    }
}

static void on_ack(void *token, uint64_t tag, int how)
{
    (void)tag;
    struct bench *b = token;
    b->acked++;
    b->stored += how == SP_ACK_STORED;
}

static void on_drained(void *arg)
{
    ((struct bench *)arg)->drained = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: producer_bench SHARDS RECORDS [md5|ehk|balanced] [FAIL_EVERY]\n");
        return 2;
    }
    size_t shards = strtoul(argv[1], NULL, 10), records = strtoul(argv[2], NULL, 10);
    const char *mode = argc > 3 ? argv[3] : "md5";
    static struct bench b;
    b.fail_every = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
    sp_err err;
    b.loop = sp_loop_new(&err);
    if (b.loop == NULL || shards == 0)
        return 1;
    b.now = 1000000;
    sp_loop_set_clock(b.loop, clock_of, &b);
    sp_log log = {0};
    log.level = SP_LOG_ERROR;
    log.out = stderr;
    sp_producer_transport tx = {fake_put, fake_cancel_put, fake_list, fake_cancel_list, &b};
    sp_producer_opts o;
    memset(&o, 0, sizeof o);
    o.stream = "bench";
    o.linger_ms = 200;
    o.route = 1;
    o.log = &log;
    o.on_drained = on_drained;
    o.arg = &b;
    o.transport = &tx;
    o.seed = 1;
    sp_throttle_cfg_default(&o.throttle);
    o.throttle.share = 10.0;  /* as --shard-rate 1000: the windows count but seldom block */
    b.p = sp_producer_new(b.loop, NULL, &o, &err);
    if (b.p == NULL || sp_producer_start(b.p, &err) != SP_OK) {
        fprintf(stderr, "producer_bench: %s\n", err.msg);
        return 1;
    }
    answer_list(&b, shards);
    sp_loop_run_due(b.loop);
    sp_rng rng;
    sp_rng_seed_with(&rng, 42);
    char data[200];
    memset(data, 'x', sizeof data);
    size_t put = 0;
    int flushed = 0;
    while (!b.drained) {
        for (size_t k = 0; k < READ_RECORDS && put < records && !sp_producer_full(b.p); k++, put++) {
            char pk[17];
            uint64_t v = sp_rng_next(&rng);
            snprintf(pk, sizeof pk, "%016llx", (unsigned long long)v);
            sp_u128 h = {v, sp_rng_next(&rng)};
            sp_put_rec in = {pk, 16, strcmp(mode, "ehk") == 0 ? &h : NULL, strcmp(mode, "balanced") == 0,
                             data, sizeof data, on_ack, &b, put};
            if (sp_producer_put(b.p, &in, &err) != SP_OK) {
                fprintf(stderr, "producer_bench: %s\n", err.msg);
                return 1;
            }
        }
        if (put == records && !flushed) {
            sp_producer_flush(b.p);
            flushed = 1;
        }
        b.now++;
        sp_loop_run_due(b.loop);
        answer_all(&b);
    }
    const sp_producer_stats *st = sp_producer_stats_get(b.p);
    printf("shards=%zu records=%zu mode=%s stored=%llu acked=%llu requests=%llu retried=%llu throttled=%llu "
           "fake_ms=%llu\n",
           shards, records, mode, (unsigned long long)b.stored, (unsigned long long)b.acked,
           (unsigned long long)st->requests, (unsigned long long)st->retried, (unsigned long long)st->throttled,
           (unsigned long long)(b.now - 1000000));
    int ok = b.stored == records;
    sp_producer_free(b.p);
    sp_loop_free(b.loop);
    return ok ? 0 : 1;
}
