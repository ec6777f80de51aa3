/* A latency histogram of whole milliseconds: one counter per millisecond
 * up to a cap (larger values count in the last), with their sum, so that
 * quantiles and Prometheus buckets ("how many took at most N ms") can be
 * read without keeping the samples. Adding is one increment: no
 * allocation after sp_hist_init. */
#ifndef SHARDPIPE_HIST_H
#define SHARDPIPE_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/err.h"

typedef struct sp_hist {
    uint64_t *b;         /* b[ms], 0..cap_ms */
    uint64_t cap_ms;
    uint64_t n;          /* samples */
    uint64_t sum_ms;     /* of the samples as given (not capped) */
} sp_hist;

int sp_hist_init(sp_hist *h, uint64_t cap_ms, sp_err *err);
void sp_hist_free(sp_hist *h);
void sp_hist_add(sp_hist *h, uint64_t ms);
/* The value at quantile q (0..1); 0 when empty. */
uint64_t sp_hist_quantile(const sp_hist *h, double q);
/* For each of n increasing bounds, the samples of at most bounds[i] ms,
 * into counts[i]. */
void sp_hist_cumulative(const sp_hist *h, const uint64_t *bounds, size_t n, uint64_t *counts);

#endif
