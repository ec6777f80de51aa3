/* File source (see source_file.h): tailing. Which paths match, and word
 * that something changed, come from the directory watch (watch.h).
 *
 * Each tailed file is a struct tfile on the source's open list. It leaves
 * that list when it is closed (gone and read to its end, or superseded
 * after a truncation) and then waits on the draining list until its last
 * record is acknowledged: the ack function needs its progress, so the
 * state outlives the descriptor. The source owns no thread and no lock;
 * everything runs from loop callbacks.
 *
 * Work is deferred to a zero-delay timer (work_timer): inotify events and
 * poll ticks only mark files to read or ask for a rescan, so a burst of
 * events costs one scan and one read round. Reads use pread at the file's
 * own offset, so nothing depends on the descriptor's position. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shardpipe/ere.h"
#include "shardpipe/resume.h"
#include "shardpipe/source_file.h"
#include "shardpipe/list.h"
#include "shardpipe/watch.h"

#define CHUNK 65536u                /* one read */
#define CHUNKS_PER_ROUND 4          /* per file per round: fairness */
#define FULL_RECHECK_MS 50
#define DEFAULT_POLL_MS 1000
#define NO_POS UINT64_MAX

struct tfile {
    struct tfile *prev, *next;   /* open or draining list */
    sp_file_source *src;         /* NULL once the source is freed */
    char *path;                  /* where it was last seen */
    int fd;                      /* -1 once closed */
    uint64_t dev, ino;
    uint64_t off;                /* next byte to read */
    sp_framer fr;
    sp_progress prog;
    uint64_t inflight;           /* records handed on, not yet acknowledged */
    uint64_t cap_pos;            /* a record was not stored: never checkpoint past this */
    uint64_t ck_off;             /* offset last written to the checkpoint, NO_POS: none */
    uint64_t seen_gen;           /* the last scan that found it at a matching path */
    uint64_t gone_at;            /* ms when found gone from its path; 0: not gone */
    uint64_t grew_at;            /* ms of the last read that returned bytes */
    sp_timer flush_timer;        /* partial line / open multi-line record */
    int open;                    /* on the open list */
    int want_read;
    int closed_gone;             /* closed because it left the glob: drop its entry */
    int retired;                 /* superseded after a truncation: no checkpoint */
    int warned_lost;
    int warned_io;               /* a read failed; quiet until one succeeds */
};

struct sp_file_source {
    sp_loop *loop;
    char *flow;
    sp_resume resume;
    size_t max;
    enum sp_oversize policy;
    char *term;
    size_t term_len;
    regex_t re;
    int have_re;
    size_t match_bytes;          /* what of a line re sees; 0: the default */
    unsigned skip_header;
    uint32_t poll_ms, flush_ms;
    sp_ckpt *ckpt;
    sp_sink sink;
    const sp_log *log;
    void (*on_error)(void *arg, const char *msg);
    void *arg;

    char *buf;                   /* CHUNK bytes, shared by every read */
    struct tfile *files;         /* open */
    struct tfile *draining;      /* closed, records in flight */
    sp_watch *watch;
    sp_timer work_timer, fail_timer;
    uint64_t gen;                /* scans so far */
    int need_scan;
    int paused;                  /* by the owner */
    int full_wait;               /* by ourselves: sink.full said so */
    int stopped;
    int failed;
    char fail_msg[SP_ERR_MSG_MAX];
    sp_file_source_stats st;     /* framer: sums of the files no longer open */
};

static void file_ack(void *token, uint64_t tag, int stored);
static void on_flush(sp_loop *loop, void *arg);

static uint64_t now_ms(const sp_file_source *s)
{
    return sp_loop_now_ms(s->loop);
}

/* Arms t at delay unless it already fires sooner. */
static void soon(sp_file_source *s, sp_timer *t, uint64_t delay)
{
    sp_err err;
    uint64_t when = sp_monotonic_ms() + delay;
    if (t->armed && t->when <= when)
        return;
    if (sp_timer_start_at(s->loop, t, when, &err) != SP_OK)
        sp_log_error(s->log, "flow %s: %s", s->flow, err.msg);
}

/* ---- per-file state ---- */

static struct tfile *find_open(sp_file_source *s, uint64_t dev, uint64_t ino)
{
    for (struct tfile *t = s->files; t; t = t->next)
        if (t->dev == dev && t->ino == ino)
            return t;
    return NULL;
}

static void tfile_destroy(struct tfile *t)
{
    if (t->fd >= 0)
        close(t->fd);
    sp_framer_free(&t->fr);
    sp_progress_free(&t->prog);
    free(t->path);
    free(t);
}

/* The last record of a closed file was acknowledged (or it had none). */
static void tfile_finish(struct tfile *t)
{
    sp_file_source *s = t->src;
    if (s != NULL) {
        SP_LIST_REMOVE(&s->draining, t);
        s->st.draining--;
        /* A file that left the glob will not be read again; the guard
         * keeps a reused inode's entry. */
        if (s->ckpt && t->closed_gone && !t->retired && find_open(s, t->dev, t->ino) == NULL)
            sp_ckpt_remove(s->ckpt, s->flow, t->dev, t->ino);
    }
    tfile_destroy(t);
}

/* Takes t off the open list; it lives on while records are in flight. */
static void tfile_close(sp_file_source *s, struct tfile *t)
{
    sp_framer_stats_add(&s->st.framer, &t->fr.stats);
    memset(&t->fr.stats, 0, sizeof t->fr.stats);
    sp_timer_stop(s->loop, &t->flush_timer);
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    SP_LIST_REMOVE(&s->files, t);
    s->st.files--;
    t->open = 0;
    SP_LIST_PUSH(&s->draining, t);
    s->st.draining++;
    if (t->inflight == 0)
        tfile_finish(t);
}

static void fail(sp_file_source *s, const char *msg);

static int file_emit(void *arg, const char *data, size_t len, unsigned flags, uint64_t pos,
                     sp_err *err)
{
    struct tfile *t = arg;
    sp_file_source *s = t->src;
    uint64_t id;
    if (sp_progress_add(&t->prog, pos, &id, err) != SP_OK)
        return sp_err_prefix(err, "flow %s: %s", s->flow, t->path);
    t->inflight++;
    s->st.inflight++;
    if (s->sink.record(s->sink.arg, data, len, flags, file_ack, t, id, err) != SP_OK) {
        file_ack(t, id, 0);     /* not taken: the checkpoint stays before it */
        return SP_ERR;
    }
    return SP_OK;
}

/* The resume position before record id (which is outstanding). */
static uint64_t pos_before(const sp_progress *p, uint64_t id)
{
    if (id == p->base)
        return p->done_pos;
    return p->pos[(id - 1) % p->cap];
}

static void file_ack(void *token, uint64_t tag, int stored)
{
    struct tfile *t = token;
    sp_file_source *s = t->src;
    sp_progress *p = &t->prog;
    /* Unknown or repeated: ignore rather than count twice. */
    if (tag < p->base || tag >= p->next || p->acked[tag % p->cap])
        return;
    if (stored == SP_ACK_FAILED && s != NULL) {
        /* Refused for good (a non-retryable answer for this record): it
         * would be refused again after a restart, so the checkpoint may
         * move past it; the producer has logged and counted it. */
        s->st.not_stored++;
    } else if (stored != SP_ACK_STORED) {
        uint64_t before = pos_before(p, tag);
        if (before < t->cap_pos)
            t->cap_pos = before;
        if (s != NULL) {
            s->st.not_stored++;
            if (!t->warned_lost) {
                t->warned_lost = 1;
                sp_log_warn(s->log, "flow %s: %s: a record was not stored; the checkpoint "
                            "stays at offset %" PRIu64 " so that a restart sends it again",
                            s->flow, t->path, t->cap_pos);
            }
        }
    }
    sp_progress_ack(p, tag);
    t->inflight--;
    if (s != NULL)
        s->st.inflight--;
    if (!t->open && t->inflight == 0) {
        if (s != NULL)
            tfile_finish(t);
        else
            tfile_destroy(t);
    }
}

/* Writes t's entry now (a new file, a truncation): a crash before the next
 * periodic checkpoint then resumes here instead of at the start position. */
static void ckpt_note(sp_file_source *s, struct tfile *t, uint64_t pos)
{
    unsigned char fp[32];
    uint32_t fp_len;
    sp_err err;
    if (s->ckpt == NULL || t->retired)
        return;
    if (sp_ckpt_fingerprint(t->fd, pos, fp, &fp_len, &err) != SP_OK) {
        sp_log_debug(s->log, "flow %s: %s: no checkpoint now: %s", s->flow, t->path, err.msg);
        return;
    }
    if (sp_ckpt_set(s->ckpt, s->flow, t->path, t->dev, t->ino, pos, fp, fp_len, &err) != SP_OK) {
        sp_log_warn(s->log, "flow %s: %s", s->flow, err.msg);
        return;
    }
    t->ck_off = pos;
}

static struct tfile *tfile_new(sp_file_source *s, const char *path, int fd, uint64_t dev,
                               uint64_t ino, uint64_t start, sp_err *err)
{
    struct tfile *t = calloc(1, sizeof *t);
    if (t == NULL || (t->path = strdup(path)) == NULL) {
        free(t);
        sp_err_set(err, "flow %s: out of memory", s->flow);
        return NULL;
    }
    t->src = s;
    t->fd = fd;
    t->dev = dev;
    t->ino = ino;
    t->off = start;
    t->cap_pos = NO_POS;
    t->ck_off = NO_POS;
    t->seen_gen = s->gen;
    t->grew_at = now_ms(s);
    sp_timer_init(&t->flush_timer, on_flush, t);
    sp_progress_init(&t->prog, start);
    if (sp_framer_init(&t->fr, s->max, s->policy, start, file_emit, t, err) != SP_OK ||
        (s->have_re && sp_framer_set_multiline(&t->fr, &s->re, err) != SP_OK) ||
        (s->term_len && sp_framer_set_truncated_terminator(&t->fr, s->term, s->term_len, err) != SP_OK)) {
        t->fd = -1;                 /* the caller still owns it */
        tfile_destroy(t);
        return NULL;
    }
    sp_framer_set_match_bytes(&t->fr, s->match_bytes);
    if (start == 0)
        sp_framer_skip_lines(&t->fr, s->skip_header);
    t->open = 1;
    t->want_read = 1;
    SP_LIST_PUSH(&s->files, t);
    s->st.files++;
    s->st.opened++;
    return t;
}

/* Opens a file the scan found to be a regular file (pre: its stat).
 * initial: found at start-up (start position or checkpoint); otherwise it
 * is new and read from the beginning. O_NONBLOCK: something else (a FIFO)
 * put there since the stat must not block the loop in open. */
static void open_file(sp_file_source *s, const char *path, const struct stat *pre, int initial)
{
    sp_err err;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        /* Gone since the stat: the scan will tell. Else not ours to read. */
        if (e == ENOENT)
            sp_log_debug(s->log, "flow %s: opening %s: %s", s->flow, path, strerror(e));
        else
            sp_watch_skip(s->watch, path, pre, e, 1);
        return;
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        sp_watch_skip(s->watch, path, pre, e, 0);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        sp_watch_skip(s->watch, path, &st, 0, 0);
        return;
    }
    sp_watch_tailed(s->watch, path);
    struct tfile *t = find_open(s, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    if (t != NULL) {                /* replaced between stat and open */
        t->seen_gen = s->gen;
        close(fd);
        return;
    }
    uint64_t start = sp_resume_pos(&s->resume, fd, path, &st, initial);
    t = tfile_new(s, path, fd, (uint64_t)st.st_dev, (uint64_t)st.st_ino, start, &err);
    if (t == NULL) {
        close(fd);
        sp_log_error(s->log, "%s", err.msg);
        return;
    }
    ckpt_note(s, t, start);
}

/* ---- discovery ---- */

struct scan {
    sp_file_source *s;
    int initial;
    sp_file_id *ids;                /* initial: what the scan found, for sp_resume_gc */
    size_t nids, capids;
    int nomem;
};

static void note_found(struct scan *c, const struct stat *st)
{
    if (!c->initial || c->s->ckpt == NULL || c->nomem)
        return;
    if (c->nids == c->capids) {
        size_t cap = c->capids ? c->capids * 2 : 16;
        sp_file_id *n = realloc(c->ids, cap * sizeof *n);
        if (n == NULL) {
            sp_log_warn(c->s->log, "flow %s: out of memory: old checkpoint entries are kept",
                        c->s->flow);
            c->nomem = 1;
            return;
        }
        c->ids = n;
        c->capids = cap;
    }
    c->ids[c->nids].dev = (uint64_t)st->st_dev;
    c->ids[c->nids++].ino = (uint64_t)st->st_ino;
}

/* A matching regular file: a new one is opened, a known one is seen where
 * it is now. */
static void on_found(void *arg, const char *path, const struct stat *st)
{
    struct scan *c = arg;
    sp_file_source *s = c->s;
    note_found(c, st);
    struct tfile *t = find_open(s, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    if (t == NULL) {
        open_file(s, path, st, c->initial);
        return;
    }
    sp_watch_tailed(s->watch, path);
    t->seen_gen = s->gen;
    if (strcmp(t->path, path) != 0) {
        char *np = strdup(path);
        if (np != NULL) {
            sp_log_info(s->log, "flow %s: %s is now %s", s->flow, t->path, path);
            free(t->path);
            t->path = np;
        }
    }
    if (t->gone_at) {
        t->gone_at = 0;             /* back at a matching path */
        t->want_read = 1;
    }
}

static void scan(sp_file_source *s, int initial)
{
    struct scan c = {s, initial, NULL, 0, 0, 0};
    uint64_t now = now_ms(s);
    s->gen++;
    /* A failed glob says nothing of what is gone. */
    if (sp_watch_scan(s->watch, on_found, &c) == SP_OK) {
        for (struct tfile *t = s->files; t; t = t->next) {
            if (t->seen_gen == s->gen || t->gone_at)
                continue;
            t->gone_at = now ? now : 1;
            t->want_read = 1;
            s->st.rotations++;
            sp_log_info(s->log, "flow %s: %s is gone from its path (rotated or deleted): "
                        "reading it to its end", s->flow, t->path);
        }
    }
    /* Nothing found may be a directory not mounted yet: keep the entries. */
    if (!c.nomem && c.nids > 0)
        sp_resume_gc(&s->resume, s->watch, c.ids, c.nids);
    free(c.ids);
}

/* ---- reading ---- */

enum { READ_DONE, READ_MORE, READ_CLOSED };

static void arm_flush(sp_file_source *s, struct tfile *t)
{
    sp_err err;
    if (s->flush_ms == 0 || !sp_framer_holding(&t->fr)) {
        sp_timer_stop(s->loop, &t->flush_timer);
        return;
    }
    if (sp_timer_start_at(s->loop, &t->flush_timer, t->grew_at + s->flush_ms, &err) != SP_OK)
        sp_log_error(s->log, "flow %s: %s", s->flow, err.msg);
}

/* copytruncate: t is retired (what it held of a line is emitted first) and
 * a fresh state reads the same descriptor from offset 0. */
static int truncated(sp_file_source *s, struct tfile *t, uint64_t size)
{
    sp_err err;
    sp_log_info(s->log, "flow %s: %s was truncated (size %" PRIu64 " < offset %" PRIu64
                "): reading it again from the start", s->flow, t->path, size, t->off);
    s->st.truncations++;
    if (sp_framer_finish(&t->fr, &err) != SP_OK) {
        fail(s, err.msg);
        return READ_CLOSED;
    }
    int fd = t->fd;
    t->fd = -1;
    t->retired = 1;
    uint64_t gone_at = t->gone_at, seen = t->seen_gen;
    struct tfile *n = tfile_new(s, t->path, fd, t->dev, t->ino, 0, &err);
    tfile_close(s, t);
    if (n == NULL) {
        close(fd);
        fail(s, err.msg);
        return READ_CLOSED;
    }
    n->gone_at = gone_at;
    n->seen_gen = seen;
    ckpt_note(s, n, 0);
    return READ_CLOSED;
}

static int close_gone(sp_file_source *s, struct tfile *t, const char *why)
{
    sp_err err;
    sp_log_info(s->log, "flow %s: %s (inode %" PRIu64 "): %s, read to its end at offset %"
                PRIu64 ": closing", s->flow, t->path, t->ino, why, t->off);
    if (sp_framer_finish(&t->fr, &err) != SP_OK) {
        fail(s, err.msg);
        return READ_CLOSED;
    }
    t->closed_gone = 1;
    tfile_close(s, t);
    return READ_CLOSED;
}

/* At the end of what there is: truncated? gone and finished with? */
static int at_eof(sp_file_source *s, struct tfile *t)
{
    struct stat st;
    if (fstat(t->fd, &st) < 0) {
        sp_log_warn(s->log, "flow %s: %s: fstat: %s", s->flow, t->path, strerror(errno));
        return READ_DONE;
    }
    if ((uint64_t)st.st_size < t->off)
        return truncated(s, t, (uint64_t)st.st_size);
    if (t->gone_at == 0)
        return READ_DONE;
    if (st.st_nlink == 0)
        return close_gone(s, t, "deleted");
    /* A writer may append to a renamed file until it reopens. */
    uint64_t quiet = t->gone_at > t->grew_at ? t->gone_at : t->grew_at;
    if (now_ms(s) - quiet >= 2 * (uint64_t)s->poll_ms)
        return close_gone(s, t, "rotated");
    return READ_DONE;
}

static int sink_full(sp_file_source *s)
{
    return s->sink.full != NULL && s->sink.full(s->sink.arg);
}

/* Reads up to CHUNKS_PER_ROUND chunks of t. */
static int read_file(sp_file_source *s, struct tfile *t)
{
    sp_err err;
    for (int i = 0; i < CHUNKS_PER_ROUND; i++) {
        if (s->paused || s->stopped || s->failed)
            return READ_DONE;
        if (sink_full(s)) {
            s->full_wait = 1;
            soon(s, &s->work_timer, FULL_RECHECK_MS);
            return READ_DONE;
        }
        ssize_t n = pread(t->fd, s->buf, CHUNK, (off_t)t->off);
        if (n < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            /* EIO and friends: try again at the next poll. */
            if (!t->warned_io)
                sp_log_warn(s->log, "flow %s: reading %s: %s (trying again every %" PRIu32
                            " ms)", s->flow, t->path, strerror(errno), s->poll_ms);
            t->warned_io = 1;
            t->want_read = 0;
            return READ_DONE;
        }
        t->warned_io = 0;
        if (n == 0) {
            t->want_read = 0;
            return at_eof(s, t);
        }
        t->off += (uint64_t)n;
        s->st.bytes += (uint64_t)n;
        t->grew_at = now_ms(s);
        if (sp_framer_feed(&t->fr, s->buf, (size_t)n, &err) != SP_OK) {
            fail(s, err.msg);
            return READ_DONE;
        }
        arm_flush(s, t);
    }
    return READ_MORE;
}

static void on_work(sp_loop *loop, void *arg)
{
    (void)loop;
    sp_file_source *s = arg;
    int more = 0;
    s->full_wait = 0;
    if (s->stopped)
        return;
    if (s->need_scan) {
        s->need_scan = 0;
        scan(s, 0);
    }
    if (s->paused)
        return;
    struct tfile *next;
    for (struct tfile *t = s->files; t; t = next) {
        next = t->next;
        if (!t->want_read)
            continue;
        int r = read_file(s, t);
        if (s->stopped || s->full_wait)
            return;
        /* A truncation puts a fresh state that wants reading in t's place. */
        if (r != READ_DONE)
            more = 1;
    }
    if (more)
        soon(s, &s->work_timer, 0);
}

/* The partial-line timeout of one file. */
static void on_flush(sp_loop *loop, void *arg)
{
    (void)loop;
    struct tfile *t = arg;
    sp_file_source *s = t->src;
    sp_err err;
    if (s == NULL || !t->open || s->stopped || s->paused)
        return;                     /* sp_file_source_pause(s, 0) re-arms */
    if (!s->full_wait) {
        /* What the file holds may complete the line: read it first. */
        int r = read_file(s, t);
        if (r == READ_CLOSED || s->stopped || s->paused)
            return;
        if (r == READ_MORE)
            soon(s, &s->work_timer, 0);
    }
    if (s->full_wait) {             /* not while the pipeline is full */
        if (sp_timer_start(s->loop, &t->flush_timer, FULL_RECHECK_MS, &err) != SP_OK)
            sp_log_error(s->log, "flow %s: %s", s->flow, err.msg);
        return;
    }
    if (now_ms(s) - t->grew_at < s->flush_ms) {
        arm_flush(s, t);
        return;
    }
    if (sp_framer_flush_pending(&t->fr, &err) != SP_OK)
        fail(s, err.msg);
}

/* ---- what the watch says ---- */

/* A file was written: read the open file of that path, or else the gone
 * ones (perhaps a renamed file still being written). */
static void mark_path(sp_file_source *s, const char *path)
{
    int hit = 0;
    for (struct tfile *t = s->files; path != NULL && t; t = t->next) {
        if (strcmp(t->path, path) == 0) {
            t->want_read = 1;
            hit = 1;
        }
    }
    if (!hit)
        for (struct tfile *t = s->files; t; t = t->next)
            if (t->gone_at)
                t->want_read = 1;
}

static void on_watch(void *arg, enum sp_watch_event ev, const char *path)
{
    sp_file_source *s = arg;
    if (s->stopped)
        return;
    switch (ev) {
    case SP_WATCH_WRITTEN:
        mark_path(s, path);
        break;
    case SP_WATCH_RESCAN:
        s->need_scan = 1;
        break;
    case SP_WATCH_LOST:
    case SP_WATCH_POLL:
        /* Every open file is looked at: growth, truncation, rotation. */
        s->need_scan = 1;
        for (struct tfile *t = s->files; t; t = t->next)
            t->want_read = 1;
        break;
    }
    if (ev == SP_WATCH_POLL)
        on_work(s->loop, s);
    else
        soon(s, &s->work_timer, 0);
}

/* ---- the source ---- */

static void on_fail_timer(sp_loop *loop, void *arg)
{
    (void)loop;
    sp_file_source *s = arg;
    if (s->on_error)
        s->on_error(s->arg, s->fail_msg);
}

static void fail(sp_file_source *s, const char *msg)
{
    sp_err err;
    if (s->failed)
        return;
    s->failed = 1;
    snprintf(s->fail_msg, sizeof s->fail_msg, "%s", msg);
    sp_log_error(s->log, "flow %s: file source stopped: %s", s->flow, msg);
    sp_file_source_stop(s);
    if (sp_timer_start(s->loop, &s->fail_timer, 0, &err) != SP_OK)
        sp_log_error(s->log, "flow %s: %s", s->flow, err.msg);
}

sp_file_source *sp_file_source_new(sp_loop *loop, const sp_file_source_opts *o, sp_err *err)
{
    const char *flow = o->flow ? o->flow : "";
    if (o->flow == NULL || o->flow[0] == '\0') {
        sp_err_set(err, "file source: no flow name");
        return NULL;
    }
    if (o->glob == NULL || o->glob[0] == '\0' || o->glob[strlen(o->glob) - 1] == '/') {
        sp_err_set(err, "flow %s: filePattern: a file pattern is required (not a directory)", flow);
        return NULL;
    }
    if (o->max_record == 0) {
        sp_err_set(err, "flow %s: the record size cap must be at least 1 byte", flow);
        return NULL;
    }
    if (o->sink.record == NULL) {
        sp_err_set(err, "flow %s: file source: no sink", flow);
        return NULL;
    }
    sp_file_source *s = calloc(1, sizeof *s);
    if (s == NULL) {
        sp_err_set(err, "flow %s: out of memory", flow);
        return NULL;
    }
    s->loop = loop;
    s->max = o->max_record;
    s->policy = o->oversize;
    s->skip_header = o->skip_header_lines;
    s->match_bytes = o->match_bytes;
    s->poll_ms = o->poll_ms ? o->poll_ms : DEFAULT_POLL_MS;
    s->flush_ms = o->partial_flush_ms;
    s->ckpt = o->ckpt;
    s->sink = o->sink;
    s->log = o->log;
    s->on_error = o->on_error;
    s->arg = o->arg;
    sp_timer_init(&s->work_timer, on_work, s);
    sp_timer_init(&s->fail_timer, on_fail_timer, s);
    s->flow = strdup(o->flow);
    s->buf = malloc(CHUNK);
    if (s->flow == NULL || s->buf == NULL) {
        sp_err_set(err, "flow %s: out of memory", flow);
        goto fail;
    }
    sp_resume_init(&s->resume, s->flow, s->ckpt, o->start, s->log);
    if (o->truncated_terminator && o->truncated_terminator[0]) {
        s->term_len = strlen(o->truncated_terminator);
        if (s->term_len >= s->max) {
            sp_err_set(err, "flow %s: truncatedRecordTerminator: %zu bytes, it must be shorter "
                       "than the record size cap (%zu bytes)", flow, s->term_len, s->max);
            goto fail;
        }
        if ((s->term = strdup(o->truncated_terminator)) == NULL) {
            sp_err_set(err, "flow %s: out of memory", flow);
            goto fail;
        }
    }
    if (o->multiline_start && o->multiline_start[0]) {
        sp_err e;
        if (sp_ere_compile(&s->re, o->multiline_start, REG_NOSUB, &e) != SP_OK) {
            sp_err_set(err, "flow %s: multiLineStartPattern: '%.200s' %s", flow, o->multiline_start, e.msg);
            goto fail;
        }
        s->have_re = 1;
    }
    sp_watch_opts wo = {o->flow, o->glob, s->poll_ms, o->disable_inotify, o->log, on_watch, s};
    if ((s->watch = sp_watch_new(loop, &wo, err)) == NULL)
        goto fail;
    sp_loop_update_time(loop);
    scan(s, 1);
    if (sp_timer_start(loop, &s->work_timer, 0, err) != SP_OK) {
        sp_err_prefix(err, "flow %s", flow);
        goto fail;
    }
    return s;
fail:
    sp_file_source_free(s);
    return NULL;
}

void sp_file_source_pause(sp_file_source *s, int paused)
{
    s->paused = paused != 0;
    if (s->paused || s->stopped)
        return;
    soon(s, &s->work_timer, 0);
    for (struct tfile *t = s->files; t; t = t->next)
        arm_flush(s, t);
}

int sp_file_source_checkpoint(sp_file_source *s, sp_err *err)
{
    if (s->ckpt == NULL)
        return SP_OK;
    for (struct tfile *t = s->files; t; t = t->next) {
        uint64_t pos = t->prog.done_pos < t->cap_pos ? t->prog.done_pos : t->cap_pos;
        unsigned char fp[32];
        uint32_t fp_len;
        sp_err e2;
        if (pos == t->ck_off)
            continue;
        if (sp_ckpt_fingerprint(t->fd, pos, fp, &fp_len, &e2) != SP_OK) {
            /* Truncated since it was read: the next read notices. */
            sp_log_debug(s->log, "flow %s: %s: no checkpoint now: %s", s->flow, t->path, e2.msg);
            continue;
        }
        if (sp_ckpt_set(s->ckpt, s->flow, t->path, t->dev, t->ino, pos, fp, fp_len, err) != SP_OK)
            return SP_ERR;
        t->ck_off = pos;
    }
    return SP_OK;
}

void sp_file_source_stop(sp_file_source *s)
{
    if (s->stopped)
        return;
    s->stopped = 1;
    sp_timer_stop(s->loop, &s->work_timer);
    for (struct tfile *t = s->files; t; t = t->next)
        sp_timer_stop(s->loop, &t->flush_timer);
    if (s->watch != NULL)
        sp_watch_stop(s->watch);
}

int sp_file_source_idle(const sp_file_source *s)
{
    return s->st.inflight == 0;
}

void sp_file_source_stats_get(const sp_file_source *s, sp_file_source_stats *out)
{
    *out = s->st;
    out->inotify = s->watch != NULL && sp_watch_inotify(s->watch);
    for (const struct tfile *t = s->files; t; t = t->next)
        sp_framer_stats_add(&out->framer, &t->fr.stats);
}

void sp_file_source_behind(const sp_file_source *s, sp_file_behind_fn fn, void *arg)
{
    for (const struct tfile *t = s->files; t; t = t->next) {
        struct stat st;
        if (t->fd < 0 || fstat(t->fd, &st) != 0)
            continue;
        uint64_t size = (uint64_t)st.st_size;
        fn(arg, t->path, size > t->off ? size - t->off : 0);
    }
}

const char *sp_file_source_failed(const sp_file_source *s)
{
    return s->failed ? s->fail_msg : NULL;
}

void sp_file_source_free(sp_file_source *s)
{
    if (s == NULL)
        return;
    sp_file_source_stop(s);
    sp_timer_stop(s->loop, &s->fail_timer);
    /* A record still in flight keeps its file's state for its ack. */
    while (s->files) {
        struct tfile *t = s->files;
        SP_LIST_REMOVE(&s->files, t);
        t->open = 0;
        t->src = NULL;
        if (t->fd >= 0) {
            close(t->fd);
            t->fd = -1;
        }
        if (t->inflight == 0)
            tfile_destroy(t);
    }
    while (s->draining) {
        struct tfile *t = s->draining;
        SP_LIST_REMOVE(&s->draining, t);
        t->src = NULL;
    }
    sp_watch_free(s->watch);
    if (s->have_re)
        regfree(&s->re);
    free(s->term);
    free(s->buf);
    free(s->flow);
    free(s);
}
