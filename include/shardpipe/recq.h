/* Records held by the producer: where their memory comes from (slabs, so
 * the hot path does not call malloc once per record) and the FIFO queues
 * they wait in. */
#ifndef SHARDPIPE_RECQ_H
#define SHARDPIPE_RECQ_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/err.h"
#include "shardpipe/source.h"
#include "shardpipe/u128.h"

typedef struct sp_record {
    struct sp_record *next;
    sp_ack_token_fn ack;     /* the source's acknowledgement, may be NULL */
    void *token;             /* passed back to ack */
    uint64_t tag;
    uint64_t read_ms;        /* when it was read (latency) */
    uint64_t sent_ms;        /* when it was last put in a request */
    sp_u128 hash;            /* routing hash: the ExplicitHashKey or MD5(key) */
    uint32_t attempts;       /* sends so far */
    uint32_t len;            /* data bytes */
    uint32_t gen;            /* shard-map generation `shard` refers to */
    int32_t shard;           /* predicted shard index, -1: unrouted */
    uint16_t pk_len;
    uint8_t has_ehk;
    uint8_t maybe_stored;    /* an attempt ended without telling whether it was stored */
    char bytes[];            /* partition key, then data */
} sp_record;

/* What a record counts for: its key and data (the service's measure),
 * and the memory it takes (the budget's). */
size_t sp_record_bytes(const sp_record *r);
size_t sp_record_mem(const sp_record *r);

/* A FIFO of records linked through `next`. */
typedef struct sp_recq {
    sp_record *head, *tail;
    size_t count;
    size_t bytes;            /* Σ(pk + data) */
} sp_recq;

void sp_recq_push(sp_recq *q, sp_record *r);
sp_record *sp_recq_pop(sp_recq *q);
/* Puts the whole of `front` before q's records, keeping both orders;
 * front is left empty. */
void sp_recq_prepend(sp_recq *q, sp_recq *front);

/* Record memory: a slab allocator. Records up to SP_RECSLAB_MAX bytes
 * take a slot of their size class (classes an eighth apart, so at most an
 * eighth is lost to rounding) in a 64 KiB chunk mapped from the kernel;
 * a freed slot is the next one its class hands out, so the memory of
 * records that leave is reused at once by those that arrive, whatever
 * order they leave in (shard by shard, after retries). A chunk goes back
 * to the kernel when its last slot is freed (a few are kept for reuse, so
 * a steady stream maps nothing and faults no new pages); an idle producer
 * holds no record memory beyond those. Larger records get a malloc each. */
#define SP_RECSLAB_CHUNK ((size_t)64 << 10)
#define SP_RECSLAB_MAX 8192
#define SP_RECSLAB_CLASSES 40
#define SP_RECSLAB_SPARE 4

struct sp_recchunk;

typedef struct sp_recslab {
    struct sp_recchunk *partial[SP_RECSLAB_CLASSES]; /* chunks with free slots, by class */
    struct sp_recchunk *spare[SP_RECSLAB_SPARE];     /* empty, kept mapped */
    size_t nspare;
    size_t chunks;                                   /* mapped, spares included */
    uint8_t class_of[SP_RECSLAB_MAX / 16 + 1];       /* by size in 16-byte steps */
    uint32_t class_size[SP_RECSLAB_CLASSES];
    size_t nclass;
} sp_recslab;

void sp_recslab_init(sp_recslab *s);
/* NULL when out of memory. */
void *sp_recslab_alloc(sp_recslab *s, size_t size);
/* size: as allocated. */
void sp_recslab_free(sp_recslab *s, void *ptr, size_t size);
/* Unmaps the spare chunks (chunks still holding records stay). */
void sp_recslab_release(sp_recslab *s);

#endif
