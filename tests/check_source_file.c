/* source_file: a real loop, a real directory (mkdtemp) and a test sink
 * that keeps every record and acknowledges it at once or when the test
 * says. Start positions, globs, discovery with and without inotify,
 * rotation under a writer driven by loop timers, copytruncate, deletion,
 * partial lines, multi-line records and header lines, checkpoints across
 * a simulated restart (contiguous acks, gaps, fingerprint mismatch, a
 * corrupt checkpoint file), pause and sink.full. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/checkpoint.h"
#include "shardpipe/loop.h"
#include "shardpipe/source_file.h"
#include "shardpipe/watch.h"

/* ---- the test sink ---- */

typedef struct trec {
    char *data;
    size_t len;
    unsigned flags;
    sp_ack_token_fn ack;
    void *token;
    uint64_t tag;
    int acked;
} trec;

typedef struct tsink {
    trec *r;
    size_t n, cap;
    int delayed;            /* 0: acknowledge inside record() */
    int full;               /* what sink.full answers */
    int errors;             /* on_error calls */
} tsink;

static int ts_record(void *arg, const char *data, size_t len, unsigned flags,
                     sp_ack_token_fn ack, void *token, uint64_t tag, sp_err *err)
{
    (void)err;
    tsink *ts = arg;
    if (ts->n == ts->cap) {
        ts->cap = ts->cap ? ts->cap * 2 : 64;
        ts->r = realloc(ts->r, ts->cap * sizeof *ts->r);
        ck_assert_ptr_nonnull(ts->r);
    }
    trec *r = &ts->r[ts->n++];
    r->data = malloc(len + 1);
    ck_assert_ptr_nonnull(r->data);
    memcpy(r->data, data, len);
    r->data[len] = '\0';
    r->len = len;
    r->flags = flags;
    r->ack = ack;
    r->token = token;
    r->tag = tag;
    r->acked = 0;
    if (!ts->delayed) {
        r->acked = 1;
        ack(token, tag, 1);
    }
    return SP_OK;
}

static int ts_full(void *arg)
{
    return ((tsink *)arg)->full;
}

static void ts_on_error(void *arg, const char *msg)
{
    (void)msg;
    ((tsink *)arg)->errors++;
}

static void ts_ack(tsink *ts, size_t i, int stored)
{
    ck_assert_uint_lt(i, ts->n);
    ck_assert(!ts->r[i].acked);
    ts->r[i].acked = 1;
    ts->r[i].ack(ts->r[i].token, ts->r[i].tag, stored);
}

static void ts_free(tsink *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        free(ts->r[i].data);
    free(ts->r);
    memset(ts, 0, sizeof *ts);
}

static void assert_recs(const tsink *ts, size_t from, const char *const *want, size_t n)
{
    ck_assert_msg(ts->n == from + n, "%zu records, want %zu", ts->n, from + n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strcmp(ts->r[from + i].data, want[i]) == 0, "record %zu: \"%s\", want \"%s\"",
                      from + i, ts->r[from + i].data, want[i]);
}

/* ---- the loop ---- */

typedef int (*cond_fn)(void *arg);

struct waiter {
    sp_timer t;
    cond_fn fn;
    void *arg;
    uint64_t deadline;
    int met;
};

static void on_check(sp_loop *l, void *arg)
{
    struct waiter *w = arg;
    if (w->fn != NULL && w->fn(w->arg)) {
        w->met = 1;
        sp_loop_stop(l);
        return;
    }
    if (sp_monotonic_ms() >= w->deadline) {
        sp_loop_stop(l);
        return;
    }
    ck_assert_int_eq(sp_timer_start(l, &w->t, 5, NULL), SP_OK);
}

/* Runs the loop until fn says so (1) or timeout_ms pass (0). */
static int run_until(sp_loop *l, cond_fn fn, void *arg, uint64_t timeout_ms)
{
    struct waiter w;
    sp_err err;
    memset(&w, 0, sizeof w);
    sp_timer_init(&w.t, on_check, &w);
    w.fn = fn;
    w.arg = arg;
    w.deadline = sp_monotonic_ms() + timeout_ms;
    ck_assert_int_eq(sp_timer_start(l, &w.t, 0, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    sp_timer_stop(l, &w.t);
    return w.met;
}

static void run_for(sp_loop *l, uint64_t ms)
{
    run_until(l, NULL, NULL, ms);
}

struct want_n {
    tsink *ts;
    size_t n;
};

static int have_n(void *arg)
{
    struct want_n *w = arg;
    return w->ts->n >= w->n;
}

static int wait_records(sp_loop *l, tsink *ts, size_t n, uint64_t timeout_ms)
{
    struct want_n w = {ts, n};
    return run_until(l, have_n, &w, timeout_ms);
}

/* ---- the directory ---- */

static char tmp[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/sp-srcfile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *P(const char *name)
{
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tmp, name);
    return b;
}

static void append(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
}

static void put_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
}

static sp_log quiet = {.level = SP_LOG_ERROR, .out = NULL};

static sp_file_source_opts opts(const char *glob, tsink *ts)
{
    static char globbuf[256];       /* P() reuses its buffers */
    sp_file_source_opts o;
    memset(&o, 0, sizeof o);
    snprintf(globbuf, sizeof globbuf, "%s", glob);
    o.flow = "test";
    o.glob = globbuf;
    o.start = SP_START_BEGINNING;
    o.max_record = 1024;
    o.oversize = SP_OVERSIZE_SPLIT;
    o.poll_ms = 40;
    o.partial_flush_ms = 0;
    o.sink = (sp_sink){ts_record, ts_full, ts};
    o.log = &quiet;
    o.on_error = ts_on_error;
    o.arg = ts;
    return o;
}

static sp_file_source *src_new(sp_loop *l, const sp_file_source_opts *o)
{
    sp_err err = {0};
    sp_file_source *s = sp_file_source_new(l, o, &err);
    ck_assert_msg(s != NULL, "sp_file_source_new: %s", err.msg);
    return s;
}

/* ---- start positions and discovery ---- */

START_TEST(test_start_end_vs_beginning)
{
    for (int beginning = 0; beginning < 2; beginning++) {
        setup();
        sp_err err;
        sp_loop *l = sp_loop_new(&err);
        tsink ts = {0};
        put_file(P("a.log"), "old1\nold2\npart");
        sp_file_source_opts o = opts(P("a.log"), &ts);
        o.start = beginning ? SP_START_BEGINNING : SP_START_END;
        sp_file_source *s = src_new(l, &o);
        run_for(l, 60);
        append(P("a.log"), "ial\nnew\n");
        size_t want = beginning ? 4 : 2;
        ck_assert(wait_records(l, &ts, want, 2000));
        run_for(l, 50);
        if (beginning) {
            static const char *const w[] = {"old1", "old2", "partial", "new"};
            assert_recs(&ts, 0, w, 4);
        } else {
            static const char *const w[] = {"partial", "new"};   /* after the last newline */
            assert_recs(&ts, 0, w, 2);
        }
        ck_assert(sp_file_source_idle(s));
        sp_file_source_free(s);
        sp_loop_free(l);
        ts_free(&ts);
        teardown();
    }

    /* "end" in a file without any newline: the whole line is read. */
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    put_file(P("b.log"), "no newline yet");
    sp_file_source_opts o = opts(P("b.log"), &ts);
    o.start = SP_START_END;
    sp_file_source *s = src_new(l, &o);
    append(P("b.log"), "!\n");
    ck_assert(wait_records(l, &ts, 1, 2000));
    ck_assert_str_eq(ts.r[0].data, "no newline yet!");
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

static int count_prefix(const tsink *ts, const char *prefix)
{
    int n = 0;
    for (size_t i = 0; i < ts->n; i++)
        n += strncmp(ts->r[i].data, prefix, strlen(prefix)) == 0;
    return n;
}

START_TEST(test_glob_in_directory)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    ck_assert_int_eq(mkdir(P("d1"), 0755), 0);
    ck_assert_int_eq(mkdir(P("d2"), 0755), 0);
    ck_assert_int_eq(mkdir(P("e1"), 0755), 0);
    put_file(P("d1/x-1.log"), "one\n");
    put_file(P("d2/x-2.log"), "two\n");
    put_file(P("d2/y-2.log"), "not this\n");
    put_file(P("e1/x-3.log"), "nor this\n");
    sp_file_source_opts o = opts(P("d*/x-*.log"), &ts);
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 2, 2000));
    /* A directory created later is found by the rescan. */
    ck_assert_int_eq(mkdir(P("d3"), 0755), 0);
    put_file(P("d3/x-4.log"), "four\n");
    ck_assert(wait_records(l, &ts, 3, 2000));
    run_for(l, 100);
    ck_assert_uint_eq(ts.n, 3);
    ck_assert_int_eq(count_prefix(&ts, "one"), 1);
    ck_assert_int_eq(count_prefix(&ts, "two"), 1);
    ck_assert_int_eq(count_prefix(&ts, "four"), 1);
    sp_file_source_stats st;
    sp_file_source_stats_get(s, &st);
    ck_assert_uint_eq(st.files, 3);
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* A file created while running is found and read from its beginning:
 * with inotify (the poll interval is far too long to be what finds it)
 * and by polling alone. */
START_TEST(test_new_file_found)
{
    for (int inotify = 0; inotify < 2; inotify++) {
        setup();
        sp_err err;
        sp_loop *l = sp_loop_new(&err);
        tsink ts = {0};
        sp_file_source_opts o = opts(P("*.log"), &ts);
        o.start = SP_START_END;       /* applies to files present at start only */
        o.disable_inotify = !inotify;
        o.poll_ms = inotify ? 60000 : 30;
        sp_file_source *s = src_new(l, &o);
        sp_file_source_stats st;
        sp_file_source_stats_get(s, &st);
        if (inotify && !st.inotify) {
            fprintf(stderr, "test_new_file_found: no inotify here, variant skipped\n");
            sp_file_source_free(s);
            sp_loop_free(l);
            teardown();
            continue;
        }
        ck_assert_int_eq(st.inotify, inotify);
        run_for(l, 30);
        put_file(P("new.log"), "first\nsecond\n");
        put_file(P("new.txt"), "ignored\n");
        ck_assert_msg(wait_records(l, &ts, 2, 2000), "inotify %d", inotify);
        append(P("new.log"), "third\n");
        ck_assert(wait_records(l, &ts, 3, 2000));
        static const char *const w[] = {"first", "second", "third"};
        assert_recs(&ts, 0, w, 3);
        sp_file_source_free(s);
        sp_loop_free(l);
        ts_free(&ts);
        teardown();
    }
}
END_TEST

/* ---- rotation under a writer ---- */

struct writer {
    sp_loop *loop;
    sp_timer t;
    int fd;                 /* current file */
    int old_fd;             /* renamed, still written during the lag */
    uint64_t seq, total;
    unsigned per_tick, rot_every, lag, lag_left;
    unsigned rotations;
    int create_late;        /* the new file appears only after the lag */
    int pending_create;
};

static int wopen(void)
{
    int fd = open(P("app.log"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static void wline(int fd, uint64_t seq)
{
    char b[64];
    int n = snprintf(b, sizeof b, "line %06llu\n", (unsigned long long)seq);
    ck_assert_int_eq(write(fd, b, (size_t)n), n);
}

static void on_writer(sp_loop *l, void *arg)
{
    struct writer *w = arg;
    for (unsigned i = 0; i < w->per_tick && w->seq < w->total; i++) {
        if (w->seq > 0 && w->seq % w->rot_every == 0 && w->old_fd < 0 && !w->pending_create) {
            char to[64];
            snprintf(to, sizeof to, "app.log.%u", ++w->rotations);
            ck_assert_int_eq(rename(P("app.log"), P(to)), 0);
            w->old_fd = w->fd;
            w->lag_left = w->lag;
            if (w->lag == 0) {
                close(w->old_fd);
                w->old_fd = -1;
            }
            if (w->create_late) {
                w->fd = -1;
                w->pending_create = 1;
            } else {
                w->fd = wopen();
            }
        }
        if (w->old_fd >= 0 && w->lag_left > 0) {
            wline(w->old_fd, w->seq++);
            if (--w->lag_left == 0) {
                close(w->old_fd);
                w->old_fd = -1;
            }
            continue;
        }
        if (w->pending_create) {
            w->fd = wopen();
            w->pending_create = 0;
        }
        wline(w->fd, w->seq++);
    }
    if (w->seq < w->total) {
        ck_assert_int_eq(sp_timer_start(l, &w->t, 2, NULL), SP_OK);
    } else {
        if (w->old_fd >= 0)
            close(w->old_fd);
        close(w->fd);
        w->old_fd = w->fd = -1;
    }
}

static void check_exactly_once_in_order(const tsink *ts, uint64_t total)
{
    unsigned char *seen = calloc(total, 1);
    ck_assert_ptr_nonnull(seen);
    ck_assert_uint_eq(ts->n, total);
    for (size_t i = 0; i < ts->n; i++) {
        unsigned long long v;
        ck_assert_int_eq(sscanf(ts->r[i].data, "line %llu", &v), 1);
        ck_assert_uint_lt(v, total);
        ck_assert_msg(!seen[v], "line %llu twice", v);
        seen[v] = 1;
        /* In order per file: each earlier record of the same file is smaller. */
        for (size_t j = i; j-- > 0;) {
            if (ts->r[j].token == ts->r[i].token) {
                unsigned long long u;
                ck_assert_int_eq(sscanf(ts->r[j].data, "line %llu", &u), 1);
                ck_assert_msg(u < v, "line %llu after %llu in one file", v, u);
                break;
            }
        }
    }
    free(seen);
}

START_TEST(test_rotation_rename_create)
{
    static const struct { int inotify; int create_late; unsigned lag; } cases[] = {
        {1, 0, 5}, {1, 1, 3}, {0, 0, 5}, {0, 1, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        setup();
        sp_err err;
        sp_loop *l = sp_loop_new(&err);
        tsink ts = {0};
        put_file(P("app.log"), "");
        sp_file_source_opts o = opts(P("app.log"), &ts);
        o.disable_inotify = !cases[c].inotify;
        o.poll_ms = 25;
        sp_file_source *s = src_new(l, &o);
        struct writer w;
        memset(&w, 0, sizeof w);
        w.loop = l;
        w.fd = wopen();
        w.old_fd = -1;
        w.total = 2000;
        w.per_tick = 10;
        w.rot_every = 250;
        w.lag = cases[c].lag;
        w.create_late = cases[c].create_late;
        sp_timer_init(&w.t, on_writer, &w);
        ck_assert_int_eq(sp_timer_start(l, &w.t, 1, &err), SP_OK);
        ck_assert_msg(wait_records(l, &ts, w.total, 6000), "case %zu: %zu of %llu records", c,
                      ts.n, (unsigned long long)w.total);
        run_for(l, 150);                   /* rotated files go idle and close */
        check_exactly_once_in_order(&ts, w.total);
        sp_file_source_stats st;
        sp_file_source_stats_get(s, &st);
        ck_assert_uint_eq(st.files, 1);
        ck_assert_uint_eq(st.rotations, w.rotations);
        ck_assert_uint_eq(st.opened, w.rotations + 1);
        ck_assert_uint_eq(st.truncations, 0);
        sp_timer_stop(l, &w.t);
        sp_file_source_free(s);
        sp_loop_free(l);
        ts_free(&ts);
        teardown();
    }
}
END_TEST

/* The renamed file still has unread bytes long after the rotation (the
 * source was paused): it is read to its end, not abandoned. */
START_TEST(test_rotation_not_abandoned)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    put_file(P("app.log"), "a1\n");
    sp_file_source_opts o = opts(P("app.log"), &ts);
    o.poll_ms = 20;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 1, 2000));
    sp_file_source_pause(s, 1);
    append(P("app.log"), "a2\na3\n");
    ck_assert_int_eq(rename(P("app.log"), P("app.log.1")), 0);
    put_file(P("app.log"), "b1\n");
    run_for(l, 300);                       /* far beyond 2 x poll_ms */
    ck_assert_uint_eq(ts.n, 1);
    sp_file_source_pause(s, 0);
    ck_assert(wait_records(l, &ts, 4, 2000));
    run_for(l, 100);
    ck_assert_uint_eq(ts.n, 4);
    ck_assert_int_eq(count_prefix(&ts, "a2"), 1);
    ck_assert_int_eq(count_prefix(&ts, "a3"), 1);
    ck_assert_int_eq(count_prefix(&ts, "b1"), 1);
    sp_file_source_stats st;
    sp_file_source_stats_get(s, &st);
    ck_assert_uint_eq(st.files, 1);
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

START_TEST(test_copytruncate)
{
    for (int inotify = 0; inotify < 2; inotify++) {
        setup();
        sp_err err;
        sp_loop *l = sp_loop_new(&err);
        tsink ts = {0};
        put_file(P("app.log"), "");
        sp_file_source_opts o = opts(P("app.log"), &ts);
        o.disable_inotify = !inotify;
        o.poll_ms = 25;
        sp_file_source *s = src_new(l, &o);
        int fd = open(P("app.log"), O_WRONLY | O_APPEND | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        for (int i = 0; i < 10; i++)
            wline(fd, (uint64_t)i);
        ck_assert(write(fd, "line 000010", 11) == 11);    /* no newline yet */
        ck_assert(wait_records(l, &ts, 10, 2000));
        run_for(l, 60);
        ck_assert_int_eq(truncate(P("app.log"), 0), 0);   /* after the copy */
        for (int i = 11; i < 14; i++)
            wline(fd, (uint64_t)i);                        /* O_APPEND: from offset 0 */
        ck_assert(wait_records(l, &ts, 14, 2000));
        run_for(l, 80);
        check_exactly_once_in_order(&ts, 14);
        /* What was held of a line is passed on before starting over. */
        ck_assert_str_eq(ts.r[10].data, "line 000010");
        ck_assert_uint_eq(ts.r[10].flags, SP_FRAME_UNTERMINATED);
        sp_file_source_stats st;
        sp_file_source_stats_get(s, &st);
        ck_assert_uint_eq(st.truncations, 1);
        ck_assert_uint_eq(st.files, 1);
        close(fd);
        sp_file_source_free(s);
        sp_loop_free(l);
        ts_free(&ts);
        teardown();
    }
}
END_TEST

/* Deleted: read to the end, closed, and its entry dropped once the last
 * acknowledgement (which comes after the close) is in. */
START_TEST(test_delete_closes)
{
    for (int inotify = 0; inotify < 2; inotify++) {
        setup();
        sp_err err;
        sp_loop *l = sp_loop_new(&err);
        tsink ts = {0};
        ts.delayed = 1;
        sp_ckpt ck;
        ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_OK);
        put_file(P("gone.log"), "x1\nx2\n");
        sp_file_source_opts o = opts(P("*.log"), &ts);
        o.disable_inotify = !inotify;
        o.poll_ms = 25;
        o.ckpt = &ck;
        sp_file_source *s = src_new(l, &o);
        ck_assert(wait_records(l, &ts, 2, 2000));
        struct stat sb;
        ck_assert_int_eq(stat(P("gone.log"), &sb), 0);
        ck_assert_ptr_nonnull(sp_ckpt_find(&ck, "test", (uint64_t)sb.st_dev, (uint64_t)sb.st_ino));
        append(P("gone.log"), "x3\n");
        ck_assert_int_eq(unlink(P("gone.log")), 0);
        ck_assert(wait_records(l, &ts, 3, 2000));
        run_for(l, 60);
        sp_file_source_stats st;
        sp_file_source_stats_get(s, &st);
        ck_assert_uint_eq(st.files, 0);
        ck_assert_uint_eq(st.draining, 1);
        ck_assert(!sp_file_source_idle(s));
        ts_ack(&ts, 2, 1);
        ts_ack(&ts, 0, 1);
        ts_ack(&ts, 1, 1);                 /* the last ack frees the state */
        sp_file_source_stats_get(s, &st);
        ck_assert_uint_eq(st.draining, 0);
        ck_assert(sp_file_source_idle(s));
        ck_assert_ptr_null(sp_ckpt_find(&ck, "test", (uint64_t)sb.st_dev, (uint64_t)sb.st_ino));
        ck_assert_str_eq(ts.r[2].data, "x3");
        sp_file_source_free(s);
        sp_ckpt_close(&ck);
        sp_loop_free(l);
        ts_free(&ts);
        teardown();
    }
}
END_TEST

/* ---- partial lines, multi-line, header ---- */

START_TEST(test_partial_line)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    put_file(P("p.log"), "");
    sp_file_source_opts o = opts(P("p.log"), &ts);
    o.partial_flush_ms = 250;
    sp_file_source *s = src_new(l, &o);
    run_for(l, 30);
    append(P("p.log"), "abc");
    run_for(l, 120);
    ck_assert_uint_eq(ts.n, 0);            /* held */
    append(P("p.log"), "def\n");
    ck_assert(wait_records(l, &ts, 1, 2000));
    ck_assert_str_eq(ts.r[0].data, "abcdef");
    ck_assert_uint_eq(ts.r[0].flags, 0);

    uint64_t t0 = sp_monotonic_ms();
    append(P("p.log"), "ghi");
    ck_assert(wait_records(l, &ts, 2, 3000));
    uint64_t took = sp_monotonic_ms() - t0;
    ck_assert_msg(took >= 240, "flushed after %llu ms", (unsigned long long)took);
    ck_assert_str_eq(ts.r[1].data, "ghi");
    ck_assert_uint_eq(ts.r[1].flags, SP_FRAME_UNTERMINATED);
    append(P("p.log"), "jkl\nmno\n");       /* the rest is a record of its own */
    ck_assert(wait_records(l, &ts, 4, 2000));
    ck_assert_str_eq(ts.r[2].data, "jkl");
    ck_assert_str_eq(ts.r[3].data, "mno");
    sp_file_source_stats st;
    sp_file_source_stats_get(s, &st);
    ck_assert_uint_eq(st.framer.flushed, 1);
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

START_TEST(test_multiline_and_header)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    put_file(P("m.log"), "DATE LEVEL MESSAGE\n2024 start\n  at a\n  at b\n2025 next\n");
    sp_file_source_opts o = opts(P("m.log"), &ts);
    o.multiline_start = "^[0-9]{4} ";
    o.skip_header_lines = 1;
    o.partial_flush_ms = 400;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 1, 2000));
    ck_assert_str_eq(ts.r[0].data, "2024 start\n  at a\n  at b");
    run_for(l, 50);
    ck_assert_uint_eq(ts.n, 1);            /* "2025 next" waits for more lines */
    append(P("m.log"), "  at c\n");
    ck_assert(wait_records(l, &ts, 2, 2000)); /* flushed by the timeout */
    ck_assert_str_eq(ts.r[1].data, "2025 next\n  at c");
    ck_assert_uint_eq(ts.r[1].flags, 0);
    sp_file_source_stats st;
    sp_file_source_stats_get(s, &st);
    ck_assert_uint_eq(st.framer.skipped_lines, 1);
    sp_file_source_free(s);

    /* Bad patterns and terminators are refused by their option names. */
    o.multiline_start = "([";
    ck_assert_ptr_null(sp_file_source_new(l, &o, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "multiLineStartPattern"));
    o.multiline_start = NULL;
    o.truncated_terminator = "...";
    o.max_record = 3;
    ck_assert_ptr_null(sp_file_source_new(l, &o, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "truncatedRecordTerminator"));
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

START_TEST(test_oversize_terminator)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    put_file(P("o.log"), "0123456789abcdef\nok\n");
    sp_file_source_opts o = opts(P("o.log"), &ts);
    o.max_record = 8;
    o.oversize = SP_OVERSIZE_TRUNCATE;
    o.truncated_terminator = "..";
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 2, 2000));
    ck_assert_str_eq(ts.r[0].data, "012345..");
    ck_assert_uint_eq(ts.r[0].flags, SP_FRAME_TRUNCATED);
    ck_assert_str_eq(ts.r[1].data, "ok");
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* A big file is read whole, in bounded rounds. */
START_TEST(test_big_file)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    int fd = open(P("big.log"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    const uint64_t n = 60000;
    for (uint64_t i = 0; i < n; i++)
        wline(fd, i);                      /* 12 bytes each: 720 KB */
    close(fd);
    put_file(P("a-small.log"), "s\n");   /* opened first: big.log is read first */
    sp_file_source_opts o = opts(P("*.log"), &ts);
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, n + 1, 5000));
    /* Fairness: the small file did not wait for the whole big one. */
    size_t at = 0;
    for (size_t i = 0; i < ts.n; i++)
        if (strcmp(ts.r[i].data, "s") == 0)
            at = i;
    ck_assert_uint_lt(at, 4 * 65536 / 12 + 1);
    sp_file_source_stats st;
    sp_file_source_stats_get(s, &st);
    ck_assert_uint_eq(st.bytes, n * 12 + 2);
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* ---- checkpoints ---- */

static uint64_t entry_offset(sp_ckpt *ck, const char *path)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    sp_ckpt_entry *e = sp_ckpt_find(ck, "test", (uint64_t)sb.st_dev, (uint64_t)sb.st_ino);
    ck_assert_ptr_nonnull(e);
    return e->offset;
}

/* Closes and reopens the set, as a restarted agent would read it. */
static void reopen(sp_ckpt *ck)
{
    sp_err err;
    ck_assert_int_eq(sp_ckpt_save(ck, &err), SP_OK);
    sp_ckpt_close(ck);
    ck_assert_int_eq(sp_ckpt_open(ck, P("ckpt"), &err), SP_OK);
}

START_TEST(test_checkpoint_resume)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    sp_ckpt ck;
    ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_OK);
    int fd = open(P("c.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    for (int i = 0; i < 10; i++)
        wline(fd, (uint64_t)i);
    sp_file_source_opts o = opts(P("c.log"), &ts);
    o.ckpt = &ck;
    o.partial_flush_ms = 5000;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 10, 2000));
    ck_assert(write(fd, "partial", 7) == 7);   /* held: not checkpointed */
    run_for(l, 80);
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("c.log")), 120);
    sp_file_source_stop(s);
    sp_file_source_free(s);

    /* Written while the agent was stopped. */
    ck_assert(write(fd, "-done\n", 6) == 6);
    for (int i = 10; i < 15; i++)
        wline(fd, (uint64_t)i);
    close(fd);
    reopen(&ck);
    o.start = SP_START_END;                    /* the checkpoint wins */
    s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 16, 2000));
    run_for(l, 80);
    ck_assert_uint_eq(ts.n, 16);
    ck_assert_str_eq(ts.r[10].data, "partial-done");
    for (int i = 11; i < 16; i++) {
        char want[32];
        snprintf(want, sizeof want, "line %06d", i - 1);
        ck_assert_str_eq(ts.r[i].data, want);
    }
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("c.log")), 120 + 13 + 60);
    sp_file_source_free(s);
    sp_ckpt_close(&ck);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* Out-of-order acks with a gap: the checkpoint stops at the first record
 * not acknowledged, also once it is abandoned (not sent), and a restart
 * sends from there. Acks in reverse order, all stored: the end. */
START_TEST(test_checkpoint_gap)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    ts.delayed = 1;
    sp_ckpt ck;
    ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_OK);
    int fd = open(P("g.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    for (int i = 0; i < 10; i++)
        wline(fd, (uint64_t)i);
    close(fd);
    sp_file_source_opts o = opts(P("g.log"), &ts);
    o.ckpt = &ck;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 10, 2000));
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("g.log")), 0);
    for (size_t i = 9; i >= 4; i--)
        ts_ack(&ts, i, 1);
    ts_ack(&ts, 1, 1);
    ts_ack(&ts, 0, 1);
    ts_ack(&ts, 2, 1);
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("g.log")), 36);   /* past line 2 */
    ck_assert(!sp_file_source_idle(s));
    ts_ack(&ts, 3, SP_ACK_ABANDONED);                      /* not sent: shutdown */
    ck_assert(sp_file_source_idle(s));
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("g.log")), 36);
    sp_file_source_stats st;
    sp_file_source_stats_get(s, &st);
    ck_assert_uint_eq(st.not_stored, 1);
    sp_file_source_free(s);

    reopen(&ck);
    tsink t2 = {0};
    t2.delayed = 1;
    o.sink.arg = &t2;
    o.arg = &t2;
    s = src_new(l, &o);
    ck_assert(wait_records(l, &t2, 7, 2000));
    run_for(l, 60);
    ck_assert_uint_eq(t2.n, 7);
    ck_assert_str_eq(t2.r[0].data, "line 000003");
    for (size_t i = 7; i-- > 0;)
        ts_ack(&t2, i, 1);
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("g.log")), 120);
    sp_file_source_free(s);
    sp_ckpt_close(&ck);
    sp_loop_free(l);
    ts_free(&ts);
    ts_free(&t2);
    teardown();
}
END_TEST

/* A record refused for good (SP_ACK_FAILED) does not hold the checkpoint
 * back: it would be refused again after a restart. */
START_TEST(test_checkpoint_moves_past_failed)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    ts.delayed = 1;
    sp_ckpt ck;
    ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_OK);
    int fd = open(P("h.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    for (int i = 0; i < 5; i++)
        wline(fd, (uint64_t)i);
    close(fd);
    sp_file_source_opts o = opts(P("h.log"), &ts);
    o.ckpt = &ck;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 5, 2000));
    for (size_t i = 0; i < 5; i++)
        ts_ack(&ts, i, i == 2 ? SP_ACK_FAILED : SP_ACK_STORED);
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("h.log")), 60);
    sp_file_source_free(s);
    sp_ckpt_close(&ck);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* The flow ran before (its checkpoint has entries): a file that appeared
 * while the agent was stopped is read from the beginning, even with the
 * start position "end" (a rotation during downtime loses nothing). */
START_TEST(test_file_appeared_while_stopped)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    sp_ckpt ck;
    ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_OK);
    put_file(P("a.log"), "old 1\nold 2\n");
    sp_file_source_opts o = opts(P("*.log*"), &ts);
    o.ckpt = &ck;
    o.start = SP_START_END;
    sp_file_source *s = src_new(l, &o);
    run_for(l, 100);
    ck_assert_uint_eq(ts.n, 0);                 /* end: nothing old is read */
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    sp_file_source_free(s);
    reopen(&ck);
    put_file(P("b.log"), "new 1\nnew 2\n");   /* while stopped */
    put_file(P("c.log.gz"), "\x1f\x8b binary\n");  /* compressed: never read */
    s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 2, 2000));
    run_for(l, 100);
    ck_assert_uint_eq(ts.n, 2);
    ck_assert_str_eq(ts.r[0].data, "new 1");
    sp_file_source_free(s);
    sp_ckpt_close(&ck);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* The file was rewritten in place while the agent was stopped: the
 * fingerprint does not match, the start position is used, and it says so.
 * A corrupt checkpoint file: reported by sp_ckpt_open, start positions. */
START_TEST(test_checkpoint_mismatch)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    sp_ckpt ck;
    ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_OK);
    put_file(P("f.log"), "aaaa\naaaa\naaaa\n");
    sp_file_source_opts o = opts(P("f.log"), &ts);
    o.ckpt = &ck;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 3, 2000));
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    sp_file_source_free(s);
    reopen(&ck);
    ck_assert_uint_eq(entry_offset(&ck, P("f.log")), 15);

    put_file(P("f.log"), "bbbb\nbbbb\nbbbb\nbbbb\n");   /* same inode, new bytes */
    FILE *logf = tmpfile();
    ck_assert_ptr_nonnull(logf);
    sp_log lg = {.level = SP_LOG_WARN, .out = logf};
    o.log = &lg;
    s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 7, 2000));
    run_for(l, 50);
    ck_assert_uint_eq(ts.n, 7);
    ck_assert_str_eq(ts.r[3].data, "bbbb");
    char text[2048] = {0};
    rewind(logf);
    size_t got = fread(text, 1, sizeof text - 1, logf);
    ck_assert_uint_gt(got, 0);
    ck_assert_ptr_nonnull(strstr(text, "does not match"));
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("f.log")), 20);
    sp_file_source_free(s);
    fclose(logf);
    sp_ckpt_close(&ck);

    /* Corrupt: the set is empty, and the source takes its start position. */
    put_file(P("ckpt"), "{\"version\":1,\"entries\":[\nthis is not json\n");
    ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_ERR);
    ck_assert_uint_eq(ck.n, 0);
    o.log = &quiet;
    o.start = SP_START_END;
    s = src_new(l, &o);
    append(P("f.log"), "cccc\n");
    ck_assert(wait_records(l, &ts, 8, 2000));
    run_for(l, 50);
    ck_assert_uint_eq(ts.n, 8);
    ck_assert_str_eq(ts.r[7].data, "cccc");
    sp_file_source_free(s);
    sp_ckpt_close(&ck);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* Stop keeps partial lines back: not emitted, not checkpointed. */
START_TEST(test_stop_keeps_partial)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    sp_ckpt ck;
    ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_OK);
    put_file(P("s.log"), "one\ntw");
    sp_file_source_opts o = opts(P("s.log"), &ts);
    o.ckpt = &ck;
    o.partial_flush_ms = 100;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 1, 2000));
    sp_file_source_stop(s);
    sp_file_source_stop(s);
    run_for(l, 250);
    ck_assert_uint_eq(ts.n, 1);
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("s.log")), 4);
    sp_file_source_free(s);
    sp_ckpt_close(&ck);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* ---- backpressure ---- */

START_TEST(test_pause_and_full)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    put_file(P("q.log"), "r1\n");
    sp_file_source_opts o = opts(P("q.log"), &ts);
    o.poll_ms = 20;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 1, 2000));
    sp_file_source_pause(s, 1);
    append(P("q.log"), "r2\nr3\n");
    run_for(l, 200);
    ck_assert_uint_eq(ts.n, 1);
    sp_file_source_pause(s, 0);
    ck_assert(wait_records(l, &ts, 3, 2000));

    ts.full = 1;
    append(P("q.log"), "r4\n");
    run_for(l, 200);
    ck_assert_uint_eq(ts.n, 3);
    ts.full = 0;
    ck_assert(wait_records(l, &ts, 4, 2000));
    static const char *const w[] = {"r1", "r2", "r3", "r4"};
    assert_recs(&ts, 0, w, 4);
    sp_file_source_free(s);

    /* A partial line is not flushed while paused (nor while full), and is
     * once reading resumes. */
    o.partial_flush_ms = 60;
    o.start = SP_START_END;
    s = src_new(l, &o);
    run_for(l, 60);
    ck_assert_uint_eq(ts.n, 4);
    append(P("q.log"), "r5");
    run_for(l, 30);
    sp_file_source_pause(s, 1);
    run_for(l, 200);
    ck_assert_uint_eq(ts.n, 4);
    sp_file_source_pause(s, 0);
    ck_assert(wait_records(l, &ts, 5, 2000));
    ck_assert_str_eq(ts.r[4].data, "r5");
    append(P("q.log"), "\nr6");          /* the rest of r5's line is empty: no record */
    run_for(l, 30);
    ts.full = 1;
    run_for(l, 200);
    ck_assert_uint_eq(ts.n, 5);
    ts.full = 0;
    ck_assert(wait_records(l, &ts, 6, 2000));
    ck_assert_str_eq(ts.r[5].data, "r6");
    ck_assert_int_eq(ts.errors, 0);
    ck_assert_ptr_null(sp_file_source_failed(s));
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* Renamed to another name the glob matches: the same file, read on
 * without a gap or a repeat; the new file is new. */
START_TEST(test_rename_within_glob)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    put_file(P("app.log"), "");
    sp_file_source_opts o = opts(P("app.log*"), &ts);
    o.poll_ms = 20;
    sp_file_source *s = src_new(l, &o);
    int fd = open(P("app.log"), O_WRONLY | O_APPEND | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    wline(fd, 0);
    ck_assert(wait_records(l, &ts, 1, 2000));
    ck_assert_int_eq(rename(P("app.log"), P("app.log.1")), 0);
    wline(fd, 1);
    put_file(P("app.log"), "line 000002\n");
    wline(fd, 3);
    close(fd);
    ck_assert(wait_records(l, &ts, 4, 2000));
    run_for(l, 150);
    check_exactly_once_in_order(&ts, 4);
    sp_file_source_stats st;
    sp_file_source_stats_get(s, &st);
    ck_assert_uint_eq(st.files, 2);
    ck_assert_uint_eq(st.rotations, 0);
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* At start-up, the entry of a file deleted while stopped is dropped; an
 * entry of another flow, or for a path outside the glob, is kept. */
START_TEST(test_checkpoint_gc)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    sp_ckpt ck;
    unsigned char fp[32] = {0};
    ck_assert_int_eq(sp_ckpt_open(&ck, P("ckpt"), &err), SP_OK);
    put_file(P("k.log"), "k\n");
    ck_assert_int_eq(sp_ckpt_set(&ck, "test", P("old.log"), 1, 999999, 0, fp, 0, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_set(&ck, "other", P("old.log"), 1, 999998, 0, fp, 0, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_set(&ck, "test", P("x.txt"), 1, 999997, 0, fp, 0, &err), SP_OK);
    sp_file_source_opts o = opts(P("*.log"), &ts);
    o.ckpt = &ck;
    sp_file_source *s = src_new(l, &o);
    ck_assert_ptr_null(sp_ckpt_find(&ck, "test", 1, 999999));
    ck_assert_ptr_nonnull(sp_ckpt_find(&ck, "other", 1, 999998));
    ck_assert_ptr_nonnull(sp_ckpt_find(&ck, "test", 1, 999997));
    ck_assert(wait_records(l, &ts, 1, 2000));
    ck_assert_uint_eq(entry_offset(&ck, P("k.log")), 0);   /* written at open */
    ck_assert_int_eq(sp_file_source_checkpoint(s, &err), SP_OK);
    ck_assert_uint_eq(entry_offset(&ck, P("k.log")), 2);
    sp_file_source_free(s);
    sp_ckpt_close(&ck);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

/* Acks after sp_file_source_free only release memory. */
START_TEST(test_ack_after_free)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    ts.delayed = 1;
    put_file(P("z.log"), "z1\nz2\n");
    sp_file_source_opts o = opts(P("z.log"), &ts);
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 2, 2000));
    sp_file_source_free(s);
    ts_ack(&ts, 1, 0);
    ts_ack(&ts, 0, 1);
    sp_loop_free(l);
    ts_free(&ts);
    teardown();
}
END_TEST

START_TEST(test_bad_options)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    sp_file_source_opts o = opts("/nonexistent-dir-sp/*.log", &ts);
    o.flow = NULL;
    ck_assert_ptr_null(sp_file_source_new(l, &o, &err));
    o.flow = "f";
    o.glob = "/tmp/";
    ck_assert_ptr_null(sp_file_source_new(l, &o, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "flow f"));
    o.glob = "/nonexistent-dir-sp/*.log";
    o.max_record = 0;
    ck_assert_ptr_null(sp_file_source_new(l, &o, &err));
    o.max_record = 10;
    sp_file_source *s = src_new(l, &o);      /* nothing there yet: fine */
    run_for(l, 60);
    ck_assert_uint_eq(ts.n, 0);
    sp_file_source_free(s);
    sp_file_source_free(NULL);
    sp_loop_free(l);
}
END_TEST

/* ---- paths that cannot be tailed ---- */

static int count_in(FILE *f, const char *needle)
{
    static char text[65536];
    fflush(f);
    rewind(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fseek(f, 0, SEEK_END);
    int k = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        k++;
    return k;
}

static int count_warn(FILE *f, const char *name, const char *what)
{
    char needle[512];
    snprintf(needle, sizeof needle, "warn: flow test: %s/%s %s", tmp, name, what);
    return count_in(f, needle);
}

/* A directory, a FIFO and a dangling symbolic link matched by the glob:
 * one warning each however many scans pass, again only when the thing
 * changes or comes back after it stopped matching; the regular file beside
 * them is read, and so is the link once its target exists. */
START_TEST(test_unusable_paths_warned_once)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    tsink ts = {0};
    FILE *logf = tmpfile();
    ck_assert_ptr_nonnull(logf);
    sp_log lg = {.level = SP_LOG_INFO, .out = logf};
    put_file(P("a.log"), "a1\n");
    ck_assert_int_eq(mkdir(P("d.log"), 0755), 0);
    ck_assert_int_eq(mkfifo(P("f.log"), 0644), 0);
    ck_assert_int_eq(symlink(P("target"), P("l.log")), 0);
    ck_assert_int_eq(symlink("loop.log", P("loop.log")), 0);
    sp_file_source_opts o = opts(P("*.log"), &ts);
    o.poll_ms = 20;
    o.log = &lg;
    sp_file_source *s = src_new(l, &o);
    ck_assert(wait_records(l, &ts, 1, 2000));
    append(P("a.log"), "a2\n");
    ck_assert(wait_records(l, &ts, 2, 2000));
    run_for(l, 400);                                /* some 20 scans */
    ck_assert_int_eq(count_warn(logf, "d.log", "is a directory, not a regular file"), 1);
    ck_assert_int_eq(count_warn(logf, "f.log", "is a FIFO, not a regular file"), 1);
    ck_assert_int_eq(count_warn(logf, "l.log", "is a symbolic link to a missing file"), 1);
    ck_assert_int_eq(count_warn(logf, "loop.log", "cannot be read: Too many levels"), 1);
    ck_assert_int_eq(count_in(logf, "warn: "), 4);

    /* Changed: warned again, once. */
    ck_assert_int_eq(rmdir(P("d.log")), 0);
    ck_assert_int_eq(mkfifo(P("d.log"), 0600), 0);
    run_for(l, 200);
    ck_assert_int_eq(count_warn(logf, "d.log", "is a FIFO"), 1);
    ck_assert_int_eq(count_in(logf, "warn: "), 5);
    /* Gone (forgotten), then back: warned again. */
    ck_assert_int_eq(unlink(P("f.log")), 0);
    run_for(l, 100);
    ck_assert_int_eq(mkfifo(P("f.log"), 0644), 0);
    run_for(l, 200);
    ck_assert_int_eq(count_warn(logf, "f.log", "is a FIFO"), 2);
    ck_assert_int_eq(count_in(logf, "warn: "), 6);
    /* The link's target appears: it is tailed like any new file. */
    put_file(P("target"), "via link\n");
    ck_assert(wait_records(l, &ts, 3, 2000));
    ck_assert_str_eq(ts.r[2].data, "via link");
    ck_assert_int_eq(count_in(logf, "l.log can be read now: tailing it"), 1);
    run_for(l, 100);
    ck_assert_int_eq(count_in(logf, "warn: "), 6);

    /* Not ours to read: only root reads anyway. */
    if (geteuid() != 0) {
        put_file(P("p.log"), "secret\n");
        ck_assert_int_eq(chmod(P("p.log"), 0), 0);
        run_for(l, 200);
        ck_assert_int_eq(count_warn(logf, "p.log", "cannot be opened: Permission denied"), 1);
        ck_assert_int_eq(chmod(P("p.log"), 0644), 0);
        ck_assert(wait_records(l, &ts, 4, 2000));
        ck_assert_str_eq(ts.r[3].data, "secret");
    }
    ck_assert_int_eq(ts.errors, 0);
    sp_file_source_free(s);
    sp_loop_free(l);
    ts_free(&ts);
    fclose(logf);
    teardown();
}
END_TEST

/* ---- the directory watch on its own ---- */

struct wev {
    int n[4];                   /* by enum sp_watch_event */
    char written[256];          /* the last SP_WATCH_WRITTEN path */
    char found[8][256];
    int nfound;
};

static void on_wev(void *arg, enum sp_watch_event ev, const char *path)
{
    struct wev *e = arg;
    e->n[ev]++;
    if (ev == SP_WATCH_WRITTEN)
        snprintf(e->written, sizeof e->written, "%s", path ? path : "(null)");
}

static void on_wfound(void *arg, const char *path, const struct stat *st)
{
    struct wev *e = arg;
    ck_assert(S_ISREG(st->st_mode));
    ck_assert_int_lt(e->nfound, 8);
    snprintf(e->found[e->nfound++], sizeof e->found[0], "%s", path);
}

static int written_a(void *arg)
{
    return strcmp(((struct wev *)arg)->written, P("a.log")) == 0;
}

static int rescanned(void *arg)
{
    return ((struct wev *)arg)->n[SP_WATCH_RESCAN] > 0;
}

/* A scan hands over the matching regular files only (not a compressed
 * rotation, not a directory, which is warned about once); inotify says
 * which file was written, spelled as the scan spells it, and that names
 * came; the poll timer ticks until the watch is stopped. */
START_TEST(test_watch_scan_and_events)
{
    setup();
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    FILE *logf = tmpfile();
    ck_assert_ptr_nonnull(logf);
    sp_log lg = {.level = SP_LOG_INFO, .out = logf};
    put_file(P("a.log"), "a\n");
    put_file(P("a.log.1.gz"), "zz");
    put_file(P("b.txt"), "b\n");
    ck_assert_int_eq(mkdir(P("d.log"), 0755), 0);
    struct wev e;
    memset(&e, 0, sizeof e);
    char glob[128];
    snprintf(glob, sizeof glob, "%s/*.log*", tmp);
    sp_watch_opts o = {"test", glob, 50, 0, &lg, on_wev, &e};
    sp_watch *w = sp_watch_new(l, &o, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    for (int round = 0; round < 3; round++) {
        e.nfound = 0;
        ck_assert_int_eq(sp_watch_scan(w, on_wfound, &e), SP_OK);
        ck_assert_int_eq(e.nfound, 1);
        ck_assert_str_eq(e.found[0], P("a.log"));
    }
    ck_assert_int_eq(count_warn(logf, "d.log", "is a directory, not a regular file"), 1);
    ck_assert_int_eq(count_in(logf, "warn: "), 1);
    ck_assert(sp_watch_matches(w, P("x.log")));
    ck_assert(!sp_watch_matches(w, P("x.txt")));
    ck_assert(!sp_watch_matches(w, P("sub/x.log")));
    if (sp_watch_inotify(w)) {
        append(P("a.log"), "more\n");
        ck_assert(run_until(l, written_a, &e, 2000));
        put_file(P("c.log"), "c\n");
        ck_assert(run_until(l, rescanned, &e, 2000));
    } else {
        fprintf(stderr, "test_watch_scan_and_events: no inotify here, its part skipped\n");
    }
    run_for(l, 140);
    ck_assert_int_ge(e.n[SP_WATCH_POLL], 2);
    sp_watch_stop(w);
    ck_assert(!sp_watch_inotify(w));
    int polls = e.n[SP_WATCH_POLL];
    run_for(l, 140);
    ck_assert_int_eq(e.n[SP_WATCH_POLL], polls);
    sp_watch_free(w);
    sp_loop_free(l);
    fclose(logf);
    teardown();
}
END_TEST

static Suite *source_file_suite(void)
{
    Suite *s = suite_create("source_file");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_start_end_vs_beginning);
    tcase_add_test(tc, test_glob_in_directory);
    tcase_add_test(tc, test_new_file_found);
    tcase_add_test(tc, test_rotation_rename_create);
    tcase_add_test(tc, test_rotation_not_abandoned);
    tcase_add_test(tc, test_copytruncate);
    tcase_add_test(tc, test_delete_closes);
    tcase_add_test(tc, test_partial_line);
    tcase_add_test(tc, test_multiline_and_header);
    tcase_add_test(tc, test_oversize_terminator);
    tcase_add_test(tc, test_big_file);
    tcase_add_test(tc, test_checkpoint_resume);
    tcase_add_test(tc, test_checkpoint_gap);
    tcase_add_test(tc, test_checkpoint_moves_past_failed);
    tcase_add_test(tc, test_file_appeared_while_stopped);
    tcase_add_test(tc, test_checkpoint_mismatch);
    tcase_add_test(tc, test_stop_keeps_partial);
    tcase_add_test(tc, test_pause_and_full);
    tcase_add_test(tc, test_ack_after_free);
    tcase_add_test(tc, test_rename_within_glob);
    tcase_add_test(tc, test_checkpoint_gc);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_unusable_paths_warned_once);
    tcase_add_test(tc, test_watch_scan_and_events);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(source_file_suite)
