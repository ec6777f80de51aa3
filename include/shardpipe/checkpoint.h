/* Durable source positions (issue: the agent). One checkpoint file holds,
 * per tailed file, where reading may resume: device, inode, offset, and a
 * fingerprint of the bytes just before the offset, so a reused inode or a
 * file truncated while the agent was stopped is recognised. Written
 * atomically (temp file, fsync, rename, fsync of the directory) with a
 * zlib crc32 over the content.
 *
 * sp_progress turns out-of-order acknowledgements into the contiguous
 * position that may be checkpointed: a record still in flight holds back
 * every position after it. */
#ifndef SHARDPIPE_CHECKPOINT_H
#define SHARDPIPE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "shardpipe/err.h"

#define SP_FP_MAX 1024           /* bytes before the offset that are fingerprinted */

typedef struct sp_ckpt_entry {
    char *flow;                  /* flow name */
    char *path;                  /* the path it was read under (informational) */
    uint64_t dev, ino;
    uint64_t offset;             /* resume here */
    uint32_t fp_len;             /* bytes fingerprinted: min(offset, SP_FP_MAX) */
    unsigned char fp[32];        /* SHA-256 of the fp_len bytes before offset */
    int64_t updated;             /* epoch seconds of the last change */
} sp_ckpt_entry;

typedef struct sp_ckpt {
    char *path;                  /* the checkpoint file */
    sp_ckpt_entry *entries;
    size_t n, cap;
    int dirty;                   /* changed since the last save */
} sp_ckpt;

/* Opens (reads) the checkpoint file. A missing file gives an empty set and
 * SP_OK. A corrupt one (bad crc, bad syntax, impossible values) gives an
 * empty set, SP_ERR and a message naming the file and the problem: the
 * caller logs it and falls back to the configured start positions. */
int sp_ckpt_open(sp_ckpt *c, const char *path, sp_err *err);

/* Checks that path can be saved: it is not a directory, and its directory
 * exists, is a directory and takes a new file. A temporary file is really
 * created there and removed (access(2) says yes to root even on a
 * read-only mount). The message names path and the reason:
 * "/x/ck: directory /x does not exist". Call before running, so that a
 * checkpoint that could never be saved is refused at start. */
int sp_ckpt_check_writable(const char *path, sp_err *err);

/* Writes the set atomically when dirty. */
int sp_ckpt_save(sp_ckpt *c, sp_err *err);

void sp_ckpt_close(sp_ckpt *c);

/* The entry for (flow, dev, ino), or NULL. */
sp_ckpt_entry *sp_ckpt_find(sp_ckpt *c, const char *flow, uint64_t dev, uint64_t ino);

/* Creates or updates the entry for (flow, dev, ino). */
int sp_ckpt_set(sp_ckpt *c, const char *flow, const char *path, uint64_t dev, uint64_t ino,
                uint64_t offset, const unsigned char fp[32], uint32_t fp_len, sp_err *err);

/* Removes the entry (a file that was deleted and fully read). */
void sp_ckpt_remove(sp_ckpt *c, const char *flow, uint64_t dev, uint64_t ino);

/* Fingerprints the min(offset, SP_FP_MAX) bytes of fd before offset (pread). */
int sp_ckpt_fingerprint(int fd, uint64_t offset, unsigned char fp[32], uint32_t *fp_len, sp_err *err);

/* 1 when fd still holds at e->offset the bytes the entry fingerprinted
 * (same length at least, same hash), 0 otherwise, SP_ERR on I/O error. */
int sp_ckpt_matches(int fd, const sp_ckpt_entry *e, sp_err *err);

/* ---- contiguous acknowledgement ---- */

/* Records are numbered in the order they were read; each carries the
 * position to resume from once it and all before it are stored. */
typedef struct sp_progress {
    uint64_t base;               /* number of the oldest outstanding record */
    uint64_t next;               /* number the next record will get */
    uint64_t done_pos;           /* resume position of the contiguous prefix */
    uint64_t *pos;               /* ring: resume position per outstanding record */
    unsigned char *acked;        /* ring: 1 once stored (or given up) */
    size_t cap;                  /* ring size, grows as needed */
} sp_progress;

void sp_progress_init(sp_progress *p, uint64_t start_pos);
void sp_progress_free(sp_progress *p);
/* Registers a record; returns its number in *id. */
int sp_progress_add(sp_progress *p, uint64_t pos, uint64_t *id, sp_err *err);
/* Marks record id done; returns 1 when done_pos advanced. */
int sp_progress_ack(sp_progress *p, uint64_t id);
/* Records registered and not yet acknowledged. */
uint64_t sp_progress_outstanding(const sp_progress *p);

#endif
