/* Standard input. The descriptor is put in non-blocking mode while we
 * read and restored at the end, because the shell that started us shares
 * it. A regular file redirected to stdin cannot be polled (epoll refuses
 * it); the loop treats it as always readable. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardpipe/source_stdin.h"

#define CHUNK 65536
#define READS_PER_WAKE 16   /* so timers and responses are served under endless input */

struct sp_stdin_source {
    sp_loop *loop;
    sp_stdin_source_opts o;
    sp_framer fr;
    int flags;               /* to restore */
    int reading;
    int paused;
    int done;
    char buf[CHUNK];
};

static int emit(void *arg, const char *data, size_t len, unsigned flags, uint64_t pos, sp_err *err)
{
    sp_stdin_source *s = arg;
    /* Nothing to resume from on stdin, so no acknowledgement is needed. */
    return s->o.sink.record(s->o.sink.arg, data, len, flags, NULL, NULL, pos, err);
}

static void finish(sp_stdin_source *s)
{
    if (s->done)
        return;
    sp_err err;
    s->done = 1;
    sp_loop_unwatch(s->loop, s->o.fd);
    s->reading = 0;
    if (sp_framer_finish(&s->fr, &err) != SP_OK && s->o.on_error)
        s->o.on_error(s->o.arg, err.msg);
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
        if (s->o.on_error)
            s->o.on_error(s->o.arg, err.msg);
        return;
    }
    s->reading = on;
}

static void on_readable(sp_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    sp_stdin_source *s = arg;
    sp_err err;
    for (int i = 0; i < READS_PER_WAKE && !s->done; i++) {
        if (s->o.sink.full && s->o.sink.full(s->o.sink.arg)) {
            set_reading(s, 0);
            return;
        }
        ssize_t n = read(fd, s->buf, sizeof s->buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            sp_err_set(&err, "reading standard input: %s", strerror(errno));
            if (s->o.on_error)
                s->o.on_error(s->o.arg, err.msg);
            finish(s);
            return;
        }
        if (n == 0) {
            finish(s);
            return;
        }
        if (sp_framer_feed(&s->fr, s->buf, (size_t)n, &err) != SP_OK) {
            if (s->o.on_error)
                s->o.on_error(s->o.arg, err.msg);
            finish(s);
            return;
        }
    }
}

sp_stdin_source *sp_stdin_source_new(sp_loop *loop, const sp_stdin_source_opts *o, sp_err *err)
{
    sp_stdin_source *s = calloc(1, sizeof *s);
    if (s == NULL) {
        sp_err_set(err, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->o = *o;
    s->flags = -1;
    if (sp_framer_init(&s->fr, o->max_record, o->oversize, 0, emit, s, err) != SP_OK) {
        free(s);
        return NULL;
    }
    if (o->truncated_terminator && o->truncated_terminator[0] &&
        sp_framer_set_truncated_terminator(&s->fr, o->truncated_terminator, strlen(o->truncated_terminator),
                                           err) != SP_OK) {
        sp_framer_free(&s->fr);
        free(s);
        return NULL;
    }
    s->flags = fcntl(o->fd, F_GETFL);
    if (s->flags < 0 || (!(s->flags & O_NONBLOCK) && fcntl(o->fd, F_SETFL, s->flags | O_NONBLOCK) < 0)) {
        sp_err_set(err, "standard input: %s", strerror(errno));
        sp_framer_free(&s->fr);
        free(s);
        return NULL;
    }
    set_reading(s, 1);
    return s;
}

void sp_stdin_source_pause(sp_stdin_source *s, int paused)
{
    s->paused = paused;
    set_reading(s, !paused);
}

void sp_stdin_source_stop(sp_stdin_source *s)
{
    finish(s);
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
    if (s->flags >= 0)
        (void)fcntl(s->o.fd, F_SETFL, s->flags);
    sp_framer_free(&s->fr);
    free(s);
}
