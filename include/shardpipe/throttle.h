/* Per-shard token buckets (KINESIS.md §2, §4.2): one for records (1000/s)
 * and one for bytes (1 MiB/s); a record passes only when both can be taken
 * together. The rate adapts: a throttling error cuts it (multiplicative
 * decrease), quiet time raises it again (additive increase) up to the
 * configured share, so producers sharing a stream settle at fair shares.
 * Time is passed in (milliseconds), so the arithmetic is tested over
 * simulated time. */
#ifndef SHARDPIPE_THROTTLE_H
#define SHARDPIPE_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define SP_SHARD_RECORDS_PER_S 1000.0
#define SP_SHARD_BYTES_PER_S 1048576.0

typedef struct sp_throttle_cfg {
    double share;            /* configured rate as a fraction of the limit, e.g. 1.0 */
    double min_share;        /* floor of the adaptive rate, default 0.05 */
    double decrease;         /* multiplier on a throttle, default 0.7 */
    double increase;         /* share added per quiet interval, default 0.02 */
    uint32_t quiet_ms;       /* interval without throttling before an increase, default 1000 */
    size_t max_record_bytes; /* the stream's record cap: the byte bucket holds at least this */
} sp_throttle_cfg;

void sp_throttle_cfg_default(sp_throttle_cfg *c);

typedef struct sp_bucket {
    double records;          /* tokens */
    double bytes;
    double cap_records;
    double cap_bytes;
    double rate;             /* current share of the limit */
    uint64_t last_ms;        /* last refill */
    uint64_t last_throttle_ms; /* last throttling error */
    uint64_t last_change_ms; /* last decrease or increase of the rate */
    uint64_t throttles;      /* decreases so far */
} sp_bucket;

/* Starts full at now_ms, at the configured share. */
void sp_bucket_init(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms);

/* Takes {1 record, bytes} if both are available now; returns 1, else 0
 * and takes nothing. A record larger than the byte capacity can never be
 * taken; callers cap records below it. */
int sp_bucket_take(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes);

/* Milliseconds until {1 record, bytes} will be available (0: now). */
uint64_t sp_bucket_wait_ms(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes);

/* The shard answered ProvisionedThroughputExceeded: cut the rate (at most
 * once per 100 ms, since one response can carry many such entries for the
 * same moment) and empty the buckets. */
void sp_bucket_throttled(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms);

/* A record was stored: after quiet_ms without throttling, raise the rate
 * by `increase`, up to the configured share. */
void sp_bucket_ok(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms);

/* Current rates, per second. */
double sp_bucket_records_rate(const sp_bucket *b);
double sp_bucket_bytes_rate(const sp_bucket *b);

#endif
