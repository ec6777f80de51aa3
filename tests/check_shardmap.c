/* shardmap: u128 parse/format/compare, the MD5 hash key against the
 * verified vectors of KINESIS.md §3.3, and the open-shard map. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/rng.h"
#include "shardpipe/shardmap.h"

#define U128_MAX_DEC "340282366920938463463374607431768211455"

static sp_u128 u(const char *s)
{
    sp_u128 v;
    ck_assert_msg(sp_u128_parse(s, strlen(s), &v) == 0, "parse %s", s);
    return v;
}

static int parses(const char *s)
{
    sp_u128 v;
    return sp_u128_parse(s, strlen(s), &v) == 0;
}

static sp_u128 mk(uint64_t hi, uint64_t lo)
{
    sp_u128 v = {hi, lo};
    return v;
}

static void assert_fmt(sp_u128 v, const char *want)
{
    char buf[SP_U128_DEC_MAX];
    size_t n = sp_u128_format(v, buf);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(n, strlen(want));
}

START_TEST(test_parse_boundaries)
{
    sp_u128 v;
    v = u("0");
    ck_assert(v.hi == 0 && v.lo == 0);
    v = u("1");
    ck_assert(v.hi == 0 && v.lo == 1);
    v = u("18446744073709551615");              /* 2^64-1 */
    ck_assert(v.hi == 0 && v.lo == UINT64_MAX);
    v = u("18446744073709551616");              /* 2^64 */
    ck_assert(v.hi == 1 && v.lo == 0);
    v = u(U128_MAX_DEC);                        /* 2^128-1, 39 digits */
    ck_assert(v.hi == UINT64_MAX && v.lo == UINT64_MAX);
    v = u("340282366920938463463374607431768211454");
    ck_assert(v.hi == UINT64_MAX && v.lo == UINT64_MAX - 1);
    v = u("170141183460469231731687303715884105728");   /* 2^127 */
    ck_assert(v.hi == 1ull << 63 && v.lo == 0);
    v = u("100000000000000000000000000000000000000");   /* 10^38, 39 digits */
    ck_assert(sp_u128_cmp(v, mk(0x4b3b4ca85a86c47aull, 0x098a224000000000ull)) == 0);

    ck_assert(!parses("340282366920938463463374607431768211456"));   /* 2^128 */
    ck_assert(!parses("340282366920938463463374607431768211460"));
    ck_assert(!parses("340282366920938463463374607431768212455"));
    ck_assert(!parses("999999999999999999999999999999999999999"));   /* 39 nines */
    ck_assert(!parses("1000000000000000000000000000000000000000"));  /* 40 digits */
    ck_assert(!parses("0340282366920938463463374607431768211455"));  /* 40 with a 0 */
    ck_assert(!parses("00000000000000000000000000000000000000001"));
    ck_assert(!parses("00"));
    ck_assert(!parses("01"));
    ck_assert(!parses("007"));
    ck_assert(!parses(""));
    ck_assert(!parses("+1"));
    ck_assert(!parses("-1"));
    ck_assert(!parses("-0"));
    ck_assert(!parses(" 1"));
    ck_assert(!parses("1 "));
    ck_assert(!parses("1a"));
    ck_assert(!parses("0x10"));
    ck_assert(!parses("1e3"));
    ck_assert(!parses("1.0"));
    ck_assert(!parses("\xd9\xa1"));   /* ARABIC-INDIC DIGIT ONE */

    ck_assert_int_eq(sp_u128_parse(NULL, 0, &v), -1);
    ck_assert_int_eq(sp_u128_parse("1\0", 2, &v), -1);     /* embedded NUL */
    ck_assert_int_eq(sp_u128_parse("123", 2, &v), 0);      /* n bounds the read */
    ck_assert(v.hi == 0 && v.lo == 12);
    ck_assert_int_eq(sp_u128_parse("5", 0, &v), -1);

    /* Rejection leaves *out untouched. */
    v = mk(7, 7);
    ck_assert_int_eq(sp_u128_parse("x", 1, &v), -1);
    ck_assert(v.hi == 7 && v.lo == 7);
}
END_TEST

START_TEST(test_format)
{
    assert_fmt(mk(0, 0), "0");
    assert_fmt(mk(0, 9), "9");
    assert_fmt(mk(0, 10), "10");
    assert_fmt(mk(0, 999999999), "999999999");
    assert_fmt(mk(0, 1000000000), "1000000000");
    assert_fmt(mk(0, 1000000000000000000ull), "1000000000000000000");
    assert_fmt(mk(0, 10000000000000000000ull), "10000000000000000000");
    assert_fmt(mk(0, UINT64_MAX), "18446744073709551615");
    assert_fmt(mk(1, 0), "18446744073709551616");
    assert_fmt(mk(1ull << 63, 0), "170141183460469231731687303715884105728");
    assert_fmt(mk(UINT64_MAX, UINT64_MAX), U128_MAX_DEC);
    assert_fmt(mk(0x4b3b4ca85a86c47aull, 0x098a224000000000ull),
               "100000000000000000000000000000000000000");
}
END_TEST

START_TEST(test_format_parse_roundtrip)
{
    sp_rng r;
    sp_rng_seed_with(&r, 128);
    char buf[SP_U128_DEC_MAX];
    for (int i = 0; i < 20000; i++) {
        /* Vary the magnitude so that short and long numbers both occur. */
        unsigned bits = (unsigned)sp_rng_below(&r, 129);
        sp_u128 v = {sp_rng_next(&r), sp_rng_next(&r)};
        if (bits <= 64) {
            v.hi = 0;
            v.lo = bits == 64 ? v.lo : bits == 0 ? 0 : v.lo >> (64 - bits);
        } else if (bits < 128) {
            v.hi >>= 128 - bits;
        }
        size_t n = sp_u128_format(v, buf);
        ck_assert_uint_eq(n, strlen(buf));
        ck_assert_uint_le(n, 39);
        ck_assert(n == 1 || buf[0] != '0');
        sp_u128 w;
        ck_assert_int_eq(sp_u128_parse(buf, n, &w), 0);
        ck_assert_int_eq(sp_u128_cmp(v, w), 0);
#ifdef __SIZEOF_INT128__
        /* An independent check with the compiler's 128-bit integers. */
        unsigned __int128 x = (unsigned __int128)v.hi << 64 | v.lo;
        char ref[48];
        size_t k = sizeof ref;
        ref[--k] = '\0';
        do {
            ref[--k] = (char)('0' + (int)(x % 10));
            x /= 10;
        } while (x != 0);
        ck_assert_str_eq(buf, ref + k);
#endif
    }
}
END_TEST

START_TEST(test_cmp)
{
    ck_assert_int_eq(sp_u128_cmp(mk(0, 0), mk(0, 0)), 0);
    ck_assert_int_lt(sp_u128_cmp(mk(0, 1), mk(0, 2)), 0);
    ck_assert_int_gt(sp_u128_cmp(mk(0, 2), mk(0, 1)), 0);
    ck_assert_int_lt(sp_u128_cmp(mk(0, UINT64_MAX), mk(1, 0)), 0);
    ck_assert_int_gt(sp_u128_cmp(mk(1, 0), mk(0, UINT64_MAX)), 0);
    ck_assert_int_gt(sp_u128_cmp(mk(UINT64_MAX, 0), mk(1, UINT64_MAX)), 0);
    ck_assert_int_eq(sp_u128_cmp(mk(UINT64_MAX, UINT64_MAX), u(U128_MAX_DEC)), 0);
}
END_TEST

/* KINESIS.md §3.3. */
static const struct {
    const char *pk;
    const char *md5;
    const char *dec;
    long of2, of4;
} vec[] = {
    {"a", "0cc175b9c0f1b6a831c399e269772661",
     "16955237001963240173058271559858726497", 0, 0},
    {"b", "92eb5ffee6ae2fec3ad71c777531578f",
     "195289424170611159128911017612795795343", 1, 2},
    {"partitionKey-1", "77fe6d8289696ba8510480fbe3887256",
     "159499196025307651934328298402289840726", 0, 1},
    {"\xe6\x97\xa5\xe6\x9c\xac", "4dbed2e657457884e67137d3514119b3",
     "103341369634063465466164320543046703539", 0, 1},
};

START_TEST(test_hashkey_vectors)
{
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        sp_u128 h = sp_hashkey(vec[i].pk, strlen(vec[i].pk));
        char hex[33];
        snprintf(hex, sizeof hex, "%016llx%016llx",
                 (unsigned long long)h.hi, (unsigned long long)h.lo);
        ck_assert_str_eq(hex, vec[i].md5);
        assert_fmt(h, vec[i].dec);
        ck_assert_int_eq(sp_u128_cmp(h, u(vec[i].dec)), 0);
    }
    /* MD5("") = d41d8cd98f00b204e9800998ecf8427e */
    sp_u128 e = sp_hashkey("", 0);
    ck_assert(e.hi == 0xd41d8cd98f00b204ull && e.lo == 0xe9800998ecf8427eull);
}
END_TEST

/* A shard with malloc'd strings, so that LeakSanitizer checks ownership. */
static sp_shard shard(const char *id, const char *start, const char *end, int closed)
{
    sp_shard s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "%s", id);
    s.start = u(start);
    s.end = u(end);
    s.start_seq = strdup("49590338271490256608559692538361571095921575989136588898");
    s.parent = strdup("shardId-000000000000");
    if (closed)
        s.end_seq = strdup("49590338271490256608559692540925702759324208523137515618");
    ck_assert_ptr_nonnull(s.start_seq);
    ck_assert_ptr_nonnull(s.parent);
    return s;
}

static sp_shard *array(size_t n)
{
    sp_shard *a = calloc(n, sizeof *a);
    ck_assert_ptr_nonnull(a);
    return a;
}

/* The even split of KINESIS.md §3.2/§3.3. */
static const char *starts4[] = {
    "0", "85070591730234615865843651857942052864",
    "170141183460469231731687303715884105728",
    "255211775190703847597530955573826158592",
};
static const char *ends4[] = {
    "85070591730234615865843651857942052863",
    "170141183460469231731687303715884105727",
    "255211775190703847597530955573826158591",
    U128_MAX_DEC,
};

static void map_of4(sp_shardmap *m, int shuffled)
{
    static const int order[] = {2, 0, 3, 1};
    sp_shard *a = array(4);
    for (int i = 0; i < 4; i++) {
        int k = shuffled ? order[i] : i;
        char id[32];
        snprintf(id, sizeof id, "shardId-%012d", k);
        a[i] = shard(id, starts4[k], ends4[k], 0);
    }
    sp_err err = {0};
    ck_assert_int_eq(sp_shardmap_take(m, a, 4, &err), SP_OK);
    ck_assert_uint_eq(m->n, 4);
}

static void map_of2(sp_shardmap *m)
{
    sp_shard *a = array(2);
    a[0] = shard("shardId-000000000001", "170141183460469231731687303715884105728",
                 U128_MAX_DEC, 0);
    a[1] = shard("shardId-000000000000", "0",
                 "170141183460469231731687303715884105727", 0);
    sp_err err = {0};
    ck_assert_int_eq(sp_shardmap_take(m, a, 2, &err), SP_OK);
    ck_assert_uint_eq(m->n, 2);
}

START_TEST(test_vectors_route)
{
    sp_shardmap m2, m4;
    map_of2(&m2);
    map_of4(&m4, 1);
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        sp_u128 h = sp_hashkey(vec[i].pk, strlen(vec[i].pk));
        long k2 = sp_shardmap_lookup(&m2, h);
        long k4 = sp_shardmap_lookup(&m4, h);
        char want[32];
        snprintf(want, sizeof want, "shardId-%012ld", vec[i].of2);
        ck_assert_int_ge(k2, 0);
        ck_assert_str_eq(m2.shards[k2].id, want);
        snprintf(want, sizeof want, "shardId-%012ld", vec[i].of4);
        ck_assert_int_ge(k4, 0);
        ck_assert_str_eq(m4.shards[k4].id, want);
    }
    sp_shardmap_free(&m2);
    sp_shardmap_free(&m4);
}
END_TEST

START_TEST(test_sorted_and_boundaries)
{
    sp_shardmap m;
    map_of4(&m, 1);
    /* Sorted by end key whatever the input order. */
    for (size_t i = 0; i < 4; i++) {
        char want[32];
        snprintf(want, sizeof want, "shardId-%012zu", i);
        ck_assert_str_eq(m.shards[i].id, want);
        ck_assert_int_eq(sp_u128_cmp(m.shards[i].start, u(starts4[i])), 0);
    }
    for (long i = 0; i < 4; i++) {
        sp_u128 s = u(starts4[i]), e = u(ends4[i]);
        ck_assert_int_eq(sp_shardmap_lookup(&m, s), i);
        ck_assert_int_eq(sp_shardmap_lookup(&m, e), i);
        sp_u128 mid = {s.hi / 2 + e.hi / 2, 12345};
        ck_assert_int_eq(sp_shardmap_lookup(&m, mid), i);
        if (i > 0) {
            /* one below the start belongs to the previous shard */
            sp_u128 below = s;
            if (below.lo-- == 0)
                below.hi--;
            ck_assert_int_eq(sp_shardmap_lookup(&m, below), i - 1);
        }
        if (i < 3) {
            sp_u128 above = e;
            if (++above.lo == 0)
                above.hi++;
            ck_assert_int_eq(sp_shardmap_lookup(&m, above), i + 1);
        }
    }
    ck_assert_int_eq(sp_shardmap_lookup(&m, mk(0, 0)), 0);
    ck_assert_int_eq(sp_shardmap_lookup(&m, mk(UINT64_MAX, UINT64_MAX)), 3);
    sp_shardmap_free(&m);
    ck_assert_ptr_null(m.shards);
    ck_assert_uint_eq(m.n, 0);
    sp_shardmap_free(&m);       /* twice is harmless */
}
END_TEST

START_TEST(test_gaps)
{
    sp_shardmap m;
    sp_err err = {0};
    sp_shard *a = array(3);
    a[0] = shard("shardId-000000000007", "200", "299", 0);
    a[1] = shard("shardId-000000000003", "10", "99", 0);
    a[2] = shard("shardId-000000000009", "300", "300", 0);
    ck_assert_int_eq(sp_shardmap_take(&m, a, 3, &err), SP_OK);
    static const struct { uint64_t h; long want; } t[] = {
        {0, -1}, {9, -1}, {10, 0}, {50, 0}, {99, 0}, {100, -1}, {150, -1},
        {199, -1}, {200, 1}, {299, 1}, {300, 2}, {301, -1}, {UINT64_MAX, -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        ck_assert_int_eq(sp_shardmap_lookup(&m, mk(0, t[i].h)), t[i].want);
    ck_assert_int_eq(sp_shardmap_lookup(&m, mk(1, 0)), -1);
    ck_assert_int_eq(sp_shardmap_lookup(&m, mk(UINT64_MAX, UINT64_MAX)), -1);
    sp_shardmap_free(&m);
}
END_TEST

START_TEST(test_empty)
{
    sp_shardmap m;
    sp_err err = {0};
    ck_assert_int_eq(sp_shardmap_take(&m, NULL, 0, &err), SP_OK);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_int_eq(sp_shardmap_lookup(&m, mk(0, 0)), -1);
    ck_assert_int_eq(sp_shardmap_find(&m, "shardId-000000000000"), -1);
    sp_shardmap_free(&m);

    ck_assert_int_eq(sp_shardmap_take(&m, array(1), 0, &err), SP_OK);
    ck_assert_uint_eq(m.n, 0);
    sp_shardmap_free(&m);

    ck_assert_int_eq(sp_shardmap_take(&m, NULL, 3, &err), SP_ERR);
    ck_assert_uint_eq(m.n, 0);
}
END_TEST

START_TEST(test_closed_dropped)
{
    /* After a split: the closed parent covers everything, its children
     * the two halves. Only the children remain. */
    sp_shardmap m;
    sp_err err = {0};
    sp_shard *a = array(4);
    a[0] = shard("shardId-000000000000", "0", U128_MAX_DEC, 1);
    a[1] = shard("shardId-000000000002", "170141183460469231731687303715884105728",
                 U128_MAX_DEC, 0);
    a[2] = shard("shardId-000000000001", "0", "170141183460469231731687303715884105727", 0);
    a[3] = shard("shardId-000000000005", "5", "6", 1);
    ck_assert_int_eq(sp_shardmap_take(&m, a, 4, &err), SP_OK);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_str_eq(m.shards[0].id, "shardId-000000000001");
    ck_assert_str_eq(m.shards[1].id, "shardId-000000000002");
    ck_assert_ptr_null(m.shards[0].end_seq);
    ck_assert_ptr_nonnull(m.shards[0].start_seq);
    ck_assert_int_eq(sp_shardmap_find(&m, "shardId-000000000000"), -1);
    ck_assert_int_eq(sp_shardmap_find(&m, "shardId-000000000005"), -1);
    ck_assert_int_eq(sp_shardmap_find(&m, "shardId-000000000001"), 0);
    ck_assert_int_eq(sp_shardmap_find(&m, "shardId-000000000002"), 1);
    ck_assert_int_eq(sp_shardmap_find(&m, "shardId-00000000000"), -1);
    ck_assert_int_eq(sp_shardmap_find(&m, ""), -1);
    ck_assert_int_eq(sp_shardmap_lookup(&m, mk(0, 5)), 0);
    sp_shardmap_free(&m);

    /* All closed: an empty map, no error. */
    a = array(2);
    a[0] = shard("shardId-000000000000", "0", "10", 1);
    a[1] = shard("shardId-000000000001", "11", U128_MAX_DEC, 1);
    ck_assert_int_eq(sp_shardmap_take(&m, a, 2, &err), SP_OK);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_int_eq(sp_shardmap_lookup(&m, mk(0, 3)), -1);
    sp_shardmap_free(&m);
}
END_TEST

static void assert_rejected(sp_shard *a, size_t n, const char *needle)
{
    sp_shardmap m = {(sp_shard *)1, 99, NULL, 0};
    sp_err err = {0};
    ck_assert_int_eq(sp_shardmap_take(&m, a, n, &err), SP_ERR);
    ck_assert_ptr_null(m.shards);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message: %s", err.msg);
}

START_TEST(test_overlap_rejected)
{
    sp_shard *a = array(2);
    a[0] = shard("shardId-000000000000", "0", "100", 0);
    a[1] = shard("shardId-000000000001", "100", "200", 0);   /* shares 100 */
    assert_rejected(a, 2, "overlap");

    a = array(2);
    a[0] = shard("shardId-000000000000", "0", "100", 0);
    a[1] = shard("shardId-000000000001", "50", "60", 0);     /* inside */
    assert_rejected(a, 2, "shardId-000000000001");

    a = array(3);
    a[0] = shard("shardId-000000000000", "0", "100", 0);
    a[1] = shard("shardId-000000000001", "101", "200", 1);   /* closed: ignored */
    a[2] = shard("shardId-000000000002", "0", "100", 0);     /* duplicate range */
    assert_rejected(a, 3, "overlap");

    a = array(2);
    a[0] = shard("shardId-000000000000", "0", U128_MAX_DEC, 0);
    a[1] = shard("shardId-000000000001", U128_MAX_DEC, U128_MAX_DEC, 0);
    assert_rejected(a, 2, "overlap");

    a = array(2);
    a[0] = shard("shardId-000000000000", "10", "5", 0);      /* start > end */
    a[1] = shard("shardId-000000000001", "11", "20", 0);
    assert_rejected(a, 2, "shardId-000000000000");

    /* Adjacent ranges are fine. */
    sp_shardmap m;
    sp_err err = {0};
    a = array(2);
    a[0] = shard("shardId-000000000000", "0", "100", 0);
    a[1] = shard("shardId-000000000001", "101", "200", 0);
    ck_assert_int_eq(sp_shardmap_take(&m, a, 2, &err), SP_OK);
    sp_shardmap_free(&m);
}
END_TEST

START_TEST(test_many_shards)
{
    /* 1000 equal ranges given in random order; every boundary routes. */
    const size_t n = 1000;
    sp_shard *a = array(n);
    sp_rng r;
    sp_rng_seed_with(&r, 3);
    size_t *perm = malloc(n * sizeof *perm);
    ck_assert_ptr_nonnull(perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)sp_rng_below(&r, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    const uint64_t step = UINT64_MAX / n;     /* ranges over the high word */
    for (size_t i = 0; i < n; i++) {
        size_t k = perm[i];
        snprintf(a[i].id, sizeof a[i].id, "shardId-%012zu", k);
        a[i].start = mk(k * step, 0);
        a[i].end = k == n - 1 ? mk(UINT64_MAX, UINT64_MAX) : mk((k + 1) * step - 1, UINT64_MAX);
    }
    free(perm);
    sp_shardmap m;
    sp_err err = {0};
    ck_assert_int_eq(sp_shardmap_take(&m, a, n, &err), SP_OK);
    for (size_t k = 0; k < n; k++) {
        ck_assert_int_eq(sp_shardmap_lookup(&m, m.shards[k].start), (long)k);
        ck_assert_int_eq(sp_shardmap_lookup(&m, m.shards[k].end), (long)k);
        char id[32];
        snprintf(id, sizeof id, "shardId-%012zu", k);
        ck_assert_int_eq(sp_shardmap_find(&m, id), (long)k);
    }
    sp_shardmap_free(&m);
}
END_TEST

/* Index of the shard holding h by a plain scan of the ranges, or -1. */
static long scan_lookup(const sp_shardmap *m, sp_u128 h)
{
    for (size_t i = 0; i < m->n; i++)
        if (sp_u128_cmp(m->shards[i].start, h) <= 0 && sp_u128_cmp(h, m->shards[i].end) <= 0)
            return (long)i;
    return -1;
}

START_TEST(test_radix_lookup_matches_a_scan)
{
    /* Uneven ranges with gaps (as while resharding), from one shard to
     * thousands: a key near every boundary, and random keys. */
    static const size_t ns[] = {1, 2, 3, 7, 64, 1000, 5000};
    sp_rng r;
    sp_rng_seed_with(&r, 2024);
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        size_t n = ns[t];
        uint64_t *cut = malloc(2 * n * sizeof *cut);
        ck_assert_ptr_nonnull(cut);
        for (size_t i = 0; i < 2 * n; i++)
            cut[i] = sp_rng_next(&r) >> (sp_rng_below(&r, 4) == 0 ? 8 : 0); /* crowd the low end too */
        for (size_t i = 1; i < 2 * n; i++)      /* insertion sort: small n */
            for (size_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
                uint64_t x = cut[j];
                cut[j] = cut[j - 1];
                cut[j - 1] = x;
            }
        sp_shard *a = array(n);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && cut[2 * i] <= cut[2 * i - 1])
                continue;   /* would overlap the last one: leave it out */
            snprintf(a[k].id, sizeof a[k].id, "shardId-%012zu", i);
            a[k].start = mk(cut[2 * i], sp_rng_below(&r, 2) ? 0 : 77);
            a[k].end = mk(cut[2 * i + 1], UINT64_MAX);
            if (sp_u128_cmp(a[k].start, a[k].end) > 0)
                a[k].start = mk(cut[2 * i], 0);
            k++;
        }
        sp_shardmap m;
        sp_err err = {0};
        ck_assert_msg(sp_shardmap_take(&m, a, k, &err) == SP_OK, "%s", err.msg);
        ck_assert_ptr_nonnull(m.radix);
        for (size_t i = 0; i < m.n; i++) {
            const sp_u128 probe[] = {m.shards[i].start, m.shards[i].end, mk(m.shards[i].start.hi - 1, 5),
                                     mk(m.shards[i].end.hi + 1, 0), mk(m.shards[i].end.hi, 0)};
            for (size_t q = 0; q < sizeof probe / sizeof probe[0]; q++)
                ck_assert_int_eq(sp_shardmap_lookup(&m, probe[q]), scan_lookup(&m, probe[q]));
        }
        for (int q = 0; q < 3000; q++) {
            sp_u128 h = mk(sp_rng_next(&r) >> (q % 3 == 0 ? 8 : 0), sp_rng_next(&r));
            ck_assert_int_eq(sp_shardmap_lookup(&m, h), scan_lookup(&m, h));
        }
        ck_assert_int_eq(sp_shardmap_lookup(&m, mk(0, 0)), scan_lookup(&m, mk(0, 0)));
        ck_assert_int_eq(sp_shardmap_lookup(&m, mk(UINT64_MAX, UINT64_MAX)),
                         scan_lookup(&m, mk(UINT64_MAX, UINT64_MAX)));
        sp_shardmap_free(&m);
        free(cut);
    }
}
END_TEST

START_TEST(test_match_by_id)
{
    /* Before: shards 0..4; now: 1, 3 and 4 stay (in another order), 7 and 8
     * are new. */
    sp_shard *a = array(5), *b = array(5);
    for (size_t i = 0; i < 5; i++) {
        snprintf(a[i].id, sizeof a[i].id, "shardId-%012zu", i);
        a[i].start = mk(i * 100, 0);
        a[i].end = mk(i * 100 + 99, 0);
    }
    static const size_t ids[] = {8, 4, 1, 7, 3};
    for (size_t i = 0; i < 5; i++) {
        snprintf(b[i].id, sizeof b[i].id, "shardId-%012zu", ids[i]);
        b[i].start = mk(i * 1000, 0);
        b[i].end = mk(i * 1000 + 999, 0);
    }
    sp_shardmap before, now;
    sp_err err = {0};
    ck_assert_int_eq(sp_shardmap_take(&before, a, 5, &err), SP_OK);
    ck_assert_int_eq(sp_shardmap_take(&now, b, 5, &err), SP_OK);
    long old[5];
    ck_assert_int_eq(sp_shardmap_match(&before, &now, old, &err), SP_OK);
    for (size_t i = 0; i < now.n; i++)
        ck_assert_int_eq(old[i], sp_shardmap_find(&before, now.shards[i].id));
    ck_assert_int_eq(old[1], 4);   /* now sorted by range: 8 4 1 7 3 */
    ck_assert_int_eq(old[0], -1);
    ck_assert_int_eq(old[3], -1);
    sp_shardmap empty = {0};
    ck_assert_int_eq(sp_shardmap_match(&empty, &now, old, &err), SP_OK);
    for (size_t i = 0; i < now.n; i++)
        ck_assert_int_eq(old[i], -1);
    sp_shardmap_free(&before);
    sp_shardmap_free(&now);
}
END_TEST

START_TEST(test_shard_clear)
{
    sp_shard s = shard("shardId-000000000000", "0", "1", 1);
    s.adjacent_parent = strdup("shardId-000000000009");
    sp_shard_clear(&s);
    ck_assert_ptr_null(s.start_seq);
    ck_assert_ptr_null(s.end_seq);
    ck_assert_ptr_null(s.parent);
    ck_assert_ptr_null(s.adjacent_parent);
    sp_shard_clear(&s);
}
END_TEST

START_TEST(u128_midpoint)
{
    sp_u128 a = {0, 10}, b = {0, 20}, m = sp_u128_midpoint(a, b);
    ck_assert(m.hi == 0 && m.lo == 15);
    sp_u128 lo = {0, UINT64_MAX}, hi = {1, 1};      /* a borrow and a carry */
    m = sp_u128_midpoint(lo, hi);
    ck_assert(m.hi == 1 && m.lo == 0);
    sp_u128 zero = {0, 0}, max = {UINT64_MAX, UINT64_MAX};
    m = sp_u128_midpoint(zero, max);
    ck_assert(m.hi == UINT64_MAX >> 1 && m.lo == UINT64_MAX);
    m = sp_u128_midpoint(max, max);
    ck_assert(m.hi == UINT64_MAX && m.lo == UINT64_MAX);
}
END_TEST

static Suite *shardmap_suite(void)
{
    Suite *s = suite_create("shardmap");
    TCase *tc = tcase_create("u128");
    tcase_add_test(tc, test_parse_boundaries);
    tcase_add_test(tc, u128_midpoint);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_format_parse_roundtrip);
    tcase_add_test(tc, test_cmp);
    tcase_add_test(tc, test_hashkey_vectors);
    suite_add_tcase(s, tc);

    tc = tcase_create("map");
    tcase_add_test(tc, test_vectors_route);
    tcase_add_test(tc, test_sorted_and_boundaries);
    tcase_add_test(tc, test_gaps);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_closed_dropped);
    tcase_add_test(tc, test_overlap_rejected);
    tcase_add_test(tc, test_many_shards);
    tcase_add_test(tc, test_radix_lookup_matches_a_scan);
    tcase_add_test(tc, test_match_by_id);
    tcase_add_test(tc, test_shard_clear);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(shardmap_suite)
