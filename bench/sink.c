/* A fast local Kinesis sink for the benchmark (bench/README.md): one
 * thread, epoll, HTTP/1.1 keep-alive, plain or TLS. It answers PutRecords,
 * PutRecord, ListShards and DescribeStreamSummary for one stream of N shards
 * (even hash ranges, MD5 routing of the partition key or the
 * ExplicitHashKey), so that what a benchmark measures is the client, not
 * the server (tests/fake/fake_kinesis.py stays for behaviour: it checks
 * SigV4 and injects faults; this one only requires an Authorization header).
 *
 * For the exactly-once check every stored record's data is decoded and a
 * 64-bit hash of it is added into a sum and an xor; `sink --digest FILE`
 * prints the same figures over the lines of a file.
 *
 *   sink [--port N] [--cert PEM --key PEM] [--stream NAME] [--shards N]
 *        [--limit off|rolling|bucket] [--records-per-s N] [--bytes-per-s N]
 *        [--max-body BYTES]
 *   sink --digest FILE
 *
 * The first line on stdout is "listening PORT". GET /stats (unsigned)
 * returns the counters as JSON, GET /stats?shards adds one [records, data
 * bytes, throttled] triple per shard. Only 127.0.0.1 is listened on. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

typedef unsigned __int128 u128;

#define HEAD_MAX (16u << 10)       /* request line + headers */
#define OUT_MAX (16u << 20)        /* one response */
#define MAX_CONNS 4096
#define MAX_ENTRIES 500
#define ACCOUNT "123456789012"

enum { OP_PUTRECORDS, OP_PUTRECORD, OP_LISTSHARDS, OP_DESCRIBE, OP_OTHER, NOPS };
static const char *const op_names[NOPS] = {"PutRecords", "PutRecord", "ListShards",
                                           "DescribeStreamSummary", "other"};
enum { LIM_OFF, LIM_ROLLING, LIM_BUCKET };

struct buf {
    char *p;
    size_t len, cap, max;
    int failed;                    /* an append went over max or out of memory */
};

struct slot {                      /* rolling window: what one request stored */
    double t;
    uint32_t n;
    uint64_t b;
};

struct shard {
    uint64_t records, bytes, throttled;
    /* rolling: a ring of slots and their sums; bucket: the tokens */
    struct slot *ring;
    uint32_t cap, head, used;
    uint64_t win_n, win_b;
    double tok_n, tok_b, last;
};

struct conn {
    int fd;
    SSL *ssl;
    int handshaken, closing, continued;
    uint32_t events;               /* epoll interest now */
    struct buf in, out;
    size_t out_off;
};

struct entry {
    char *pk, *data;
    size_t pkn, datan;
    uint32_t shard;
};

struct sink {
    int ep, lfd;
    SSL_CTX *tls;
    const char *stream, *region;
    uint32_t nshards;
    struct shard *sh;
    char (*shard_ids)[24];
    u128 step;
    int limit;
    double lim_n, lim_b;
    size_t max_body;
    uint32_t md5k[64];
    char seq[57];                  /* the last sequence number, 56 digits */
    uint64_t reqs[NOPS], errors, records, data_bytes, key_bytes, throttled, sum, xor, conns, reqid;
    struct buf body;               /* the response body being built */
    struct entry ent[MAX_ENTRIES];
    char date[40];
    time_t date_t;
};

/* ---- buffers ---- */

static int buf_reserve(struct buf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    if (b->len + more > b->max) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    if (cap > b->max)
        cap = b->max;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void put(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) == 0) {
        memcpy(b->p + b->len, p, n);
        b->len += n;
    }
}

#define PUTS(b, s) put((b), (s), sizeof(s) - 1)

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

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
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
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
    unsigned char t[128] = {0};
    memcpy(t, p, left);
    t[left] = 0x80;
    size_t tl = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        t[tl - 8 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(k, h, t);
    if (tl == 128)
        md5_block(k, h, t + 64);
    u128 v = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            v = v << 8 | ((h[i] >> (8 * j)) & 0xff);
    return v;
}

/* K[i] = floor(|sin(i + 1)| * 2^32), checked against OpenSSL's MD5 once. */
static int md5_init(uint32_t *k)
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

/* Not cryptographic: a duplicated or a lost record changes the sum. */
static uint64_t hash64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xc2b2ae3d27d4eb4fULL), w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h ^= fmix64(w + 0x165667b19e3779f9ULL);
        h = (h << 27 | h >> 37) * 5 + 0x52dce729;
    }
    w = 0;
    memcpy(&w, p, n);
    h ^= fmix64(w ^ ((uint64_t)n << 56));
    return fmix64(h);
}

/* ---- JSON: a scanner over the request body, decoding strings in place ---- */

struct js {
    char *p, *e;
    int bad;
};

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
        /* 3 or 4 output bytes come from at least 6 input bytes */
        if (u < 0x80) {
            *w++ = (char)u;
        } else if (u < 0x800) {
            *w++ = (char)(0xc0 | u >> 6);
            *w++ = (char)(0x80 | (u & 0x3f));
        } else if (u < 0x10000) {
            *w++ = (char)(0xe0 | u >> 12);
            *w++ = (char)(0x80 | ((u >> 6) & 0x3f));
            *w++ = (char)(0x80 | (u & 0x3f));
        } else {
            *w++ = (char)(0xf0 | u >> 18);
            *w++ = (char)(0x80 | ((u >> 12) & 0x3f));
            *w++ = (char)(0x80 | ((u >> 6) & 0x3f));
            *w++ = (char)(0x80 | (u & 0x3f));
        }
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

/* Standard base64 with padding, decoded in place; -1 when invalid. */
static int b64dec(char *s, size_t n, size_t *out)
{
    static signed char tab[256];
    if (tab['A'] == 0 && tab['B'] != 1)
        for (int i = 0; i < 256; i++)
            tab[i] = (signed char)b64val((unsigned char)i);
    if (n % 4)
        return -1;
    const unsigned char *r = (const unsigned char *)s;
    unsigned char *w = (unsigned char *)s;
    for (size_t i = 0; i < n; i += 4) {
        int a = tab[r[i]], b = tab[r[i + 1]], c = tab[r[i + 2]], d = tab[r[i + 3]];
        if (i + 4 == n && r[i + 3] == '=') {
            if (a < 0 || b < 0)
                return -1;
            *w++ = (unsigned char)(a << 2 | b >> 4);
            if (r[i + 2] != '=') {
                if (c < 0)
                    return -1;
                *w++ = (unsigned char)(b << 4 | c >> 2);
            }
            break;
        }
        if ((a | b | c | d) < 0)
            return -1;
        *w++ = (unsigned char)(a << 2 | b >> 4);
        *w++ = (unsigned char)(b << 4 | c >> 2);
        *w++ = (unsigned char)(c << 6 | d);
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

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- operations: each fills s->body and returns the HTTP status, or sets
 * *type and *msg for an error ---- */

struct res {
    int status;
    const char *type;
    char msg[200];
};

static int fail(struct res *r, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct res *r, int status, const char *type, const char *fmt, ...)
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

/* One record object {"Data", "PartitionKey", "ExplicitHashKey"} into e. */
static int parse_entry(struct sink *s, struct js *j, struct entry *e, struct res *r, size_t idx)
{
    char *k, *ehk = NULL;
    size_t kn, ehkn = 0;
    e->pk = e->data = NULL;
    if (!eat(j, '{'))
        return fail(r, 400, "SerializationException", "records.%zu is not an object", idx);
    if (!eat(j, '}'))
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
            if (dst)
                jstr(j, dst, dn);
            else
                jskip(j, 2);
        } while (!j->bad && eat(j, ','));
    if (j->bad || !eat(j, '}'))
        return fail(r, 400, "SerializationException", "records.%zu: malformed JSON", idx);
    if (e->pk == NULL || e->pkn < 1 || e->pkn > 256 * 4)
        return fail(r, 400, "ValidationException", "records.%zu.member.partitionKey must have length 1 to 256",
                    idx);
    if (e->data == NULL || b64dec(e->data, e->datan, &e->datan) != 0)
        return fail(r, 400, "SerializationException", "Base64 encoded value of 'records.%zu.member.data' is not "
                                                      "valid", idx);
    if (e->datan + e->pkn > 1048576)
        return fail(r, 400, "ValidationException", "records.%zu.member.data must have length less than or equal "
                                                   "to 1048576", idx);
    u128 h;
    if (ehk && parse_ehk(ehk, ehkn, &h) != 0)
        return fail(r, 400, "InvalidArgumentException", "Invalid ExplicitHashKey. ExplicitHashKey must be in the "
                                                        "range: [0, 2^128-1].");
    if (ehk == NULL)
        h = md5_u128(s->md5k, e->pk, e->pkn);
    e->shard = route(s, h);
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

static int op_put_records(struct sink *s, struct js *j, struct res *r)
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
                    if (parse_entry(s, j, &s->ent[n], r, n + 1) != 0)
                        return -1;
                    n++;
                } while (eat(j, ','));
            if (!eat(j, ']'))
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

static int op_put_record(struct sink *s, struct js *j, struct res *r)
{
    /* the same fields as a PutRecords entry, beside the stream's */
    char *name = NULL, *k, *ehk = NULL;
    size_t namen = 0, kn, ehkn = 0;
    struct entry *e = &s->ent[0];
    e->pk = e->data = NULL;
    if (!eat(j, '{'))
        return fail(r, 400, "SerializationException", "the body is not a JSON object");
    do {
        if (jstr(j, &k, &kn) || !eat(j, ':'))
            break;
        if ((kn == 10 && !memcmp(k, "StreamName", 10)) || (kn == 9 && !memcmp(k, "StreamARN", 9)))
            jstr(j, &name, &namen);
        else if (kn == 4 && !memcmp(k, "Data", 4))
            jstr(j, &e->data, &e->datan);
        else if (kn == 12 && !memcmp(k, "PartitionKey", 12))
            jstr(j, &e->pk, &e->pkn);
        else if (kn == 15 && !memcmp(k, "ExplicitHashKey", 15))
            jstr(j, &ehk, &ehkn);
        else
            jskip(j, 1);
    } while (!j->bad && eat(j, ','));
    if (j->bad || !eat(j, '}'))
        return fail(r, 400, "SerializationException", "malformed JSON");
    if (check_stream(s, r, name, namen) != 0)
        return -1;
    if (e->pk == NULL || e->pkn < 1 || e->pkn > 1024)
        return fail(r, 400, "ValidationException", "partitionKey must have length 1 to 256");
    if (e->data == NULL || b64dec(e->data, e->datan, &e->datan) != 0)
        return fail(r, 400, "SerializationException", "Base64 encoded value of 'data' is not valid");
    u128 h;
    if (ehk && parse_ehk(ehk, ehkn, &h) != 0)
        return fail(r, 400, "InvalidArgumentException", "Invalid ExplicitHashKey.");
    if (ehk == NULL)
        h = md5_u128(s->md5k, e->pk, e->pkn);
    e->shard = route(s, h);
    if (!store(s, e, mono()))
        return fail(r, 400, "ProvisionedThroughputExceededException",
                    "Rate exceeded for shard %s in stream %s under account " ACCOUNT ".", s->shard_ids[e->shard],
                    s->stream);
    putf(&s->body, "{\"SequenceNumber\":\"%s\",\"ShardId\":\"%s\",\"EncryptionType\":\"NONE\"}", s->seq,
         s->shard_ids[e->shard]);
    return 200;
}

/* ListShards and DescribeStreamSummary: read the few fields they take. */
static int op_control(struct sink *s, int op, struct js *j, struct res *r)
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

/* ---- HTTP ---- */

static const char *reason(int status)
{
    return status == 200 ? "OK" : status == 100 ? "Continue" : status == 400 ? "Bad Request" : status == 403
           ? "Forbidden" : status == 404 ? "Not Found" : status == 413 ? "Payload Too Large" : status == 431
           ? "Request Header Fields Too Large" : status == 501 ? "Not Implemented" : "Internal Server Error";
}

static void respond(struct sink *s, struct conn *c, int status, const char *type)
{
    time_t now = time(NULL);
    if (now != s->date_t) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_t = now;
    }
    putf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: %zu\r\n"
                  "x-amzn-RequestId: 5a1e0000-0000-4000-8000-%012llx\r\nDate: %s\r\n%s%s%s%s\r\n",
         status, reason(status), s->body.len, (unsigned long long)++s->reqid, s->date,
         type ? "X-Amzn-ErrorType: " : "", type ? type : "", type ? "\r\n" : "",
         c->closing ? "Connection: close\r\n" : "");
    put(&c->out, s->body.p, s->body.len);
    if (c->out.failed)
        c->closing = 1;
    s->body.len = 0;
    s->body.failed = 0;
}

static void respond_error(struct sink *s, struct conn *c, const struct res *r)
{
    s->errors++;
    s->body.len = 0;
    s->body.failed = 0;
    putf(&s->body, "{\"__type\":\"%s\",\"message\":\"%s\"}", r->type, r->msg);
    respond(s, c, r->status, r->type);
}

static void stats(struct sink *s, struct buf *b, int per_shard)
{
    PUTS(b, "{\"requests\":{");
    for (int i = 0; i < NOPS; i++)
        putf(b, "%s\"%s\":%llu", i ? "," : "", op_names[i], (unsigned long long)s->reqs[i]);
    putf(b, "},\"errors\":%llu,\"records\":%llu,\"data_bytes\":%llu,\"key_bytes\":%llu,\"throttled\":%llu,"
            "\"sum\":\"%016llx\",\"xor\":\"%016llx\",\"connections\":%llu,\"shards\":%u",
         (unsigned long long)s->errors, (unsigned long long)s->records, (unsigned long long)s->data_bytes,
         (unsigned long long)s->key_bytes, (unsigned long long)s->throttled, (unsigned long long)s->sum,
         (unsigned long long)s->xor, (unsigned long long)s->conns, s->nshards);
    if (per_shard) {
        PUTS(b, ",\"per_shard\":[");
        for (uint32_t i = 0; i < s->nshards; i++)
            putf(b, "%s[%llu,%llu,%llu]", i ? "," : "", (unsigned long long)s->sh[i].records,
                 (unsigned long long)s->sh[i].bytes, (unsigned long long)s->sh[i].throttled);
        PUTS(b, "]");
    }
    PUTS(b, "}\n");
}

static int header_is(const char *line, size_t n, const char *name, const char **val, size_t *vn)
{
    size_t l = strlen(name);
    if (n <= l || line[l] != ':' || strncasecmp(line, name, l) != 0)
        return 0;
    const char *v = line + l + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *val = v;
    *vn = (size_t)(e - v);
    return 1;
}

/* Answers the first request in c->in if it is complete: 1 answered (or
 * 100 Continue sent), 0 more bytes needed. */
static int process(struct sink *s, struct conn *c)
{
    char *p = c->in.p, *end = c->in.len ? memmem(p, c->in.len < HEAD_MAX ? c->in.len : HEAD_MAX, "\r\n\r\n", 4)
                                        : NULL;
    struct res r = {0};
    if (end == NULL) {
        if (c->in.len < HEAD_MAX)
            return 0;
        c->closing = 1;
        fail(&r, 431, "SerializationException", "request headers over %u bytes", HEAD_MAX);
        respond_error(s, c, &r);
        return 1;
    }
    size_t head = (size_t)(end + 4 - p), cl = 0;
    const char *target = NULL, *v;
    size_t targetn = 0, vn;
    int auth = 0, get = !strncmp(p, "GET ", 4), expect = 0, chunked = 0, bad_cl = 0;
    char *path = memchr(p, ' ', head);
    if (!get && strncmp(p, "POST ", 5) != 0)
        c->closing = 1;
    for (char *line = memchr(p, '\n', head) + 1; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end + 2 - line));
        size_t n = (size_t)(nl - line) - (nl > line && nl[-1] == '\r');
        if (header_is(line, n, "Content-Length", &v, &vn)) {
            char *stop;
            unsigned long long x = strtoull(v, &stop, 10);
            bad_cl = vn == 0 || stop != v + vn;
            cl = x > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)x;
        } else if (header_is(line, n, "X-Amz-Target", &v, &vn)) {
            target = v, targetn = vn;
        } else if (header_is(line, n, "Authorization", &v, &vn)) {
            auth = vn > 0;
        } else if (header_is(line, n, "Connection", &v, &vn)) {
            if (vn == 5 && !strncasecmp(v, "close", 5))
                c->closing = 1;
        } else if (header_is(line, n, "Expect", &v, &vn)) {
            expect = vn == 12 && !strncasecmp(v, "100-continue", 12);
        } else if (header_is(line, n, "Transfer-Encoding", &v, &vn)) {
            chunked = 1;
        }
        line = nl + 1;
    }
    if (chunked || bad_cl || path == NULL) {
        c->closing = 1;
        fail(&r, chunked ? 501 : 400, "SerializationException", "%s", chunked ? "chunked bodies are not supported"
                                                                     : "bad request line or Content-Length");
        respond_error(s, c, &r);
        return 1;
    }
    if (cl > s->max_body) {        /* refused unread: the connection goes */
        c->closing = 1;
        fail(&r, 413, "SerializationException", "request body of %zu bytes is over %zu", cl, s->max_body);
        respond_error(s, c, &r);
        return 1;
    }
    if (c->in.len < head + cl) {
        if (expect && !c->continued) {
            c->continued = 1;
            PUTS(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
            return 1;
        }
        return 0;
    }
    char *body = p + head;
    struct js j = {body, body + cl, 0};
    int status = -1;
    if (get) {
        if (!strncmp(path, " /stats", 7)) {
            stats(s, &s->body, !strncmp(path, " /stats?shards", 14));
            status = 200;
        } else {
            fail(&r, 404, "ResourceNotFoundException", "GET /stats only");
        }
    } else if (!auth) {
        fail(&r, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
    } else {
        int op = OP_OTHER;
        const char *pre = "Kinesis_20131202.";
        if (target && targetn > strlen(pre) && !strncmp(target, pre, strlen(pre)))
            for (int i = 0; i < OP_OTHER; i++)
                if (targetn - strlen(pre) == strlen(op_names[i]) &&
                    !strncmp(target + strlen(pre), op_names[i], strlen(op_names[i])))
                    op = i;
        s->reqs[op]++;
        status = op == OP_PUTRECORDS ? op_put_records(s, &j, &r)
               : op == OP_PUTRECORD  ? op_put_record(s, &j, &r)
               : op == OP_OTHER      ? fail(&r, 400, "UnknownOperationException", "%.*s is not implemented",
                                            (int)(targetn > 64 ? 64 : targetn), target ? target : "")
                                     : op_control(s, op, &j, &r);
    }
    if (status > 0 && s->body.failed)
        status = fail(&r, 500, "InternalFailure", "response over %u bytes", OUT_MAX);
    if (status > 0)
        respond(s, c, status, NULL);
    else
        respond_error(s, c, &r);
    c->continued = 0;
    memmove(c->in.p, c->in.p + head + cl, c->in.len - head - cl);
    c->in.len -= head + cl;
    return 1;
}

/* ---- connections ---- */

static void conn_close(struct sink *s, struct conn *c)
{
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl)
        SSL_free(c->ssl);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    free(c);
    s->conns--;
}

static void want(struct sink *s, struct conn *c, uint32_t ev)
{
    if (ev == c->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->events = ev;
}

/* The direction a blocked TLS call waits for, or 0 for an error. */
static uint32_t ssl_wait(SSL *ssl, int rc)
{
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
    ERR_clear_error();
    return 0;
}

/* Waits for ev, or closes the connection (ev 0: an error or the end). */
static void blocked(struct sink *s, struct conn *c, uint32_t ev)
{
    if (ev)
        want(s, c, ev);
    else
        conn_close(s, c);
}

/* Moves the connection on as far as it goes without blocking. */
static void conn_io(struct sink *s, struct conn *c)
{
    for (;;) {
        if (c->ssl && !c->handshaken) {
            int rc = SSL_accept(c->ssl);
            if (rc == 1) {
                c->handshaken = 1;
                continue;
            }
            blocked(s, c, ssl_wait(c->ssl, rc));
            return;
        }
        if (c->out_off < c->out.len) {
            size_t n = c->out.len - c->out_off;
            long wr;
            if (c->ssl) {
                int rc = SSL_write(c->ssl, c->out.p + c->out_off, n > INT32_MAX ? INT32_MAX : (int)n);
                if (rc <= 0) {
                    blocked(s, c, ssl_wait(c->ssl, rc));
                    return;
                }
                wr = rc;
            } else {
                wr = send(c->fd, c->out.p + c->out_off, n, MSG_NOSIGNAL);
                if (wr < 0) {
                    blocked(s, c, errno == EAGAIN || errno == EINTR ? EPOLLOUT : 0);
                    return;
                }
            }
            c->out_off += (size_t)wr;
            if (c->out_off == c->out.len)
                c->out_off = c->out.len = 0;
            continue;
        }
        if (c->closing) {
            conn_close(s, c);
            return;
        }
        if (process(s, c))
            continue;
        if (buf_reserve(&c->in, 64 << 10) != 0) {
            /* only an incomplete request bigger than the limits lands here */
            conn_close(s, c);
            return;
        }
        size_t room = c->in.cap - c->in.len;
        long rd;
        if (c->ssl) {
            int rc = SSL_read(c->ssl, c->in.p + c->in.len, room > INT32_MAX ? INT32_MAX : (int)room);
            if (rc <= 0) {
                blocked(s, c, ssl_wait(c->ssl, rc));
                return;
            }
            rd = rc;
        } else {
            rd = recv(c->fd, c->in.p + c->in.len, room, 0);
            if (rd <= 0) {
                blocked(s, c, rd < 0 && (errno == EAGAIN || errno == EINTR) ? EPOLLIN : 0);
                return;
            }
        }
        c->in.len += (size_t)rd;
    }
}

static void accept_all(struct sink *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        struct conn *c = s->conns < MAX_CONNS ? calloc(1, sizeof *c) : NULL;
        if (c == NULL || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->in.max = HEAD_MAX + s->max_body + (64 << 10);
        c->out.max = OUT_MAX;
        c->events = EPOLLIN;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if ((s->tls && ((c->ssl = SSL_new(s->tls)) == NULL || SSL_set_fd(c->ssl, fd) != 1)) ||
            epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            if (c->ssl)
                SSL_free(c->ssl);
            free(c);
            close(fd);
            continue;
        }
        s->conns++;
    }
}

/* ---- main ---- */

static int digest(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t count = 0, bytes = 0, sum = 0, x = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        uint64_t h = hash64(line, (size_t)n);
        sum += h;
        x ^= h;
        count++;
        bytes += (uint64_t)n;
    }
    int bad = ferror(f);
    free(line);
    fclose(f);
    if (bad) {
        perror(path);
        return 1;
    }
    printf("{\"records\":%llu,\"data_bytes\":%llu,\"sum\":\"%016llx\",\"xor\":\"%016llx\"}\n",
           (unsigned long long)count, (unsigned long long)bytes, (unsigned long long)sum, (unsigned long long)x);
    return 0;
}

static int usage(void)
{
    fputs("usage: sink [--port N] [--cert PEM --key PEM] [--stream NAME] [--shards N] [--region R]\n"
          "            [--limit off|rolling|bucket] [--records-per-s N] [--bytes-per-s N] [--max-body BYTES]\n"
          "       sink --digest FILE\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    static struct sink s;          /* big (the entries); main's, not shared */
    const char *cert = NULL, *key = NULL;
    long port = 0;
    s.stream = "bench";
    s.region = "us-east-1";
    s.nshards = 16;
    s.lim_n = 1000;
    s.lim_b = 1048576;
    s.max_body = 16u << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage();
        i++;
        if (!strcmp(a, "--digest"))
            return digest(v);
        else if (!strcmp(a, "--port"))
            port = strtol(v, NULL, 10);
        else if (!strcmp(a, "--cert"))
            cert = v;
        else if (!strcmp(a, "--key"))
            key = v;
        else if (!strcmp(a, "--stream"))
            s.stream = v;
        else if (!strcmp(a, "--region"))
            s.region = v;
        else if (!strcmp(a, "--shards"))
            s.nshards = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--records-per-s"))
            s.lim_n = strtod(v, NULL);
        else if (!strcmp(a, "--bytes-per-s"))
            s.lim_b = strtod(v, NULL);
        else if (!strcmp(a, "--max-body"))
            s.max_body = (size_t)strtoull(v, NULL, 10);
        else if (!strcmp(a, "--limit") && (!strcmp(v, "off") || !strcmp(v, "rolling") || !strcmp(v, "bucket")))
            s.limit = v[0] == 'o' ? LIM_OFF : v[0] == 'r' ? LIM_ROLLING : LIM_BUCKET;
        else
            return usage();
    }
    if (s.nshards < 1 || s.nshards > 100000 || port < 0 || port > 65535 || (!cert != !key) || s.lim_n < 1 ||
        s.lim_b < 1 || s.max_body < 1024 || s.max_body > (256u << 20) || strlen(s.stream) > 128)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    if (md5_init(s.md5k) != 0) {
        fputs("sink: MD5 self-test failed\n", stderr);
        return 1;
    }
    /* 2^128 / N, the even split of AWS (N = 1 takes all, routes to 0) */
    s.step = s.nshards == 1 ? ~(u128)0 : (~(u128)0) / s.nshards + ((~(u128)0) % s.nshards + 1 == s.nshards);
    s.sh = calloc(s.nshards, sizeof *s.sh);
    s.shard_ids = calloc(s.nshards, sizeof *s.shard_ids);
    if (s.sh == NULL || s.shard_ids == NULL)
        return fputs("sink: out of memory\n", stderr), 1;
    for (uint32_t i = 0; i < s.nshards; i++) {
        snprintf(s.shard_ids[i], sizeof s.shard_ids[i], "shardId-%012u", i);
        s.sh[i].tok_n = s.lim_n;   /* buckets start full: the one-second burst */
        s.sh[i].tok_b = s.lim_b;
        s.sh[i].last = mono();
    }
    memcpy(s.seq, "49600000000000000000000000000000000000000000000000000000", 57);
    s.body.max = OUT_MAX;
    if (cert) {
        s.tls = SSL_CTX_new(TLS_server_method());
        if (s.tls == NULL || SSL_CTX_use_certificate_chain_file(s.tls, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(s.tls, key, SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "sink: cannot load %s / %s:\n", cert, key);
            ERR_print_errors_fp(stderr);
            return 1;
        }
        SSL_CTX_set_mode(s.tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    int one = 1;
    s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    if (s.lfd < 0 || s.ep < 0 || setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s.lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s.lfd, 512) != 0 ||
        getsockname(s.lfd, (struct sockaddr *)&sa, &sl) != 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &le) != 0) {
        perror("sink: listen");
        return 1;
    }
    printf("listening %u\n", ntohs(sa.sin_port));
    fflush(stdout);
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(s.ep, ev, 64, -1);
        if (n < 0 && errno != EINTR) {
            perror("sink: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL)
                accept_all(&s);
            else
                conn_io(&s, ev[i].data.ptr);
        }
    }
}
