/* Routing: the sorted map of open shards' hash-key ranges (KINESIS.md §3),
 * and lookup by hash key. No network: aws/shardlist fills it. */
#ifndef SHARDPIPE_SHARDMAP_H
#define SHARDPIPE_SHARDMAP_H

#include <stddef.h>
#include <stdint.h>
#include "shardpipe/err.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/u128.h"

/* The open shards sorted by ending hash key, and where to start looking
 * for a key by its top bits (so a lookup is a step or two, not log n). */
typedef struct sp_shardmap {
    sp_shard *shards;
    size_t n;
    uint32_t *radix;      /* [b]: the first shard ending at or after bucket b's start; NULL: none */
    unsigned radix_bits;  /* buckets: 1 << radix_bits, by the top bits of the key */
} sp_shardmap;

/* Takes ownership of shards[0..n) (an array from malloc): drops closed
 * shards (end_seq set), sorts by end key and checks that the open ranges do
 * not overlap. On error the array is freed and the map is left empty.
 * m's previous contents are overwritten, not freed: build a refreshed map
 * in a fresh sp_shardmap and swap, so a failed refresh keeps the old one. */
int sp_shardmap_take(sp_shardmap *m, sp_shard *shards, size_t n, sp_err *err);

/* Index of the open shard whose range holds h, or -1. Binary search on the
 * ending hash key (lower bound) between the shards the radix table gives
 * for h's bucket, then a check of the start. */
long sp_shardmap_lookup(const sp_shardmap *m, sp_u128 h);

/* Index of the shard with this id, or -1. */
long sp_shardmap_find(const sp_shardmap *m, const char *shard_id);

/* For each shard of `now`, its index in `before` by id (-1: new), in
 * O(n log n) rather than a find per shard: old[0..now->n). */
int sp_shardmap_match(const sp_shardmap *before, const sp_shardmap *now, long *old, sp_err *err);

void sp_shardmap_free(sp_shardmap *m);

#endif
