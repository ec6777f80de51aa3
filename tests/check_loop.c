/* The event loop: timer order and cancellation, descriptor watches,
 * regular files (which epoll refuses), signals; only the events a watch
 * asks for are dispatched, and a paused descriptor that hangs up costs
 * nothing. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
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

static void on_t_stop(sp_loop *l, void *arg)
{
    (void)arg;
    sp_loop_stop(l);
}

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

/* CPU time (user + system) of this process, in ms. */
static double cpu_ms(void)
{
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

struct calls {
    int n;
    unsigned last;
    int resumed_n;  /* calls seen after the resume */
    int resumed;
    int fd;
    char buf[16];
};

static void on_count(sp_loop *l, int fd, unsigned ev, void *arg)
{
    struct calls *c = arg;
    c->n++;
    c->last = ev;
    if (c->resumed) {
        c->resumed_n++;
        ssize_t k = read(fd, c->buf, sizeof c->buf);
        if (k <= 0)
            sp_loop_unwatch(l, fd); /* end of input: done */
    }
}

static void on_resume(sp_loop *l, void *arg)
{
    struct calls *c = arg;
    sp_err err;
    c->resumed = 1;
    ck_assert_int_eq(sp_loop_watch(l, c->fd, SP_EV_READ, on_count, c, &err), SP_OK);
}

/* A pipe whose writer has gone is hung up for good: epoll reports that
 * even to a watch that asks for nothing. Paused, it must not wake the
 * loop (no callback, no busy waiting); resumed, it must still be told, so
 * that the reader sees the end of input. */
START_TEST(paused_hangup_does_not_spin)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    close(p[1]);
    struct calls c = {0};
    c.fd = p[0];
    ck_assert_int_eq(sp_loop_watch(l, p[0], SP_EV_READ, on_count, &c, &err), SP_OK);
    ck_assert_int_eq(sp_loop_watch(l, p[0], 0, on_count, &c, &err), SP_OK); /* paused */
    sp_timer t;
    sp_timer_init(&t, on_resume, &c);
    ck_assert_int_eq(sp_timer_start(l, &t, 200, &err), SP_OK);
    double cpu0 = cpu_ms();
    uint64_t t0 = sp_monotonic_ms();
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    double cpu = cpu_ms() - cpu0;
    uint64_t wall = sp_monotonic_ms() - t0;
    ck_assert_uint_ge(wall, 190);
    ck_assert_msg(cpu < 40.0, "paused hung-up pipe: %.1f ms of CPU in %llu ms", cpu,
                  (unsigned long long)wall);
    ck_assert_int_eq(c.n, c.resumed_n);       /* nothing while paused */
    ck_assert_int_eq(c.resumed_n, 2);         /* resumed: the byte, then the end */
    ck_assert(c.last & SP_EV_READ);
    ck_assert(c.last & SP_EV_ERROR);
    close(p[0]);
    sp_loop_free(l);
}
END_TEST

/* The same for a regular file (epoll refuses it; the loop treats it as
 * always readable): paused, it is not polled. */
START_TEST(paused_regular_file_does_not_spin)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    char path[] = "/tmp/sp-loop-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    struct calls c = {0};
    c.fd = fd;
    ck_assert_int_eq(sp_loop_watch(l, fd, SP_EV_READ, on_count, &c, &err), SP_OK);
    ck_assert_int_eq(sp_loop_watch(l, fd, 0, on_count, &c, &err), SP_OK);
    sp_timer t;
    sp_timer_init(&t, on_resume, &c);
    ck_assert_int_eq(sp_timer_start(l, &t, 200, &err), SP_OK);
    double cpu0 = cpu_ms();
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    double cpu = cpu_ms() - cpu0;
    ck_assert_msg(cpu < 40.0, "paused regular file: %.1f ms of CPU", cpu);
    ck_assert_int_eq(c.n, 1);         /* only after the resume: the end of the empty file */
    ck_assert_int_eq(c.resumed_n, 1);
    close(fd);
    sp_loop_free(l);
}
END_TEST

/* A writer whose reader has gone gets the error as WRITE (write(2) is
 * where it shows), never as READ, which it did not ask for. */
START_TEST(error_comes_as_the_direction_asked_for)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    struct calls c = {0};
    ck_assert_int_eq(sp_loop_watch(l, p[1], SP_EV_WRITE, on_count, &c, &err), SP_OK);
    sp_timer t;
    sp_timer_init(&t, on_t_stop, NULL);
    ck_assert_int_eq(sp_timer_start(l, &t, 20, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    ck_assert_int_gt(c.n, 0);
    ck_assert_uint_eq(c.last, SP_EV_WRITE | SP_EV_ERROR);
    sp_loop_unwatch(l, p[1]);
    close(p[1]);
    sp_loop_free(l);
}
END_TEST

struct pair {
    int fds[2];
    int calls[2];
    sp_loop *l;
};

static void on_first(sp_loop *l, int fd, unsigned ev, void *arg)
{
    (void)ev;
    struct pair *p = arg;
    sp_err err;
    int me = fd == p->fds[0] ? 0 : 1;
    p->calls[me]++;
    /* Whichever runs first pauses the other, whose event is already in
     * this wake-up's batch. */
    ck_assert_int_eq(sp_loop_watch(l, p->fds[1 - me], 0, on_first, p, &err), SP_OK);
    sp_loop_unwatch(l, fd);
}

START_TEST(pause_inside_a_batch_holds)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    int a[2], b[2];
    ck_assert_int_eq(pipe(a), 0);
    ck_assert_int_eq(pipe(b), 0);
    ck_assert_int_eq(write(a[1], "x", 1), 1);
    ck_assert_int_eq(write(b[1], "y", 1), 1);
    struct pair p = {{a[0], b[0]}, {0, 0}, l};
    ck_assert_int_eq(sp_loop_watch(l, a[0], SP_EV_READ, on_first, &p, &err), SP_OK);
    ck_assert_int_eq(sp_loop_watch(l, b[0], SP_EV_READ, on_first, &p, &err), SP_OK);
    sp_timer t;
    sp_timer_init(&t, on_t_stop, NULL);
    ck_assert_int_eq(sp_timer_start(l, &t, 50, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    ck_assert_int_eq(p.calls[0] + p.calls[1], 1);
    sp_loop_unwatch(l, a[0]);
    sp_loop_unwatch(l, b[0]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    sp_loop_free(l);
}
END_TEST

/* Nothing re-enters the loop: a run from inside a callback is refused,
 * and the outer run goes on (and can still be stopped). */
struct nested {
    int tries, refused;
    char msg[SP_ERR_MSG_MAX];
};

static void nested_cb(sp_loop *l, void *arg)
{
    struct nested *n = arg;
    sp_err err;
    n->tries++;
    if (sp_loop_run(l, &err) != SP_OK) {
        n->refused++;
        snprintf(n->msg, sizeof n->msg, "%s", err.msg);
    }
    sp_loop_stop(l);
}

START_TEST(nested_run_is_refused)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    ck_assert_ptr_nonnull(l);
    struct nested n = {0, 0, ""};
    sp_timer t;
    sp_timer_init(&t, nested_cb, &n);
    ck_assert_int_eq(sp_timer_start(l, &t, 1, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    ck_assert_int_eq(n.tries, 1);
    ck_assert_int_eq(n.refused, 1);
    ck_assert_ptr_nonnull(strstr(n.msg, "inside one of its callbacks"));
    /* A run after the first one ended is fine. */
    ck_assert_int_eq(sp_timer_start(l, &t, 1, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    ck_assert_int_eq(n.tries, 2);
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
    tcase_add_test(tc, paused_hangup_does_not_spin);
    tcase_add_test(tc, paused_regular_file_does_not_spin);
    tcase_add_test(tc, error_comes_as_the_direction_asked_for);
    tcase_add_test(tc, pause_inside_a_batch_holds);
    tcase_add_test(tc, nested_run_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(loop_suite)
