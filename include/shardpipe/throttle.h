/* Per-shard write limits on the client side (KINESIS.md §2): at most
 * `rate` × 1000 records and `rate` × 1 MiB (partition key + data) in any
 * one-second window. The window mirrors the service's own rolling second,
 * kept in 25 ms slots; a record passes only when both fit together, and
 * one slot takes at most a tenth of the second's allowance (pacing: a full
 * second leaves over a quarter second, not in one burst that producers
 * sharing the shard would collide with). A
 * record larger than the byte limit (a large-record stream) passes when
 * the window holds no bytes at all.
 *
 * The rate adapts: a throttling error cuts it (multiplicative decrease,
 * once per overload: entries sent before the last cut do not cut again),
 * quiet time raises it again (additive increase) up to the
 * configured share, so producers sharing a stream settle at fair shares.
 * Time is passed in (milliseconds), so the arithmetic is tested over
 * simulated time. */
#ifndef SHARDPIPE_THROTTLE_H
#define SHARDPIPE_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define SP_SHARD_RECORDS_PER_S 1000.0
#define SP_SHARD_BYTES_PER_S 1048576.0

#define SP_WINDOW_MS 1000
#define SP_SLOT_MS 25
#define SP_WINDOW_SLOTS (SP_WINDOW_MS / SP_SLOT_MS + 1) /* one extra: slots are counted whole */
#define SP_HOLD_MAX_MS 975           /* the most hold_ms that the ring can keep */
#define SP_SLOTS (SP_WINDOW_SLOTS + SP_HOLD_MAX_MS / SP_SLOT_MS + 1)

typedef struct sp_throttle_cfg {
    double share;            /* configured rate as a fraction of the limit, e.g. 1.0 */
    double min_share;        /* floor of the adaptive rate, default 0.05 */
    double decrease;         /* multiplier on a throttle, default 0.7 */
    double increase;         /* share added per quiet interval, default 0.05 */
    uint32_t quiet_ms;       /* interval without throttling before an increase, default 1000 */
    uint32_t cut_ms;         /* least time between two decreases, default 100 */
    size_t max_record_bytes; /* the stream's record cap (records above the byte
                                limit pass alone into an empty window) */
} sp_throttle_cfg;

void sp_throttle_cfg_default(sp_throttle_cfg *c);

typedef struct sp_window {
    uint64_t slot_no[SP_SLOTS];  /* which 25 ms slot (time / SP_SLOT_MS) each entry holds */
    uint32_t slot_records[SP_SLOTS];
    uint64_t slot_bytes[SP_SLOTS];
    uint64_t expired;            /* slots numbered below this have been dropped */
    uint64_t records;            /* in the window */
    uint64_t bytes;
    double rate;                 /* current share of the limit */
    uint64_t last_throttle_ms;   /* last throttling error */
    uint64_t last_cut_ms;        /* last decrease */
    uint64_t last_change_ms;     /* last decrease or increase */
    uint64_t throttles;          /* decreases so far */
    uint32_t hold_ms;            /* a record counts this much longer than a second:
                                    the service counts from when a request arrives,
                                    which is later than when it was sent */
} sp_window;

/* An empty window at now_ms, at the configured share. */
void sp_window_init(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms);

/* Takes {1 record, bytes} if both fit in the window now; returns 1, else 0
 * and takes nothing. */
int sp_window_take(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes);

/* Milliseconds until {1 record, bytes} will fit (0: now). */
uint64_t sp_window_wait_ms(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes);

/* The shard answered ProvisionedThroughputExceeded for a record sent at
 * sent_ms: cut the rate, unless the record left before the last cut (it
 * tells of the old rate, which is already cut) or the last cut is less
 * than cut_ms old. */
void sp_window_throttled(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, uint64_t sent_ms);

/* A record was stored: after quiet_ms without throttling, raise the rate
 * by `increase`, up to the configured share. */
void sp_window_ok(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms);

/* Current limits, per second. */
double sp_window_records_rate(const sp_window *b);
double sp_window_bytes_rate(const sp_window *b);

#endif
