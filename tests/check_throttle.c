/* Token buckets and AIMD over simulated time. */
#include <math.h>

#include "check_util.h"
#include "shardpipe/throttle.h"

START_TEST(records_limit)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_bucket b;
    sp_bucket_init(&b, &c, 0);
    int n = 0;
    while (sp_bucket_take(&b, &c, 0, 10))
        n++;
    ck_assert_int_eq(n, 1000);              /* starts full: one second's worth */
    ck_assert_uint_eq(sp_bucket_wait_ms(&b, &c, 0, 10), 1);
    n = 0;
    while (sp_bucket_take(&b, &c, 500, 10))
        n++;
    ck_assert_int_eq(n, 500);               /* half a second refills half */
    /* Over ten simulated seconds, the rate is 1000/s. */
    n = 0;
    for (uint64_t t = 501; t <= 10500; t++)
        while (sp_bucket_take(&b, &c, t, 10))
            n++;
    ck_assert_int_ge(n, 9990);
    ck_assert_int_le(n, 10000);
}
END_TEST

START_TEST(bytes_limit)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_bucket b;
    sp_bucket_init(&b, &c, 0);
    /* 10 KB records: bytes bind first, ~104 a second. */
    int n = 0;
    uint64_t t;
    for (t = 0; t < 10000; t++)
        while (sp_bucket_take(&b, &c, t, 10240))
            n++;
    /* 1 MiB initial + 10 s * 1 MiB/s less the part-second at the end. */
    double expect = (1048576.0 * 11) / 10240.0;
    ck_assert(fabs(n - expect) <= 2.0);
    /* Both are taken together or not at all. */
    sp_bucket_init(&b, &c, 0);
    ck_assert(!sp_bucket_take(&b, &c, 0, 2u << 20));
    ck_assert(b.records == 1000.0);
}
END_TEST

START_TEST(large_records_pass)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    c.max_record_bytes = 10u << 20;
    sp_bucket b;
    sp_bucket_init(&b, &c, 0);
    ck_assert(sp_bucket_take(&b, &c, 0, 10u << 20));
    ck_assert(!sp_bucket_take(&b, &c, 0, 1));
    /* 10 s at 1 MiB/s refill it. */
    ck_assert_uint_eq(sp_bucket_wait_ms(&b, &c, 0, 10u << 20), 10000);
    ck_assert(sp_bucket_take(&b, &c, 10000, 10u << 20));
}
END_TEST

START_TEST(share_setting)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    c.share = 0.5;
    sp_bucket b;
    sp_bucket_init(&b, &c, 0);
    int n = 0;
    for (uint64_t t = 0; t <= 10000; t++)
        while (sp_bucket_take(&b, &c, t, 1))
            n++;
    ck_assert_int_ge(n, 5900);   /* 1000 initial + 5000 */
    ck_assert_int_le(n, 6001);
}
END_TEST

START_TEST(aimd)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_bucket b;
    sp_bucket_init(&b, &c, 0);
    sp_bucket_throttled(&b, &c, 0);
    ck_assert(fabs(b.rate - 0.7) < 1e-9);
    ck_assert(b.records == 0 && b.bytes == 0);
    sp_bucket_throttled(&b, &c, 50);        /* same burst: no second cut */
    ck_assert(fabs(b.rate - 0.7) < 1e-9);
    sp_bucket_throttled(&b, &c, 200);
    ck_assert(fabs(b.rate - 0.49) < 1e-9);
    for (int i = 0; i < 100; i++)
        sp_bucket_throttled(&b, &c, 1000 + 200 * (uint64_t)i);
    ck_assert(fabs(b.rate - c.min_share) < 1e-9); /* floor */
    uint64_t t = 1000 + 200 * 99;
    sp_bucket_ok(&b, &c, t + 500);           /* not quiet long enough */
    ck_assert(fabs(b.rate - c.min_share) < 1e-9);
    for (int i = 1; i <= 100; i++)
        sp_bucket_ok(&b, &c, t + 1000 * (uint64_t)i);
    ck_assert(fabs(b.rate - 1.0) < 1e-9);    /* back up, never above the share */
}
END_TEST

/* Two producers greedily sending to one shard that accepts 1000 records
 * a second: AIMD must take them to a fair split near full use. */
START_TEST(two_agents_share_fairly)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_bucket a[2];
    sp_bucket_init(&a[0], &c, 0);
    sp_bucket_init(&a[1], &c, 0);
    double server = 1000.0;           /* server-side tokens, 1000/s, burst 1000 */
    uint64_t sent[2] = {0, 0}, ok[2] = {0, 0}, late_ok = 0;
    uint64_t total_ms = 120000;
    for (uint64_t t = 0; t < total_ms; t += 10) {
        server = fmin(1000.0, server + 10.0);
        for (int i = 0; i < 2; i++) {
            int j = (int)((t / 10 + (uint64_t)i) % 2); /* alternate who goes first */
            int throttled = 0;
            while (sp_bucket_take(&a[j], &c, t, 100)) {
                sent[j]++;
                if (server >= 1.0) {
                    server -= 1.0;
                    ok[j]++;
                    if (t >= total_ms / 2)
                        late_ok++;
                    sp_bucket_ok(&a[j], &c, t);
                } else {
                    throttled = 1;
                    break;
                }
            }
            if (throttled)
                sp_bucket_throttled(&a[j], &c, t);
        }
    }
    double share0 = (double)ok[0] / (double)(ok[0] + ok[1]);
    ck_assert_msg(share0 > 0.35 && share0 < 0.65, "unfair split: %f", share0);
    /* The shard stays well used in the second half. */
    double use = (double)late_ok / (total_ms / 2 / 1000.0) / 1000.0;
    ck_assert_msg(use > 0.9, "shard use %f", use);
    double throttled = 1.0 - (double)(ok[0] + ok[1]) / (double)(sent[0] + sent[1]);
    ck_assert_msg(throttled < 0.02, "throttled %f", throttled);
}
END_TEST

static Suite *throttle_suite(void)
{
    Suite *s = suite_create("throttle");
    TCase *tc = tcase_create("bucket");
    tcase_add_test(tc, records_limit);
    tcase_add_test(tc, bytes_limit);
    tcase_add_test(tc, large_records_pass);
    tcase_add_test(tc, share_setting);
    tcase_add_test(tc, aimd);
    tcase_add_test(tc, two_agents_share_fairly);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(throttle_suite)
