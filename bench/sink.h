/* The benchmark's Kinesis sink (bench/sink.c): what its server part and
 * its Kinesis part (bench/sink_kinesis.c) share. */
#ifndef SINK_H
#define SINK_H
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 u128;

#define HEAD_MAX (16u << 10)       /* request line + headers */
#define OUT_MAX (16u << 20)        /* one response */
#define MAX_CONNS 4096
#define MAX_ENTRIES 500
#define ACCOUNT "123456789012"

enum { OP_PUTRECORDS, OP_PUTRECORD, OP_LISTSHARDS, OP_DESCRIBE, OP_OTHER, NOPS };
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
    struct ssl_st *ssl;            /* SSL */
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
    struct ssl_ctx_st *tls;        /* SSL_CTX */
    const char *stream, *region;
    uint32_t nshards;
    struct shard *sh;
    char (*shard_ids)[24];
    u128 step;
    int limit;
    double lim_n, lim_b;
    size_t max_body;
    uint32_t md5k[64];
    uint16_t b64pair[65536];       /* two base64 characters: 12 bits, or 0xffff */
    char seq[57];                  /* the last sequence number, 56 digits */
    uint64_t reqs[NOPS], errors, records, data_bytes, key_bytes, throttled, sum, xor, conns, reqid;
    struct buf body;               /* the response body being built */
    struct entry ent[MAX_ENTRIES];
    char date[40];
    time_t date_t;
};

struct js {
    char *p, *e;
    int bad;
};

/* An error answer: HTTP status, __type and message. */
struct res {
    int status;
    const char *type;
    char msg[200];
};

/* sink.c: bounded growable buffers */
int buf_reserve(struct buf *b, size_t more);
void put(struct buf *b, const void *p, size_t n);
void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define PUTS(b, s) put((b), (s), sizeof(s) - 1)

/* sink_kinesis.c */
int md5_init(uint32_t *k);                   /* the MD5 constants, self-tested: 0 ok */
uint64_t hash64(const void *data, size_t n);  /* the exactly-once hash of a record */
void b64_init(uint16_t *pair);
double mono(void);
int fail(struct res *r, int status, const char *type, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Each fills s->body and returns the HTTP status, or fills r and returns -1. */
int op_put_records(struct sink *s, struct js *j, struct res *r);
int op_put_record(struct sink *s, struct js *j, struct res *r);
int op_control(struct sink *s, int op, struct js *j, struct res *r);

#endif
