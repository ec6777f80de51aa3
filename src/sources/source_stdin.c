/* Standard input. The descriptor is put in non-blocking mode while we
 * read and restored at the end, because the shell that started us shares
 * it. A regular file redirected to stdin cannot be polled (epoll refuses
 * it); the loop treats it as always readable.
 *
 * A stop in the middle of a line reads on to that line's end (the rest is
 * usually already in the pipe) and no further: bytes after the newline
 * stay in the input for whoever reads it next. To stop exactly there the
 * rest is looked at before it is consumed: a regular file is read ahead
 * and the offset moved back, a pipe is peeked with tee(2) into a private
 * pipe, a socket with MSG_PEEK; anything else is read a byte at a time.
 * A line whose end does not come before the owner gives up is dropped and
 * counted as partial, never sent as if it were whole. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shardpipe/source_stdin.h"

#define CHUNK 65536
#define READS_PER_WAKE 16   /* so timers and responses are served under endless input */
#define BYTE_READS_PER_WAKE 4096

enum peek_kind { PEEK_SEEK, PEEK_TEE, PEEK_MSG, PEEK_BYTE };

struct sp_stdin_source {
    sp_loop *loop;
    sp_stdin_source_opts o;
    sp_framer fr;
    int flags;               /* to restore */
    int reading;
    int paused;
    int draining;            /* stopped in a line: reading on to its end */
    int done;
    enum peek_kind peek;
    int pp[2];               /* PEEK_TEE: the private pipe, -1 until needed */
    char buf[CHUNK];
};

static int emit(void *arg, const char *data, size_t len, unsigned flags, uint64_t pos, sp_err *err)
{
    sp_stdin_source *s = arg;
    /* Nothing to resume from on stdin, so no acknowledgement is needed. */
    return s->o.sink.record(s->o.sink.arg, data, len, flags, NULL, NULL, pos, err);
}

static void report(sp_stdin_source *s, const char *msg)
{
    if (s->o.on_error)
        s->o.on_error(s->o.arg, msg);
}

static void close_peek(sp_stdin_source *s)
{
    for (int i = 0; i < 2; i++) {
        if (s->pp[i] >= 0)
            (void)close(s->pp[i]);
        s->pp[i] = -1;
    }
}

/* Ends input. framer_finish: pass on a final line without a newline (at
 * end of input it is whole); 0 when it was already dealt with. */
static void finish(sp_stdin_source *s, int framer_finish)
{
    if (s->done)
        return;
    sp_err err;
    s->done = 1;
    s->draining = 0;
    sp_loop_unwatch(s->loop, s->o.fd);
    s->reading = 0;
    close_peek(s);
    if (framer_finish && sp_framer_finish(&s->fr, &err) != SP_OK)
        report(s, err.msg);
    if (s->o.on_eof)
        s->o.on_eof(s->o.arg);
}

static void on_readable(sp_loop *loop, int fd, unsigned events, void *arg);

static void set_reading(sp_stdin_source *s, int on)
{
    if (s->done || on == s->reading)
        return;
    sp_err err;
    if (sp_loop_watch(s->loop, s->o.fd, on ? SP_EV_READ : 0, on_readable, s, &err) != SP_OK) {
        report(s, err.msg);
        return;
    }
    s->reading = on;
}

static ssize_t read_fd(int fd, void *p, size_t n)
{
    ssize_t r;
    do
        r = read(fd, p, n);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Reads at most up to and including the next newline into s->buf.
 * Returns the bytes read (0: end of input, -1 with errno: EAGAIN or an
 * error); *eol is set when they end with the newline. */
static ssize_t read_to_newline(sp_stdin_source *s, int *eol)
{
    int fd = s->o.fd;
    ssize_t n, k;
    char *nl;
    *eol = 0;
    switch (s->peek) {
    case PEEK_SEEK:
        n = read_fd(fd, s->buf, sizeof s->buf);
        if (n <= 0)
            return n;
        nl = memchr(s->buf, '\n', (size_t)n);
        if (nl == NULL)
            return n;
        k = nl - s->buf + 1;
        /* Give back what follows the line. Should the file not seek after
         * all, it is kept (fed on), never lost. */
        if (k < n && lseek(fd, (off_t)(k - n), SEEK_CUR) < 0) {
            s->peek = PEEK_BYTE;
            *eol = s->buf[n - 1] == '\n';
            return n;
        }
        *eol = 1;
        return k;
    case PEEK_TEE:
        if (s->pp[0] < 0 && pipe2(s->pp, O_NONBLOCK | O_CLOEXEC) < 0) {
            s->peek = PEEK_BYTE;
            return read_to_newline(s, eol);
        }
        do
            n = tee(fd, s->pp[1], sizeof s->buf, SPLICE_F_NONBLOCK);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EINVAL) {   /* not a pipe after all */
            close_peek(s);
            s->peek = PEEK_BYTE;
            return read_to_newline(s, eol);
        }
        if (n <= 0)                        /* 0: no writer and nothing left */
            return n;
        k = read_fd(s->pp[0], s->buf, (size_t)n);
        if (k != n) {                      /* cannot happen with a pipe of our own */
            close_peek(s);
            s->peek = PEEK_BYTE;
            return read_to_newline(s, eol);
        }
        nl = memchr(s->buf, '\n', (size_t)n);
        k = nl ? nl - s->buf + 1 : n;
        n = read_fd(fd, s->buf, (size_t)k); /* the same bytes, consumed now */
        *eol = n > 0 && s->buf[n - 1] == '\n';
        return n;
    case PEEK_MSG:
        do
            n = recv(fd, s->buf, sizeof s->buf, MSG_PEEK | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == ENOTSOCK) {
            s->peek = PEEK_BYTE;
            return read_to_newline(s, eol);
        }
        if (n <= 0)
            return n;
        nl = memchr(s->buf, '\n', (size_t)n);
        k = nl ? nl - s->buf + 1 : n;
        n = read_fd(fd, s->buf, (size_t)k);
        *eol = n > 0 && s->buf[n - 1] == '\n';
        return n;
    case PEEK_BYTE:
        break;
    }
    n = read_fd(fd, s->buf, 1);
    *eol = n == 1 && s->buf[0] == '\n';
    return n;
}

/* Stopped in a line: read on to its end, then end input. */
static void drain_line(sp_stdin_source *s)
{
    sp_err err;
    int rounds = s->peek == PEEK_BYTE ? BYTE_READS_PER_WAKE : READS_PER_WAKE;
    for (int i = 0; i < rounds && !s->done; i++) {
        int eol;
        ssize_t n = read_to_newline(s, &eol);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;         /* the rest is not written yet: wait for it */
            sp_err_set(&err, "reading standard input: %s", strerror(errno));
            report(s, err.msg);
            sp_stdin_source_abandon(s);
            return;
        }
        if (n == 0) {           /* end of input: the line is whole as it is */
            finish(s, 1);
            return;
        }
        if (sp_framer_feed(&s->fr, s->buf, (size_t)n, &err) != SP_OK) {
            report(s, err.msg);
            finish(s, 0);
            return;
        }
        if (eol) {
            finish(s, 1);       /* nothing is held: emits nothing */
            return;
        }
    }
}

static void on_readable(sp_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    sp_stdin_source *s = arg;
    sp_err err;
    if (s->draining) {
        drain_line(s);
        return;
    }
    for (int i = 0; i < READS_PER_WAKE && !s->done; i++) {
        if (s->o.sink.full && s->o.sink.full(s->o.sink.arg)) {
            set_reading(s, 0);
            return;
        }
        ssize_t n = read_fd(fd, s->buf, sizeof s->buf);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            sp_err_set(&err, "reading standard input: %s", strerror(errno));
            report(s, err.msg);
            finish(s, 1);
            return;
        }
        if (n == 0) {
            finish(s, 1);
            return;
        }
        if (sp_framer_feed(&s->fr, s->buf, (size_t)n, &err) != SP_OK) {
            report(s, err.msg);
            finish(s, 1);
            return;
        }
    }
}

sp_stdin_source *sp_stdin_source_new(sp_loop *loop, const sp_stdin_source_opts *o, sp_err *err)
{
    struct stat st;
    if (fstat(o->fd, &st) < 0) {
        if (errno == EBADF)
            sp_err_set(err, "standard input is closed: nothing to read (give a file or a pipe, or "
                            "</dev/null for no input)");
        else
            sp_err_set(err, "standard input: %s", strerror(errno));
        return NULL;
    }
    sp_stdin_source *s = calloc(1, sizeof *s);
    if (s == NULL) {
        sp_err_set(err, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->o = *o;
    s->flags = -1;
    s->pp[0] = s->pp[1] = -1;
    s->peek = S_ISREG(st.st_mode) ? PEEK_SEEK : S_ISFIFO(st.st_mode) ? PEEK_TEE
              : S_ISSOCK(st.st_mode) ? PEEK_MSG : PEEK_BYTE;
    if (sp_framer_init(&s->fr, o->max_record, o->oversize, 0, emit, s, err) != SP_OK) {
        free(s);
        return NULL;
    }
    if (o->truncated_terminator && o->truncated_terminator[0] &&
        sp_framer_set_truncated_terminator(&s->fr, o->truncated_terminator, strlen(o->truncated_terminator),
                                           err) != SP_OK)
        goto fail;
    s->flags = fcntl(o->fd, F_GETFL);
    if (s->flags < 0 || (!(s->flags & O_NONBLOCK) && fcntl(o->fd, F_SETFL, s->flags | O_NONBLOCK) < 0)) {
        sp_err_set(err, "standard input: %s", strerror(errno));
        goto fail;
    }
    /* Watched here, not through set_reading: a failure must fail the start
     * (the loop is not running yet to hear about it). */
    if (sp_loop_watch(loop, o->fd, SP_EV_READ, on_readable, s, err) != SP_OK) {
        sp_err_prefix(err, "standard input");
        goto fail;
    }
    s->reading = 1;
    return s;
fail:
    if (s->flags >= 0)
        (void)fcntl(o->fd, F_SETFL, s->flags);
    sp_framer_free(&s->fr);
    free(s);
    return NULL;
}

void sp_stdin_source_pause(sp_stdin_source *s, int paused)
{
    s->paused = paused;
    /* The rest of a line at a stop is read whatever the budget says: it is
     * one line, and it must not be cut. */
    set_reading(s, !paused || s->draining);
}

void sp_stdin_source_stop(sp_stdin_source *s)
{
    if (s->done || s->draining)
        return;
    if (!sp_framer_in_line(&s->fr)) {
        finish(s, 1);
        return;
    }
    s->draining = 1;
    set_reading(s, 1);
    drain_line(s);
}

int sp_stdin_source_draining(const sp_stdin_source *s)
{
    return s->draining && !s->done;
}

void sp_stdin_source_abandon(sp_stdin_source *s)
{
    if (s->done)
        return;
    int cut = sp_framer_in_line(&s->fr);
    size_t n = sp_framer_discard(&s->fr);
    if (cut && s->o.log)
        sp_log_warn(s->o.log, "standard input: the line being read at the stop did not end in time; "
                              "its %zu bytes read so far were not sent (counted as partial)", n);
    finish(s, 0);
}

int sp_stdin_source_done(const sp_stdin_source *s)
{
    return s->done;
}

const sp_framer_stats *sp_stdin_source_stats(const sp_stdin_source *s)
{
    return &s->fr.stats;
}

void sp_stdin_source_free(sp_stdin_source *s)
{
    if (s == NULL)
        return;
    if (!s->done)
        sp_loop_unwatch(s->loop, s->o.fd);
    close_peek(s);
    if (s->flags >= 0)
        (void)fcntl(s->o.fd, F_SETFL, s->flags);
    sp_framer_free(&s->fr);
    free(s);
}
