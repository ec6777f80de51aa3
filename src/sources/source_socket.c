/* Socket sources (see source_socket.h).
 *
 * Stream clients sit on a doubly linked list, each with its own framer.
 * Pausing unwatches descriptors rather than watching them for no events:
 * epoll reports a hang-up even with an empty event mask, and a reset
 * client would then wake the loop over and over while paused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shardpipe/listen.h"
#include "shardpipe/list.h"
#include "shardpipe/source_socket.h"

#define BUF_SIZE 65536u          /* the largest UDP payload fits */
#define STREAM_CHUNK 16384u      /* one read from a stream client */
#define READ_BUDGET 65536u       /* bytes per client per wake-up */
#define BURST 64                 /* datagrams or accepts per wake-up */
#define FULL_RECHECK_MS 50
#define ACCEPT_RETRY_MS 100      /* after EMFILE and friends */
#define WARN_EVERY_MS 10000
#define DEFAULT_MAX_CLIENTS 64

struct client {
    struct client *prev, *next;
    sp_socket_source *src;
    int fd;
    sp_framer fr;
    int finishing;               /* after a stop: reading on to the end of its line */
    char peer[96];
};

/* A warning that may repeat fast: the first one is logged, then at most
 * one every WARN_EVERY_MS with the number suppressed meanwhile. */
struct ratelog {
    uint64_t last_ms;
    uint64_t suppressed;
    int ever;
};

struct sp_socket_source {
    sp_loop *loop;
    enum sp_source_kind kind;
    sp_listener lis;             /* listener or UDP socket; its label names us */
    size_t max;
    enum sp_oversize policy;
    char *term;
    size_t term_len;
    char *scratch;               /* max bytes, for truncated + terminator */
    unsigned max_clients;
    int udp_lines;
    sp_sink sink;
    const sp_log *log;
    sp_socket_fail_fn on_fail;
    void *fail_arg;

    char *buf;                   /* BUF_SIZE bytes, shared by every read */
    struct client *clients;
    unsigned nclients;
    sp_framer udp_fr;            /* udp_lines */
    int udp_fr_init;

    int paused;                  /* by the owner */
    int full_wait;               /* by ourselves: sink.full said so */
    int accept_wait;             /* out of descriptors: retry later */
    int listening;               /* the listener is watched */
    int reading;                 /* the clients are watched */
    int stopped;
    unsigned finishing;          /* clients reading on to a line's end after the stop */
    int busy;                    /* inside sink.record */
    int failed;
    char failmsg[SP_ERR_MSG_MAX]; /* the error that stopped us */

    sp_timer full_timer, accept_timer, fail_timer;
    struct ratelog reject_log, drop_log, accept_log;

    sp_socket_source_stats st;   /* counters; clients and held computed */
};

/* ---- small helpers ---- */

static void noop_ack(void *token, uint64_t tag, int stored)
{
    (void)token;
    (void)tag;
    (void)stored;
}

/* Returns 1 when a warning should be logged now; *n gets the number of
 * occurrences it stands for (this one plus those suppressed). */
static int ratelog_due(sp_socket_source *s, struct ratelog *r, uint64_t *n)
{
    uint64_t now = sp_loop_now_ms(s->loop);
    r->suppressed++;
    if (r->ever && now - r->last_ms < WARN_EVERY_MS)
        return 0;
    r->ever = 1;
    r->last_ms = now;
    *n = r->suppressed;
    r->suppressed = 0;
    return 1;
}

/* ---- delivering records ---- */

static int deliver(sp_socket_source *s, const char *p, size_t n, unsigned flags, sp_err *err)
{
    if ((flags & SP_FRAME_TRUNCATED) && s->term_len > 0) {
        /* Keep the record within max: the terminator replaces the tail. */
        size_t keep = n;
        if (keep > s->max - s->term_len)
            keep = s->max - s->term_len;
        memcpy(s->scratch, p, keep);
        memcpy(s->scratch + keep, s->term, s->term_len);
        p = s->scratch;
        n = keep + s->term_len;
    }
    s->busy++;
    int rc = s->sink.record(s->sink.arg, p, n, flags, noop_ack, NULL, 0, err);
    s->busy--;
    if (rc != SP_OK)
        return sp_err_prefix(err, "%s", s->lis.label);
    s->st.records++;
    return SP_OK;
}

static int emit_client(void *arg, const char *data, size_t len, unsigned flags,
                       uint64_t pos, sp_err *err)
{
    struct client *c = arg;
    (void)pos;
    return deliver(c->src, data, len, flags, err);
}

/* A datagram's end is a natural end of line: no UNTERMINATED flag. */
static int emit_udp(void *arg, const char *data, size_t len, unsigned flags,
                    uint64_t pos, sp_err *err)
{
    (void)pos;
    return deliver(arg, data, len, flags & ~SP_FRAME_UNTERMINATED, err);
}

static void add_framer_stats(sp_socket_source_stats *st, const sp_framer_stats *f)
{
    st->lines += f->lines;
    st->split += f->split_lines;
    st->truncated += f->truncated;
    st->dropped_oversize += f->dropped;
    st->partial += f->partial;
}

/* ---- closing ---- */

static void client_drop(sp_socket_source *s, struct client *c)
{
    sp_loop_unwatch(s->loop, c->fd);
    close(c->fd);
    add_framer_stats(&s->st, &c->fr.stats);
    sp_framer_free(&c->fr);
    SP_LIST_REMOVE(&s->clients, c);
    s->nclients--;
    if (c->finishing)
        s->finishing--;
    free(c);
}

static void close_listener(sp_socket_source *s)
{
    if (s->lis.fd < 0)
        return;
    sp_loop_unwatch(s->loop, s->lis.fd);
    sp_listener_close(&s->lis);
    s->listening = 0;
}

/* Everything closed, nothing emitted. */
static void shut(sp_socket_source *s)
{
    s->stopped = 1;
    close_listener(s);
    while (s->clients != NULL)
        client_drop(s, s->clients);
    sp_timer_stop(s->loop, &s->full_timer);
    sp_timer_stop(s->loop, &s->accept_timer);
}

static void on_fail_timer(sp_loop *loop, void *arg)
{
    sp_socket_source *s = arg;
    (void)loop;
    if (s->on_fail != NULL)
        s->on_fail(s->fail_arg, s->failmsg);
}

/* The sink (or the loop) failed: the source stops for good. The owner
 * hears of it from a timer, outside any of our callbacks. */
static void fail(sp_socket_source *s, const sp_err *e)
{
    if (s->failed)
        return;
    s->failed = 1;
    snprintf(s->failmsg, sizeof s->failmsg, "%s", e->msg[0] ? e->msg : "unknown error");
    sp_log_error(s->log, "%s", s->failmsg);
    shut(s);
    sp_err terr;
    if (sp_timer_start(s->loop, &s->fail_timer, 0, &terr) != SP_OK)
        sp_log_error(s->log, "%s: %s", s->lis.label, terr.msg);
}

/* ---- watching ---- */

static void on_listener(sp_loop *loop, int fd, unsigned events, void *arg);
static void on_client(sp_loop *loop, int fd, unsigned events, void *arg);

/* Brings the watches in line with the paused/full/accept states. */
static int apply(sp_socket_source *s, sp_err *err)
{
    if (s->stopped || s->kind == SP_SRC_UDP)
        return SP_OK;
    int want_read = !s->paused && !s->full_wait;
    int want_listen = want_read && !s->accept_wait;
    if (want_read != s->reading) {
        for (struct client *c = s->clients; c != NULL; c = c->next) {
            if (!want_read)
                sp_loop_unwatch(s->loop, c->fd);
            else if (sp_loop_watch(s->loop, c->fd, SP_EV_READ, on_client, c, err) != SP_OK)
                return sp_err_prefix(err, "%s", s->lis.label);
        }
        s->reading = want_read;
    }
    if (want_listen != s->listening) {
        if (!want_listen)
            sp_loop_unwatch(s->loop, s->lis.fd);
        else if (sp_loop_watch(s->loop, s->lis.fd, SP_EV_READ, on_listener, s, err) != SP_OK)
            return sp_err_prefix(err, "%s", s->lis.label);
        s->listening = want_listen;
    }
    return SP_OK;
}

static void apply_or_fail(sp_socket_source *s)
{
    sp_err err;
    if (apply(s, &err) != SP_OK)
        fail(s, &err);
}

static void on_full_timer(sp_loop *loop, void *arg)
{
    sp_socket_source *s = arg;
    sp_err err;
    if (s->sink.full != NULL && s->sink.full(s->sink.arg)) {
        if (sp_timer_start(loop, &s->full_timer, FULL_RECHECK_MS, &err) != SP_OK)
            fail(s, &err);
        return;
    }
    s->full_wait = 0;
    apply_or_fail(s);
}

/* Before each stream read: may we take more? When the sink is full we
 * pause ourselves and look again later. */
static int may_read(sp_socket_source *s)
{
    if (s->stopped || s->paused || s->full_wait)
        return 0;
    if (s->sink.full == NULL || !s->sink.full(s->sink.arg))
        return 1;
    sp_err err;
    s->full_wait = 1;
    if (sp_timer_start(s->loop, &s->full_timer, FULL_RECHECK_MS, &err) != SP_OK) {
        fail(s, &err);
        return 0;
    }
    apply_or_fail(s);
    return 0;
}

/* ---- stream clients ---- */

/* The client is gone: its unfinished line becomes a record. */
static void client_end(sp_socket_source *s, struct client *c)
{
    sp_err err;
    if (sp_framer_finish(&c->fr, &err) != SP_OK) {
        fail(s, &err);          /* closes c too */
        return;
    }
    if (!s->stopped)
        client_drop(s, c);
}

static void on_client(sp_loop *loop, int fd, unsigned events, void *arg)
{
    struct client *c = arg;
    sp_socket_source *s = c->src;
    size_t budget = READ_BUDGET;
    sp_err err;
    (void)loop;
    (void)events;

    while (budget > 0 && may_read(s)) {
        size_t want = budget < STREAM_CHUNK ? budget : STREAM_CHUNK;
        ssize_t n = read(fd, s->buf, want);
        if (n > 0) {
            s->st.bytes += (uint64_t)n;
            budget -= (size_t)n;
            if (sp_framer_feed(&c->fr, s->buf, (size_t)n, &err) != SP_OK) {
                fail(s, &err);
                return;
            }
            continue;
        }
        if (n == 0) {
            sp_log_debug(s->log, "%s: %s disconnected", s->lis.label, c->peer);
            client_end(s, c);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        sp_log_info(s->log, "%s: %s: %s", s->lis.label, c->peer, strerror(errno));
        client_end(s, c);
        return;
    }
}

/* Accept errors that concern one connection only (accept(2), "Error
 * handling"): take the next one. */
static int accept_transient(int e)
{
    switch (e) {
    case ECONNABORTED: case EPROTO: case EPERM: case ENETDOWN: case ENOPROTOOPT:
    case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
    case ETIMEDOUT:
        return 1;
    default:
        return 0;
    }
}

static void reject(sp_socket_source *s, int fd, const char *peer)
{
    uint64_t n;
    close(fd);
    s->st.rejected++;
    if (ratelog_due(s, &s->reject_log, &n))
        sp_log_warn(s->log, "%s: max_clients (%u) reached: refused %s"
                    " (%llu refused since the last such message)", s->lis.label,
                    s->max_clients, peer, (unsigned long long)n);
}

static void accept_one(sp_socket_source *s, int fd, const struct sockaddr_storage *ss,
                       socklen_t sl)
{
    char peer[96];
    sp_err err;
    if (s->kind == SP_SRC_UNIX)
        snprintf(peer, sizeof peer, "client #%llu",
                 (unsigned long long)(s->st.accepted + s->st.rejected + 1));
    else
        sp_format_addr((const struct sockaddr *)ss, sl, peer, sizeof peer);
    if (s->nclients >= s->max_clients) {
        reject(s, fd, peer);
        return;
    }
    if (s->kind == SP_SRC_TCP) {
        /* Frees the slot of a peer that vanished without a word. */
        int on = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0)
            sp_log_debug(s->log, "%s: %s: SO_KEEPALIVE: %s", s->lis.label, peer, strerror(errno));
    }
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        sp_log_warn(s->log, "%s: out of memory for a client: refused %s", s->lis.label, peer);
        close(fd);
        s->st.rejected++;
        return;
    }
    c->src = s;
    c->fd = fd;
    memcpy(c->peer, peer, sizeof c->peer);
    if (sp_framer_init(&c->fr, s->max, s->policy, 0, emit_client, c, &err) != SP_OK ||
        sp_loop_watch(s->loop, fd, SP_EV_READ, on_client, c, &err) != SP_OK) {
        sp_log_warn(s->log, "%s: %s: %s", s->lis.label, peer, err.msg);
        sp_loop_unwatch(s->loop, fd);
        close(fd);
        free(c);
        s->st.rejected++;
        return;
    }
    SP_LIST_PUSH(&s->clients, c);
    s->nclients++;
    s->st.accepted++;
    sp_log_debug(s->log, "%s: %s connected", s->lis.label, peer);
}

static void on_accept_timer(sp_loop *loop, void *arg)
{
    sp_socket_source *s = arg;
    (void)loop;
    s->accept_wait = 0;
    apply_or_fail(s);
}

static void on_listener(sp_loop *loop, int fd, unsigned events, void *arg)
{
    sp_socket_source *s = arg;
    sp_err err;
    (void)events;

    for (int i = 0; i < BURST && s->listening; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            accept_one(s, cfd, &ss, sl);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EINTR || accept_transient(errno))
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The connection stays queued; stop accepting for a while
             * instead of spinning on a listener that stays readable. */
            uint64_t n;
            if (ratelog_due(s, &s->accept_log, &n))
                sp_log_warn(s->log, "%s: accept: %s; retrying in %d ms", s->lis.label,
                            strerror(errno), ACCEPT_RETRY_MS);
            s->accept_wait = 1;
            if (sp_timer_start(loop, &s->accept_timer, ACCEPT_RETRY_MS, &err) != SP_OK) {
                fail(s, &err);
                return;
            }
            apply_or_fail(s);
            return;
        }
        sp_err_set(&err, "%s: accept: %s", s->lis.label, strerror(errno));
        fail(s, &err);
        return;
    }
}

/* ---- datagrams ---- */

static int datagram(sp_socket_source *s, const char *p, size_t n, sp_err *err)
{
    if (s->udp_lines) {
        if (sp_framer_feed(&s->udp_fr, p, n, err) != SP_OK)
            return SP_ERR;
        return sp_framer_finish(&s->udp_fr, err);
    }
    if (n > 0 && p[n - 1] == '\n')
        n--;
    if (n == 0)
        return SP_OK;
    if (n <= s->max)
        return deliver(s, p, n, 0, err);
    switch (s->policy) {
    case SP_OVERSIZE_SPLIT:
        s->st.split++;
        for (size_t off = 0; off < n; off += s->max) {
            size_t k = n - off < s->max ? n - off : s->max;
            unsigned fl = off + k < n ? SP_FRAME_PART : SP_FRAME_PART | SP_FRAME_LAST_PART;
            if (deliver(s, p + off, k, fl, err) != SP_OK)
                return SP_ERR;
        }
        return SP_OK;
    case SP_OVERSIZE_TRUNCATE:
        s->st.truncated++;
        return deliver(s, p, s->max, SP_FRAME_TRUNCATED, err);
    case SP_OVERSIZE_DROP:
        s->st.dropped_oversize++;
        return SP_OK;
    }
    return SP_OK;
}

static void on_udp(sp_loop *loop, int fd, unsigned events, void *arg)
{
    sp_socket_source *s = arg;
    sp_err err;
    uint64_t k;
    (void)loop;
    (void)events;

    for (int i = 0; i < BURST && !s->stopped; i++) {
        /* MSG_TRUNC: the datagram's real length, even past the buffer. */
        ssize_t n = recv(fd, s->buf, BUF_SIZE, MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* A pending socket error is cleared by reporting it once. */
            sp_log_warn(s->log, "%s: recv: %s", s->lis.label, strerror(errno));
            return;
        }
        s->st.datagrams++;
        s->st.bytes += (uint64_t)n;
        if (s->paused || (s->sink.full != NULL && s->sink.full(s->sink.arg))) {
            s->st.dropped_datagrams++;
            if (ratelog_due(s, &s->drop_log, &k))
                sp_log_warn(s->log, "%s: %s: dropped %llu datagram(s)", s->lis.label,
                            s->paused ? "paused" : "memory budget full",
                            (unsigned long long)k);
            continue;
        }
        if ((size_t)n > BUF_SIZE) {
            /* Only an IPv6 jumbogram: too big to hold, so dropped. */
            s->st.dropped_oversize++;
            sp_log_warn(s->log, "%s: dropped a %zd-byte datagram", s->lis.label, n);
            continue;
        }
        if (datagram(s, s->buf, (size_t)n, &err) != SP_OK) {
            fail(s, &err);
            return;
        }
    }
}

/* ---- setting up ---- */

static int check_opts(const sp_socket_source_opts *o, sp_err *err)
{
    if (o->kind != SP_SRC_TCP && o->kind != SP_SRC_UDP && o->kind != SP_SRC_UNIX)
        return sp_err_set(err, "socket source: kind %d is not tcp, udp or unix", (int)o->kind);
    if (o->max_line == 0)
        return sp_err_set(err, "socket source: the maximum line length must be at least 1 byte");
    if (o->oversize != SP_OVERSIZE_SPLIT && o->oversize != SP_OVERSIZE_TRUNCATE &&
        o->oversize != SP_OVERSIZE_DROP)
        return sp_err_set(err, "socket source: unknown oversize policy %d", (int)o->oversize);
    if (o->truncated_terminator != NULL && strlen(o->truncated_terminator) >= o->max_line)
        return sp_err_set(err, "socket source: the truncated terminator (%zu bytes) must be"
                          " shorter than the maximum line length (%zu)",
                          strlen(o->truncated_terminator), o->max_line);
    if (o->sink.record == NULL)
        return sp_err_set(err, "socket source: no sink");
    if (o->kind == SP_SRC_UNIX) {
        if (o->path == NULL || o->path[0] == '\0')
            return sp_err_set(err, "socket source: a unix socket needs a path");
        if (strlen(o->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return sp_err_set(err, "socket source: unix socket path too long (at most %zu bytes): %s",
                              sizeof(((struct sockaddr_un *)0)->sun_path) - 1, o->path);
    } else if (o->port < 0 || o->port > 65535) {
        return sp_err_set(err, "socket source: port %d is not in 0..65535", o->port);
    }
    return SP_OK;
}

sp_socket_source *sp_socket_source_new(sp_loop *loop, const sp_socket_source_opts *o,
                                       sp_err *err)
{
    if (check_opts(o, err) != SP_OK)
        return NULL;
    sp_socket_source *s = calloc(1, sizeof *s);
    if (s == NULL) {
        sp_err_set(err, "socket source: out of memory");
        return NULL;
    }
    s->loop = loop;
    s->kind = o->kind;
    s->max = o->max_line;
    s->policy = o->oversize;
    s->max_clients = o->max_clients ? o->max_clients : DEFAULT_MAX_CLIENTS;
    s->udp_lines = o->udp_lines;
    s->sink = o->sink;
    s->log = o->log;
    s->on_fail = o->on_fail;
    s->fail_arg = o->fail_arg;
    sp_timer_init(&s->full_timer, on_full_timer, s);
    sp_timer_init(&s->accept_timer, on_accept_timer, s);
    sp_timer_init(&s->fail_timer, on_fail_timer, s);
    sp_listener_init(&s->lis, o->kind, o->name, o->log);

    s->buf = malloc(BUF_SIZE);
    if (s->buf == NULL) {
        sp_err_set(err, "socket source: out of memory");
        goto bad;
    }
    if (o->truncated_terminator != NULL && o->truncated_terminator[0] != '\0') {
        s->term_len = strlen(o->truncated_terminator);
        s->term = strdup(o->truncated_terminator);
        s->scratch = malloc(s->max);
        if (s->term == NULL || s->scratch == NULL) {
            sp_err_set(err, "socket source: out of memory");
            goto bad;
        }
    }
    if (s->kind == SP_SRC_UDP && s->udp_lines) {
        if (sp_framer_init(&s->udp_fr, s->max, s->policy, 0, emit_udp, s, err) != SP_OK)
            goto bad;
        s->udp_fr_init = 1;
    }

    if ((s->kind == SP_SRC_UNIX ? sp_listener_open_unix(&s->lis, o->path, err)
                                : sp_listener_open_inet(&s->lis, o->bind, o->port, err)) != SP_OK)
        goto bad;
    if (s->kind == SP_SRC_UDP) {
        if (sp_loop_watch(loop, s->lis.fd, SP_EV_READ, on_udp, s, err) != SP_OK) {
            sp_err_prefix(err, "%s", s->lis.label);
            goto bad;
        }
    } else {
        s->reading = 1;          /* no clients yet */
        if (apply(s, err) != SP_OK)
            goto bad;
    }
    sp_log_info(s->log, "%s: listening", s->lis.label);
    return s;

bad:
    sp_socket_source_free(s);
    return NULL;
}

int sp_socket_source_port(const sp_socket_source *s)
{
    return s->lis.port;
}

int sp_socket_source_pause(sp_socket_source *s, int paused, sp_err *err)
{
    if (s->stopped)
        return SP_OK;
    s->paused = paused != 0;
    if (!s->paused && s->full_wait) {
        /* The owner says there is room; may_read checks again anyway. */
        s->full_wait = 0;
        sp_timer_stop(s->loop, &s->full_timer);
    }
    if (apply(s, err) != SP_OK) {
        fail(s, err);
        return SP_ERR;
    }
    return SP_OK;
}

/* At a stop, what clients had sent before it is still theirs to deliver:
 * connections waiting in the listen queue are taken, and what the kernel
 * holds for each client is read, up to DRAIN_MAX bytes in all (a client
 * that keeps writing cannot hold the stop up). */
#define DRAIN_MAX ((size_t)64 << 20)

static int drain(sp_socket_source *s, sp_err *err)
{
    size_t left = DRAIN_MAX;
    if (s->kind != SP_SRC_UDP && s->lis.fd >= 0) {
        for (;;) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            int cfd = accept4(s->lis.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (cfd < 0) {
                if (errno == EINTR || accept_transient(errno))
                    continue;
                break;          /* EAGAIN: none left; anything else: give up quietly */
            }
            accept_one(s, cfd, &ss, sl);
        }
    }
    for (struct client *c = s->clients; c != NULL && left > 0; c = c->next) {
        while (left > 0) {
            size_t want = left < STREAM_CHUNK ? left : STREAM_CHUNK;
            ssize_t n = read(c->fd, s->buf, want);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;          /* EAGAIN, end of stream or error: nothing more */
            s->st.bytes += (uint64_t)n;
            left -= (size_t)n;
            if (sp_framer_feed(&c->fr, s->buf, (size_t)n, err) != SP_OK)
                return SP_ERR;
        }
    }
    return SP_OK;
}

/* After a stop, a client that was in the middle of a line: its rest is
 * looked at before it is read (MSG_PEEK), so that exactly the rest of that
 * line is taken, then the client is closed. */
static void on_finishing(sp_loop *loop, int fd, unsigned events, void *arg)
{
    struct client *c = arg;
    sp_socket_source *s = c->src;
    sp_err err;
    (void)loop;
    (void)events;
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(fd, s->buf, STREAM_CHUNK, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;             /* the rest is not sent yet: wait for it */
        if (n < 0) {
            sp_log_warn(s->log, "%s: %s: %s; its unfinished line was not sent (counted as partial)",
                        s->lis.label, c->peer, strerror(errno));
            sp_framer_discard(&c->fr);
            client_drop(s, c);
            break;
        }
        if (n == 0) {           /* the client ended the line by leaving */
            if (sp_framer_finish(&c->fr, &err) != SP_OK) {
                fail(s, &err);
                return;
            }
            client_drop(s, c);
            break;
        }
        const char *nl = memchr(s->buf, '\n', (size_t)n);
        size_t k = nl ? (size_t)(nl - s->buf) + 1 : (size_t)n;
        ssize_t r;
        do
            r = read(fd, s->buf, k);    /* the same bytes, consumed now */
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            continue;           /* looked at again above */
        s->st.bytes += (uint64_t)r;
        if (sp_framer_feed(&c->fr, s->buf, (size_t)r, &err) != SP_OK) {
            fail(s, &err);
            return;
        }
        if (!sp_framer_in_line(&c->fr)) {
            client_drop(s, c);
            break;
        }
    }
    if (s->finishing == 0)
        shut(s);
}

int sp_socket_source_stop(sp_socket_source *s, sp_err *err)
{
    if (s->busy)
        return sp_err_set(err, "%s: stop called from inside the sink", s->lis.label);
    if (s->stopped)
        return SP_OK;
    int rc = s->failed ? SP_OK : drain(s, err);
    s->stopped = 1;             /* apply() leaves the watches alone from now on */
    close_listener(s);
    sp_timer_stop(s->loop, &s->full_timer);
    sp_timer_stop(s->loop, &s->accept_timer);
    struct client *next;
    for (struct client *c = s->clients; c != NULL; c = next) {
        next = c->next;
        sp_err werr;
        if (rc == SP_OK && sp_framer_in_line(&c->fr) &&
            sp_loop_watch(s->loop, c->fd, SP_EV_READ, on_finishing, c, &werr) == SP_OK) {
            c->finishing = 1;
            s->finishing++;
            continue;
        }
        if (rc == SP_OK && sp_framer_in_line(&c->fr))
            sp_framer_discard(&c->fr);  /* could not wait for the rest */
        else if (rc == SP_OK && sp_framer_finish(&c->fr, err) != SP_OK)
            rc = SP_ERR;        /* the sink is failing: emit nothing more */
        client_drop(s, c);
    }
    if (s->finishing == 0)
        shut(s);
    return rc;
}

int sp_socket_source_draining(const sp_socket_source *s)
{
    return s->finishing > 0;
}

void sp_socket_source_abandon(sp_socket_source *s)
{
    if (s->finishing > 0)
        sp_log_warn(s->log, "%s: %u client%s had not ended the line being sent at the stop; "
                    "those lines were not sent (counted as partial)", s->lis.label, s->finishing,
                    s->finishing == 1 ? "" : "s");
    struct client *next;
    for (struct client *c = s->clients; c != NULL; c = next) {
        next = c->next;
        if (c->finishing) {
            sp_framer_discard(&c->fr);
            client_drop(s, c);
        }
    }
    if (s->stopped)
        shut(s);
}

sp_socket_source_stats sp_socket_source_stats_get(const sp_socket_source *s)
{
    sp_socket_source_stats st = s->st;
    st.clients = s->nclients;
    st.held = 0;
    for (const struct client *c = s->clients; c != NULL; c = c->next) {
        add_framer_stats(&st, &c->fr.stats);
        st.held += sp_framer_pending(&c->fr);
    }
    if (s->udp_fr_init)
        add_framer_stats(&st, &s->udp_fr.stats);
    return st;
}

const char *sp_socket_source_failed(const sp_socket_source *s)
{
    return s->failed ? s->failmsg : NULL;
}

void sp_socket_source_free(sp_socket_source *s)
{
    if (s == NULL)
        return;
    shut(s);
    sp_timer_stop(s->loop, &s->fail_timer);
    if (s->udp_fr_init)
        sp_framer_free(&s->udp_fr);
    free(s->term);
    free(s->scratch);
    free(s->buf);
    free(s);
}
