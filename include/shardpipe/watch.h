/* Directory watching for the file source: which paths a glob matches, and
 * word that something in their directories changed. It owns the pattern
 * (glob(3) in the directory part and in the name: "/var/log/svc-?/app-*.log"),
 * the inotify descriptor and one watch per directory the directory part
 * matches, the poll timer, and the record of matched paths that cannot be
 * tailed. It opens no file and knows nothing of what is read: the file
 * source (source_file.h) turns what it hears into opens, reads and closes.
 *
 * - sp_watch_scan globs the pattern again, adds a watch for any directory
 *   that appeared, and hands over every matching regular file with its
 *   stat. Compressed rotations (app.log.2.gz) are left out.
 * - inotify (create, move, delete, modify; a queue overflow means events
 *   were lost) and the poll timer come as events (sp_watch_event). On a
 *   file system without inotify, with disable_inotify, or past the watch
 *   limit, the timer is the whole mechanism.
 * - A matched path that cannot be tailed (not a regular file by stat,
 *   which is looked at before any open; a dangling link; open fails) is
 *   warned about once, and again only when it changes (type, inode, mode,
 *   error) or comes back after it stopped matching. The scan reports what
 *   stat says; the caller reports a failed open with sp_watch_skip and a
 *   success with sp_watch_tailed. Memory is bounded by what matches. */
#ifndef SHARDPIPE_WATCH_H
#define SHARDPIPE_WATCH_H

#include <stdint.h>
#include <sys/stat.h>

#include "shardpipe/err.h"
#include "shardpipe/log.h"
#include "shardpipe/loop.h"

typedef struct sp_watch sp_watch;

enum sp_watch_event {
    SP_WATCH_RESCAN,   /* a name came or went in a watched directory: scan again */
    SP_WATCH_LOST,     /* inotify lost events: scan again and look at every file */
    SP_WATCH_WRITTEN,  /* path was written (spelled as the scan spells it); NULL:
                          a file whose name cannot be told */
    SP_WATCH_POLL      /* poll_ms passed: scan again and look at every file */
};

/* Called from loop callbacks; it must not free the watch (a failure is
 * reported from a timer of the caller's). */
typedef void (*sp_watch_event_fn)(void *arg, enum sp_watch_event ev, const char *path);
/* A matching regular file the scan found, with its stat. */
typedef void (*sp_watch_found_fn)(void *arg, const char *path, const struct stat *st);

typedef struct sp_watch_opts {
    const char *flow;            /* for messages; required */
    const char *glob;            /* required: non-empty, not ending in '/' */
    uint32_t poll_ms;            /* the poll timer; >= 1 */
    int disable_inotify;         /* poll only */
    const sp_log *log;           /* NULL: stderr */
    sp_watch_event_fn on_event;  /* required */
    void *arg;
} sp_watch_opts;

/* Starts inotify (if it can; else polls, and says so at info level) and
 * the poll timer. The first scan is the caller's. */
sp_watch *sp_watch_new(sp_loop *loop, const sp_watch_opts *o, sp_err *err);

/* Globs again and calls found for each matching regular file. SP_ERR when
 * the glob failed (warned): the scan then says nothing of what is gone. */
int sp_watch_scan(sp_watch *w, sp_watch_found_fn found, void *arg);

/* During a scan's found call: path cannot be tailed. err is the errno of
 * open (at_open 1) or stat (at_open 0), or 0 for a file st says is not a
 * regular one. Warns unless path was warned about in this very state. */
void sp_watch_skip(sp_watch *w, const char *path, const struct stat *st, int err, int at_open);

/* path is tailed now: forgets (and says) that it could not be. */
void sp_watch_tailed(sp_watch *w, const char *path);

/* 1 when the pattern matches path (fnmatch(3), as glob does). */
int sp_watch_matches(const sp_watch *w, const char *path);

/* 1 while inotify is in use (it can be given up on a read error). */
int sp_watch_inotify(const sp_watch *w);

/* Stops inotify and the poll timer; scans still work. Idempotent. */
void sp_watch_stop(sp_watch *w);

/* NULL is fine. */
void sp_watch_free(sp_watch *w);

#endif
