/* Partition-key strategies and option parsing helpers. */
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/cli.h"
#include "shardpipe/partition.h"

START_TEST(fixed_keys)
{
    sp_partition p;
    sp_err err;
    char out[SP_PK_MAX_BYTES];
    int fb;
    sp_rng rng;
    sp_rng_seed_with(&rng, 1);
    ck_assert_int_eq(sp_partition_parse("fixed:abc", &p, &err), SP_OK);
    ck_assert_uint_eq(sp_partition_key(&p, &rng, "line", 4, out, &fb), 3);
    ck_assert_mem_eq(out, "abc", 3);
    ck_assert_uint_eq(sp_partition_reserve(&p), 3);
    ck_assert_int_eq(sp_partition_fixed(&p, "", &err), SP_ERR);
    ck_assert_int_eq(sp_partition_fixed(&p, "\xff", &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "UTF-8"));
    /* 256 characters of 3 bytes each are fine; 257 are not. */
    char k[257 * 3 + 1];
    for (int i = 0; i < 257; i++)
        memcpy(k + 3 * i, "\xe6\x97\xa5", 3);
    k[256 * 3] = '\0';
    ck_assert_int_eq(sp_partition_fixed(&p, k, &err), SP_OK);
    ck_assert_uint_eq(sp_partition_reserve(&p), 768);
    k[256 * 3] = '\xe6';
    k[257 * 3] = '\0';
    ck_assert_int_eq(sp_partition_fixed(&p, k, &err), SP_ERR);
    ck_assert_int_eq(sp_partition_parse("bogus", &p, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "bogus"));
}
END_TEST

START_TEST(random_and_hash)
{
    sp_partition p;
    sp_err err;
    sp_rng rng;
    sp_rng_seed_with(&rng, 7);
    char a[SP_PK_MAX_BYTES], b[SP_PK_MAX_BYTES];
    int fb;
    ck_assert_int_eq(sp_partition_parse("random", &p, &err), SP_OK);
    size_t na = sp_partition_key(&p, &rng, "x", 1, a, &fb);
    size_t nb = sp_partition_key(&p, &rng, "x", 1, b, &fb);
    ck_assert_uint_eq(na, 16);
    ck_assert_uint_le(na, sp_partition_reserve(&p));
    ck_assert_uint_eq(nb, 16);
    ck_assert(memcmp(a, b, 16) != 0);
    ck_assert_int_eq(sp_partition_parse("hash", &p, &err), SP_OK);
    na = sp_partition_key(&p, &rng, "a", 1, a, &fb);
    ck_assert_uint_eq(na, 32);
    ck_assert_mem_eq(a, "0cc175b9c0f1b6a831c399e269772661", 32); /* MD5("a") */
    nb = sp_partition_key(&p, &rng, "a", 1, b, &fb);
    ck_assert_mem_eq(a, b, 32);
}
END_TEST

static size_t key_of(sp_partition *p, const char *line, char *out, int *fb)
{
    sp_rng rng;
    sp_rng_seed_with(&rng, 3);
    return sp_partition_key(p, &rng, line, strlen(line), out, fb);
}

START_TEST(field_keys)
{
    sp_partition p;
    sp_err err;
    char out[SP_PK_MAX_BYTES];
    int fb;
    ck_assert_int_eq(sp_partition_parse("field:user.id", &p, &err), SP_OK);
    ck_assert_uint_eq(key_of(&p, "{\"user\":{\"id\":\"alice\"},\"x\":1}", out, &fb), 5);
    ck_assert(!fb);
    ck_assert_mem_eq(out, "alice", 5);
    /* Numbers and booleans by their JSON text. */
    ck_assert_uint_eq(key_of(&p, "{\"user\":{\"id\":42}}", out, &fb), 2);
    ck_assert_mem_eq(out, "42", 2);
    /* Missing field, not JSON, null, empty string: random and counted. */
    ck_assert_uint_eq(key_of(&p, "{\"user\":{}}", out, &fb), 16);
    ck_assert(fb);
    key_of(&p, "plain text", out, &fb);
    ck_assert(fb);
    key_of(&p, "{\"user\":{\"id\":null}}", out, &fb);
    ck_assert(fb);
    key_of(&p, "{\"user\":{\"id\":\"\"}}", out, &fb);
    ck_assert(fb);
    key_of(&p, "{\"user\":\"id\"}", out, &fb);
    ck_assert(fb);
    /* A key over 256 characters is hashed down, never rejected. */
    char line[700];
    int n = snprintf(line, sizeof line, "{\"user\":{\"id\":\"");
    memset(line + n, 'k', 300);
    snprintf(line + n + 300, sizeof line - (size_t)n - 300, "\"}}");
    ck_assert_uint_eq(key_of(&p, line, out, &fb), 32);
    ck_assert(!fb);
    sp_partition_free(&p);
    ck_assert_int_eq(sp_partition_parse("field:a..b", &p, &err), SP_ERR);
    ck_assert_int_eq(sp_partition_parse("field:", &p, &err), SP_ERR);
}
END_TEST

START_TEST(regex_keys)
{
    sp_partition p;
    sp_err err;
    char out[SP_PK_MAX_BYTES];
    int fb;
    ck_assert_int_eq(sp_partition_parse("regex:user=([a-z]+)", &p, &err), SP_OK);
    ck_assert_uint_eq(key_of(&p, "ts=1 user=bob action=x", out, &fb), 3);
    ck_assert_mem_eq(out, "bob", 3);
    ck_assert(!fb);
    key_of(&p, "no user here", out, &fb);
    ck_assert(fb);
    /* A capture of bytes that are not UTF-8 is hashed to hex. */
    sp_partition_free(&p);
    ck_assert_int_eq(sp_partition_parse("regex:k=([^ ]+)", &p, &err), SP_OK);
    ck_assert_uint_eq(key_of(&p, "k=\xff\xfe end", out, &fb), 32);
    ck_assert(!fb);
    sp_partition_free(&p);
    ck_assert_int_eq(sp_partition_parse("regex:no-group", &p, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "capture group"));
    ck_assert_int_eq(sp_partition_parse("regex:([a-", &p, &err), SP_ERR);
}
END_TEST

START_TEST(balanced_key)
{
    sp_partition p;
    sp_err err;
    char out[SP_PK_MAX_BYTES];
    int fb;
    ck_assert_int_eq(sp_partition_parse("balanced", &p, &err), SP_OK);
    ck_assert_uint_eq(key_of(&p, "x", out, &fb), 1);
    ck_assert_uint_eq(sp_partition_reserve(&p), 1);
}
END_TEST

START_TEST(utf8_counting)
{
    ck_assert_int_eq(sp_utf8_chars("abc", 3), 3);
    ck_assert_int_eq(sp_utf8_chars("\xe6\x97\xa5\xe6\x9c\xac", 6), 2);
    ck_assert_int_eq(sp_utf8_chars("\xc0\x80", 2), -1);       /* overlong */
    ck_assert_int_eq(sp_utf8_chars("\xed\xa0\x80", 3), -1);   /* surrogate */
    ck_assert_int_eq(sp_utf8_chars("\xe6\x97", 2), -1);       /* truncated */
    ck_assert_int_eq(sp_utf8_chars("\xf4\x90\x80\x80", 4), -1); /* > U+10FFFF */
}
END_TEST

START_TEST(sizes)
{
    unsigned long long v;
    ck_assert_int_eq(sp_parse_size("5242880", 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 5242880);
    ck_assert_int_eq(sp_parse_size("5M", 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 5242880);
    ck_assert_int_eq(sp_parse_size("64MiB", 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 64ULL << 20);
    ck_assert_int_eq(sp_parse_size("1K", 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 1024);
    ck_assert_int_eq(sp_parse_size("11M", 10ULL << 20, &v), -1);
    ck_assert_int_eq(sp_parse_size("-1", 100, &v), -1);
    ck_assert_int_eq(sp_parse_size("1X", 100, &v), -1);
    ck_assert_int_eq(sp_parse_size("", 100, &v), -1);
    ck_assert_int_eq(sp_parse_size("99999999999999999999", ~0ULL, &v), -1);
    ck_assert_int_eq(sp_parse_uint("500", 1, 500, &v), 0);
    ck_assert_int_eq(sp_parse_uint("501", 1, 500, &v), -1);
    ck_assert_int_eq(sp_parse_uint("0", 1, 500, &v), -1);
    ck_assert_int_eq(sp_parse_uint("1e3", 1, 5000, &v), -1);
    ck_assert_int_eq(sp_parse_uint(" 1", 1, 5000, &v), -1);
}
END_TEST

static Suite *partition_suite(void)
{
    Suite *s = suite_create("partition");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, fixed_keys);
    tcase_add_test(tc, random_and_hash);
    tcase_add_test(tc, field_keys);
    tcase_add_test(tc, regex_keys);
    tcase_add_test(tc, balanced_key);
    tcase_add_test(tc, utf8_counting);
    tcase_add_test(tc, sizes);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(partition_suite)
