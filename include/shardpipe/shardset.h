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
#include "shardpipe/u128.h"

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

/* The producer's shards (indices 0..n-1) by whether they may send: ready
 * (in round-robin order, and by when their first record is due), parked
 * until a time (backoff, a full window), or idle (in neither); and, for
 * balanced keys, by load. Every step is O(log n) or better. */
typedef struct sp_sched {
    sp_bitset ready;
    sp_idxheap due, park, load;
} sp_sched;

int sp_sched_init(sp_sched *s, size_t n, sp_err *err);
void sp_sched_free(sp_sched *s);
void sp_sched_ready(sp_sched *s, size_t i, uint64_t due);
void sp_sched_park(sp_sched *s, size_t i, uint64_t until);
void sp_sched_idle(sp_sched *s, size_t i);
/* A parked index whose time has come, now idle, or SP_SET_NONE. */
size_t sp_sched_unpark(sp_sched *s, uint64_t now);
/* The earliest due time of a ready index (UINT64_MAX: none). */
uint64_t sp_sched_due(const sp_sched *s);
/* When to look again: the earliest due time (now when eager and any is
 * ready) or end of a park; UINT64_MAX when nothing waits. */
uint64_t sp_sched_wake(const sp_sched *s, uint64_t now, int eager);
/* Round robin over the ready indices from start, once around: call with
 * *pos = SP_SET_NONE first, then with what it returned; SP_SET_NONE at the
 * end. Indices may leave the ready set meanwhile. */
size_t sp_sched_next(const sp_sched *s, size_t start, size_t *pos, int *wrapped);
/* Balanced keys: index i's time to drain (>= 0), and the least (ties: the
 * lowest index). */
void sp_sched_load(sp_sched *s, size_t i, double t);
size_t sp_sched_least(const sp_sched *s);

/* Ordered mode: the key hashes of the batch being built (at most 500 of
 * 1024 slots, open addressing). */
#define SP_KEYSET_SLOTS 1024

typedef struct sp_keyset {
    sp_u128 *e;
} sp_keyset;

int sp_keyset_init(sp_keyset *k, sp_err *err);
void sp_keyset_free(sp_keyset *k);
void sp_keyset_clear(sp_keyset *k);
/* 1 when h is in the set already; otherwise adds it. */
int sp_keyset_seen(sp_keyset *k, sp_u128 h);

#endif
