/* Start positions and stale checkpoint entries (see resume.h). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "shardpipe/resume.h"

#define TAIL_SCAN_MAX ((uint64_t)1 << 20)  /* how far back "end" looks for a newline */

void sp_resume_init(sp_resume *r, const char *flow, sp_ckpt *ckpt, enum sp_start_pos start,
                    const sp_log *log)
{
    r->flow = flow;
    r->ckpt = ckpt;
    r->start = start;
    r->log = log;
    r->resumed = 0;
    for (size_t i = 0; ckpt && i < ckpt->n; i++)
        if (strcmp(ckpt->entries[i].flow, flow) == 0)
            r->resumed = 1;
}

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

/* A file found later may have an entry too (it could not be opened at
 * start-up), so it is looked up as well. */
uint64_t sp_resume_pos(const sp_resume *r, int fd, const char *path, const struct stat *st,
                       int initial)
{
    sp_ckpt_entry *e = r->ckpt ? sp_ckpt_find(r->ckpt, r->flow, (uint64_t)st->st_dev,
                                              (uint64_t)st->st_ino) : NULL;
    const char *where = !initial ? "the beginning (new file)"
                        : r->start == SP_START_BEGINNING ? "the beginning" : "the end";
    if (e != NULL) {
        sp_err err;
        int m = sp_ckpt_matches(fd, e, &err);
        if (m == 1) {
            sp_log_info(r->log, "flow %s: %s: resuming at offset %" PRIu64, r->flow, path,
                        e->offset);
            return e->offset;
        }
        if (m == 0)
            sp_log_warn(r->log, "flow %s: %s: the checkpoint (offset %" PRIu64 ") does not "
                        "match the file (inode reused, or truncated or rewritten while "
                        "stopped): starting at %s", r->flow, path, e->offset, where);
        else
            sp_log_warn(r->log, "flow %s: %s: checking the checkpoint: %s; starting at %s",
                        r->flow, path, err.msg, where);
    }
    if (!initial) {
        sp_log_info(r->log, "flow %s: new file %s: reading from the beginning", r->flow, path);
        return 0;
    }
    if (r->resumed) {
        /* This flow ran before (it has checkpoints), so a file without one
         * appeared while we were stopped, a rotation say: it is new. */
        sp_log_info(r->log, "flow %s: %s appeared while stopped: reading from the beginning", r->flow, path);
        return 0;
    }
    if (r->start == SP_START_BEGINNING)
        return 0;
    return end_pos(fd, (uint64_t)st->st_size);
}

void sp_resume_gc(const sp_resume *r, const sp_watch *w, const sp_file_id *found, size_t n)
{
    if (r->ckpt == NULL)
        return;
    size_t i = r->ckpt->n;
    while (i-- > 0) {
        sp_ckpt_entry *e = &r->ckpt->entries[i];
        size_t k = 0;
        if (strcmp(e->flow, r->flow) != 0 || !sp_watch_matches(w, e->path))
            continue;
        while (k < n && (found[k].dev != e->dev || found[k].ino != e->ino))
            k++;
        if (k < n)
            continue;
        sp_log_info(r->log, "flow %s: %s (inode %" PRIu64 ") is gone: dropping its checkpoint",
                    r->flow, e->path, e->ino);
        uint64_t dev = e->dev, ino = e->ino;
        sp_ckpt_remove(r->ckpt, r->flow, dev, ino);
        if (i > r->ckpt->n)
            i = r->ckpt->n;
    }
}
