/* The write pipeline: buffered records, PutRecords batches in flight,
 * retries of failed entries, acknowledgements back to the sources. It owns
 * every record from sp_producer_put until the record is stored or has
 * definitely failed, and bounds the bytes it holds (backpressure). */
#ifndef SHARDPIPE_PRODUCER_H
#define SHARDPIPE_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/backoff.h"
#include "shardpipe/err.h"
#include "shardpipe/errcount.h"
#include "shardpipe/hist.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/log.h"
#include "shardpipe/recq.h"
#include "shardpipe/loop.h"
#include "shardpipe/rng.h"
#include "shardpipe/shardlist.h"
#include "shardpipe/shardmap.h"
#include "shardpipe/source.h"
#include "shardpipe/throttle.h"

typedef struct sp_producer_stats {
    uint64_t records;        /* stored */
    uint64_t bytes;          /* data bytes stored */
    uint64_t requests;       /* PutRecords calls answered */
    uint64_t retried;        /* entries sent again */
    uint64_t throttled;      /* entries refused with ProvisionedThroughputExceeded */
    uint64_t failed;         /* entries given up on, known not to be stored */
    uint64_t unknown;        /* entries given up on that may have been stored
                                (an attempt timed out or its answer was lost) */
    uint64_t wrong_shard;    /* stored in another shard than predicted */
    uint64_t map_refreshes;  /* shard maps installed */
    sp_errcount errors;      /* entries failed or retried, by error code: each
                                entry's own, or its whole request's */
} sp_producer_stats;

/* One open shard's part of the stats. */
typedef struct sp_shard_counters {
    uint64_t records;        /* stored in it */
    uint64_t bytes;          /* data bytes stored in it */
    uint64_t throttled;      /* entries it refused with ProvisionedThroughputExceeded */
} sp_shard_counters;

typedef void (*sp_event_fn)(void *arg);
typedef void (*sp_fatal_fn)(void *arg, const char *msg);

/* The memory budget for buffered records, shared by every producer of a
 * process: sources pause while it is full. */
typedef struct sp_budget {
    size_t used;
    size_t limit;
} sp_budget;

/* How the producer reaches the service. NULL in the options: the real
 * calls through the sp_kinesis client (sp_kinesis_call_h, sp_shardlist_start);
 * tests give a fake. Handles are the transport's own, opaque here. */
typedef struct sp_producer_transport {
    /* Sends a PutRecords body, moved out of *body (left empty). cb runs
     * once, from the loop, unless cancel_put(handle) came first; on SP_ERR
     * it never runs. */
    int (*put)(void *arg, sp_buf *body, sp_kinesis_cb cb, void *cb_arg, void **handle, sp_err *err);
    void (*cancel_put)(void *arg, void *handle);
    /* Lists the shards as sp_shardlist_start does; cancel_list: done will
     * not be called. */
    int (*list)(void *arg, const char *stream, const char *filter, sp_shardlist_fn done, void *done_arg,
                void **handle, sp_err *err);
    void (*cancel_list)(void *arg, void *handle);
    void *arg;
} sp_producer_transport;

/* Bytes of buffered records by default (--buffer-bytes, memory_budget):
 * about 3,000 records of 200 bytes, several full requests in flight, and
 * a whole process under 16 MiB. Standard input, files and stream sockets
 * wait while it is full, so it bounds memory, not what gets through;
 * bursts of datagrams need more. */
#define SP_PRODUCER_BUDGET_DEFAULT ((size_t)1 << 20)

typedef struct sp_producer_opts {
    const char *stream;
    size_t batch_records;    /* 1..500, default 500 */
    size_t batch_bytes;      /* default 5 MiB, at most 10 MiB */
    uint32_t linger_ms;      /* default 200 */
    sp_backoff backoff;
    unsigned max_attempts;   /* 0: retry retryable errors without limit */
    unsigned max_in_flight;  /* default 8 */
    size_t budget_bytes;     /* default SP_PRODUCER_BUDGET_DEFAULT */
    sp_throttle_cfg throttle;/* share of each shard's limit, AIMD, record cap */
    int ordered;             /* per key order: one request per shard in flight,
                                one record per key per request */
    int route;               /* list shards, route and throttle per shard */
    uint32_t refresh_ms;     /* shard map refresh period, default 60000 */
    const sp_log *log;
    sp_budget *budget;       /* shared with other producers; NULL: own, of budget_bytes */
    sp_event_fn on_space;    /* buffered bytes fell below the budget again */
    sp_event_fn on_drained;  /* after sp_producer_flush: everything settled */
    sp_event_fn on_started;  /* after sp_producer_start: the first shard listing
                                answered (or failed: records go unrouted) */
    sp_fatal_fn on_fatal;    /* a non-retryable error: the run cannot go on */
    void *arg;
    const sp_producer_transport *transport; /* NULL: Kinesis through k (tests: a fake) */
    uint64_t seed;           /* backoff jitter; 0: from getrandom (tests fix it) */
} sp_producer_opts;

typedef struct sp_producer sp_producer;

/* k may be NULL when o->transport is given (messages then name no region
 * or endpoint). */
sp_producer *sp_producer_new(sp_loop *loop, sp_kinesis *k, const sp_producer_opts *o, sp_err *err);

/* Lists the shards on the loop, then starts the periodic refresh and fires
 * on_started (always from the loop, also when routing is off). A stream
 * whose shards cannot be listed (no ListShards permission, say) is written
 * without routing, with a warning. Records may be put before that: they
 * wait unrouted. */
int sp_producer_start(sp_producer *p, sp_err *err);
/* Gives up on every record still held, in flight included: each is
 * counted as failed (as unknown when in flight, or when an earlier attempt
 * may have stored it) and acknowledged as not stored. For shutdown, when the
 * loop will not run again. */
void sp_producer_abandon(sp_producer *p);
/* Abandons what is left, then frees. */
void sp_producer_free(sp_producer *p);

/* One record handed to the producer (copied). */
typedef struct sp_put_rec {
    const char *pk;
    size_t pk_len;
    const sp_u128 *ehk;      /* NULL, or an ExplicitHashKey */
    int balanced;            /* pick the shard with the most spare capacity and
                                set the ExplicitHashKey (ignores ehk) */
    const void *data;
    size_t len;
    sp_ack_token_fn ack;     /* called once stored (1) or given up (0); may be NULL */
    void *token;
    uint64_t tag;
} sp_put_rec;

/* Copies one record in. The caller has already applied the record cap.
 * Never refuses for lack of budget: callers check sp_producer_full and
 * stop reading, so at most one read's worth passes the budget. */
int sp_producer_put(sp_producer *p, const sp_put_rec *in, sp_err *err);

int sp_producer_full(const sp_producer *p);

/* From now on send without waiting for linger; on_drained fires once
 * nothing is buffered or in flight. */
void sp_producer_flush(sp_producer *p);
int sp_producer_idle(const sp_producer *p);

const sp_producer_stats *sp_producer_stats_get(const sp_producer *p);

/* Latencies in milliseconds (1 ms resolution, capped at 60 s): of stored
 * records from reading to acknowledgement, or of PutRecords requests from
 * sending to the answer (any answer). */
enum sp_lat { SP_LAT_RECORD = 0, SP_LAT_REQUEST = 1 };
const sp_hist *sp_producer_latency(const sp_producer *p, enum sp_lat which);

/* Bytes of the records this producer holds (buffered or in flight); its
 * part of a shared budget. */
size_t sp_producer_held(const sp_producer *p);

/* Number of shards routed to (0: routing off or not started). */
size_t sp_producer_shards(const sp_producer *p);
/* The id of open shard i (< sp_producer_shards), its counters and its
 * current send rate as a share of the shard's limit; NULL past the end. */
const char *sp_producer_shard_at(const sp_producer *p, size_t i, sp_shard_counters *c, double *share);

#endif
