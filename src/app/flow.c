/* A flow: sources -> partition keys -> producer, and acknowledgements back.
 * The pieces of one split line share a key (so they land in one shard, in
 * order); the key of a split in progress is remembered per origin (the
 * record's token), since pieces from several files or clients interleave. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardpipe/flow.h"
#include "shardpipe/kretry.h"
#include "shardpipe/partition.h"
#include "shardpipe/source_file.h"
#include "shardpipe/source_socket.h"
#include "shardpipe/source_stdin.h"

#define SPLITS 64

struct split_key {
    void *origin;
    int used;
    size_t len;
    char key[SP_PK_MAX_BYTES];
};

struct src {
    enum sp_source_kind kind;
    void *s;
};

struct sp_flow {
    sp_loop *loop;
    sp_kinesis *k;
    sp_flow_opts o;
    char name[128];
    char stream[SP_STREAM_NAME_MAX + 1];
    sp_partition pk;
    sp_rng rng;
    sp_producer *p;
    struct src *srcs;
    size_t nsrcs;
    size_t inputs_open;      /* sources that have not ended */
    int paused;
    uint64_t key_fallbacks;
    sp_framer_stats fstats;  /* of ended stdin sources */
    const sp_flow_cfg *cfg;  /* while starting; NULL once started */
    sp_kretry *describing;   /* the DescribeStreamSummary under way */
    size_t cap, max_data;    /* the stream's record cap; the data part of it */
    int started;             /* sources are open */
    int stop_requested;      /* stop_input came while starting */
    int flush_requested;     /* flush came before the producer existed */
    struct split_key splits[SPLITS];
};

static struct split_key *split_slot(sp_flow *f, void *origin, int create)
{
    size_t h = ((uintptr_t)origin >> 4) % SPLITS;
    for (size_t i = 0; i < SPLITS; i++) {
        struct split_key *s = &f->splits[(h + i) % SPLITS];
        if (s->used && s->origin == origin)
            return s;
        if (!s->used && create) {
            s->used = 1;
            s->origin = origin;
            s->len = 0;
            return s;
        }
    }
    return NULL;
}

static int sink_record(void *arg, const char *data, size_t len, unsigned flags,
                       sp_ack_token_fn ack, void *token, uint64_t tag, sp_err *err)
{
    sp_flow *f = arg;
    char keybuf[SP_PK_MAX_BYTES];
    const char *key = keybuf;
    size_t klen = 0;
    struct split_key *sk = (flags & SP_FRAME_PART) ? split_slot(f, token, 1) : NULL;
    if (sk && sk->len) {
        key = sk->key;
        klen = sk->len;
    } else {
        int fallback;
        klen = sp_partition_key(&f->pk, &f->rng, data, len, keybuf, &fallback);
        f->key_fallbacks += (uint64_t)fallback;
        if (sk) {
            memcpy(sk->key, keybuf, klen);
            sk->len = klen;
        }
    }
    int balanced = f->pk.kind == SP_PK_BALANCED;
    if (balanced && sp_producer_shards(f->p) == 0 && !(sk && sk->len)) {
        /* No shard map to balance over: spread by a random key instead. */
        int fallback;
        sp_partition rnd = {0};
        klen = sp_partition_key(&rnd, &f->rng, data, len, keybuf, &fallback);
        key = keybuf;
        balanced = 0;
    }
    sp_put_rec rec = {key, klen, NULL, balanced, data, len, ack, token, tag};
    int rc = sp_producer_put(f->p, &rec, err);
    if (sk && (flags & SP_FRAME_LAST_PART))
        sk->used = 0;
    return rc;
}

static int sink_full(void *arg)
{
    sp_flow *f = arg;
    return sp_producer_full(f->p);
}

static void input_ended(sp_flow *f)
{
    if (f->inputs_open > 0 && --f->inputs_open == 0 && f->o.on_input_done)
        f->o.on_input_done(f->o.arg, f);
}

static void on_stdin_eof(void *arg)
{
    input_ended(arg);
}

static void on_source_error(void *arg, const char *msg)
{
    sp_flow *f = arg;
    if (f->o.on_fatal)
        f->o.on_fatal(f->o.arg, f, msg);
}

static void on_fatal(void *arg, const char *msg)
{
    sp_flow *f = arg;
    if (f->o.on_fatal)
        f->o.on_fatal(f->o.arg, f, msg);
}

static void on_drained(void *arg)
{
    sp_flow *f = arg;
    if (f->o.on_drained)
        f->o.on_drained(f->o.arg, f);
}

static void on_space(void *arg)
{
    sp_flow *f = arg;
    if (f->o.on_space)
        f->o.on_space(f->o.arg);
    else
        sp_flow_pause(f, 0);
}

static int open_source(sp_flow *f, const sp_flow_cfg *c, const sp_source_cfg *sc, size_t max_data,
                       sp_err *err)
{
    struct src *s = &f->srcs[f->nsrcs];
    s->kind = sc->kind;
    switch (sc->kind) {
    case SP_SRC_STDIN: {
        sp_stdin_source_opts so = {0};
        so.fd = STDIN_FILENO;
        so.max_record = max_data;
        so.oversize = c->oversize;
        so.truncated_terminator = c->truncated_terminator;
        so.sink = (sp_sink){sink_record, sink_full, f};
        so.on_eof = on_stdin_eof;
        so.on_error = on_source_error;
        so.arg = f;
        so.log = f->o.log;
        s->s = sp_stdin_source_new(f->loop, &so, err);
        break;
    }
    case SP_SRC_FILE: {
        sp_file_source_opts so = {0};
        so.flow = f->name;
        so.glob = sc->path;
        so.start = c->start;
        so.max_record = max_data;
        so.oversize = c->oversize;
        so.truncated_terminator = c->truncated_terminator;
        so.multiline_start = c->multiline_start;
        so.match_bytes = c->match_bytes;
        so.skip_header_lines = c->skip_header_lines;
        so.poll_ms = f->o.file_poll_ms;
        so.partial_flush_ms = f->o.partial_flush_ms;
        so.ckpt = f->o.ckpt;
        so.sink = (sp_sink){sink_record, sink_full, f};
        so.log = f->o.log;
        so.on_error = on_source_error;
        so.arg = f;
        s->s = sp_file_source_new(f->loop, &so, err);
        break;
    }
    case SP_SRC_TCP:
    case SP_SRC_UDP:
    case SP_SRC_UNIX: {
        sp_socket_source_opts so = {0};
        so.kind = sc->kind;
        so.bind = sc->bind;
        so.port = sc->port;
        so.path = sc->path;
        so.max_line = sc->max_line && sc->max_line < max_data ? sc->max_line : max_data;
        so.oversize = c->oversize;
        so.truncated_terminator = c->truncated_terminator;
        so.max_clients = sc->max_clients;
        so.udp_lines = sc->udp_lines;
        so.sink = (sp_sink){sink_record, sink_full, f};
        so.log = f->o.log;
        so.name = f->name;
        so.on_fail = on_source_error;
        so.fail_arg = f;
        s->s = sp_socket_source_new(f->loop, &so, err);
        break;
    }
    default:
        return sp_err_set(err, "flow %s: this source type is not available yet", f->name);
    }
    if (s->s == NULL)
        return strncmp(err->msg, "flow ", 5) == 0 ? SP_ERR : sp_err_prefix(err, "flow %s", f->name);
    f->nsrcs++;
    if (sc->kind == SP_SRC_STDIN)
        f->inputs_open++; /* the others only end when stopped */
    return SP_OK;
}

/* The start failed: the owner hears it from the loop, like any failure. */
static void start_failed(sp_flow *f, const char *msg)
{
    f->cfg = NULL;
    if (f->o.on_fatal)
        f->o.on_fatal(f->o.arg, f, msg);
}

/* The first shard listing answered: open the sources (unless a stop came
 * first), and tell the owner. */
static void on_producer_started(void *arg)
{
    sp_flow *f = arg;
    const sp_flow_cfg *c = f->cfg;
    sp_err err;
    sp_log_info(f->o.log, "flow %s: stream %s, record cap %zu bytes (key %zu + data %zu), %zu shards",
                f->name, f->stream, f->cap, f->cap - f->max_data, f->max_data, sp_producer_shards(f->p));
    f->srcs = calloc(c->nsources ? c->nsources : 1, sizeof *f->srcs);
    if (f->srcs == NULL) {
        start_failed(f, "out of memory");
        return;
    }
    if (!f->stop_requested)
        for (size_t i = 0; i < c->nsources; i++)
            if (open_source(f, c, &c->sources[i], f->max_data, &err) != SP_OK) {
                start_failed(f, err.msg);
                return;
            }
    f->cfg = NULL; /* not kept: the configuration may be reloaded */
    f->started = 1;
    if (f->o.on_started)
        f->o.on_started(f->o.arg, f);
    if (f->stop_requested && f->inputs_open == 0 && f->o.on_input_done)
        f->o.on_input_done(f->o.arg, f);   /* stopped before any input was open */
}

static void on_described(void *arg, const sp_stream_summary *sum, const char *errmsg)
{
    sp_flow *f = arg;
    const sp_flow_cfg *c = f->cfg;
    sp_err err;
    f->describing = NULL;
    if (sum == NULL) {
        start_failed(f, errmsg);
        return;
    }
    if (strcmp(sum->status, "ACTIVE") != 0 && strcmp(sum->status, "UPDATING") != 0) {
        sp_err_set(&err, "stream '%s' is %s, not ACTIVE", f->stream, sum->status);
        start_failed(f, err.msg);
        return;
    }
    f->cap = (size_t)sum->max_record_kib * 1024;
    f->max_data = f->cap - sp_partition_reserve(&f->pk);
    sp_producer_opts po = f->o.producer;
    po.stream = f->stream;
    po.batch_records = c->batch_records;
    po.batch_bytes = c->batch_bytes;
    po.linger_ms = c->linger_ms;
    po.ordered = c->ordered;
    po.route = 1;
    if (po.throttle.share <= 0)
        sp_throttle_cfg_default(&po.throttle);
    if (c->shard_rate > 0)
        po.throttle.share = c->shard_rate;
    po.throttle.max_record_bytes = f->cap;
    po.budget = f->o.budget;
    po.log = f->o.log;
    po.on_space = on_space;
    po.on_drained = on_drained;
    po.on_fatal = on_fatal;
    po.on_started = on_producer_started;
    po.arg = f;
    f->p = sp_producer_new(f->loop, f->k, &po, &err);
    if (f->p == NULL || sp_producer_start(f->p, &err) != SP_OK) {
        start_failed(f, err.msg);
        return;
    }
    if (f->flush_requested)
        sp_producer_flush(f->p);
}

sp_flow *sp_flow_new(sp_loop *loop, sp_kinesis *k, const sp_flow_opts *o, sp_err *err)
{
    const sp_flow_cfg *c = o->cfg;
    sp_flow *f = calloc(1, sizeof *f);
    if (f == NULL) {
        sp_err_set(err, "out of memory");
        return NULL;
    }
    f->loop = loop;
    f->k = k;
    f->o = *o;
    f->o.cfg = NULL;
    f->cfg = c;     /* until started: the sources are opened from it */
    snprintf(f->name, sizeof f->name, "%s", c->name ? c->name : c->stream);
    snprintf(f->stream, sizeof f->stream, "%s", c->stream);
    if (sp_partition_parse(c->key ? c->key : "random", &f->pk, err) != SP_OK ||
        sp_rng_seed(&f->rng, err) != SP_OK)
        goto fail;
    if (c->match_bytes > 0)
        f->pk.match_bytes = c->match_bytes;
    for (size_t i = 0; i < c->nsources; i++)
        if (c->sources[i].kind == SP_SRC_STDIN && o->stdin_closed) {
            sp_err_set(err, "flow %s: standard input is closed (the process was started with "
                            "descriptor 0 closed): a stdin source has nothing to read", f->name);
            goto fail;
        }
    if (sp_kinesis_describe(k, f->stream, on_described, f, &f->describing, err) != SP_OK)
        goto fail;
    return f;
fail:
    sp_flow_free(f);
    return NULL;
}

const char *sp_flow_name(const sp_flow *f)
{
    return f->name;
}

void sp_flow_pause(sp_flow *f, int paused)
{
    /* Forwarded every time: sources also pause themselves when they see
     * the budget full, without the flow knowing. */
    f->paused = paused;
    for (size_t i = 0; i < f->nsrcs; i++) {
        struct src *s = &f->srcs[i];
        sp_err err;
        if (s->kind == SP_SRC_STDIN)
            sp_stdin_source_pause(s->s, paused);
        else if (s->kind == SP_SRC_FILE)
            sp_file_source_pause(s->s, paused);
        else if (sp_socket_source_pause(s->s, paused, &err) != SP_OK)
            sp_log_error(f->o.log, "flow %s: %s", f->name, err.msg);
    }
}

void sp_flow_stop_input(sp_flow *f)
{
    if (!f->started)
        f->stop_requested = 1;  /* the sources will not be opened */
    for (size_t i = 0; i < f->nsrcs; i++) {
        struct src *s = &f->srcs[i];
        sp_err err;
        if (s->kind == SP_SRC_STDIN) {
            if (!sp_stdin_source_done(s->s))
                sp_stdin_source_stop(s->s); /* calls input_ended */
        } else if (s->kind == SP_SRC_FILE) {
            sp_file_source_stop(s->s);
        } else if (sp_socket_source_stop(s->s, &err) != SP_OK)
            sp_log_error(f->o.log, "flow %s: %s", f->name, err.msg);
    }
}

void sp_flow_flush(sp_flow *f)
{
    if (f->p)
        sp_producer_flush(f->p);
    else
        f->flush_requested = 1;     /* the producer does not exist yet */
}

int sp_flow_started(const sp_flow *f)
{
    return f->started;
}

int sp_flow_input_done(const sp_flow *f)
{
    if (!f->started)
        return 0;
    for (size_t i = 0; i < f->nsrcs; i++)
        if (f->srcs[i].kind != SP_SRC_STDIN)
            return 0; /* files and listeners never end by themselves */
    return f->inputs_open == 0;
}

int sp_flow_idle(const sp_flow *f)
{
    for (size_t i = 0; i < f->nsrcs; i++)
        if ((f->srcs[i].kind == SP_SRC_STDIN && sp_stdin_source_draining(f->srcs[i].s)) ||
            (f->srcs[i].kind != SP_SRC_STDIN && f->srcs[i].kind != SP_SRC_FILE &&
             sp_socket_source_draining(f->srcs[i].s)))
            return 0;
    return f->p == NULL || sp_producer_idle(f->p);
}

void sp_flow_checkpoint(sp_flow *f)
{
    for (size_t i = 0; i < f->nsrcs; i++) {
        sp_err err;
        if (f->srcs[i].kind == SP_SRC_FILE && sp_file_source_checkpoint(f->srcs[i].s, &err) != SP_OK)
            sp_log_error(f->o.log, "flow %s: %s", f->name, err.msg);
    }
}

void sp_flow_counters_get(const sp_flow *f, sp_flow_counters *c)
{
    memset(c, 0, sizeof *c);
    sp_framer_stats fs = f->fstats;
    for (size_t i = 0; i < f->nsrcs; i++) {
        if (f->srcs[i].kind == SP_SRC_STDIN) {
            sp_framer_stats_add(&fs, sp_stdin_source_stats(f->srcs[i].s));
        } else if (f->srcs[i].kind == SP_SRC_FILE) {
            sp_file_source_stats st;
            sp_file_source_stats_get(f->srcs[i].s, &st);
            sp_framer_stats_add(&fs, &st.framer);
            fs.bytes += st.bytes - st.framer.bytes; /* read, not yet framed */
        } else {
            sp_socket_source_stats ss = sp_socket_source_stats_get(f->srcs[i].s);
            fs.lines += ss.lines;
            fs.bytes += ss.bytes;
            fs.split_lines += ss.split;
            fs.truncated += ss.truncated;
            fs.dropped += ss.dropped_oversize;
            fs.partial += ss.partial;
            c->dropped_datagrams += ss.dropped_datagrams;
        }
    }
    c->lines_read = fs.lines;
    c->bytes_read = fs.bytes;
    c->split = fs.split_lines;
    c->truncated = fs.truncated;
    c->dropped = fs.dropped;
    c->partial = fs.partial;
    c->key_fallbacks = f->key_fallbacks;
    if (f->p) {
        c->p = *sp_producer_stats_get(f->p);
        c->held = sp_producer_held(f->p);
        c->shards = sp_producer_shards(f->p);
    }
}

void sp_flow_files(const sp_flow *f, sp_file_behind_fn fn, void *arg)
{
    for (size_t i = 0; i < f->nsrcs; i++)
        if (f->srcs[i].kind == SP_SRC_FILE)
            sp_file_source_behind(f->srcs[i].s, fn, arg);
}

const sp_producer *sp_flow_producer(const sp_flow *f)
{
    return f->p;
}

void sp_flow_stats(const sp_flow *f, sp_buf *out)
{
    sp_flow_counters c;
    sp_flow_counters_get(f, &c);
    const sp_producer_stats *ps = &c.p;
    uint64_t p50 = 0, p99 = 0;
    if (f->p) {
        p50 = sp_hist_quantile(sp_producer_latency(f->p, SP_LAT_RECORD), 0.50);
        p99 = sp_hist_quantile(sp_producer_latency(f->p, SP_LAT_RECORD), 0.99);
    }
    sp_buf_printf(out,
                  "records=%llu bytes=%llu requests=%llu retried=%llu failed=%llu split=%llu truncated=%llu "
                  "dropped=%llu unknown=%llu partial=%llu throttled=%llu wrong_shard=%llu key_fallbacks=%llu "
                  "shards=%zu p50_ms=%llu p99_ms=%llu",
                  (unsigned long long)ps->records, (unsigned long long)ps->bytes,
                  (unsigned long long)ps->requests, (unsigned long long)ps->retried,
                  (unsigned long long)ps->failed, (unsigned long long)c.split,
                  (unsigned long long)c.truncated, (unsigned long long)c.dropped,
                  (unsigned long long)ps->unknown, (unsigned long long)c.partial,
                  (unsigned long long)ps->throttled, (unsigned long long)ps->wrong_shard,
                  (unsigned long long)c.key_fallbacks, c.shards, (unsigned long long)p50,
                  (unsigned long long)p99);
    if (c.dropped_datagrams)
        sp_buf_printf(out, " dropped_datagrams=%llu", (unsigned long long)c.dropped_datagrams);
}

uint64_t sp_flow_unknown(const sp_flow *f)
{
    return f->p ? sp_producer_stats_get(f->p)->unknown : 0;
}

uint64_t sp_flow_not_stored(const sp_flow *f)
{
    uint64_t n = 0;
    for (size_t i = 0; i < f->nsrcs; i++) {
        if (f->srcs[i].kind == SP_SRC_STDIN)
            n += sp_stdin_source_stats(f->srcs[i].s)->partial;
        else if (f->srcs[i].kind != SP_SRC_FILE)
            n += sp_socket_source_stats_get(f->srcs[i].s).partial;
    }
    if (f->p)
        n += sp_producer_stats_get(f->p)->failed + sp_producer_stats_get(f->p)->unknown;
    return n;
}

void sp_flow_abandon(sp_flow *f)
{
    for (size_t i = 0; i < f->nsrcs; i++) {
        if (f->srcs[i].kind == SP_SRC_STDIN)
            sp_stdin_source_abandon(f->srcs[i].s);
        else if (f->srcs[i].kind != SP_SRC_FILE)
            sp_socket_source_abandon(f->srcs[i].s);
    }
    if (f->p)
        sp_producer_abandon(f->p);
}

void sp_flow_free(sp_flow *f)
{
    if (f == NULL)
        return;
    sp_kinesis_retried_cancel(f->describing);
    /* Producer first: giving up records acknowledges them to their sources. */
    sp_flow_abandon(f);
    for (size_t i = 0; i < f->nsrcs; i++) {
        struct src *s = &f->srcs[i];
        if (s->kind == SP_SRC_STDIN)
            sp_stdin_source_free(s->s);
        else if (s->kind == SP_SRC_FILE)
            sp_file_source_free(s->s);
        else
            sp_socket_source_free(s->s);
    }
    free(f->srcs);
    sp_producer_free(f->p);
    sp_partition_free(&f->pk);
    free(f);
}
