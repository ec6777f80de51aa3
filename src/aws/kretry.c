/* Start-up calls (kretry.h): sent again after a retryable failure, a few
 * times with backoff, all on the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/backoff.h"
#include "shardpipe/kretry.h"
#include "shardpipe/rng.h"

/* So that one throttle or one dropped connection does not end a run
 * before it began. */
#define START_ATTEMPTS 5

struct sp_kretry {
    sp_kinesis *k;
    sp_loop *loop;
    const sp_log *log;
    char op[64];
    sp_buf body;              /* kept to send again */
    unsigned attempt;
    sp_backoff bo;
    sp_rng rng;
    sp_timer timer;
    sp_kcall *call;           /* in flight, or NULL while waiting */
    sp_kinesis_cb cb;
    void *arg;
    void (*arg_free)(void *); /* on cancel: what arg owns */
};

static void kretry_free(struct sp_kretry *r)
{
    sp_timer_stop(r->loop, &r->timer);
    sp_buf_free(&r->body);
    free(r);
}

static int kretry_send(struct sp_kretry *r, sp_err *err);

static void on_kretry_answer(void *arg, const sp_kinesis_result *res)
{
    struct sp_kretry *r = arg;
    r->call = NULL;
    sp_err err;
    if (sp_kclass_retryable(res->klass) && r->attempt < START_ATTEMPTS) {
        uint32_t delay = sp_backoff_delay(&r->bo, r->attempt, &r->rng);
        sp_log_warn(r->log, "%s: %s %s; retrying in %u ms", r->op, res->code, res->message, delay);
        if (sp_timer_start(r->loop, &r->timer, delay, &err) == SP_OK)
            return;
        sp_log_error(r->log, "%s: %s", r->op, err.msg);
    }
    r->cb(r->arg, res);
    kretry_free(r);
}

static void on_kretry_timer(sp_loop *loop, void *arg)
{
    (void)loop;
    struct sp_kretry *r = arg;
    sp_err err;
    if (kretry_send(r, &err) == SP_OK)
        return;
    /* Could not even send: answer as a transport failure would. */
    sp_kinesis_result res;
    memset(&res, 0, sizeof res);
    res.klass = SP_KC_FATAL;
    snprintf(res.code, sizeof res.code, "LocalError");
    snprintf(res.message, sizeof res.message, "%s", err.msg);
    r->cb(r->arg, &res);
    kretry_free(r);
}

static int kretry_send(struct sp_kretry *r, sp_err *err)
{
    sp_buf copy;
    sp_buf_init(&copy, r->body.max);
    if (sp_buf_append(&copy, r->body.data ? r->body.data : "", r->body.len) != SP_OK) {
        sp_buf_free(&copy);
        return sp_err_set(err, "out of memory");
    }
    r->attempt++;
    int rc = sp_kinesis_call_h(r->k, r->op, &copy, on_kretry_answer, r, &r->call, err);
    sp_buf_free(&copy);
    return rc;
}

static int call_retried(sp_kinesis *k, const char *op, const sp_buf *body, sp_kinesis_cb cb, void *arg,
                        void (*arg_free)(void *), sp_kretry **handle, sp_err *err)
{
    struct sp_kretry *r = calloc(1, sizeof *r);
    if (r == NULL)
        return sp_err_set(err, "out of memory");
    r->k = k;
    r->loop = sp_kinesis_loop(k);
    r->log = sp_kinesis_log(k);
    r->arg_free = arg_free;
    snprintf(r->op, sizeof r->op, "%s", op);
    r->bo = (sp_backoff){SP_BACKOFF_BASE_MS * 2, 3000};
    r->cb = cb;
    r->arg = arg;
    sp_buf_init(&r->body, body->max);
    sp_timer_init(&r->timer, on_kretry_timer, r);
    if (sp_rng_seed(&r->rng, err) != SP_OK ||
        sp_buf_append(&r->body, body->data ? body->data : "", body->len) != SP_OK ||
        kretry_send(r, err) != SP_OK) {
        if (r->body.failed)
            sp_err_set(err, "out of memory");
        kretry_free(r);
        return SP_ERR;
    }
    if (handle)
        *handle = r;
    return SP_OK;
}

int sp_kinesis_call_retried(sp_kinesis *k, const char *op, const sp_buf *body, sp_kinesis_cb cb, void *arg,
                            sp_kretry **handle, sp_err *err)
{
    return call_retried(k, op, body, cb, arg, NULL, handle, err);
}

void sp_kinesis_retried_cancel(sp_kretry *r)
{
    if (r == NULL)
        return;
    sp_kinesis_cancel(r->call);
    if (r->arg_free)
        r->arg_free(r->arg);
    kretry_free(r);
}

struct describe {
    sp_kinesis *k;
    char stream[SP_STREAM_NAME_MAX + 1];
    sp_describe_fn done;
    void *arg;
};

static void on_described(void *arg, const sp_kinesis_result *res)
{
    struct describe *d = arg;
    sp_stream_summary sum;
    sp_err err;
    memset(&sum, 0, sizeof sum);
    int rc = res->klass != SP_KC_OK ? sp_kinesis_explain(d->k, "DescribeStreamSummary", d->stream, res, &err)
                                    : sp_kinesis_parse_summary(res->json, &sum, &err);
    if (rc == SP_OK)
        d->done(d->arg, &sum, NULL);
    else
        d->done(d->arg, NULL, err.msg);
    free(d);
}

int sp_kinesis_describe(sp_kinesis *k, const char *stream, sp_describe_fn done, void *arg, sp_kretry **handle,
                        sp_err *err)
{
    struct describe *d = calloc(1, sizeof *d);
    if (d == NULL)
        return sp_err_set(err, "out of memory");
    d->k = k;
    snprintf(d->stream, sizeof d->stream, "%s", stream);
    d->done = done;
    d->arg = arg;
    sp_buf body;
    sp_buf_init(&body, 0);
    sp_kinesis_body_stream(&body, stream);
    int rc = call_retried(k, "DescribeStreamSummary", &body, on_described, d, free, handle, err);
    sp_buf_free(&body);
    if (rc != SP_OK)
        free(d);
    return rc;
}
