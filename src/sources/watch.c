/* Directory watching (see watch.h).
 *
 * inotify watches directories, never the files in them: a file's name is
 * what comes and goes under rotation, and one watch per directory bounds
 * the watches by the directories the pattern names. Events are read in
 * bursts and passed on as they are; the caller defers the work, so a
 * burst costs it one scan. */
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "shardpipe/watch.h"

#define INOTIFY_BURST 16            /* reads of the inotify fd per wake-up */
#define IN_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_MODIFY | IN_DELETE | \
                 IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

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

struct sp_watch {
    sp_loop *loop;
    char *flow;
    char *glob;
    char *dirglob;               /* the directory part of glob */
    int flat;                    /* glob has no '/': paths are bare names */
    uint32_t poll_ms;
    const sp_log *log;
    sp_watch_event_fn on_event;
    void *arg;
    int ifd;                     /* inotify, -1: polling only */
    struct dwatch *dirs;
    size_t ndirs, capdirs;
    struct skipped *skips;
    size_t nskips, capskips;
    uint64_t gen;                /* scans so far */
    sp_timer poll_timer;
    int stopped;
    int warned_watch;
};

/* ---- paths that cannot be tailed ---- */

static const char *type_name(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : "of an unknown type";
}

static struct skipped *find_skip(sp_watch *w, const char *path)
{
    for (size_t i = 0; i < w->nskips; i++)
        if (strcmp(w->skips[i].path, path) == 0)
            return &w->skips[i];
    return NULL;
}

void sp_watch_skip(sp_watch *w, const char *path, const struct stat *st, int err, int at_open)
{
    struct skipped now = {NULL, err, at_open, st ? (uint32_t)st->st_mode : 0,
                          st ? (uint64_t)st->st_dev : 0, st ? (uint64_t)st->st_ino : 0, w->gen};
    struct skipped *k = find_skip(w, path);
    if (k != NULL && k->err == now.err && k->at_open == now.at_open && k->mode == now.mode &&
        k->dev == now.dev && k->ino == now.ino) {
        k->seen_gen = w->gen;
        return;
    }
    struct stat ls;
    if (err == 0)
        sp_log_warn(w->log, "flow %s: %s is %s, not a regular file: not tailed", w->flow, path,
                    type_name(st->st_mode));
    else if (at_open)
        sp_log_warn(w->log, "flow %s: %s cannot be opened: %s: not tailed", w->flow, path,
                    strerror(err));
    else if (err == ENOENT && lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode))
        sp_log_warn(w->log, "flow %s: %s is a symbolic link to a missing file: not tailed",
                    w->flow, path);
    else
        sp_log_warn(w->log, "flow %s: %s cannot be read: %s: not tailed", w->flow, path,
                    strerror(err));
    if (k != NULL) {
        now.path = k->path;
        *k = now;
        return;
    }
    if (w->nskips == w->capskips) {
        size_t cap = w->capskips ? w->capskips * 2 : 4;
        struct skipped *n = realloc(w->skips, cap * sizeof *n);
        if (n == NULL)
            return;                 /* not remembered: warned again at the next scan */
        w->skips = n;
        w->capskips = cap;
    }
    if ((now.path = strdup(path)) == NULL)
        return;
    w->skips[w->nskips++] = now;
}

static void drop_skip(sp_watch *w, size_t i)
{
    free(w->skips[i].path);
    w->skips[i] = w->skips[--w->nskips];
}

void sp_watch_tailed(sp_watch *w, const char *path)
{
    struct skipped *k = find_skip(w, path);
    if (k == NULL)
        return;
    sp_log_info(w->log, "flow %s: %s can be read now: tailing it", w->flow, path);
    drop_skip(w, (size_t)(k - w->skips));
}

/* After a scan: what it did not find unreadable is forgotten. */
static void forget_skips(sp_watch *w)
{
    size_t i = 0;
    while (i < w->nskips) {
        if (w->skips[i].seen_gen != w->gen)
            drop_skip(w, i);
        else
            i++;
    }
}

/* ---- directories ---- */

static void add_dir_watch(sp_watch *w, const char *dir)
{
    int wd = inotify_add_watch(w->ifd, dir, IN_MASK);
    if (wd < 0) {
        if (errno == ENOSPC && !w->warned_watch) {
            w->warned_watch = 1;
            sp_log_warn(w->log, "flow %s: %s: inotify watch limit reached "
                        "(fs.inotify.max_user_watches): polling every %" PRIu32 " ms",
                        w->flow, dir, w->poll_ms);
        } else if (errno != ENOSPC) {
            sp_log_debug(w->log, "flow %s: watching %s: %s", w->flow, dir, strerror(errno));
        }
        return;
    }
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd)
            return;                 /* already watched (same directory) */
    if (w->ndirs == w->capdirs) {
        size_t cap = w->capdirs ? w->capdirs * 2 : 8;
        struct dwatch *d = realloc(w->dirs, cap * sizeof *d);
        if (d == NULL)
            goto nomem;
        w->dirs = d;
        w->capdirs = cap;
    }
    char *copy = strdup(dir);
    if (copy == NULL)
        goto nomem;
    w->dirs[w->ndirs].wd = wd;
    w->dirs[w->ndirs].dir = copy;
    w->ndirs++;
    return;
nomem:
    inotify_rm_watch(w->ifd, wd);
    sp_log_warn(w->log, "flow %s: out of memory watching %s: polling it", w->flow, dir);
}

static void watch_dirs(sp_watch *w)
{
    glob_t g;
    if (w->ifd < 0)
        return;
    if (glob(w->dirglob, GLOB_ONLYDIR, NULL, &g) != 0) {
        globfree(&g);
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
            add_dir_watch(w, g.gl_pathv[i]);
    }
    globfree(&g);
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

int sp_watch_scan(sp_watch *w, sp_watch_found_fn found, void *arg)
{
    glob_t g;
    w->gen++;
    watch_dirs(w);
    int rc = glob(w->glob, 0, NULL, &g);
    if (rc != 0 && rc != GLOB_NOMATCH)
        sp_log_warn(w->log, "flow %s: %s: %s", w->flow, w->glob,
                    rc == GLOB_NOSPACE ? "out of memory" : "cannot read a directory");
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
                sp_watch_skip(w, path, NULL, e, 0);
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            sp_watch_skip(w, path, &st, 0, 0);
            continue;
        }
        found(arg, path, &st);
    }
    globfree(&g);
    /* A failed glob says nothing about the paths: keep what was warned. */
    if (rc != 0 && rc != GLOB_NOMATCH)
        return SP_ERR;
    forget_skips(w);
    return SP_OK;
}

int sp_watch_matches(const sp_watch *w, const char *path)
{
    return fnmatch(w->glob, path, FNM_PATHNAME | FNM_PERIOD) == 0;
}

int sp_watch_inotify(const sp_watch *w)
{
    return w->ifd >= 0;
}

/* ---- inotify ---- */

static void inotify_off(sp_watch *w)
{
    if (w->ifd >= 0) {
        sp_loop_unwatch(w->loop, w->ifd);
        close(w->ifd);
        w->ifd = -1;
    }
    for (size_t i = 0; i < w->ndirs; i++)
        free(w->dirs[i].dir);
    free(w->dirs);
    w->dirs = NULL;
    w->ndirs = w->capdirs = 0;
}

/* A file in a watched directory was written: its path as glob(3) spells
 * it, or NULL when that cannot be told. */
static void written(sp_watch *w, int wd, const char *name)
{
    const char *dir = NULL;
    char path[PATH_MAX + NAME_MAX + 2];
    for (size_t i = 0; i < w->ndirs && dir == NULL; i++)
        if (w->dirs[i].wd == wd)
            dir = w->dirs[i].dir;
    int n = -1;
    if (dir != NULL) {
        size_t dl = strlen(dir);
        n = w->flat ? snprintf(path, sizeof path, "%s", name)
                    : snprintf(path, sizeof path, "%s%s%s", dir,
                               dl > 0 && dir[dl - 1] == '/' ? "" : "/", name);
    }
    w->on_event(w->arg, SP_WATCH_WRITTEN, n > 0 && (size_t)n < sizeof path ? path : NULL);
}

static void on_inotify(sp_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    sp_watch *w = arg;
    alignas(struct inotify_event) char buf[8192];
    for (int i = 0; i < INOTIFY_BURST && w->ifd >= 0; i++) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            sp_log_warn(w->log, "flow %s: reading inotify events: %s: polling from now on",
                        w->flow, strerror(errno));
            inotify_off(w);
            w->on_event(w->arg, SP_WATCH_LOST, NULL);
            break;
        }
        if (n == 0)
            break;
        for (char *p = buf; w->ifd >= 0 && p + sizeof(struct inotify_event) <= buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)(void *)p;
            p += sizeof *e + e->len;
            if (e->mask & IN_Q_OVERFLOW) {
                w->on_event(w->arg, SP_WATCH_LOST, NULL);
                continue;
            }
            if (e->mask & IN_IGNORED) {     /* the directory went away */
                for (size_t k = 0; k < w->ndirs; k++) {
                    if (w->dirs[k].wd == e->wd) {
                        free(w->dirs[k].dir);
                        w->dirs[k] = w->dirs[--w->ndirs];
                        break;
                    }
                }
                w->on_event(w->arg, SP_WATCH_RESCAN, NULL);
                continue;
            }
            if (e->mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                           IN_DELETE_SELF | IN_MOVE_SELF))
                w->on_event(w->arg, SP_WATCH_RESCAN, NULL);
            if ((e->mask & (IN_MODIFY | IN_CLOSE_WRITE)) && e->len > 0)
                written(w, e->wd, e->name);
        }
    }
}

/* ---- the watch ---- */

static void on_poll(sp_loop *loop, void *arg)
{
    sp_watch *w = arg;
    sp_err err;
    if (w->stopped)
        return;
    w->on_event(w->arg, SP_WATCH_POLL, NULL);
    if (!w->stopped && sp_timer_start(loop, &w->poll_timer, w->poll_ms, &err) != SP_OK)
        sp_log_error(w->log, "flow %s: %s", w->flow, err.msg);
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

sp_watch *sp_watch_new(sp_loop *loop, const sp_watch_opts *o, sp_err *err)
{
    const char *flow = o->flow ? o->flow : "";
    if (o->glob == NULL || o->glob[0] == '\0' || o->glob[strlen(o->glob) - 1] == '/') {
        sp_err_set(err, "flow %s: filePattern: a file pattern is required (not a directory)", flow);
        return NULL;
    }
    if (o->on_event == NULL || o->poll_ms == 0) {
        sp_err_set(err, "flow %s: directory watch: no event function or no poll interval", flow);
        return NULL;
    }
    sp_watch *w = calloc(1, sizeof *w);
    if (w == NULL) {
        sp_err_set(err, "flow %s: out of memory", flow);
        return NULL;
    }
    w->loop = loop;
    w->ifd = -1;
    w->poll_ms = o->poll_ms;
    w->log = o->log;
    w->on_event = o->on_event;
    w->arg = o->arg;
    sp_timer_init(&w->poll_timer, on_poll, w);
    w->flow = strdup(flow);
    w->glob = strdup(o->glob);
    w->dirglob = dir_part(o->glob, &w->flat);
    if (w->flow == NULL || w->glob == NULL || w->dirglob == NULL) {
        sp_err_set(err, "flow %s: out of memory", flow);
        goto fail;
    }
    if (!o->disable_inotify) {
        w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->ifd < 0) {
            sp_log_info(w->log, "flow %s: inotify: %s: polling every %" PRIu32 " ms", flow,
                        strerror(errno), w->poll_ms);
        } else if (sp_loop_watch(loop, w->ifd, SP_EV_READ, on_inotify, w, err) != SP_OK) {
            sp_err_prefix(err, "flow %s", flow);
            goto fail;
        }
    }
    if (sp_timer_start(loop, &w->poll_timer, w->poll_ms, err) != SP_OK) {
        sp_err_prefix(err, "flow %s", flow);
        goto fail;
    }
    return w;
fail:
    sp_watch_free(w);
    return NULL;
}

void sp_watch_stop(sp_watch *w)
{
    if (w->stopped)
        return;
    w->stopped = 1;
    sp_timer_stop(w->loop, &w->poll_timer);
    inotify_off(w);
}

void sp_watch_free(sp_watch *w)
{
    if (w == NULL)
        return;
    sp_watch_stop(w);
    while (w->nskips > 0)
        drop_skip(w, w->nskips - 1);
    free(w->skips);
    free(w->dirglob);
    free(w->glob);
    free(w->flow);
    free(w);
}
