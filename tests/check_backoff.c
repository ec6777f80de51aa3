/* rng and backoff: determinism, range and rough uniformity of draws,
 * backoff ceilings without overflow, jitter spread. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/backoff.h"
#include "shardpipe/rng.h"

START_TEST(test_rng_deterministic)
{
    sp_rng a, b, c;
    sp_rng_seed_with(&a, 42);
    sp_rng_seed_with(&b, 42);
    sp_rng_seed_with(&c, 43);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sp_rng_next(&a);
        ck_assert_uint_eq(x, sp_rng_next(&b));
        same_c += x == sp_rng_next(&c);
    }
    ck_assert_int_lt(same_c, 2);
}
END_TEST

START_TEST(test_rng_seed_zero)
{
    /* Seed 0 must not leave xorshift in its all-zero fixed point. */
    sp_rng r;
    sp_rng_seed_with(&r, 0);
    ck_assert_uint_ne(r.s, 0);
    uint64_t first = sp_rng_next(&r);
    int distinct = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = sp_rng_next(&r);
        ck_assert_uint_ne(r.s, 0);
        distinct += x != first;
    }
    ck_assert_int_ge(distinct, 99);
}
END_TEST

START_TEST(test_rng_seed_getrandom)
{
    sp_rng a, b;
    sp_err err = {0};
    ck_assert_int_eq(sp_rng_seed(&a, &err), SP_OK);
    ck_assert_int_eq(sp_rng_seed(&b, &err), SP_OK);
    ck_assert_uint_ne(a.s, 0);
    ck_assert_uint_ne(b.s, 0);
    ck_assert_uint_ne(a.s, b.s);     /* fails with probability 2^-64 */
    ck_assert_int_eq(sp_rng_seed(&a, NULL), SP_OK);
}
END_TEST

START_TEST(test_rng_bits_vary)
{
    /* Each output bit is set in about half of the draws. */
    sp_rng r;
    sp_rng_seed_with(&r, 1);
    int ones[64] = {0};
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        uint64_t x = sp_rng_next(&r);
        for (int b = 0; b < 64; b++)
            ones[b] += (int)((x >> b) & 1);
    }
    for (int b = 0; b < 64; b++) {
        ck_assert_int_gt(ones[b], n / 2 - 600);
        ck_assert_int_lt(ones[b], n / 2 + 600);
    }
}
END_TEST

START_TEST(test_rng_below_edges)
{
    sp_rng r;
    sp_rng_seed_with(&r, 5);
    ck_assert_uint_eq(sp_rng_below(&r, 0), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(sp_rng_below(&r, 1), 0);
    static const uint64_t bounds[] = {
        2, 3, 7, 10, 1000, 1ull << 32, (1ull << 63) + 1, UINT64_MAX - 1, UINT64_MAX,
    };
    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++)
        for (int i = 0; i < 10000; i++)
            ck_assert_uint_lt(sp_rng_below(&r, bounds[k]), bounds[k]);
}
END_TEST

START_TEST(test_rng_below_uniform_small)
{
    sp_rng r;
    sp_rng_seed_with(&r, 6);
    int count[6] = {0};
    const int n = 60000;
    for (int i = 0; i < n; i++)
        count[sp_rng_below(&r, 6)]++;
    for (int v = 0; v < 6; v++) {
        ck_assert_int_gt(count[v], n / 6 - 500);
        ck_assert_int_lt(count[v], n / 6 + 500);
    }
}
END_TEST

/* With bound ~ 2/3 * 2^64, a plain modulo makes the lower half of the
 * range come up 2/3 of the time; rejection brings it back to 1/2. */
START_TEST(test_rng_below_unbiased)
{
    sp_rng r;
    sp_rng_seed_with(&r, 7);
    const uint64_t bound = 0xaaaaaaaaaaaaaaabull;
    const int n = 40000;
    int low = 0;
    for (int i = 0; i < n; i++)
        low += sp_rng_below(&r, bound) < bound / 2;
    ck_assert_int_gt(low, n / 2 - 800);
    ck_assert_int_lt(low, n / 2 + 800);
}
END_TEST

START_TEST(test_ceiling_defaults)
{
    sp_backoff b = {SP_BACKOFF_BASE_MS, SP_BACKOFF_CAP_MS};
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 0), 100);   /* 0 is treated as 1 */
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 1), 100);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 2), 200);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 3), 400);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 4), 800);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 5), 1600);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 6), 3200);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 7), 5000);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 8), 5000);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 31), 5000);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 32), 5000);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 33), 5000);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 64), 5000);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 65), 5000);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, 1000), 5000);
    ck_assert_uint_eq(sp_backoff_ceiling(&b, UINT_MAX), 5000);
}
END_TEST

START_TEST(test_ceiling_extremes)
{
    sp_backoff big = {UINT32_MAX, UINT32_MAX};
    ck_assert_uint_eq(sp_backoff_ceiling(&big, 1), UINT32_MAX);
    ck_assert_uint_eq(sp_backoff_ceiling(&big, 2), UINT32_MAX);
    ck_assert_uint_eq(sp_backoff_ceiling(&big, 32), UINT32_MAX);
    ck_assert_uint_eq(sp_backoff_ceiling(&big, UINT_MAX), UINT32_MAX);

    /* base 1, cap 2^32-1: exact powers of two until the cap. */
    sp_backoff one = {1, UINT32_MAX};
    for (unsigned a = 1; a <= 32; a++)
        ck_assert_uint_eq(sp_backoff_ceiling(&one, a), (uint32_t)1 << (a - 1));
    ck_assert_uint_eq(sp_backoff_ceiling(&one, 33), UINT32_MAX);
    ck_assert_uint_eq(sp_backoff_ceiling(&one, 64), UINT32_MAX);
    ck_assert_uint_eq(sp_backoff_ceiling(&one, 65), UINT32_MAX);
    ck_assert_uint_eq(sp_backoff_ceiling(&one, 129), UINT32_MAX);
    ck_assert_uint_eq(sp_backoff_ceiling(&one, UINT_MAX), UINT32_MAX);

    /* base near 2^32 with an in-between cap: the first doubling passes it. */
    sp_backoff near = {3000000000u, 4000000000u};
    ck_assert_uint_eq(sp_backoff_ceiling(&near, 1), 3000000000u);
    ck_assert_uint_eq(sp_backoff_ceiling(&near, 2), 4000000000u);

    sp_backoff zero_base = {0, 5000};
    ck_assert_uint_eq(sp_backoff_ceiling(&zero_base, 1), 0);
    ck_assert_uint_eq(sp_backoff_ceiling(&zero_base, UINT_MAX), 0);
    sp_backoff zero_cap = {100, 0};
    ck_assert_uint_eq(sp_backoff_ceiling(&zero_cap, 1), 0);
    ck_assert_uint_eq(sp_backoff_ceiling(&zero_cap, 40), 0);
    sp_backoff cap_below_base = {300, 200};
    ck_assert_uint_eq(sp_backoff_ceiling(&cap_below_base, 1), 200);
    ck_assert_uint_eq(sp_backoff_ceiling(&cap_below_base, 9), 200);
}
END_TEST

START_TEST(test_ceiling_monotonic)
{
    static const sp_backoff cfg[] = {
        {100, 5000}, {1, UINT32_MAX}, {7, 1000000}, {UINT32_MAX / 3, UINT32_MAX}, {250, 250},
    };
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        uint32_t prev = 0;
        for (unsigned a = 1; a < 300; a++) {
            uint32_t c = sp_backoff_ceiling(&cfg[k], a);
            ck_assert_uint_ge(c, prev);
            ck_assert_uint_le(c, cfg[k].cap_ms);
            prev = c;
        }
        ck_assert_uint_eq(prev, cfg[k].cap_ms);
    }
}
END_TEST

START_TEST(test_delay_range_and_spread)
{
    sp_backoff b = {SP_BACKOFF_BASE_MS, SP_BACKOFF_CAP_MS};
    sp_rng r;
    sp_rng_seed_with(&r, 11);
    static const unsigned attempts[] = {0, 1, 2, 5, 7, 50, UINT_MAX};
    for (size_t k = 0; k < sizeof attempts / sizeof attempts[0]; k++) {
        uint32_t ceil = sp_backoff_ceiling(&b, attempts[k]);
        uint32_t lo = UINT32_MAX, hi = 0;
        uint64_t sum = 0;
        const int n = 5000;
        for (int i = 0; i < n; i++) {
            uint32_t d = sp_backoff_delay(&b, attempts[k], &r);
            ck_assert_uint_le(d, ceil);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += d;
        }
        ck_assert_uint_ne(lo, hi);             /* not all equal */
        ck_assert_uint_lt(lo, ceil / 10);      /* reaches near 0 */
        ck_assert_uint_gt(hi, ceil - ceil / 10);
        uint64_t mean = sum / n;               /* about ceil / 2 */
        ck_assert_uint_gt(mean, ceil * 45 / 100);
        ck_assert_uint_lt(mean, ceil * 55 / 100);
    }
}
END_TEST

START_TEST(test_delay_inclusive_and_extremes)
{
    sp_rng r;
    sp_rng_seed_with(&r, 12);

    /* The window is closed: with ceiling 1 both 0 and 1 occur. */
    sp_backoff one = {1, 1};
    int seen[2] = {0, 0};
    for (int i = 0; i < 1000; i++) {
        uint32_t d = sp_backoff_delay(&one, 3, &r);
        ck_assert_uint_le(d, 1);
        seen[d]++;
    }
    ck_assert_int_gt(seen[0], 400);
    ck_assert_int_gt(seen[1], 400);

    sp_backoff zero = {0, 0};
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(sp_backoff_delay(&zero, (unsigned)i, &r), 0);

    /* A ceiling of 2^32-1 must not wrap to a window of size 0. */
    sp_backoff big = {UINT32_MAX, UINT32_MAX};
    uint32_t first = sp_backoff_delay(&big, UINT_MAX, &r);
    int differ = 0;
    for (int i = 0; i < 100; i++)
        differ += sp_backoff_delay(&big, UINT_MAX, &r) != first;
    ck_assert_int_gt(differ, 95);
}
END_TEST

START_TEST(test_delay_deterministic_with_seed)
{
    sp_backoff b = {SP_BACKOFF_BASE_MS, SP_BACKOFF_CAP_MS};
    sp_rng r1, r2;
    sp_rng_seed_with(&r1, 77);
    sp_rng_seed_with(&r2, 77);
    for (unsigned a = 1; a < 100; a++)
        ck_assert_uint_eq(sp_backoff_delay(&b, a, &r1), sp_backoff_delay(&b, a, &r2));
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *rng = tcase_create("rng");
    tcase_add_test(rng, test_rng_deterministic);
    tcase_add_test(rng, test_rng_seed_zero);
    tcase_add_test(rng, test_rng_seed_getrandom);
    tcase_add_test(rng, test_rng_bits_vary);
    tcase_add_test(rng, test_rng_below_edges);
    tcase_add_test(rng, test_rng_below_uniform_small);
    tcase_add_test(rng, test_rng_below_unbiased);
    suite_add_tcase(s, rng);

    TCase *bo = tcase_create("backoff");
    tcase_add_test(bo, test_ceiling_defaults);
    tcase_add_test(bo, test_ceiling_extremes);
    tcase_add_test(bo, test_ceiling_monotonic);
    tcase_add_test(bo, test_delay_range_and_spread);
    tcase_add_test(bo, test_delay_inclusive_and_extremes);
    tcase_add_test(bo, test_delay_deterministic_with_seed);
    suite_add_tcase(s, bo);
    return s;
}

SP_CHECK_MAIN(backoff_suite)
