/* Listing a stream's shards: ListShards with NextToken paging, through the
 * event loop (KINESIS.md §1.4). The AWS side of routing; the map itself is
 * pipe/shardmap. */
#ifndef SHARDPIPE_SHARDLIST_H
#define SHARDPIPE_SHARDLIST_H

#include "shardpipe/err.h"
#include "shardpipe/kinesis.h"


/* Called once with every shard listed (ownership passes to the callee,
 * an array from malloc), or with shards NULL and a message on failure;
 * retryable tells whether trying again later may help. */
typedef void (*sp_shardlist_fn)(void *arg, sp_shard *shards, size_t n,
                                const char *errmsg, int retryable);

/* Lists the shards of a stream through the event loop: NextToken paging
 * (later pages carry the token only), the listing restarted from the top
 * when a token expires. filter: NULL or a ShardFilter type such as
 * "AT_LATEST" (servers that ignore it list closed shards too). */
typedef struct sp_shardlist sp_shardlist;

int sp_shardlist_start(sp_kinesis *k, const char *stream, const char *filter,
                       sp_shardlist_fn done, void *arg, sp_shardlist **handle, sp_err *err);

/* The caller goes away before the answer: done will not be called (the
 * listing finishes and frees itself). */
void sp_shardlist_cancel(sp_shardlist *l);

#endif
