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

/* The window alone: at the full share from the start, paced per slot (a
 * tenth of the second per 25 ms slot) rather than by the pacing bucket. */
static void window_cfg(sp_throttle_cfg *c)
{
    sp_throttle_cfg_default(c);
    c->start = c->share;
    c->pace_ms = 0;
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
    window_cfg(&c);
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
    window_cfg(&c);
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
    window_cfg(&c);
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
    window_cfg(&c);
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
    window_cfg(&c);
    c.share = c.start = 0.5;
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

/* A reference for the lazy expiry: the eager rule it replaced (every
 * slot checked on every call). */
typedef struct eager {
    uint64_t no[SP_SLOTS], recs[SP_SLOTS], bytes[SP_SLOTS];
} eager;

static void eager_expire(eager *e, uint32_t hold_ms, uint64_t now)
{
    uint32_t hold = hold_ms < SP_HOLD_MAX_MS ? hold_ms : SP_HOLD_MAX_MS;
    if (now < hold)
        return;
    uint64_t cur = (now - hold) / SP_SLOT_MS;
    for (size_t i = 0; i < SP_SLOTS; i++)
        if ((e->recs[i] || e->bytes[i]) && e->no[i] + SP_WINDOW_SLOTS <= cur)
            e->recs[i] = e->bytes[i] = 0;
}

static void eager_take(eager *e, uint64_t now, size_t bytes)
{
    uint64_t cur = now / SP_SLOT_MS;
    size_t i = (size_t)(cur % SP_SLOTS);
    if (e->no[i] != cur) {
        e->recs[i] = e->bytes[i] = 0;
        e->no[i] = cur;
    }
    e->recs[i]++;
    e->bytes[i] += bytes;
}

/* Lazy expiry keeps the eager rule's window exactly: over random times
 * (small steps, jumps past the whole ring), record sizes and holds that
 * go up and down, the window holds what the reference holds after every
 * call, and a call at the same slot costs no scan (nothing changes). */
START_TEST(lazy_expiry_matches_eager)
{
    sp_throttle_cfg c;
    window_cfg(&c);
    sp_window b;
    sp_window_init(&b, &c, 0);
    static eager e;
    memset(&e, 0, sizeof e);
    uint64_t t = 0, seed = 88172645463325252ULL;
    for (int n = 0; n < 200000; n++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        uint64_t step = seed % 100 == 0 ? 500 + seed % 4000 : seed % 7;
        t += step;
        if (seed % 1000 == 1)
            b.hold_ms = (uint32_t)(seed >> 20) % 1200; /* past SP_HOLD_MAX_MS too */
        size_t bytes = 1 + (size_t)((seed >> 8) % 3000);
        eager_expire(&e, b.hold_ms, t);
        int took = sp_window_take(&b, &c, t, bytes);
        uint64_t rr = 0, bb = 0;
        for (size_t i = 0; i < SP_SLOTS; i++) {
            rr += e.recs[i];
            bb += e.bytes[i];
        }
        /* Did the reference have room? Same rule: the limits and the slot. */
        size_t i = (size_t)(t / SP_SLOT_MS % SP_SLOTS);
        int slot_used = e.no[i] == t / SP_SLOT_MS && (e.recs[i] || e.bytes[i]);
        int room = (double)rr + 1 <= 1000.0 &&
                   ((double)bytes > 1048576.0 ? bb == 0 : (double)(bb + bytes) <= 1048576.0) &&
                   (!slot_used || ((double)e.recs[i] + 1 <= 100.0 && (double)(e.bytes[i] + bytes) <= 104857.6));
        ck_assert_int_eq(took, room);
        if (took)
            eager_take(&e, t, bytes);
        rr = bb = 0;
        for (size_t k = 0; k < SP_SLOTS; k++) {
            rr += e.recs[k];
            bb += e.bytes[k];
        }
        ck_assert_uint_eq(b.records, rr);
        ck_assert_uint_eq(b.bytes, bb);
    }
    /* Past the whole ring at once: everything has left. */
    ck_assert(sp_window_take(&b, &c, t + 100000, 10));
    ck_assert_uint_eq(b.records, 1);
}
END_TEST

/* The pacing bucket: the first batch (a tenth of the second) at once,
 * then records leave evenly at the window's rate, never more than the
 * window allows and never refused by the service's rolling second. */
START_TEST(paced_evenly)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    c.start = 1.0;
    sp_window b;
    sp_window_init(&b, &c, 0);
    int n = 0;
    while (sp_window_take(&b, &c, 0, 10))
        n++;
    ck_assert_int_eq(n, 100);
    ck_assert_uint_gt(sp_window_wait_ms(&b, &c, 0, 10), 0);
    /* Then about one a millisecond (a bit less: the window spans a second,
     * a slot and the hold). */
    n = 0;
    int most = 0;
    for (uint64_t t = 1; t <= 500; t++) {
        int k = 0;
        while (sp_window_take(&b, &c, t, 10))
            k++;
        n += k;
        most = k > most ? k : most;
    }
    ck_assert_int_ge(n, 450);
    ck_assert_int_le(n, 500);
    ck_assert_int_le(most, 2);
    /* A pause fills the bucket up to pace_ms of the rate, not more (one
     * record may take it below zero). */
    n = 0;
    while (sp_window_take(&b, &c, 700, 10))
        n++;
    ck_assert_int_le(n, (int)c.pace_ms + 1);
    ck_assert_int_ge(n, (int)c.pace_ms * 9 / 10);
    /* A record bigger than the bucket still leaves, and the debt is waited
     * out: the first batch holds a tenth of a second (about 105 KB), so
     * 300 KB more leave about 190 ms of debt at 1 MiB/s. */
    sp_window_init(&b, &c, 0);
    ck_assert(sp_window_take(&b, &c, 0, 300 * 1024));
    uint64_t w2 = sp_window_wait_ms(&b, &c, 0, 10);
    ck_assert_msg(w2 >= 170 && w2 <= 215, "waits %llu ms", (unsigned long long)w2);
    ck_assert(!sp_window_take(&b, &c, w2 - 1, 10));
    ck_assert(sp_window_take(&b, &c, w2, 10));
    /* Over ten seconds: the window's limit, and the service never says no. */
    sp_window_init(&b, &c, 0);
    static server sv;
    memset(&sv, 0, sizeof sv);
    sv.limit = 1000;
    n = 0;
    int refused = 0;
    for (uint64_t t = 0; t < 10000; t++)
        while (sp_window_take(&b, &c, t, 10)) {
            n++;
            refused += !server_admit(&sv, t);
        }
    ck_assert_int_ge(n, 9000);
    ck_assert_int_le(n, 10000);
    ck_assert_int_eq(refused, 0);
    /* wait_ms tells when the bucket has the next record. */
    sp_window_init(&b, &c, 0);
    while (sp_window_take(&b, &c, 0, 10))
        ;
    uint64_t w = sp_window_wait_ms(&b, &c, 0, 10);
    ck_assert_uint_ge(w, 1);
    ck_assert_uint_le(w, 2);
    ck_assert(!sp_window_take(&b, &c, w - 1, 10));
    ck_assert(sp_window_take(&b, &c, w, 10));
}
END_TEST

/* Slow start: a window starts at `start` and doubles every 100 ms while
 * it holds records back; a window that is not used does not grow. */
START_TEST(slow_start)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    sp_window b;
    sp_window_init(&b, &c, 0);
    ck_assert(fabs(b.rate - 0.1) < 1e-9);
    sp_window_ok(&b, &c, 100, 10);           /* stored, but nothing held back */
    ck_assert(fabs(b.rate - 0.1) < 1e-9);
    while (sp_window_take(&b, &c, 100, 10))
        ;                                    /* now the window is what limits */
    sp_window_ok(&b, &c, 140, 10);           /* less than step_ms: not yet */
    ck_assert(fabs(b.rate - 0.1) < 1e-9);
    sp_window_ok(&b, &c, 200, 10);
    ck_assert_msg(fabs(b.rate - 0.2) < 1e-9, "rate %f", b.rate);
    for (uint64_t t = 200; t <= 1200; t += 50) {
        while (sp_window_take(&b, &c, t, 10))
            ;
        sp_window_ok(&b, &c, t, 10);
    }
    ck_assert(fabs(b.rate - 1.0) < 1e-9);    /* up to the share, no further */
    c.share = 0.4;
    sp_window_init(&b, &c, 0);
    ck_assert(fabs(b.rate - 0.1) < 1e-9);
    c.start = 0.5;
    sp_window_init(&b, &c, 0);
    ck_assert(fabs(b.rate - 0.4) < 1e-9);    /* never above the share */
}
END_TEST

/* The start's overload, then the steady rules: cut to decrease × the
 * stored rate (records sent after the last cut, cut_ms apart), quiet_ms
 * without a refusal ends it; then each first refusal of a record cuts by
 * per_entry, a record refused again does not, and the rate grows by
 * `increase` a second after quiet_ms, while the window limits. */
START_TEST(aimd)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    c.start = 1.0;
    sp_window b;
    sp_window_init(&b, &c, 0);
    /* 400 records stored over the last second (its second half): 0.4. */
    for (uint64_t t = 500; t < 1000; t += 5)
        for (int k = 0; k < 2; k++)
            sp_window_ok(&b, &c, t, 10);
    sp_window_throttled(&b, &c, 1000, 990, 1, 10);
    ck_assert_msg(fabs(b.rate - 0.8 * 0.4 * 1000.0 / 500.0 * 0.5) < 0.02, "rate %f", b.rate);
    double r = b.rate;
    sp_window_throttled(&b, &c, 1050, 995, 1, 10);  /* sent before the cut */
    sp_window_throttled(&b, &c, 1060, 1010, 1, 10); /* after, but too soon after the cut */
    ck_assert(fabs(b.rate - r) < 1e-12);
    sp_window_throttled(&b, &c, 1200, 1150, 1, 10); /* a new overload: cut again, from the rate */
    ck_assert(b.rate < r);
    ck_assert(!b.steady);
    /* quiet_ms without a refusal: steady. */
    sp_window_ok(&b, &c, 1200 + c.quiet_ms - 1, 10);
    ck_assert(!b.steady);
    sp_window_ok(&b, &c, 1200 + c.quiet_ms, 10);
    ck_assert(b.steady);
    b.rate = 0.5;
    sp_window_throttled(&b, &c, 2000, 1990, 1, 10);
    ck_assert(fabs(b.rate - 0.5 * (1 - c.per_entry)) < 1e-12);
    sp_window_throttled(&b, &c, 2000, 1990, 1, 10); /* every entry counts */
    ck_assert(fabs(b.rate - 0.5 * (1 - c.per_entry) * (1 - c.per_entry)) < 1e-12);
    r = b.rate;
    sp_window_throttled(&b, &c, 2000, 1990, 2, 10); /* refused again: already counted */
    ck_assert(fabs(b.rate - r) < 1e-12);
    for (int i = 0; i < 2000; i++)
        sp_window_throttled(&b, &c, 3000, 2990, 1, 10);
    ck_assert(fabs(b.rate - c.min_share) < 1e-12); /* floor */
    /* Growth: not before quiet_ms, not while the window is unused. */
    uint64_t t = 3000 + c.quiet_ms - 10;
    while (sp_window_take(&b, &c, t, 10))
        ;
    sp_window_ok(&b, &c, t, 10);
    ck_assert(fabs(b.rate - c.min_share) < 1e-12);
    t = 3000 + c.quiet_ms + 1000;
    sp_window_ok(&b, &c, t, 10);                  /* held back more than a second ago */
    ck_assert(fabs(b.rate - c.min_share) < 1e-12);
    for (int i = 1; i <= 10; i++) {           /* a second of being held back */
        t += 100;
        while (sp_window_take(&b, &c, t, 10))
            ;
        sp_window_ok(&b, &c, t, 10);
    }
    ck_assert_msg(fabs(b.rate - (c.min_share + c.increase)) < 1e-9, "rate %f", b.rate);
    /* The window follows the rate. */
    window_cfg(&c);
    sp_window_init(&b, &c, 0);
    b.rate = 0.5;
    ck_assert_int_eq(fill(&b, &c, 0, 1000, 1), 500);
}
END_TEST

/* Two producers greedily sending to one shard that a model of the service
 * limits to 1000 records in any rolling second: they must end up with
 * fair halves, the shard well used, few records refused. */
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
                    sp_window_ok(&a[j], &c, t, 100);
                } else {
                    sp_window_throttled(&a[j], &c, t, t, 1, 100);
                }
            }
        }
    }
    double share0 = (double)ok[0] / (double)(ok[0] + ok[1]);
    ck_assert_msg(share0 > 0.45 && share0 < 0.55, "unfair split: %f", share0);
    double use = (double)late_ok / (double)(total_ms / 2 / 1000) / 1000.0;
    ck_assert_msg(use > 0.9, "shard use %f", use);
    double refused = 1.0 - (double)(ok[0] + ok[1]) / (double)(sent[0] + sent[1]);
    ck_assert_msg(refused < 0.01, "refused %f", refused);
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
    tcase_add_test(tc, lazy_expiry_matches_eager);
    tcase_add_test(tc, paced_evenly);
    tcase_add_test(tc, slow_start);
    tcase_add_test(tc, aimd);
    tcase_add_test(tc, two_agents_share_fairly);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(throttle_suite)
