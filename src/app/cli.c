/* Subcommands: put, describe, get. Each parses its options, builds the
 * shared context (loop, HTTP, Kinesis client) and runs on the loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardpipe/endpoint.h"
#include "shardpipe/shardlist.h"
#include "shardpipe/agent.h"
#include "shardpipe/base64.h"
#include "shardpipe/batch.h"
#include "shardpipe/cli.h"
#include "shardpipe/parse.h"
#include "shardpipe/flow.h"
#include "shardpipe/framer.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/partition.h"
#include "shardpipe/producer.h"
#include "shardpipe/reader.h"

/* ---- option parsing helpers ---- */

/* ---- the shared context ---- */

struct common {
    const char *region;
    const char *endpoint;
    const char *profile;
    const char *akid;
    const char *secret;
    const char *token;
    enum sp_log_level level;
    long connect_ms;
    long request_ms;
};

struct ctx {
    sp_loop *loop;
    sp_http *http;
    sp_kinesis *k;
    sp_log log;
    char region[SP_REGION_MAX + 1];
};

enum {
    OPT_REGION = 1000, OPT_ENDPOINT, OPT_PROFILE, OPT_AKID, OPT_SECRET, OPT_TOKEN, OPT_LOG_LEVEL,
    OPT_CONNECT_TIMEOUT, OPT_REQUEST_TIMEOUT,
    OPT_PK, OPT_KEY, OPT_LINGER, OPT_BATCH_RECORDS, OPT_BATCH_BYTES, OPT_OVERSIZE, OPT_BACKOFF_BASE,
    OPT_BACKOFF_CAP, OPT_MAX_ATTEMPTS, OPT_MAX_IN_FLIGHT, OPT_BUFFER_BYTES, OPT_SHARD_RATE, OPT_ORDERED,
    OPT_REFRESH, OPT_SHUTDOWN_TIMEOUT, OPT_MATCH_BYTES,
    OPT_JSON, OPT_SHARD, OPT_ITERATOR, OPT_LIMIT, OPT_MAX_RECORDS, OPT_FOLLOW, OPT_HELP
};

#define COMMON_OPTIONS                                                        \
    {"region", required_argument, NULL, OPT_REGION},                          \
    {"endpoint-url", required_argument, NULL, OPT_ENDPOINT},                  \
    {"profile", required_argument, NULL, OPT_PROFILE},                        \
    {"access-key-id", required_argument, NULL, OPT_AKID},                     \
    {"secret-access-key", required_argument, NULL, OPT_SECRET},               \
    {"session-token", required_argument, NULL, OPT_TOKEN},                    \
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},                    \
    {"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT},     \
    {"request-timeout-ms", required_argument, NULL, OPT_REQUEST_TIMEOUT},     \
    {"help", no_argument, NULL, OPT_HELP}

static const char usage_text[] =
    "usage: shardpipe put -s STREAM [options] < lines\n"
    "       shardpipe describe STREAM [--json] [options]\n"
    "       shardpipe get STREAM [--shard ID] [--iterator TYPE [ARG]] [--limit N]\n"
    "                     [--max-records N] [--follow] [--json] [options]\n"
    "       shardpipe run -c FILE [--log-level LEVEL]\n"
    "       shardpipe check-config FILE\n"
    "       shardpipe version\n"
    "common options: --region R --endpoint-url URL --profile P --log-level LEVEL\n"
    "                --access-key-id ID --secret-access-key KEY --session-token T\n"
    "                --connect-timeout-ms N --request-timeout-ms N\n"
    "put options:    --partition-key KEY\n"
    "                --key random|hash|balanced|fixed:KEY|field:PATH|regex:ERE\n"
    "                --match-bytes N\n"
    "                --linger-ms N --batch-records N --batch-bytes N\n"
    "                --shard-rate PCT --ordered --shard-refresh-ms N\n"
    "                --oversize split|truncate|drop --max-in-flight N --buffer-bytes N\n"
    "                --backoff-base-ms N --backoff-cap-ms N --max-attempts N\n"
    "                --shutdown-timeout-ms N\n"
    "see shardpipe(1)\n";

static int usage(const char *fmt, const char *arg)
{
    if (fmt) {
        fprintf(stderr, "shardpipe: ");
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
    fputs(usage_text, stderr);
    return SP_EXIT_USAGE;
}

/* Every bad number gets the same message, whatever was wrong with it (not
 * a number, too small, too big, overflowing): the option, its range and
 * the value. */
static int bad_number(const char *opt, const char *range, const char *arg)
{
    fprintf(stderr, "shardpipe: %s must be %s, not '%.64s%s'\n", opt, range, arg,
            strlen(arg) > 64 ? "..." : "");
    fputs(usage_text, stderr);
    return SP_EXIT_USAGE;
}

#define SIZE_FORM "bytes, or with a K, M or G suffix"

/* A bad value of a setting: where it came from (an option or a variable)
 * starts the message. */
static int bad_setting(const char *where, const sp_err *e)
{
    fprintf(stderr, "shardpipe: %s: %s\n", where, e->msg);
    fputs(usage_text, stderr);
    return SP_EXIT_USAGE;
}

/* Handles an option every subcommand shares. 1: handled, 0: not common,
 * -1: bad value (message printed). */
static int common_opt(int c, const char *arg, struct common *o)
{
    unsigned long long v;
    char host[SP_URL_MAX];
    sp_err e;
    switch (c) {
    case OPT_REGION:
        /* empty counts as not given, as for AWS_REGION */
        if (*arg && sp_region_check("--region", arg, &e) != SP_OK) {
            fprintf(stderr, "shardpipe: %s\n", e.msg);
            fputs(usage_text, stderr);
            return -1;
        }
        o->region = arg;
        return 1;
    case OPT_ENDPOINT:
        if (*arg && sp_endpoint_host(arg, host, sizeof host, &e) != SP_OK) {
            bad_setting("--endpoint-url", &e);
            return -1;
        }
        o->endpoint = arg;
        return 1;
    case OPT_PROFILE: o->profile = arg; return 1;
    case OPT_AKID: o->akid = arg; return 1;
    case OPT_SECRET: o->secret = arg; return 1;
    case OPT_TOKEN: o->token = arg; return 1;
    case OPT_LOG_LEVEL:
        if (sp_log_level_parse(arg, &o->level) != SP_OK) {
            usage("--log-level must be error, warn, info or debug, not '%s'", arg);
            return -1;
        }
        return 1;
    case OPT_CONNECT_TIMEOUT:
    case OPT_REQUEST_TIMEOUT:
        if (sp_parse_uint(arg, 1, 3600000, &v) != 0) {
            bad_number(c == OPT_CONNECT_TIMEOUT ? "--connect-timeout-ms" : "--request-timeout-ms",
                       "1 to 3600000 (milliseconds)", arg);
            return -1;
        }
        if (c == OPT_CONNECT_TIMEOUT)
            o->connect_ms = (long)v;
        else
            o->request_ms = (long)v;
        return 1;
    }
    return 0;
}

/* The endpoint: --endpoint-url, else the environment's. */
static const char *given_endpoint(const struct common *o, const char **where)
{
    if (o->endpoint != NULL) {
        *where = "--endpoint-url";
        return o->endpoint;
    }
    return sp_endpoint_env_kinesis(where);
}

/* The settings the invocation gives through variables that stand in for
 * options (the options themselves were checked as they were read): a bad
 * one is a usage error, exit 2, refused before anything is set up. A
 * region from the AWS config file is checked later, as the file is read. */
static int check_given(const struct common *o)
{
    sp_err e;
    const char *where;
    const char *r = sp_region_given(NULL, o->region, &where);
    if (r != NULL && sp_region_check(where, r, &e) != SP_OK) {
        fprintf(stderr, "shardpipe: %s\n", e.msg);
        fputs(usage_text, stderr);
        return SP_EXIT_USAGE;
    }
    const char *url = given_endpoint(o, &where);
    char host[SP_URL_MAX];
    if (url != NULL && *url && sp_endpoint_host(url, host, sizeof host, &e) != SP_OK)
        return bad_setting(where, &e);
    return SP_EXIT_OK;
}

static int ctx_setup(struct ctx *c, const struct common *o, sp_err *err)
{
    memset(c, 0, sizeof *c);
    c->log.level = o->level;
    sp_creds_opts co = {0};
    co.access_key_id = o->akid;
    co.secret_access_key = o->secret;
    co.session_token = o->token;
    co.profile = o->profile;
    if (sp_region_resolve(&co, o->region, c->region, sizeof c->region, err) != SP_OK)
        return SP_ERR;
    const char *where;
    const char *endpoint = given_endpoint(o, &where);
    c->loop = sp_loop_new(err);
    if (c->loop == NULL)
        return SP_ERR;
    sp_http_opts ho = {0};
    ho.connect_timeout_ms = o->connect_ms;
    ho.request_timeout_ms = o->request_ms;
    c->http = sp_http_new(c->loop, &ho, err);
    if (c->http == NULL)
        return SP_ERR;
    sp_kinesis_opts ko = {0};
    ko.region = c->region;
    ko.endpoint = endpoint;
    ko.creds = co;
    ko.log = &c->log;
    c->k = sp_kinesis_new(c->loop, c->http, &ko, err);
    if (c->k == NULL)
        return SP_ERR;
    sp_log_debug(&c->log, "region %s, endpoint %s (%s), credentials from %s", c->region,
                 sp_kinesis_endpoint(c->k), where ? where : "the regional default",
                 sp_kinesis_creds_source(c->k));
    return SP_OK;
}

static void ctx_free(struct ctx *c)
{
    sp_kinesis_free(c->k);
    sp_http_free(c->http);
    sp_loop_free(c->loop);
}

/* ---- put ---- */

struct put {
    struct ctx *c;
    sp_flow *flow;
    int signals;              /* SIGINT/SIGTERM received */
    uint32_t shutdown_ms;     /* after the first signal, how long to go on */
    sp_timer deadline;
    int deadline_passed;
    int fatal;
    char fatal_msg[SP_ERR_MSG_MAX];
};

static void put_fatal(void *arg, sp_flow *f, const char *msg)
{
    (void)f;
    struct put *u = arg;
    if (!u->fatal) {
        u->fatal = 1;
        snprintf(u->fatal_msg, sizeof u->fatal_msg, "%s", msg);
    }
    sp_loop_stop(u->c->loop);
}

static void put_input_done(void *arg, sp_flow *f)
{
    (void)arg;
    sp_flow_flush(f);
}

static void put_drained(void *arg, sp_flow *f)
{
    (void)f;
    struct put *u = arg;
    sp_loop_stop(u->c->loop);
}

static void put_deadline(sp_loop *loop, void *arg)
{
    struct put *u = arg;
    u->deadline_passed = 1;
    sp_log_warn(&u->c->log, "shutdown deadline (%u ms) passed: stopping with records not yet stored",
                u->shutdown_ms);
    sp_loop_stop(loop);
}

static void put_signal(sp_loop *loop, int signo, void *arg)
{
    struct put *u = arg;
    if (++u->signals > 1) {
        sp_log_warn(&u->c->log, "second signal %d: stopping without waiting for buffered records", signo);
        sp_loop_stop(loop);
        return;
    }
    sp_log_info(&u->c->log, "signal %d: no more input; sending what was read for up to %u ms (again to abort)",
                signo, u->shutdown_ms);
    sp_err err;
    if (sp_timer_start(loop, &u->deadline, u->shutdown_ms, &err) != SP_OK) {
        sp_log_error(&u->c->log, "%s: stopping now", err.msg);
        sp_loop_stop(loop);
        return;
    }
    /* Reads on to the end of the line in progress, then flushes. */
    sp_flow_stop_input(u->flow);
}

static int cmd_put(int argc, char **argv, int stdin_closed)
{
    static const struct option opts[] = {
        COMMON_OPTIONS,
        {"stream", required_argument, NULL, 's'},
        {"partition-key", required_argument, NULL, OPT_PK},
        {"key", required_argument, NULL, OPT_KEY},
        {"linger-ms", required_argument, NULL, OPT_LINGER},
        {"batch-records", required_argument, NULL, OPT_BATCH_RECORDS},
        {"batch-bytes", required_argument, NULL, OPT_BATCH_BYTES},
        {"oversize", required_argument, NULL, OPT_OVERSIZE},
        {"backoff-base-ms", required_argument, NULL, OPT_BACKOFF_BASE},
        {"backoff-cap-ms", required_argument, NULL, OPT_BACKOFF_CAP},
        {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
        {"max-in-flight", required_argument, NULL, OPT_MAX_IN_FLIGHT},
        {"buffer-bytes", required_argument, NULL, OPT_BUFFER_BYTES},
        {"shard-rate", required_argument, NULL, OPT_SHARD_RATE},
        {"ordered", no_argument, NULL, OPT_ORDERED},
        {"shard-refresh-ms", required_argument, NULL, OPT_REFRESH},
        {"shutdown-timeout-ms", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
        {"match-bytes", required_argument, NULL, OPT_MATCH_BYTES},
        {NULL, 0, NULL, 0}};
    struct common co = {0};
    co.level = SP_LOG_WARN;
    uint32_t shutdown_ms = 10000;
    sp_producer_opts po = {0};
    po.batch_records = SP_BATCH_MAX_RECORDS;
    po.batch_bytes = SP_BATCH_DEFAULT_BYTES;
    po.linger_ms = 200;
    po.backoff.base_ms = SP_BACKOFF_BASE_MS;
    po.backoff.cap_ms = SP_BACKOFF_CAP_MS;
    po.max_in_flight = 8;
    po.budget_bytes = (size_t)64 << 20;
    po.route = 1;
    po.refresh_ms = 60000;
    sp_throttle_cfg_default(&po.throttle);
    enum sp_oversize oversize = SP_OVERSIZE_SPLIT;
    const char *stream = NULL, *fixed_key = NULL, *key_spec = NULL;
    size_t match_bytes = 0;
    unsigned long long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        int r = common_opt(c, optarg, &co);
        if (r < 0)
            return SP_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 's': stream = optarg; break;
        case OPT_PK: fixed_key = optarg; break;
        case OPT_KEY: key_spec = optarg; break;
        case OPT_LINGER:
            if (sp_parse_uint(optarg, 0, 3600000, &v) != 0)
                return bad_number("--linger-ms", "0 to 3600000 (milliseconds)", optarg);
            po.linger_ms = (uint32_t)v;
            break;
        case OPT_BATCH_RECORDS:
            if (sp_parse_uint(optarg, 1, SP_BATCH_MAX_RECORDS, &v) != 0)
                return bad_number("--batch-records", "1 to 500 (the PutRecords limit)", optarg);
            po.batch_records = (size_t)v;
            break;
        case OPT_BATCH_BYTES:
            if (sp_parse_size(optarg, SP_BATCH_MAX_BYTES, &v) != 0 || v == 0)
                return bad_number("--batch-bytes", "1 to 10MiB (" SIZE_FORM "; the PutRecords limit)", optarg);
            po.batch_bytes = (size_t)v;
            break;
        case OPT_OVERSIZE:
            if (sp_oversize_parse(optarg, &oversize) != 0)
                return usage("--oversize must be split, truncate or drop, not '%s'", optarg);
            break;
        case OPT_BACKOFF_BASE:
        case OPT_BACKOFF_CAP:
            if (sp_parse_uint(optarg, 1, 3600000, &v) != 0)
                return bad_number(c == OPT_BACKOFF_BASE ? "--backoff-base-ms" : "--backoff-cap-ms",
                                  "1 to 3600000 (milliseconds)", optarg);
            if (c == OPT_BACKOFF_BASE)
                po.backoff.base_ms = (uint32_t)v;
            else
                po.backoff.cap_ms = (uint32_t)v;
            break;
        case OPT_MAX_ATTEMPTS:
            if (sp_parse_uint(optarg, 0, 1000000, &v) != 0)
                return bad_number("--max-attempts", "0 (no limit) to 1000000", optarg);
            po.max_attempts = (unsigned)v;
            break;
        case OPT_MAX_IN_FLIGHT:
            if (sp_parse_uint(optarg, 1, 256, &v) != 0)
                return bad_number("--max-in-flight", "1 to 256", optarg);
            po.max_in_flight = (unsigned)v;
            break;
        case OPT_BUFFER_BYTES:
            if (sp_parse_size(optarg, (unsigned long long)1 << 40, &v) != 0 || v < ((unsigned long long)1 << 20))
                return bad_number("--buffer-bytes", "1MiB to 1024GiB (" SIZE_FORM ")", optarg);
            po.budget_bytes = (size_t)v;
            break;
        case OPT_SHARD_RATE: {
            /* "80%" or "80": a share of each shard's write limit. */
            char pct[16];
            size_t n = strlen(optarg);
            if (n == 0 || n >= sizeof pct)
                return bad_number("--shard-rate", "1% to 1000%", optarg);
            memcpy(pct, optarg, n + 1);
            if (pct[n - 1] == '%')
                pct[n - 1] = '\0';
            if (sp_parse_uint(pct, 1, 1000, &v) != 0)
                return bad_number("--shard-rate", "1% to 1000%", optarg);
            po.throttle.share = (double)v / 100.0;
            break;
        }
        case OPT_ORDERED: po.ordered = 1; break;
        case OPT_REFRESH:
            if (sp_parse_uint(optarg, 1000, 86400000, &v) != 0)
                return bad_number("--shard-refresh-ms", "1000 to 86400000 (milliseconds)", optarg);
            po.refresh_ms = (uint32_t)v;
            break;
        case OPT_SHUTDOWN_TIMEOUT:
            if (sp_parse_uint(optarg, 0, 3600000, &v) != 0)
                return bad_number("--shutdown-timeout-ms", "0 to 3600000 (milliseconds)", optarg);
            shutdown_ms = (uint32_t)v;
            break;
        case OPT_MATCH_BYTES:
            if (sp_parse_size(optarg, SP_MATCH_BYTES_MAX, &v) != 0 || v < SP_MATCH_BYTES_MIN)
                return bad_number("--match-bytes", "64 to 1MiB (bytes, or with a K or M suffix)", optarg);
            match_bytes = (size_t)v;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            return SP_EXIT_OK;
        default:
            return usage(NULL, NULL);
        }
    }
    if (optind < argc)
        return usage("put takes no arguments (got '%s'); lines come from standard input", argv[optind]);
    if (stream == NULL)
        return usage("put needs --stream (-s) STREAM%s", "");
    if (fixed_key && key_spec)
        return usage("--partition-key and --key are exclusive%s", "");
    if (po.backoff.base_ms > po.backoff.cap_ms)
        return usage("--backoff-base-ms must not exceed --backoff-cap-ms%s", "");

    if (match_bytes > 0 && (key_spec == NULL || strncmp(key_spec, "regex:", 6) != 0))
        return usage("--match-bytes applies only with --key regex:ERE%s", "");

    sp_partition check;
    sp_err err;
    if (stdin_closed) {
        fprintf(stderr, "shardpipe: error: standard input is closed: put reads lines from standard "
                        "input (give it a file or a pipe, or </dev/null for no input)\n");
        return SP_EXIT_FAIL;
    }
    if (sp_kinesis_check_stream_name(stream, &err) != SP_OK)
        return usage("%s", err.msg);
    /* Checked as given, before the spec is built, so that a long key is
     * neither cut nor reported as something else. */
    if (fixed_key ? sp_partition_fixed(&check, fixed_key, &err) != SP_OK
                  : sp_partition_parse(key_spec ? key_spec : "random", &check, &err) != SP_OK)
        return usage(fixed_key ? "--partition-key: %s" : "--key: %s", err.msg);
    sp_partition_free(&check);
    int bad = check_given(&co);
    if (bad != SP_EXIT_OK)
        return bad;
    char *keyspec = NULL;
    if (asprintf(&keyspec, "%s%s", fixed_key ? "fixed:" : "",
                 fixed_key ? fixed_key : key_spec ? key_spec : "random") < 0) {
        fprintf(stderr, "shardpipe: error: out of memory\n");
        return SP_EXIT_FAIL;
    }

    sp_source_cfg src = {0};
    src.kind = SP_SRC_STDIN;
    sp_flow_cfg fc = {0};
    fc.name = (char *)"put";
    fc.stream = (char *)stream;
    fc.sources = &src;
    fc.nsources = 1;
    fc.key = keyspec;
    fc.linger_ms = po.linger_ms;
    fc.batch_records = po.batch_records;
    fc.batch_bytes = po.batch_bytes;
    fc.oversize = oversize;
    fc.shard_rate = po.throttle.share;
    fc.ordered = po.ordered;
    fc.match_bytes = match_bytes;

    struct ctx cx;
    struct put u;
    memset(&u, 0, sizeof u);
    u.c = &cx;
    u.shutdown_ms = shutdown_ms;
    sp_timer_init(&u.deadline, put_deadline, &u);
    sp_budget budget = {0, po.budget_bytes};
    int rc = SP_EXIT_FAIL;
    if (ctx_setup(&cx, &co, &err) != SP_OK)
        goto out;
    sp_flow_opts fo = {0};
    fo.cfg = &fc;
    fo.producer = po;
    fo.budget = &budget;
    fo.log = &cx.log;
    fo.on_fatal = put_fatal;
    fo.on_drained = put_drained;
    fo.on_input_done = put_input_done;
    fo.arg = &u;
    u.flow = sp_flow_new(cx.loop, cx.k, &fo, &err);
    if (u.flow == NULL)
        goto out;
    if (sp_loop_signal(cx.loop, SIGINT, put_signal, &u, &err) != SP_OK ||
        sp_loop_signal(cx.loop, SIGTERM, put_signal, &u, &err) != SP_OK)
        goto out;
    if (sp_loop_run(cx.loop, &err) != SP_OK)
        goto out;
    sp_timer_stop(cx.loop, &u.deadline);
    if (u.fatal) {
        snprintf(err.msg, sizeof err.msg, "%s", u.fatal_msg);
        goto out;
    }
    rc = SP_EXIT_OK;
out:
    if (rc != SP_EXIT_OK)
        fprintf(stderr, "shardpipe: error: %s\n", err.msg);
    if (u.flow && !sp_flow_started(u.flow)) {
        sp_flow_free(u.flow);   /* failed before sending started: no summary */
        u.flow = NULL;
    }
    if (u.flow) {
        /* Whatever is still held (after a fatal error or a second signal)
         * is reported as failed, never dropped silently. */
        sp_buf line;
        sp_buf_init(&line, 0);
        sp_flow_abandon(u.flow);
        uint64_t unknown = sp_flow_unknown(u.flow);
        if (unknown > 0)
            fprintf(stderr, "shardpipe: warning: %llu records were sent but not confirmed (a request timed "
                            "out or its answer was lost): they may or may not be stored, and are counted "
                            "as unknown\n", (unsigned long long)unknown);
        sp_flow_stats(u.flow, &line);
        fprintf(stderr, "shardpipe: put: %s\n", line.data ? line.data : "");
        sp_buf_free(&line);
        /* Anything read and not known to be stored fails the run. */
        if (rc == SP_EXIT_OK && sp_flow_not_stored(u.flow) > 0)
            rc = SP_EXIT_FAIL;
        sp_flow_free(u.flow);
    }
    ctx_free(&cx);
    free(keyspec);
    return rc;
}

/* ---- describe ---- */

static void json_kv_str(sp_buf *b, const char *key, const char *v, int comma)
{
    if (comma)
        sp_buf_putc(b, ',');
    sp_buf_json_str(b, key, strlen(key));
    sp_buf_putc(b, ':');
    if (v)
        sp_buf_json_str(b, v, strlen(v));
    else
        sp_buf_puts(b, "null");
}

static int print_describe(const sp_stream_summary *s, const sp_shard *sh, size_t n, int json, sp_err *err)
{
    sp_buf b;
    sp_buf_init(&b, 0);
    if (json) {
        sp_buf_putc(&b, '{');
        json_kv_str(&b, "stream_name", s->name, 0);
        json_kv_str(&b, "stream_arn", s->arn[0] ? s->arn : NULL, 1);
        json_kv_str(&b, "status", s->status, 1);
        json_kv_str(&b, "mode", s->mode, 1);
        sp_buf_printf(&b, ",\"retention_hours\":%ld,\"max_record_size_kib\":%ld,\"open_shard_count\":%zu,\"shards\":[",
                      s->retention_hours, s->max_record_kib, n);
        for (size_t i = 0; i < n; i++) {
            char a[SP_U128_DEC_MAX], z[SP_U128_DEC_MAX];
            sp_u128_format(sh[i].start, a);
            sp_u128_format(sh[i].end, z);
            sp_buf_puts(&b, i ? ",{" : "{");
            json_kv_str(&b, "shard_id", sh[i].id, 0);
            json_kv_str(&b, "parent_shard_id", sh[i].parent, 1);
            json_kv_str(&b, "adjacent_parent_shard_id", sh[i].adjacent_parent, 1);
            json_kv_str(&b, "starting_hash_key", a, 1);
            json_kv_str(&b, "ending_hash_key", z, 1);
            json_kv_str(&b, "starting_sequence_number", sh[i].start_seq, 1);
            json_kv_str(&b, "ending_sequence_number", sh[i].end_seq, 1);
            sp_buf_putc(&b, '}');
        }
        sp_buf_puts(&b, "]}\n");
    } else {
        sp_buf_printf(&b, "stream          %s\n", s->name);
        if (s->arn[0])
            sp_buf_printf(&b, "arn             %s\n", s->arn);
        sp_buf_printf(&b, "status          %s\nmode            %s\nretention       %ld hours\n"
                          "max record size %ld KiB\nopen shards     %zu\n",
                      s->status, s->mode, s->retention_hours, s->max_record_kib, n);
        for (size_t i = 0; i < n; i++) {
            char a[SP_U128_DEC_MAX], z[SP_U128_DEC_MAX];
            sp_u128_format(sh[i].start, a);
            sp_u128_format(sh[i].end, z);
            sp_buf_printf(&b, "\n%s\n  hash keys     %s .. %s\n  sequence from %s\n", sh[i].id, a, z,
                          sh[i].start_seq ? sh[i].start_seq : "-");
            if (sh[i].parent)
                sp_buf_printf(&b, "  parent        %s%s%s\n", sh[i].parent,
                              sh[i].adjacent_parent ? " + " : "",
                              sh[i].adjacent_parent ? sh[i].adjacent_parent : "");
        }
    }
    int rc = sp_buf_check(&b, err, "describe output");
    if (rc == SP_OK && (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0))
        rc = sp_err_set(err, "writing standard output: %s", strerror(errno));
    sp_buf_free(&b);
    return rc;
}

/* describe: DescribeStreamSummary, then ListShards, then print; all on
 * the loop, which the last step stops. */
struct describe_run {
    sp_loop *loop;
    sp_kinesis *k;
    const char *stream;
    int json;
    int rc;
    sp_stream_summary sum;
    sp_err err;
};

static void on_describe_shards(void *arg, sp_shard *sh, size_t n, const char *errmsg, int retryable)
{
    (void)retryable;
    struct describe_run *d = arg;
    sp_loop_stop(d->loop);
    if (errmsg) {
        sp_err_set(&d->err, "%s", errmsg);
        return;
    }
    /* Servers that ignore ShardFilter list closed shards too. */
    size_t open = 0;
    for (size_t i = 0; i < n; i++) {
        if (sh[i].end_seq)
            sp_shard_clear(&sh[i]);
        else
            sh[open++] = sh[i];
    }
    if (print_describe(&d->sum, sh, open, d->json, &d->err) == SP_OK)
        d->rc = SP_EXIT_OK;
    sp_shards_free(sh, open);
}

static void on_describe_summary(void *arg, const sp_stream_summary *sum, const char *errmsg)
{
    struct describe_run *d = arg;
    if (sum == NULL) {
        sp_err_set(&d->err, "%s", errmsg);
        sp_loop_stop(d->loop);
        return;
    }
    d->sum = *sum;
    if (sp_shardlist_start(d->k, d->stream, "AT_LATEST", on_describe_shards, d, NULL, &d->err) != SP_OK)
        sp_loop_stop(d->loop);
}

static int cmd_describe(int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTIONS, {"json", no_argument, NULL, OPT_JSON}, {NULL, 0, NULL, 0}};
    struct common co = {0};
    co.level = SP_LOG_WARN;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = common_opt(c, optarg, &co);
        if (r < 0)
            return SP_EXIT_USAGE;
        if (r > 0)
            continue;
        if (c == OPT_JSON)
            json = 1;
        else if (c == OPT_HELP)
            return fputs(usage_text, stdout), SP_EXIT_OK;
        else
            return usage(NULL, NULL);
    }
    if (optind != argc - 1)
        return usage("describe takes exactly one STREAM%s", "");
    const char *stream = argv[optind];
    sp_err err;
    if (sp_kinesis_check_stream_name(stream, &err) != SP_OK)
        return usage("%s", err.msg);
    int bad = check_given(&co);
    if (bad != SP_EXIT_OK)
        return bad;
    struct ctx cx;
    struct describe_run d;
    memset(&d, 0, sizeof d);
    d.stream = stream;
    d.json = json;
    d.rc = SP_EXIT_FAIL;
    if (ctx_setup(&cx, &co, &d.err) == SP_OK) {
        d.loop = cx.loop;
        d.k = cx.k;
        if (sp_kinesis_describe(cx.k, stream, on_describe_summary, &d, NULL, &d.err) == SP_OK &&
            sp_loop_run(cx.loop, &d.err) != SP_OK)
            d.rc = SP_EXIT_FAIL;
    }
    if (d.rc != SP_EXIT_OK)
        fprintf(stderr, "shardpipe: error: %s\n", d.err.msg);
    ctx_free(&cx);
    return d.rc;
}

/* ---- get ---- */

struct get {
    int json;
    sp_buf out;
};

static int get_record(void *arg, const char *shard_id, const sp_kinesis_record *rec,
                      const void *data, size_t len, sp_err *err)
{
    struct get *g = arg;
    sp_buf *b = &g->out;
    sp_buf_reset(b);
    if (g->json) {
        sp_buf_putc(b, '{');
        json_kv_str(b, "shard_id", shard_id, 0);
        json_kv_str(b, "sequence_number", rec->seq, 1);
        sp_buf_puts(b, ",\"partition_key\":");
        sp_buf_json_str(b, rec->pk, rec->pk_len);
        sp_buf_printf(b, ",\"arrival_time\":%.3f,\"data\":\"", rec->arrival);
        if (sp_buf_reserve(b, sp_base64_encoded_len(len)) == SP_OK) {
            sp_base64_encode(data, len, b->data + b->len);
            b->len += sp_base64_encoded_len(len);
            b->data[b->len] = '\0';
        }
        sp_buf_puts(b, "\"}\n");
    } else {
        sp_buf_append(b, data, len);
        sp_buf_putc(b, '\n');
    }
    if (sp_buf_check(b, err, "output line") != SP_OK)
        return SP_ERR;
    if (fwrite(b->data, 1, b->len, stdout) != b->len)
        return sp_err_set(err, "writing standard output: %s", strerror(errno));
    return SP_OK;
}

static void get_signal(sp_loop *loop, int signo, void *arg)
{
    (void)signo;
    (void)arg;
    sp_loop_stop(loop);
}

static int cmd_get(int argc, char **argv)
{
    static const struct option opts[] = {
        COMMON_OPTIONS,
        {"json", no_argument, NULL, OPT_JSON},
        {"shard", required_argument, NULL, OPT_SHARD},
        {"iterator", required_argument, NULL, OPT_ITERATOR},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"max-records", required_argument, NULL, OPT_MAX_RECORDS},
        {"follow", no_argument, NULL, OPT_FOLLOW},
        {NULL, 0, NULL, 0}};
    struct common co = {0};
    co.level = SP_LOG_WARN;
    sp_reader_opts ro = {0};
    ro.iter = SP_ITER_LATEST;
    ro.backoff.base_ms = SP_BACKOFF_BASE_MS;
    ro.backoff.cap_ms = SP_BACKOFF_CAP_MS;
    struct get g = {0};
    const char *iter_arg = NULL;
    unsigned long long v;
    int c;
    optind = 1;
    /* "--iterator at-sequence SEQ" takes its second word from argv below. */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = common_opt(c, optarg, &co);
        if (r < 0)
            return SP_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case OPT_JSON: g.json = 1; break;
        case OPT_SHARD: ro.shard = optarg; break;
        case OPT_FOLLOW: ro.follow = 1; break;
        case OPT_ITERATOR:
            if (sp_iter_kind_parse(optarg, &ro.iter) != SP_OK)
                return usage("--iterator must be latest, trim-horizon, at-sequence SEQ, after-sequence SEQ "
                             "or at-timestamp TIME, not '%s'", optarg);
            if (ro.iter == SP_ITER_AT_SEQUENCE || ro.iter == SP_ITER_AFTER_SEQUENCE || ro.iter == SP_ITER_AT_TIMESTAMP) {
                if (optind >= argc)
                    return usage("--iterator %s needs a value", optarg);
                iter_arg = argv[optind++];
            }
            break;
        case OPT_LIMIT:
            if (sp_parse_uint(optarg, 1, 10000, &v) != 0)
                return bad_number("--limit", "1 to 10000 (the GetRecords limit)", optarg);
            ro.limit = (long)v;
            break;
        case OPT_MAX_RECORDS:
            if (sp_parse_uint(optarg, 1, UINT64_MAX, &v) != 0)
                return bad_number("--max-records", "1 to 18446744073709551615", optarg);
            ro.max_records = v;
            break;
        case OPT_HELP:
            return fputs(usage_text, stdout), SP_EXIT_OK;
        default:
            return usage(NULL, NULL);
        }
    }
    if (optind != argc - 1)
        return usage("get takes exactly one STREAM%s", "");
    ro.stream = argv[optind];
    sp_err err;
    if (sp_kinesis_check_stream_name(ro.stream, &err) != SP_OK)
        return usage("%s", err.msg);
    if (ro.iter == SP_ITER_AT_TIMESTAMP && sp_parse_timestamp_ms(iter_arg, &ro.ts_ms, &err) != SP_OK)
        return usage("%s", err.msg);
    if (ro.iter == SP_ITER_AT_SEQUENCE || ro.iter == SP_ITER_AFTER_SEQUENCE) {
        if (iter_arg[0] == '\0' || strspn(iter_arg, "0123456789") != strlen(iter_arg))
            return usage("a sequence number is decimal digits, not '%s'", iter_arg);
        if (ro.shard == NULL)
            return usage("--iterator with a sequence number needs --shard (the number belongs to one shard)%s", "");
        ro.seq = iter_arg;
    }
    int bad = check_given(&co);
    if (bad != SP_EXIT_OK)
        return bad;
    struct ctx cx;
    int rc = SP_EXIT_FAIL;
    sp_reader_stats st;
    sp_buf_init(&g.out, (size_t)16 << 20);
    ro.on_record = get_record;
    ro.arg = &g;
    if (ctx_setup(&cx, &co, &err) == SP_OK) {
        ro.log = &cx.log;
        if (sp_loop_signal(cx.loop, SIGINT, get_signal, NULL, &err) == SP_OK &&
            sp_loop_signal(cx.loop, SIGTERM, get_signal, NULL, &err) == SP_OK &&
            sp_reader_run(cx.loop, cx.k, &ro, &st, &err) == SP_OK)
            rc = SP_EXIT_OK;
    }
    if (fflush(stdout) != 0 && rc == SP_EXIT_OK) {
        sp_err_set(&err, "writing standard output: %s", strerror(errno));
        rc = SP_EXIT_FAIL;
    }
    if (rc != SP_EXIT_OK)
        fprintf(stderr, "shardpipe: error: %s\n", err.msg);
    sp_buf_free(&g.out);
    ctx_free(&cx);
    return rc;
}

/* ---- run, check-config ---- */

static int cmd_run(int argc, char **argv, int stdin_closed)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    sp_agent_opts ao = {0};
    ao.log_timestamps = 1;
    ao.stdin_closed = stdin_closed;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ao.config_path = optarg; break;
        case OPT_LOG_LEVEL:
            if (sp_log_level_parse(optarg, &ao.log_level) != SP_OK)
                return usage("--log-level must be error, warn, info or debug, not '%s'", optarg);
            ao.log_level_set = 1;
            break;
        case OPT_HELP: return fputs(usage_text, stdout), SP_EXIT_OK;
        default: return usage(NULL, NULL);
        }
    }
    if (optind != argc)
        return usage("run takes no arguments (got '%s'); name the configuration with -c", argv[optind]);
    if (ao.config_path == NULL)
        return usage("run needs -c FILE (e.g. /etc/shardpipe/shardpipe.json)%s", "");
    return sp_agent_run(&ao) == 0 ? SP_EXIT_OK : SP_EXIT_FAIL;
}

static int cmd_check_config(int argc, char **argv)
{
    if (argc != 2)
        return usage("check-config takes exactly one FILE%s", "");
    sp_log lg = {SP_LOG_WARN, NULL, 0};
    return sp_agent_check_config(argv[1], &lg) == 0 ? SP_EXIT_OK : SP_EXIT_FAIL;
}

/* ---- dispatch ---- */

int sp_cli_main(int argc, char **argv, int stdin_closed)
{
    /* A closed pipe is an error to report, not a reason to die silently. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return usage("no subcommand given%s", "");
    const char *cmd = argv[1];
    if (strcmp(cmd, "put") == 0)
        return cmd_put(argc - 1, argv + 1, stdin_closed);
    if (strcmp(cmd, "describe") == 0)
        return cmd_describe(argc - 1, argv + 1);
    if (strcmp(cmd, "get") == 0)
        return cmd_get(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1, stdin_closed);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("shardpipe %s\n", SP_VERSION);
        return SP_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage_text, stdout);
        return SP_EXIT_OK;
    }
    return usage("unknown subcommand '%s'", cmd);
}
