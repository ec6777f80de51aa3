/* A strict one-pass reader of PutRecords responses (RFC 8259 grammar):
 * members it does not need are checked and skipped, the strings it needs
 * are decoded into the caller's scratch buffer. Nothing is allocated per
 * entry, and a response of all successes is one walk over its bytes. */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "shardpipe/putresp.h"

#define MAX_DEPTH 64      /* nesting allowed in skipped values */

/* 1 for the bytes a string holds as they are: all but '"', '\\' and
 * controls. */
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, P16,
    P16, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    P16, P16,
    P16, P16, P16, P16, P16, P16, P16, P16,
};
#undef P16

/* The end of the run of plain bytes from q: the first '"', '\\' or
 * control byte, or end. SSE2 (every x86-64 has it) looks at 16 bytes at
 * a time while 16 are left. */
static const char *plain_run(const char *q, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                   _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
        int m = _mm_movemask_epi8(hit);
        if (m != 0)
            return q + __builtin_ctz((unsigned)m);
        q += 16;
    }
#endif
    while (q < end && plain[(unsigned char)*q])
        q++;
    return q;
}

struct scan {
    const char *p, *end;
    sp_buf *out;          /* decoded strings; reserved up front, never moves */
    const char *why;      /* first syntax error */
};

static int fail(struct scan *s, const char *why)
{
    if (s->why == NULL)
        s->why = why;
    return -1;
}

static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int lit(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, "unknown literal");
    s->p += n;
    return 0;
}

static int hex4(struct scan *s, unsigned *v)
{
    if (s->end - s->p < 4)
        return fail(s, "short \\u escape");
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *s->p++;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
        if (d == 16)
            return fail(s, "bad \\u escape");
        *v = *v << 4 | d;
    }
    return 0;
}

static void put_utf8(char **o, unsigned cp)
{
    char *w = *o;
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | cp >> 12);
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | cp >> 18);
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    *o = w;
}

/* A string at s->p (the opening quote). keep: decode it into s->out and
 * set *at to its offset there; otherwise only check it. A decoded string
 * never outgrows its quoted text, which is what makes the single
 * reservation in sp_putresp_parse enough. */
static int str(struct scan *s, int keep, size_t *at)
{
    if (s->p >= s->end || *s->p != '"')
        return fail(s, "expected a string");
    s->p++;
    char *o = keep ? s->out->data + s->out->len : NULL;
    char *start = o;
    for (;;) {
        /* The plain run first: most strings are nothing else. */
        const char *q = plain_run(s->p, s->end);
        if (keep) {
            memcpy(o, s->p, (size_t)(q - s->p));
            o += q - s->p;
        }
        s->p = q;
        if (q >= s->end)
            return fail(s, "unterminated string");
        if (*q == '"')
            break;
        if (*q != '\\')
            return fail(s, "control character in a string");
        if (s->end - q < 2)
            return fail(s, "unterminated string");
        char e = q[1];
        s->p = q + 2;
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/': cp = (unsigned char)e; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (hex4(s, &cp) != 0)
                return -1;
            if (cp >= 0xd800 && cp < 0xdc00 && s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u') {
                const char *back = s->p;
                unsigned lo;
                s->p += 2;
                if (hex4(s, &lo) != 0)
                    return -1;
                if (lo >= 0xdc00 && lo < 0xe000)
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else
                    s->p = back;   /* a lone high surrogate, then another escape */
            }
            if (cp >= 0xd800 && cp < 0xe000)
                cp = 0xfffd;       /* a lone surrogate: not a character */
            break;
        default:
            return fail(s, "bad escape in a string");
        }
        if (keep)
            put_utf8(&o, cp);
    }
    s->p++;   /* the closing quote */
    if (keep) {
        *o++ = '\0';
        *at = s->out->len;
        s->out->len += (size_t)(o - start);
    }
    return 0;
}

static int number(struct scan *s)
{
    const char *p = s->p;
    if (p < s->end && *p == '-')
        p++;
    if (p >= s->end || *p < '0' || *p > '9')
        return fail(s, "bad number");
    if (*p == '0')
        p++;
    else
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    if (p < s->end && *p == '.') {
        p++;
        if (p >= s->end || *p < '0' || *p > '9')
            return fail(s, "bad number");
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || *p < '0' || *p > '9')
            return fail(s, "bad number");
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    return 0;
}

static int value(struct scan *s, int depth);

/* At an opening bracket: steps in, and 1 when the container is empty
 * (then past its end as well). */
static int open_empty(struct scan *s, char close)
{
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 1;
    }
    return 0;
}

/* After a member or element: 1 at ',' (another follows), 0 at the closing
 * bracket (then past it), -1 for anything else. */
static int more(struct scan *s, char close)
{
    ws(s);
    if (s->p < s->end && *s->p == ',') {
        s->p++;
        ws(s);
        return 1;
    }
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    return fail(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static int key(struct scan *s, const char **k, size_t *n);

/* Checks and passes over an object or array (at its opening bracket). */
static int skip_container(struct scan *s, int depth)
{
    if (depth >= MAX_DEPTH)
        return fail(s, "nested too deeply");
    char close = *s->p == '{' ? '}' : ']';
    int obj = close == '}';
    if (open_empty(s, close))
        return 0;
    for (;;) {
        const char *k;
        size_t kn;
        if (obj && key(s, &k, &kn) != 0)
            return -1;
        if (value(s, depth + 1) != 0)
            return -1;
        int m = more(s, close);
        if (m <= 0)
            return m;
    }
}

static int value(struct scan *s, int depth)
{
    if (s->p >= s->end)
        return fail(s, "expected a value");
    switch (*s->p) {
    case '"': return str(s, 0, NULL);
    case '{': case '[': return skip_container(s, depth);
    case 't': return lit(s, "true", 4);
    case 'f': return lit(s, "false", 5);
    case 'n': return lit(s, "null", 4);
    default: return number(s);
    }
}

/* A member name, compared without decoding: the names we look for have
 * no escapes, and a name spelled with escapes is (harmlessly) unknown. */
#define KEY_IS(k, n, lit) ((n) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

/* Reads a member name at s->p: k and n give its raw text. */
static int key(struct scan *s, const char **k, size_t *n)
{
    const char *start = s->p + 1;
    if (str(s, 0, NULL) != 0)
        return -1;
    *k = start;
    *n = (size_t)(s->p - 1 - start);
    ws(s);
    if (s->p >= s->end || *s->p != ':')
        return fail(s, "expected ':'");
    s->p++;
    ws(s);
    return 0;
}

/* One entry object into e (NULL: past nsent, only checked). bad: set
 * when it is not an object. The strings point into s->out, which was
 * reserved whole before the walk and so does not move. */
static int entry(struct scan *s, sp_put_result *e, int *bad)
{
    int keep = e != NULL;
    if (*s->p != '{') {
        *bad = 1;
        return value(s, 1);
    }
    if (open_empty(s, '}'))
        return 0;
    for (;;) {
        const char *k;
        size_t n;
        if (key(s, &k, &n) != 0)
            return -1;
        const char **slot = NULL;
        if (keep) {
            if (KEY_IS(k, n, "SequenceNumber"))
                slot = &e->seq;
            else if (KEY_IS(k, n, "ShardId"))
                slot = &e->shard_id;
            else if (KEY_IS(k, n, "ErrorCode"))
                slot = &e->code;
            else if (KEY_IS(k, n, "ErrorMessage"))
                slot = &e->message;
        }
        if (slot && s->p < s->end && *s->p == '"') {
            size_t at;
            if (str(s, 1, &at) != 0)
                return -1;
            *slot = s->out->data + at;
        } else {
            if (slot)
                *slot = NULL;  /* the last of duplicate members counts, as in json-c */
            if (value(s, 2) != 0)
                return -1;
        }
        int m = more(s, '}');
        if (m <= 0)
            return m;
    }
}

int sp_putresp_parse(const char *text, size_t len, size_t nsent, sp_put_result *out,
                     sp_buf *scratch, sp_err *err)
{
    sp_buf_reset(scratch);
    if (sp_buf_reserve(scratch, len + 1) != SP_OK)
        return sp_err_setc(err, SP_E_NOMEM, "PutRecords: no memory to read a %zu-byte response", len);
    struct scan s = {text, text + len, scratch, NULL};
    size_t n = 0;          /* entries in the last Records member */
    int have_records = 0, bad_entry = 0;

    ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return sp_err_setc(err, SP_E_INVALID, "PutRecords: the response is not a JSON object");
    int empty = open_empty(&s, '}');
    while (!empty) {
        const char *k;
        size_t kn;
        if (key(&s, &k, &kn) != 0)
            goto syntax;
        if (KEY_IS(k, kn, "Records") && s.p < s.end && *s.p == '[') {
            have_records = 1;
            bad_entry = 0;
            n = 0;
            if (!open_empty(&s, ']')) {
                for (;;) {
                    sp_put_result *e = n < nsent ? &out[n] : NULL;
                    if (e)
                        memset(e, 0, sizeof *e);
                    if (s.p >= s.end || entry(&s, e, &bad_entry) != 0)
                        goto syntax;
                    n++;
                    int m = more(&s, ']');
                    if (m < 0)
                        goto syntax;
                    if (m == 0)
                        break;
                }
            }
        } else {
            if (KEY_IS(k, kn, "Records"))
                have_records = 0;   /* a later non-array Records replaces an earlier one */
            if (value(&s, 1) != 0)
                goto syntax;
        }
        int m = more(&s, '}');
        if (m < 0)
            goto syntax;
        if (m == 0)
            break;
    }
    ws(&s);
    if (s.p != s.end) {
        fail(&s, "text after the object");
        goto syntax;
    }
    if (!have_records)
        return sp_err_set(err, "PutRecords: response has no Records array");
    if (bad_entry)
        return sp_err_set(err, "PutRecords: an entry of Records is not an object");
    if (n != nsent)
        return sp_err_set(err, "PutRecords: response has %zu entries for %zu records sent", n, nsent);
    for (size_t i = 0; i < n; i++) {
        if (out[i].seq && out[i].seq[0] == '\0')
            out[i].seq = NULL;
        if (out[i].seq == NULL && out[i].code == NULL)
            out[i].code = "MissingSequenceNumber"; /* success means a sequence number */
    }
    return SP_OK;

syntax:
    return sp_err_setc(err, SP_E_INVALID, "PutRecords: the response is not valid JSON: %s at byte %zu",
                       s.why ? s.why : "unexpected end", (size_t)(s.p - text));
}
