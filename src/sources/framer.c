/* Bytes to records (see framer.h).
 *
 * A line is handled as a run of segments: the part of one input chunk up
 * to its newline or the chunk's end. Complete lines inside a chunk are
 * emitted straight from the chunk; only the unterminated tail of a chunk
 * is copied, so a chunk of many lines costs one pass and no memmove.
 *
 * The held buffer never exceeds max bytes. A piece of a split line is
 * emitted only once a byte after it is seen and that byte is not the
 * newline, so a line of exactly k*max bytes gives k pieces, never an empty
 * trailing one, and a line of exactly max bytes is a whole record.
 *
 * Multi-line mode reuses the same machinery with the record in place of
 * the line: a line is first held apart (lbuf, at most max bytes) until it
 * can be classified against the start pattern (its newline came, or max
 * bytes of it are known); from then on its bytes go through segment() as
 * more bytes of the open record, after a '\n' joiner. The record ends
 * through end_record() when the next start line is classified, when a
 * lone line ends, or at finish/flush. Lines that end inside one chunk are
 * classified straight from the chunk. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/ere.h"
#include "shardpipe/framer.h"

int sp_oversize_parse(const char *s, enum sp_oversize *out)
{
    if (strcmp(s, "split") == 0)
        *out = SP_OVERSIZE_SPLIT;
    else if (strcmp(s, "truncate") == 0)
        *out = SP_OVERSIZE_TRUNCATE;
    else if (strcmp(s, "drop") == 0)
        *out = SP_OVERSIZE_DROP;
    else
        return -1;
    return 0;
}

const char *sp_oversize_name(enum sp_oversize p)
{
    switch (p) {
    case SP_OVERSIZE_SPLIT: return "split";
    case SP_OVERSIZE_TRUNCATE: return "truncate";
    case SP_OVERSIZE_DROP: return "drop";
    }
    return "unknown";
}

int sp_framer_init(sp_framer *f, size_t max, enum sp_oversize policy,
                   uint64_t start_offset, sp_framer_emit_fn emit, void *arg,
                   sp_err *err)
{
    memset(f, 0, sizeof *f);
    if (max == 0)
        return sp_err_set(err, "framer: the record size cap must be at least 1 byte");
    if (emit == NULL)
        return sp_err_set(err, "framer: no emit function");
    if (policy != SP_OVERSIZE_SPLIT && policy != SP_OVERSIZE_TRUNCATE &&
        policy != SP_OVERSIZE_DROP)
        return sp_err_set(err, "framer: unknown oversize policy %d", (int)policy);
    f->max = max;
    f->policy = policy;
    f->offset = start_offset;
    f->line_start = start_offset;
    f->lstart = start_offset;
    f->emit = emit;
    f->arg = arg;
    f->match = SP_MATCH_BYTES_DEFAULT;
    return SP_OK;
}

void sp_framer_set_match_bytes(sp_framer *f, size_t n)
{
    f->match = n > 0 ? n : SP_MATCH_BYTES_DEFAULT;
}

/* A smaller cap takes effect at the next feed or finish (normalize()),
 * where records can be emitted and failures reported. */
int sp_framer_set_max(sp_framer *f, size_t max, sp_err *err)
{
    if (max == 0)
        return sp_err_set(err, "framer: the record size cap must be at least 1 byte");
    f->max = max;
    return SP_OK;
}

size_t sp_framer_pending(const sp_framer *f)
{
    return f->len + f->llen;
}

int sp_framer_holding(const sp_framer *f)
{
    if (f->start_re != NULL)
        return f->rec != 0 || f->llen > 0;
    return f->len > 0 || f->discarding;
}

void sp_framer_free(sp_framer *f)
{
    free(f->buf);
    free(f->lbuf);
    free(f->term);
    f->buf = f->lbuf = f->term = NULL;
    f->len = f->cap = f->llen = f->lcap = f->term_len = 0;
}

void sp_framer_skip_lines(sp_framer *f, uint64_t n)
{
    f->skip = n;
}

int sp_framer_set_multiline(sp_framer *f, const regex_t *start, sp_err *err)
{
    if (sp_framer_holding(f))
        return sp_err_set(err, "framer: the multi-line mode can only change between records");
    if (start != NULL)
        f->lstart = f->line_start;
    else
        f->line_start = f->lstart;
    f->start_re = start;
    f->rec = 0;
    f->rec_lines = 0;
    f->lclass = 0;
    return SP_OK;
}

int sp_framer_set_truncated_terminator(sp_framer *f, const char *t, size_t n, sp_err *err)
{
    char *c = NULL;
    if (n >= f->max)
        return sp_err_set(err, "framer: the truncation terminator (%zu bytes) must be "
                          "shorter than the record size cap (%zu bytes)", n, f->max);
    if (n > 0) {
        c = malloc(n);
        if (c == NULL)
            return sp_err_set(err, "framer: out of memory");
        memcpy(c, t, n);
    }
    free(f->term);
    f->term = c;
    f->term_len = n;
    return SP_OK;
}

/* Data bytes a truncated record keeps: the terminator fits in the cap. */
static size_t trunc_keep(const sp_framer *f)
{
    return f->max > f->term_len ? f->max - f->term_len : 0;
}

/* Makes room for need bytes; buffers grow by doubling up to max, so short
 * lines never cost a max-sized allocation. A need above max (a cap that
 * sp_framer_set_max lowered under what is held, or a bound of SIZE_MAX + 1
 * that wrapped to 0) gets exactly what it needs. With max >= need and c
 * >= 1, each turn either doubles c without overflow (c <= max / 2) or sets
 * it to max and ends: at most 64 turns. */
static int grow(char **buf, size_t *cap, size_t need, size_t max, sp_err *err)
{
    if (need <= *cap)
        return SP_OK;
    if (max < need)
        max = need;
    size_t c = *cap ? *cap : 256;
    if (c > max)
        c = max;
    while (c < need)
        c = c > max / 2 ? max : c * 2;
    char *b = realloc(*buf, c);
    if (b == NULL)
        return sp_err_set(err, "framer: out of memory holding %zu bytes", need);
    *buf = b;
    *cap = c;
    return SP_OK;
}

/* Appends to the held bytes; the caller keeps len + n <= max. */
static int hold(sp_framer *f, const char *p, size_t n, sp_err *err)
{
    size_t need = f->len + n;
    if (grow(&f->buf, &f->cap, need, f->max, err) != SP_OK)
        return SP_ERR;
    if (n > 0)
        memcpy(f->buf + f->len, p, n);
    f->len = need;
    return SP_OK;
}

static int out(sp_framer *f, const char *p, size_t n, unsigned flags,
               uint64_t pos, sp_err *err)
{
    if (f->emit(f->arg, p, n, flags, pos, err) != SP_OK)
        return SP_ERR;
    f->stats.records++;
    return SP_OK;
}

/* A piece of a split line that is not the last one. */
static int piece(sp_framer *f, const char *p, sp_err *err)
{
    if (out(f, p, f->max, SP_FRAME_PART, f->line_start, err) != SP_OK)
        return SP_ERR;
    if (!f->in_split) {
        f->in_split = 1;
        f->stats.split_lines++;
    }
    return SP_OK;
}

/* Bookkeeping once a line has ended; pos is where the next one begins. */
static void line_done(sp_framer *f, uint64_t pos)
{
    if (f->start_re == NULL)    /* multi-line mode counts lines itself */
        f->stats.lines++;
    f->len = 0;
    f->in_split = 0;
    f->discarding = 0;
    f->line_start = pos;
}

/* The line ends with these bytes (the whole line, or its last piece). */
static int end_line(sp_framer *f, const char *p, size_t n, uint64_t pos,
                    unsigned flags, sp_err *err)
{
    if (f->in_split)
        flags |= SP_FRAME_PART | SP_FRAME_LAST_PART;
    if (out(f, p, n, flags, pos, err) != SP_OK)
        return SP_ERR;
    line_done(f, pos);
    return SP_OK;
}

/* An oversize line under truncate or drop has ended. */
static int end_discard(sp_framer *f, uint64_t pos, unsigned flags, sp_err *err)
{
    if (f->policy == SP_OVERSIZE_TRUNCATE) {
        size_t keep = trunc_keep(f);
        size_t n = f->len < keep ? f->len : keep;
        size_t t = f->term_len < f->max ? f->term_len : f->max;
        f->stats.bytes_discarded += f->len - n;
        f->len = n;
        if (t > 0 && hold(f, f->term, t, err) != SP_OK)
            return SP_ERR;
        if (out(f, f->buf != NULL ? f->buf : "", f->len, flags | SP_FRAME_TRUNCATED,
                pos, err) != SP_OK)
            return SP_ERR;
        f->stats.truncated++;
    } else {
        f->stats.dropped++;
    }
    line_done(f, pos);
    return SP_OK;
}

/* Brings held bytes back under a cap that set_max lowered. */
static int normalize(sp_framer *f, sp_err *err)
{
    if (f->discarding || f->len <= f->max)
        return SP_OK;
    switch (f->policy) {
    case SP_OVERSIZE_SPLIT: {
        size_t off = 0;
        while (f->len - off > f->max) {
            if (piece(f, f->buf + off, err) != SP_OK)
                return SP_ERR;
            off += f->max;
        }
        memmove(f->buf, f->buf + off, f->len - off);
        f->len -= off;
        break;
    }
    case SP_OVERSIZE_TRUNCATE:
        f->stats.bytes_discarded += f->len - trunc_keep(f);
        f->len = trunc_keep(f);
        f->discarding = 1;
        break;
    case SP_OVERSIZE_DROP:
        f->stats.bytes_discarded += f->len;
        f->len = 0;
        f->discarding = 1;
        break;
    }
    return SP_OK;
}

/* Handles k bytes of the current line (none of them a newline) starting at
 * p. eol: the line's newline follows them, and pos is the offset past it. */
static int segment(sp_framer *f, const char *p, size_t k, int eol,
                   uint64_t pos, sp_err *err)
{
    if (f->discarding) {
        f->stats.bytes_discarded += k;
        return eol ? end_discard(f, pos, 0, err) : SP_OK;
    }

    if (f->len > 0) {
        if (k <= f->max - f->len) {
            if (hold(f, p, k, err) != SP_OK)
                return SP_ERR;
            return eol ? end_line(f, f->buf, f->len, pos, 0, err) : SP_OK;
        }
        /* The line is longer than max: fill the held part up to max. */
        size_t take = f->max - f->len;
        switch (f->policy) {
        case SP_OVERSIZE_SPLIT:
            if (hold(f, p, take, err) != SP_OK || piece(f, f->buf, err) != SP_OK)
                return SP_ERR;
            f->len = 0;
            p += take;
            k -= take;          /* at least one byte is left */
            break;
        case SP_OVERSIZE_TRUNCATE: {
            size_t keep = trunc_keep(f);
            if (f->len < keep) {
                size_t t = keep - f->len;
                if (hold(f, p, t, err) != SP_OK)
                    return SP_ERR;
                f->stats.bytes_discarded += k - t;
            } else {
                f->stats.bytes_discarded += f->len - keep + k;
                f->len = keep;
            }
            f->discarding = 1;
            return eol ? end_discard(f, pos, 0, err) : SP_OK;
        }
        case SP_OVERSIZE_DROP:
            f->stats.bytes_discarded += f->len + k;
            f->len = 0;
            f->discarding = 1;
            return eol ? end_discard(f, pos, 0, err) : SP_OK;
        }
    }

    /* Nothing held: work straight from the input. */
    if (k > f->max) {
        switch (f->policy) {
        case SP_OVERSIZE_SPLIT:
            while (k > f->max) {
                if (piece(f, p, err) != SP_OK)
                    return SP_ERR;
                p += f->max;
                k -= f->max;
            }
            break;
        case SP_OVERSIZE_TRUNCATE:
            if (eol && f->term_len == 0) {      /* straight from the input */
                f->stats.bytes_discarded += k - f->max;
                if (out(f, p, f->max, SP_FRAME_TRUNCATED, pos, err) != SP_OK)
                    return SP_ERR;
                f->stats.truncated++;
                line_done(f, pos);
                return SP_OK;
            }
            f->stats.bytes_discarded += k - trunc_keep(f);
            f->discarding = 1;
            if (hold(f, p, trunc_keep(f), err) != SP_OK)
                return SP_ERR;
            return eol ? end_discard(f, pos, 0, err) : SP_OK;
        case SP_OVERSIZE_DROP:
            f->stats.bytes_discarded += k;
            f->discarding = 1;
            return eol ? end_discard(f, pos, 0, err) : SP_OK;
        }
    }
    if (eol)
        return end_line(f, p, k, pos, 0, err);
    return hold(f, p, k, err);
}

/* Ends the open line or record here, emitting what is held (also an
 * empty record: a multi-line record may be empty). */
static int end_record(sp_framer *f, uint64_t pos, unsigned flags, sp_err *err)
{
    if (f->discarding)
        return end_discard(f, pos, flags, err);
    return end_line(f, f->buf != NULL ? f->buf : "", f->len, pos, flags, err);
}

/* ---- multi-line mode ---- */

/* The bytes of a line the start pattern sees (ere.h): the head only. */
static size_t ml_win(const sp_framer *f)
{
    return f->max < f->match ? f->max : f->match;
}

/* Matches the n bytes at p (lbuf itself, or input to copy there). The
 * subject is NUL-terminated although REG_STARTEND bounds it: sanitizer
 * interceptors of regexec read up to a NUL. */
static int ml_match(sp_framer *f, const char *p, size_t n, int *match, sp_err *err)
{
    regmatch_t m[1];
    if (n > INT_MAX - 1)        /* regoff_t is an int */
        n = INT_MAX - 1;
    int own = p == f->lbuf;     /* grow may move it */
    if (grow(&f->lbuf, &f->lcap, n + 1, ml_win(f) + 1, err) != SP_OK)
        return SP_ERR;
    if (!own && n > 0)
        memcpy(f->lbuf, p, n);
    f->lbuf[n] = '\0';
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)n;
    *match = regexec(f->start_re, f->lbuf, 1, m, REG_STARTEND) == 0;
    return SP_OK;
}

static int ml_end(sp_framer *f, uint64_t pos, unsigned flags, sp_err *err)
{
    f->rec = 0;
    f->rec_lines = 0;
    return end_record(f, pos, flags, err);
}

/* The current line, whose first n bytes are p, is classified: it ends the
 * open record and starts one, or joins the open record, or is a record of
 * its own. Its bytes are then fed by the caller. */
static int ml_classify(sp_framer *f, const char *p, size_t n, sp_err *err)
{
    int start;
    if (ml_match(f, p, n, &start, err) != SP_OK)
        return SP_ERR;
    if (start && f->rec != 0 && ml_end(f, f->lstart, 0, err) != SP_OK)
        return SP_ERR;
    if (f->rec == 0) {
        f->rec = start ? 1 : 2;
        f->rec_lines = 0;
        f->line_start = f->lstart;
    }
    if (f->rec_lines++ > 0 && segment(f, "\n", 1, 0, 0, err) != SP_OK)
        return SP_ERR;
    f->lclass = 1;
    return SP_OK;
}

static int lhold(sp_framer *f, const char *p, size_t n, sp_err *err)
{
    if (grow(&f->lbuf, &f->lcap, f->llen + n, ml_win(f) + 1, err) != SP_OK)
        return SP_ERR;
    if (n > 0)
        memcpy(f->lbuf + f->llen, p, n);
    f->llen += n;
    return SP_OK;
}

/* Classifies the line held apart and moves it into the record. */
static int ml_release(sp_framer *f, sp_err *err)
{
    if (ml_classify(f, f->lbuf, f->llen, err) != SP_OK ||
        segment(f, f->lbuf, f->llen, 0, 0, err) != SP_OK)
        return SP_ERR;
    f->llen = 0;
    return SP_OK;
}

/* segment() for multi-line mode: k bytes of the current line. */
static int ml_segment(sp_framer *f, const char *p, size_t k, int eol,
                      uint64_t pos, sp_err *err)
{
    if (!f->lclass) {
        size_t win = ml_win(f);
        if (f->llen == 0 && (eol || k >= win)) {
            if (ml_classify(f, p, k < win ? k : win, err) != SP_OK)
                return SP_ERR;
        } else {
            size_t t = f->llen < win ? win - f->llen : 0;
            if (t > k)
                t = k;
            if (lhold(f, p, t, err) != SP_OK)
                return SP_ERR;
            p += t;
            k -= t;
            if (!eol && f->llen < win)
                return SP_OK;   /* k is 0: wait for more of the line */
            if (ml_release(f, err) != SP_OK)
                return SP_ERR;
        }
    }
    if (k > 0 && segment(f, p, k, 0, 0, err) != SP_OK)
        return SP_ERR;
    if (!eol)
        return SP_OK;
    f->stats.lines++;
    f->lclass = 0;
    f->lstart = pos;
    return f->rec == 2 ? ml_end(f, pos, 0, err) : SP_OK;
}

/* Emits everything held, as if the input ended here. */
static int ml_flush(sp_framer *f, sp_err *err)
{
    unsigned flags = 0;
    if (!f->lclass && f->llen > 0 && ml_release(f, err) != SP_OK)
        return SP_ERR;
    if (f->lclass) {            /* a line without its newline is cut here */
        flags = SP_FRAME_UNTERMINATED;
        f->stats.lines++;
        f->lclass = 0;
        f->lstart = f->offset;
    }
    return f->rec != 0 ? ml_end(f, f->offset, flags, err) : SP_OK;
}

static int flush_all(sp_framer *f, sp_err *err)
{
    if (normalize(f, err) != SP_OK)
        return SP_ERR;
    if (f->start_re != NULL) {
        f->cut = f->lclass || f->llen > 0;
        return ml_flush(f, err);
    }
    if (!f->discarding && f->len == 0)
        return SP_OK;
    f->cut = 1;
    return end_record(f, f->offset, SP_FRAME_UNTERMINATED, err);
}

int sp_framer_feed(sp_framer *f, const void *data, size_t n, sp_err *err)
{
    const char *s = data;
    uint64_t base = f->offset;      /* input offset of s[0] */
    size_t i = 0;

    if (n == 0)
        return SP_OK;
    if (normalize(f, err) != SP_OK)
        return SP_ERR;
    f->offset += n;
    f->stats.bytes += n;
    while (f->skip > 0 && i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        if (nl == NULL)
            return SP_OK;       /* the rest of a header line */
        i = (size_t)(nl - s) + 1;
        f->skip--;
        f->stats.skipped_lines++;
        f->line_start = f->lstart = base + i;
    }
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl != NULL ? (size_t)(nl - s) : n;
        if (f->cut) {
            f->cut = 0;
            if (end == i) {     /* the rest of a cut line is its newline alone */
                f->line_start = f->lstart = base + end + 1;
                i = end + 1;
                continue;
            }
        }
        int rc = f->start_re != NULL
            ? ml_segment(f, s + i, end - i, nl != NULL, base + end + 1, err)
            : segment(f, s + i, end - i, nl != NULL, base + end + 1, err);
        if (rc != SP_OK)
            return SP_ERR;
        i = end + 1;
    }
    return SP_OK;
}

int sp_framer_finish(sp_framer *f, sp_err *err)
{
    if (f->skip > 0) {
        /* Nothing else is held while a header is skipped. */
        if (f->lstart < f->offset) {
            f->skip--;
            f->stats.skipped_lines++;
            f->line_start = f->lstart = f->offset;
        }
        return SP_OK;
    }
    return flush_all(f, err);
}

int sp_framer_in_line(const sp_framer *f)
{
    return sp_framer_holding(f) || f->in_split || f->lclass;
}

size_t sp_framer_discard(sp_framer *f)
{
    if (!sp_framer_in_line(f))
        return 0;
    size_t n = f->len + f->llen;
    f->stats.partial++;
    f->stats.bytes_discarded += n;
    f->len = f->llen = 0;
    f->in_split = f->discarding = 0;
    f->lclass = 0;
    f->rec = 0;
    f->rec_lines = 0;
    f->line_start = f->lstart = f->offset;
    f->cut = 1;
    return n;
}

int sp_framer_flush_pending(sp_framer *f, sp_err *err)
{
    if (f->skip > 0)
        return SP_OK;           /* a header line is dropped whenever it ends */
    uint64_t before = f->stats.records;
    int rc = flush_all(f, err);
    f->stats.flushed += f->stats.records - before;
    return rc;
}

void sp_framer_stats_add(sp_framer_stats *to, const sp_framer_stats *from)
{
    to->lines += from->lines;
    to->bytes += from->bytes;
    to->records += from->records;
    to->split_lines += from->split_lines;
    to->truncated += from->truncated;
    to->dropped += from->dropped;
    to->bytes_discarded += from->bytes_discarded;
    to->skipped_lines += from->skipped_lines;
    to->flushed += from->flushed;
    to->partial += from->partial;
}
