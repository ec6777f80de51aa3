/* framer: exact records, flags and positions for each oversize policy at
 * the lengths around the cap; the same output however the input is cut
 * into chunks (compared with a simple whole-input model); bytes passed
 * through untouched; memory bounded by the cap; emit failures. The
 * extensions: partial-line flush, multi-line records, header lines and
 * the truncation terminator, by hand and against a second model. */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "shardpipe/ere.h"
#include "shardpipe/framer.h"
#include "shardpipe/rng.h"

typedef struct rec {
    char *data;
    size_t len;
    unsigned flags;
    uint64_t pos;
    int from_input;     /* data pointed into the chunk being fed */
} rec;

typedef struct coll {
    rec *r;
    size_t n, cap;
    size_t calls;
    long fail_at;       /* the emit call (0-based) that fails, or -1 */
    const char *lo, *hi;
    int keep;           /* store copies of the data; 0 counts only */
} coll;

static void coll_init(coll *c)
{
    memset(c, 0, sizeof *c);
    c->fail_at = -1;
    c->keep = 1;
}

static void coll_free(coll *c)
{
    for (size_t i = 0; c->keep && i < c->n; i++)   /* keep 0: n only counts */
        free(c->r[i].data);
    free(c->r);
    memset(c, 0, sizeof *c);
}

static void add(coll *c, const char *p, size_t len, unsigned flags, uint64_t pos, int from_input)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->r = realloc(c->r, c->cap * sizeof *c->r);
        ck_assert_ptr_nonnull(c->r);
    }
    rec *r = &c->r[c->n++];
    r->data = malloc(len + 1);
    ck_assert_ptr_nonnull(r->data);
    if (len)
        memcpy(r->data, p, len);
    r->len = len;
    r->flags = flags;
    r->pos = pos;
    r->from_input = from_input;
}

static int collect(void *arg, const char *data, size_t len, unsigned flags,
                   uint64_t pos, sp_err *err)
{
    coll *c = arg;
    ck_assert_ptr_nonnull(data);
    if ((long)c->calls++ == c->fail_at)
        return sp_err_set(err, "emit failed at %zu", c->calls - 1);
    if (c->keep)
        add(c, data, len, flags, pos, c->lo && data >= c->lo && data < c->hi);
    else
        c->n++;
    return SP_OK;
}

/* Feeds in through a framer, in chunks of the given sizes (cycled; an
 * empty list means one chunk), then finishes. */
static void run(const char *in, size_t n, size_t max, enum sp_oversize pol,
                uint64_t start, const size_t *sizes, size_t nsizes,
                coll *c, sp_framer_stats *st)
{
    sp_framer f;
    sp_err err = {0};
    ck_assert_int_eq(sp_framer_init(&f, max, pol, start, collect, c, &err), SP_OK);
    size_t off = 0, k = 0;
    while (off < n) {
        size_t len = nsizes ? sizes[k++ % nsizes] : n;
        if (len > n - off)
            len = n - off;
        c->lo = in + off;
        c->hi = in + off + len;
        ck_assert_int_eq(sp_framer_feed(&f, in + off, len, &err), SP_OK);
        ck_assert_uint_le(sp_framer_pending(&f), max);
        ck_assert(f.cap <= max || f.cap <= 256);
        off += len;
    }
    c->lo = c->hi = NULL;
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(sp_framer_pending(&f), 0);
    *st = f.stats;
    sp_framer_free(&f);
}

static void run1(const char *in, size_t max, enum sp_oversize pol, coll *c, sp_framer_stats *st)
{
    coll_init(c);
    run(in, strlen(in), max, pol, 0, NULL, 0, c, st);
}

/* The model: split the whole input at once and apply the policy. */
static void model(const char *in, size_t n, size_t max, enum sp_oversize pol,
                  uint64_t start, coll *c, sp_framer_stats *st)
{
    memset(st, 0, sizeof *st);
    size_t ls = 0;
    while (ls < n) {
        const char *nl = memchr(in + ls, '\n', n - ls);
        size_t L = nl ? (size_t)(nl - (in + ls)) : n - ls;
        unsigned u = nl ? 0 : SP_FRAME_UNTERMINATED;
        uint64_t end = start + ls + L + (nl ? 1 : 0);
        const char *p = in + ls;
        st->lines++;
        if (L <= max) {
            add(c, p, L, u, end, 0);
        } else if (pol == SP_OVERSIZE_SPLIT) {
            size_t m = (L + max - 1) / max;
            for (size_t i = 0; i + 1 < m; i++)
                add(c, p + i * max, max, SP_FRAME_PART, start + ls, 0);
            add(c, p + (m - 1) * max, L - (m - 1) * max,
                SP_FRAME_PART | SP_FRAME_LAST_PART | u, end, 0);
            st->split_lines++;
        } else if (pol == SP_OVERSIZE_TRUNCATE) {
            add(c, p, max, SP_FRAME_TRUNCATED | u, end, 0);
            st->truncated++;
            st->bytes_discarded += L - max;
        } else {
            st->dropped++;
            st->bytes_discarded += L;
        }
        ls += L + 1;
    }
    st->records = c->n;
}

static void assert_same(const coll *a, const coll *b, const char *what)
{
    ck_assert_msg(a->n == b->n, "%s: %zu records, want %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        ck_assert_msg(a->r[i].len == b->r[i].len, "%s: record %zu len %zu, want %zu",
                      what, i, a->r[i].len, b->r[i].len);
        ck_assert_msg(memcmp(a->r[i].data, b->r[i].data, a->r[i].len) == 0,
                      "%s: record %zu data", what, i);
        ck_assert_msg(a->r[i].flags == b->r[i].flags, "%s: record %zu flags %u, want %u",
                      what, i, a->r[i].flags, b->r[i].flags);
        ck_assert_msg(a->r[i].pos == b->r[i].pos, "%s: record %zu pos %llu, want %llu",
                      what, i, (unsigned long long)a->r[i].pos,
                      (unsigned long long)b->r[i].pos);
    }
}

static void assert_stats(const sp_framer_stats *a, const sp_framer_stats *b, const char *what)
{
    ck_assert_msg(a->lines == b->lines, "%s: lines", what);
    ck_assert_msg(a->records == b->records, "%s: records", what);
    ck_assert_msg(a->split_lines == b->split_lines, "%s: split_lines", what);
    ck_assert_msg(a->truncated == b->truncated, "%s: truncated", what);
    ck_assert_msg(a->dropped == b->dropped, "%s: dropped", what);
    ck_assert_msg(a->bytes_discarded == b->bytes_discarded, "%s: bytes_discarded", what);
}

static void assert_rec(const coll *c, size_t i, const char *data, unsigned flags, uint64_t pos)
{
    ck_assert_msg(i < c->n, "record %zu missing (have %zu)", i, c->n);
    ck_assert_uint_eq(c->r[i].len, strlen(data));
    ck_assert_msg(memcmp(c->r[i].data, data, c->r[i].len) == 0, "record %zu: \"%.*s\", want \"%s\"",
                  i, (int)c->r[i].len, c->r[i].data, data);
    ck_assert_uint_eq(c->r[i].flags, flags);
    ck_assert_uint_eq(c->r[i].pos, pos);
}

#define P SP_FRAME_PART
#define PL (SP_FRAME_PART | SP_FRAME_LAST_PART)
#define T SP_FRAME_TRUNCATED
#define U SP_FRAME_UNTERMINATED

START_TEST(test_oversize_names)
{
    enum sp_oversize p;
    ck_assert_int_eq(sp_oversize_parse("split", &p), 0);
    ck_assert_int_eq(p, SP_OVERSIZE_SPLIT);
    ck_assert_int_eq(sp_oversize_parse("truncate", &p), 0);
    ck_assert_int_eq(p, SP_OVERSIZE_TRUNCATE);
    ck_assert_int_eq(sp_oversize_parse("drop", &p), 0);
    ck_assert_int_eq(p, SP_OVERSIZE_DROP);
    ck_assert_int_eq(sp_oversize_parse("", &p), -1);
    ck_assert_int_eq(sp_oversize_parse("Split", &p), -1);
    ck_assert_int_eq(sp_oversize_parse("splitx", &p), -1);
    ck_assert_int_eq(sp_oversize_parse("trunc", &p), -1);
    for (int i = SP_OVERSIZE_SPLIT; i <= SP_OVERSIZE_DROP; i++) {
        ck_assert_int_eq(sp_oversize_parse(sp_oversize_name((enum sp_oversize)i), &p), 0);
        ck_assert_int_eq(p, i);
    }
}
END_TEST

START_TEST(test_init_errors)
{
    sp_framer f;
    sp_err err = {0};
    coll c;
    coll_init(&c);
    ck_assert_int_eq(sp_framer_init(&f, 0, SP_OVERSIZE_SPLIT, 0, collect, &c, &err), SP_ERR);
    ck_assert(strlen(err.msg) > 0);
    ck_assert_int_eq(sp_framer_init(&f, 4, SP_OVERSIZE_SPLIT, 0, NULL, &c, &err), SP_ERR);
    ck_assert_int_eq(sp_framer_init(&f, 4, (enum sp_oversize)7, 0, collect, &c, &err), SP_ERR);
    ck_assert_int_eq(sp_framer_init(&f, 4, SP_OVERSIZE_DROP, 0, collect, &c, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_max(&f, 0, &err), SP_ERR);
    ck_assert_int_eq(sp_framer_feed(&f, NULL, 0, &err), SP_OK);
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(c.n, 0);
    sp_framer_free(&f);
    sp_framer_free(&f);
}
END_TEST

START_TEST(test_lines_basic)
{
    coll c;
    sp_framer_stats st;
    run1("a\nbb\n\nccc\n", 8, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 4);
    assert_rec(&c, 0, "a", 0, 2);
    assert_rec(&c, 1, "bb", 0, 5);
    assert_rec(&c, 2, "", 0, 6);
    assert_rec(&c, 3, "ccc", 0, 10);
    ck_assert_uint_eq(st.lines, 4);
    ck_assert_uint_eq(st.records, 4);
    coll_free(&c);

    run1("\n\n\n", 1, SP_OVERSIZE_DROP, &c, &st);
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 0, "", 0, 1);
    assert_rec(&c, 1, "", 0, 2);
    assert_rec(&c, 2, "", 0, 3);
    coll_free(&c);

    run1("", 8, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(st.lines, 0);
    coll_free(&c);
}
END_TEST

START_TEST(test_start_offset)
{
    coll c;
    sp_framer_stats st;
    coll_init(&c);
    const char *in = "ab\nabcdefg\nxyz";
    run(in, strlen(in), 3, SP_OVERSIZE_SPLIT, 1000, NULL, 0, &c, &st);
    ck_assert_uint_eq(c.n, 5);
    assert_rec(&c, 0, "ab", 0, 1003);
    assert_rec(&c, 1, "abc", P, 1003);
    assert_rec(&c, 2, "def", P, 1003);
    assert_rec(&c, 3, "g", PL, 1011);
    assert_rec(&c, 4, "xyz", U, 1014);
    coll_free(&c);
}
END_TEST

START_TEST(test_bytes_untouched)
{
    static const char in[] = "a\r\n\0b\0\n\xff\xfe\n\x80\xc0\xaf\xed\xa0\x80\r\r\n\r\n";
    coll c;
    sp_framer_stats st;
    for (int chunked = 0; chunked < 2; chunked++) {
        coll_init(&c);
        static const size_t one[] = {1};
        run(in, sizeof in - 1, 64, SP_OVERSIZE_SPLIT, 0, one, chunked, &c, &st);
        ck_assert_uint_eq(c.n, 5);
        ck_assert_uint_eq(c.r[0].len, 2);
        ck_assert(memcmp(c.r[0].data, "a\r", 2) == 0);
        ck_assert_uint_eq(c.r[1].len, 3);
        ck_assert(memcmp(c.r[1].data, "\0b\0", 3) == 0);
        ck_assert_uint_eq(c.r[2].len, 2);
        ck_assert(memcmp(c.r[2].data, "\xff\xfe", 2) == 0);
        ck_assert_uint_eq(c.r[3].len, 8);
        ck_assert(memcmp(c.r[3].data, "\x80\xc0\xaf\xed\xa0\x80\r\r", 8) == 0);
        ck_assert_uint_eq(c.r[4].len, 1);
        ck_assert(memcmp(c.r[4].data, "\r", 1) == 0);
        for (size_t i = 0; i < c.n; i++)
            ck_assert_uint_eq(c.r[i].flags, 0);
        coll_free(&c);
    }

    /* Split pieces cut inside multi-byte sequences and next to NULs are
     * passed as they are: the framer counts bytes, not characters. */
    static const char u8[] = "\xe6\x97\xa5\xe6\x9c\xac\0\n";
    coll_init(&c);
    run(u8, sizeof u8 - 1, 4, SP_OVERSIZE_SPLIT, 0, NULL, 0, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    ck_assert(memcmp(c.r[0].data, "\xe6\x97\xa5\xe6", 4) == 0);
    ck_assert_uint_eq(c.r[1].len, 3);
    ck_assert(memcmp(c.r[1].data, "\x9c\xac\0", 3) == 0);
    coll_free(&c);
}
END_TEST

/* Each policy at max-1, max, max+1, 2max, 2max+1 with max 4, followed by
 * a short line, written out by hand. */
START_TEST(test_split_lengths)
{
    coll c;
    sp_framer_stats st;

    run1("abc\nz\n", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "abc", 0, 4);
    assert_rec(&c, 1, "z", 0, 6);
    ck_assert_uint_eq(st.split_lines, 0);
    coll_free(&c);

    run1("abcd\nz\n", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "abcd", 0, 5);
    assert_rec(&c, 1, "z", 0, 7);
    ck_assert_uint_eq(st.split_lines, 0);
    coll_free(&c);

    run1("abcde\nz\n", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 0, "abcd", P, 0);
    assert_rec(&c, 1, "e", PL, 6);
    assert_rec(&c, 2, "z", 0, 8);
    ck_assert_uint_eq(st.split_lines, 1);
    ck_assert_uint_eq(st.lines, 2);
    ck_assert_uint_eq(st.records, 3);
    coll_free(&c);

    run1("abcdefgh\nz\n", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 3);       /* no empty trailing piece */
    assert_rec(&c, 0, "abcd", P, 0);
    assert_rec(&c, 1, "efgh", PL, 9);
    assert_rec(&c, 2, "z", 0, 11);
    coll_free(&c);

    run1("abcdefghi\nz\n", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 4);
    assert_rec(&c, 0, "abcd", P, 0);
    assert_rec(&c, 1, "efgh", P, 0);
    assert_rec(&c, 2, "i", PL, 10);
    assert_rec(&c, 3, "z", 0, 12);
    ck_assert_uint_eq(st.split_lines, 1);
    ck_assert_uint_eq(st.bytes_discarded, 0);
    coll_free(&c);

    /* A split line after another line: earlier pieces carry its start. */
    run1("xy\nabcdefghi\n", 4, SP_OVERSIZE_SPLIT, &c, &st);
    assert_rec(&c, 0, "xy", 0, 3);
    assert_rec(&c, 1, "abcd", P, 3);
    assert_rec(&c, 2, "efgh", P, 3);
    assert_rec(&c, 3, "i", PL, 13);
    coll_free(&c);

    /* max 1: every byte its own piece. */
    run1("abc\n\nd\n", 1, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 5);
    assert_rec(&c, 0, "a", P, 0);
    assert_rec(&c, 1, "b", P, 0);
    assert_rec(&c, 2, "c", PL, 4);
    assert_rec(&c, 3, "", 0, 5);
    assert_rec(&c, 4, "d", 0, 7);
    coll_free(&c);
}
END_TEST

START_TEST(test_truncate_lengths)
{
    coll c;
    sp_framer_stats st;

    run1("abc\nabcd\nz\n", 4, SP_OVERSIZE_TRUNCATE, &c, &st);
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 0, "abc", 0, 4);
    assert_rec(&c, 1, "abcd", 0, 9);
    assert_rec(&c, 2, "z", 0, 11);
    ck_assert_uint_eq(st.truncated, 0);
    coll_free(&c);

    run1("abcde\nz\n", 4, SP_OVERSIZE_TRUNCATE, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "abcd", T, 6);
    assert_rec(&c, 1, "z", 0, 8);
    ck_assert_uint_eq(st.truncated, 1);
    ck_assert_uint_eq(st.bytes_discarded, 1);
    coll_free(&c);

    run1("abcdefgh\nz\n", 4, SP_OVERSIZE_TRUNCATE, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "abcd", T, 9);
    assert_rec(&c, 1, "z", 0, 11);
    ck_assert_uint_eq(st.bytes_discarded, 4);
    coll_free(&c);

    run1("abcdefghi\nz\n", 4, SP_OVERSIZE_TRUNCATE, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "abcd", T, 10);
    assert_rec(&c, 1, "z", 0, 12);
    ck_assert_uint_eq(st.truncated, 1);
    ck_assert_uint_eq(st.bytes_discarded, 5);
    ck_assert_uint_eq(st.lines, 2);
    ck_assert_uint_eq(st.split_lines, 0);
    coll_free(&c);
}
END_TEST

START_TEST(test_drop_lengths)
{
    coll c;
    sp_framer_stats st;

    run1("abc\nabcd\nz\n", 4, SP_OVERSIZE_DROP, &c, &st);
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 1, "abcd", 0, 9);
    ck_assert_uint_eq(st.dropped, 0);
    coll_free(&c);

    static const struct { const char *in; uint64_t zpos, disc; } t[] = {
        {"abcde\nz\n", 8, 5}, {"abcdefgh\nz\n", 11, 8}, {"abcdefghi\nz\n", 12, 9},
    };
    for (size_t i = 0; i < 3; i++) {
        run1(t[i].in, 4, SP_OVERSIZE_DROP, &c, &st);
        ck_assert_uint_eq(c.n, 1);
        assert_rec(&c, 0, "z", 0, t[i].zpos);
        ck_assert_uint_eq(st.dropped, 1);
        ck_assert_uint_eq(st.lines, 2);
        ck_assert_uint_eq(st.records, 1);
        ck_assert_uint_eq(st.bytes_discarded, t[i].disc);
        coll_free(&c);
    }
}
END_TEST

START_TEST(test_unterminated)
{
    coll c;
    sp_framer_stats st;

    run1("a\nbc", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 1, "bc", U, 4);
    ck_assert_uint_eq(st.lines, 2);
    coll_free(&c);

    run1("abcd", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 1);
    assert_rec(&c, 0, "abcd", U, 4);
    coll_free(&c);

    run1("abcdefgh", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "abcd", P, 0);
    assert_rec(&c, 1, "efgh", PL | U, 8);
    coll_free(&c);

    run1("z\nabcdefghij", 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 4);
    assert_rec(&c, 1, "abcd", P, 2);
    assert_rec(&c, 2, "efgh", P, 2);
    assert_rec(&c, 3, "ij", PL | U, 12);
    coll_free(&c);

    run1("abcdefghij", 4, SP_OVERSIZE_TRUNCATE, &c, &st);
    ck_assert_uint_eq(c.n, 1);
    assert_rec(&c, 0, "abcd", T | U, 10);
    ck_assert_uint_eq(st.truncated, 1);
    ck_assert_uint_eq(st.bytes_discarded, 6);
    coll_free(&c);

    run1("z\nabcdefghij", 4, SP_OVERSIZE_DROP, &c, &st);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(st.dropped, 1);
    ck_assert_uint_eq(st.lines, 2);
    ck_assert_uint_eq(st.bytes_discarded, 10);
    coll_free(&c);

    /* Finish with nothing pending emits nothing, also when repeated. */
    sp_framer f;
    sp_err err = {0};
    coll_init(&c);
    ck_assert_int_eq(sp_framer_init(&f, 4, SP_OVERSIZE_SPLIT, 0, collect, &c, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "ab\ncd", 5, &err), SP_OK);
    ck_assert_uint_eq(sp_framer_pending(&f), 2);
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(c.n, 2);
    /* Input may continue after finish; offsets keep counting. */
    ck_assert_int_eq(sp_framer_feed(&f, "e\n", 2, &err), SP_OK);
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 2, "e", 0, 7);
    sp_framer_free(&f);
    coll_free(&c);
}
END_TEST

START_TEST(test_stats_mixed)
{
    static const char in[] = "ab\nabcdefghij\n\nabcd\nabcde\nxy";
    static const struct {
        enum sp_oversize pol;
        sp_framer_stats want;
    } t[] = {
        {SP_OVERSIZE_SPLIT, {6, 9, 2, 0, 0, 0, 0, 0, 0, 28}},
        {SP_OVERSIZE_TRUNCATE, {6, 6, 0, 2, 0, 7, 0, 0, 0, 28}},
        {SP_OVERSIZE_DROP, {6, 4, 0, 0, 2, 15, 0, 0, 0, 28}},
    };
    for (size_t i = 0; i < 3; i++) {
        coll c;
        sp_framer_stats st;
        run1(in, 4, t[i].pol, &c, &st);
        assert_stats(&st, &t[i].want, sp_oversize_name(t[i].pol));
        ck_assert_uint_eq(st.bytes, t[i].want.bytes);  /* every input byte fed counts */
        ck_assert_uint_eq(c.n, t[i].want.records);
        coll_free(&c);
    }
}
END_TEST

/* Whole lines inside a chunk are passed from the chunk itself. */
START_TEST(test_zero_copy)
{
    coll c;
    sp_framer_stats st;
    static const char in[] = "aa\nbb\ncc";
    run1(in, 4, SP_OVERSIZE_SPLIT, &c, &st);
    ck_assert_uint_eq(c.n, 3);
    ck_assert(c.r[0].from_input);
    ck_assert(c.r[1].from_input);
    ck_assert(!c.r[2].from_input);       /* the tail was held */
    coll_free(&c);

    /* A long line in one chunk: every piece, and a truncated line whose
     * newline is in the same chunk, come straight from the input. */
    size_t n = 100000;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', n);
    big[n] = '\n';
    for (int pol = SP_OVERSIZE_SPLIT; pol <= SP_OVERSIZE_TRUNCATE; pol++) {
        coll_init(&c);
        run(big, n + 1, 1000, (enum sp_oversize)pol, 0, NULL, 0, &c, &st);
        ck_assert_uint_eq(c.n, pol == SP_OVERSIZE_SPLIT ? 100 : 1);
        for (size_t i = 0; i < c.n; i++)
            ck_assert(c.r[i].from_input);
        coll_free(&c);
    }
    free(big);
}
END_TEST

/* Random input with lengths clustered around the cap and every byte value
 * but '\n'; every policy, several caps and many ways of cutting the input
 * into chunks must all give exactly the model's records and stats. */
static char *random_input(sp_rng *r, size_t max, size_t nlines, size_t *outlen)
{
    size_t cap = nlines * (4 * max + 2) + 1, n = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < nlines; i++) {
        size_t L;
        switch (sp_rng_below(r, 10)) {
        case 0: L = 0; break;
        case 1: L = max > 1 ? max - 1 : 0; break;
        case 2: L = max; break;
        case 3: L = max + 1; break;
        case 4: L = 2 * max; break;
        case 5: L = 2 * max + 1; break;
        case 6: L = 3 * max; break;
        default: L = (size_t)sp_rng_below(r, 4 * max + 1); break;
        }
        for (size_t k = 0; k < L; k++) {
            unsigned char b = (unsigned char)sp_rng_below(r, 255);
            s[n++] = (char)(b >= '\n' ? b + 1 : b);   /* anything but '\n' */
        }
        if (i + 1 < nlines || sp_rng_below(r, 2))
            s[n++] = '\n';
    }
    *outlen = n;
    return s;
}

START_TEST(test_chunking_equivalence)
{
    static const size_t maxes[] = {1, 2, 3, 4, 7, 64, 300};
    sp_rng r;
    sp_rng_seed_with(&r, 2024);
    for (size_t mi = 0; mi < sizeof maxes / sizeof maxes[0]; mi++) {
        size_t max = maxes[mi];
        for (int round = 0; round < 3; round++) {
            size_t n;
            char *in = random_input(&r, max, 60, &n);
            uint64_t start = round == 2 ? (1ull << 40) + 17 : 0;
            size_t rnd[64];
            for (size_t k = 0; k < 64; k++)
                rnd[k] = 1 + (size_t)sp_rng_below(&r, 3 * max + 5);
            const size_t fixed[] = {1, 2, 3, max > 1 ? max - 1 : 1, max, max + 1,
                                    2 * max + 1, 7, 1000};
            for (int pol = SP_OVERSIZE_SPLIT; pol <= SP_OVERSIZE_DROP; pol++) {
                coll want;
                sp_framer_stats wst;
                coll_init(&want);
                model(in, n, max, (enum sp_oversize)pol, start, &want, &wst);

                coll got;
                sp_framer_stats gst;
                char what[96];
                coll_init(&got);
                run(in, n, max, (enum sp_oversize)pol, start, NULL, 0, &got, &gst);
                snprintf(what, sizeof what, "max %zu %s whole", max,
                         sp_oversize_name((enum sp_oversize)pol));
                assert_same(&got, &want, what);
                assert_stats(&gst, &wst, what);
                coll_free(&got);

                for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
                    coll_init(&got);
                    run(in, n, max, (enum sp_oversize)pol, start, &fixed[k], 1, &got, &gst);
                    snprintf(what, sizeof what, "max %zu %s chunks of %zu", max,
                             sp_oversize_name((enum sp_oversize)pol), fixed[k]);
                    assert_same(&got, &want, what);
                    assert_stats(&gst, &wst, what);
                    coll_free(&got);
                }

                coll_init(&got);
                run(in, n, max, (enum sp_oversize)pol, start, rnd, 64, &got, &gst);
                snprintf(what, sizeof what, "max %zu %s random chunks", max,
                         sp_oversize_name((enum sp_oversize)pol));
                assert_same(&got, &want, what);
                assert_stats(&gst, &wst, what);
                coll_free(&got);
                coll_free(&want);
            }
            free(in);
        }
    }
}
END_TEST

/* A line far longer than the cap fed one byte at a time: nothing beyond
 * the cap is ever held. */
START_TEST(test_memory_bounded)
{
    const size_t max = 1000, n = 200000;
    for (int pol = SP_OVERSIZE_SPLIT; pol <= SP_OVERSIZE_DROP; pol++) {
        sp_framer f;
        sp_err err = {0};
        coll c;
        coll_init(&c);
        c.keep = 0;
        ck_assert_int_eq(sp_framer_init(&f, max, (enum sp_oversize)pol, 0, collect, &c, &err), SP_OK);
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(sp_framer_feed(&f, "q", 1, &err), SP_OK);
            ck_assert_uint_le(sp_framer_pending(&f), max);
            ck_assert_uint_le(f.cap, max);
        }
        ck_assert_int_eq(sp_framer_feed(&f, "\n", 1, &err), SP_OK);
        ck_assert_uint_eq(sp_framer_pending(&f), 0);
        ck_assert_uint_eq(f.stats.lines, 1);
        ck_assert_uint_eq(c.n, pol == SP_OVERSIZE_SPLIT ? n / max
                               : pol == SP_OVERSIZE_TRUNCATE ? 1 : 0);
        sp_framer_free(&f);
        coll_free(&c);
    }
}
END_TEST

/* Many short lines in one chunk: linear time (a memmove per line would
 * take minutes here). */
START_TEST(test_many_lines_one_chunk)
{
    const size_t lines = 2000000, n = lines * 11;
    char *in = malloc(n);
    ck_assert_ptr_nonnull(in);
    for (size_t i = 0; i < lines; i++) {
        memcpy(in + i * 11, "0123456789\n", 11);
    }
    coll c;
    coll_init(&c);
    c.keep = 0;
    sp_framer f;
    sp_err err = {0};
    ck_assert_int_eq(sp_framer_init(&f, 1048576, SP_OVERSIZE_SPLIT, 0, collect, &c, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, in, n - 5, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, in + n - 5, 5, &err), SP_OK);
    ck_assert_uint_eq(c.n, lines);
    ck_assert_uint_eq(f.stats.lines, lines);
    ck_assert(f.cap <= 256);      /* only short tails were ever held */
    sp_framer_free(&f);
    free(in);
}
END_TEST

static void feed_fail(const char *in, size_t max, enum sp_oversize pol,
                      const size_t *sizes, size_t nsizes, long fail_at,
                      int in_finish)
{
    sp_framer f;
    sp_err err = {0};
    coll c;
    coll_init(&c);
    c.fail_at = fail_at;
    ck_assert_int_eq(sp_framer_init(&f, max, pol, 0, collect, &c, &err), SP_OK);
    size_t n = strlen(in), off = 0, k = 0;
    int rc = SP_OK;
    while (off < n && rc == SP_OK) {
        size_t len = nsizes ? sizes[k++ % nsizes] : n;
        if (len > n - off)
            len = n - off;
        rc = sp_framer_feed(&f, in + off, len, &err);
        off += len;
    }
    if (in_finish) {
        ck_assert_int_eq(rc, SP_OK);
        rc = sp_framer_finish(&f, &err);
    }
    ck_assert_int_eq(rc, SP_ERR);
    char want[64];
    snprintf(want, sizeof want, "emit failed at %ld", fail_at);
    ck_assert_str_eq(err.msg, want);
    /* Nothing is emitted after the failing call within that feed. */
    ck_assert_uint_eq(c.calls, (size_t)fail_at + 1);
    ck_assert_uint_eq(c.n, (size_t)fail_at);
    ck_assert_uint_eq(f.stats.records, (uint64_t)fail_at);
    sp_framer_free(&f);
    coll_free(&c);
}

START_TEST(test_emit_failure)
{
    static const size_t one[] = {1};
    feed_fail("a\nb\nc\n", 4, SP_OVERSIZE_SPLIT, NULL, 0, 0, 0);
    feed_fail("a\nb\nc\n", 4, SP_OVERSIZE_SPLIT, NULL, 0, 1, 0);
    feed_fail("a\nb\nc\n", 4, SP_OVERSIZE_SPLIT, one, 1, 2, 0);
    feed_fail("abcdefghij\n", 2, SP_OVERSIZE_SPLIT, NULL, 0, 1, 0);       /* piece from input */
    feed_fail("abcdefghij\n", 2, SP_OVERSIZE_SPLIT, one, 1, 1, 0);        /* piece from held */
    feed_fail("abcdefghij\n", 2, SP_OVERSIZE_SPLIT, NULL, 0, 4, 0);       /* last piece */
    feed_fail("x\nabcdefghij\n", 2, SP_OVERSIZE_TRUNCATE, NULL, 0, 1, 0);
    feed_fail("x\nabcdefghij\n", 2, SP_OVERSIZE_TRUNCATE, one, 1, 1, 0);
    feed_fail("abcdefghij\nx\n", 2, SP_OVERSIZE_DROP, one, 1, 0, 0);
    feed_fail("a\nbc", 4, SP_OVERSIZE_SPLIT, NULL, 0, 1, 1);              /* in finish */
    feed_fail("a\nbcdefg", 4, SP_OVERSIZE_TRUNCATE, NULL, 0, 1, 1);
    feed_fail("abcdefg", 4, SP_OVERSIZE_SPLIT, NULL, 0, 1, 1);
}
END_TEST

START_TEST(test_set_max)
{
    static const struct {
        enum sp_oversize pol;
        size_t nrec;
        uint64_t discarded;
    } t[] = {
        {SP_OVERSIZE_SPLIT, 4, 0},
        {SP_OVERSIZE_TRUNCATE, 2, 5},
        {SP_OVERSIZE_DROP, 1, 8},
    };
    for (size_t i = 0; i < 3; i++) {
        /* Lowered while 8 bytes are held. */
        sp_framer f;
        sp_err err = {0};
        coll c;
        coll_init(&c);
        ck_assert_int_eq(sp_framer_init(&f, 10, t[i].pol, 0, collect, &c, &err), SP_OK);
        ck_assert_int_eq(sp_framer_feed(&f, "abcdefgh", 8, &err), SP_OK);
        ck_assert_int_eq(sp_framer_set_max(&f, 3, &err), SP_OK);
        ck_assert_int_eq(sp_framer_feed(&f, "\nz\n", 3, &err), SP_OK);
        ck_assert_uint_eq(c.n, t[i].nrec);
        ck_assert_uint_eq(f.stats.bytes_discarded, t[i].discarded);
        ck_assert_uint_eq(f.stats.lines, 2);
        if (t[i].pol == SP_OVERSIZE_SPLIT) {
            assert_rec(&c, 0, "abc", P, 0);
            assert_rec(&c, 1, "def", P, 0);
            assert_rec(&c, 2, "gh", PL, 9);
        } else if (t[i].pol == SP_OVERSIZE_TRUNCATE) {
            assert_rec(&c, 0, "abc", T, 9);
        }
        assert_rec(&c, c.n - 1, "z", 0, 11);
        sp_framer_free(&f);
        coll_free(&c);
    }

    /* Lowered, then finish without a newline. */
    sp_framer f;
    sp_err err = {0};
    coll c;
    coll_init(&c);
    ck_assert_int_eq(sp_framer_init(&f, 10, SP_OVERSIZE_SPLIT, 0, collect, &c, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "abcdefg", 7, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_max(&f, 3, &err), SP_OK);
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 0, "abc", P, 0);
    assert_rec(&c, 1, "def", P, 0);
    assert_rec(&c, 2, "g", PL | U, 7);
    sp_framer_free(&f);
    coll_free(&c);

    /* Lowered to a divisor of what is held: no empty trailing piece, and
     * a held part of exactly the new cap is still a whole line. */
    coll_init(&c);
    ck_assert_int_eq(sp_framer_init(&f, 10, SP_OVERSIZE_SPLIT, 0, collect, &c, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "abcdef", 6, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_max(&f, 3, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "\nxyz", 4, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_max(&f, 3, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "\n", 1, &err), SP_OK);
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 0, "abc", P, 0);
    assert_rec(&c, 1, "def", PL, 7);
    assert_rec(&c, 2, "xyz", 0, 11);
    ck_assert_uint_eq(f.stats.split_lines, 1);
    sp_framer_free(&f);
    coll_free(&c);

    /* Raised: held bytes are kept and the line fits now. */
    coll_init(&c);
    ck_assert_int_eq(sp_framer_init(&f, 2, SP_OVERSIZE_SPLIT, 0, collect, &c, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "ab", 2, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_max(&f, 10, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "cdef\n", 5, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    assert_rec(&c, 0, "abcdef", 0, 7);
    sp_framer_free(&f);
    coll_free(&c);
}
END_TEST

/* ---- extensions: flush, terminator, header lines, multi-line ---- */

typedef struct fopts {
    const regex_t *re;      /* multi-line start pattern, NULL: off */
    const char *term;       /* truncation terminator, NULL: none */
    uint64_t skip;          /* header lines */
} fopts;

static void fr_init(sp_framer *f, size_t max, enum sp_oversize pol, uint64_t start,
                    coll *c, const fopts *o)
{
    sp_err err = {0};
    ck_assert_int_eq(sp_framer_init(f, max, pol, start, collect, c, &err), SP_OK);
    if (o == NULL)
        return;
    if (o->re)
        ck_assert_int_eq(sp_framer_set_multiline(f, o->re, &err), SP_OK);
    if (o->term)
        ck_assert_int_eq(sp_framer_set_truncated_terminator(f, o->term, strlen(o->term), &err), SP_OK);
    sp_framer_skip_lines(f, o->skip);
}

/* run() with options; memory stays within the record and the line held
 * apart for classification. */
static void run_o(const char *in, size_t n, size_t max, enum sp_oversize pol,
                  uint64_t start, const size_t *sizes, size_t nsizes,
                  coll *c, sp_framer_stats *st, const fopts *o)
{
    sp_framer f;
    sp_err err = {0};
    fr_init(&f, max, pol, start, c, o);
    size_t off = 0, k = 0;
    while (off < n) {
        size_t len = nsizes ? sizes[k++ % nsizes] : n;
        if (len > n - off)
            len = n - off;
        ck_assert_int_eq(sp_framer_feed(&f, in + off, len, &err), SP_OK);
        ck_assert_uint_le(sp_framer_pending(&f), 2 * max);
        ck_assert(f.cap <= max || f.cap <= 256);
        ck_assert(f.lcap <= max + 1 || f.lcap <= 256);
        off += len;
    }
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(sp_framer_pending(&f), 0);
    ck_assert(!sp_framer_holding(&f));
    *st = f.stats;
    sp_framer_free(&f);
}

static int line_matches(const regex_t *re, const char *p, size_t n)
{
    regmatch_t m[1];
    char *z = malloc(n + 1);      /* sanitizers' regexec reads up to a NUL */
    ck_assert_ptr_nonnull(z);
    memcpy(z, p, n);
    z[n] = '\0';
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)n;
    int r = regexec(re, z, 1, m, REG_STARTEND) == 0;
    free(z);
    return r;
}

/* One unit (a line, or a joined multi-line record) through the policy. */
static void model_unit(const char *p, size_t L, uint64_t s, uint64_t e, unsigned u,
                       size_t max, enum sp_oversize pol, const char *term,
                       coll *c, sp_framer_stats *st)
{
    size_t tl = term ? strlen(term) : 0;
    if (L <= max) {
        add(c, p, L, u, e, 0);
    } else if (pol == SP_OVERSIZE_SPLIT) {
        size_t m = (L + max - 1) / max;
        for (size_t i = 0; i + 1 < m; i++)
            add(c, p + i * max, max, SP_FRAME_PART, s, 0);
        add(c, p + (m - 1) * max, L - (m - 1) * max,
            SP_FRAME_PART | SP_FRAME_LAST_PART | u, e, 0);
        st->split_lines++;
    } else if (pol == SP_OVERSIZE_TRUNCATE) {
        char *t = malloc(max);
        ck_assert_ptr_nonnull(t);
        memcpy(t, p, max - tl);
        memcpy(t + max - tl, term ? term : "", tl);
        add(c, t, max, SP_FRAME_TRUNCATED | u, e, 0);
        free(t);
        st->truncated++;
        st->bytes_discarded += L - (max - tl);
    } else {
        st->dropped++;
        st->bytes_discarded += L;
    }
}

/* The second model, whole input at once: skip the header, classify each
 * line on its first max bytes, join, apply the policy. */
static void model_o(const char *in, size_t n, size_t max, enum sp_oversize pol,
                    uint64_t start, coll *c, sp_framer_stats *st, const fopts *o)
{
    memset(st, 0, sizeof *st);
    size_t ls = 0;
    uint64_t skip = o->skip;
    char *rb = NULL;                /* the open record */
    size_t rl = 0, rs = 0;
    int open = 0;
    while (ls < n) {
        const char *nl = memchr(in + ls, '\n', n - ls);
        size_t L = nl ? (size_t)(nl - (in + ls)) : n - ls;
        size_t next = ls + L + (nl ? 1 : 0);
        unsigned u = nl ? 0 : SP_FRAME_UNTERMINATED;
        if (skip > 0) {
            skip--;
            st->skipped_lines++;
            ls = next;
            continue;
        }
        st->lines++;
        if (o->re == NULL) {
            model_unit(in + ls, L, start + ls, start + next, u, max, pol, o->term, c, st);
            ls = next;
            continue;
        }
        int m = line_matches(o->re, in + ls, L < max ? L : max);
        if (m && open) {
            model_unit(rb, rl, start + rs, start + ls, 0, max, pol, o->term, c, st);
            open = 0;
        }
        if (!open) {
            free(rb);
            rb = malloc(n + 1);
            ck_assert_ptr_nonnull(rb);
            rl = 0;
            rs = ls;
            open = m ? 1 : 2;
        } else {
            rb[rl++] = '\n';
        }
        memcpy(rb + rl, in + ls, L);
        rl += L;
        if (open == 2 || !nl) {
            model_unit(rb, rl, start + rs, start + next, u, max, pol, o->term, c, st);
            open = 0;
        }
        ls = next;
    }
    if (open)
        model_unit(rb, rl, start + rs, start + n, 0, max, pol, o->term, c, st);
    free(rb);
    st->records = c->n;
}

static void assert_stats_x(const sp_framer_stats *a, const sp_framer_stats *b, const char *what)
{
    assert_stats(a, b, what);
    ck_assert_msg(a->skipped_lines == b->skipped_lines, "%s: skipped_lines %llu, want %llu",
                  what, (unsigned long long)a->skipped_lines,
                  (unsigned long long)b->skipped_lines);
}

static regex_t *re_new(const char *pat)
{
    regex_t *re = malloc(sizeof *re);
    ck_assert_ptr_nonnull(re);
    ck_assert_int_eq(regcomp(re, pat, REG_EXTENDED | REG_NOSUB), 0);
    return re;
}

static void re_free(regex_t *re)
{
    regfree(re);
    free(re);
}

/* Feeds s, emitting nothing else. */
static void feed_s(sp_framer *f, const char *s)
{
    sp_err err = {0};
    ck_assert_int_eq(sp_framer_feed(f, s, strlen(s), &err), SP_OK);
}

static void flush_p(sp_framer *f)
{
    sp_err err = {0};
    ck_assert_int_eq(sp_framer_flush_pending(f, &err), SP_OK);
}

START_TEST(test_flush_pending)
{
    sp_framer f;
    coll c;

    /* A partial line goes out on flush; the rest of it is its own record
     * and positions stay consistent (resuming at 5 yields "ef"). */
    coll_init(&c);
    fr_init(&f, 8, SP_OVERSIZE_SPLIT, 0, &c, NULL);
    ck_assert(!sp_framer_holding(&f));
    flush_p(&f);
    ck_assert_uint_eq(c.n, 0);
    feed_s(&f, "ab\ncd");
    ck_assert(sp_framer_holding(&f));
    flush_p(&f);
    ck_assert(!sp_framer_holding(&f));
    flush_p(&f);                        /* nothing more */
    feed_s(&f, "ef\ngh");
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 0, "ab", 0, 3);
    assert_rec(&c, 1, "cd", U, 5);
    assert_rec(&c, 2, "ef", 0, 8);
    ck_assert_uint_eq(f.stats.flushed, 1);
    ck_assert_uint_eq(f.stats.lines, 3);
    sp_framer_free(&f);
    coll_free(&c);

    /* Split: the held piece ends the line; the rest starts a new one. */
    coll_init(&c);
    fr_init(&f, 4, SP_OVERSIZE_SPLIT, 0, &c, NULL);
    feed_s(&f, "abcdefgh");
    flush_p(&f);
    feed_s(&f, "ij\n");
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 0, "abcd", P, 0);
    assert_rec(&c, 1, "efgh", PL | U, 8);
    assert_rec(&c, 2, "ij", 0, 11);
    sp_framer_free(&f);
    coll_free(&c);

    /* Truncate: the kept part goes out; the rest is a line of its own. */
    coll_init(&c);
    fr_init(&f, 4, SP_OVERSIZE_TRUNCATE, 0, &c, NULL);
    feed_s(&f, "abcdefg");
    flush_p(&f);
    feed_s(&f, "xy\n");
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "abcd", T | U, 7);
    assert_rec(&c, 1, "xy", 0, 10);
    sp_framer_free(&f);
    coll_free(&c);

    /* Drop: nothing to emit, but the line is ended. */
    coll_init(&c);
    fr_init(&f, 4, SP_OVERSIZE_DROP, 0, &c, NULL);
    feed_s(&f, "abcdefg");
    ck_assert(sp_framer_holding(&f));
    ck_assert_uint_eq(sp_framer_pending(&f), 0);
    flush_p(&f);
    ck_assert(!sp_framer_holding(&f));
    feed_s(&f, "xy\n");
    ck_assert_uint_eq(c.n, 1);
    assert_rec(&c, 0, "xy", 0, 10);
    ck_assert_uint_eq(f.stats.dropped, 1);
    ck_assert_uint_eq(f.stats.flushed, 0);
    sp_framer_free(&f);
    coll_free(&c);

    /* A rest that is only the newline gives no record (any mode). */
    regex_t *re = re_new("^[0-9]");
    for (int ml = 0; ml < 2; ml++) {
        coll_init(&c);
        fr_init(&f, 8, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){ml ? re : NULL, NULL, 0});
        feed_s(&f, "1 ab");
        flush_p(&f);
        feed_s(&f, "\n");
        feed_s(&f, "\n2\n");
        ck_assert(sp_framer_finish(&f, &(sp_err){0}) == SP_OK);
        ck_assert_uint_eq(c.n, 3);
        assert_rec(&c, 0, "1 ab", U, 4);
        assert_rec(&c, 1, "", 0, 6);        /* a real empty line still is one */
        assert_rec(&c, 2, "2", 0, 8);
        sp_framer_free(&f);
        coll_free(&c);
    }
    re_free(re);

    /* A failing emit in flush is passed up. */
    coll_init(&c);
    c.fail_at = 0;
    sp_err err = {0};
    fr_init(&f, 4, SP_OVERSIZE_SPLIT, 0, &c, NULL);
    feed_s(&f, "ab");
    ck_assert_int_eq(sp_framer_flush_pending(&f, &err), SP_ERR);
    ck_assert_str_eq(err.msg, "emit failed at 0");
    sp_framer_free(&f);
    coll_free(&c);
}
END_TEST

START_TEST(test_terminator)
{
    sp_framer f;
    sp_err err = {0};
    coll c;
    sp_framer_stats st;
    fopts o = {NULL, "...", 0};
    static const size_t one[] = {1}, three[] = {3};

    for (int chunk = 0; chunk < 3; chunk++) {
        const char *in = "0123456789\nabcdefgh\nabcdefghi\nxy";
        coll_init(&c);
        run_o(in, strlen(in), 8, SP_OVERSIZE_TRUNCATE, 0, chunk == 1 ? one : three,
              chunk == 0 ? 0 : 1, &c, &st, &o);
        ck_assert_uint_eq(c.n, 4);
        assert_rec(&c, 0, "01234...", T, 11);
        assert_rec(&c, 1, "abcdefgh", 0, 20);      /* fits: no terminator */
        assert_rec(&c, 2, "abcde...", T, 30);
        assert_rec(&c, 3, "xy", U, 32);
        ck_assert_uint_eq(st.truncated, 2);
        ck_assert_uint_eq(st.bytes_discarded, 5 + 4);
        coll_free(&c);
    }

    /* Unterminated at finish and at flush. */
    coll_init(&c);
    fr_init(&f, 4, SP_OVERSIZE_TRUNCATE, 0, &c, &(fopts){NULL, "~", 0});
    feed_s(&f, "abcdefg");
    flush_p(&f);
    assert_rec(&c, 0, "abc~", T | U, 7);
    sp_framer_free(&f);
    coll_free(&c);

    /* The terminator must leave room for data. */
    coll_init(&c);
    ck_assert_int_eq(sp_framer_init(&f, 3, SP_OVERSIZE_TRUNCATE, 0, collect, &c, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_truncated_terminator(&f, "abc", 3, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "terminator"));
    ck_assert_int_eq(sp_framer_set_truncated_terminator(&f, "ab", 2, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_truncated_terminator(&f, "", 0, &err), SP_OK);
    ck_assert_ptr_null(f.term);
    /* A cap lowered to the terminator's length or less: the terminator cut. */
    ck_assert_int_eq(sp_framer_set_truncated_terminator(&f, "<>", 2, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_max(&f, 1, &err), SP_OK);
    feed_s(&f, "xyz\nq\n");
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "<", T, 4);
    assert_rec(&c, 1, "q", 0, 6);
    /* Lowered while bytes are held (normalize). */
    ck_assert_int_eq(sp_framer_set_max(&f, 10, &err), SP_OK);
    feed_s(&f, "abcdefg");
    ck_assert_int_eq(sp_framer_set_max(&f, 5, &err), SP_OK);
    feed_s(&f, "hij\n");
    assert_rec(&c, 2, "abc<>", T, 17);
    sp_framer_free(&f);
    sp_framer_free(&f);
    coll_free(&c);
}
END_TEST

START_TEST(test_skip_lines)
{
    coll c;
    sp_framer_stats st;
    static const size_t one[] = {1};
    for (int chunk = 0; chunk < 2; chunk++) {
        const char *in = "h1\nheader two\na\nb";
        coll_init(&c);
        run_o(in, strlen(in), 8, SP_OVERSIZE_SPLIT, 100, one, (size_t)chunk, &c, &st,
              &(fopts){NULL, NULL, 2});
        ck_assert_uint_eq(c.n, 2);
        assert_rec(&c, 0, "a", 0, 116);
        assert_rec(&c, 1, "b", U, 117);
        ck_assert_uint_eq(st.skipped_lines, 2);
        ck_assert_uint_eq(st.lines, 2);
        ck_assert_uint_eq(st.bytes_discarded, 0);   /* header lines are not oversize drops */
        coll_free(&c);
    }

    /* Fewer lines than the header: all skipped, the cut one at finish. */
    coll_init(&c);
    run_o("h1\nh2", 5, 8, SP_OVERSIZE_SPLIT, 0, NULL, 0, &c, &st, &(fopts){NULL, NULL, 5});
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(st.skipped_lines, 2);
    coll_free(&c);

    /* A header line is never flushed: its rest is still skipped. */
    sp_framer f;
    coll_init(&c);
    fr_init(&f, 8, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){NULL, NULL, 1});
    feed_s(&f, "hea");
    flush_p(&f);
    ck_assert(!sp_framer_holding(&f));
    feed_s(&f, "der\nx\n");
    ck_assert_uint_eq(c.n, 1);
    assert_rec(&c, 0, "x", 0, 9);
    sp_framer_free(&f);
    coll_free(&c);

    /* An oversize header line is skipped whole, whatever the policy. */
    coll_init(&c);
    run_o("0123456789\nx\n", 13, 4, SP_OVERSIZE_SPLIT, 0, one, 1, &c, &st,
          &(fopts){NULL, NULL, 1});
    ck_assert_uint_eq(c.n, 1);
    assert_rec(&c, 0, "x", 0, 13);
    coll_free(&c);
}
END_TEST

START_TEST(test_multiline_basic)
{
    regex_t *re = re_new("^[0-9]");
    coll c;
    sp_framer_stats st;
    static const size_t sizes[] = {1, 2, 3, 5, 1000};
    const char *in = "pre1\npre2\n1 start\n  a\n  b\n2 next\n3 third\n  c\n";
    /*                 0     5     10       18   22   26      33       41   45 */
    for (size_t k = 0; k < 5; k++) {
        coll_init(&c);
        run_o(in, strlen(in), 64, SP_OVERSIZE_SPLIT, 0, &sizes[k], 1, &c, &st,
              &(fopts){re, NULL, 0});
        ck_assert_uint_eq(c.n, 5);
        assert_rec(&c, 0, "pre1", 0, 5);            /* before the first start line */
        assert_rec(&c, 1, "pre2", 0, 10);
        assert_rec(&c, 2, "1 start\n  a\n  b", 0, 26);  /* pos: where "2 next" begins */
        assert_rec(&c, 3, "2 next", 0, 33);
        assert_rec(&c, 4, "3 third\n  c", 0, 45);    /* at finish */
        ck_assert_uint_eq(st.lines, 8);
        ck_assert_uint_eq(st.records, 5);
        coll_free(&c);
    }

    /* The open record waits for the next start line or a flush. */
    sp_framer f;
    coll_init(&c);
    fr_init(&f, 64, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){re, NULL, 0});
    feed_s(&f, "1 a\n b\n");
    ck_assert_uint_eq(c.n, 0);
    ck_assert(sp_framer_holding(&f));
    ck_assert_uint_eq(sp_framer_pending(&f), 6);
    flush_p(&f);
    assert_rec(&c, 0, "1 a\n b", 0, 7);
    ck_assert(!sp_framer_holding(&f));
    /* After a flush a continuation line has no record to join. */
    feed_s(&f, " c\n d\n2 x\n e");
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 1, " c", 0, 10);
    assert_rec(&c, 2, " d", 0, 13);
    /* A line cut by flush: classified on what is there... */
    flush_p(&f);
    assert_rec(&c, 3, "2 x\n e", U, 19);
    /* ...and its rest is classified afresh: "5" starts a record. */
    feed_s(&f, "5\n f\n");
    flush_p(&f);
    assert_rec(&c, 4, "5\n f", 0, 24);
    /* An undecided partial line that is a start line: the open record
     * ends where it begins, and it is flushed on its own. */
    feed_s(&f, "7 y\n g\n8 z");
    flush_p(&f);
    ck_assert_uint_eq(c.n, 7);
    assert_rec(&c, 5, "7 y\n g", 0, 31);
    assert_rec(&c, 6, "8 z", U, 34);
    ck_assert_uint_eq(f.stats.flushed, 5);
    sp_framer_free(&f);

    /* An empty start line still makes a record. */
    coll_free(&c);

    regex_t *empty = re_new("^$");
    coll_init(&c);
    run_o("\na\n\n", 4, 8, SP_OVERSIZE_SPLIT, 0, NULL, 0, &c, &st, &(fopts){empty, NULL, 0});
    ck_assert_uint_eq(c.n, 2);
    assert_rec(&c, 0, "\na", 0, 3);
    assert_rec(&c, 1, "", 0, 4);
    coll_free(&c);
    re_free(empty);

    /* Mode changes only between records. */
    sp_err err = {0};
    coll_init(&c);
    fr_init(&f, 64, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){re, NULL, 0});
    feed_s(&f, "1\n");
    ck_assert_int_eq(sp_framer_set_multiline(&f, NULL, &err), SP_ERR);
    flush_p(&f);
    ck_assert_int_eq(sp_framer_set_multiline(&f, NULL, &err), SP_OK);
    feed_s(&f, "a\nb\n");
    ck_assert_uint_eq(c.n, 3);
    assert_rec(&c, 2, "b", 0, 6);
    sp_framer_free(&f);
    coll_free(&c);
    re_free(re);
}
END_TEST

START_TEST(test_multiline_oversize)
{
    regex_t *re = re_new("^S");
    coll c;
    sp_framer_stats st;
    static const size_t one[] = {1};
    const char *in = "S abc\n def\nS\n";      /* joined "S abc\n def": 10 bytes */
    for (int chunk = 0; chunk < 2; chunk++) {
        coll_init(&c);
        run_o(in, strlen(in), 8, SP_OVERSIZE_SPLIT, 0, one, (size_t)chunk, &c, &st,
              &(fopts){re, NULL, 0});
        ck_assert_uint_eq(c.n, 3);
        assert_rec(&c, 0, "S abc\n d", P, 0);
        assert_rec(&c, 1, "ef", PL, 11);
        assert_rec(&c, 2, "S", 0, 13);
        ck_assert_uint_eq(st.split_lines, 1);
        coll_free(&c);

        coll_init(&c);
        run_o(in, strlen(in), 8, SP_OVERSIZE_TRUNCATE, 0, one, (size_t)chunk, &c, &st,
              &(fopts){re, "..", 0});
        ck_assert_uint_eq(c.n, 2);
        assert_rec(&c, 0, "S abc\n..", T, 11);
        assert_rec(&c, 1, "S", 0, 13);
        ck_assert_uint_eq(st.bytes_discarded, 4);
        coll_free(&c);

        coll_init(&c);
        run_o(in, strlen(in), 8, SP_OVERSIZE_DROP, 0, one, (size_t)chunk, &c, &st,
              &(fopts){re, NULL, 0});
        ck_assert_uint_eq(c.n, 1);
        assert_rec(&c, 0, "S", 0, 13);
        ck_assert_uint_eq(st.dropped, 1);
        ck_assert_uint_eq(st.bytes_discarded, 10);
        coll_free(&c);
    }

    /* A line longer than the cap is classified on its first max bytes. */
    regex_t *tail = re_new("E$");
    coll_init(&c);
    run_o("xxxE\nabcdefE\ny\n", 15, 4, SP_OVERSIZE_SPLIT, 0, NULL, 0, &c, &st,
          &(fopts){tail, NULL, 0});
    /* "xxxE" starts; "abcdefE" does not match in "abcd" and joins. */
    ck_assert_uint_eq(c.n, 4);
    assert_rec(&c, 0, "xxxE", P, 0);
    assert_rec(&c, 1, "\nabc", P, 0);
    assert_rec(&c, 2, "defE", P, 0);
    assert_rec(&c, 3, "\ny", PL, 15);
    coll_free(&c);
    re_free(tail);

    /* Memory: a huge continuation line fed byte by byte stays bounded. */
    sp_framer f;
    coll_init(&c);
    c.keep = 0;
    fr_init(&f, 1000, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){re, NULL, 0});
    feed_s(&f, "S\n");
    for (int i = 0; i < 200000; i++) {
        feed_s(&f, "x");
        ck_assert_uint_le(sp_framer_pending(&f), 2000);
    }
    ck_assert_uint_le(f.cap, 1000);
    ck_assert_uint_le(f.lcap, 1001);
    ck_assert_uint_eq(c.n, 200);
    sp_framer_free(&f);
    coll_free(&c);
    re_free(re);
}
END_TEST

static char *random_ml_input(sp_rng *r, size_t max, size_t nlines, size_t *outlen)
{
    size_t cap = nlines * (3 * max + 3) + 1, n = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < nlines; i++) {
        size_t L = (size_t)sp_rng_below(r, sp_rng_below(r, 4) == 0 ? 3 * max + 1 : max / 2 + 2);
        for (size_t k = 0; k < L; k++) {
            unsigned pick = (unsigned)sp_rng_below(r, 6);
            if (pick == 0)
                s[n++] = 'S';
            else if (pick == 1)
                s[n++] = 'E';
            else {
                unsigned char b = (unsigned char)sp_rng_below(r, 255);
                s[n++] = (char)(b >= '\n' ? b + 1 : b);
            }
        }
        if (i + 1 < nlines || sp_rng_below(r, 2))
            s[n++] = '\n';
    }
    *outlen = n;
    return s;
}

/* Every option set, policy and chunking gives the second model's records;
 * with no options the second model agrees with the first. */
START_TEST(test_extensions_chunking_equivalence)
{
    static const size_t maxes[] = {3, 5, 16, 100};
    regex_t *res[] = {re_new("^S"), re_new("E$"), re_new("S.*E")};
    sp_rng r;
    sp_rng_seed_with(&r, 77);
    for (size_t mi = 0; mi < sizeof maxes / sizeof maxes[0]; mi++) {
        size_t max = maxes[mi];
        for (int round = 0; round < 4; round++) {
            size_t n;
            char *in = random_ml_input(&r, max, 50, &n);
            fopts o = {round > 0 ? res[round - 1] : NULL, max > 3 ? ".." : "!",
                       sp_rng_below(&r, 3)};
            size_t rnd[32];
            for (size_t k = 0; k < 32; k++)
                rnd[k] = 1 + (size_t)sp_rng_below(&r, 2 * max + 3);
            const size_t fixed[] = {1, 2, max - 1, max, max + 1, 4096};
            for (int pol = SP_OVERSIZE_SPLIT; pol <= SP_OVERSIZE_DROP; pol++) {
                coll want, got;
                sp_framer_stats wst, gst;
                char what[96];
                coll_init(&want);
                model_o(in, n, max, (enum sp_oversize)pol, 5, &want, &wst, &o);
                if (round == 0 && o.skip == 0 && pol != SP_OVERSIZE_TRUNCATE) {
                    coll w1;
                    sp_framer_stats s1;
                    coll_init(&w1);
                    model(in, n, max, (enum sp_oversize)pol, 5, &w1, &s1);
                    assert_same(&want, &w1, "models agree");
                    coll_free(&w1);
                }
                for (size_t k = 0; k <= sizeof fixed / sizeof fixed[0]; k++) {
                    coll_init(&got);
                    if (k < sizeof fixed / sizeof fixed[0])
                        run_o(in, n, max, (enum sp_oversize)pol, 5, &fixed[k], 1, &got, &gst, &o);
                    else
                        run_o(in, n, max, (enum sp_oversize)pol, 5, rnd, 32, &got, &gst, &o);
                    snprintf(what, sizeof what, "max %zu round %d %s chunking %zu", max, round,
                             sp_oversize_name((enum sp_oversize)pol), k);
                    assert_same(&got, &want, what);
                    assert_stats_x(&gst, &wst, what);
                    coll_free(&got);
                }
                coll_free(&want);
            }
            free(in);
        }
    }
    for (size_t i = 0; i < 3; i++)
        re_free(res[i]);
}
END_TEST

/* A stop that cannot wait for a line's end drops the held part, never
 * emits it as a whole record, and counts it; lines before it are intact. */
START_TEST(test_discard_partial)
{
    coll c;
    coll_init(&c);
    sp_framer f;
    sp_err err = {0};
    ck_assert_int_eq(sp_framer_init(&f, 8, SP_OVERSIZE_SPLIT, 0, collect, &c, &err), SP_OK);
    ck_assert_uint_eq(sp_framer_discard(&f), 0);       /* nothing begun */
    ck_assert_int_eq(sp_framer_feed(&f, "one\ntw", 6, &err), SP_OK);
    ck_assert(sp_framer_in_line(&f));
    ck_assert_uint_eq(sp_framer_discard(&f), 2);
    ck_assert(!sp_framer_in_line(&f));
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert(c.r[0].len == 3 && memcmp(c.r[0].data, "one", 3) == 0);
    ck_assert_uint_eq(f.stats.partial, 1);
    /* A split line whose pieces went out already still counts once. */
    ck_assert_int_eq(sp_framer_feed(&f, "0123456789ab", 12, &err), SP_OK);
    ck_assert_uint_eq(c.n, 2);                          /* the first piece */
    ck_assert(sp_framer_in_line(&f));
    ck_assert_uint_eq(sp_framer_discard(&f), 4);
    ck_assert_uint_eq(f.stats.partial, 2);
    /* The rest of a cut line that is only its newline gives nothing. */
    ck_assert_int_eq(sp_framer_feed(&f, "\nnext\n", 6, &err), SP_OK);
    ck_assert_uint_eq(c.n, 3);
    ck_assert(c.r[2].len == 4 && memcmp(c.r[2].data, "next", 4) == 0);
    sp_framer_free(&f);
    coll_free(&c);

    /* Multi-line: an open record is dropped whole. */
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^S", REG_EXTENDED | REG_NOSUB), 0);
    coll_init(&c);
    ck_assert_int_eq(sp_framer_init(&f, 64, SP_OVERSIZE_SPLIT, 0, collect, &c, &err), SP_OK);
    ck_assert_int_eq(sp_framer_set_multiline(&f, &re, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "S1\n a\nS2\n b\n c", 14, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert(sp_framer_in_line(&f));
    ck_assert_uint_gt(sp_framer_discard(&f), 0);
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert(c.r[0].len == 5 && memcmp(c.r[0].data, "S1\n a", 5) == 0);
    ck_assert_uint_eq(f.stats.partial, 1);
    sp_framer_free(&f);
    coll_free(&c);
    regfree(&re);
}
END_TEST

/* The start pattern sees the head of a line only (issue 7: what one line
 * costs is bounded), and a line being classified holds no more than that. */
START_TEST(test_multiline_match_window)
{
    regex_t *re = re_new("E$");
    const size_t max = 65536, L = 6000;
    size_t n = 4 + L + 1 + 5;
    char *in = malloc(n + 1);
    ck_assert_ptr_nonnull(in);
    memcpy(in, "S0E\n", 4);
    memset(in + 4, 'x', L - 1);             /* a start line only if seen whole */
    memcpy(in + 4 + L - 1, "E\nyE\nz", 6);
    in[n] = '\0';
    static const size_t chunks[] = {1, 100, 4095, 4096, 4097, 100000};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        for (int wide = 0; wide < 2; wide++) {
            sp_framer f;
            coll c;
            sp_err err = {0};
            coll_init(&c);
            fr_init(&f, max, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){re, NULL, 0});
            if (wide)
                sp_framer_set_match_bytes(&f, 8192);
            size_t win = wide ? 8192 : SP_MATCH_BYTES_DEFAULT;
            for (size_t off = 0; off < n; off += chunks[k]) {
                size_t len = n - off < chunks[k] ? n - off : chunks[k];
                ck_assert_int_eq(sp_framer_feed(&f, in + off, len, &err), SP_OK);
                ck_assert_msg(f.lcap <= win + 1, "chunk %zu: %zu bytes held to classify a line",
                              chunks[k], f.lcap);
            }
            ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
            if (wide) {                     /* the long line is seen to its 'E' */
                ck_assert_uint_eq(c.n, 3);
                ck_assert_uint_eq(c.r[0].len, 3);
                ck_assert_uint_eq(c.r[1].len, L);
            } else {                        /* its head has no 'E': it joins "S0E" */
                ck_assert_uint_eq(c.n, 2);
                ck_assert_uint_eq(c.r[0].len, 4 + L);
                ck_assert_mem_eq(c.r[0].data, in, 4 + L);
            }
            sp_framer_free(&f);
            coll_free(&c);
        }
    }
    free(in);
    re_free(re);
}
END_TEST

/* Buffer growth ends whatever the need and the bound: a record that needs
 * more than the cap after sp_framer_set_max lowered it under a line being
 * classified, and a cap and match window of SIZE_MAX (whose bound + 1
 * wraps). Each once looped for ever. */
START_TEST(test_growth_ends)
{
    regex_t *re = re_new("^S");
    sp_framer f;
    coll c;
    sp_err err = {0};
    char line[300];
    memset(line, 'x', sizeof line);
    line[0] = 'S';

    /* 256 bytes held apart to classify (the first growth step, exactly
     * full), then the cap drops to 10 before the newline comes. */
    coll_init(&c);
    fr_init(&f, 1000, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){re, NULL, 0});
    ck_assert_int_eq(sp_framer_feed(&f, line, 256, &err), SP_OK);
    ck_assert_uint_eq(f.lcap, 256);
    ck_assert_int_eq(sp_framer_set_max(&f, 10, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "\n", 1, &err), SP_OK);
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    size_t total = 0;
    for (size_t i = 0; i < c.n; i++) {
        ck_assert_uint_le(c.r[i].len, 10);
        total += c.r[i].len;
    }
    ck_assert_uint_eq(c.n, 26);
    ck_assert_uint_eq(total, 256);
    sp_framer_free(&f);
    coll_free(&c);

    /* No bound at all: a 300-byte line classified straight from the input. */
    coll_init(&c);
    fr_init(&f, SIZE_MAX, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){re, NULL, 0});
    sp_framer_set_match_bytes(&f, SIZE_MAX);
    ck_assert_int_eq(sp_framer_feed(&f, line, sizeof line, &err), SP_OK);
    ck_assert_int_eq(sp_framer_feed(&f, "\n", 1, &err), SP_OK);
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.r[0].len, sizeof line);
    sp_framer_free(&f);
    coll_free(&c);

    coll_init(&c);
    fr_init(&f, SIZE_MAX, SP_OVERSIZE_SPLIT, 0, &c, &(fopts){re, NULL, 0});
    sp_framer_set_match_bytes(&f, SIZE_MAX);
    char in[302];
    memcpy(in, line, sizeof line);
    memcpy(in + sizeof line, "\n", 2);
    ck_assert_int_eq(sp_framer_feed(&f, in, sizeof line + 1, &err), SP_OK);
    ck_assert_int_eq(sp_framer_finish(&f, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.r[0].len, sizeof line);
    sp_framer_free(&f);
    coll_free(&c);
    re_free(re);
}
END_TEST

static Suite *framer_suite(void)
{
    Suite *s = suite_create("framer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_oversize_names);
    tcase_add_test(tc, test_init_errors);
    tcase_add_test(tc, test_lines_basic);
    tcase_add_test(tc, test_start_offset);
    tcase_add_test(tc, test_bytes_untouched);
    tcase_add_test(tc, test_split_lengths);
    tcase_add_test(tc, test_truncate_lengths);
    tcase_add_test(tc, test_drop_lengths);
    tcase_add_test(tc, test_unterminated);
    tcase_add_test(tc, test_stats_mixed);
    tcase_add_test(tc, test_zero_copy);
    tcase_add_test(tc, test_chunking_equivalence);
    tcase_add_test(tc, test_memory_bounded);
    tcase_add_test(tc, test_many_lines_one_chunk);
    tcase_add_test(tc, test_emit_failure);
    tcase_add_test(tc, test_set_max);
    tcase_add_test(tc, test_flush_pending);
    tcase_add_test(tc, test_terminator);
    tcase_add_test(tc, test_skip_lines);
    tcase_add_test(tc, test_multiline_basic);
    tcase_add_test(tc, test_multiline_oversize);
    tcase_add_test(tc, test_extensions_chunking_equivalence);
    tcase_add_test(tc, test_discard_partial);
    tcase_add_test(tc, test_multiline_match_window);
    suite_add_tcase(s, tc);
    TCase *grow = tcase_create("growth");
    tcase_set_timeout(grow, 10);    /* a growth that never ends fails here */
    tcase_add_test(grow, test_growth_ends);
    suite_add_tcase(s, grow);
    return s;
}

SP_CHECK_MAIN(framer_suite)
