/* Agents sharing a stream, through tests/tools/fleet_sim.c: real producers
 * (windows, AIMD, batching, backoff) on a simulated clock against a
 * simulated Kinesis of 4 shards, with the service's rolling-second limiter
 * and with a token bucket, every agent offered twice its share, three
 * seeds each. The bounds are the figures the README's "Sharing a stream"
 * table shows, with some room; the windows before the pacing, slow start
 * and per-entry cut reached only 84-91 % of a rolling second with 1.4-9 %
 * of entries refused (the start included), and fail them. */
#define FLEET_SIM_NO_MAIN
#include "tools/fleet_sim.c"

#include "check_util.h"

struct bound {
    size_t agents;
    double used;         /* at least, after the warm-up (a bucket: 5 points more) */
    double throttled;    /* at most, after the warm-up */
    double spread;       /* at most, the mean of SEEDS runs (one run's is noisy) */
    double throttled_all;/* at most, the start included */
};

static const struct bound bounds[] = {
    {2, 0.93, 0.01, 0.25, 0.02},
    {4, 0.93, 0.01, 0.25, 0.02},
    {10, 0.92, 0.04, 0.30, 0.06},
};

#define SEEDS 3

static void run_row(enum fleet_limiter lim, const struct bound *b)
{
    const char *name = fleet_limiter_name(lim);
    double used_min = lim == FLEET_BUCKET ? b->used + 0.05 : b->used; /* a bucket lends a second's burst */
    double spread = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        fleet_cfg c;
        fleet_cfg_default(&c);
        c.limiter = lim;
        c.agents = b->agents;
        c.seconds = 40;
        c.seed = seed;
        fleet_result r;
        ck_assert_int_eq(fleet_run(&c, &r), 0);
        ck_assert_msg(r.used >= used_min, "%s, %zu agents, seed %d: %.1f%% of the stream used", name, b->agents,
                      (int)seed, 100 * r.used);
        ck_assert_msg(r.throttled <= b->throttled, "%s, %zu agents, seed %d: %.2f%% throttled", name, b->agents,
                      (int)seed, 100 * r.throttled);
        ck_assert_msg(r.throttled_all <= b->throttled_all, "%s, %zu agents, seed %d: %.2f%% throttled with the start",
                      name, b->agents, (int)seed, 100 * r.throttled_all);
        ck_assert_uint_gt(r.requests, 0);
        spread += r.spread / SEEDS;
    }
    ck_assert_msg(spread <= b->spread, "%s, %zu agents: shares %.1f%% apart (mean of %d runs)", name, b->agents,
                  100 * spread, SEEDS);
}

START_TEST(rolling_second)
{
    run_row(FLEET_ROLLING, &bounds[_i]);
}
END_TEST

START_TEST(token_bucket)
{
    run_row(FLEET_BUCKET, &bounds[_i]);
}
END_TEST

/* The simulated service itself: one agent alone, at the full share,
 * is never refused and cannot go over the limit. */
START_TEST(one_agent_is_never_refused)
{
    fleet_cfg c;
    fleet_cfg_default(&c);
    c.agents = 1;
    c.seconds = 20;
    fleet_result r;
    ck_assert_int_eq(fleet_run(&c, &r), 0);
    ck_assert_msg(r.throttled == 0, "%.3f%% throttled", 100 * r.throttled);
    ck_assert_msg(r.used > 0.85 && r.used <= 1.0, "%.1f%% used", 100 * r.used);
}
END_TEST

static Suite *fleet_suite(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("share");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, rolling_second, 0, (int)(sizeof bounds / sizeof bounds[0]));
    tcase_add_loop_test(tc, token_bucket, 0, (int)(sizeof bounds / sizeof bounds[0]));
    tcase_add_test(tc, one_agent_is_never_refused);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(fleet_suite)
