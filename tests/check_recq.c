/* Record queues and the record slabs: FIFO order and counts, prepend in
 * order; slab memory that keeps what was written, reuses freed slots at
 * once (so records leaving in any order do not pin memory) and goes back
 * to the kernel when it is empty. */
#include <string.h>

#include "check_util.h"
#include "shardpipe/recq.h"
#include "shardpipe/rng.h"

static sp_record *rec(sp_record *store, size_t i, uint16_t pk, uint32_t len)
{
    sp_record *r = &store[i];
    memset(r, 0, sizeof *r);
    r->tag = i;
    r->pk_len = pk;
    r->len = len;
    return r;
}

START_TEST(queue_is_fifo_and_prepend_keeps_both_orders)
{
    sp_record store[8];
    sp_recq q = {0}, front = {0};
    for (size_t i = 0; i < 4; i++)
        sp_recq_push(&q, rec(store, i, 2, 10));
    ck_assert_uint_eq(q.count, 4);
    ck_assert_uint_eq(q.bytes, 4 * 12);
    ck_assert_uint_eq(sp_record_bytes(&store[0]), 12);
    ck_assert_uint_eq(sp_record_mem(&store[0]), sizeof(sp_record) + 12);
    ck_assert_uint_eq(sp_recq_pop(&q)->tag, 0);
    sp_recq_push(&front, rec(store, 5, 1, 1));
    sp_recq_push(&front, rec(store, 6, 1, 1));
    sp_recq_prepend(&q, &front);
    ck_assert_ptr_null(front.head);
    ck_assert_uint_eq(front.count, 0);
    const uint64_t want[] = {5, 6, 1, 2, 3};
    ck_assert_uint_eq(q.count, 5);
    ck_assert_uint_eq(q.bytes, 3 * 12 + 2 * 2);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(sp_recq_pop(&q)->tag, want[i]);
    ck_assert_ptr_null(sp_recq_pop(&q));
    ck_assert_uint_eq(q.count, 0);
    ck_assert_uint_eq(q.bytes, 0);
    /* Prepending to an empty queue sets its tail too. */
    sp_recq_push(&front, rec(store, 7, 1, 1));
    sp_recq_prepend(&q, &front);
    sp_recq_push(&q, rec(store, 4, 1, 1));
    ck_assert_uint_eq(sp_recq_pop(&q)->tag, 7);
    ck_assert_uint_eq(sp_recq_pop(&q)->tag, 4);
}
END_TEST

#define N 20000

struct live {
    unsigned char *p;
    size_t size;
    unsigned char fill;
};

static void check_fill(const struct live *l)
{
    size_t k = 0;
    while (k < l->size && l->p[k] == l->fill)
        k++;
    ck_assert_msg(k == l->size, "byte %zu of a %zu-byte allocation changed", k, l->size);
}

START_TEST(slab_keeps_contents_and_returns_every_chunk)
{
    static struct live live[N];
    size_t nlive = 0;
    sp_recslab s;
    sp_recslab_init(&s);
    sp_rng rng;
    sp_rng_seed_with(&rng, 11);
    for (int round = 0; round < 4 * N; round++) {
        if (nlive < N && (nlive == 0 || sp_rng_below(&rng, 3) != 0)) {
            /* Mostly record-sized, some up to and past the slab limit. */
            size_t size = sp_rng_below(&rng, 10) == 0 ? 1 + (size_t)sp_rng_below(&rng, 2 * SP_RECSLAB_MAX)
                                                     : 100 + (size_t)sp_rng_below(&rng, 400);
            struct live *l = &live[nlive++];
            l->p = sp_recslab_alloc(&s, size);
            ck_assert_ptr_nonnull(l->p);
            ck_assert_uint_eq((uintptr_t)l->p % 16, 0);
            l->size = size;
            l->fill = (unsigned char)round;
            memset(l->p, l->fill, size);
        } else {
            size_t i = (size_t)sp_rng_below(&rng, nlive);
            check_fill(&live[i]);
            sp_recslab_free(&s, live[i].p, live[i].size);
            live[i] = live[--nlive];
        }
    }
    while (nlive > 0) {
        check_fill(&live[nlive - 1]);
        sp_recslab_free(&s, live[nlive - 1].p, live[nlive - 1].size);
        nlive--;
    }
    /* Empty: only the spares are still mapped, and release unmaps them. */
    ck_assert_uint_le(s.chunks, SP_RECSLAB_SPARE);
    sp_recslab_release(&s);
    ck_assert_uint_eq(s.chunks, 0);
}
END_TEST

START_TEST(slab_reuses_freed_slots_whatever_the_order)
{
    enum { M = 10000, SIZE = 312 };
    static void *p[M];
    sp_recslab s;
    sp_recslab_init(&s);
    for (size_t i = 0; i < M; i++)
        ck_assert_ptr_nonnull(p[i] = sp_recslab_alloc(&s, SIZE));
    size_t full = s.chunks;
    /* Records of 320-byte slots: about 200 per 64 KiB chunk. */
    ck_assert_uint_le(full, M / ((SP_RECSLAB_CHUNK - 64) / 320) + 1);
    /* Every other one leaves (as records leave shard by shard): no chunk
     * empties, and the next records fill the holes, mapping nothing. */
    for (size_t i = 0; i < M; i += 2)
        sp_recslab_free(&s, p[i], SIZE);
    ck_assert_uint_eq(s.chunks, full);
    for (size_t i = 0; i < M; i += 2)
        ck_assert_ptr_nonnull(p[i] = sp_recslab_alloc(&s, SIZE));
    ck_assert_uint_eq(s.chunks, full);
    /* A freed slot is the next one handed out. */
    void *q = p[17];
    sp_recslab_free(&s, q, SIZE);
    ck_assert_ptr_eq(sp_recslab_alloc(&s, SIZE - 10), q);
    for (size_t i = 0; i < M; i++)
        sp_recslab_free(&s, p[i], SIZE);
    ck_assert_uint_le(s.chunks, SP_RECSLAB_SPARE);
    sp_recslab_release(&s);
    ck_assert_uint_eq(s.chunks, 0);
}
END_TEST

static Suite *recq_suite(void)
{
    Suite *s = suite_create("recq");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, queue_is_fifo_and_prepend_keeps_both_orders);
    tcase_add_test(tc, slab_keeps_contents_and_returns_every_chunk);
    tcase_add_test(tc, slab_reuses_freed_slots_whatever_the_order);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(recq_suite)
