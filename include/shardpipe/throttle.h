/* Per-shard write limits on the client side (KINESIS.md §2): at most
 * `rate` × 1000 records and `rate` × 1 MiB (partition key + data) in any
 * one-second window. The window mirrors the service's own rolling second,
 * kept in 25 ms slots; a record passes only when both fit together, and
 * records leave paced (a token bucket at the window's rate holding pace_ms
 * of it), not in bursts. A record larger than the byte limit (a
 * large-record stream) passes when the window holds no bytes at all.
 *
 * The rate adapts so that producers sharing a stream settle at fair
 * shares of it (throttle.c says how): slow start from `start`, a quick cut
 * to the stored rate during the start's overload, then a small cut for each
 * refused entry and additive increase while quiet, up to the configured
 * share. Time is passed in (milliseconds), so the arithmetic is tested
 * over simulated time. */
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
#define SP_OK_BUCKETS 8

typedef struct sp_throttle_cfg {
    double share;            /* configured rate as a fraction of the limit, e.g. 1.0 */
    double start;            /* where a new window starts (slow start), at most share */
    double min_share;        /* floor of the adaptive rate */
    double decrease;         /* during the start's overload: cut to this × the stored rate */
    double per_entry;        /* afterwards: the cut per refused entry (a fraction of the rate) */
    double increase;         /* share added per second after quiet_ms without a cut */
    uint32_t quiet_ms;       /* time after a cut before the rate grows again */
    uint32_t step_ms;        /* least time between two increases */
    uint32_t cut_ms;         /* least time between two cuts during the start's overload */
    uint32_t pace_ms;        /* the pacing bucket holds this much of the rate
                                (0: at most a tenth of the second per 25 ms slot) */
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
    uint64_t last_limited_ms;    /* the window last held a record back */
    uint64_t ok_no[SP_OK_BUCKETS];  /* stored records per 125 ms, over the last second */
    uint32_t ok_n[SP_OK_BUCKETS];
    uint64_t ok_bytes[SP_OK_BUCKETS];
    uint64_t ok_total, first_ok_ms;
    double pace_r, pace_b;       /* the pacing bucket: records and bytes */
    uint64_t pace_at_ms;
    int steady;                  /* past the start's overload (throttled, then quiet_ms without) */
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
 * sent_ms, on its attempts-th attempt: cut the rate. During the start's
 * overload only records sent after the last cut, and cut_ms after it,
 * cut (to decrease × the stored rate); afterwards each record refused for
 * the first time cuts by per_entry (times its bytes in KiB, when more than
 * one: a record weighs the part of the limits it takes). */
void sp_window_throttled(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, uint64_t sent_ms, unsigned attempts,
                         size_t bytes);

/* A record of `bytes` (key + data) was stored: counts it (the stored rate), and grows the rate
 * (doubling every 100 ms before the first refusal, then by `increase`
 * per second after quiet_ms without a cut) while the window is holding
 * records back, up to the configured share. */
void sp_window_ok(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes);

/* Current limits, per second. */
double sp_window_records_rate(const sp_window *b);
double sp_window_bytes_rate(const sp_window *b);

#endif
