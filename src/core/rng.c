/* xorshift64* (Vigna, 2014): 64 bits of state, one multiply per draw.
 * Good enough for jitter and random partition keys; never for secrets. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "shardpipe/rng.h"

/* xorshift has one fixed point, the all-zero state; any other constant
 * would do as its replacement. */
#define NONZERO_STATE 0x9e3779b97f4a7c15ull

/* splitmix64's finaliser: spreads nearby seeds (0, 1, 2...) over the whole
 * state space so that test seeds do not give correlated first draws. */
static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sp_rng_seed_with(sp_rng *r, uint64_t seed)
{
    r->s = mix(seed);
    if (r->s == 0)
        r->s = NONZERO_STATE;
}

int sp_rng_seed(sp_rng *r, sp_err *err)
{
    uint64_t seed;
    unsigned char *p = (unsigned char *)&seed;
    size_t got = 0;

    while (got < sizeof seed) {
        ssize_t n = getrandom(p + got, sizeof seed - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sp_err_set(err, "getrandom: %s", strerror(errno));
        }
        got += (size_t)n;
    }
    r->s = seed != 0 ? seed : NONZERO_STATE;
    return SP_OK;
}

uint64_t sp_rng_next(sp_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint64_t sp_rng_below(sp_rng *r, uint64_t bound)
{
    if (bound == 0)
        return 0;
    /* Draws below 2^64 mod bound would make the low residues more likely;
     * reject them (fewer than one draw in two, whatever the bound). */
    uint64_t threshold = -bound % bound;
    for (;;) {
        uint64_t x = sp_rng_next(r);
        if (x >= threshold)
            return x % bound;
    }
}
