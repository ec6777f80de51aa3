/* Subcommands: put, describe, get, run. Each parses its options with one
 * table (cli_opts: name, subcommands, type and range or handler, usage
 * text), builds the shared context (loop, HTTP, Kinesis client) and runs
 * on the loop. */
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
#include "shardpipe/config_value.h"
#include "shardpipe/describe_out.h"
#include "shardpipe/parse.h"
#include "shardpipe/flow.h"
#include "shardpipe/framer.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/kretry.h"
#include "shardpipe/metrics.h"
#include "shardpipe/partition.h"
#include "shardpipe/producer.h"
#include "shardpipe/putprog.h"
#include "shardpipe/reader.h"
#include "shardpipe/sts.h"
#include "shardpipe/version.h"

/* ---- the shared context ---- */

struct common {
    const char *region, *endpoint, *profile;
    const char *ca_file;      /* --ca-file: NULL, the system store */
    const char *akid, *secret, *token;
    const char *role_arn, *external_id, *session_name;   /* AssumeRole on top of the chain */
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

/* ---- options: one table for every subcommand ---- */

/* Where the options of every subcommand land; each subcommand sets its
 * defaults first. */
struct opts {
    struct common co;
    int level_set;
    /* put */
    const char *stream, *fixed_key, *key_spec;
    sp_producer_opts po;
    uint32_t shutdown_ms, stall_ms;
    const char *metrics_listen;
    enum sp_oversize oversize;
    size_t match_bytes;
    /* describe, get */
    int json;
    sp_reader_opts ro;
    const char *iter_arg;
    /* run */
    const char *config, *log_file;
    /* getopt's state the handlers may move on (--iterator TYPE ARG) */
    int argc;
    char **argv;
};

enum { C_PUT = 1, C_DESCRIBE = 2, C_GET = 4, C_RUN = 8 };
#define C_AWS (C_PUT | C_DESCRIBE | C_GET)

/* The usage block an option is listed in; others are in the synopsis. */
enum { G_NONE, G_COMMON, G_PUT };

enum otype {
    O_STR,       /* the argument, as given */
    O_FLAG,      /* no argument: 1 */
    O_UINT,      /* a whole number in [min, max] */
    O_SIZE,      /* bytes, with a K, M or G suffix, in [min, max] */
    O_HANDLER,   /* the option's own function */
    O_HELP,
};

struct cli_opt;
/* 0, or the exit status (the message printed). */
typedef int opt_fn(const struct cli_opt *d, const char *arg, struct opts *o);

struct cli_opt {
    const char *name;
    int has_arg;
    char short_name;         /* 0: none */
    unsigned cmds;           /* C_*: the subcommands that take it */
    enum otype type;
    size_t off, width;       /* the field in struct opts */
    unsigned long long min, max;
    const char *range;       /* as the message shows it: "must be RANGE, not '...'" */
    opt_fn *fn;              /* O_HANDLER */
    int group;               /* G_*: the usage block */
    int brk;                 /* starts a new line of its block */
    const char *use;         /* its part of the line: "--linger-ms N" */
};

static opt_fn opt_region, opt_endpoint, opt_ca_file, opt_log_level, opt_oversize, opt_shard_rate, opt_iterator;

#define AT(m) .off = offsetof(struct opts, m), .width = sizeof(((struct opts *)0)->m)
#define ARG required_argument
#define MS_RANGE(lo) #lo " to 3600000 (milliseconds)"
#define SIZE_FORM "bytes, or with a K, M or G suffix"

/* In the order of the usage text. */
static const struct cli_opt cli_opts[] = {
    {"region", ARG, 0, C_AWS, O_HANDLER, .fn = opt_region, .group = G_COMMON, .use = "--region R"},
    {"endpoint-url", ARG, 0, C_AWS, O_HANDLER, .fn = opt_endpoint, .group = G_COMMON,
     .use = "--endpoint-url URL"},
    {"ca-file", ARG, 0, C_AWS | C_RUN, O_HANDLER, .fn = opt_ca_file, .group = G_COMMON, .use = "--ca-file PATH"},
    {"profile", ARG, 0, C_AWS, O_STR, AT(co.profile), .group = G_COMMON, .use = "--profile P"},
    {"log-level", ARG, 0, C_AWS | C_RUN, O_HANDLER, .fn = opt_log_level, .group = G_COMMON,
     .use = "--log-level LEVEL"},
    {"access-key-id", ARG, 0, C_AWS, O_STR, AT(co.akid), .group = G_COMMON, .brk = 1,
     .use = "--access-key-id ID"},
    {"secret-access-key", ARG, 0, C_AWS, O_STR, AT(co.secret), .group = G_COMMON,
     .use = "--secret-access-key KEY"},
    {"session-token", ARG, 0, C_AWS, O_STR, AT(co.token), .group = G_COMMON, .use = "--session-token T"},
    {"role-arn", ARG, 0, C_AWS, O_STR, AT(co.role_arn), .group = G_COMMON, .brk = 1, .use = "--role-arn ARN"},
    {"external-id", ARG, 0, C_AWS, O_STR, AT(co.external_id), .group = G_COMMON, .use = "--external-id ID"},
    {"role-session-name", ARG, 0, C_AWS, O_STR, AT(co.session_name), .group = G_COMMON, .use = "--role-session-name N"},
    {"connect-timeout-ms", ARG, 0, C_AWS, O_UINT, AT(co.connect_ms), 1, 3600000, MS_RANGE(1),
     .group = G_COMMON, .brk = 1, .use = "--connect-timeout-ms N"},
    {"request-timeout-ms", ARG, 0, C_AWS, O_UINT, AT(co.request_ms), 1, 3600000, MS_RANGE(1),
     .group = G_COMMON, .use = "--request-timeout-ms N"},
    {"help", no_argument, 0, C_AWS | C_RUN, O_HELP, .group = G_NONE},

    {"stream", ARG, 's', C_PUT, O_STR, AT(stream)},
    {"partition-key", ARG, 0, C_PUT, O_STR, AT(fixed_key), .group = G_PUT, .use = "--partition-key KEY"},
    {"key", ARG, 0, C_PUT, O_STR, AT(key_spec), .group = G_PUT, .brk = 1,
     .use = "--key random|hash|balanced|fixed:KEY|field:PATH|regex:ERE"},
    {"match-bytes", ARG, 0, C_PUT, O_SIZE, AT(match_bytes), SP_MATCH_BYTES_MIN, SP_MATCH_BYTES_MAX,
     "64 to 1MiB (bytes, or with a K or M suffix)", .group = G_PUT, .brk = 1, .use = "--match-bytes N"},
    {"linger-ms", ARG, 0, C_PUT, O_UINT, AT(po.linger_ms), 0, 3600000, MS_RANGE(0), .group = G_PUT,
     .brk = 1, .use = "--linger-ms N"},
    {"batch-records", ARG, 0, C_PUT, O_UINT, AT(po.batch_records), 1, SP_BATCH_MAX_RECORDS,
     "1 to 500 (the PutRecords limit)", .group = G_PUT, .use = "--batch-records N"},
    {"batch-bytes", ARG, 0, C_PUT, O_SIZE, AT(po.batch_bytes), 1, SP_BATCH_MAX_BYTES,
     "1 to 10MiB (" SIZE_FORM "; the PutRecords limit)", .group = G_PUT, .use = "--batch-bytes N"},
    {"shard-rate", ARG, 0, C_PUT, O_HANDLER, .fn = opt_shard_rate, .range = "1% to 1000%",
     .group = G_PUT, .brk = 1, .use = "--shard-rate PCT"},
    {"ordered", no_argument, 0, C_PUT, O_FLAG, AT(po.ordered), .group = G_PUT, .use = "--ordered"},
    {"shard-refresh-ms", ARG, 0, C_PUT, O_UINT, AT(po.refresh_ms), 1000, 86400000,
     "1000 to 86400000 (milliseconds)", .group = G_PUT, .use = "--shard-refresh-ms N"},
    {"oversize", ARG, 0, C_PUT, O_HANDLER, .fn = opt_oversize, .group = G_PUT, .brk = 1,
     .use = "--oversize split|truncate|drop"},
    {"max-in-flight", ARG, 0, C_PUT, O_UINT, AT(po.max_in_flight), 1, 256, "1 to 256", .group = G_PUT,
     .use = "--max-in-flight N"},
    {"buffer-bytes", ARG, 0, C_PUT, O_SIZE, AT(po.budget_bytes), 1ULL << 20, 1ULL << 40,
     "1MiB to 1024GiB (" SIZE_FORM ")", .group = G_PUT, .use = "--buffer-bytes N"},
    {"backoff-base-ms", ARG, 0, C_PUT, O_UINT, AT(po.backoff.base_ms), 1, 3600000, MS_RANGE(1),
     .group = G_PUT, .brk = 1, .use = "--backoff-base-ms N"},
    {"backoff-cap-ms", ARG, 0, C_PUT, O_UINT, AT(po.backoff.cap_ms), 1, 3600000, MS_RANGE(1),
     .group = G_PUT, .use = "--backoff-cap-ms N"},
    {"max-attempts", ARG, 0, C_PUT, O_UINT, AT(po.max_attempts), 0, 1000000, "0 (no limit) to 1000000",
     .group = G_PUT, .use = "--max-attempts N"},
    {"shutdown-timeout-ms", ARG, 0, C_PUT, O_UINT, AT(shutdown_ms), 0, 3600000, MS_RANGE(0),
     .group = G_PUT, .brk = 1, .use = "--shutdown-timeout-ms N"},
    {"metrics-listen", ARG, 0, C_PUT, O_STR, AT(metrics_listen), .group = G_PUT, .brk = 1,
     .use = "--metrics-listen ADDR:PORT"},
    {"health-stall-ms", ARG, 0, C_PUT, O_UINT, AT(stall_ms), 1000, 86400000, "1000 to 86400000 (milliseconds)",
     .group = G_PUT, .use = "--health-stall-ms N"},

    {"json", no_argument, 0, C_DESCRIBE | C_GET, O_FLAG, AT(json)},
    {"shard", ARG, 0, C_GET, O_STR, AT(ro.shard)},
    /* "--iterator at-sequence SEQ" takes its second word from argv */
    {"iterator", ARG, 0, C_GET, O_HANDLER, .fn = opt_iterator},
    {"limit", ARG, 0, C_GET, O_UINT, AT(ro.limit), 1, 10000, "1 to 10000 (the GetRecords limit)"},
    {"max-records", ARG, 0, C_GET, O_UINT, AT(ro.max_records), 1, UINT64_MAX, "1 to 18446744073709551615"},
    {"follow", no_argument, 0, C_GET, O_FLAG, AT(ro.follow)},

    {"config", ARG, 'c', C_RUN, O_STR, AT(config)},
    {"log-file", ARG, 0, C_RUN, O_STR, AT(log_file)},
};

#define NOPTS (sizeof cli_opts / sizeof cli_opts[0])
#define OPT_BASE 1000            /* getopt's value of an option without a short name */

/* The usage text: the synopsis, then the option blocks from the table. */
static void put_usage(FILE *f)
{
    fputs("usage: shardpipe put -s STREAM [options] < lines\n"
          "       shardpipe describe STREAM [--json] [options]\n"
          "       shardpipe get STREAM [--shard ID] [--iterator TYPE [ARG]] [--limit N]\n"
          "                     [--max-records N] [--follow] [--json] [options]\n"
          "       shardpipe run -c FILE [--log-level LEVEL] [--log-file FILE] [--ca-file PATH]\n"
          "       shardpipe check-config FILE\n"
          "       shardpipe version\n", f);
    static const char *const heads[] = {NULL, "common options: ", "put options:    "};
    for (int g = G_COMMON; g <= G_PUT; g++) {
        int first = 1;
        for (size_t i = 0; i < NOPTS; i++) {
            const struct cli_opt *d = &cli_opts[i];
            if (d->group != g)
                continue;
            if (first)
                fputs(heads[g], f);
            else
                fputs(d->brk ? "\n                " : " ", f);
            fputs(d->use, f);
            first = 0;
        }
        fputc('\n', f);
    }
    fputs("see shardpipe(1)\n", f);
}

static int usage(const char *fmt, const char *arg)
{
    if (fmt) {
        fprintf(stderr, "shardpipe: ");
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
    put_usage(stderr);
    return SP_EXIT_USAGE;
}

/* Every bad number gets the same message, whatever was wrong with it (not
 * a number, too small, too big, overflowing): the option, its range and
 * the value. */
static int bad_number(const char *opt, const char *range, const char *arg)
{
    fprintf(stderr, "shardpipe: %s must be %s, not '%.64s%s'\n", opt, range, arg,
            strlen(arg) > 64 ? "..." : "");
    put_usage(stderr);
    return SP_EXIT_USAGE;
}

/* A bad value of a setting: where it came from (an option or a variable)
 * starts the message, unless it says so already (where NULL). */
static int bad_setting(const char *where, const sp_err *e)
{
    fprintf(stderr, "shardpipe: %s%s%s\n", where ? where : "", where ? ": " : "", e->msg);
    put_usage(stderr);
    return SP_EXIT_USAGE;
}

static int opt_region(const struct cli_opt *d, const char *arg, struct opts *o)
{
    (void)d;
    sp_err e;
    /* empty counts as not given, as for AWS_REGION */
    if (*arg && sp_region_check("--region", arg, &e) != SP_OK)
        return bad_setting(NULL, &e);
    o->co.region = arg;
    return 0;
}

static int opt_endpoint(const struct cli_opt *d, const char *arg, struct opts *o)
{
    (void)d;
    char host[SP_URL_MAX];
    sp_err e;
    if (*arg && sp_endpoint_host(arg, host, sizeof host, &e) != SP_OK)
        return bad_setting("--endpoint-url", &e);
    o->co.endpoint = arg;
    return 0;
}

/* Checked now, so that a typo is a usage error, not a certificate failure
 * on every request. */
static int opt_ca_file(const struct cli_opt *d, const char *arg, struct opts *o)
{
    (void)d;
    sp_err e;
    if (sp_ca_file_check(arg, &e) != SP_OK)
        return bad_setting("--ca-file", &e);
    o->co.ca_file = arg;
    return 0;
}

static int opt_log_level(const struct cli_opt *d, const char *arg, struct opts *o)
{
    (void)d;
    if (sp_log_level_parse(arg, &o->co.level) != SP_OK)
        return usage("--log-level must be error, warn, info or debug, not '%s'", arg);
    o->level_set = 1;
    return 0;
}

static int opt_oversize(const struct cli_opt *d, const char *arg, struct opts *o)
{
    (void)d;
    if (sp_oversize_parse(arg, &o->oversize) != 0)
        return usage("--oversize must be split, truncate or drop, not '%s'", arg);
    return 0;
}

/* "80%" or "80": a share of each shard's write limit. */
static int opt_shard_rate(const struct cli_opt *d, const char *arg, struct opts *o)
{
    char pct[16];
    unsigned long long v;
    size_t n = strlen(arg);
    if (n == 0 || n >= sizeof pct)
        return bad_number("--shard-rate", d->range, arg);
    memcpy(pct, arg, n + 1);
    if (pct[n - 1] == '%')
        pct[n - 1] = '\0';
    if (sp_parse_uint(pct, 1, 1000, &v) != 0)
        return bad_number("--shard-rate", d->range, arg);
    o->po.throttle.share = (double)v / 100.0;
    return 0;
}

static int opt_iterator(const struct cli_opt *d, const char *arg, struct opts *o)
{
    (void)d;
    sp_reader_opts *ro = &o->ro;
    if (sp_iter_kind_parse(arg, &ro->iter) != SP_OK)
        return usage("--iterator must be latest, trim-horizon, at-sequence SEQ, after-sequence SEQ "
                     "or at-timestamp TIME, not '%s'", arg);
    if (ro->iter == SP_ITER_AT_SEQUENCE || ro->iter == SP_ITER_AFTER_SEQUENCE || ro->iter == SP_ITER_AT_TIMESTAMP) {
        if (optind >= o->argc)
            return usage("--iterator %s needs a value", arg);
        o->iter_arg = o->argv[optind++];
    }
    return 0;
}

/* Parses the options of subcommand cmd (argv[0] is its name) into o:
 * -1 when the arguments that follow are the subcommand's to check, else
 * the exit status (--help, or a bad option, whose message is printed). */
static int parse_opts(unsigned cmd, int argc, char **argv, struct opts *o)
{
    struct option lo[NOPTS + 1];
    const struct cli_opt *by_val[NOPTS];
    char shorts[2 * NOPTS + 1];
    size_t n = 0, ns = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        const struct cli_opt *d = &cli_opts[i];
        if (!(d->cmds & cmd))
            continue;
        by_val[n] = d;
        lo[n] = (struct option){d->name, d->has_arg, NULL, d->short_name ? d->short_name : OPT_BASE + (int)n};
        n++;
        if (d->short_name) {
            shorts[ns++] = d->short_name;
            if (d->has_arg == required_argument)
                shorts[ns++] = ':';
        }
    }
    lo[n] = (struct option){NULL, 0, NULL, 0};
    shorts[ns] = '\0';
    o->argc = argc;
    o->argv = argv;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const struct cli_opt *d = NULL;
        for (size_t i = 0; i < n && d == NULL; i++)
            if (lo[i].val == c)
                d = by_val[i];
        if (d == NULL)
            return usage(NULL, NULL);       /* getopt has said what is wrong */
        void *dst = (char *)o + d->off;
        unsigned long long v;
        int bad;
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", d->name);
        switch (d->type) {
        case O_STR:
            memcpy(dst, &optarg, sizeof optarg);
            break;
        case O_FLAG:
            *(int *)dst = 1;
            break;
        case O_UINT:
        case O_SIZE:
            bad = d->type == O_UINT ? sp_parse_uint(optarg, d->min, d->max, &v) != 0
                                    : sp_parse_size(optarg, d->max, &v) != 0 || v < d->min;
            if (bad)
                return bad_number(opt, d->range, optarg);
            sp_store_uint(dst, d->width, v);
            break;
        case O_HANDLER:
            if ((bad = d->fn(d, optarg, o)) != 0)
                return bad;
            break;
        case O_HELP:
            put_usage(stdout);
            return SP_EXIT_OK;
        }
    }
    return -1;
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
    if (r != NULL && sp_region_check(where, r, &e) != SP_OK)
        return bad_setting(NULL, &e);
    const char *url = given_endpoint(o, &where);
    char host[SP_URL_MAX];
    if (url != NULL && *url && sp_endpoint_host(url, host, sizeof host, &e) != SP_OK)
        return bad_setting(where, &e);
    /* as STS would judge them; the messages never quote an external ID */
    const char *const names[] = {"--role-arn", "--external-id", "--role-session-name"};
    const char *const vals[] = {o->role_arn, o->external_id, o->session_name};
    int (*const check[])(const char *, sp_err *) = {sp_sts_check_role_arn, sp_sts_check_external_id,
                                                    sp_sts_check_session_name};
    for (int i = 0; i < 3; i++)
        if (vals[i] != NULL && *vals[i] && check[i](vals[i], &e) != SP_OK)
            return bad_setting(names[i], &e);
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
    co.role_arn = o->role_arn;
    co.external_id = o->external_id;
    co.role_session_name = o->session_name;
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
    ho.ca_file = o->ca_file;
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
    sp_metrics_srv *metrics;  /* --metrics-listen */
    sp_putprog *progress;    /* stderr is a terminal */
};

static size_t put_flows(void *arg, sp_flow *const **flows)
{
    struct put *u = arg;
    *flows = &u->flow;
    return u->flow != NULL;
}

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
    struct opts o;
    memset(&o, 0, sizeof o);
    o.co.level = SP_LOG_WARN;
    o.shutdown_ms = 10000;
    sp_producer_opts *pp = &o.po;
    pp->batch_records = SP_BATCH_MAX_RECORDS;
    pp->batch_bytes = SP_BATCH_DEFAULT_BYTES;
    pp->linger_ms = 200;
    pp->backoff.base_ms = SP_BACKOFF_BASE_MS;
    pp->backoff.cap_ms = SP_BACKOFF_CAP_MS;
    pp->max_in_flight = 8;
    pp->budget_bytes = SP_PRODUCER_BUDGET_DEFAULT;
    pp->route = 1;
    pp->refresh_ms = 60000;
    sp_throttle_cfg_default(&pp->throttle);
    o.oversize = SP_OVERSIZE_SPLIT;
    int done = parse_opts(C_PUT, argc, argv, &o);
    if (done >= 0)
        return done;
    /* the names the rest of put uses */
    struct common co = o.co;
    sp_producer_opts po = o.po;
    const char *stream = o.stream, *fixed_key = o.fixed_key, *key_spec = o.key_spec;
    size_t match_bytes = o.match_bytes;
    enum sp_oversize oversize = o.oversize;
    uint32_t shutdown_ms = o.shutdown_ms;
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
    sp_metrics_opts mo = {o.metrics_listen, "--metrics-listen", o.stall_ms, put_flows, &u, &cx.log};
    if ((o.metrics_listen && (u.metrics = sp_metrics_new(cx.loop, &mo, &err)) == NULL) ||
        sp_putprog_start(cx.loop, u.flow, STDERR_FILENO, &u.progress, &err) != SP_OK)
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
    sp_putprog_free(u.progress);   /* erases its line before anything else is said */
    if (rc != SP_EXIT_OK)
        fprintf(stderr, "shardpipe: error: %s\n", err.msg);
    sp_metrics_free(u.metrics);
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
    if (sp_describe_print(&d->sum, sh, open, d->json, &d->err) == SP_OK)
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
    struct opts o;
    memset(&o, 0, sizeof o);
    o.co.level = SP_LOG_WARN;
    int done = parse_opts(C_DESCRIBE, argc, argv, &o);
    if (done >= 0)
        return done;
    struct common co = o.co;
    int json = o.json;
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
        sp_buf_json_kv(b, "shard_id", shard_id, 0);
        sp_buf_json_kv(b, "sequence_number", rec->seq, 1);
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
    struct opts o;
    memset(&o, 0, sizeof o);
    o.co.level = SP_LOG_WARN;
    o.ro.iter = SP_ITER_LATEST;
    o.ro.backoff.base_ms = SP_BACKOFF_BASE_MS;
    o.ro.backoff.cap_ms = SP_BACKOFF_CAP_MS;
    int done = parse_opts(C_GET, argc, argv, &o);
    if (done >= 0)
        return done;
    struct common co = o.co;
    sp_reader_opts ro = o.ro;
    const char *iter_arg = o.iter_arg;
    struct get g = {0};
    g.json = o.json;
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
    struct opts o;
    memset(&o, 0, sizeof o);
    int done = parse_opts(C_RUN, argc, argv, &o);
    if (done >= 0)
        return done;
    sp_agent_opts ao = {0};
    ao.log_timestamps = !sp_log_stderr_is_journal();   /* journald stamps its lines */
    ao.log_file = o.log_file;
    ao.stdin_closed = stdin_closed;
    ao.config_path = o.config;
    ao.log_level = o.co.level;
    ao.log_level_set = o.level_set;
    ao.ca_file = o.co.ca_file;
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
    sp_log lg = {.level = SP_LOG_WARN};
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
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return sp_version_print(stdout) == SP_OK ? SP_EXIT_OK : SP_EXIT_FAIL;
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        put_usage(stdout);
        return SP_EXIT_OK;
    }
    return usage("unknown subcommand '%s'", cmd);
}
