/* Per-shard client-side limits, and how producers sharing a shard settle
 * on fair shares of it.
 *
 * The window. A sliding one-second window in 25 ms slots, mirroring the
 * service's rolling second: a slot counts as long as any part of it may
 * still be inside the service's window (plus hold_ms, the request's
 * transit), so one producer alone errs by at most a slot on the safe side
 * and is never refused. Slots expire lazily, once each as time passes them.
 *
 * Pacing. Within the window, records leave through a token bucket at the
 * window's own rate holding pace_ms of it (twice the producer's least wait
 * for room, so a late wake-up loses nothing), so a producer's records leave
 * evenly instead of in a burst each time its second comes round. Bursts at
 * a fixed phase keep colliding with the same neighbours' (phase effects,
 * Floyd & Jacobson 1992); paced streams add up to a smooth load, so when the
 * shard is full, refusals fall on each producer in proportion to what it
 * sends.
 *
 * Sharing (the rate, a share of the shard's limits). Congestion control in
 * the manner of TCP (Chiu & Jain 1989: only additive increase with
 * multiplicative decrease converges to fairness):
 *  - slow start: a window starts at `start` (a tenth of the limit) and
 *    doubles every 100 ms while it holds records back, until the first
 *    refusal or the configured share. A fleet starting together thus overshoots by one round
 *    trip, not by a whole second at full rate each;
 *  - the start's overload: each refusal then cuts to `decrease` × the rate
 *    actually stored over the last second (at most every cut_ms, and only
 *    for records sent after the last cut), so the fleet lands near its
 *    fair shares at once rather than after many 30 % steps;
 *  - then, steadily: every refused entry (its first refusal) cuts the rate
 *    by `per_entry` (1.5 %). Records are refused in proportion to what each
 *    producer sends, so a bigger sender gives back more, and a small
 *    overload costs a small cut (as DCTCP cuts by the marked fraction)
 *    instead of a synchronised 30 % sawtooth that leaves the shard idle;
 *  - additive increase of `increase` per second after quiet_ms without a
 *    cut, and only while the window is what holds records back (a window
 *    that is not used does not grow, as in TCP's congestion-window
 *    validation).
 * The balance of increase and decrease: refusals are about
 * increase × N² / (per_entry × 1000) of a shard's entries for N producers
 * at fair shares, so a handful of agents per shard stay far under 1 %; a
 * fleet of a hundred on every shard does not (README, "Sharing a stream",
 * and tests/tools/fleet_sim.c, which measures all of this).
 *
 * Time is passed in (milliseconds), so all of it is tested over simulated
 * time. */
#include <math.h>
#include <string.h>

#include "shardpipe/throttle.h"

void sp_throttle_cfg_default(sp_throttle_cfg *c)
{
    c->share = 1.0;
    c->start = 0.1;
    c->min_share = 0.002;
    c->decrease = 0.8;
    c->per_entry = 0.015;
    c->increase = 0.005;
    c->quiet_ms = 500;
    c->step_ms = 50;
    c->cut_ms = 100;
    c->pace_ms = 50;
    c->max_record_bytes = 1048576;
}

static double pace_cap_r(const sp_window *b, const sp_throttle_cfg *c);
static double pace_cap_b(const sp_window *b, const sp_throttle_cfg *c);

#define SLOT_SHARE 0.1

void sp_window_init(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms)
{
    memset(b, 0, sizeof *b);
    b->rate = fmin(c->share, c->start);
    b->pace_at_ms = now_ms;
    /* A first batch may leave at once: as much as one slot of the older
     * pacing allowed (a tenth of the second at the window's rate). */
    b->pace_r = fmax(pace_cap_r(b, c), SP_SHARD_RECORDS_PER_S * b->rate * SLOT_SHARE);
    b->pace_b = fmax(pace_cap_b(b, c), SP_SHARD_BYTES_PER_S * b->rate * SLOT_SHARE);
    b->last_throttle_ms = now_ms;
    b->last_cut_ms = now_ms;
    b->last_change_ms = now_ms;
    b->last_limited_ms = UINT64_MAX; /* never */
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
    /* The slots from the mark to upto; all of the ring after a long gap. */
    uint64_t s = upto - b->expired > SP_SLOTS ? upto - SP_SLOTS : b->expired;
    for (; s < upto; s++) {
        size_t i = (size_t)(s % SP_SLOTS);
        if (b->slot_no[i] < upto) {
            b->records -= b->slot_records[i];
            b->bytes -= b->slot_bytes[i];
            b->slot_records[i] = 0;
            b->slot_bytes[i] = 0;
        }
    }
    b->expired = upto;
}

/* The limits need no floor(): counts are whole, and a whole n fits under
 * x exactly when it fits under floor(x). */
static double rec_limit(const sp_window *b)
{
    return SP_SHARD_RECORDS_PER_S * b->rate;
}

static double byte_limit(const sp_window *b)
{
    return SP_SHARD_BYTES_PER_S * b->rate;
}

/* With pace_ms 0, the older pacing: one 25 ms slot may take at most a
 * tenth of the second's allowance (SLOT_SHARE: a full window leaves over
 * a quarter second at least, not in one burst). */

static int slot_fits(const sp_window *b, uint64_t now_ms, size_t bytes)
{
    uint64_t cur = now_ms / SP_SLOT_MS;
    size_t i = (size_t)(cur % SP_SLOTS);
    if (b->slot_no[i] != cur || (b->slot_records[i] == 0 && b->slot_bytes[i] == 0))
        return 1;
    return (double)b->slot_records[i] + 1.0 <= fmax(1.0, rec_limit(b) * SLOT_SHARE) &&
           (double)(b->slot_bytes[i] + bytes) <= byte_limit(b) * SLOT_SHARE;
}

/* Pacing by a token bucket at the window's rate, holding pace_ms of it:
 * records leave evenly, not in bursts at whatever moment the window's
 * own second comes round again (a fixed phase, which keeps hitting the
 * same producers of a shared shard). */
static double pace_cap_r(const sp_window *b, const sp_throttle_cfg *c)
{
    return fmax(16.0, SP_SHARD_RECORDS_PER_S * b->rate * c->pace_ms / 1000.0);
}

static double pace_cap_b(const sp_window *b, const sp_throttle_cfg *c)
{
    return SP_SHARD_BYTES_PER_S * b->rate * c->pace_ms / 1000.0;
}

/* The pace: the rate the window itself allows over its whole span (a
 * second, the hold, a slot), so that the pace, not the window, is what
 * holds a busy producer back. */
static double pace_factor(const sp_window *b)
{
    uint32_t hold = b->hold_ms < SP_HOLD_MAX_MS ? b->hold_ms : SP_HOLD_MAX_MS;
    return (double)SP_WINDOW_MS / (double)(SP_WINDOW_MS + hold + SP_SLOT_MS);
}

static void pace_refill(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms)
{
    if (now_ms <= b->pace_at_ms)
        return;
    double dt = (double)(now_ms - b->pace_at_ms) * pace_factor(b) / 1000.0;
    double cr = pace_cap_r(b, c), cb = pace_cap_b(b, c);
    /* Filled up to the cap; a fuller bucket (the first batch) is kept. */
    if (b->pace_r < cr)
        b->pace_r = fmin(cr, b->pace_r + dt * SP_SHARD_RECORDS_PER_S * b->rate);
    if (b->pace_b < cb)
        b->pace_b = fmin(cb, b->pace_b + dt * SP_SHARD_BYTES_PER_S * b->rate);
    b->pace_at_ms = now_ms;
}

/* A record leaves while the bucket is not empty, and may take it below
 * zero (the debt is paid by waiting): no allowance is lost to records
 * that are large next to the bucket. */
static int pace_fits(const sp_window *b)
{
    return b->pace_r > 0 && b->pace_b > 0;
}

static uint64_t pace_wait(const sp_window *b)
{
    double per_ms = b->rate * pace_factor(b) / 1000.0;
    double wr = -b->pace_r / (per_ms * SP_SHARD_RECORDS_PER_S);
    double wb = -b->pace_b / (per_ms * SP_SHARD_BYTES_PER_S);
    double w = fmax(wr, wb);
    return w < 0 ? 0 : (uint64_t)floor(w) + 1;
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
    expire(b, now_ms);
    if (c->pace_ms)
        pace_refill(b, c, now_ms);
    if (!fits(b, bytes) || (c->pace_ms ? !pace_fits(b) : !slot_fits(b, now_ms, bytes))) {
        b->last_limited_ms = now_ms;
        return 0;
    }
    if (c->pace_ms) {
        b->pace_r -= 1.0;
        b->pace_b -= (double)bytes;
    }
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
    expire(b, now_ms);
    if (fits(b, bytes) && c->pace_ms) {
        pace_refill(b, c, now_ms);
        return pace_fits(b) ? 0 : pace_wait(b);
    }
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

/* The stored rate (a share of the limit) over the last second, from the
 * 8 buckets of OK_BUCKET_MS; over the time since the first record was
 * stored when that is less; -1 when too little is known. */
#define OK_BUCKET_MS 125

static double ok_rate(const sp_window *b, uint64_t now_ms)
{
    uint64_t cur = now_ms / OK_BUCKET_MS, n = 0, by = 0;
    for (size_t i = 0; i < SP_OK_BUCKETS; i++)
        if (b->ok_no[i] + SP_OK_BUCKETS > cur) {
            n += b->ok_n[i];
            by += b->ok_bytes[i];
        }
    uint64_t span = now_ms - b->first_ok_ms;
    if (span > SP_WINDOW_MS)
        span = SP_WINDOW_MS;
    if (n == 0 || span < 2 * OK_BUCKET_MS)
        return -1;
    /* Whichever limit the stored records came closer to. */
    return fmax((double)n / SP_SHARD_RECORDS_PER_S, (double)by / SP_SHARD_BYTES_PER_S) * SP_WINDOW_MS /
           (double)span;
}

void sp_window_throttled(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, uint64_t sent_ms, unsigned attempts,
                         size_t bytes)
{
    b->last_throttle_ms = now_ms;
    if (b->steady) {
        /* A record refused again tells of an overload already counted. */
        if (attempts > 1)
            return;
        /* An entry weighs its share of the limit it comes closer to: a
         * 10 KB record is a hundredth of a second's bytes, ten 1 KB ones. */
        double w = fmax(1.0, (double)bytes * SP_SHARD_RECORDS_PER_S / SP_SHARD_BYTES_PER_S);
        b->rate = fmax(c->min_share, b->rate * fmax(0.5, 1.0 - c->per_entry * w));
    } else {
        /* Sent before the last cut: it tells of the old rate. */
        if (b->throttles > 0 && (sent_ms < b->last_cut_ms || now_ms < b->last_cut_ms + c->cut_ms))
            return;
        double r = b->rate, got = ok_rate(b, now_ms);
        if (got >= 0 && got < r)
            r = got;
        b->rate = fmax(c->min_share, r * c->decrease);
    }
    b->throttles++;
    b->last_cut_ms = now_ms;
    b->last_change_ms = now_ms;
}

/* Slow start: the rate doubles every SS_DOUBLE_MS. */
#define SS_DOUBLE_MS 100.0

void sp_window_ok(sp_window *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes)
{
    uint64_t cur = now_ms / OK_BUCKET_MS;
    size_t i = (size_t)(cur % SP_OK_BUCKETS);
    if (b->ok_no[i] != cur) {
        b->ok_no[i] = cur;
        b->ok_n[i] = 0;
        b->ok_bytes[i] = 0;
    }
    b->ok_bytes[i] += bytes;
    if (b->ok_total++ == 0)
        b->first_ok_ms = now_ms;
    b->ok_n[i]++;
    if (now_ms < b->last_change_ms + c->step_ms)
        return;
    if (b->throttles > 0 && !b->steady) {
        if (now_ms >= b->last_throttle_ms + c->quiet_ms) {
            b->steady = 1; /* the start's overload is over */
            b->last_change_ms = now_ms;
        }
        return;
    }
    if (b->rate >= c->share)
        return;
    /* A window that held nothing back does not grow (unused time does not
     * count). */
    if (now_ms < b->last_limited_ms || now_ms - b->last_limited_ms > SP_WINDOW_MS) {
        b->last_change_ms = now_ms;
        return;
    }
    if (b->throttles > 0 && now_ms < b->last_cut_ms + c->quiet_ms)
        return;
    double dt = fmin(1.0, (double)(now_ms - b->last_change_ms) / 1000.0);
    if (b->throttles == 0)
        b->rate = fmin(c->share, b->rate * exp2(dt * 1000.0 / SS_DOUBLE_MS));
    else
        b->rate = fmin(c->share, b->rate + c->increase * dt);
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
