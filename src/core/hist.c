/* Millisecond latency histogram (see hist.h). */
#include <stdlib.h>

#include "shardpipe/hist.h"

int sp_hist_init(sp_hist *h, uint64_t cap_ms, sp_err *err)
{
    h->n = h->sum_ms = 0;
    h->cap_ms = cap_ms;
    h->b = calloc(cap_ms + 1, sizeof *h->b);
    if (h->b == NULL)
        return sp_err_set(err, "out of memory for a latency histogram");
    return SP_OK;
}

void sp_hist_free(sp_hist *h)
{
    free(h->b);
    h->b = NULL;
}

void sp_hist_add(sp_hist *h, uint64_t ms)
{
    if (h->b == NULL)
        return;
    h->b[ms < h->cap_ms ? ms : h->cap_ms]++;
    h->n++;
    h->sum_ms += ms;
}

uint64_t sp_hist_quantile(const sp_hist *h, double q)
{
    if (h->n == 0 || h->b == NULL)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (uint64_t i = 0; i < h->cap_ms; i++) {
        seen += h->b[i];
        if (seen > want)
            return i;
    }
    return h->cap_ms;
}

void sp_hist_cumulative(const sp_hist *h, const uint64_t *bounds, size_t n, uint64_t *counts)
{
    uint64_t seen = 0, i = 0;
    for (size_t k = 0; k < n; k++) {
        for (; h->b != NULL && i <= bounds[k] && i <= h->cap_ms; i++)
            seen += h->b[i];
        counts[k] = seen;
    }
}
