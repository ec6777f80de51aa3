/* Partition-key strategies and option parsing helpers. */
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/parse.h"
#include "shardpipe/ere.h"
#include "shardpipe/partition.h"
#include "shardpipe/md5.h"
#include "shardpipe/u128.h"

#include <openssl/evp.h>

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


/* ---- hostile input (issue 7): key length as Kinesis counts it, patterns
 * whose matching time explodes, lines longer than a pattern should see ---- */

#define EMOJI "\xf0\x9f\x8e\x89"      /* U+1F389: one character, two UTF-16 units */

static void emoji(char *out, int n)
{
    for (int i = 0; i < n; i++)
        memcpy(out + 4 * i, EMOJI, 4);
    out[4 * n] = '\0';
}

START_TEST(utf16_counting)
{
    ck_assert_int_eq(sp_utf16_units("abc", 3), 3);
    ck_assert_int_eq(sp_utf16_units("\xe6\x97\xa5", 3), 1);
    ck_assert_int_eq(sp_utf16_units(EMOJI, 4), 2);
    ck_assert_int_eq(sp_utf16_units("a" EMOJI "\xc3\xa9", 7), 4);
    ck_assert_int_eq(sp_utf16_units("\xed\xa0\x80", 3), -1);
    ck_assert_int_eq(sp_utf16_units(EMOJI, 3), -1);
    ck_assert_int_eq(sp_utf8_chars(EMOJI, 4), 1);
}
END_TEST

START_TEST(fixed_key_utf16_limit)
{
    sp_partition p;
    sp_err err;
    char k[129 * 4 + 1];
    emoji(k, 128);                  /* 256 units: the most there may be */
    ck_assert_int_eq(sp_partition_fixed(&p, k, &err), SP_OK);
    emoji(k, 129);                  /* 129 characters, 258 units */
    ck_assert_int_eq(sp_partition_fixed(&p, k, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "256 UTF-16 code units") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "got 258") != NULL, "%s", err.msg);
    /* 255 ASCII and an emoji: 257 units in 256 characters. */
    char a[260];
    memset(a, 'a', 255);
    memcpy(a + 255, EMOJI, 5);
    ck_assert_int_eq(sp_partition_fixed(&p, a, &err), SP_ERR);
}
END_TEST

START_TEST(extracted_key_utf16_limit)
{
    sp_partition p;
    sp_err err;
    char out[SP_PK_MAX_BYTES], line[1200];
    int fb;
    ck_assert_int_eq(sp_partition_parse("regex:k=([^ ]+)", &p, &err), SP_OK);
    memcpy(line, "k=", 2);
    emoji(line + 2, 129);           /* over the limit: hashed down, not a random key */
    ck_assert_uint_eq(key_of(&p, line, out, &fb), 32);
    ck_assert(!fb);
    for (int i = 0; i < 32; i++)
        ck_assert(strchr("0123456789abcdef", out[i]) != NULL);
    emoji(line + 2, 128);           /* at the limit: kept */
    ck_assert_uint_eq(key_of(&p, line, out, &fb), 128 * 4);
    ck_assert_mem_eq(out, line + 2, 128 * 4);
    sp_partition_free(&p);
    ck_assert_int_eq(sp_partition_parse("field:k", &p, &err), SP_OK);
    memcpy(line, "{\"k\":\"", 6);
    emoji(line + 6, 129);
    strcat(line, "\"}");
    ck_assert_uint_eq(key_of(&p, line, out, &fb), 32);
    ck_assert(!fb);
    sp_partition_free(&p);
}
END_TEST

START_TEST(back_references_refused)
{
    sp_partition p;
    sp_err err;
    static const char *const bad[] = {
        "regex:(a*)\\1\\1\\1x", "regex:(a)\\1", "regex:([a])\\1", "regex:([]a])(b)\\2",
        "regex:([[:alpha:]])\\1", "regex:(a)\\\\\\1", "regex:(a)|\\9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(sp_partition_parse(bad[i], &p, &err) == SP_ERR, "%s was taken", bad[i]);
        ck_assert_msg(strstr(err.msg, "back-reference") != NULL, "%s: %s", bad[i], err.msg);
    }
    /* An escaped backslash before a digit, and a backslash in brackets, are
     * no back-references. */
    static const char *const good[] = {
        "regex:(a)\\\\1", "regex:([\\1])", "regex:([]\\1])", "regex:([^]\\1]+)",
        "regex:([[:digit:]\\1]+)", "regex:(x)[\\]1",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(sp_partition_parse(good[i], &p, &err) == SP_OK, "%s: %s", good[i], err.msg);
        sp_partition_free(&p);
    }
}
END_TEST

START_TEST(costly_patterns_refused)
{
    sp_partition p;
    sp_err err;
    static const char *const bad[] = {
        "regex:(a{1,255}){1,255}", "regex:((a?){50}){50}", "regex:((){100}){100}",
        "regex:(a{1,32767})", "regex:(a{300,})(b{300})", "regex:((((((((((a+)+)+)+)+)+)+)+)+)+)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(sp_partition_parse(bad[i], &p, &err) == SP_ERR, "%s was taken", bad[i]);
        ck_assert_msg(strstr(err.msg, "positions, more than 512") != NULL, "%s: %s", bad[i], err.msg);
    }
    static const char *const good[] = {
        "regex:(a|aa)*(b|bb)*(c)", "regex:((a*)*b)", "regex:(x{1,255})", "regex:(a?){255}",
        "regex:^([0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}) ",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(sp_partition_parse(good[i], &p, &err) == SP_OK, "%s: %s", good[i], err.msg);
        sp_partition_free(&p);
    }
    char deep[200] = "regex:";
    for (int i = 0; i < 70; i++)
        strcat(deep, "(");
    strcat(deep, "a");
    for (int i = 0; i < 70; i++)
        strcat(deep, ")");
    ck_assert_int_eq(sp_partition_parse(deep, &p, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "more than 64 deep") != NULL, "%s", err.msg);
    ck_assert_int_eq(sp_ere_check("a{2", &err), SP_OK);   /* not an interval: regcomp decides */
}
END_TEST

/* The pattern sees the first match_bytes bytes of a line. */
START_TEST(regex_match_window)
{
    sp_partition p;
    sp_err err;
    char out[SP_PK_MAX_BYTES];
    int fb;
    static char line[SP_MATCH_BYTES_DEFAULT * 2 + 64];
    ck_assert_int_eq(sp_partition_parse("regex:user=([a-z]+)", &p, &err), SP_OK);
    ck_assert_uint_eq(p.match_bytes, SP_MATCH_BYTES_DEFAULT);
    memset(line, '.', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    memcpy(line + SP_MATCH_BYTES_DEFAULT - 9, "user=bob", 8);   /* ends within the window */
    ck_assert_uint_eq(key_of(&p, line, out, &fb), 3);
    ck_assert(!fb);
    memset(line, '.', sizeof line - 1);
    memcpy(line + SP_MATCH_BYTES_DEFAULT + 1, "user=bob", 8);   /* past it */
    key_of(&p, line, out, &fb);
    ck_assert(fb);
    p.match_bytes = SP_MATCH_BYTES_DEFAULT * 2;                  /* a wider window finds it */
    ck_assert_uint_eq(key_of(&p, line, out, &fb), 3);
    ck_assert(!fb);
    p.match_bytes = 64;
    memset(line, '.', sizeof line - 1);
    memcpy(line + 58, "user=bob", 8);                            /* cut to "b" */
    ck_assert_uint_eq(key_of(&p, line, out, &fb), 1);
    ck_assert_mem_eq(out, "b", 1);
    sp_partition_free(&p);
}
END_TEST

/* An escape glibc would read as a bare letter is refused, not matched
 * quietly as something else. */
START_TEST(unknown_escapes_refused)
{
    sp_partition p;
    sp_err err;
    ck_assert_int_eq(sp_partition_parse("regex:id=(\\d+)", &p, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "\\d is not an escape of POSIX extended regular expressions (use [0-9])"));
    /* inside a bracket expression a backslash is literal; \w is glibc's */
    ck_assert_int_eq(sp_partition_parse("regex:id=([\\d]+)", &p, &err), SP_OK);
    sp_partition_free(&p);
    ck_assert_int_eq(sp_partition_parse("regex:id=(\\w+)", &p, &err), SP_OK);
    sp_partition_free(&p);
}
END_TEST

/* Our MD5 against RFC 1321's test suite and against OpenSSL for every
 * length across the one- and two-block tails and a few blocks more. */
START_TEST(md5_matches)
{
    static const struct { const char *in, *hex; } rfc[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    uint8_t md[16], want[EVP_MAX_MD_SIZE];
    char hex[33];
    for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
        sp_md5(rfc[i].in, strlen(rfc[i].in), md);
        for (int j = 0; j < 16; j++)
            snprintf(hex + 2 * j, 3, "%02x", md[j]);
        ck_assert_str_eq(hex, rfc[i].hex);
    }
    unsigned char buf[300];
    sp_rng rng;
    sp_rng_seed_with(&rng, 7);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)sp_rng_next(&rng);
    for (size_t n = 0; n <= sizeof buf; n++) {
        unsigned int len = 0;
        ck_assert_int_eq(EVP_Digest(buf, n, want, &len, EVP_md5(), NULL), 1);
        sp_md5(buf, n, md);
        ck_assert_msg(memcmp(md, want, 16) == 0, "MD5 of %zu bytes differs from OpenSSL's", n);
        sp_u128 h = sp_hashkey(buf, n);
        for (int j = 0; j < 8; j++) {
            ck_assert_uint_eq((h.hi >> (56 - 8 * j)) & 0xff, want[j]);
            ck_assert_uint_eq((h.lo >> (56 - 8 * j)) & 0xff, want[8 + j]);
        }
    }
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
    tcase_add_test(tc, md5_matches);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("hostile");
    tcase_add_test(th, utf16_counting);
    tcase_add_test(th, fixed_key_utf16_limit);
    tcase_add_test(th, extracted_key_utf16_limit);
    tcase_add_test(th, back_references_refused);
    tcase_add_test(th, costly_patterns_refused);
    tcase_add_test(th, regex_match_window);
    tcase_add_test(th, unknown_escapes_refused);
    suite_add_tcase(s, th);
    return s;
}

SP_CHECK_MAIN(partition_suite)
