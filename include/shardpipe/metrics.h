/* The metrics and health endpoints of `put` and `run`: /metrics in the
 * Prometheus text exposition format (version 0.0.4) and /healthz, served by
 * httpd.h. It owns the metric names and the health rule; the counters are
 * the flows' (flow.h) and their producers' (producer.h), read at each
 * scrape, so nothing is counted twice and nothing costs per record.
 *
 * Health: a flow is stalled when it has held records (buffered or in
 * flight) for longer than stall_ms without storing any; /healthz answers
 * 503 naming the stalled flows, otherwise 200 "ok". */
#ifndef SHARDPIPE_METRICS_H
#define SHARDPIPE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/buf.h"
#include "shardpipe/err.h"
#include "shardpipe/flow.h"
#include "shardpipe/log.h"
#include "shardpipe/loop.h"

#define SP_HEALTH_STALL_MS 60000

/* The flows now running (a reload replaces them): into *flows, their count returned. */
typedef size_t (*sp_metrics_flows_fn)(void *arg, sp_flow *const **flows);

typedef struct sp_metrics_opts {
    const char *listen;          /* "ADDR:PORT" (ADDR: 127.0.0.1 when left out) */
    const char *what;            /* the setting, for errors: "--metrics-listen" */
    uint32_t stall_ms;           /* 0: SP_HEALTH_STALL_MS */
    sp_metrics_flows_fn flows;
    void *arg;
    const sp_log *log;
} sp_metrics_opts;

typedef struct sp_metrics_srv sp_metrics_srv;

/* Listens and serves on the loop until freed. */
sp_metrics_srv *sp_metrics_new(sp_loop *loop, const sp_metrics_opts *o, sp_err *err);
int sp_metrics_port(const sp_metrics_srv *m);
void sp_metrics_free(sp_metrics_srv *m);

/* The exposition of these flows. */
void sp_metrics_render(sp_flow *const *flows, size_t n, sp_buf *out);
/* A label value as the format quotes it: \ " and newline escaped. */
void sp_metrics_label_value(sp_buf *out, const char *v);

#endif
