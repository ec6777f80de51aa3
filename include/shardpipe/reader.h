/* The read path behind `shardpipe get`: one iterator per shard, polled
 * within the read limits (at most 5 GetRecords per second per shard),
 * renewed when it expires, backed off when throttled. */
#ifndef SHARDPIPE_READER_H
#define SHARDPIPE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/backoff.h"
#include "shardpipe/err.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/log.h"

enum sp_iter_kind {
    SP_ITER_LATEST = 0,
    SP_ITER_TRIM_HORIZON,
    SP_ITER_AT_SEQUENCE,
    SP_ITER_AFTER_SEQUENCE,
    SP_ITER_AT_TIMESTAMP
};

/* Parses "latest", "trim-horizon", "at-sequence", "after-sequence", "at-timestamp". */
int sp_iter_kind_parse(const char *s, enum sp_iter_kind *out);

/* Parses a time for at-timestamp: epoch seconds (with an optional
 * fraction) or ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z". */
int sp_parse_timestamp_ms(const char *s, int64_t *out_ms, sp_err *err);

/* One record read. data is decoded; the callback may return SP_ERR to stop. */
typedef int (*sp_reader_record_fn)(void *arg, const char *shard_id, const sp_kinesis_record *rec,
                                   const void *data, size_t len, sp_err *err);

typedef struct sp_reader_opts {
    const char *stream;
    const char *shard;            /* NULL: every shard */
    enum sp_iter_kind iter;
    const char *seq;              /* for the sequence kinds */
    int64_t ts_ms;                /* for at-timestamp */
    long limit;                   /* records per GetRecords, 1..10000; 0: the server's default */
    uint64_t max_records;         /* 0: no limit */
    int follow;                   /* keep polling after catching up */
    uint32_t idle_poll_ms;        /* between polls of a caught-up shard; default 1000 */
    sp_backoff backoff;
    const sp_log *log;
    sp_reader_record_fn on_record;
    void *arg;
} sp_reader_opts;

typedef struct sp_reader_stats {
    uint64_t records;
    uint64_t bytes;
    uint64_t calls;
    uint64_t throttled;
    uint64_t renewed;             /* expired iterators replaced */
} sp_reader_stats;

/* Runs the loop until every shard is caught up (or closed and read to its
 * end), max_records have been read, or a fatal error. */
int sp_reader_run(sp_loop *loop, sp_kinesis *k, const sp_reader_opts *o,
                  sp_reader_stats *stats, sp_err *err);

#endif
