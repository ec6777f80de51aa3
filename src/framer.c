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
 * trailing one, and a line of exactly max bytes is a whole record. */
#include <stdlib.h>
#include <string.h>

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
    f->emit = emit;
    f->arg = arg;
    return SP_OK;
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
    return f->len;
}

void sp_framer_free(sp_framer *f)
{
    free(f->buf);
    f->buf = NULL;
    f->len = f->cap = 0;
}

/* Appends to the held bytes; the caller keeps len + n <= max. The buffer
 * grows by doubling up to max, so short lines never cost a max-sized
 * allocation. */
static int hold(sp_framer *f, const char *p, size_t n, sp_err *err)
{
    size_t need = f->len + n;
    if (need > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        while (cap < need)
            cap = cap > f->max / 2 ? f->max : cap * 2;
        if (cap < need)         /* only if max shrank below len: never here */
            cap = need;
        char *b = realloc(f->buf, cap);
        if (b == NULL)
            return sp_err_set(err, "framer: out of memory holding %zu bytes", need);
        f->buf = b;
        f->cap = cap;
    }
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
        size_t n = f->len < f->max ? f->len : f->max;
        f->stats.bytes_discarded += f->len - n;
        if (out(f, f->buf, n, flags | SP_FRAME_TRUNCATED, pos, err) != SP_OK)
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
        f->stats.bytes_discarded += f->len - f->max;
        f->len = f->max;
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
        case SP_OVERSIZE_TRUNCATE:
            if (hold(f, p, take, err) != SP_OK)
                return SP_ERR;
            f->stats.bytes_discarded += k - take;
            f->discarding = 1;
            return eol ? end_discard(f, pos, 0, err) : SP_OK;
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
            f->stats.bytes_discarded += k - f->max;
            if (eol) {
                if (out(f, p, f->max, SP_FRAME_TRUNCATED, pos, err) != SP_OK)
                    return SP_ERR;
                f->stats.truncated++;
                line_done(f, pos);
                return SP_OK;
            }
            f->discarding = 1;
            return hold(f, p, f->max, err);
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
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl != NULL ? (size_t)(nl - s) : n;
        if (segment(f, s + i, end - i, nl != NULL, base + end + 1, err) != SP_OK)
            return SP_ERR;
        i = end + 1;
    }
    return SP_OK;
}

int sp_framer_finish(sp_framer *f, sp_err *err)
{
    if (normalize(f, err) != SP_OK)
        return SP_ERR;
    if (f->discarding)
        return end_discard(f, f->offset, SP_FRAME_UNTERMINATED, err);
    if (f->len == 0)
        return SP_OK;
    return end_line(f, f->buf, f->len, f->offset, SP_FRAME_UNTERMINATED, err);
}
