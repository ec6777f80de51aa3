/* File source (see source_file.h).
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
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shardpipe/ere.h"
#include "shardpipe/source_file.h"

#define CHUNK 65536u                /* one read */
#define CHUNKS_PER_ROUND 4          /* per file per round: fairness */
#define FULL_RECHECK_MS 50
#define DEFAULT_POLL_MS 1000
#define TAIL_SCAN_MAX ((uint64_t)1 << 20)  /* how far back "end" looks for a newline */
#define INOTIFY_BURST 16            /* reads of the inotify fd per wake-up */
#define IN_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_MODIFY | IN_DELETE | \
                 IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
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

struct dwatch {
    int wd;
    char *dir;
};

/* A path the glob matches that cannot be tailed (not a regular file, or
 * stat/open fails), as it was when warned about: it is warned about again
 * only when one of these changes. Forgotten when the path no longer
 * matches or can be tailed, so memory is bounded by what matches. */
struct skipped {
    char *path;
    int err;                     /* errno of stat or open; 0: wrong type */
    int at_open;                 /* open failed (stat worked) */
    uint32_t mode;               /* type and permissions; 0 when stat failed */
    uint64_t dev, ino;
    uint64_t seen_gen;           /* the last scan that found it so */
};

struct sp_file_source {
    sp_loop *loop;
    int resumed;                 /* the checkpoint has entries of this flow */
    char *flow;
    char *glob;
    char *dirglob;               /* the directory part of glob */
    int flat;                    /* glob has no '/': paths are bare names */
    enum sp_start_pos start;
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
    int ifd;                     /* inotify, -1: polling only */
    struct dwatch *dirs;
    size_t ndirs, capdirs;
    struct skipped *skips;
    size_t nskips, capskips;
    sp_timer poll_timer, work_timer, fail_timer;
    uint64_t gen;                /* scans so far */
    int need_scan;
    int paused;                  /* by the owner */
    int full_wait;               /* by ourselves: sink.full said so */
    int stopped;
    int failed;
    int warned_watch;
    char fail_msg[SP_ERR_MSG_MAX];
    sp_file_source_stats st;     /* framer: sums of the files no longer open */
};

static void file_ack(void *token, uint64_t tag, int stored);
static void on_flush(sp_loop *loop, void *arg);

static uint64_t now_ms(const sp_file_source *s)
{
    return sp_loop_now_ms(s->loop);
}

static void add_stats(sp_framer_stats *to, const sp_framer_stats *from)
{
    to->lines += from->lines;
    to->records += from->records;
    to->split_lines += from->split_lines;
    to->truncated += from->truncated;
    to->dropped += from->dropped;
    to->bytes_discarded += from->bytes_discarded;
    to->skipped_lines += from->skipped_lines;
    to->flushed += from->flushed;
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

static void list_add(struct tfile **head, struct tfile *t)
{
    t->prev = NULL;
    t->next = *head;
    if (*head)
        (*head)->prev = t;
    *head = t;
}

static void list_del(struct tfile **head, struct tfile *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        *head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

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
        list_del(&s->draining, t);
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
    add_stats(&s->st.framer, &t->fr.stats);
    memset(&t->fr.stats, 0, sizeof t->fr.stats);
    sp_timer_stop(s->loop, &t->flush_timer);
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    list_del(&s->files, t);
    s->st.files--;
    t->open = 0;
    list_add(&s->draining, t);
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
    list_add(&s->files, t);
    s->st.files++;
    s->st.opened++;
    return t;
}

/* ---- start positions ---- */

/* Just after the last newline before size (a partial last line is read
 * when it completes); 0 when a small file has none; size when none is
 * found within TAIL_SCAN_MAX bytes. */
static uint64_t end_pos(int fd, uint64_t size)
{
    char b[4096];
    uint64_t end = size, limit = size > TAIL_SCAN_MAX ? size - TAIL_SCAN_MAX : 0;
    while (end > limit) {
        size_t want = end - limit < sizeof b ? (size_t)(end - limit) : sizeof b;
        ssize_t n = pread(fd, b, want, (off_t)(end - want));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)want)
            return size;            /* error or shrinking: no better guess */
        for (size_t i = want; i > 0; i--)
            if (b[i - 1] == '\n')
                return end - want + i;
        end -= want;
    }
    return limit == 0 ? 0 : size;
}

/* Where reading starts: a matching checkpoint entry, else the configured
 * position for a file found at start-up (initial), else the beginning. A
 * file found later may have an entry too (it could not be opened at
 * start-up), so it is looked up as well. */
static uint64_t start_pos(sp_file_source *s, int fd, const char *path, const struct stat *st,
                          int initial)
{
    sp_ckpt_entry *e = s->ckpt ? sp_ckpt_find(s->ckpt, s->flow, (uint64_t)st->st_dev,
                                              (uint64_t)st->st_ino) : NULL;
    const char *where = !initial ? "the beginning (new file)"
                        : s->start == SP_START_BEGINNING ? "the beginning" : "the end";
    if (e != NULL) {
        sp_err err;
        int m = sp_ckpt_matches(fd, e, &err);
        if (m == 1) {
            sp_log_info(s->log, "flow %s: %s: resuming at offset %" PRIu64, s->flow, path,
                        e->offset);
            return e->offset;
        }
        if (m == 0)
            sp_log_warn(s->log, "flow %s: %s: the checkpoint (offset %" PRIu64 ") does not "
                        "match the file (inode reused, or truncated or rewritten while "
                        "stopped): starting at %s", s->flow, path, e->offset, where);
        else
            sp_log_warn(s->log, "flow %s: %s: checking the checkpoint: %s; starting at %s",
                        s->flow, path, err.msg, where);
    }
    if (!initial) {
        sp_log_info(s->log, "flow %s: new file %s: reading from the beginning", s->flow, path);
        return 0;
    }
    if (s->resumed) {
        /* This flow ran before (it has checkpoints), so a file without one
         * appeared while we were stopped, a rotation say: it is new. */
        sp_log_info(s->log, "flow %s: %s appeared while stopped: reading from the beginning", s->flow, path);
        return 0;
    }
    if (s->start == SP_START_BEGINNING)
        return 0;
    return end_pos(fd, (uint64_t)st->st_size);
}

/* ---- paths that cannot be tailed ---- */

static const char *type_name(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : "of an unknown type";
}

static struct skipped *find_skip(sp_file_source *s, const char *path)
{
    for (size_t i = 0; i < s->nskips; i++)
        if (strcmp(s->skips[i].path, path) == 0)
            return &s->skips[i];
    return NULL;
}

/* path is not tailed: err is the errno of stat (at_open 0) or of open
 * (at_open 1), or 0 for a file that is not a regular one (st). Warns
 * unless it was warned about in this same state. */
static void skip_path(sp_file_source *s, const char *path, const struct stat *st, int err,
                      int at_open)
{
    struct skipped now = {NULL, err, at_open, st ? (uint32_t)st->st_mode : 0,
                          st ? (uint64_t)st->st_dev : 0, st ? (uint64_t)st->st_ino : 0, s->gen};
    struct skipped *k = find_skip(s, path);
    if (k != NULL && k->err == now.err && k->at_open == now.at_open && k->mode == now.mode &&
        k->dev == now.dev && k->ino == now.ino) {
        k->seen_gen = s->gen;
        return;
    }
    struct stat ls;
    if (err == 0)
        sp_log_warn(s->log, "flow %s: %s is %s, not a regular file: not tailed", s->flow, path,
                    type_name(st->st_mode));
    else if (at_open)
        sp_log_warn(s->log, "flow %s: %s cannot be opened: %s: not tailed", s->flow, path,
                    strerror(err));
    else if (err == ENOENT && lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode))
        sp_log_warn(s->log, "flow %s: %s is a symbolic link to a missing file: not tailed",
                    s->flow, path);
    else
        sp_log_warn(s->log, "flow %s: %s cannot be read: %s: not tailed", s->flow, path,
                    strerror(err));
    if (k != NULL) {
        now.path = k->path;
        *k = now;
        return;
    }
    if (s->nskips == s->capskips) {
        size_t cap = s->capskips ? s->capskips * 2 : 4;
        struct skipped *n = realloc(s->skips, cap * sizeof *n);
        if (n == NULL)
            return;                 /* not remembered: warned again at the next scan */
        s->skips = n;
        s->capskips = cap;
    }
    if ((now.path = strdup(path)) == NULL)
        return;
    s->skips[s->nskips++] = now;
}

static void drop_skip(sp_file_source *s, size_t i)
{
    free(s->skips[i].path);
    s->skips[i] = s->skips[--s->nskips];
}

/* path is tailed now: forget that it was not. */
static void unskip_path(sp_file_source *s, const char *path)
{
    struct skipped *k = find_skip(s, path);
    if (k == NULL)
        return;
    sp_log_info(s->log, "flow %s: %s can be read now: tailing it", s->flow, path);
    drop_skip(s, (size_t)(k - s->skips));
}

/* After a scan: what it did not find unreadable is forgotten. */
static void forget_skips(sp_file_source *s)
{
    size_t i = 0;
    while (i < s->nskips) {
        if (s->skips[i].seen_gen != s->gen)
            drop_skip(s, i);
        else
            i++;
    }
}

static void free_skips(sp_file_source *s)
{
    while (s->nskips > 0)
        drop_skip(s, s->nskips - 1);
    free(s->skips);
    s->skips = NULL;
    s->capskips = 0;
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
            skip_path(s, path, pre, e, 1);
        return;
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        skip_path(s, path, pre, e, 0);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        skip_path(s, path, &st, 0, 0);
        return;
    }
    unskip_path(s, path);
    struct tfile *t = find_open(s, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    if (t != NULL) {                /* replaced between stat and open */
        t->seen_gen = s->gen;
        close(fd);
        return;
    }
    uint64_t start = start_pos(s, fd, path, &st, initial);
    t = tfile_new(s, path, fd, (uint64_t)st.st_dev, (uint64_t)st.st_ino, start, &err);
    if (t == NULL) {
        close(fd);
        sp_log_error(s->log, "%s", err.msg);
        return;
    }
    ckpt_note(s, t, start);
}

/* ---- discovery ---- */

static void add_dir_watch(sp_file_source *s, const char *dir)
{
    int wd = inotify_add_watch(s->ifd, dir, IN_MASK);
    if (wd < 0) {
        if (errno == ENOSPC && !s->warned_watch) {
            s->warned_watch = 1;
            sp_log_warn(s->log, "flow %s: %s: inotify watch limit reached "
                        "(fs.inotify.max_user_watches): polling every %" PRIu32 " ms",
                        s->flow, dir, s->poll_ms);
        } else if (errno != ENOSPC) {
            sp_log_debug(s->log, "flow %s: watching %s: %s", s->flow, dir, strerror(errno));
        }
        return;
    }
    for (size_t i = 0; i < s->ndirs; i++)
        if (s->dirs[i].wd == wd)
            return;                 /* already watched (same directory) */
    if (s->ndirs == s->capdirs) {
        size_t cap = s->capdirs ? s->capdirs * 2 : 8;
        struct dwatch *d = realloc(s->dirs, cap * sizeof *d);
        if (d == NULL)
            goto nomem;
        s->dirs = d;
        s->capdirs = cap;
    }
    char *copy = strdup(dir);
    if (copy == NULL)
        goto nomem;
    s->dirs[s->ndirs].wd = wd;
    s->dirs[s->ndirs].dir = copy;
    s->ndirs++;
    return;
nomem:
    inotify_rm_watch(s->ifd, wd);
    sp_log_warn(s->log, "flow %s: out of memory watching %s: polling it", s->flow, dir);
}

static void watch_dirs(sp_file_source *s)
{
    glob_t g;
    if (s->ifd < 0)
        return;
    if (glob(s->dirglob, GLOB_ONLYDIR, NULL, &g) != 0) {
        globfree(&g);
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
            add_dir_watch(s, g.gl_pathv[i]);
    }
    globfree(&g);
}

struct fid {
    uint64_t dev, ino;
};

/* Drops the entries of this flow for paths this glob matches whose file
 * the scan did not find (ids): their data cannot be resumed any more. */
static void ckpt_gc(sp_file_source *s, const struct fid *ids, size_t nids)
{
    size_t i = s->ckpt->n;
    while (i-- > 0) {
        sp_ckpt_entry *e = &s->ckpt->entries[i];
        size_t k = 0;
        if (strcmp(e->flow, s->flow) != 0 || fnmatch(s->glob, e->path, FNM_PATHNAME | FNM_PERIOD) != 0)
            continue;
        while (k < nids && (ids[k].dev != e->dev || ids[k].ino != e->ino))
            k++;
        if (k < nids)
            continue;
        sp_log_info(s->log, "flow %s: %s (inode %" PRIu64 ") is gone: dropping its checkpoint",
                    s->flow, e->path, e->ino);
        uint64_t dev = e->dev, ino = e->ino;
        sp_ckpt_remove(s->ckpt, s->flow, dev, ino);
        if (i > s->ckpt->n)
            i = s->ckpt->n;
    }
}

/* Compressed rotations (app.log.2.gz) match globs like "app.log*" but are
 * not text to tail; the Kinesis Agent skips them too. */
static int compressed(const char *path)
{
    static const char *const ext[] = {".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".Z"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t k = strlen(ext[i]);
        if (n > k && strcmp(path + n - k, ext[i]) == 0)
            return 1;
    }
    return 0;
}

static void scan(sp_file_source *s, int initial)
{
    glob_t g;
    uint64_t now = now_ms(s);
    struct fid *ids = NULL;         /* initial: what the glob found, for ckpt_gc */
    size_t nids = 0;
    s->gen++;
    watch_dirs(s);
    int rc = glob(s->glob, 0, NULL, &g);
    if (rc != 0 && rc != GLOB_NOMATCH)
        sp_log_warn(s->log, "flow %s: %s: %s", s->flow, s->glob,
                    rc == GLOB_NOSPACE ? "out of memory" : "cannot read a directory");
    if (rc == 0 && initial && s->ckpt && (ids = calloc(g.gl_pathc, sizeof *ids)) == NULL)
        sp_log_warn(s->log, "flow %s: out of memory: old checkpoint entries are kept", s->flow);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        struct stat st, ls;
        if (compressed(path))
            continue;
        /* stat before open: a FIFO or a device is never opened. */
        if (stat(path, &st) < 0) {
            int e = errno;
            /* A name that went away since the glob is no news; a dangling
             * symbolic link or a loop is. */
            if (e != ENOENT || lstat(path, &ls) == 0)
                skip_path(s, path, NULL, e, 0);
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            skip_path(s, path, &st, 0, 0);
            continue;
        }
        if (ids != NULL) {
            ids[nids].dev = (uint64_t)st.st_dev;
            ids[nids++].ino = (uint64_t)st.st_ino;
        }
        struct tfile *t = find_open(s, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
        if (t == NULL) {
            open_file(s, path, &st, initial);
            continue;
        }
        unskip_path(s, path);
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
            t->gone_at = 0;         /* back at a matching path */
            t->want_read = 1;
        }
    }
    globfree(&g);
    /* A failed glob says nothing about the paths: keep what was warned. */
    if (rc == 0 || rc == GLOB_NOMATCH)
        forget_skips(s);
    for (struct tfile *t = s->files; t; t = t->next) {
        if (t->seen_gen == s->gen || t->gone_at)
            continue;
        t->gone_at = now ? now : 1;
        t->want_read = 1;
        s->st.rotations++;
        sp_log_info(s->log, "flow %s: %s is gone from its path (rotated or deleted): "
                    "reading it to its end", s->flow, t->path);
    }
    /* Nothing found may be a directory not mounted yet: keep the entries. */
    if (ids != NULL && nids > 0)
        ckpt_gc(s, ids, nids);
    free(ids);
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

static void on_poll(sp_loop *loop, void *arg)
{
    sp_file_source *s = arg;
    sp_err err;
    if (s->stopped)
        return;
    s->need_scan = 1;
    for (struct tfile *t = s->files; t; t = t->next)
        t->want_read = 1;
    on_work(loop, s);
    if (!s->stopped && sp_timer_start(loop, &s->poll_timer, s->poll_ms, &err) != SP_OK)
        sp_log_error(s->log, "flow %s: %s", s->flow, err.msg);
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

/* ---- inotify ---- */

static void inotify_off(sp_file_source *s)
{
    if (s->ifd >= 0) {
        sp_loop_unwatch(s->loop, s->ifd);
        close(s->ifd);
        s->ifd = -1;
    }
    for (size_t i = 0; i < s->ndirs; i++)
        free(s->dirs[i].dir);
    free(s->dirs);
    s->dirs = NULL;
    s->ndirs = s->capdirs = 0;
    s->st.inotify = 0;
}

/* A file in a watched directory changed: mark the open file of that name
 * (spelled as glob(3) spells it), or else the gone ones. */
static void mark_path(sp_file_source *s, int wd, const char *name)
{
    const char *dir = NULL;
    char path[PATH_MAX + NAME_MAX + 2];
    int hit = 0;
    for (size_t i = 0; i < s->ndirs && dir == NULL; i++)
        if (s->dirs[i].wd == wd)
            dir = s->dirs[i].dir;
    if (dir != NULL) {
        size_t dl = strlen(dir);
        int n = s->flat ? snprintf(path, sizeof path, "%s", name)
                        : snprintf(path, sizeof path, "%s%s%s", dir,
                                   dl > 0 && dir[dl - 1] == '/' ? "" : "/", name);
        for (struct tfile *t = s->files; n > 0 && (size_t)n < sizeof path && t; t = t->next) {
            if (strcmp(t->path, path) == 0) {
                t->want_read = 1;
                hit = 1;
            }
        }
    }
    if (!hit)                       /* perhaps a renamed file still being written */
        for (struct tfile *t = s->files; t; t = t->next)
            if (t->gone_at)
                t->want_read = 1;
}

static void on_inotify(sp_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    sp_file_source *s = arg;
    alignas(struct inotify_event) char buf[8192];
    for (int i = 0; i < INOTIFY_BURST && s->ifd >= 0; i++) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            sp_log_warn(s->log, "flow %s: reading inotify events: %s: polling from now on",
                        s->flow, strerror(errno));
            inotify_off(s);
            break;
        }
        if (n == 0)
            break;
        for (char *p = buf; p + sizeof(struct inotify_event) <= buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)(void *)p;
            p += sizeof *e + e->len;
            if (e->mask & IN_Q_OVERFLOW) {
                s->need_scan = 1;
                for (struct tfile *t = s->files; t; t = t->next)
                    t->want_read = 1;
                continue;
            }
            if (e->mask & IN_IGNORED) {     /* the directory went away */
                for (size_t k = 0; k < s->ndirs; k++) {
                    if (s->dirs[k].wd == e->wd) {
                        free(s->dirs[k].dir);
                        s->dirs[k] = s->dirs[--s->ndirs];
                        break;
                    }
                }
                s->need_scan = 1;
                continue;
            }
            if (e->mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                           IN_DELETE_SELF | IN_MOVE_SELF))
                s->need_scan = 1;
            if ((e->mask & (IN_MODIFY | IN_CLOSE_WRITE)) && e->len > 0)
                mark_path(s, e->wd, e->name);
        }
    }
    if (!s->stopped)
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

static char *dir_part(const char *glob, int *flat)
{
    const char *slash = strrchr(glob, '/');
    *flat = slash == NULL;
    if (slash == NULL)
        return strdup(".");
    if (slash == glob)
        return strdup("/");
    return strndup(glob, (size_t)(slash - glob));
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
    s->ifd = -1;
    s->start = o->start;
    s->max = o->max_record;
    s->policy = o->oversize;
    s->skip_header = o->skip_header_lines;
    s->match_bytes = o->match_bytes;
    s->poll_ms = o->poll_ms ? o->poll_ms : DEFAULT_POLL_MS;
    s->flush_ms = o->partial_flush_ms;
    s->ckpt = o->ckpt;
    for (size_t i = 0; s->ckpt && i < s->ckpt->n; i++)
        if (strcmp(s->ckpt->entries[i].flow, o->flow) == 0)
            s->resumed = 1;
    s->sink = o->sink;
    s->log = o->log;
    s->on_error = o->on_error;
    s->arg = o->arg;
    sp_timer_init(&s->poll_timer, on_poll, s);
    sp_timer_init(&s->work_timer, on_work, s);
    sp_timer_init(&s->fail_timer, on_fail_timer, s);
    s->flow = strdup(o->flow);
    s->glob = strdup(o->glob);
    s->dirglob = dir_part(o->glob, &s->flat);
    s->buf = malloc(CHUNK);
    if (s->flow == NULL || s->glob == NULL || s->dirglob == NULL || s->buf == NULL) {
        sp_err_set(err, "flow %s: out of memory", flow);
        goto fail;
    }
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
    if (!o->disable_inotify) {
        s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->ifd < 0) {
            sp_log_info(s->log, "flow %s: inotify: %s: polling every %" PRIu32 " ms", flow,
                        strerror(errno), s->poll_ms);
        } else if (sp_loop_watch(loop, s->ifd, SP_EV_READ, on_inotify, s, err) != SP_OK) {
            sp_err_prefix(err, "flow %s", flow);
            goto fail;
        } else {
            s->st.inotify = 1;
        }
    }
    sp_loop_update_time(loop);
    scan(s, 1);
    if (sp_timer_start(loop, &s->poll_timer, s->poll_ms, err) != SP_OK ||
        sp_timer_start(loop, &s->work_timer, 0, err) != SP_OK) {
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
    sp_timer_stop(s->loop, &s->poll_timer);
    sp_timer_stop(s->loop, &s->work_timer);
    for (struct tfile *t = s->files; t; t = t->next)
        sp_timer_stop(s->loop, &t->flush_timer);
    inotify_off(s);
}

int sp_file_source_idle(const sp_file_source *s)
{
    return s->st.inflight == 0;
}

void sp_file_source_stats_get(const sp_file_source *s, sp_file_source_stats *out)
{
    *out = s->st;
    for (const struct tfile *t = s->files; t; t = t->next)
        add_stats(&out->framer, &t->fr.stats);
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
        list_del(&s->files, t);
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
        list_del(&s->draining, t);
        t->src = NULL;
    }
    free_skips(s);
    if (s->have_re)
        regfree(&s->re);
    free(s->term);
    free(s->buf);
    free(s->dirglob);
    free(s->glob);
    free(s->flow);
    free(s);
}
