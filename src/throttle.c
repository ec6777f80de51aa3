#include <math.h>

#include "shardpipe/throttle.h"

void sp_throttle_cfg_default(sp_throttle_cfg *c)
{
    c->share = 1.0;
    c->min_share = 0.05;
    c->decrease = 0.7;
    c->increase = 0.02;
    c->quiet_ms = 1000;
    c->max_record_bytes = 1048576;
}

static double cap_bytes(const sp_throttle_cfg *c)
{
    /* One second's worth, but never less than one largest record, so a
     * large-record stream's records can pass at all. */
    double cap = SP_SHARD_BYTES_PER_S * (c->share > 1.0 ? c->share : 1.0);
    return (double)c->max_record_bytes > cap ? (double)c->max_record_bytes : cap;
}

void sp_bucket_init(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms)
{
    b->rate = c->share;
    b->cap_records = SP_SHARD_RECORDS_PER_S * (c->share > 1.0 ? c->share : 1.0);
    b->cap_bytes = cap_bytes(c);
    b->records = b->cap_records;
    b->bytes = b->cap_bytes;
    b->last_ms = now_ms;
    b->last_change_ms = now_ms;
    b->last_throttle_ms = now_ms;
    b->throttles = 0;
}

static void refill(sp_bucket *b, uint64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    double s = (double)(now_ms - b->last_ms) / 1000.0;
    b->records = fmin(b->cap_records, b->records + s * SP_SHARD_RECORDS_PER_S * b->rate);
    b->bytes = fmin(b->cap_bytes, b->bytes + s * SP_SHARD_BYTES_PER_S * b->rate);
    b->last_ms = now_ms;
}

int sp_bucket_take(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes)
{
    (void)c;
    refill(b, now_ms);
    if (b->records < 1.0 || b->bytes < (double)bytes)
        return 0;
    b->records -= 1.0;
    b->bytes -= (double)bytes;
    return 1;
}

uint64_t sp_bucket_wait_ms(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms, size_t bytes)
{
    (void)c;
    refill(b, now_ms);
    double need_r = 1.0 - b->records;
    double need_b = (double)bytes - b->bytes;
    double wr = need_r > 0 ? need_r / (SP_SHARD_RECORDS_PER_S * b->rate) : 0;
    double wb = need_b > 0 ? need_b / (SP_SHARD_BYTES_PER_S * b->rate) : 0;
    double w = wr > wb ? wr : wb;
    return w <= 0 ? 0 : (uint64_t)ceil(w * 1000.0);
}

void sp_bucket_throttled(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms)
{
    refill(b, now_ms);
    if (now_ms >= b->last_change_ms + 100 || b->throttles == 0) {
        b->rate = fmax(c->min_share, b->rate * c->decrease);
        b->throttles++;
        b->last_change_ms = now_ms;
    }
    b->last_throttle_ms = now_ms;
    /* The shard is over its limit right now: what we thought we had, we do not. */
    b->records = 0;
    b->bytes = 0;
}

void sp_bucket_ok(sp_bucket *b, const sp_throttle_cfg *c, uint64_t now_ms)
{
    if (b->rate >= c->share || now_ms < b->last_change_ms + c->quiet_ms ||
        now_ms < b->last_throttle_ms + c->quiet_ms)
        return;
    refill(b, now_ms);
    b->rate = fmin(c->share, b->rate + c->increase);
    b->last_change_ms = now_ms;
}

double sp_bucket_records_rate(const sp_bucket *b)
{
    return SP_SHARD_RECORDS_PER_S * b->rate;
}

double sp_bucket_bytes_rate(const sp_bucket *b)
{
    return SP_SHARD_BYTES_PER_S * b->rate;
}
