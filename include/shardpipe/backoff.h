/* Exponential backoff with full jitter: the delay before retry number
 * `attempt` (1 = first retry) is uniform in [0, min(cap, base * 2^(attempt-1))].
 * Full jitter spreads retries of many records and many agents apart, which
 * is what lets a throttled shard recover. */
#ifndef SHARDPIPE_BACKOFF_H
#define SHARDPIPE_BACKOFF_H

#include <stdint.h>
#include "shardpipe/rng.h"

typedef struct sp_backoff {
    uint32_t base_ms;   /* default 100 */
    uint32_t cap_ms;    /* default 5000 */
} sp_backoff;

#define SP_BACKOFF_BASE_MS 100
#define SP_BACKOFF_CAP_MS 5000

/* The ceiling of the jitter window for an attempt, min(cap, base*2^(attempt-1)),
 * without overflow for any attempt. attempt 0 is treated as 1. */
uint32_t sp_backoff_ceiling(const sp_backoff *b, unsigned attempt);

/* A delay drawn uniformly from [0, ceiling]. */
uint32_t sp_backoff_delay(const sp_backoff *b, unsigned attempt, sp_rng *rng);

#endif
