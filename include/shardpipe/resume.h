/* Where the file source starts reading each file, from the checkpoint
 * entries and the configured start position, and the entries it drops at
 * start-up because their file is gone. The periodic checkpoint of what was
 * acknowledged is the file source's own (source_file.h).
 *
 * - A file with an entry whose fingerprint still matches resumes at its
 *   offset.
 * - Otherwise a file found at start-up starts at the configured position:
 *   SP_START_END is just after the last newline within the last MiB (a
 *   partial last line is read when it is completed), SP_START_BEGINNING
 *   is offset 0. When the flow has entries at all (it ran before), a file
 *   without one appeared while the agent was stopped and is read from the
 *   beginning. An entry that does not match (the inode was reused, or the
 *   file was truncated or rewritten while stopped) is logged.
 * - A file found later is new and read from the beginning. */
#ifndef SHARDPIPE_RESUME_H
#define SHARDPIPE_RESUME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "shardpipe/checkpoint.h"
#include "shardpipe/log.h"
#include "shardpipe/source.h"
#include "shardpipe/watch.h"

typedef struct sp_resume {
    const char *flow;            /* checkpoint key and messages; outlives this */
    sp_ckpt *ckpt;               /* NULL: no checkpoints */
    enum sp_start_pos start;
    const sp_log *log;
    int resumed;                 /* the checkpoint has entries of this flow */
} sp_resume;

typedef struct sp_file_id {
    uint64_t dev, ino;
} sp_file_id;

void sp_resume_init(sp_resume *r, const char *flow, sp_ckpt *ckpt, enum sp_start_pos start,
                    const sp_log *log);

/* The offset to start reading fd (path, st) at. initial: found by the
 * first scan. Logs what it decided when that is news. */
uint64_t sp_resume_pos(const sp_resume *r, int fd, const char *path, const struct stat *st,
                       int initial);

/* Drops the flow's entries for paths the watch's pattern matches whose
 * file is not among found (what the first scan found): their data cannot
 * be resumed any more. */
void sp_resume_gc(const sp_resume *r, const sp_watch *w, const sp_file_id *found, size_t n);

#endif
