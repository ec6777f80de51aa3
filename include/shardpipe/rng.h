/* A small non-cryptographic PRNG (xorshift64*), one state per owner so that
 * there is no hidden global state; seeded from getrandom(2). Used for random
 * partition keys and backoff jitter, never for secrets. */
#ifndef SHARDPIPE_RNG_H
#define SHARDPIPE_RNG_H

#include <stdint.h>
#include "shardpipe/err.h"

typedef struct sp_rng {
    uint64_t s;
} sp_rng;

int sp_rng_seed(sp_rng *r, sp_err *err);           /* from getrandom(2) */
void sp_rng_seed_with(sp_rng *r, uint64_t seed);   /* deterministic, for tests */
uint64_t sp_rng_next(sp_rng *r);
/* Uniform in [0, bound); bound 0 returns 0. */
uint64_t sp_rng_below(sp_rng *r, uint64_t bound);

#endif
