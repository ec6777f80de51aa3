/* The fixed table of failures by error code. */
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/errcount.h"

START_TEST(counts_by_code)
{
    sp_errcount t = {0};
    uint64_t v = 0;
    ck_assert_uint_eq(sp_errcount_size(&t), 0);
    ck_assert_ptr_null(sp_errcount_at(&t, 0, &v));
    sp_errcount_add(&t, "ProvisionedThroughputExceededException", 3);
    sp_errcount_add(&t, "InternalFailure", 1);
    sp_errcount_add(&t, "ProvisionedThroughputExceededException", 2);
    sp_errcount_add(&t, NULL, 1);
    ck_assert_uint_eq(sp_errcount_size(&t), 3);
    ck_assert_str_eq(sp_errcount_at(&t, 0, &v), "ProvisionedThroughputExceededException");
    ck_assert_uint_eq(v, 5);
    ck_assert_str_eq(sp_errcount_at(&t, 1, &v), "InternalFailure");
    ck_assert_uint_eq(v, 1);
    ck_assert_str_eq(sp_errcount_at(&t, 2, &v), "Unknown");
    ck_assert_uint_eq(v, 1);
    ck_assert_ptr_null(sp_errcount_at(&t, 3, &v));
}
END_TEST

START_TEST(full_table_counts_other)
{
    sp_errcount t = {0};
    char code[32];
    uint64_t v = 0;
    for (int i = 0; i < SP_ERRCOUNT_SLOTS; i++) {
        snprintf(code, sizeof code, "Code%d", i);
        sp_errcount_add(&t, code, 1);
    }
    ck_assert_uint_eq(sp_errcount_size(&t), SP_ERRCOUNT_SLOTS);
    ck_assert_ptr_null(sp_errcount_at(&t, SP_ERRCOUNT_SLOTS, &v));
    sp_errcount_add(&t, "Code3", 4);        /* a known code still has its slot */
    sp_errcount_add(&t, "Late", 2);
    sp_errcount_add(&t, "Later", 5);
    ck_assert_uint_eq(sp_errcount_size(&t), SP_ERRCOUNT_SLOTS + 1);
    ck_assert_str_eq(sp_errcount_at(&t, 3, &v), "Code3");
    ck_assert_uint_eq(v, 5);
    ck_assert_str_eq(sp_errcount_at(&t, SP_ERRCOUNT_SLOTS, &v), SP_ERRCOUNT_OTHER);
    ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(long_code_is_cut)
{
    sp_errcount t = {0};
    char code[200];
    uint64_t v = 0;
    memset(code, 'A', sizeof code - 1);
    code[sizeof code - 1] = '\0';
    sp_errcount_add(&t, code, 1);
    sp_errcount_add(&t, code, 1);
    ck_assert_uint_eq(sp_errcount_size(&t), 1);
    ck_assert_uint_eq(strlen(sp_errcount_at(&t, 0, &v)), SP_ERRCOUNT_CODE - 1);
    ck_assert_uint_eq(v, 2);
}
END_TEST

static Suite *errcount_suite(void)
{
    Suite *s = suite_create("errcount");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counts_by_code);
    tcase_add_test(tc, full_table_counts_other);
    tcase_add_test(tc, long_code_is_cut);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(errcount_suite)
