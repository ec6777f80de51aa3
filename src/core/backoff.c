/* Exponential backoff with full jitter (see backoff.h). */
#include "shardpipe/backoff.h"

uint32_t sp_backoff_ceiling(const sp_backoff *b, unsigned attempt)
{
    unsigned shift = attempt > 0 ? attempt - 1 : 0;
    if (b->base_ms == 0)
        return 0;
    /* base < 2^32, so base << 31 < 2^63 still fits; any larger shift is
     * past every 32-bit cap. */
    if (shift > 31)
        return b->cap_ms;
    uint64_t v = (uint64_t)b->base_ms << shift;
    return v < b->cap_ms ? (uint32_t)v : b->cap_ms;
}

uint32_t sp_backoff_delay(const sp_backoff *b, unsigned attempt, sp_rng *rng)
{
    uint64_t ceil = sp_backoff_ceiling(b, attempt);
    return (uint32_t)sp_rng_below(rng, ceil + 1);
}
