/* A flow: sources -> framing -> partition keys -> one producer for one
 * stream. `put` runs one flow with standard input as its source; `run`
 * runs every flow of the configuration. The flow routes acknowledgements
 * back to the sources (files advance their checkpoints) and applies the
 * shared memory budget to all of its sources. */
#ifndef SHARDPIPE_FLOW_H
#define SHARDPIPE_FLOW_H

#include <stdint.h>

#include "shardpipe/buf.h"
#include "shardpipe/checkpoint.h"
#include "shardpipe/config.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/log.h"
#include "shardpipe/loop.h"
#include "shardpipe/producer.h"
#include "shardpipe/source_file.h"

typedef struct sp_flow sp_flow;

typedef struct sp_flow_opts {
    const sp_flow_cfg *cfg;      /* must live until on_started or on_fatal (the
                                    sources are opened from it), not longer */
    sp_producer_opts producer;   /* knobs not in the flow configuration (backoff,
                                    attempts, in flight, refresh); stream, batch,
                                    linger, rate and order come from cfg */
    sp_budget *budget;           /* shared by every flow */
    sp_ckpt *ckpt;               /* NULL: no checkpoints */
    uint32_t file_poll_ms;
    uint32_t partial_flush_ms;
    int stdin_closed;            /* descriptor 0 was closed at start: a stdin
                                    source is refused */
    const sp_log *log;
    /* Events for the owner. */
    void (*on_fatal)(void *arg, sp_flow *f, const char *msg); /* also a failed start */
    void (*on_started)(void *arg, sp_flow *f);    /* the stream answered, sources are open */
    void (*on_drained)(void *arg, sp_flow *f);     /* after sp_flow_flush: all settled */
    void (*on_input_done)(void *arg, sp_flow *f);  /* every source has ended (stdin EOF) */
    void (*on_space)(void *arg);                   /* the shared budget has room again */
    void *arg;
} sp_flow_opts;

/* Starts a flow on the loop: checks the stream (DescribeStreamSummary: it
 * must be ACTIVE; its record cap), lists its shards, then opens the
 * sources and fires on_started; a failure on the way fires on_fatal. NULL
 * only for what can be told at once (a bad key spec, standard input
 * closed). Nothing here runs the loop. */
sp_flow *sp_flow_new(sp_loop *loop, sp_kinesis *k, const sp_flow_opts *o, sp_err *err);
/* 1 once on_started has fired. */
int sp_flow_started(const sp_flow *f);

const char *sp_flow_name(const sp_flow *f);
void sp_flow_pause(sp_flow *f, int paused);
/* Stops reading input (files keep their checkpoints; stdin passes on what
 * it has). */
void sp_flow_stop_input(sp_flow *f);
/* Sends without lingering from now on; on_drained fires when all is settled. */
void sp_flow_flush(sp_flow *f);
/* Nothing held: no record buffered or in flight, and no source reading on
 * to the end of a line after a stop. */
int sp_flow_idle(const sp_flow *f);
/* 1 when every source has ended for good (only standard input ends). */
int sp_flow_input_done(const sp_flow *f);
/* Copies acknowledged positions into the checkpoint set. */
void sp_flow_checkpoint(sp_flow *f);
/* Everything a flow counts, summed over its sources and its producer. */
typedef struct sp_flow_counters {
    sp_producer_stats p;         /* zero until the producer exists */
    uint64_t lines_read;         /* lines (and datagrams) framed */
    uint64_t bytes_read;         /* input bytes read */
    uint64_t split, truncated, dropped;   /* oversize lines */
    uint64_t partial;            /* lines cut short at a stop */
    uint64_t dropped_datagrams;
    uint64_t key_fallbacks;      /* records that got a random key instead */
    size_t held;                 /* bytes buffered or in flight */
    size_t shards;               /* open shards routed to */
} sp_flow_counters;

void sp_flow_counters_get(const sp_flow *f, sp_flow_counters *c);
/* NULL until the stream has answered (sp_flow_started). */
const sp_producer *sp_flow_producer(const sp_flow *f);
/* Each open file of its file sources, with the bytes not read yet
 * (sp_file_source_behind). */
void sp_flow_files(const sp_flow *f, sp_file_behind_fn fn, void *arg);
/* Appends "records=N bytes=N ..." counters. */
void sp_flow_stats(const sp_flow *f, sp_buf *out);
/* Records read but not known to be stored: failed (given up or
 * abandoned), of unknown fate (a request that timed out may have stored
 * them) and lines cut short at a stop. */
uint64_t sp_flow_not_stored(const sp_flow *f);
/* Records whose fate is unknown (see producer.h). */
uint64_t sp_flow_unknown(const sp_flow *f);
/* Gives up on everything still held: a line standard input was still
 * reading at a stop is counted as partial; records are counted as failed
 * (or unknown, see producer.h) and acknowledged to the sources as not
 * stored. For shutdown, when the loop will not run again. */
void sp_flow_abandon(sp_flow *f);
/* Abandons what is left, then frees. */
void sp_flow_free(sp_flow *f);

#endif
