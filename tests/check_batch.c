/* PutRecords request bodies: valid JSON that decodes back to the input,
 * and the record and byte caps counted as the service counts them. */
#include <string.h>
#include <json-c/json.h>

#include "check_util.h"
#include "shardpipe/base64.h"
#include "shardpipe/batch.h"

START_TEST(body_roundtrip)
{
    sp_batch b;
    sp_err err;
    sp_batch_init(&b, 500, 1 << 20);
    sp_batch_begin(&b, "logs");
    const char data1[] = {'a', '\0', '\n', (char)0xff, '"'};
    ck_assert_int_eq(sp_batch_add(&b, "k\"1", 3, NULL, data1, sizeof data1), SP_OK);
    sp_u128 ehk = {0, 42};
    ck_assert_int_eq(sp_batch_add(&b, "\xe6\x97\xa5", 3, &ehk, "", 0), SP_OK);
    ck_assert_int_eq(sp_batch_finish(&b, &err), SP_OK);
    ck_assert_uint_eq(b.n, 2);
    ck_assert_uint_eq(b.bytes, 3 + sizeof data1 + 3);
    json_object *j = json_tokener_parse(b.body.data);
    ck_assert_ptr_nonnull(j);
    json_object *v, *recs, *r;
    ck_assert(json_object_object_get_ex(j, "StreamName", &v));
    ck_assert_str_eq(json_object_get_string(v), "logs");
    ck_assert(json_object_object_get_ex(j, "Records", &recs));
    ck_assert_uint_eq(json_object_array_length(recs), 2);
    r = json_object_array_get_idx(recs, 0);
    ck_assert(json_object_object_get_ex(r, "Data", &v));
    char out[16];
    size_t outlen;
    ck_assert_int_eq(sp_base64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), out, &outlen), 0);
    ck_assert_uint_eq(outlen, sizeof data1);
    ck_assert_mem_eq(out, data1, sizeof data1);
    ck_assert(json_object_object_get_ex(r, "PartitionKey", &v));
    ck_assert_str_eq(json_object_get_string(v), "k\"1");
    ck_assert(!json_object_object_get_ex(r, "ExplicitHashKey", &v));
    r = json_object_array_get_idx(recs, 1);
    ck_assert(json_object_object_get_ex(r, "ExplicitHashKey", &v));
    ck_assert_str_eq(json_object_get_string(v), "42");
    ck_assert(json_object_object_get_ex(r, "PartitionKey", &v));
    ck_assert_str_eq(json_object_get_string(v), "\xe6\x97\xa5");
    json_object_put(j);
    sp_batch_free(&b);
}
END_TEST

/* Key escaping: the plain fast path and every kind of escape, as exact text. */
START_TEST(key_escapes)
{
    static const struct { const char *in; size_t n; const char *want; } cases[] = {
        {"abc-DEF_123 ~", 13, "\"abc-DEF_123 ~\""},
        {"", 0, "\"\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"\x01x\x1f\x7f", 4, "\"\\u0001x\\u001f\\u007f\""},
        {"ok\xff", 3, "\"ok\\u00ff\""},
        {"\xe6\x97\xa5z\xe6\x97", 6, "\"\xe6\x97\xa5z\\u00e6\\u0097\""},
        {"a\0b", 3, "\"a\\u0000b\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_buf b;
        sp_buf_init(&b, 1 << 10);
        sp_buf_puts(&b, "x");
        ck_assert_int_eq(sp_buf_json_str(&b, cases[i].in, cases[i].n), SP_OK);
        ck_assert_str_eq(b.data + 1, cases[i].want);
        ck_assert_uint_eq(b.len, 1 + strlen(cases[i].want));
        sp_buf_free(&b);
    }
}
END_TEST

START_TEST(caps)
{
    sp_batch b;
    sp_batch_init(&b, 3, 100);
    sp_batch_begin(&b, "s");
    /* The first record always fits: the record cap bounds it. */
    ck_assert(sp_batch_fits(&b, 10, 1000));
    sp_batch_add(&b, "k", 1, NULL, "0123456789", 10);
    ck_assert(sp_batch_fits(&b, 1, 88));     /* 11 + 89 = 100: at the cap */
    ck_assert(!sp_batch_fits(&b, 1, 89));    /* 101: over it */
    sp_batch_add(&b, "k", 1, NULL, "x", 1);
    sp_batch_add(&b, "k", 1, NULL, "x", 1);
    ck_assert(!sp_batch_fits(&b, 1, 1));     /* count cap */
    /* begin resets */
    sp_batch_begin(&b, "s");
    ck_assert_uint_eq(b.n, 0);
    ck_assert_uint_eq(b.bytes, 0);
    sp_batch_free(&b);
}
END_TEST

START_TEST(large_batch)
{
    /* 500 records of 10 KiB: the body is valid and ~4/3 the data. */
    sp_batch b;
    sp_err err;
    static char data[10240];
    memset(data, 'z', sizeof data);
    sp_batch_init(&b, 500, (size_t)10 << 20);
    sp_batch_begin(&b, "s");
    for (int i = 0; i < 500; i++) {
        ck_assert(sp_batch_fits(&b, 16, sizeof data));
        ck_assert_int_eq(sp_batch_add(&b, "0123456789abcdef", 16, NULL, data, sizeof data), SP_OK);
    }
    ck_assert(!sp_batch_fits(&b, 1, 1));
    ck_assert_int_eq(sp_batch_finish(&b, &err), SP_OK);
    ck_assert(b.body.len > 500 * sp_base64_encoded_len(sizeof data));
    json_object *j = json_tokener_parse(b.body.data);
    ck_assert_ptr_nonnull(j);
    json_object_put(j);
    sp_batch_free(&b);
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("body");
    tcase_add_test(tc, body_roundtrip);
    tcase_add_test(tc, caps);
    tcase_add_test(tc, key_escapes);
    tcase_add_test(tc, large_batch);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(batch_suite)
