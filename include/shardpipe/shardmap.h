/* Routing: 128-bit hash keys, MD5 of a partition key, and the sorted map of
 * open shards' hash-key ranges (KINESIS.md §3). */
#ifndef SHARDPIPE_SHARDMAP_H
#define SHARDPIPE_SHARDMAP_H

#include <stddef.h>
#include <stdint.h>
#include "shardpipe/err.h"

typedef struct sp_u128 {
    uint64_t hi, lo;
} sp_u128;

#define SP_U128_DEC_MAX 40  /* 39 digits of 2^128-1 plus NUL */

/* Strict decimal parse, as the ExplicitHashKey pattern 0|([1-9]\d{0,38}):
 * digits only, no sign, no leading zero (except "0" itself), value at most
 * 2^128-1. Returns 0, or -1 on any violation. */
int sp_u128_parse(const char *s, size_t n, sp_u128 *out);

/* Decimal, NUL-terminated; returns the number of digits. */
size_t sp_u128_format(sp_u128 v, char out[SP_U128_DEC_MAX]);

int sp_u128_cmp(sp_u128 a, sp_u128 b);   /* <0, 0, >0 */

/* MD5 of the partition key bytes, read as an unsigned big-endian 128-bit
 * integer: the hash Kinesis routes by. */
sp_u128 sp_hashkey(const void *pk, size_t n);

#define SP_SHARD_ID_MAX 128

typedef struct sp_shard {
    char id[SP_SHARD_ID_MAX + 1];
    sp_u128 start, end;              /* inclusive hash-key range */
    char *start_seq;                 /* may be NULL */
    char *end_seq;                   /* NULL while the shard is open */
    char *parent;                    /* may be NULL */
    char *adjacent_parent;           /* may be NULL */
} sp_shard;

void sp_shard_clear(sp_shard *s);    /* frees the strings */

/* The open shards sorted by ending hash key. */
typedef struct sp_shardmap {
    sp_shard *shards;
    size_t n;
} sp_shardmap;

/* Takes ownership of shards[0..n) (an array from malloc): drops closed
 * shards (end_seq set), sorts by end key and checks that the open ranges do
 * not overlap. On error the array is freed and the map is left empty.
 * m's previous contents are overwritten, not freed: build a refreshed map
 * in a fresh sp_shardmap and swap, so a failed refresh keeps the old one. */
int sp_shardmap_take(sp_shardmap *m, sp_shard *shards, size_t n, sp_err *err);

/* Index of the open shard whose range holds h, or -1. Binary search on the
 * ending hash key (lower bound), then a check of the start. */
long sp_shardmap_lookup(const sp_shardmap *m, sp_u128 h);

/* Index of the shard with this id, or -1. */
long sp_shardmap_find(const sp_shardmap *m, const char *shard_id);

void sp_shardmap_free(sp_shardmap *m);

/* ---- listing (ListShards, KINESIS.md §1.4) ---- */

struct sp_kinesis;

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

int sp_shardmap_list(struct sp_kinesis *k, const char *stream, const char *filter,
                     sp_shardlist_fn done, void *arg, sp_shardlist **handle, sp_err *err);

/* The caller goes away before the answer: done will not be called (the
 * listing finishes and frees itself). */
void sp_shardmap_list_cancel(sp_shardlist *l);

/* The same, waiting for the answer: runs the loop until it comes. For
 * start-up, before anything else is registered on the loop. */
int sp_shardmap_list_sync(struct sp_kinesis *k, const char *stream, const char *filter,
                          sp_shard **out, size_t *n, sp_err *err);

/* Frees an array of n shards. */
void sp_shards_free(sp_shard *shards, size_t n);

#endif
