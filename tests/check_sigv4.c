/* SigV4 against AWS's published IAM example and the Kinesis vector of
 * KINESIS.md §5.2, plus header normalisation, the key cache and the
 * session token. The botocore cross-check is tests/sigv4_botocore.py. */
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define AKID "AKIDEXAMPLE"

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* --- AWS's IAM example --------------------------------------------------- */

static const sp_sigv4_header iam_headers[] = {
    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
    {"Host", "iam.amazonaws.com"},
    {"X-Amz-Date", "20150830T123600Z"},
};

static const sp_sigv4_request iam_req = {
    .method = "GET",
    .path = "/",
    .query = "Action=ListUsers&Version=2010-05-08",
    .headers = iam_headers,
    .nheaders = 3,
    .payload = "",
    .payload_len = 0,
};

START_TEST(iam_canonical_hash)
{
    sp_buf b;
    sp_err err = {0};
    char h[65];
    sp_buf_init(&b, 0);
    ck_assert_int_eq(sp_sigv4_canonical_request(&iam_req, &b, &err), SP_OK);
    sp_sha256_hex(b.data, b.len, h);
    ck_assert_str_eq(h, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    sp_buf_free(&b);
}
END_TEST

START_TEST(iam_signing_key)
{
    unsigned char k[32];
    char h[65];
    sp_err err = {0};
    ck_assert_int_eq(sp_sigv4_signing_key(SECRET, "20150830", "us-east-1", "iam", k, &err),
                     SP_OK);
    hex(k, 32, h);
    ck_assert_str_eq(h, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}
END_TEST

START_TEST(iam_signature)
{
    char auth[SP_SIGV4_AUTH_MAX];
    sp_err err = {0};
    sp_sigv4_scope sc = {"us-east-1", "iam", "20150830T123600Z"};
    ck_assert_int_eq(sp_sigv4_sign(&iam_req, &sc, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_OK);
    ck_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
                           "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                           "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924"
                           "a6f2b5d7");
}
END_TEST

/* --- the Kinesis vector ------------------------------------------------------ */

#define K_BODY "{\"StreamName\":\"test\",\"Records\":[{\"Data\":\"aGVsbG8=\",\"PartitionKey\":\"a\"}]}"

static const sp_sigv4_header k_headers[] = {
    {"Content-Type", "application/x-amz-json-1.1"},
    {"Host", "kinesis.us-east-1.amazonaws.com"},
    {"X-Amz-Date", "20260101T000000Z"},
    {"X-Amz-Target", "Kinesis_20131202.PutRecords"},
};

static sp_sigv4_request k_req(const sp_sigv4_header *h, size_t n)
{
    sp_sigv4_request r = {"POST", "/", "", h, n, K_BODY, sizeof K_BODY - 1};
    return r;
}

static const sp_sigv4_scope k_scope = {"us-east-1", "kinesis", "20260101T000000Z"};

static const char k_canonical[] =
    "POST\n/\n\n"
    "content-type:application/x-amz-json-1.1\n"
    "host:kinesis.us-east-1.amazonaws.com\n"
    "x-amz-date:20260101T000000Z\n"
    "x-amz-target:Kinesis_20131202.PutRecords\n"
    "\n"
    "content-type;host;x-amz-date;x-amz-target\n"
    "de7bdee8d306f19219a45f9970d1cbb13368806b8ceb34e8779bf100964f08f7";

#define K_SIG "7d3892c80b069a2e5b29fe03c42725bfdcb3364ca7b2bb89a3bacaef8291ae83"
#define K_AUTH "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kinesis/" \
               "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, " \
               "Signature=" K_SIG

START_TEST(kinesis_vector)
{
    char h[65], auth[SP_SIGV4_AUTH_MAX];
    unsigned char key[32];
    sp_err err = {0};
    sp_buf b;

    ck_assert_int_eq(sizeof K_BODY - 1, 72);
    sp_sha256_hex(K_BODY, sizeof K_BODY - 1, h);
    ck_assert_str_eq(h, "de7bdee8d306f19219a45f9970d1cbb13368806b8ceb34e8779bf100964f08f7");

    sp_sigv4_request r = k_req(k_headers, 4);
    sp_buf_init(&b, 0);
    ck_assert_int_eq(sp_sigv4_canonical_request(&r, &b, &err), SP_OK);
    ck_assert_str_eq(b.data, k_canonical);
    sp_sha256_hex(b.data, b.len, h);
    ck_assert_str_eq(h, "0bb2b82f34a27f1c4ae0b5adaf66b818375c25abd19ae0b557872a6510f0f907");
    sp_buf_free(&b);

    ck_assert_int_eq(sp_sigv4_signing_key(SECRET, "20260101", "us-east-1", "kinesis", key, &err),
                     SP_OK);
    hex(key, 32, h);
    ck_assert_str_eq(h, "0cc656bd5784d7d331f166f9dfd3be5c3b69031344eb4aa784818d6b66a0b97f");

    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_OK);
    ck_assert_str_eq(auth, K_AUTH);
}
END_TEST

START_TEST(helpers)
{
    char d[SP_AMZ_DATE_LEN + 1], h[65];
    sp_sigv4_amz_date(0, d);
    ck_assert_str_eq(d, "19700101T000000Z");
    sp_sigv4_amz_date(1767225600, d);
    ck_assert_str_eq(d, "20260101T000000Z");
    sp_sigv4_amz_date(1709251199, d);   /* leap day, last second */
    ck_assert_str_eq(d, "20240229T235959Z");
    sp_sha256_hex(NULL, 0, h);
    ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

/* --- header normalisation ---------------------------------------------------- */

START_TEST(normalised_headers_sign_the_same)
{
    /* Shuffled, odd case, padding, inner runs of blanks and tabs. */
    static const sp_sigv4_header messy[] = {
        {"x-AMZ-target", "  Kinesis_20131202.PutRecords\t "},
        {"HOST", "\tkinesis.us-east-1.amazonaws.com"},
        {"content-type", "application/x-amz-json-1.1   "},
        {"X-Amz-Date", " 20260101T000000Z"},
    };
    char auth[SP_SIGV4_AUTH_MAX];
    sp_err err = {0};
    sp_buf b;
    sp_sigv4_request r = k_req(messy, 4);
    sp_buf_init(&b, 0);
    ck_assert_int_eq(sp_sigv4_canonical_request(&r, &b, &err), SP_OK);
    ck_assert_str_eq(b.data, k_canonical);
    sp_buf_free(&b);
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_OK);
    ck_assert_str_eq(auth, K_AUTH);
}
END_TEST

START_TEST(inner_whitespace_collapsed)
{
    static const sp_sigv4_header h[] = {
        {"Host", "h"}, {"X-Amz-Date", "20260101T000000Z"},
        {"X-Odd", "  a   b\t\tc \t d  "}, {"X-Empty", "   "},
    };
    sp_sigv4_request r = {"POST", "/", "", h, 4, "", 0};
    sp_err err = {0};
    sp_buf b;
    sp_buf_init(&b, 0);
    ck_assert_int_eq(sp_sigv4_canonical_request(&r, &b, &err), SP_OK);
    ck_assert_ptr_nonnull(strstr(b.data, "\nx-empty:\nx-odd:a b c d\n\nhost;x-amz-date;x-empty;x-odd\n"));
    sp_buf_free(&b);
}
END_TEST

START_TEST(sorted_by_name_only)
{
    /* Sorting "name:value" lines would put x-amz-meta-test-two first
     * ('-' < ':'); by name, the shorter name comes first. */
    static const sp_sigv4_header h[] = {
        {"X-Amz-Meta-Test-Two", "2"}, {"X-Amz-Meta-Test", "1"},
        {"Host", "h"}, {"X-Amz-Date", "20260101T000000Z"},
    };
    sp_sigv4_request r = {"POST", "/", "", h, 4, "", 0};
    sp_err err = {0};
    sp_buf b;
    sp_buf_init(&b, 0);
    ck_assert_int_eq(sp_sigv4_canonical_request(&r, &b, &err), SP_OK);
    ck_assert_ptr_nonnull(strstr(b.data, "x-amz-meta-test:1\nx-amz-meta-test-two:2\n\n"
                                         "host;x-amz-date;x-amz-meta-test;x-amz-meta-test-two\n"));
    sp_buf_free(&b);
}
END_TEST

START_TEST(repeated_header_joined)
{
    static const sp_sigv4_header h[] = {
        {"X-Multi", " b "}, {"Host", "h"}, {"x-multi", "a  a"},
        {"X-Amz-Date", "20260101T000000Z"}, {"X-MULTI", "c"},
    };
    sp_sigv4_request r = {"POST", "/", "", h, 5, "", 0};
    sp_err err = {0};
    sp_buf b;
    sp_buf_init(&b, 0);
    ck_assert_int_eq(sp_sigv4_canonical_request(&r, &b, &err), SP_OK);
    /* In the order given, one line, one SignedHeaders entry. */
    ck_assert_ptr_nonnull(strstr(b.data, "\nx-multi:b,a a,c\n\nhost;x-amz-date;x-multi\n"));
    sp_buf_free(&b);
}
END_TEST

START_TEST(bad_requests)
{
    char auth[SP_SIGV4_AUTH_MAX];
    sp_err err = {0};
    sp_sigv4_request r = k_req(k_headers, 4);

    static const sp_sigv4_header crlf[] = {
        {"Host", "h"}, {"X-Amz-Date", "20260101T000000Z"},
        {"X-Amz-Security-Token", "tok-SEKRIT\r\nX-Evil: 1"},
    };
    sp_sigv4_request bad = {"POST", "/", "", crlf, 3, "", 0};
    ck_assert_int_eq(sp_sigv4_sign(&bad, &k_scope, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_ERR);
    ck_assert_ptr_null(strstr(err.msg, "SEKRIT"));
    ck_assert_ptr_nonnull(strstr(err.msg, "control character"));
    ck_assert_str_eq(auth, "");

    static const sp_sigv4_header noname[] = {{"Host", "h"}, {"Bad Name", "x"}};
    bad.headers = noname;
    bad.nheaders = 2;
    ck_assert_int_eq(sp_sigv4_sign(&bad, &k_scope, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_ERR);

    /* host and x-amz-date are required, and the date must be the scope's */
    static const sp_sigv4_header nohost[] = {{"X-Amz-Date", "20260101T000000Z"}};
    bad.headers = nohost;
    bad.nheaders = 1;
    ck_assert_int_eq(sp_sigv4_sign(&bad, &k_scope, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "Host"));
    static const sp_sigv4_header nodate[] = {{"Host", "h"}};
    bad.headers = nodate;
    ck_assert_int_eq(sp_sigv4_sign(&bad, &k_scope, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "X-Amz-Date"));
    sp_sigv4_scope other = {"us-east-1", "kinesis", "20260101T000001Z"};
    ck_assert_int_eq(sp_sigv4_sign(&r, &other, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_ERR);
    sp_sigv4_scope baddate = {"us-east-1", "kinesis", "2026-01-01T00:00"};
    ck_assert_int_eq(sp_sigv4_sign(&r, &baddate, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_ERR);
    sp_sigv4_scope badregion = {"us/east", "kinesis", "20260101T000000Z"};
    ck_assert_int_eq(sp_sigv4_sign(&r, &badregion, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_ERR);

    /* The secret passed as the key id: refused, and not repeated. */
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, SECRET, SECRET, NULL, auth, sizeof auth, &err),
                     SP_ERR);
    ck_assert_ptr_null(strstr(err.msg, SECRET));
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, "", NULL, auth, sizeof auth, &err),
                     SP_ERR);

    /* Too small an output buffer is an error, never a cut header. */
    char small[100];
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, NULL, small, sizeof small, &err),
                     SP_ERR);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, NULL, auth, sizeof K_AUTH, &err),
                     SP_OK);
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, NULL, auth, sizeof K_AUTH - 1,
                                   &err),
                     SP_ERR);
}
END_TEST

/* --- the signing key cache ----------------------------------------------------- */

START_TEST(cache_reused_and_invalidated)
{
    char auth[SP_SIGV4_AUTH_MAX];
    sp_err err = {0};
    sp_sigv4_cache c;
    memset(&c, 0, sizeof c);
    sp_sigv4_request r = k_req(k_headers, 4);

    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, &c, auth, sizeof auth, &err),
                     SP_OK);
    ck_assert_str_eq(auth, K_AUTH);
    ck_assert_int_eq(c.valid, 1);
    ck_assert_str_eq(c.date, "20260101");
    ck_assert_str_eq(c.region, "us-east-1");
    ck_assert_str_eq(c.service, "kinesis");
    /* The cache holds a digest of the secret, never the secret. */
    ck_assert_ptr_null(memmem(&c, sizeof c, SECRET, 8));

    /* Poison the cached key: a signature that changes proves it is used. */
    unsigned char good[32];
    memcpy(good, c.key, 32);
    c.key[0] ^= 1;
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, &c, auth, sizeof auth, &err),
                     SP_OK);
    ck_assert_ptr_null(strstr(auth, K_SIG));
    ck_assert_ptr_nonnull(strstr(auth, "Credential=AKIDEXAMPLE/20260101/"));

    /* Another secret: the cache is not used, and is replaced. */
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET "x", &c, auth, sizeof auth, &err),
                     SP_OK);
    ck_assert_ptr_null(strstr(auth, K_SIG));
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, &c, auth, sizeof auth, &err),
                     SP_OK);
    ck_assert_str_eq(auth, K_AUTH);
    ck_assert_mem_eq(c.key, good, 32);

    /* Another region, and another day, also replace it. */
    static const sp_sigv4_header h2[] = {
        {"Host", "kinesis.eu-west-1.amazonaws.com"}, {"X-Amz-Date", "20260102T000000Z"},
    };
    sp_sigv4_request r2 = k_req(h2, 2);
    sp_sigv4_scope eu = {"eu-west-1", "kinesis", "20260102T000000Z"};
    c.key[0] ^= 1;
    ck_assert_int_eq(sp_sigv4_sign(&r2, &eu, AKID, SECRET, &c, auth, sizeof auth, &err), SP_OK);
    ck_assert_str_eq(c.region, "eu-west-1");
    ck_assert_str_eq(c.date, "20260102");
    unsigned char want[32];
    ck_assert_int_eq(sp_sigv4_signing_key(SECRET, "20260102", "eu-west-1", "kinesis", want, &err),
                     SP_OK);
    ck_assert_mem_eq(c.key, want, 32);
    char uncached[SP_SIGV4_AUTH_MAX];
    ck_assert_int_eq(sp_sigv4_sign(&r2, &eu, AKID, SECRET, NULL, uncached, sizeof uncached, &err),
                     SP_OK);
    ck_assert_str_eq(auth, uncached);

    sp_sigv4_cache_clear(&c);
    static const sp_sigv4_cache zero;
    ck_assert_mem_eq(&c, &zero, sizeof c);
}
END_TEST

/* --- session token ----------------------------------------------------------- */

START_TEST(session_token_signed)
{
    /* Expected values computed with Python hashlib/hmac. */
    static const sp_sigv4_header h[] = {
        {"Content-Type", "application/x-amz-json-1.1"},
        {"Host", "kinesis.us-east-1.amazonaws.com"},
        {"X-Amz-Date", "20260101T000000Z"},
        {"X-Amz-Target", "Kinesis_20131202.PutRecords"},
        {"X-Amz-Security-Token", "IQoJb3JpZ2luX2VjEXAMPLE+TOKEN/abc=="},
    };
    char auth[SP_SIGV4_AUTH_MAX], hash[65];
    sp_err err = {0};
    sp_buf b;
    sp_sigv4_request r = k_req(h, 5);
    sp_buf_init(&b, 0);
    ck_assert_int_eq(sp_sigv4_canonical_request(&r, &b, &err), SP_OK);
    ck_assert_ptr_nonnull(strstr(b.data, "\nx-amz-security-token:IQoJb3JpZ2luX2VjEXAMPLE+TOKEN/abc==\n"));
    sp_sha256_hex(b.data, b.len, hash);
    ck_assert_str_eq(hash, "33ea51f91f8dce51b79386d89c14a79ba24ffa7d8e5c392fe8c4caa20db89ad9");
    sp_buf_free(&b);
    ck_assert_int_eq(sp_sigv4_sign(&r, &k_scope, AKID, SECRET, NULL, auth, sizeof auth, &err),
                     SP_OK);
    ck_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kinesis/"
                           "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                           "x-amz-security-token;x-amz-target, Signature=8ea0268d873a3e06cc813c"
                           "8087e03345569af659fe3c2aa880af282272562293");
}
END_TEST

static Suite *sigv4_suite(void)
{
    Suite *s = suite_create("sigv4");
    TCase *t = tcase_create("vectors");
    tcase_add_test(t, iam_canonical_hash);
    tcase_add_test(t, iam_signing_key);
    tcase_add_test(t, iam_signature);
    tcase_add_test(t, kinesis_vector);
    tcase_add_test(t, helpers);
    tcase_add_test(t, session_token_signed);
    suite_add_tcase(s, t);
    t = tcase_create("headers");
    tcase_add_test(t, normalised_headers_sign_the_same);
    tcase_add_test(t, inner_whitespace_collapsed);
    tcase_add_test(t, sorted_by_name_only);
    tcase_add_test(t, repeated_header_joined);
    tcase_add_test(t, bad_requests);
    suite_add_tcase(s, t);
    t = tcase_create("cache");
    tcase_add_test(t, cache_reused_and_invalidated);
    suite_add_tcase(s, t);
    return s;
}

SP_CHECK_MAIN(sigv4_suite)
