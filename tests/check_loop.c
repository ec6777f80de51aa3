/* The event loop: timer order and cancellation, descriptor watches,
 * regular files (which epoll refuses), signals. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/loop.h"

struct order {
    int seen[8];
    int n;
};

struct targ {
    struct order *o;
    int id;
};

static void on_t(sp_loop *l, void *arg)
{
    (void)l;
    struct targ *t = arg;
    t->o->seen[t->o->n++] = t->id;
}

START_TEST(timers_fire_in_order)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    ck_assert_ptr_nonnull(l);
    struct order o = {{0}, 0};
    struct targ a[5];
    sp_timer t[5];
    uint64_t delays[5] = {30, 10, 20, 5, 40};
    for (int i = 0; i < 5; i++) {
        a[i] = (struct targ){&o, i};
        sp_timer_init(&t[i], on_t, &a[i]);
        ck_assert_int_eq(sp_timer_start(l, &t[i], delays[i], &err), SP_OK);
    }
    sp_timer_stop(l, &t[2]);               /* cancelled: never fires */
    ck_assert_int_eq(sp_timer_start(l, &t[4], 1, &err), SP_OK); /* re-armed earlier */
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK); /* returns when nothing is left */
    ck_assert_int_eq(o.n, 4);
    ck_assert_int_eq(o.seen[0], 4);
    ck_assert_int_eq(o.seen[1], 3);
    ck_assert_int_eq(o.seen[2], 1);
    ck_assert_int_eq(o.seen[3], 0);
    sp_loop_free(l);
}
END_TEST

struct rd {
    char buf[64];
    size_t n;
    int eof;
};

static void on_read(sp_loop *l, int fd, unsigned ev, void *arg)
{
    (void)ev;
    struct rd *r = arg;
    ssize_t k = read(fd, r->buf + r->n, sizeof r->buf - 1 - r->n);
    if (k <= 0) {
        r->eof = 1;
        sp_loop_unwatch(l, fd);
        return;
    }
    r->n += (size_t)k;
}

START_TEST(pipe_watch)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct rd r = {{0}, 0, 0};
    ck_assert_int_eq(sp_loop_watch(l, p[0], SP_EV_READ, on_read, &r, &err), SP_OK);
    ck_assert_int_eq(write(p[1], "hello", 5), 5);
    close(p[1]);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    ck_assert(r.eof);
    ck_assert_mem_eq(r.buf, "hello", 5);
    close(p[0]);
    sp_loop_free(l);
}
END_TEST

START_TEST(regular_file_is_always_ready)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    char path[] = "/tmp/sp-loop-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, "abc", 3), 3);
    lseek(fd, 0, SEEK_SET);
    struct rd r = {{0}, 0, 0};
    ck_assert_int_eq(sp_loop_watch(l, fd, SP_EV_READ, on_read, &r, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    ck_assert(r.eof);
    ck_assert_uint_eq(r.n, 3);
    close(fd);
    sp_loop_free(l);
}
END_TEST

static void on_sig(sp_loop *l, int signo, void *arg)
{
    *(int *)arg = signo;
    sp_loop_stop(l);
}

static void raise_usr1(sp_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    kill(getpid(), SIGUSR1);
}

START_TEST(signals_are_callbacks)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    int got = 0;
    ck_assert_int_eq(sp_loop_signal(l, SIGUSR1, on_sig, &got, &err), SP_OK);
    sp_timer t;
    sp_timer_init(&t, raise_usr1, NULL);
    sp_timer_start(l, &t, 5, &err);
    sp_timer keep; /* keeps the loop alive until the signal arrives */
    sp_timer_init(&keep, raise_usr1, NULL);
    sp_timer_start(l, &keep, 5000, &err);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    ck_assert_int_eq(got, SIGUSR1);
    sp_timer_stop(l, &keep);
    sp_loop_free(l);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, timers_fire_in_order);
    tcase_add_test(tc, pipe_watch);
    tcase_add_test(tc, regular_file_is_always_ready);
    tcase_add_test(tc, signals_are_callbacks);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(loop_suite)
