/* Bytes to records: splits a byte stream into lines (newline stripped) and
 * applies the record size cap with an oversize policy. Memory is bounded by
 * the cap: a line longer than the cap is never held whole. */
#ifndef SHARDPIPE_FRAMER_H
#define SHARDPIPE_FRAMER_H

#include <stddef.h>
#include <stdint.h>
#include "shardpipe/err.h"

enum sp_oversize {
    SP_OVERSIZE_SPLIT = 0,   /* consecutive records that each fit (default) */
    SP_OVERSIZE_TRUNCATE,    /* the first max bytes; the rest of the line is discarded */
    SP_OVERSIZE_DROP         /* the whole line is discarded */
};

/* Parses "split", "truncate" or "drop". Returns 0 or -1. */
int sp_oversize_parse(const char *s, enum sp_oversize *out);
const char *sp_oversize_name(enum sp_oversize p);

/* Flags passed with an emitted record. */
#define SP_FRAME_PART 0x1u        /* one piece of a split line */
#define SP_FRAME_LAST_PART 0x2u   /* the final piece of a split line */
#define SP_FRAME_TRUNCATED 0x4u   /* the line was cut to fit */
#define SP_FRAME_UNTERMINATED 0x8u /* the input ended without a newline */

/* Called once per record. `pos` is the input offset from which a restart
 * must resume once this record and every earlier one are stored: just past
 * the newline for a whole line or the last piece, the start of the line
 * for an earlier piece (so a restart resends the whole line rather than
 * half of it). Returning SP_ERR stops feeding and is passed up; the framer
 * is then only fit to be freed. */
typedef int (*sp_framer_emit_fn)(void *arg, const char *data, size_t len,
                                 unsigned flags, uint64_t pos, sp_err *err);

typedef struct sp_framer_stats {
    uint64_t lines;           /* input lines ended by a newline or by finish (incl. oversize ones) */
    uint64_t records;         /* records emitted */
    uint64_t split_lines;     /* lines that were split */
    uint64_t truncated;       /* lines that were truncated */
    uint64_t dropped;         /* lines that were dropped */
    uint64_t bytes_discarded; /* input bytes discarded by truncate/drop */
} sp_framer_stats;

typedef struct sp_framer {
    /* all internal; use the functions */
    char *buf;                /* the current line's held bytes, <= max */
    size_t len;
    size_t cap;               /* allocated size of buf, grown lazily up to max */
    size_t max;               /* max data bytes per record */
    enum sp_oversize policy;
    int discarding;           /* skipping to the end of an oversize line */
    int in_split;             /* a split line has emitted pieces already */
    uint64_t offset;          /* input offset of the next byte fed */
    uint64_t line_start;      /* input offset where the current line began */
    sp_framer_emit_fn emit;
    void *arg;
    sp_framer_stats stats;
} sp_framer;

/* max: the largest data length of one record (the stream's record cap less
 * the bytes reserved for the partition key); must be >= 1. start_offset is
 * the input offset of the first byte that will be fed. */
int sp_framer_init(sp_framer *f, size_t max, enum sp_oversize policy,
                   uint64_t start_offset, sp_framer_emit_fn emit, void *arg,
                   sp_err *err);

/* Changes the cap (e.g. once DescribeStreamSummary is known). Bytes already
 * buffered are kept; returns SP_ERR only on allocation failure. */
int sp_framer_set_max(sp_framer *f, size_t max, sp_err *err);

int sp_framer_feed(sp_framer *f, const void *p, size_t n, sp_err *err);

/* End of input: a final line without a newline is emitted (flag
 * SP_FRAME_UNTERMINATED); an empty remainder emits nothing. */
int sp_framer_finish(sp_framer *f, sp_err *err);

/* Bytes held for a line whose newline has not arrived yet. */
size_t sp_framer_pending(const sp_framer *f);

void sp_framer_free(sp_framer *f);

#endif
