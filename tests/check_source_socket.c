/* source_socket: TCP, UDP and unix stream sources driven by a real event
 * loop, with clients as plain sockets in the same process (loopback and
 * temporary directories only). Many interleaved clients, max_clients,
 * the oversize policies and bounded memory, datagram modes, pause and a
 * full sink, partial lines at disconnect and stop, stale socket files,
 * busy ports, bad options, sink failures. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/source_socket.h"

/* ---- a collecting sink ---- */

typedef struct rec {
    char *data;
    size_t len;
    unsigned flags;
} rec;

typedef struct coll {
    rec *r;
    size_t n, cap;
    int full;               /* what sink.full answers */
    long fail_at;           /* record index that fails, -1: none */
    size_t max_seen;        /* longest record */
    sp_socket_source *src;  /* for the stop-inside-sink check */
    int stop_rc;            /* what stop returned from inside the sink */
} coll;

static void coll_init(coll *c)
{
    memset(c, 0, sizeof *c);
    c->fail_at = -1;
    c->stop_rc = 1;
}

static void coll_free(coll *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->r[i].data);
    free(c->r);
    memset(c, 0, sizeof *c);
}

static int on_record(void *arg, const char *data, size_t len, unsigned flags,
                     sp_ack_token_fn ack, void *token, uint64_t tag, sp_err *err)
{
    coll *c = arg;
    ck_assert_ptr_nonnull(ack);
    ck_assert_ptr_null(token);
    ack(token, tag, 1);             /* a no-op, but it must be callable */
    if (c->fail_at >= 0 && (long)c->n == c->fail_at) {
        if (c->src != NULL)
            c->stop_rc = sp_socket_source_stop(c->src, err);
        return sp_err_set(err, "sink refused record %zu", c->n);
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->r = realloc(c->r, c->cap * sizeof *c->r);
        ck_assert_ptr_nonnull(c->r);
    }
    rec *r = &c->r[c->n++];
    r->data = malloc(len + 1);
    ck_assert_ptr_nonnull(r->data);
    memcpy(r->data, data, len);
    r->data[len] = '\0';
    r->len = len;
    r->flags = flags;
    if (len > c->max_seen)
        c->max_seen = len;
    return SP_OK;
}

static int on_full(void *arg)
{
    return ((coll *)arg)->full;
}

static void assert_rec(const coll *c, size_t i, const char *data, unsigned flags)
{
    ck_assert_msg(i < c->n, "record %zu missing (have %zu)", i, c->n);
    ck_assert_msg(c->r[i].len == strlen(data) && memcmp(c->r[i].data, data, c->r[i].len) == 0,
                  "record %zu: \"%s\", want \"%s\"", i, c->r[i].data, data);
    ck_assert_msg(c->r[i].flags == flags, "record %zu flags %u, want %u", i, c->r[i].flags, flags);
}

#define P SP_FRAME_PART
#define PL (SP_FRAME_PART | SP_FRAME_LAST_PART)
#define T SP_FRAME_TRUNCATED
#define U SP_FRAME_UNTERMINATED

static const sp_log quiet = {.level = SP_LOG_ERROR, .out = NULL};

static sp_socket_source_opts base_opts(enum sp_source_kind kind, coll *c)
{
    sp_socket_source_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.max_line = 1024;
    o.oversize = SP_OVERSIZE_SPLIT;
    o.sink.record = on_record;
    o.sink.full = on_full;
    o.sink.arg = c;
    o.log = &quiet;
    o.name = "test";
    return o;
}

static sp_socket_source *must_new(sp_loop *l, const sp_socket_source_opts *o)
{
    sp_err err = {0};
    sp_socket_source *s = sp_socket_source_new(l, o, &err);
    ck_assert_msg(s != NULL, "sp_socket_source_new: %s", err.msg);
    return s;
}

/* ---- running the loop until something holds ---- */

typedef int (*pred_fn)(void *arg);

struct waiter {
    pred_fn pred;
    void *arg;
    sp_timer poll, deadline;
    int timed_out;
};

static void on_poll(sp_loop *l, void *arg)
{
    struct waiter *w = arg;
    if (w->pred != NULL && w->pred(w->arg)) {
        sp_loop_stop(l);
        return;
    }
    ck_assert_int_eq(sp_timer_start(l, &w->poll, 1, NULL), SP_OK);
}

static void on_deadline(sp_loop *l, void *arg)
{
    struct waiter *w = arg;
    w->timed_out = 1;
    sp_loop_stop(l);
}

/* Runs until pred holds (1) or ms pass (0). pred NULL: just runs ms. */
static int run_until(sp_loop *l, pred_fn pred, void *arg, uint64_t ms)
{
    struct waiter w;
    sp_err err;
    memset(&w, 0, sizeof w);
    w.pred = pred;
    w.arg = arg;
    sp_timer_init(&w.poll, on_poll, &w);
    sp_timer_init(&w.deadline, on_deadline, &w);
    ck_assert_int_eq(sp_timer_start(l, &w.poll, 0, &err), SP_OK);
    ck_assert_int_eq(sp_timer_start(l, &w.deadline, ms, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(l, &err), SP_OK);
    sp_timer_stop(l, &w.poll);
    sp_timer_stop(l, &w.deadline);
    return pred != NULL && !w.timed_out ? 1 : (pred != NULL ? pred(arg) : 0);
}

struct nrec {
    coll *c;
    size_t n;
};

static int have_n(void *arg)
{
    struct nrec *w = arg;
    return w->c->n >= w->n;
}

static void wait_records(sp_loop *l, coll *c, size_t n)
{
    struct nrec w = {c, n};
    ck_assert_msg(run_until(l, have_n, &w, 10000), "waited for %zu records, have %zu", n, c->n);
}

struct stat_wait {
    sp_socket_source *s;
    unsigned clients;
    uint64_t accepted_rejected;
    uint64_t datagrams;
    size_t held;
};

static int clients_are(void *arg)
{
    struct stat_wait *w = arg;
    return sp_socket_source_stats_get(w->s).clients == w->clients;
}

static int conns_seen(void *arg)
{
    struct stat_wait *w = arg;
    sp_socket_source_stats st = sp_socket_source_stats_get(w->s);
    return st.accepted + st.rejected >= w->accepted_rejected;
}

static int dgrams_seen(void *arg)
{
    struct stat_wait *w = arg;
    return sp_socket_source_stats_get(w->s).datagrams >= w->datagrams;
}

static int held_is(void *arg)
{
    struct stat_wait *w = arg;
    return sp_socket_source_stats_get(w->s).held == w->held;
}

/* ---- clients ---- */

static int tcp_connect_af(int af, int port)
{
    int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    int rc;
    if (af == AF_INET6) {
        struct sockaddr_in6 a;
        memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons((uint16_t)port);
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    ck_assert_msg(rc == 0, "connect: %s", strerror(errno));
    return fd;
}

static int tcp_connect(int port)
{
    return tcp_connect_af(AF_INET, port);
}

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect %s: %s", path,
                  strerror(errno));
    return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        ck_assert_msg(k > 0, "write: %s", strerror(errno));
        s += k;
        n -= (size_t)k;
    }
}

static void write_str(int fd, const char *s)
{
    write_all(fd, s, strlen(s));
}

static void udp_send_af(int af, int port, const void *p, size_t n)
{
    int fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ssize_t k;
    if (af == AF_INET6) {
        struct sockaddr_in6 a;
        memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons((uint16_t)port);
        a.sin6_addr = in6addr_loopback;
        k = sendto(fd, p, n, 0, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        k = sendto(fd, p, n, 0, (struct sockaddr *)&a, sizeof a);
    }
    ck_assert_msg(k == (ssize_t)n, "sendto: %s", strerror(errno));
    close(fd);
}

static void udp_send(int port, const char *s)
{
    udp_send_af(AF_INET, port, s, strlen(s));
}

/* The server closed this client: read sees the end (or a reset). */
static void assert_closed_by_server(int fd)
{
    struct timeval tv = {5, 0};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char b[16];
    ssize_t k;
    do
        k = read(fd, b, sizeof b);
    while (k < 0 && errno == EINTR);
    ck_assert_msg(k == 0 || (k < 0 && errno == ECONNRESET), "read gave %zd (%s)", k,
                  k < 0 ? strerror(errno) : "data");
}

/* A fresh temporary directory; the caller removes it. */
static void temp_dir(char *out, size_t n)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, n, "%s/sp-sock-XXXXXX", t && t[0] ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(out));
}

/* ---- many clients, interleaved ---- */

#define NCLIENTS 50
#define NLINES 1000
#define PER_TICK 10

struct many {
    int fds[NCLIENTS];
    int next;               /* next line number to write */
    sp_timer t;
    sp_socket_source *s;
};

static void on_many_tick(sp_loop *l, void *arg)
{
    struct many *m = arg;
    char line[64];
    for (int c = 0; c < NCLIENTS; c++) {
        for (int i = m->next; i < m->next + PER_TICK; i++) {
            int k = snprintf(line, sizeof line, "client %d line %d\n", c, i);
            write_all(m->fds[c], line, (size_t)k);
        }
    }
    m->next += PER_TICK;
    if (m->next < NLINES) {
        ck_assert_int_eq(sp_timer_start(l, &m->t, 0, NULL), SP_OK);
        return;
    }
    for (int c = 0; c < NCLIENTS; c++)
        close(m->fds[c]);
}

struct done_wait {
    coll *c;
    size_t n;
    sp_socket_source *s;
};

static int all_done(void *arg)
{
    struct done_wait *w = arg;
    return w->c->n >= w->n && sp_socket_source_stats_get(w->s).clients == 0;
}

START_TEST(many_clients_every_line_once_in_order)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);
    ck_assert_int_gt(port, 0);

    struct many m;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < NCLIENTS; i++)
        m.fds[i] = tcp_connect(port);
    sp_timer_init(&m.t, on_many_tick, &m);
    ck_assert_int_eq(sp_timer_start(l, &m.t, 0, &err), SP_OK);

    struct done_wait w = {&c, (size_t)NCLIENTS * NLINES, s};
    ck_assert_msg(run_until(l, all_done, &w, 30000), "got %zu of %d records", c.n,
                  NCLIENTS * NLINES);
    ck_assert_uint_eq(c.n, (size_t)NCLIENTS * NLINES);

    int next[NCLIENTS] = {0};
    uint64_t bytes = 0;
    for (size_t i = 0; i < c.n; i++) {
        int cl, ln, end = 0;
        ck_assert_msg(sscanf(c.r[i].data, "client %d line %d%n", &cl, &ln, &end) == 2 &&
                      (size_t)end == c.r[i].len, "bad record \"%s\"", c.r[i].data);
        ck_assert(cl >= 0 && cl < NCLIENTS);
        ck_assert_msg(ln == next[cl], "client %d: line %d after %d", cl, ln, next[cl] - 1);
        ck_assert_uint_eq(c.r[i].flags, 0);
        next[cl]++;
        bytes += c.r[i].len + 1;
    }
    for (int i = 0; i < NCLIENTS; i++)
        ck_assert_int_eq(next[i], NLINES);
    sp_socket_source_stats st = sp_socket_source_stats_get(s);
    ck_assert_uint_eq(st.accepted, NCLIENTS);
    ck_assert_uint_eq(st.rejected, 0);
    ck_assert_uint_eq(st.records, (uint64_t)NCLIENTS * NLINES);
    ck_assert_uint_eq(st.bytes, bytes);
    ck_assert_uint_eq(st.held, 0);
    ck_assert_ptr_null(sp_socket_source_failed(s));

    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* A client with a lot queued does not hold up one with a single line. */
START_TEST(reads_are_fair)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);

    /* Accepted last, the big client is watched first on resume, so it
     * is the one epoll reports first. */
    int small = tcp_connect(port);
    int big = tcp_connect(port);
    struct stat_wait sw = {s, 2, 0, 0, 0};
    ck_assert(run_until(l, clients_are, &sw, 5000));
    ck_assert_int_eq(sp_socket_source_pause(s, 1, &err), SP_OK);

    /* Fill the big client's socket buffers while nothing reads. */
    ck_assert_int_eq(fcntl(big, F_SETFL, O_NONBLOCK), 0);
    int sndbuf = 1 << 20;
    ck_assert_int_eq(setsockopt(big, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    char lines100[100 * 64];
    for (size_t i = 0; i < sizeof lines100; i++)
        lines100[i] = i % 100 == 99 ? '\n' : 'b';
    size_t queued = 0;
    for (;;) {
        ssize_t k = write(big, lines100, sizeof lines100);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            ck_assert_msg(errno == EAGAIN, "write: %s", strerror(errno));
            break;
        }
        queued += (size_t)k;
        if ((size_t)k < sizeof lines100)
            break;          /* a short write: the buffers are full */
    }
    size_t lines = queued / 100 + (queued % 100 != 0);  /* the last may be partial */
    ck_assert_msg(queued >= 3 * 65536, "only %zu bytes queued", queued);
    write_str(small, "small\n");

    ck_assert_int_eq(sp_socket_source_pause(s, 0, &err), SP_OK);
    struct nrec w = {&c, 0};
    size_t small_at = (size_t)-1;
    while (small_at == (size_t)-1) {
        w.n = c.n + 1;
        ck_assert(run_until(l, have_n, &w, 5000));
        for (size_t i = 0; i < c.n; i++)
            if (strcmp(c.r[i].data, "small") == 0)
                small_at = i;
    }
    /* Two wake-ups of the big client at most: 2 * 64 KiB of 100-byte lines. */
    ck_assert_msg(small_at <= 2 * 65536 / 100 + 1,
                  "the small client's line came after %zu of %zu big lines", small_at, lines);
    close(big);             /* its partial last line, if any, ends with it */
    close(small);
    wait_records(l, &c, lines + 1);
    ck_assert_uint_eq(c.n, lines + 1);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* ---- max clients ---- */

START_TEST(max_clients_enforced)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    o.max_clients = 2;
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);

    int a = tcp_connect(port), b = tcp_connect(port), x = tcp_connect(port);
    struct stat_wait sw = {s, 0, 3, 0, 0};
    ck_assert(run_until(l, conns_seen, &sw, 5000));
    sp_socket_source_stats st = sp_socket_source_stats_get(s);
    ck_assert_uint_eq(st.clients, 2);
    ck_assert_uint_eq(st.accepted, 2);
    ck_assert_uint_eq(st.rejected, 1);
    assert_closed_by_server(x);     /* the third, refused at once */
    close(x);

    write_str(a, "from a\n");
    write_str(b, "from b\n");
    wait_records(l, &c, 2);

    /* A slot freed is a slot taken again. */
    close(a);
    sw.clients = 1;
    ck_assert(run_until(l, clients_are, &sw, 5000));
    int d = tcp_connect(port);
    write_str(d, "from d\n");
    wait_records(l, &c, 3);
    assert_rec(&c, 2, "from d", 0);
    st = sp_socket_source_stats_get(s);
    ck_assert_uint_eq(st.accepted, 3);
    ck_assert_uint_eq(st.rejected, 1);
    ck_assert_uint_eq(st.clients, 2);

    close(b);
    close(d);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* ---- oversize lines ---- */

START_TEST(oversize_line_policies)
{
    static const enum sp_oversize pols[] = {SP_OVERSIZE_SPLIT, SP_OVERSIZE_TRUNCATE,
                                            SP_OVERSIZE_DROP};
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    o.max_line = 16;
    o.oversize = pols[_i];
    o.truncated_terminator = "...";
    sp_socket_source *s = must_new(l, &o);

    int fd = tcp_connect(sp_socket_source_port(s));
    char big[41];
    memset(big, 'x', 40);
    big[40] = '\0';
    write_str(fd, "short\n");
    write_str(fd, big);
    write_str(fd, "\nafter\n");
    close(fd);
    struct stat_wait sw = {s, 0, 1, 0, 0};
    ck_assert(run_until(l, conns_seen, &sw, 5000));
    ck_assert(run_until(l, clients_are, &sw, 5000));

    sp_socket_source_stats st = sp_socket_source_stats_get(s);
    assert_rec(&c, 0, "short", 0);
    switch (pols[_i]) {
    case SP_OVERSIZE_SPLIT:
        ck_assert_uint_eq(c.n, 5);
        assert_rec(&c, 1, "xxxxxxxxxxxxxxxx", P);
        assert_rec(&c, 2, "xxxxxxxxxxxxxxxx", P);
        assert_rec(&c, 3, "xxxxxxxx", PL);
        assert_rec(&c, 4, "after", 0);
        ck_assert_uint_eq(st.split, 1);
        break;
    case SP_OVERSIZE_TRUNCATE:
        ck_assert_uint_eq(c.n, 3);
        assert_rec(&c, 1, "xxxxxxxxxxxxx...", T);   /* 16 bytes with the terminator */
        assert_rec(&c, 2, "after", 0);
        ck_assert_uint_eq(st.truncated, 1);
        break;
    case SP_OVERSIZE_DROP:
        ck_assert_uint_eq(c.n, 2);
        assert_rec(&c, 1, "after", 0);
        ck_assert_uint_eq(st.dropped_oversize, 1);
        break;
    }
    ck_assert_uint_le(c.max_seen, 16);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* A 4 MB line trickles in: the source never holds more than the cap. */
#define LONG_LINE (4u << 20)
#define LONG_MAX_LINE 1000u

struct longw {
    int fd;
    size_t sent;            /* bytes of the long line written */
    int tail_sent;
    sp_timer t;
    sp_socket_source *s;
    size_t max_held;
};

static void on_long_tick(sp_loop *l, void *arg)
{
    struct longw *w = arg;
    char chunk[65536];
    memset(chunk, 'y', sizeof chunk);
    size_t held = sp_socket_source_stats_get(w->s).held;
    if (held > w->max_held)
        w->max_held = held;
    while (w->sent < LONG_LINE) {
        size_t n = LONG_LINE - w->sent < sizeof chunk ? LONG_LINE - w->sent : sizeof chunk;
        ssize_t k = write(w->fd, chunk, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            ck_assert_msg(errno == EAGAIN, "write: %s", strerror(errno));
            ck_assert_int_eq(sp_timer_start(l, &w->t, 1, NULL), SP_OK);
            return;
        }
        w->sent += (size_t)k;
    }
    ck_assert_int_eq(fcntl(w->fd, F_SETFL, 0), 0);
    write_str(w->fd, "\nok\n");
    close(w->fd);
    w->tail_sent = 1;
}

START_TEST(long_line_memory_bounded)
{
    static const enum sp_oversize pols[] = {SP_OVERSIZE_SPLIT, SP_OVERSIZE_TRUNCATE,
                                            SP_OVERSIZE_DROP};
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    o.max_line = LONG_MAX_LINE;
    o.oversize = pols[_i];
    sp_socket_source *s = must_new(l, &o);

    struct longw w;
    memset(&w, 0, sizeof w);
    w.s = s;
    w.fd = tcp_connect(sp_socket_source_port(s));
    ck_assert_int_eq(fcntl(w.fd, F_SETFL, O_NONBLOCK), 0);
    sp_timer_init(&w.t, on_long_tick, &w);
    ck_assert_int_eq(sp_timer_start(l, &w.t, 0, &err), SP_OK);
    struct stat_wait sw = {s, 0, 1, 0, 0};
    ck_assert(run_until(l, conns_seen, &sw, 5000));
    ck_assert(run_until(l, clients_are, &sw, 30000));
    ck_assert(w.tail_sent);

    ck_assert_uint_le(w.max_held, LONG_MAX_LINE);
    ck_assert_uint_le(c.max_seen, LONG_MAX_LINE);
    size_t want = pols[_i] == SP_OVERSIZE_SPLIT ? (LONG_LINE + LONG_MAX_LINE - 1) / LONG_MAX_LINE + 1
                : pols[_i] == SP_OVERSIZE_TRUNCATE ? 2 : 1;
    ck_assert_uint_eq(c.n, want);
    assert_rec(&c, c.n - 1, "ok", 0);
    if (pols[_i] == SP_OVERSIZE_SPLIT)
        ck_assert_uint_eq(c.r[c.n - 2].flags, PL);
    if (pols[_i] == SP_OVERSIZE_TRUNCATE)
        ck_assert_uint_eq(c.r[0].flags, T);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* ---- UDP ---- */

START_TEST(udp_datagram_is_a_record)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_UDP, &c);
    o.max_line = 16;
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);
    ck_assert_int_gt(port, 0);

    char big[41];
    memset(big, 'z', 40);
    big[40] = '\0';
    udp_send(port, "hello\n");
    udp_send(port, "a\nb");
    udp_send(port, "");
    udp_send(port, big);
    struct stat_wait sw = {s, 0, 0, 4, 0};
    ck_assert(run_until(l, dgrams_seen, &sw, 5000));
    ck_assert_uint_eq(c.n, 5);
    assert_rec(&c, 0, "hello", 0);
    assert_rec(&c, 1, "a\nb", 0);
    assert_rec(&c, 2, "zzzzzzzzzzzzzzzz", P);
    assert_rec(&c, 3, "zzzzzzzzzzzzzzzz", P);
    assert_rec(&c, 4, "zzzzzzzz", PL);
    sp_socket_source_stats st = sp_socket_source_stats_get(s);
    ck_assert_uint_eq(st.datagrams, 4);
    ck_assert_uint_eq(st.dropped_datagrams, 0);
    ck_assert_uint_eq(st.records, 5);
    ck_assert_uint_eq(st.split, 1);
    ck_assert_uint_eq(st.bytes, 6 + 3 + 0 + 40);
    sp_socket_source_free(s);

    /* Truncate with a terminator, and drop. */
    coll_free(&c);
    coll_init(&c);
    o.oversize = SP_OVERSIZE_TRUNCATE;
    o.truncated_terminator = "~";
    s = must_new(l, &o);
    port = sp_socket_source_port(s);
    udp_send(port, big);
    udp_send(port, "fits exactly 16\n");
    sw.s = s;
    sw.datagrams = 2;
    ck_assert(run_until(l, dgrams_seen, &sw, 5000));
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "zzzzzzzzzzzzzzz~", T);
    assert_rec(&c, 1, "fits exactly 16", 0);
    sp_socket_source_free(s);

    coll_free(&c);
    coll_init(&c);
    o.oversize = SP_OVERSIZE_DROP;
    s = must_new(l, &o);
    port = sp_socket_source_port(s);
    udp_send(port, big);
    udp_send(port, "kept");
    sw.s = s;
    ck_assert(run_until(l, dgrams_seen, &sw, 5000));
    ck_assert_uint_eq(c.n, 1);
    assert_rec(&c, 0, "kept", 0);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).dropped_oversize, 1);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

START_TEST(udp_lines_mode)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_UDP, &c);
    o.udp_lines = 1;
    o.max_line = 8;
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);

    udp_send(port, "a\nb\nc");
    udp_send(port, "x\n");
    udp_send(port, "0123456789\n");
    struct stat_wait sw = {s, 0, 0, 3, 0};
    ck_assert(run_until(l, dgrams_seen, &sw, 5000));
    ck_assert_uint_eq(c.n, 6);
    assert_rec(&c, 0, "a", 0);
    assert_rec(&c, 1, "b", 0);
    assert_rec(&c, 2, "c", 0);      /* a datagram's end ends its last line */
    assert_rec(&c, 3, "x", 0);
    assert_rec(&c, 4, "01234567", P);
    assert_rec(&c, 5, "89", PL);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).held, 0);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

START_TEST(udp_drops_while_paused_or_full)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_UDP, &c);
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);

    ck_assert_int_eq(sp_socket_source_pause(s, 1, &err), SP_OK);
    udp_send(port, "one");
    udp_send(port, "two");
    udp_send(port, "three");
    struct stat_wait sw = {s, 0, 0, 3, 0};
    ck_assert(run_until(l, dgrams_seen, &sw, 5000));
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).dropped_datagrams, 3);

    ck_assert_int_eq(sp_socket_source_pause(s, 0, &err), SP_OK);
    c.full = 1;
    udp_send(port, "four");
    sw.datagrams = 4;
    ck_assert(run_until(l, dgrams_seen, &sw, 5000));
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).dropped_datagrams, 4);

    c.full = 0;
    udp_send(port, "five");
    wait_records(l, &c, 1);
    assert_rec(&c, 0, "five", 0);
    sp_socket_source_stats st = sp_socket_source_stats_get(s);
    ck_assert_uint_eq(st.datagrams, 5);
    ck_assert_uint_eq(st.dropped_datagrams, 4);
    ck_assert_uint_eq(st.records, 1);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* ---- unix sockets ---- */

START_TEST(unix_stream_socket)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    char dir[256], path[300];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/in.sock", dir);

    mode_t old = umask(0077);       /* the mode must not depend on it */
    sp_socket_source_opts o = base_opts(SP_SRC_UNIX, &c);
    o.path = path;
    sp_socket_source *s = must_new(l, &o);
    umask(old);
    ck_assert_int_eq(sp_socket_source_port(s), 0);
    struct stat sb;
    ck_assert_int_eq(lstat(path, &sb), 0);
    ck_assert(S_ISSOCK(sb.st_mode));
    ck_assert_int_eq(sb.st_mode & 07777, 0660);

    int fd = unix_connect(path);
    write_str(fd, "u1\nu2\nu3");
    close(fd);
    wait_records(l, &c, 3);
    assert_rec(&c, 0, "u1", 0);
    assert_rec(&c, 1, "u2", 0);
    assert_rec(&c, 2, "u3", U);

    sp_socket_source_free(s);
    ck_assert_int_eq(lstat(path, &sb), -1);     /* removed with the source */
    ck_assert_int_eq(errno, ENOENT);

    /* With a permissive umask the mode is the same. */
    old = umask(0);
    s = must_new(l, &o);
    umask(old);
    ck_assert_int_eq(lstat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 07777, 0660);
    sp_socket_source_free(s);

    ck_assert_int_eq(rmdir(dir), 0);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

START_TEST(unix_stale_socket_replaced_other_files_refused)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    char dir[256], path[300], file[300];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/stale.sock", dir);
    snprintf(file, sizeof file, "%s/regular", dir);

    /* A socket file left behind by a process that is gone. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(path), sizeof a.sun_path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    struct stat sb;
    ck_assert_int_eq(lstat(path, &sb), 0);

    sp_socket_source_opts o = base_opts(SP_SRC_UNIX, &c);
    o.path = path;
    sp_socket_source *s = must_new(l, &o);
    fd = unix_connect(path);
    write_str(fd, "works\n");
    wait_records(l, &c, 1);
    close(fd);

    /* One that somebody listens on is not stale. */
    err.msg[0] = '\0';
    ck_assert_ptr_null(sp_socket_source_new(l, &o, &err));
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "listening"), "%s", err.msg);
    sp_socket_source_free(s);

    /* A regular file is never removed. */
    int rf = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(rf, 0);
    write_str(rf, "precious\n");
    close(rf);
    o.path = file;
    ck_assert_ptr_null(sp_socket_source_new(l, &o, &err));
    ck_assert_msg(strstr(err.msg, file) && strstr(err.msg, "not a socket"), "%s", err.msg);
    ck_assert_int_eq(lstat(file, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_int_eq(sb.st_size, 9);

    /* Nor a directory. */
    o.path = dir;
    ck_assert_ptr_null(sp_socket_source_new(l, &o, &err));
    ck_assert_msg(strstr(err.msg, "not a socket"), "%s", err.msg);

    ck_assert_int_eq(unlink(file), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* ---- pause and a full sink ---- */

START_TEST(pause_holds_data_in_the_kernel)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);

    /* Paused from the start: no accept, no read. */
    ck_assert_int_eq(sp_socket_source_pause(s, 1, &err), SP_OK);
    int fd = tcp_connect(port);     /* completes in the kernel's backlog */
    write_str(fd, "p1\np2\n");
    run_until(l, NULL, NULL, 100);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).accepted, 0);

    ck_assert_int_eq(sp_socket_source_pause(s, 0, &err), SP_OK);
    wait_records(l, &c, 2);
    assert_rec(&c, 0, "p1", 0);
    assert_rec(&c, 1, "p2", 0);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).accepted, 1);

    /* Paused with a client connected; a second pause is harmless. */
    ck_assert_int_eq(sp_socket_source_pause(s, 1, &err), SP_OK);
    ck_assert_int_eq(sp_socket_source_pause(s, 1, &err), SP_OK);
    write_str(fd, "p3\n");
    int fd2 = tcp_connect(port);
    write_str(fd2, "q1\n");
    close(fd2);                     /* its end waits too */
    run_until(l, NULL, NULL, 100);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).clients, 1);

    ck_assert_int_eq(sp_socket_source_pause(s, 0, &err), SP_OK);
    wait_records(l, &c, 4);
    int seen_p3 = 0, seen_q1 = 0;
    for (size_t i = 2; i < 4; i++) {
        seen_p3 += strcmp(c.r[i].data, "p3") == 0;
        seen_q1 += strcmp(c.r[i].data, "q1") == 0;
    }
    ck_assert(seen_p3 == 1 && seen_q1 == 1);
    close(fd);
    struct stat_wait sw = {s, 0, 0, 0, 0};
    ck_assert(run_until(l, clients_are, &sw, 5000));
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* A stop delivers what clients had sent before it: data still in the
 * kernel, and connections still in the listen queue. */
START_TEST(stop_drains_what_was_sent)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);
    int fd = tcp_connect(port);
    write_str(fd, "a1\n");
    wait_records(l, &c, 1);
    write_str(fd, "a2\na3\n");            /* not read yet: the loop does not run */
    int fd2 = tcp_connect(port);            /* never accepted before the stop */
    write_str(fd2, "b1\nb2");
    ck_assert_int_eq(sp_socket_source_stop(s, &err), SP_OK);
    /* b2 has no newline yet: the stop reads on to its end, and no further. */
    ck_assert_uint_eq(c.n, 4);
    ck_assert(sp_socket_source_draining(s));
    assert_closed_by_server(fd);
    write_str(fd2, " end\nb3\n");
    struct stat_wait sw = {s, 0, 0, 0, 0};
    ck_assert(run_until(l, clients_are, &sw, 5000));
    ck_assert(!sp_socket_source_draining(s));
    ck_assert_uint_eq(c.n, 5);
    int seen = 0;
    for (size_t i = 0; i < c.n; i++)
        seen += strcmp(c.r[i].data, "a3") == 0 || strcmp(c.r[i].data, "b2 end") == 0;
    ck_assert_int_eq(seen, 2);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).partial, 0);
    close(fd);
    close(fd2);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

START_TEST(full_sink_pauses_streams)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    sp_socket_source *s = must_new(l, &o);
    int fd = tcp_connect(sp_socket_source_port(s));
    struct stat_wait sw = {s, 1, 0, 0, 0};
    ck_assert(run_until(l, clients_are, &sw, 5000));

    c.full = 1;
    write_str(fd, "f1\nf2\n");
    run_until(l, NULL, NULL, 150);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).bytes, 0);

    c.full = 0;                     /* the source looks again by itself */
    wait_records(l, &c, 2);
    assert_rec(&c, 0, "f1", 0);
    assert_rec(&c, 1, "f2", 0);

    /* And an explicit resume also lets it go on at once. */
    c.full = 1;
    write_str(fd, "f3\n");
    run_until(l, NULL, NULL, 80);
    ck_assert_uint_eq(c.n, 2);
    c.full = 0;
    ck_assert_int_eq(sp_socket_source_pause(s, 0, &err), SP_OK);
    wait_records(l, &c, 3);
    assert_rec(&c, 2, "f3", 0);
    close(fd);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* ---- partial lines ---- */

START_TEST(partial_line_on_disconnect_and_stop)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    sp_socket_source *s = must_new(l, &o);
    int port = sp_socket_source_port(s);

    int fd = tcp_connect(port);
    write_str(fd, "a\nb");
    close(fd);
    wait_records(l, &c, 2);
    assert_rec(&c, 0, "a", 0);
    assert_rec(&c, 1, "b", U);

    /* A reset connection keeps what was received. */
    fd = tcp_connect(port);
    write_str(fd, "r\nrr");
    struct stat_wait sw = {s, 0, 0, 0, 2};
    ck_assert(run_until(l, held_is, &sw, 5000));
    struct linger lg = {1, 0};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);                      /* sends a reset */
    wait_records(l, &c, 4);
    assert_rec(&c, 2, "r", 0);
    assert_rec(&c, 3, "rr", U);

    /* At stop, a connected client's unfinished line waits for its end; a
     * client that leaves then ends it (whole), and when the owner gives up
     * first it is dropped and counted as partial, never sent cut. */
    fd = tcp_connect(port);
    int idle = tcp_connect(port);
    int leaver = tcp_connect(port);
    write_str(fd, "zzz");
    write_str(leaver, "yy");
    sw.held = 5;
    ck_assert(run_until(l, held_is, &sw, 5000));
    ck_assert_uint_eq(sp_socket_source_stats_get(s).clients, 3);
    ck_assert_int_eq(sp_socket_source_stop(s, &err), SP_OK);
    ck_assert_uint_eq(c.n, 4);
    assert_closed_by_server(idle);
    ck_assert(sp_socket_source_draining(s));
    close(leaver);
    wait_records(l, &c, 5);
    assert_rec(&c, 4, "yy", U);
    ck_assert(sp_socket_source_draining(s));
    sp_socket_source_abandon(s);
    ck_assert(!sp_socket_source_draining(s));
    ck_assert_uint_eq(c.n, 5);
    sp_socket_source_stats st = sp_socket_source_stats_get(s);
    ck_assert_uint_eq(st.clients, 0);
    ck_assert_uint_eq(st.held, 0);
    ck_assert_uint_eq(st.partial, 1);
    assert_closed_by_server(fd);
    close(fd);
    close(idle);
    ck_assert_int_eq(sp_socket_source_stop(s, &err), SP_OK);   /* idempotent */
    ck_assert_int_eq(sp_socket_source_pause(s, 0, &err), SP_OK);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* ---- addresses ---- */

START_TEST(busy_port_names_the_address)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    static const enum sp_source_kind kinds[] = {SP_SRC_TCP, SP_SRC_UDP};
    for (int k = 0; k < 2; k++) {
        sp_socket_source_opts o = base_opts(kinds[k], &c);
        o.name = "web";
        sp_socket_source *s = must_new(l, &o);
        o.port = sp_socket_source_port(s);
        char want[64];
        snprintf(want, sizeof want, "flow web: %s 127.0.0.1:%d", k ? "udp" : "tcp", o.port);
        err.msg[0] = '\0';
        ck_assert_ptr_null(sp_socket_source_new(l, &o, &err));
        ck_assert_msg(strstr(err.msg, want) != NULL && strstr(err.msg, "bind") != NULL &&
                      strstr(err.msg, strerror(EADDRINUSE)) != NULL, "%s", err.msg);
        sp_socket_source_free(s);
    }
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

START_TEST(ipv6_loopback)
{
    /* Some sandboxes have no IPv6 at all: nothing to test there. */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "ipv6_loopback: no IPv6 loopback here, skipped\n");
        if (probe >= 0)
            close(probe);
        return;
    }
    close(probe);

    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    o.bind = "[::1]";
    sp_socket_source *s = must_new(l, &o);
    int fd = tcp_connect_af(AF_INET6, sp_socket_source_port(s));
    write_str(fd, "six\n");
    close(fd);
    wait_records(l, &c, 1);
    assert_rec(&c, 0, "six", 0);
    sp_socket_source_free(s);

    o = base_opts(SP_SRC_UDP, &c);
    o.bind = "::1";
    s = must_new(l, &o);
    udp_send_af(AF_INET6, sp_socket_source_port(s), "dgram6", 6);
    wait_records(l, &c, 2);
    assert_rec(&c, 1, "dgram6", 0);

    /* The address in messages has brackets. */
    int port = sp_socket_source_port(s);
    o.port = port;
    ck_assert_ptr_null(sp_socket_source_new(l, &o, &err));
    char want[64];
    snprintf(want, sizeof want, "udp [::1]:%d", port);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
    sp_socket_source_free(s);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

START_TEST(bad_options_refused)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o;

#define REFUSED(what, needle)                                                   \
    do {                                                                        \
        err.msg[0] = '\0';                                                      \
        ck_assert_ptr_null(sp_socket_source_new(l, &o, &err));                  \
        ck_assert_msg(strstr(err.msg, needle) != NULL, "%s: %s", what, err.msg); \
    } while (0)

    o = base_opts(SP_SRC_TCP, &c);
    o.bind = "localhost";           /* no DNS: literals only */
    REFUSED("host name", "\"localhost\"");
    o.bind = "127.0.0.256";
    REFUSED("bad IPv4", "127.0.0.256");
    o.bind = "[]";
    REFUSED("empty brackets", "bind address");
    o = base_opts(SP_SRC_TCP, &c);
    o.port = 65536;
    REFUSED("port", "65536");
    o.port = -1;
    REFUSED("negative port", "-1");
    o = base_opts(SP_SRC_UDP, &c);
    o.max_line = 0;
    REFUSED("max_line 0", "maximum line length");
    o = base_opts(SP_SRC_TCP, &c);
    o.max_line = 4;
    o.truncated_terminator = "....";
    REFUSED("terminator too long", "terminator");
    o = base_opts(SP_SRC_TCP, &c);
    o.oversize = (enum sp_oversize)7;
    REFUSED("policy", "oversize");
    o = base_opts(SP_SRC_FILE, &c);
    REFUSED("kind", "kind");
    o = base_opts(SP_SRC_TCP, &c);
    o.sink.record = NULL;
    REFUSED("no sink", "sink");
    o = base_opts(SP_SRC_UNIX, &c);
    REFUSED("no path", "path");
    char longpath[200];
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    o.path = longpath;
    REFUSED("long path", "too long");
    o.path = "/nonexistent-dir-for-sp-test/x.sock";
    REFUSED("missing dir", "/nonexistent-dir-for-sp-test/x.sock");
#undef REFUSED
    sp_socket_source_free(NULL);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

/* ---- a failing sink ---- */

struct failed {
    int calls;
    char msg[SP_ERR_MSG_MAX];
    sp_socket_source **s;
};

static void on_fail(void *arg, const char *msg)
{
    struct failed *f = arg;
    f->calls++;
    snprintf(f->msg, sizeof f->msg, "%s", msg);
    ck_assert_ptr_nonnull(sp_socket_source_failed(*f->s));
    sp_socket_source_free(*f->s);  /* allowed: called from a timer */
    *f->s = NULL;
}

static int fail_seen(void *arg)
{
    return ((struct failed *)arg)->calls > 0;
}

START_TEST(sink_failure_stops_the_source)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source *s = NULL;
    struct failed f = {0, "", &s};
    sp_socket_source_opts o = base_opts(SP_SRC_TCP, &c);
    o.on_fail = on_fail;
    o.fail_arg = &f;
    s = must_new(l, &o);
    c.fail_at = 1;
    c.src = s;                      /* the sink also tries stop(): refused */
    int port = sp_socket_source_port(s);
    int fd = tcp_connect(port), other = tcp_connect(port);
    write_str(fd, "ok\nboom\nnever\n");
    ck_assert(run_until(l, fail_seen, &f, 5000));
    ck_assert_int_eq(f.calls, 1);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(f.msg, "sink refused record 1") && strstr(f.msg, "flow test: tcp"),
                  "%s", f.msg);
    ck_assert_int_eq(c.stop_rc, SP_ERR);
    ck_assert_uint_eq(c.n, 1);
    assert_rec(&c, 0, "ok", 0);
    assert_closed_by_server(fd);
    assert_closed_by_server(other);
    close(fd);
    close(other);
    /* The listener is gone too. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(probe, (struct sockaddr *)&a, sizeof a), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    close(probe);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

START_TEST(sink_failure_at_stop)
{
    sp_err err;
    sp_loop *l = sp_loop_new(&err);
    coll c;
    coll_init(&c);
    sp_socket_source_opts o = base_opts(SP_SRC_UNIX, &c);
    char dir[256], path[300];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/s", dir);
    o.path = path;
    sp_socket_source *s = must_new(l, &o);
    int a = unix_connect(path), b = unix_connect(path);
    write_str(a, "pa");
    write_str(b, "pb");
    struct stat_wait sw = {s, 0, 0, 0, 4};
    ck_assert(run_until(l, held_is, &sw, 5000));
    write_str(a, "\n");            /* read by the stop's drain: the lines end */
    write_str(b, "\n");
    c.fail_at = 0;
    err.msg[0] = '\0';
    ck_assert_int_eq(sp_socket_source_stop(s, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "sink refused record 0") != NULL, "%s", err.msg);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(sp_socket_source_stats_get(s).clients, 0);
    struct stat sb;
    ck_assert_int_eq(lstat(path, &sb), -1);
    assert_closed_by_server(a);
    assert_closed_by_server(b);
    close(a);
    close(b);
    sp_socket_source_free(s);
    ck_assert_int_eq(rmdir(dir), 0);
    sp_loop_free(l);
    coll_free(&c);
}
END_TEST

static Suite *source_socket_suite(void)
{
    Suite *s = suite_create("source_socket");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, many_clients_every_line_once_in_order);
    tcase_add_test(tc, reads_are_fair);
    tcase_add_test(tc, max_clients_enforced);
    tcase_add_loop_test(tc, oversize_line_policies, 0, 3);
    tcase_add_loop_test(tc, long_line_memory_bounded, 0, 3);
    tcase_add_test(tc, udp_datagram_is_a_record);
    tcase_add_test(tc, udp_lines_mode);
    tcase_add_test(tc, udp_drops_while_paused_or_full);
    tcase_add_test(tc, unix_stream_socket);
    tcase_add_test(tc, unix_stale_socket_replaced_other_files_refused);
    tcase_add_test(tc, pause_holds_data_in_the_kernel);
    tcase_add_test(tc, stop_drains_what_was_sent);
    tcase_add_test(tc, full_sink_pauses_streams);
    tcase_add_test(tc, partial_line_on_disconnect_and_stop);
    tcase_add_test(tc, busy_port_names_the_address);
    tcase_add_test(tc, ipv6_loopback);
    tcase_add_test(tc, bad_options_refused);
    tcase_add_test(tc, sink_failure_stops_the_source);
    tcase_add_test(tc, sink_failure_at_stop);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(source_socket_suite)
