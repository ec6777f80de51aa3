/* base64: RFC 4648 vectors, round trips against OpenSSL's encoder as an
 * independent reference, and strict rejection of malformed input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "check_util.h"
#include "shardpipe/base64.h"
#include "shardpipe/rng.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes into a buffer of exactly the announced size (so ASan sees any
 * overrun) and returns it NUL-terminated in a second copy. */
static char *enc(const void *in, size_t n)
{
    size_t m = sp_base64_encoded_len(n);
    char *exact = malloc(m ? m : 1);
    char *s = malloc(m + 1);
    ck_assert_ptr_nonnull(exact);
    ck_assert_ptr_nonnull(s);
    sp_base64_encode(in, n, exact);
    memcpy(s, exact, m);
    s[m] = '\0';
    free(exact);
    return s;
}

/* Decodes into a buffer of exactly decoded_max bytes. Returns the result
 * of sp_base64_decode; *out is malloc'd (caller frees) on success. */
static int dec(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
    size_t m = sp_base64_decoded_max(n);
    unsigned char *b = malloc(m ? m : 1);
    ck_assert_ptr_nonnull(b);
    int rc = sp_base64_decode(in, n, b, outlen);
    if (rc != 0) {
        free(b);
        *out = NULL;
        return rc;
    }
    ck_assert_uint_le(*outlen, m);
    *out = b;
    return rc;
}

static int dec_ok(const char *s)
{
    unsigned char *b;
    size_t n;
    int rc = dec(s, strlen(s), &b, &n);
    free(b);
    return rc == 0;
}

START_TEST(test_rfc4648_vectors)
{
    static const struct { const char *plain, *b64; } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *e = enc(v[i].plain, strlen(v[i].plain));
        ck_assert_str_eq(e, v[i].b64);
        free(e);

        unsigned char *d;
        size_t n;
        ck_assert_int_eq(dec(v[i].b64, strlen(v[i].b64), &d, &n), 0);
        ck_assert_uint_eq(n, strlen(v[i].plain));
        ck_assert(memcmp(d, v[i].plain, n) == 0);
        free(d);
    }
}
END_TEST

START_TEST(test_lengths)
{
    static const size_t want[] = {0, 4, 4, 4, 8, 8, 8, 12, 12, 12, 16};
    for (size_t n = 0; n < sizeof want / sizeof want[0]; n++)
        ck_assert_uint_eq(sp_base64_encoded_len(n), want[n]);
    ck_assert_uint_eq(sp_base64_encoded_len(1048576), 1398104);
    ck_assert_uint_eq(sp_base64_encoded_len(10485760), 13981016);
    /* Absurd sizes saturate instead of wrapping. */
    ck_assert_uint_eq(sp_base64_encoded_len(SIZE_MAX), SIZE_MAX);
    ck_assert_uint_eq(sp_base64_encoded_len(SIZE_MAX / 4 * 3 + 3), SIZE_MAX);
    ck_assert_uint_eq(sp_base64_encoded_len(SIZE_MAX / 4 * 3), SIZE_MAX / 4 * 4);

    ck_assert_uint_eq(sp_base64_decoded_max(0), 0);
    ck_assert_uint_eq(sp_base64_decoded_max(4), 3);
    ck_assert_uint_eq(sp_base64_decoded_max(8), 6);
    ck_assert_uint_eq(sp_base64_decoded_max(1398104), 1048578);
}
END_TEST

/* Every length 0..300 with random bytes: our encoder agrees with
 * OpenSSL's EVP_EncodeBlock, and decoding gives the bytes back. */
START_TEST(test_roundtrip_random_all_lengths)
{
    sp_rng r;
    sp_rng_seed_with(&r, 4648);
    unsigned char in[301], ref[410];
    for (int round = 0; round < 4; round++) {
        for (size_t n = 0; n <= 300; n++) {
            for (size_t i = 0; i < n; i++)
                in[i] = (unsigned char)sp_rng_next(&r);
            char *e = enc(in, n);
            int rl = EVP_EncodeBlock(ref, in, (int)n);
            ck_assert_int_eq(rl, (int)strlen(e));
            ck_assert_str_eq(e, (char *)ref);
            ck_assert_uint_eq(strlen(e), sp_base64_encoded_len(n));

            unsigned char *d;
            size_t dn;
            ck_assert_int_eq(dec(e, strlen(e), &d, &dn), 0);
            ck_assert_uint_eq(dn, n);
            ck_assert(n == 0 || memcmp(d, in, n) == 0);
            free(d);
            free(e);
        }
    }
}
END_TEST

START_TEST(test_all_byte_values)
{
    unsigned char in[256];
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    /* Every starting offset, so each byte value lands at each position
     * within a 3-byte group, and each tail length occurs. */
    for (size_t off = 0; off < 3; off++) {
        for (size_t n = 250; n <= 256 - off; n++) {
            char *e = enc(in + off, n);
            unsigned char *d;
            size_t dn;
            ck_assert_int_eq(dec(e, strlen(e), &d, &dn), 0);
            ck_assert_uint_eq(dn, n);
            ck_assert(memcmp(d, in + off, n) == 0);
            free(d);
            free(e);
        }
    }
}
END_TEST

START_TEST(test_large)
{
    size_t n = 3 * 1024 * 1024 + 2;
    unsigned char *in = malloc(n);
    ck_assert_ptr_nonnull(in);
    sp_rng r;
    sp_rng_seed_with(&r, 7);
    for (size_t i = 0; i < n; i++)
        in[i] = (unsigned char)(sp_rng_next(&r) >> 56);
    char *e = enc(in, n);
    unsigned char *ref = malloc(sp_base64_encoded_len(n) + 1);
    ck_assert_ptr_nonnull(ref);
    EVP_EncodeBlock(ref, in, (int)n);
    ck_assert(strcmp(e, (char *)ref) == 0);
    unsigned char *d;
    size_t dn;
    ck_assert_int_eq(dec(e, strlen(e), &d, &dn), 0);
    ck_assert_uint_eq(dn, n);
    ck_assert(memcmp(d, in, n) == 0);
    free(d);
    free(ref);
    free(e);
    free(in);
}
END_TEST

START_TEST(test_malformed)
{
    static const char *bad[] = {
        "Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg=",          /* length % 4 */
        "Zm9v!A==", "Zm 9v", "Zm9v\nZm9v", "Zm9\t",     /* outside the alphabet */
        "Zm-v", "Zm_v", "Zm9v.===",                     /* base64url, '.' */
        "====", "Z===", "=Zg=", "Z=g=", "Zg=A",         /* padding misplaced */
        "Zg==Zm9v", "Zm8=Zm9v", "Zm9v====",             /* padding before the end */
        "Zh==", "Zm9=", "QR==", "AB==", "AAB=", "//==", /* nonzero unused bits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!dec_ok(bad[i]), "accepted \"%s\"", bad[i]);

    /* Bytes a C string cannot hold: NUL and high bytes inside a quantum. */
    static const char nul[] = {'Z', 'm', '\0', 'v'};
    static const char hi[] = {'Z', 'm', (char)0xc3, (char)0xa9};
    static const char ff[] = {'Z', 'm', '9', (char)0xff};
    unsigned char out[3];
    size_t n;
    ck_assert_int_eq(sp_base64_decode(nul, 4, out, &n), -1);
    ck_assert_int_eq(sp_base64_decode(hi, 4, out, &n), -1);
    ck_assert_int_eq(sp_base64_decode(ff, 4, out, &n), -1);

    /* Canonical neighbours of the rejected ones are accepted. */
    static const char *good[] = {"Zg==", "Zm8=", "QQ==", "AA==", "AAA=", "/w==", "//8=", "////"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(dec_ok(good[i]), "rejected \"%s\"", good[i]);
}
END_TEST

/* Accepted exactly when canonical: decode succeeds iff re-encoding the
 * result gives the input back. Exhaustive over every padded final
 * quantum, every character in every position of one quantum, and random
 * strings over the alphabet plus '=' and some bad bytes. */
static void check_canonical(const char *s, size_t n)
{
    unsigned char *d;
    size_t dn;
    int rc = dec(s, n, &d, &dn);
    int canonical = 0;
    if (rc == 0) {
        char *e = enc(d, dn);
        canonical = strlen(e) == n && memcmp(e, s, n) == 0;
        free(e);
        free(d);
        ck_assert_msg(canonical, "accepted non-canonical \"%.*s\"", (int)n, s);
    }
}

START_TEST(test_accepts_only_canonical)
{
    char q[8];
    for (int a = 0; a < 64; a++)
        for (int b = 0; b < 64; b++) {
            q[0] = alphabet[a];
            q[1] = alphabet[b];
            q[2] = q[3] = '=';
            check_canonical(q, 4);
            /* exactly the b with zero low 4 bits decode */
            ck_assert_int_eq(dec_ok((char[]){q[0], q[1], '=', '=', 0}), (b & 15) == 0);
            for (int c = 0; c < 64; c++) {
                q[2] = alphabet[c];
                q[3] = '=';
                check_canonical(q, 4);
            }
        }

    /* Every byte value in each position of "Zm9vYmFy". */
    for (int pos = 0; pos < 8; pos++)
        for (int ch = 0; ch < 256; ch++) {
            memcpy(q, "Zm9vYmFy", 8);
            q[pos] = (char)ch;
            unsigned char *d;
            size_t dn;
            int rc = dec(q, 8, &d, &dn);
            int valid = memchr(alphabet, ch, 64) != NULL && ch != 0;
            if (pos == 7 && ch == '=')
                valid = 0;   /* "Zm9vYmF=": F has nonzero unused bits */
            ck_assert_msg((rc == 0) == valid, "pos %d byte %d", pos, ch);
            if (rc == 0)
                free(d);
            check_canonical(q, 8);
        }

    static const char pool[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                               "======= -_\n";
    sp_rng r;
    sp_rng_seed_with(&r, 99);
    char s[12];
    for (int i = 0; i < 200000; i++) {
        size_t n = 4 * (1 + sp_rng_below(&r, 3));
        for (size_t k = 0; k < n; k++)
            s[k] = pool[sp_rng_below(&r, sizeof pool - 1)];
        check_canonical(s, n);
    }
}
END_TEST

START_TEST(test_decode_empty)
{
    unsigned char out[1] = {0xaa};
    size_t n = 123;
    ck_assert_int_eq(sp_base64_decode("", 0, out, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(out[0], 0xaa);
}
END_TEST

static Suite *base64_suite(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rfc4648_vectors);
    tcase_add_test(tc, test_lengths);
    tcase_add_test(tc, test_roundtrip_random_all_lengths);
    tcase_add_test(tc, test_all_byte_values);
    tcase_add_test(tc, test_large);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_accepts_only_canonical);
    tcase_add_test(tc, test_decode_empty);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(base64_suite)
