/* The per-shard sliding window and AIMD, over simulated time. */
#include <math.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/throttle.h"

/* A model of the service: a rolling one-second window per shard. */
typedef struct server {
    uint64_t t[20000];
    size_t head, n;
    double limit;
} server;

static int server_admit(server *s, uint64_t now)
{
    while (s->n && s->t[s->head] + 1000 <= now) {
        s->head = (s->head + 1) % 20000;
        s->n--;
    }
    if ((double)s->n + 1 > s->limit)
        return 0;
    s->t[(s->head + s->n) % 20000] = now;
    s->n++;
    return 1;
}

/* Takes as much as the window allows at every millisecond of [from, to). */
static int fill(sp_window *b, const sp_throttle_cfg *c, uint64_t from, uint64_t to, size_t bytes)
{
    int n = 0;
    for (uint64_t t = from; t < to; t++)
        while (sp_window_take(b, c, t, bytes))
            n++;
    return n;
}

START_TEST(records_limit)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_window b;
    sp_window_init(&b, &c, 0);
    int n = 0;
    while (sp_window_take(&b, &c, 0, 10))
        n++;
    ck_assert_int_eq(n, 100);                /* paced: a tenth of the second per slot */
    ck_assert_uint_eq(sp_window_wait_ms(&b, &c, 10, 10), 15); /* the next slot */
    n += fill(&b, &c, 1, 400, 10);
    ck_assert_int_eq(n, 1000);               /* one second's worth, in a quarter second */
    ck_assert(!sp_window_take(&b, &c, 500, 10)); /* still inside the window */
    /* They leave the window a whole slot late, never early. */
    ck_assert_uint_eq(sp_window_wait_ms(&b, &c, 500, 10), 1025 - 500);
    ck_assert(!sp_window_take(&b, &c, 1000, 10));
    ck_assert(sp_window_take(&b, &c, 1025, 10));
    /* Over ten simulated seconds, spread out: 1000 a second at most. */
    sp_window_init(&b, &c, 0);
    server sv = {.limit = 1000};
    n = 0;
    int refused = 0;
    for (uint64_t t = 0; t < 10000; t++) {
        while (sp_window_take(&b, &c, t, 10)) {
            n++;
            refused += !server_admit(&sv, t);
        }
    }
    ck_assert_int_ge(n, 9500);
    ck_assert_int_le(n, 10000);
    ck_assert_int_eq(refused, 0);            /* the service never has to say no */
}
END_TEST

/* Records count longer by hold_ms: the service counts from arrival. */
START_TEST(hold_for_transit)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_window b;
    sp_window_init(&b, &c, 0);
    b.hold_ms = 200;
    ck_assert_int_eq(fill(&b, &c, 0, 300, 10), 1000);
    ck_assert_uint_eq(sp_window_wait_ms(&b, &c, 500, 10), 1225 - 500);
    ck_assert(!sp_window_take(&b, &c, 1100, 10));
    ck_assert(sp_window_take(&b, &c, 1225, 10));
    b.hold_ms = 5000;                        /* capped: the ring keeps at most SP_HOLD_MAX_MS */
    ck_assert_uint_le(sp_window_wait_ms(&b, &c, 1225, 10), 1025 + SP_HOLD_MAX_MS);
}
END_TEST

START_TEST(bytes_limit)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_window b;
    sp_window_init(&b, &c, 0);
    /* 10 KB records: bytes bind first, 102 in a second, 10 per slot. */
    int n = 0;
    while (sp_window_take(&b, &c, 0, 10240))
        n++;
    ck_assert_int_eq(n, 10);
    n += fill(&b, &c, 1, 500, 10240);
    ck_assert_int_eq(n, 102);
    /* Both are taken together or not at all. */
    ck_assert(!sp_window_take(&b, &c, 0, 10240));
    ck_assert_uint_eq(b.records, 102);
    sp_window_init(&b, &c, 0);
    n = 0;
    for (uint64_t t = 0; t < 10000; t++)
        while (sp_window_take(&b, &c, t, 10240))
            n++;
    ck_assert_int_ge(n, 980);
    ck_assert_int_le(n, 1024);
}
END_TEST

START_TEST(large_records_pass)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    c.max_record_bytes = 10u << 20;
    sp_window b;
    sp_window_init(&b, &c, 0);
    ck_assert(sp_window_take(&b, &c, 0, 10u << 20)); /* alone in an empty window */
    ck_assert(!sp_window_take(&b, &c, 0, 1));
    ck_assert(!sp_window_take(&b, &c, 500, 10u << 20));
    ck_assert_uint_eq(sp_window_wait_ms(&b, &c, 0, 1), 1025);
    ck_assert(sp_window_take(&b, &c, 1025, 10u << 20));
}
END_TEST

START_TEST(share_setting)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    c.share = 0.5;
    sp_window b;
    sp_window_init(&b, &c, 0);
    int n = 0;
    for (uint64_t t = 0; t < 10000; t++)
        while (sp_window_take(&b, &c, t, 1))
            n++;
    ck_assert_int_ge(n, 4750);
    ck_assert_int_le(n, 5000);
}
END_TEST

START_TEST(aimd)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_window b;
    sp_window_init(&b, &c, 0);
    sp_window_throttled(&b, &c, 1000, 990);
    ck_assert(fabs(b.rate - 0.7) < 1e-9);
    sp_window_throttled(&b, &c, 1050, 995);  /* sent before the cut: the same overload */
    ck_assert(fabs(b.rate - 0.7) < 1e-9);
    sp_window_throttled(&b, &c, 1060, 1010); /* sent after, but too soon after the cut */
    ck_assert(fabs(b.rate - 0.7) < 1e-9);
    sp_window_throttled(&b, &c, 1300, 1200); /* a new overload at the new rate */
    ck_assert(fabs(b.rate - 0.49) < 1e-9);
    for (int i = 0; i < 100; i++)
        sp_window_throttled(&b, &c, 2000 + 1000 * (uint64_t)i, 2000 + 1000 * (uint64_t)i);
    ck_assert(fabs(b.rate - c.min_share) < 1e-9); /* floor */
    uint64_t t = 2000 + 1000 * 99;
    sp_window_ok(&b, &c, t + 500);           /* not quiet long enough */
    ck_assert(fabs(b.rate - c.min_share) < 1e-9);
    for (int i = 1; i <= 100; i++)
        sp_window_ok(&b, &c, t + 1000 * (uint64_t)i);
    ck_assert(fabs(b.rate - 1.0) < 1e-9);    /* back up, never above the share */
    /* The window follows the rate. */
    sp_window_init(&b, &c, 0);
    b.rate = 0.5;
    ck_assert_int_eq(fill(&b, &c, 0, 1000, 1), 500);
}
END_TEST

/* Two producers greedily sending to one shard that a model of the service
 * limits to 1000 records in any rolling second: AIMD must take them to a
 * fair split, the shard well used, few records refused. */
START_TEST(two_agents_share_fairly)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_window a[2];
    sp_window_init(&a[0], &c, 0);
    sp_window_init(&a[1], &c, 0);
    static server sv;
    memset(&sv, 0, sizeof sv);
    sv.limit = 1000;
    uint64_t sent[2] = {0, 0}, ok[2] = {0, 0}, late_ok = 0;
    uint64_t total_ms = 300000;
    for (uint64_t t = 0; t < total_ms; t += 5) {
        for (int i = 0; i < 2; i++) {
            int j = (int)((t / 5 + (uint64_t)i) % 2); /* alternate who goes first */
            while (sp_window_take(&a[j], &c, t, 100)) {
                sent[j]++;
                if (server_admit(&sv, t)) {
                    ok[j]++;
                    if (t >= total_ms / 2)
                        late_ok++;
                    sp_window_ok(&a[j], &c, t);
                } else {
                    sp_window_throttled(&a[j], &c, t, t);
                }
            }
        }
    }
    double share0 = (double)ok[0] / (double)(ok[0] + ok[1]);
    ck_assert_msg(share0 > 0.35 && share0 < 0.65, "unfair split: %f", share0);
    double use = (double)late_ok / (double)(total_ms / 2 / 1000) / 1000.0;
    ck_assert_msg(use > 0.85, "shard use %f", use);
    double refused = 1.0 - (double)(ok[0] + ok[1]) / (double)(sent[0] + sent[1]);
    ck_assert_msg(refused < 0.02, "refused %f", refused);
}
END_TEST

static Suite *throttle_suite(void)
{
    Suite *s = suite_create("throttle");
    TCase *tc = tcase_create("window");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, records_limit);
    tcase_add_test(tc, hold_for_transit);
    tcase_add_test(tc, bytes_limit);
    tcase_add_test(tc, large_records_pass);
    tcase_add_test(tc, share_setting);
    tcase_add_test(tc, aimd);
    tcase_add_test(tc, two_agents_share_fairly);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(throttle_suite)
