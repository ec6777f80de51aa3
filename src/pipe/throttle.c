/* A sliding one-second window per shard, in 25 ms slots. A slot counts as
 * long as any part of it may still be inside the service's window, so the
 * client errs by at most one slot on the safe side. */
#include <math.h>
#include <string.h>

#include "shardpipe/throttle.h"

void sp_throttle_cfg_default(sp_throttle_cfg *c)
{
    c->share = 1.0;
    c->min_share = 0.05;
    c->decrease = 0.7;
    c->increase = 0.02;
    c->quiet_ms = 1000;
    c->cut_ms = 100;
    c->max_record_bytes = 1048576;
}

void sp_window_init(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms)
{
    memset(b, 0, sizeof *b);
    b->rate = c->share;
    b->last_throttle_ms = now_ms;
    b->last_cut_ms = now_ms;
    b->last_change_ms = now_ms;
}

/* Drops the slots that have left the window entirely (hold_ms later than
 * a plain second would). Lazily: `expired` is the first slot number not
 * yet dropped, so each slot is looked at once as time passes it, and a
 * call at the same slot costs a compare (not a scan of the ring). Slots
 * are only ever written at now / SP_SLOT_MS, which is at or past the mark,
 * so nothing below it can hold records again. */
static void expire(sp_window *b, uint64_t now_ms)
{
    uint32_t hold = b->hold_ms < SP_HOLD_MAX_MS ? b->hold_ms : SP_HOLD_MAX_MS;
    if (now_ms < hold)
        return;
    uint64_t cur = (now_ms - hold) / SP_SLOT_MS;
    if (cur < SP_WINDOW_SLOTS)
        return;
    uint64_t upto = cur - SP_WINDOW_SLOTS + 1; /* slots below this have left */
    if (upto <= b->expired)
        return;
    uint64_t s = upto - b->expired > SP_SLOTS ? upto - SP_SLOTS : b->expired;
    for (; s < upto; s++) {
        size_t i = (size_t)(s % SP_SLOTS);
        if (b->slot_no[i] == s) {
            b->records -= b->slot_records[i];
            b->bytes -= b->slot_bytes[i];
            b->slot_records[i] = 0;
            b->slot_bytes[i] = 0;
        }
    }
    b->expired = upto;
}

static double rec_limit(const sp_window *b)
{
    return floor(SP_SHARD_RECORDS_PER_S * b->rate);
}

static double byte_limit(const sp_window *b)
{
    return floor(SP_SHARD_BYTES_PER_S * b->rate);
}

/* Pacing: one 25 ms slot may take at most a tenth of the second's
 * allowance, so a full window is spread over a quarter second at least
 * instead of leaving in one burst that producers sharing a shard would
 * collide with. */
#define SLOT_SHARE 0.1

static int slot_fits(const sp_window *b, uint64_t now_ms, size_t bytes)
{
    uint64_t cur = now_ms / SP_SLOT_MS;
    size_t i = (size_t)(cur % SP_SLOTS);
    if (b->slot_no[i] != cur || (b->slot_records[i] == 0 && b->slot_bytes[i] == 0))
        return 1;
    return (double)b->slot_records[i] + 1.0 <= fmax(1.0, rec_limit(b) * SLOT_SHARE) &&
           (double)(b->slot_bytes[i] + bytes) <= byte_limit(b) * SLOT_SHARE;
}

/* Whether {1 record, bytes} fits once `freed_r` records and `freed_b`
 * bytes have left the window. */
static int fits_after(const sp_window *b, uint64_t freed_r, uint64_t freed_b, size_t bytes)
{
    uint64_t r = b->records - freed_r, by = b->bytes - freed_b;
    if ((double)r + 1.0 > rec_limit(b))
        return 0;
    /* A record bigger than the whole limit goes alone into an empty window. */
    if ((double)bytes > byte_limit(b))
        return by == 0;
    return (double)by + (double)bytes <= byte_limit(b);
}

static int fits(const sp_window *b, size_t bytes)
{
    return fits_after(b, 0, 0, bytes);
}

int sp_window_take(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes)
{
    (void)c;
    expire(b, now_ms);
    if (!fits(b, bytes) || !slot_fits(b, now_ms, bytes))
        return 0;
    uint64_t cur = now_ms / SP_SLOT_MS;
    size_t i = (size_t)(cur % SP_SLOTS);
    if (b->slot_no[i] != cur) {
        b->records -= b->slot_records[i];
        b->bytes -= b->slot_bytes[i];
        b->slot_records[i] = 0;
        b->slot_bytes[i] = 0;
        b->slot_no[i] = cur;
    }
    b->slot_records[i]++;
    b->slot_bytes[i] += bytes;
    b->records++;
    b->bytes += bytes;
    return 1;
}

uint64_t sp_window_wait_ms(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes)
{
    (void)c;
    expire(b, now_ms);
    if (fits(b, bytes))
        return slot_fits(b, now_ms, bytes) ? 0 : SP_SLOT_MS - now_ms % SP_SLOT_MS;
    /* Free slots from the oldest until it would fit (counted, not done). */
    uint32_t hold = b->hold_ms < SP_HOLD_MAX_MS ? b->hold_ms : SP_HOLD_MAX_MS;
    uint64_t cur = now_ms / SP_SLOT_MS;
    uint64_t freed_r = 0, freed_b = 0;
    for (uint64_t s = cur >= SP_SLOTS - 1 ? cur - (SP_SLOTS - 1) : 0; s <= cur; s++) {
        size_t i = (size_t)(s % SP_SLOTS);
        if (b->slot_no[i] != s || (b->slot_records[i] == 0 && b->slot_bytes[i] == 0))
            continue;
        freed_r += b->slot_records[i];
        freed_b += b->slot_bytes[i];
        if (fits_after(b, freed_r, freed_b, bytes)) {
            uint64_t at = (s + SP_WINDOW_SLOTS) * SP_SLOT_MS + hold;
            return at > now_ms ? at - now_ms : 0;
        }
    }
    /* Only possible with a rate too low for one record: a slot's worth. */
    return SP_SLOT_MS;
}

void sp_window_throttled(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, uint64_t sent_ms)
{
    b->last_throttle_ms = now_ms;
    if (b->throttles > 0 && (sent_ms < b->last_cut_ms || now_ms < b->last_cut_ms + c->cut_ms))
        return;
    b->rate = fmax(c->min_share, b->rate * c->decrease);
    b->throttles++;
    b->last_cut_ms = now_ms;
    b->last_change_ms = now_ms;
}

void sp_window_ok(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms)
{
    if (b->rate >= c->share || now_ms < b->last_change_ms + c->quiet_ms ||
        now_ms < b->last_throttle_ms + c->quiet_ms)
        return;
    b->rate = fmin(c->share, b->rate + c->increase);
    b->last_change_ms = now_ms;
}

double sp_window_records_rate(const sp_window *b)
{
    return SP_SHARD_RECORDS_PER_S * b->rate;
}

double sp_window_bytes_rate(const sp_window *b)
{
    return SP_SHARD_BYTES_PER_S * b->rate;
}
