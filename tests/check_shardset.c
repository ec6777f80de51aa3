/* The scheduling sets against plain models: a bit set against a bool
 * array, the index heap against a linear scan for the least (key, index),
 * the schedule's round robin and wake time, the ordered-mode key set. */
#include <string.h>

#include "check_util.h"
#include "shardpipe/rng.h"
#include "shardpipe/shardset.h"

/* Sizes around the word and summary boundaries. */
static const size_t sizes[] = {1, 63, 64, 65, 4095, 4096, 4097, 70000};

START_TEST(bitset_next_matches_a_scan)
{
    size_t n = sizes[_i];
    sp_bitset b;
    sp_err err;
    ck_assert_int_eq(sp_bitset_init(&b, n, &err), SP_OK);
    unsigned char *model = calloc(n, 1);
    ck_assert_ptr_nonnull(model);
    sp_rng rng;
    sp_rng_seed_with(&rng, 7 + n);
    for (int round = 0; round < 2000; round++) {
        size_t i = (size_t)sp_rng_below(&rng, n);
        if (sp_rng_below(&rng, 3) == 0) {
            sp_bitset_del(&b, i);
            model[i] = 0;
        } else {
            sp_bitset_add(&b, i);
            model[i] = 1;
        }
        /* Sparse phases too: every 500 rounds clear most of it. */
        if (round % 500 == 499)
            for (size_t k = 0; k < n; k++)
                if (model[k] && sp_rng_below(&rng, 10) != 0) {
                    sp_bitset_del(&b, k);
                    model[k] = 0;
                }
        size_t from = (size_t)sp_rng_below(&rng, n + 1);
        size_t want = SP_SET_NONE;
        for (size_t k = from; k < n; k++)
            if (model[k]) {
                want = k;
                break;
            }
        ck_assert_uint_eq(sp_bitset_next(&b, from), want);
        ck_assert_int_eq(sp_bitset_has(&b, i), model[i]);
    }
    free(model);
    sp_bitset_free(&b);
}
END_TEST

START_TEST(idxheap_top_is_the_least_key_then_index)
{
    size_t n = 300;
    sp_idxheap h;
    sp_err err;
    ck_assert_int_eq(sp_idxheap_init(&h, n, &err), SP_OK);
    uint64_t key[300];
    int in[300] = {0};
    sp_rng rng;
    sp_rng_seed_with(&rng, 99);
    ck_assert_uint_eq(sp_idxheap_top(&h), SP_SET_NONE);
    ck_assert_uint_eq(sp_idxheap_top_key(&h), UINT64_MAX);
    for (int round = 0; round < 20000; round++) {
        size_t i = (size_t)sp_rng_below(&rng, n);
        if (sp_rng_below(&rng, 4) == 0) {
            sp_idxheap_del(&h, i);
            in[i] = 0;
        } else {
            key[i] = sp_rng_below(&rng, 50); /* many ties */
            sp_idxheap_set(&h, i, key[i]);
            in[i] = 1;
        }
        size_t best = SP_SET_NONE;
        for (size_t k = 0; k < n; k++)
            if (in[k] && (best == SP_SET_NONE || key[k] < key[best]))
                best = k;
        ck_assert_uint_eq(sp_idxheap_top(&h), best);
        ck_assert_uint_eq(sp_idxheap_top_key(&h), best == SP_SET_NONE ? UINT64_MAX : key[best]);
        ck_assert_int_eq(sp_idxheap_has(&h, i), in[i]);
    }
    sp_idxheap_free(&h);
}
END_TEST

/* One round of sp_sched_next from start: the ready indices in order. */
static size_t round_from(const sp_sched *s, size_t start, size_t *out, size_t max)
{
    size_t pos = SP_SET_NONE, n = 0;
    int wrapped;
    while (sp_sched_next(s, start, &pos, &wrapped) != SP_SET_NONE && n < max)
        out[n++] = pos;
    return n;
}

START_TEST(sched_round_robin_ready_only_once_around)
{
    sp_sched s;
    sp_err err;
    ck_assert_int_eq(sp_sched_init(&s, 10, &err), SP_OK);
    sp_sched_ready(&s, 1, 500);
    sp_sched_ready(&s, 4, 300);
    sp_sched_ready(&s, 7, 400);
    sp_sched_park(&s, 8, 250);    /* parked: not in the round */
    sp_sched_ready(&s, 9, 600);
    sp_sched_idle(&s, 9);         /* idle again */
    size_t got[16];
    size_t n = round_from(&s, 5, got, 16);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(got[0], 7);
    ck_assert_uint_eq(got[1], 1);
    ck_assert_uint_eq(got[2], 4);
    n = round_from(&s, 0, got, 16);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(got[0], 1);
    ck_assert_uint_eq(got[2], 7);
    /* Removing the current one while going round does not lose the rest. */
    size_t pos = SP_SET_NONE;
    int wrapped;
    ck_assert_uint_eq(sp_sched_next(&s, 4, &pos, &wrapped), 4);
    sp_sched_idle(&s, 4);
    ck_assert_uint_eq(sp_sched_next(&s, 4, &pos, &wrapped), 7);
    ck_assert_uint_eq(sp_sched_next(&s, 4, &pos, &wrapped), 1);
    ck_assert_uint_eq(sp_sched_next(&s, 4, &pos, &wrapped), SP_SET_NONE);
    /* Due and wake: the earliest ready due, the earliest park; eager: now. */
    ck_assert_uint_eq(sp_sched_due(&s), 400);
    ck_assert_uint_eq(sp_sched_wake(&s, 100, 0), 250);
    ck_assert_uint_eq(sp_sched_wake(&s, 100, 1), 100);
    ck_assert_uint_eq(sp_sched_unpark(&s, 249), SP_SET_NONE);
    ck_assert_uint_eq(sp_sched_unpark(&s, 250), 8);
    ck_assert_uint_eq(sp_sched_unpark(&s, 250), SP_SET_NONE);
    ck_assert_uint_eq(sp_sched_wake(&s, 100, 0), 400);
    sp_sched_idle(&s, 1);
    sp_sched_idle(&s, 7);
    ck_assert_uint_eq(sp_sched_wake(&s, 100, 1), UINT64_MAX); /* nothing waits */
    /* Loads: the least, ties to the lowest index. */
    sp_sched_load(&s, 3, 2.5);
    sp_sched_load(&s, 6, 0.25);
    sp_sched_load(&s, 2, 0.25);
    ck_assert_uint_eq(sp_sched_least(&s), 2);
    sp_sched_load(&s, 2, 3.0);
    ck_assert_uint_eq(sp_sched_least(&s), 6);
    sp_sched_load(&s, 6, 1e-9);
    sp_sched_load(&s, 3, 0.0);
    ck_assert_uint_eq(sp_sched_least(&s), 3);
    sp_sched_free(&s);
}
END_TEST

START_TEST(keyset_sees_each_hash_once_per_batch)
{
    sp_keyset k;
    sp_err err;
    ck_assert_int_eq(sp_keyset_init(&k, &err), SP_OK);
    sp_rng rng;
    sp_rng_seed_with(&rng, 5);
    sp_u128 h[500];
    for (size_t i = 0; i < 500; i++) {
        h[i].hi = sp_rng_next(&rng);
        h[i].lo = i < 10 ? 0 : sp_rng_next(&rng); /* some share the low half */
        if (i < 10)
            h[i].hi = i;                            /* and collide in the slot */
        ck_assert_int_eq(sp_keyset_seen(&k, h[i]), 0);
    }
    for (size_t i = 0; i < 500; i++)
        ck_assert_int_eq(sp_keyset_seen(&k, h[i]), 1);
    sp_keyset_clear(&k);
    ck_assert_int_eq(sp_keyset_seen(&k, h[3]), 0);
    ck_assert_int_eq(sp_keyset_seen(&k, h[3]), 1);
    sp_keyset_free(&k);
}
END_TEST

static Suite *shardset_suite(void)
{
    Suite *s = suite_create("shardset");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, bitset_next_matches_a_scan, 0, (int)(sizeof sizes / sizeof sizes[0]));
    tcase_add_test(tc, idxheap_top_is_the_least_key_then_index);
    tcase_add_test(tc, sched_round_robin_ready_only_once_around);
    tcase_add_test(tc, keyset_sees_each_hash_once_per_batch);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(shardset_suite)
