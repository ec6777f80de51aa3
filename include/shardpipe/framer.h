/* Bytes to records: splits a byte stream into lines (newline stripped) and
 * applies the record size cap with an oversize policy. Memory is bounded by
 * the cap: a line longer than the cap is never held whole.
 *
 * Optional, set after init and before the first byte is fed:
 * - multi-line records (sp_framer_set_multiline): a line matching a start
 *   pattern begins a record and the lines after it that do not match are
 *   appended, joined with '\n'. The cap and the oversize policy apply to
 *   the joined record. Memory: at most the cap for the record plus the
 *   bytes of the line being classified (at most the match window).
 * - header lines (sp_framer_skip_lines): the first N lines are dropped.
 * - a truncation terminator: bytes put at the end of a truncated record,
 *   inside the cap. */
#ifndef SHARDPIPE_FRAMER_H
#define SHARDPIPE_FRAMER_H

#include <regex.h>
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
#define SP_FRAME_UNTERMINATED 0x8u /* ended by finish or flush_pending, not a newline */

/* Called once per record. `pos` is the input offset from which a restart
 * must resume once this record and every earlier one are stored: just past
 * the newline for a whole line or the last piece, the start of the line
 * for an earlier piece (so a restart resends the whole line rather than
 * half of it). Returning SP_ERR stops feeding and is passed up; the framer
 * is then only fit to be freed. */
typedef int (*sp_framer_emit_fn)(void *arg, const char *data, size_t len,
                                 unsigned flags, uint64_t pos, sp_err *err);

/* In multi-line mode split_lines, truncated and dropped count joined
 * records, not input lines. */
typedef struct sp_framer_stats {
    uint64_t lines;           /* input lines ended by a newline, finish or flush
                                 (incl. oversize ones, not skipped ones) */
    uint64_t records;         /* records emitted */
    uint64_t split_lines;     /* lines that were split */
    uint64_t truncated;       /* lines that were truncated */
    uint64_t dropped;         /* lines that were dropped */
    uint64_t bytes_discarded; /* input bytes discarded by truncate/drop */
    uint64_t skipped_lines;   /* header lines dropped by sp_framer_skip_lines */
    uint64_t flushed;         /* records emitted early by sp_framer_flush_pending */
    uint64_t partial;         /* lines cut short at a stop and not sent (sp_framer_discard) */
    uint64_t bytes;           /* input bytes fed */
} sp_framer_stats;

/* Adds every counter of from to to (the sums of several framers). */
void sp_framer_stats_add(sp_framer_stats *to, const sp_framer_stats *from);

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
    uint64_t line_start;      /* input offset where the current line (multi-line:
                                 record) began */
    sp_framer_emit_fn emit;
    void *arg;
    sp_framer_stats stats;
    char *term;               /* truncation terminator, NULL: none */
    size_t term_len;
    uint64_t skip;            /* header lines still to drop */
    /* multi-line mode */
    const regex_t *start_re;  /* borrowed; NULL: one line, one record */
    size_t match;             /* bytes of a line the start pattern sees */
    char *lbuf;               /* the current line while it is unclassified,
                                 <= min(max, match) */
    size_t llen, lcap;
    int lclass;               /* 0: unclassified, 1: its bytes go to the record */
    int rec;                  /* 0: none open, 1: started by a start line, 2: a lone line */
    uint64_t rec_lines;       /* lines in the open record */
    uint64_t lstart;          /* input offset where the current line began */
    int cut;                  /* flush/finish cut a line: its rest is next */
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
 * SP_FRAME_UNTERMINATED); an empty remainder emits nothing. In multi-line
 * mode the open record is emitted too (flag SP_FRAME_UNTERMINATED only when
 * its last line had no newline). A header line still being skipped counts
 * as skipped. Input may continue afterwards, as after flush_pending. */
int sp_framer_finish(sp_framer *f, sp_err *err);

/* The partial-line timeout: emits what is held as if the input ended here
 * (see finish), so a line whose newline is late, or a multi-line record
 * whose next start line is late, is not held forever. Its pos is the
 * offset of the next byte. When the rest of a cut line arrives later it
 * is a line of its own (in multi-line mode it is classified afresh, and a
 * line that does not match starts no record); a rest that is only the
 * newline gives no record. A header line being skipped is left alone.
 * Emits nothing when nothing is held. */
int sp_framer_flush_pending(sp_framer *f, sp_err *err);

/* A stop that could not wait for the end of the current line (or
 * multi-line record): what is held is dropped, never emitted as if it
 * were whole, and counted in stats.partial. Returns the number of held
 * bytes dropped, or 0 when no line was in progress. Pieces of a split line
 * emitted earlier stay emitted (the line counts as partial all the same).
 * Should input continue, the rest of the cut line is handled as after
 * flush_pending. */
size_t sp_framer_discard(sp_framer *f);

/* 1 while a line (or a multi-line record) has begun and not ended: bytes
 * are held, pieces of it were emitted, or it is being discarded. */
int sp_framer_in_line(const sp_framer *f);

/* Bytes held for a line (multi-line: a record and the line being
 * classified) that has not been emitted yet. */
size_t sp_framer_pending(const sp_framer *f);

/* 1 when flush_pending would emit or end something: bytes are held, an
 * oversize line is being discarded, or a multi-line record is open (it may
 * be empty). */
int sp_framer_holding(const sp_framer *f);

/* Multi-line mode: start is a compiled pattern (the caller keeps it alive
 * and unchanged while the framer is used; REG_NOSUB is fine). A line that
 * matches starts a record; the lines after it that do not match are
 * appended joined by '\n'; the record is emitted when the next start line
 * arrives (its pos is where that line begins), at finish, or at
 * flush_pending. A line that does not match while no record is open (the
 * lines before the first start line) is a record of its own. The pattern
 * sees the first max bytes of a line, newline stripped, and no more than
 * sp_framer_set_match_bytes allows. Call before feeding; start NULL
 * returns to one line, one record. */
int sp_framer_set_multiline(sp_framer *f, const regex_t *start, sp_err *err);

/* Multi-line mode: the start pattern sees at most the first n bytes of a
 * line, which bounds what one line can cost (ere.h); 0 (and the default)
 * is SP_MATCH_BYTES_DEFAULT. A line is classified as soon as n of its
 * bytes are in, so a line being classified holds at most n bytes. */
void sp_framer_set_match_bytes(sp_framer *f, size_t n);

/* Drops the next n lines of input (a file's header), counted in
 * stats.skipped_lines. Call before feeding. */
void sp_framer_skip_lines(sp_framer *f, uint64_t n);

/* Bytes put at the end of a record cut by SP_OVERSIZE_TRUNCATE; the
 * record, terminator included, stays within the cap (the first max - n
 * bytes of data are kept). n must be smaller than the cap; should the cap
 * be lowered later to n or less, the record is the terminator cut to the
 * cap. n 0 removes it. The bytes are copied. */
int sp_framer_set_truncated_terminator(sp_framer *f, const char *t, size_t n, sp_err *err);

void sp_framer_free(sp_framer *f);

#endif
