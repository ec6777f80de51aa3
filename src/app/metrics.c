/* /metrics and /healthz (see metrics.h). A family's samples are written
 * together, under one # HELP and # TYPE, flows inside families, as the
 * exposition format requires. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/errcount.h"
#include "shardpipe/httpd.h"
#include "shardpipe/metrics.h"

#define TICK_MS 1000   /* how often stalls are looked for */

#define FC(m) offsetof(sp_flow_counters, m)
#define PC(m) (offsetof(sp_flow_counters, p) + offsetof(sp_producer_stats, m))

struct family {
    const char *name;    /* without the shardpipe_ prefix */
    const char *type;
    size_t off;          /* a uint64_t of sp_flow_counters (size_t for gauges) */
    const char *help;
};

/* Counters first, in the order of the summary line. */
static const struct family flow_families[] = {
    {"records_total", "counter", PC(records), "Records stored in the stream."},
    {"stored_bytes_total", "counter", PC(bytes), "Data bytes of the records stored."},
    {"requests_total", "counter", PC(requests), "PutRecords requests answered."},
    {"retried_total", "counter", PC(retried), "Entries sent again after a failure."},
    {"failed_total", "counter", PC(failed), "Records given up on, known not to be stored."},
    {"unknown_total", "counter", PC(unknown), "Records given up on that may have been stored."},
    {"partial_total", "counter", FC(partial), "Lines cut short at a stop and not sent."},
    {"split_total", "counter", FC(split), "Oversize lines split into several records."},
    {"truncated_total", "counter", FC(truncated), "Oversize lines truncated."},
    {"dropped_total", "counter", FC(dropped), "Oversize lines dropped."},
    {"throttled_total", "counter", PC(throttled), "Entries refused with ProvisionedThroughputExceeded."},
    {"wrong_shard_total", "counter", PC(wrong_shard), "Records stored in another shard than predicted."},
    {"key_fallbacks_total", "counter", FC(key_fallbacks), "Records sent with a random key: their key "
                                                          "could not be taken from the line."},
    {"read_lines_total", "counter", FC(lines_read), "Lines (and datagrams) read."},
    {"read_bytes_total", "counter", FC(bytes_read), "Input bytes read."},
    {"dropped_datagrams_total", "counter", FC(dropped_datagrams), "Datagrams dropped while input was "
                                                                  "paused or the buffer full."},
    {"shard_map_refreshes_total", "counter", PC(map_refreshes), "Shard maps installed."},
    {"buffered_bytes", "gauge", FC(held), "Bytes of records buffered or in flight."},
    {"shards", "gauge", FC(shards), "Open shards records are routed to."},
};

#define NFAM (sizeof flow_families / sizeof flow_families[0])

/* Latency bounds, in milliseconds (le in seconds). */
static const uint64_t lat_bounds[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
#define NBOUNDS (sizeof lat_bounds / sizeof lat_bounds[0])

void sp_metrics_label_value(sp_buf *out, const char *v)
{
    sp_buf_putc(out, '"');
    for (; *v; v++) {
        if (*v == '\\')
            sp_buf_puts(out, "\\\\");
        else if (*v == '"')
            sp_buf_puts(out, "\\\"");
        else if (*v == '\n')
            sp_buf_puts(out, "\\n");
        else
            sp_buf_putc(out, *v);
    }
    sp_buf_putc(out, '"');
}

static void head(sp_buf *out, const char *name, const char *type, const char *help)
{
    sp_buf_printf(out, "# HELP shardpipe_%s %s\n# TYPE shardpipe_%s %s\n", name, help, name, type);
}

static void flow_label(sp_buf *out, const char *name, const sp_flow *f)
{
    sp_buf_printf(out, "shardpipe_%s{flow=", name);
    sp_metrics_label_value(out, sp_flow_name(f));
}

static void shard_families(sp_flow *const *flows, size_t n, sp_buf *out)
{
    static const char *const names[] = {"shard_records_total", "shard_stored_bytes_total",
                                        "shard_throttled_total", "shard_rate_ratio"};
    static const char *const helps[] = {
        "Records stored in the shard.", "Data bytes stored in the shard.",
        "Entries the shard refused with ProvisionedThroughputExceeded.",
        "The send rate allowed to the shard now, as a share of its write limit "
        "(1: 1000 records and 1 MiB a second)."};
    for (int k = 0; k < 4; k++) {
        head(out, names[k], k == 3 ? "gauge" : "counter", helps[k]);
        for (size_t i = 0; i < n; i++) {
            const sp_producer *p = sp_flow_producer(flows[i]);
            size_t ns = p ? sp_producer_shards(p) : 0;
            for (size_t s = 0; s < ns; s++) {
                sp_shard_counters c;
                double share;
                const char *id = sp_producer_shard_at(p, s, &c, &share);
                flow_label(out, names[k], flows[i]);
                sp_buf_puts(out, ",shard=");
                sp_metrics_label_value(out, id);
                uint64_t v = k == 0 ? c.records : k == 1 ? c.bytes : c.throttled;
                if (k == 3)
                    sp_buf_printf(out, "} %.6g\n", share);
                else
                    sp_buf_printf(out, "} %llu\n", (unsigned long long)v);
            }
        }
    }
}

static void latency_family(sp_flow *const *flows, size_t n, enum sp_lat which, sp_buf *out)
{
    const char *name = which == SP_LAT_RECORD ? "record_latency_seconds" : "request_duration_seconds";
    head(out, name, "histogram", which == SP_LAT_RECORD ? "Time from reading a record to its being stored."
                                                       : "Time from sending a PutRecords request to its answer.");
    char series[64];
    for (size_t i = 0; i < n; i++) {
        const sp_producer *p = sp_flow_producer(flows[i]);
        sp_hist none = {0};
        const sp_hist *h = p ? sp_producer_latency(p, which) : &none;
        uint64_t counts[NBOUNDS];
        sp_hist_cumulative(h, lat_bounds, NBOUNDS, counts);
        snprintf(series, sizeof series, "%s_bucket", name);
        for (size_t b = 0; b <= NBOUNDS; b++) {
            flow_label(out, series, flows[i]);
            if (b < NBOUNDS)
                sp_buf_printf(out, ",le=\"%g\"} %llu\n", (double)lat_bounds[b] / 1000.0,
                              (unsigned long long)counts[b]);
            else
                sp_buf_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)h->n);
        }
        snprintf(series, sizeof series, "%s_sum", name);
        flow_label(out, series, flows[i]);
        sp_buf_printf(out, "} %.3f\n", (double)h->sum_ms / 1000.0);
        snprintf(series, sizeof series, "%s_count", name);
        flow_label(out, series, flows[i]);
        sp_buf_printf(out, "} %llu\n", (unsigned long long)h->n);
    }
}

static void failures_family(sp_flow *const *flows, const sp_flow_counters *c, size_t n, sp_buf *out)
{
    const char *name = "failures_total";
    head(out, name, "counter", "Entries that failed or were retried, by error code: the entry's own "
                               "code in a PutRecords answer, or its whole request's (TransportError, "
                               "ServiceUnavailable, ...); code=\"other\" once 16 codes are in use.");
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        const char *code;
        for (size_t k = 0; (code = sp_errcount_at(&c[i].p.errors, k, &v)) != NULL; k++) {
            flow_label(out, name, flows[i]);
            sp_buf_puts(out, ",code=");
            sp_metrics_label_value(out, code);
            sp_buf_printf(out, "} %llu\n", (unsigned long long)v);
        }
    }
}

struct behind_ctx {
    sp_buf *out;
    const sp_flow *f;
};

static void behind_one(void *arg, const char *path, uint64_t behind)
{
    struct behind_ctx *b = arg;
    flow_label(b->out, "file_behind_bytes", b->f);
    sp_buf_puts(b->out, ",file=");
    sp_metrics_label_value(b->out, path);
    sp_buf_printf(b->out, "} %llu\n", (unsigned long long)behind);
}

static void file_family(sp_flow *const *flows, size_t n, sp_buf *out)
{
    head(out, "file_behind_bytes", "gauge", "Bytes of a tailed file not read yet: its size now "
                                            "minus the offset read so far.");
    for (size_t i = 0; i < n; i++) {
        struct behind_ctx b = {out, flows[i]};
        sp_flow_files(flows[i], behind_one, &b);
    }
}

void sp_metrics_render(sp_flow *const *flows, size_t n, sp_buf *out)
{
    sp_flow_counters *c = calloc(n ? n : 1, sizeof *c);
    if (c == NULL) {
        out->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        sp_flow_counters_get(flows[i], &c[i]);
    for (size_t k = 0; k < NFAM; k++) {
        const struct family *fm = &flow_families[k];
        head(out, fm->name, fm->type, fm->help);
        for (size_t i = 0; i < n; i++) {
            const char *at = (const char *)&c[i] + fm->off;
            unsigned long long v;
            if (fm->off == FC(held) || fm->off == FC(shards)) {
                size_t z;
                memcpy(&z, at, sizeof z);
                v = z;
            } else {
                uint64_t u;
                memcpy(&u, at, sizeof u);
                v = u;
            }
            flow_label(out, fm->name, flows[i]);
            sp_buf_printf(out, "} %llu\n", v);
        }
    }
    failures_family(flows, c, n, out);
    free(c);
    file_family(flows, n, out);
    shard_families(flows, n, out);
    latency_family(flows, n, SP_LAT_RECORD, out);
    latency_family(flows, n, SP_LAT_REQUEST, out);
}

/* ---- the server and the health rule ---- */

struct watch {
    const sp_flow *f;
    uint64_t records;    /* stored, at the last look */
    uint64_t ok_ms;      /* last time it held nothing or had stored more */
};

struct sp_metrics_srv {
    sp_loop *loop;
    sp_metrics_opts o;
    sp_httpd *h;
    sp_timer tick;
    struct watch *w;
    size_t nw, capw;
};

/* Brings the per-flow watch up to date; a flow it has not seen starts healthy. */
static void look(sp_metrics_srv *m, sp_flow *const *flows, size_t n)
{
    uint64_t now = sp_loop_now_ms(m->loop);
    if (n > m->capw) {
        struct watch *w = realloc(m->w, n * sizeof *w);
        if (w == NULL)
            return;    /* next time: health answers from what it knows */
        m->w = w;
        m->capw = n;
    }
    for (size_t i = 0; i < n; i++) {
        sp_flow_counters c;
        sp_flow_counters_get(flows[i], &c);
        struct watch *w = &m->w[i];
        if (i >= m->nw || w->f != flows[i]) {
            w->f = flows[i];
            w->records = c.p.records;
            w->ok_ms = now;
        }
        if (c.held == 0 || c.p.records != w->records)
            w->ok_ms = now;
        w->records = c.p.records;
    }
    m->nw = n;
}

static int health(sp_metrics_srv *m, sp_flow *const *flows, size_t n, sp_buf *body)
{
    look(m, flows, n);
    uint64_t now = sp_loop_now_ms(m->loop);
    int bad = 0;
    for (size_t i = 0; i < m->nw; i++) {
        uint64_t idle = now - m->w[i].ok_ms;
        if (idle <= m->o.stall_ms)
            continue;
        sp_flow_counters c;
        sp_flow_counters_get(flows[i], &c);
        sp_buf_printf(body, "%sflow %s: %zu bytes waiting and nothing stored for %llu s", bad ? "; " : "stalled: ",
                      sp_flow_name(flows[i]), c.held, (unsigned long long)(idle / 1000));
        bad = 1;
    }
    if (!bad) {
        sp_buf_puts(body, "ok\n");
        return 200;
    }
    sp_buf_putc(body, '\n');
    return 503;
}

static int serve(void *arg, const char *path, sp_buf *body, const char **ctype)
{
    sp_metrics_srv *m = arg;
    sp_flow *const *flows = NULL;
    size_t n = m->o.flows(m->o.arg, &flows);
    if (strcmp(path, "/metrics") == 0) {
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        sp_metrics_render(flows, n, body);
        return 200;
    }
    if (strcmp(path, "/healthz") == 0)
        return health(m, flows, n, body);
    return 404;
}

static void on_tick(sp_loop *loop, void *arg)
{
    sp_metrics_srv *m = arg;
    sp_flow *const *flows = NULL;
    size_t n = m->o.flows(m->o.arg, &flows);
    sp_err err;
    look(m, flows, n);
    if (sp_timer_start(loop, &m->tick, TICK_MS, &err) != SP_OK)
        sp_log_error(m->o.log, "%s", err.msg);
}

sp_metrics_srv *sp_metrics_new(sp_loop *loop, const sp_metrics_opts *o, sp_err *err)
{
    sp_metrics_srv *m = calloc(1, sizeof *m);
    if (m == NULL) {
        sp_err_set(err, "out of memory");
        return NULL;
    }
    m->loop = loop;
    m->o = *o;
    if (m->o.stall_ms == 0)
        m->o.stall_ms = SP_HEALTH_STALL_MS;
    sp_timer_init(&m->tick, on_tick, m);
    sp_httpd_opts ho = {0};
    ho.listen = o->listen;
    ho.what = o->what;
    ho.fn = serve;
    ho.arg = m;
    ho.log = o->log;
    m->h = sp_httpd_new(loop, &ho, err);
    m->o.listen = NULL;   /* the caller's string: only read to bind */
    if (m->h == NULL || sp_timer_start(loop, &m->tick, TICK_MS, err) != SP_OK) {
        sp_metrics_free(m);
        return NULL;
    }
    sp_log_info(o->log, "metrics: serving /metrics and /healthz on %s", sp_httpd_label(m->h));
    return m;
}

int sp_metrics_port(const sp_metrics_srv *m)
{
    return sp_httpd_port(m->h);
}

void sp_metrics_free(sp_metrics_srv *m)
{
    if (m == NULL)
        return;
    sp_timer_stop(m->loop, &m->tick);
    sp_httpd_free(m->h);
    free(m->w);
    free(m);
}
