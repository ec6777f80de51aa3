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

/* Record memory: small records are cut, one after the other, from 64 KiB
 * chunks mapped from the kernel; a chunk goes back when its last record
 * is freed (a couple are kept for reuse, so a steady stream maps nothing
 * and faults no new pages). Records arrive and leave roughly in order, so
 * few chunks are pinned by stragglers. Large records get a malloc each. */
#define SP_RECSLAB_CHUNK ((size_t)64 << 10)
#define SP_RECSLAB_SPARE 2

struct sp_recchunk;

typedef struct sp_recslab {
    struct sp_recchunk *cur;                      /* being cut */
    struct sp_recchunk *spare[SP_RECSLAB_SPARE];  /* empty, kept mapped */
    size_t nspare;
    size_t chunks;                                /* mapped, spares included */
} sp_recslab;

/* NULL when out of memory. */
void *sp_recslab_alloc(sp_recslab *s, size_t size);
void sp_recslab_free(sp_recslab *s, void *ptr);
/* Unmaps the spares and the current chunk when nothing is left in it;
 * chunks still holding records stay (free those records first). */
void sp_recslab_release(sp_recslab *s);

#endif
