/* Routing by hash key: the sorted map of open shards (KINESIS.md §3).
 * Pure arithmetic; the listing that fills it is aws/shardlist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/shardmap.h"

static int cmp_end(const void *pa, const void *pb)
{
    const sp_shard *a = pa, *b = pb;
    int c = sp_u128_cmp(a->end, b->end);
    return c != 0 ? c : sp_u128_cmp(a->start, b->start);
}

/* About two buckets per shard (even splits then put one or two shards in
 * each), at most 2^20. Without memory for it, lookups search the whole map. */
static void build_radix(sp_shardmap *m)
{
    unsigned bits = 1;
    while (bits < 20 && ((size_t)1 << bits) < 2 * m->n)
        bits++;
    size_t nb = (size_t)1 << bits;
    m->radix = malloc(nb * sizeof *m->radix);
    if (m->radix == NULL)
        return;
    m->radix_bits = bits;
    size_t i = 0;
    for (size_t b = 0; b < nb; b++) {
        sp_u128 start = {(uint64_t)b << (64 - bits), 0};
        while (i < m->n && sp_u128_cmp(m->shards[i].end, start) < 0)
            i++;
        m->radix[b] = (uint32_t)i;
    }
}

/* m's previous contents are not looked at: free it first, or build the new
 * map in a fresh one and swap, so that a failed refresh keeps the old map. */
int sp_shardmap_take(sp_shardmap *m, sp_shard *shards, size_t n, sp_err *err)
{
    size_t open = 0;

    memset(m, 0, sizeof *m);
    if (shards == NULL)
        return n == 0 ? SP_OK : sp_err_set(err, "shard map: no shard array");

    for (size_t i = 0; i < n; i++) {
        if (shards[i].end_seq != NULL) {
            sp_shard_clear(&shards[i]);
            continue;
        }
        if (sp_u128_cmp(shards[i].start, shards[i].end) > 0) {
            char id[SP_SHARD_ID_MAX + 1];
            memcpy(id, shards[i].id, sizeof id);
            id[SP_SHARD_ID_MAX] = '\0';
            sp_shards_free(shards, n);
            return sp_err_set(err, "shard map: shard %s starts after it ends", id);
        }
        if (open != i) {
            shards[open] = shards[i];
            memset(&shards[i], 0, sizeof shards[i]);
        }
        open++;
    }
    if (open == 0) {
        sp_shards_free(shards, n);
        return SP_OK;
    }

    qsort(shards, open, sizeof *shards, cmp_end);
    for (size_t i = 1; i < open; i++) {
        if (sp_u128_cmp(shards[i].start, shards[i - 1].end) <= 0) {
            sp_err_set(err, "shard map: open shards %.*s and %.*s overlap",
                       SP_SHARD_ID_MAX, shards[i - 1].id,
                       SP_SHARD_ID_MAX, shards[i].id);
            sp_shards_free(shards, n);
            return SP_ERR;
        }
    }

    /* Closed shards were moved out; shrinking is optional. */
    if (open < n) {
        sp_shard *p = realloc(shards, open * sizeof *shards);
        if (p != NULL)
            shards = p;
    }
    m->shards = shards;
    m->n = open;
    build_radix(m);
    return SP_OK;
}

long sp_shardmap_lookup(const sp_shardmap *m, sp_u128 h)
{
    size_t lo = 0, hi = m->n;
    if (m->radix) {
        /* The answer is at or after the first shard ending in or after h's
         * bucket, and at or before the first one ending in or after the next. */
        size_t b = (size_t)(h.hi >> (64 - m->radix_bits));
        lo = m->radix[b];
        if (b + 1 < ((size_t)1 << m->radix_bits) && m->radix[b + 1] < m->n)
            hi = m->radix[b + 1] + 1;
    }
    /* First shard whose end >= h. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp_u128_cmp(m->shards[mid].end, h) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == m->n || sp_u128_cmp(m->shards[lo].start, h) > 0)
        return -1;      /* a gap in the ranges, e.g. during resharding */
    return (long)lo;
}

long sp_shardmap_find(const sp_shardmap *m, const char *shard_id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->shards[i].id, shard_id) == 0)
            return (long)i;
    return -1;
}

static int cmp_id(const void *pa, const void *pb, void *arg)
{
    const sp_shard *s = arg;
    return strcmp(s[*(const size_t *)pa].id, s[*(const size_t *)pb].id);
}

int sp_shardmap_match(const sp_shardmap *before, const sp_shardmap *now, long *old, sp_err *err)
{
    for (size_t i = 0; i < now->n; i++)
        old[i] = -1;
    if (before->n == 0 || now->n == 0)
        return SP_OK;
    /* The old shards' indices sorted by id, then a binary search per new one. */
    size_t *by_id = malloc(before->n * sizeof *by_id);
    if (by_id == NULL)
        return sp_err_set(err, "out of memory matching %zu shards", before->n);
    for (size_t i = 0; i < before->n; i++)
        by_id[i] = i;
    qsort_r(by_id, before->n, sizeof *by_id, cmp_id, before->shards);
    for (size_t i = 0; i < now->n; i++) {
        size_t lo = 0, hi = before->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(before->shards[by_id[mid]].id, now->shards[i].id);
            if (c == 0) {
                old[i] = (long)by_id[mid];
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    free(by_id);
    return SP_OK;
}

void sp_shardmap_free(sp_shardmap *m)
{
    if (m->shards != NULL)
        sp_shards_free(m->shards, m->n);
    free(m->radix);
    memset(m, 0, sizeof *m);
}
