/* ListShards paging on the loop (KINESIS.md §1.4): later pages carry the
 * token only; an expired token restarts the listing from the top. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/shardlist.h"


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

void sp_shardlist_cancel(sp_shardlist *l)
{
    if (l != NULL)
        l->done = NULL;
}

int sp_shardlist_start(sp_kinesis *k, const char *stream, const char *filter,
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
