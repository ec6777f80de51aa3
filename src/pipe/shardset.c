/* Index sets for the producer's scheduling (see shardset.h). */
#include <stdlib.h>
#include <string.h>

#include "shardpipe/shardset.h"

int sp_bitset_init(sp_bitset *b, size_t n, sp_err *err)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    b->nw = (n + 63) / 64;
    b->nsum = (b->nw + 63) / 64;
    b->w = calloc(b->nw ? b->nw : 1, sizeof *b->w);
    b->sum = calloc(b->nsum ? b->nsum : 1, sizeof *b->sum);
    if (b->w == NULL || b->sum == NULL) {
        sp_bitset_free(b);
        return sp_err_set(err, "out of memory for a set of %zu shards", n);
    }
    return SP_OK;
}

void sp_bitset_free(sp_bitset *b)
{
    free(b->w);
    free(b->sum);
    memset(b, 0, sizeof *b);
}

void sp_bitset_add(sp_bitset *b, size_t i)
{
    b->w[i / 64] |= (uint64_t)1 << (i % 64);
    b->sum[i / 4096] |= (uint64_t)1 << (i / 64 % 64);
}

void sp_bitset_del(sp_bitset *b, size_t i)
{
    size_t wi = i / 64;
    b->w[wi] &= ~((uint64_t)1 << (i % 64));
    if (b->w[wi] == 0)
        b->sum[wi / 64] &= ~((uint64_t)1 << (wi % 64));
}

int sp_bitset_has(const sp_bitset *b, size_t i)
{
    return (b->w[i / 64] >> (i % 64)) & 1;
}

size_t sp_bitset_next(const sp_bitset *b, size_t from)
{
    if (from >= b->n)
        return SP_SET_NONE;
    size_t wi = from / 64;
    uint64_t w = b->w[wi] & (~(uint64_t)0 << (from % 64));
    if (w)
        return wi * 64 + (size_t)__builtin_ctzll(w);
    /* The summary finds the next word that is not zero: 64 words a step. */
    size_t next = wi + 1;
    for (size_t si = next / 64; si < b->nsum && next < b->nw; si++, next = si * 64) {
        uint64_t s = b->sum[si] & (next % 64 ? ~(uint64_t)0 << (next % 64) : ~(uint64_t)0);
        if (s) {
            size_t wj = si * 64 + (size_t)__builtin_ctzll(s);
            return wj * 64 + (size_t)__builtin_ctzll(b->w[wj]);
        }
    }
    return SP_SET_NONE;
}

/* ---- the index heap ---- */

int sp_idxheap_init(sp_idxheap *h, size_t cap, sp_err *err)
{
    memset(h, 0, sizeof *h);
    size_t c = cap ? cap : 1;
    h->heap = malloc(c * sizeof *h->heap);
    h->pos = malloc(c * sizeof *h->pos);
    h->key = malloc(c * sizeof *h->key);
    if (h->heap == NULL || h->pos == NULL || h->key == NULL) {
        sp_idxheap_free(h);
        return sp_err_set(err, "out of memory for a heap of %zu shards", cap);
    }
    for (size_t i = 0; i < c; i++)
        h->pos[i] = SP_SET_NONE;
    h->cap = cap;
    return SP_OK;
}

void sp_idxheap_free(sp_idxheap *h)
{
    free(h->heap);
    free(h->pos);
    free(h->key);
    memset(h, 0, sizeof *h);
}

static int less(const sp_idxheap *h, size_t a, size_t b)
{
    return h->key[a] < h->key[b] || (h->key[a] == h->key[b] && a < b);
}

static void place(sp_idxheap *h, size_t at, size_t i)
{
    h->heap[at] = i;
    h->pos[i] = at;
}

static void up(sp_idxheap *h, size_t at)
{
    size_t i = h->heap[at];
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (!less(h, i, h->heap[parent]))
            break;
        place(h, at, h->heap[parent]);
        at = parent;
    }
    place(h, at, i);
}

static void down(sp_idxheap *h, size_t at)
{
    size_t i = h->heap[at];
    for (;;) {
        size_t c = 2 * at + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && less(h, h->heap[c + 1], h->heap[c]))
            c++;
        if (!less(h, h->heap[c], i))
            break;
        place(h, at, h->heap[c]);
        at = c;
    }
    place(h, at, i);
}

void sp_idxheap_set(sp_idxheap *h, size_t i, uint64_t key)
{
    size_t at = h->pos[i];
    if (at == SP_SET_NONE) {
        h->key[i] = key;
        place(h, h->n++, i);
        up(h, h->n - 1);
        return;
    }
    uint64_t old = h->key[i];
    h->key[i] = key;
    if (key < old)
        up(h, at);
    else if (key > old)
        down(h, at);
}

void sp_idxheap_del(sp_idxheap *h, size_t i)
{
    size_t at = h->pos[i];
    if (at == SP_SET_NONE)
        return;
    h->pos[i] = SP_SET_NONE;
    if (--h->n == at)
        return;
    size_t last = h->heap[h->n];
    place(h, at, last);
    down(h, at);
    up(h, h->pos[last]);
}

int sp_idxheap_has(const sp_idxheap *h, size_t i)
{
    return h->pos[i] != SP_SET_NONE;
}

size_t sp_idxheap_top(const sp_idxheap *h)
{
    return h->n ? h->heap[0] : SP_SET_NONE;
}

uint64_t sp_idxheap_top_key(const sp_idxheap *h)
{
    return h->n ? h->key[h->heap[0]] : UINT64_MAX;
}

/* ---- the producer's schedule ---- */

int sp_sched_init(sp_sched *s, size_t n, sp_err *err)
{
    memset(s, 0, sizeof *s);
    if (sp_bitset_init(&s->ready, n, err) != SP_OK || sp_idxheap_init(&s->due, n, err) != SP_OK ||
        sp_idxheap_init(&s->park, n, err) != SP_OK || sp_idxheap_init(&s->load, n, err) != SP_OK) {
        sp_sched_free(s);
        return SP_ERR;
    }
    return SP_OK;
}

void sp_sched_free(sp_sched *s)
{
    sp_bitset_free(&s->ready);
    sp_idxheap_free(&s->due);
    sp_idxheap_free(&s->park);
    sp_idxheap_free(&s->load);
}

void sp_sched_ready(sp_sched *s, size_t i, uint64_t due)
{
    sp_idxheap_del(&s->park, i);
    sp_bitset_add(&s->ready, i);
    sp_idxheap_set(&s->due, i, due);
}

void sp_sched_park(sp_sched *s, size_t i, uint64_t until)
{
    sp_bitset_del(&s->ready, i);
    sp_idxheap_del(&s->due, i);
    sp_idxheap_set(&s->park, i, until);
}

void sp_sched_idle(sp_sched *s, size_t i)
{
    sp_bitset_del(&s->ready, i);
    sp_idxheap_del(&s->due, i);
    sp_idxheap_del(&s->park, i);
}

size_t sp_sched_unpark(sp_sched *s, uint64_t now)
{
    if (sp_idxheap_top_key(&s->park) > now)
        return SP_SET_NONE;
    size_t i = sp_idxheap_top(&s->park);
    sp_idxheap_del(&s->park, i);
    return i;
}

uint64_t sp_sched_due(const sp_sched *s)
{
    return sp_idxheap_top_key(&s->due);
}

uint64_t sp_sched_wake(const sp_sched *s, uint64_t now, int eager)
{
    uint64_t when = sp_idxheap_top_key(&s->due);
    if (when != UINT64_MAX && eager)
        when = now;
    uint64_t parked = sp_idxheap_top_key(&s->park);
    return parked < when ? parked : when;
}

size_t sp_sched_next(const sp_sched *s, size_t start, size_t *pos, int *wrapped)
{
    size_t i;
    if (*pos == SP_SET_NONE) {
        *wrapped = 0;
        i = sp_bitset_next(&s->ready, start);
    } else {
        i = sp_bitset_next(&s->ready, *pos + 1);
    }
    if (i == SP_SET_NONE && !*wrapped) {
        *wrapped = 1;
        i = sp_bitset_next(&s->ready, 0);
    }
    if (i != SP_SET_NONE && *wrapped && i >= start)
        i = SP_SET_NONE;
    *pos = i;
    return i;
}

/* The bits of a non-negative double order as the double does. */
void sp_sched_load(sp_sched *s, size_t i, double t)
{
    uint64_t key;
    memcpy(&key, &t, sizeof key);
    sp_idxheap_set(&s->load, i, key);
}

size_t sp_sched_least(const sp_sched *s)
{
    return sp_idxheap_top(&s->load);
}

/* ---- the key set of ordered mode ---- */

int sp_keyset_init(sp_keyset *k, sp_err *err)
{
    k->e = calloc(SP_KEYSET_SLOTS, sizeof *k->e);
    return k->e ? SP_OK : sp_err_set(err, "out of memory");
}

void sp_keyset_free(sp_keyset *k)
{
    free(k->e);
    k->e = NULL;
}

void sp_keyset_clear(sp_keyset *k)
{
    memset(k->e, 0, SP_KEYSET_SLOTS * sizeof *k->e);
}

int sp_keyset_seen(sp_keyset *k, sp_u128 h)
{
    size_t i = (size_t)(h.lo ^ h.hi) & (SP_KEYSET_SLOTS - 1);
    for (;;) {
        sp_u128 *e = &k->e[i];
        if (e->hi == 0 && e->lo == 0) {
            *e = h;
            if (e->hi == 0 && e->lo == 0)
                e->lo = 1; /* hash 0 is stored as 1: a rare false "seen" is only conservative */
            return 0;
        }
        if ((e->hi == h.hi && e->lo == h.lo) || (h.hi == 0 && h.lo == 0 && e->hi == 0 && e->lo == 1))
            return 1;
        i = (i + 1) & (SP_KEYSET_SLOTS - 1);
    }
}
