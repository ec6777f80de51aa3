/* The Kinesis part of the benchmark's sink (bench/sink.c): MD5 routing,
 * the exactly-once hash, a JSON scanner, base64, the per-shard limits and
 * the operations. */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "sink.h"

static void put_u128(struct buf *b, u128 v)
{
    char d[40];
    int i = sizeof d;
    do {
        d[--i] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    put(b, d + i, sizeof d - (size_t)i);
}

/* ---- hashing: MD5 for routing, a 64-bit hash for the exactly-once sums ---- */

static uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static void md5_block(const uint32_t *k, uint32_t h[4], const unsigned char *p)
{
    static const unsigned char rot[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};
    uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    /* unrolled, the round's function, word and shift are constants */
#pragma GCC unroll 64
    for (int i = 0; i < 64; i++) {
        int q = i >> 4, g = q == 0 ? i : q == 1 ? (5 * i + 1) & 15 : q == 2 ? (3 * i + 5) & 15 : (7 * i) & 15;
        uint32_t f = q == 0 ? (b & c) | (~b & d) : q == 1 ? (d & b) | (~d & c) : q == 2 ? b ^ c ^ d : c ^ (b | ~d);
        uint32_t t = d;
        d = c;
        c = b;
        b = b + rotl32(a + f + k[i] + w[g], rot[(i >> 4) * 4 + (i & 3)]);
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

/* The MD5 of p as a big-endian 128-bit number (how Kinesis routes). */
static u128 md5_u128(const uint32_t *k, const void *data, size_t n)
{
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const unsigned char *p = data;
    size_t left = n;
    for (; left >= 64; p += 64, left -= 64)
        md5_block(k, h, p);
    unsigned char t[128];
    size_t tl = left < 56 ? 64 : 128;
    memcpy(t, p, left);
    t[left] = 0x80;
    memset(t + left + 1, 0, tl - 8 - left - 1);
    uint64_t bits = (uint64_t)n * 8;   /* little-endian, as MD5 wants */
    memcpy(t + tl - 8, &bits, 8);
    md5_block(k, h, t);
    if (tl == 128)
        md5_block(k, h, t + 64);
    /* the digest's bytes are h[0..3] little-endian: read big-endian */
    return (u128)__builtin_bswap32(h[0]) << 96 | (u128)__builtin_bswap32(h[1]) << 64 |
           (u128)__builtin_bswap32(h[2]) << 32 | __builtin_bswap32(h[3]);
}

/* K[i] = floor(|sin(i + 1)| * 2^32), checked against OpenSSL's MD5 once. */
int md5_init(uint32_t *k)
{
    for (int i = 0; i < 64; i++)
        k[i] = (uint32_t)(fabs(sin((double)i + 1)) * 4294967296.0);
    static const char *const probe[] = {"", "abc", "0123456789abcdef0123456789abcdef0123456789abcdef0123456",
                                        "a key longer than one block of sixty-four bytes, to check the second "
                                        "and third blocks of the padding code path as well as the first one."};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        unsigned char d[16];
        unsigned int dl = 0;
        if (EVP_Digest(probe[i], strlen(probe[i]), d, &dl, EVP_md5(), NULL) != 1)
            return -1;
        u128 v = 0;
        for (int j = 0; j < 16; j++)
            v = v << 8 | d[j];
        if (v != md5_u128(k, probe[i], strlen(probe[i])))
            return -1;
    }
    return 0;
}

static uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Not cryptographic: a duplicated or a lost record changes the sum. A
 * multiply and a shift per word, then a full mix. */
uint64_t hash64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xc2b2ae3d27d4eb4fULL), w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0xc4ceb9fe1a85ec53ULL;
    return fmix64(h);
}

/* ---- JSON: a scanner over the request body, decoding strings in place ---- */


static void ws(struct js *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int eat(struct js *j, char c)
{
    ws(j);
    if (j->p < j->e && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

static int hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* A string, unescaped in place (never longer than its source). */
static int jstr(struct js *j, char **s, size_t *n)
{
    if (!eat(j, '"'))
        return j->bad = 1, -1;
    char *start = j->p, *q = memchr(j->p, '"', (size_t)(j->e - j->p)), *bs;
    if (q == NULL)
        return j->bad = 1, -1;
    bs = memchr(start, '\\', (size_t)(q - start));
    if (bs == NULL) {              /* the usual case: nothing escaped */
        *s = start;
        *n = (size_t)(q - start);
        j->p = q + 1;
        return 0;
    }
    char *r = bs, *w = bs;
    while (r < j->e && *r != '"') {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        if (j->e - r < 2)
            return j->bad = 1, -1;
        char c = r[1];
        r += 2;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c && simple) {
            *w++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        uint32_t u, lo;
        if (c != 'u' || j->e - r < 4 || hex4(r, &u))
            return j->bad = 1, -1;
        r += 4;
        if (u >= 0xd800 && u < 0xdc00 && j->e - r >= 6 && r[0] == '\\' && r[1] == 'u' && !hex4(r + 2, &lo) &&
            lo >= 0xdc00 && lo < 0xe000) {
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            r += 6;
        }
        /* 2 to 4 output bytes come from at least 6 input bytes */
        int extra = u < 0x80 ? 0 : u < 0x800 ? 1 : u < 0x10000 ? 2 : 3;
        *w++ = (char)(extra ? ((0xff << (7 - extra)) & 0xff) | (u >> (6 * extra)) : u);
        for (int b = extra - 1; b >= 0; b--)
            *w++ = (char)(0x80 | ((u >> (6 * b)) & 0x3f));
    }
    if (r >= j->e)
        return j->bad = 1, -1;
    *s = start;
    *n = (size_t)(w - start);
    j->p = r + 1;
    return 0;
}

/* Skips any value (depth-bounded). */
static void jskip(struct js *j, int depth)
{
    char *s;
    size_t n;
    ws(j);
    if (j->p >= j->e || depth > 32) {
        j->bad = 1;
        return;
    }
    char c = *j->p;
    if (c == '"') {
        jstr(j, &s, &n);
    } else if (c == '{' || c == '[') {
        j->p++;
        char close = c == '{' ? '}' : ']';
        if (eat(j, close))
            return;
        do {
            if (c == '{' && (jstr(j, &s, &n) || !eat(j, ':')))
                j->bad = 1;
            if (!j->bad)
                jskip(j, depth + 1);
        } while (!j->bad && eat(j, ','));
        if (!j->bad && !eat(j, close))
            j->bad = 1;
    } else {                       /* number, true, false, null */
        char *st = j->p;
        while (j->p < j->e && strchr(",}] \t\r\n", *j->p) == NULL)
            j->p++;
        if (j->p == st)
            j->bad = 1;
    }
}

static int b64val(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
         : c == '+' ? 62 : c == '/' ? 63 : -1;
}

void b64_init(uint16_t *pair)
{
    for (int i = 0; i < 65536; i++) {
        int a = b64val((unsigned char)(i & 0xff)), b = b64val((unsigned char)(i >> 8));
        pair[i] = a < 0 || b < 0 ? 0xffff : (uint16_t)(a << 6 | b);
    }
}

/* Standard base64 with padding, decoded in place; -1 when invalid. Two
 * characters at a time through pair[] (b64_init). */
static int b64dec(const uint16_t *pair, char *s, size_t n, size_t *out)
{
    if (n % 4)
        return -1;
    const unsigned char *r = (const unsigned char *)s;
    unsigned char *w = (unsigned char *)s;
    size_t full = n && r[n - 1] == '=' ? n - 4 : n, i = 0;
    /* 8 characters to 6 bytes, stored as 8: the 2 extra land on input
     * already read (w + 8 <= r + i + 8) and are overwritten next */
    for (; i + 8 <= full; i += 8) {
        uint64_t q;
        memcpy(&q, r + i, 8);
        uint64_t a = pair[q & 0xffff], b = pair[(q >> 16) & 0xffff], c = pair[(q >> 32) & 0xffff],
                 d = pair[q >> 48];
        if ((a | b | c | d) & 0xf000)
            return -1;
        uint64_t v = a << 36 | b << 24 | c << 12 | d, be = __builtin_bswap64(v << 16);
        memcpy(w, &be, 8);
        w += 6;
    }
    for (; i < full; i += 4) {
        uint32_t q;                /* little-endian: r[i] in the low byte */
        memcpy(&q, r + i, 4);
        uint32_t x = pair[q & 0xffff], y = pair[q >> 16];
        if ((x | y) & 0xf000)
            return -1;
        uint32_t v = x << 12 | y;
        w[0] = (unsigned char)(v >> 16);
        w[1] = (unsigned char)(v >> 8);
        w[2] = (unsigned char)v;
        w += 3;
    }
    if (full < n) {                /* the padded group: one or two bytes */
        uint32_t x = pair[r[full] | r[full + 1] << 8];
        int c = r[full + 2] == '=' ? 0 : b64val(r[full + 2]);
        if ((x & 0xf000) || c < 0)
            return -1;
        *w++ = (unsigned char)(x >> 4);
        if (r[full + 2] != '=')
            *w++ = (unsigned char)((x & 15) << 4 | (unsigned)c >> 2);
    }
    *out = (size_t)(w - (unsigned char *)s);
    return 0;
}

/* ---- the stream ---- */

static uint32_t route(const struct sink *s, u128 h)
{
    u128 i = h / s->step;          /* one shard: step 2^128 - 1 */
    return i >= s->nshards ? s->nshards - 1 : (uint32_t)i;
}

static int parse_ehk(const char *p, size_t n, u128 *v)
{
    *v = 0;
    if (n == 0 || n > 39 || (n > 1 && p[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        u128 nv = *v * 10 + (u128)(p[i] - '0');
        if (nv / 10 != *v)
            return -1;
        *v = nv;
    }
    return 0;
}

static void next_seq(struct sink *s)
{
    for (int i = 55; i > 2; i--) {
        if (s->seq[i] != '9') {
            s->seq[i]++;
            return;
        }
        s->seq[i] = '0';
    }
}

/* Whether shard x takes one more record of nb bytes (key + data) now. */
static int admit(struct sink *s, struct shard *x, uint64_t nb, double now)
{
    if (s->limit == LIM_BUCKET) {
        double dt = now - x->last;
        x->last = now;
        x->tok_n = fmin(s->lim_n, x->tok_n + dt * s->lim_n);
        x->tok_b = fmin(s->lim_b, x->tok_b + dt * s->lim_b);
        /* a record bigger than the burst passes on a full bucket */
        if (x->tok_n < 1 || (x->tok_b < (double)nb && x->tok_b < s->lim_b))
            return 0;
        x->tok_n -= 1;
        x->tok_b -= (double)nb;
        return 1;
    }
    /* rolling: the slots of the last second, oldest at head */
    while (x->used && x->ring[x->head].t <= now - 1.0) {
        x->win_n -= x->ring[x->head].n;
        x->win_b -= x->ring[x->head].b;
        x->head = (x->head + 1) % x->cap;
        x->used--;
    }
    if (x->win_n + 1 > s->lim_n || ((double)(x->win_b + nb) > s->lim_b && x->win_b > 0))
        return 0;
    x->win_n++;
    x->win_b += nb;
    if (x->used && x->ring[(x->head + x->used - 1) % x->cap].t == now) {
        struct slot *l = &x->ring[(x->head + x->used - 1) % x->cap];
        l->n++;
        l->b += nb;
        return 1;
    }
    if (x->used == x->cap) {       /* at most one slot per record in the window */
        uint32_t cap = x->cap ? x->cap * 2 : 16;
        struct slot *r = malloc(cap * sizeof *r);
        if (r == NULL)
            return 1;              /* unlimited rather than wrong */
        for (uint32_t i = 0; i < x->used; i++)
            r[i] = x->ring[(x->head + i) % x->cap];
        free(x->ring);
        x->ring = r;
        x->cap = cap;
        x->head = 0;
    }
    x->ring[(x->head + x->used) % x->cap] = (struct slot){now, 1, nb};
    x->used++;
    return 1;
}

double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- operations: each fills s->body and returns the HTTP status, or sets
 * *type and *msg for an error ---- */


int fail(struct res *r, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->type = type;
    return -1;
}

static int check_stream(struct sink *s, struct res *r, const char *name, size_t n)
{
    if (name == NULL)
        return fail(r, 400, "ValidationException", "StreamName or StreamARN is required");
    const char *slash = memrchr(name, '/', n);
    if (slash) {
        n -= (size_t)(slash + 1 - name);
        name = slash + 1;
    }
    if (n != strlen(s->stream) || memcmp(name, s->stream, n) != 0)
        return fail(r, 400, "ResourceNotFoundException", "Stream %.*s under account " ACCOUNT " not found.",
                    (int)(n > 128 ? 128 : n), name);
    return 0;
}

/* One record object {"Data", "PartitionKey", "ExplicitHashKey"} into e;
 * PutRecord's body is one too, with the stream's name beside (name). */
static int parse_entry(struct sink *s, struct js *j, struct entry *e, struct res *r, size_t idx, char **name,
                       size_t *namen)
{
    char *k, *ehk = NULL;
    size_t kn, ehkn = 0;
    e->pk = e->data = NULL;
    if (!eat(j, '{'))
        return fail(r, 400, "SerializationException", "records.%zu is not an object", idx);
    int empty = eat(j, '}');
    if (!empty)
        do {
            if (jstr(j, &k, &kn) || !eat(j, ':'))
                break;
            char **dst = NULL;
            size_t *dn = NULL;
            if (kn == 4 && !memcmp(k, "Data", 4))
                dst = &e->data, dn = &e->datan;
            else if (kn == 12 && !memcmp(k, "PartitionKey", 12))
                dst = &e->pk, dn = &e->pkn;
            else if (kn == 15 && !memcmp(k, "ExplicitHashKey", 15))
                dst = &ehk, dn = &ehkn;
            else if (name && ((kn == 10 && !memcmp(k, "StreamName", 10)) || (kn == 9 && !memcmp(k, "StreamARN", 9))))
                dst = name, dn = namen;
            if (dst)
                jstr(j, dst, dn);
            else
                jskip(j, 2);
        } while (!j->bad && eat(j, ','));
    if (j->bad || (!empty && !eat(j, '}')))
        return fail(r, 400, "SerializationException", "records.%zu: malformed JSON", idx);
    if (name && check_stream(s, r, *name, *namen) != 0)
        return -1;
    if (e->pk == NULL || e->pkn < 1 || e->pkn > 256 * 4)
        return fail(r, 400, "ValidationException", "records.%zu.member.partitionKey must have length 1 to 256",
                    idx);
    if (e->data == NULL || b64dec(s->b64pair, e->data, e->datan, &e->datan) != 0)
        return fail(r, 400, "SerializationException", "Base64 encoded value of 'records.%zu.member.data' is not "
                                                      "valid", idx);
    if (e->datan + e->pkn > 1048576)
        return fail(r, 400, "ValidationException", "records.%zu.member.data must have length less than or equal "
                                                   "to 1048576", idx);
    u128 h;
    if (ehk && parse_ehk(ehk, ehkn, &h) != 0)
        return fail(r, 400, "InvalidArgumentException", "Invalid ExplicitHashKey. ExplicitHashKey must be in the "
                                                        "range: [0, 2^128-1].");
    e->shard = route(s, ehk ? h : md5_u128(s->md5k, e->pk, e->pkn));
    return 0;
}

/* Stores entry e (or refuses it over the limit): 1 stored. */
static int store(struct sink *s, const struct entry *e, double now)
{
    struct shard *x = &s->sh[e->shard];
    if (s->limit != LIM_OFF && !admit(s, x, e->pkn + e->datan, now)) {
        x->throttled++;
        s->throttled++;
        return 0;
    }
    uint64_t h = hash64(e->data, e->datan);
    s->sum += h;
    s->xor ^= h;
    s->records++;
    s->data_bytes += e->datan;
    s->key_bytes += e->pkn;
    x->records++;
    x->bytes += e->datan;
    next_seq(s);
    return 1;
}

static void put_throttled(struct sink *s, struct buf *b, uint32_t shard)
{
    putf(b, "{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"Rate exceeded for "
            "shard %s in stream %s under account " ACCOUNT ".\"}", s->shard_ids[shard], s->stream);
}

int op_put_records(struct sink *s, struct js *j, struct res *r)
{
    char *k, *name = NULL;
    size_t kn, namen = 0, n = 0;
    int have_records = 0;
    if (!eat(j, '{'))
        return fail(r, 400, "SerializationException", "the body is not a JSON object");
    do {
        if (jstr(j, &k, &kn) || !eat(j, ':'))
            break;
        if ((kn == 10 && !memcmp(k, "StreamName", 10)) || (kn == 9 && !memcmp(k, "StreamARN", 9))) {
            jstr(j, &name, &namen);
        } else if (kn == 7 && !memcmp(k, "Records", 7)) {
            have_records = 1;
            if (!eat(j, '['))
                return fail(r, 400, "SerializationException", "Records must be a list");
            if (!eat(j, ']'))
                do {
                    if (n == MAX_ENTRIES)
                        return fail(r, 400, "ValidationException", "1 validation error detected: Value at "
                                    "'records' failed to satisfy constraint: Member must have length less than "
                                    "or equal to 500");
                    if (parse_entry(s, j, &s->ent[n], r, n + 1, NULL, NULL) != 0)
                        return -1;
                    n++;
                } while (eat(j, ','));
            if (n && !eat(j, ']'))
                j->bad = 1;
        } else {
            jskip(j, 1);
        }
    } while (!j->bad && eat(j, ','));
    if (j->bad || !eat(j, '}'))
        return fail(r, 400, "SerializationException", "malformed JSON");
    if (check_stream(s, r, name, namen) != 0)
        return -1;
    if (!have_records || n == 0)
        return fail(r, 400, "ValidationException", "1 validation error detected: Value at 'records' failed to "
                                                   "satisfy constraint: Member must have length greater than or "
                                                   "equal to 1");
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += s->ent[i].pkn + s->ent[i].datan;
    if (total > 10u << 20)
        return fail(r, 400, "InvalidArgumentException", "Records size %zu bytes exceeds the request limit of "
                                                        "10485760 bytes (partition keys + data).", total);
    /* The entries' results go after the count, which is known only at the
     * end: reserve its place, then slide the digits in. */
    double now = mono();
    struct buf *b = &s->body;
    PUTS(b, "{\"FailedRecordCount\":          ,\"Records\":[");
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            PUTS(b, ",");
        if (store(s, &s->ent[i], now)) {
            PUTS(b, "{\"SequenceNumber\":\"");
            put(b, s->seq, 56);
            PUTS(b, "\",\"ShardId\":\"");
            put(b, s->shard_ids[s->ent[i].shard], 20);
            PUTS(b, "\"}");
        } else {
            failed++;
            put_throttled(s, b, s->ent[i].shard);
        }
    }
    PUTS(b, "],\"EncryptionType\":\"NONE\"}");
    if (!b->failed) {
        char d[12];
        int dn = snprintf(d, sizeof d, "%zu", failed);
        char *at = b->p + sizeof "{\"FailedRecordCount\":" - 1;
        memcpy(at, d, (size_t)dn);
        memmove(at + dn, at + 10, b->len - (size_t)(at + 10 - b->p));
        b->len -= (size_t)(10 - dn);
    }
    return 200;
}

int op_put_record(struct sink *s, struct js *j, struct res *r)
{
    char *name = NULL;
    size_t namen = 0;
    struct entry *e = &s->ent[0];
    if (parse_entry(s, j, e, r, 1, &name, &namen) != 0)
        return -1;
    if (!store(s, e, mono()))
        return fail(r, 400, "ProvisionedThroughputExceededException", "Rate exceeded for shard %s in stream %s "
                    "under account " ACCOUNT ".", s->shard_ids[e->shard], s->stream);
    putf(&s->body, "{\"SequenceNumber\":\"%s\",\"ShardId\":\"%s\",\"EncryptionType\":\"NONE\"}", s->seq,
         s->shard_ids[e->shard]);
    return 200;
}

/* ListShards and DescribeStreamSummary: read the few fields they take. */
int op_control(struct sink *s, int op, struct js *j, struct res *r)
{
    char *k, *name = NULL, *token = NULL, *after = NULL, *v;
    size_t kn, namen = 0, tokenn = 0, aftern = 0, vn;
    long max = 1000;
    if (!eat(j, '{'))
        return fail(r, 400, "SerializationException", "the body is not a JSON object");
    if (!eat(j, '}')) {
        do {
            if (jstr(j, &k, &kn) || !eat(j, ':'))
                break;
            if ((kn == 10 && !memcmp(k, "StreamName", 10)) || (kn == 9 && !memcmp(k, "StreamARN", 9))) {
                jstr(j, &name, &namen);
            } else if (kn == 9 && !memcmp(k, "NextToken", 9)) {
                jstr(j, &token, &tokenn);
            } else if (kn == 21 && !memcmp(k, "ExclusiveStartShardId", 21)) {
                jstr(j, &after, &aftern);
            } else if (kn == 10 && !memcmp(k, "MaxResults", 10)) {
                ws(j);
                v = j->p;
                jskip(j, 1);
                vn = (size_t)(j->p - v);
                max = vn && vn < 8 ? strtol(v, NULL, 10) : 0;
            } else {
                jskip(j, 1);
            }
        } while (!j->bad && eat(j, ','));
        if (j->bad || !eat(j, '}'))
            return fail(r, 400, "SerializationException", "malformed JSON");
    }
    struct buf *b = &s->body;
    if (op == OP_DESCRIBE) {
        if (check_stream(s, r, name, namen) != 0)
            return -1;
        putf(b, "{\"StreamDescriptionSummary\":{\"StreamName\":\"%s\",\"StreamARN\":\"arn:aws:kinesis:%s:" ACCOUNT
                ":stream/%s\",\"StreamStatus\":\"ACTIVE\",\"StreamModeDetails\":{\"StreamMode\":\"PROVISIONED\"},"
                "\"RetentionPeriodHours\":24,\"StreamCreationTimestamp\":1700000000.0,\"EnhancedMonitoring\":"
                "[{\"ShardLevelMetrics\":[]}],\"EncryptionType\":\"NONE\",\"OpenShardCount\":%u,"
                "\"ConsumerCount\":0,\"MaxRecordSizeInKiB\":1024}}", s->stream, s->region, s->stream, s->nshards);
        return 200;
    }
    uint32_t from = 0;
    if (token != NULL) {           /* our tokens are "sink-OFFSET" */
        if (name != NULL || tokenn < 6 || tokenn > 16 || memcmp(token, "sink-", 5) != 0)
            return fail(r, 400, "InvalidArgumentException", "Invalid NextToken.");
        from = (uint32_t)strtoul(token + 5, NULL, 10);
    } else if (check_stream(s, r, name, namen) != 0) {
        return -1;
    }
    if (after != NULL && aftern > 8 && !memcmp(after, "shardId-", 8))
        from = (uint32_t)strtoul(after + 8, NULL, 10) + 1;
    if (from > s->nshards)
        from = s->nshards;
    if (max < 1 || max > 10000)
        return fail(r, 400, "InvalidArgumentException", "MaxResults must be 1 to 10000");
    uint32_t to = from + (uint32_t)max < s->nshards ? from + (uint32_t)max : s->nshards;
    PUTS(b, "{\"Shards\":[");
    for (uint32_t i = from; i < to; i++) {
        u128 lo = s->step * i, hi = i + 1 == s->nshards ? ~(u128)0 : s->step * (i + 1) - 1;
        putf(b, "%s{\"ShardId\":\"%s\",\"HashKeyRange\":{\"StartingHashKey\":\"", i > from ? "," : "",
             s->shard_ids[i]);
        put_u128(b, lo);
        PUTS(b, "\",\"EndingHashKey\":\"");
        put_u128(b, hi);
        putf(b, "\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"4960000000000000000000000000000000000"
                "0%018u\"}}", i);
    }
    PUTS(b, "]");
    if (to < s->nshards)
        putf(b, ",\"NextToken\":\"sink-%u\"", to);
    PUTS(b, "}");
    return 200;
}

