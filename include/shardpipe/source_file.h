/* File source: tails the files matching a glob, across rotation, into
 * records, and turns acknowledgements into checkpoints.
 *
 * Discovery is the directory watch's (watch.h): the glob, inotify on the
 * directories it matches, a rescan every poll_ms (at which every open file
 * is looked at too), and the warnings about matched paths that cannot be
 * tailed. A file source tails what it finds there.
 *
 * Identity is (device, inode); a path is only where a file was last seen.
 * - Start: a file with a matching checkpoint entry resumes at its offset,
 *   else a file found at start-up starts at the configured position
 *   (SP_START_END: just after the last newline; SP_START_BEGINNING: 0);
 *   resume.h has the rules.
 * - A file that appears while running is new and read from the beginning.
 * - A file renamed to another matching name is the same file.
 * - Rename and create: the old inode is kept open and read on; it is
 *   closed only once it was read to its end and has not grown for
 *   2 x poll_ms since it was seen to be gone (a writer may append until it
 *   reopens). It is never closed while it has unread bytes.
 * - Deleted (no links left): read to the end, then closed at once.
 * - copytruncate: a file shorter than the read offset is logged and read
 *   again from the start (what was held of a line is emitted first).
 *   Bytes written between the last read and the truncation, and a
 *   truncation followed by more writing than was read before it, cannot
 *   be seen.
 * - A file that is closed has what is held of its last line emitted
 *   (SP_FRAME_UNTERMINATED), and its checkpoint entry removed once all its
 *   records are acknowledged.
 *
 * Records: a partial last line is held until its newline arrives or
 * partial_flush_ms pass without the file growing (sp_framer_flush_pending;
 * the rest of that line becomes a record of its own). In multi-line mode
 * the open record is flushed the same way. skip_header_lines applies
 * whenever a file is read from offset 0 (new, beginning, truncated).
 *
 * Every record goes to sink.record with token = the file's state and
 * tag = its number in the file's sp_progress. The ack function may be
 * called in any order, also after the file was closed and after
 * sp_file_source_stop; the file's state lives until its last record is
 * acknowledged. An ack with stored 0 (given up, abandoned) holds that
 * file's checkpoint before the record for good, so a restart sends it
 * again. Acks must not come after sp_file_source_free (the pipeline
 * acknowledges or abandons everything first); if they do, they only
 * release memory.
 *
 * Memory per open file: a framer (at most the record cap, twice in
 * multi-line mode) and the positions of its records in flight; one 64 KiB
 * read buffer per source. Reading stops while paused and while sink.full
 * says so (checked before every read; looked at again every 50 ms).
 *
 * Fairness: one round reads at most 4 x 64 KiB from each file, then the
 * loop serves other work before the next round. */
#ifndef SHARDPIPE_SOURCE_FILE_H
#define SHARDPIPE_SOURCE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/checkpoint.h"
#include "shardpipe/err.h"
#include "shardpipe/framer.h"
#include "shardpipe/log.h"
#include "shardpipe/loop.h"
#include "shardpipe/source.h"

typedef struct sp_file_source sp_file_source;

typedef struct sp_file_source_opts {
    const char *flow;            /* flow name: checkpoint key and messages; required */
    const char *glob;            /* the file pattern; required */
    enum sp_start_pos start;     /* for files without a (matching) checkpoint */
    size_t max_record;           /* data bytes per record, >= 1 */
    enum sp_oversize oversize;
    const char *truncated_terminator; /* NULL or "": none; shorter than max_record */
    const char *multiline_start; /* ERE; NULL or "": one line, one record */
    size_t match_bytes;          /* bytes of a line multiline_start sees; 0: 4 KiB (ere.h) */
    unsigned skip_header_lines;  /* per file, when read from offset 0 */
    uint32_t poll_ms;            /* rescan and rotation check; 0: 1000 */
    uint32_t partial_flush_ms;   /* 0: hold a partial line until its newline */
    int disable_inotify;         /* poll only (tests; file systems without inotify) */
    sp_ckpt *ckpt;               /* NULL: no checkpoints; must outlive the source */
    sp_sink sink;                /* record is required; full may be NULL */
    const sp_log *log;           /* NULL: stderr */
    /* The sink failed (or reading failed for good): the source has
     * stopped. Called from a timer, so it may free the source. */
    void (*on_error)(void *arg, const char *msg);
    void *arg;
} sp_file_source_opts;

typedef struct sp_file_source_stats {
    size_t files;                /* open now (rotated ones still being read included) */
    size_t draining;             /* closed, waiting for acknowledgements */
    uint64_t opened;             /* files opened so far */
    uint64_t rotations;          /* files seen gone from their path (renamed/deleted) */
    uint64_t truncations;        /* files read again from the start */
    uint64_t bytes;              /* bytes read */
    uint64_t inflight;           /* records handed on and not yet acknowledged */
    uint64_t not_stored;         /* acknowledged with stored 0 */
    int inotify;                 /* 1 when inotify is in use */
    sp_framer_stats framer;      /* summed over every file so far */
} sp_file_source_stats;

/* Compiles the pattern options, finds the files and takes their start
 * positions (reading the checkpoint entries, and dropping the entries of
 * this flow whose path matches the glob but whose file is gone), then
 * starts watching. The first read happens from the loop. Errors name the
 * flow: "flow app: multiLineStartPattern: ...". */
sp_file_source *sp_file_source_new(sp_loop *loop, const sp_file_source_opts *o, sp_err *err);

/* paused 1: stop reading (the memory budget is full); discovery goes on.
 * paused 0: resume. */
void sp_file_source_pause(sp_file_source *s, int paused);

/* Writes each open file's acknowledged contiguous offset and fingerprint
 * into the checkpoint entries (the caller saves the set). Returns SP_ERR
 * only when an entry cannot be stored (out of memory); a file that cannot
 * be fingerprinted now is skipped and logged at debug level. */
int sp_file_source_checkpoint(sp_file_source *s, sp_err *err);

/* Stops reading and watching. Held partial lines and open multi-line
 * records are not emitted: the checkpoint stays before them and a restart
 * reads them again. Acks and sp_file_source_checkpoint keep working.
 * Idempotent. */
void sp_file_source_stop(sp_file_source *s);

/* 1 when no record handed on is waiting for its acknowledgement. */
int sp_file_source_idle(const sp_file_source *s);

void sp_file_source_stats_get(const sp_file_source *s, sp_file_source_stats *out);

/* Calls fn for each open file with its path and the bytes behind it: its
 * size now (fstat) minus the offset read so far (0 when it shrank and the
 * truncation is not seen yet). Files that cannot be looked at are left out.
 * Cheap: for metrics, at scrape time. */
typedef void (*sp_file_behind_fn)(void *arg, const char *path, uint64_t behind);
void sp_file_source_behind(const sp_file_source *s, sp_file_behind_fn fn, void *arg);

/* The error that stopped the source, or NULL. */
const char *sp_file_source_failed(const sp_file_source *s);

/* Stops (if needed) and frees. Call after every record was acknowledged
 * or abandoned. NULL is fine. */
void sp_file_source_free(sp_file_source *s);

#endif
