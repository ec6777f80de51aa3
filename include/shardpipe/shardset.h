/* Sets of shard indices for scheduling thousands of shards at a cost that
 * does not grow with their number: a bit set that finds the next member
 * in index order (round robin), and a min-heap of indices with a key each
 * (earliest deadline, least load). Both are sized once, for indices
 * 0..n-1, and never allocate afterwards. */
#ifndef SHARDPIPE_SHARDSET_H
#define SHARDPIPE_SHARDSET_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/err.h"

#define SP_SET_NONE SIZE_MAX

typedef struct sp_bitset {
    uint64_t *w;       /* bit i: index i is in the set */
    uint64_t *sum;     /* bit j: word j of w is not zero */
    size_t n, nw, nsum;
} sp_bitset;

int sp_bitset_init(sp_bitset *b, size_t n, sp_err *err);
void sp_bitset_free(sp_bitset *b);
void sp_bitset_add(sp_bitset *b, size_t i);
void sp_bitset_del(sp_bitset *b, size_t i);
int sp_bitset_has(const sp_bitset *b, size_t i);
/* The least member >= from, or SP_SET_NONE. */
size_t sp_bitset_next(const sp_bitset *b, size_t from);

typedef struct sp_idxheap {
    size_t *heap;      /* indices, the least (key, index) first */
    size_t *pos;       /* where each index is in heap, SP_SET_NONE: absent */
    uint64_t *key;
    size_t n, cap;
} sp_idxheap;

int sp_idxheap_init(sp_idxheap *h, size_t cap, sp_err *err);
void sp_idxheap_free(sp_idxheap *h);
/* Adds i with this key, or changes its key: O(log n). */
void sp_idxheap_set(sp_idxheap *h, size_t i, uint64_t key);
void sp_idxheap_del(sp_idxheap *h, size_t i);
int sp_idxheap_has(const sp_idxheap *h, size_t i);
/* The index with the least key (ties: the lowest index), SP_SET_NONE
 * when empty; its key, UINT64_MAX when empty. */
size_t sp_idxheap_top(const sp_idxheap *h);
uint64_t sp_idxheap_top_key(const sp_idxheap *h);

#endif
