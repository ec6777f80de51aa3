/* The table of the configuration's keys and the one place a key is read
 * (config_keys.h). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/producer.h"
#include "shardpipe/parse.h"
#include "shardpipe/batch.h"
#include "shardpipe/config_keys.h"
#include "shardpipe/ere.h"
#include "shardpipe/listen.h"

#define MIB SP_CFG_MIB
#define MS_MAX SP_CFG_MS_MAX
#define DEFAULT_CHECKPOINT "/var/lib/shardpipe/checkpoints"

#define K_FILE (1u << SP_SRC_FILE)
#define K_TCP (1u << SP_SRC_TCP)
#define K_UDP (1u << SP_SRC_UDP)
#define K_UNIX (1u << SP_SRC_UNIX)
#define K_STDIN (1u << SP_SRC_STDIN)

#define FIELD(type, m) .off = offsetof(type, m), .width = sizeof(((type *)0)->m)
#define TOPF(m) .scope = SP_CFG_TOP, FIELD(sp_config, m)
#define FLOWF(m) .scope = SP_CFG_FLOW, FIELD(sp_flow_cfg, m)
#define SRCF(m) .scope = SP_CFG_SOURCE, FIELD(sp_source_cfg, m)

/* enums are stored through their width */
_Static_assert(sizeof(enum sp_oversize) == sizeof(uint32_t), "enum width");
_Static_assert(sizeof(enum sp_start_pos) == sizeof(uint32_t), "enum width");
_Static_assert(sizeof(enum sp_log_level) == sizeof(uint32_t), "enum width");

static const char *const kind_names[] = {"file", "tcp", "udp", "unix", "stdin"};

static const sp_cfg_enum log_levels[] = {
    {"error", SP_LOG_ERROR, NULL}, {"warn", SP_LOG_WARN, NULL}, {"info", SP_LOG_INFO, NULL},
    {"debug", SP_LOG_DEBUG, NULL}, {NULL, 0, NULL}};
static const sp_cfg_enum oversizes[] = {
    {"split", SP_OVERSIZE_SPLIT, NULL}, {"truncate", SP_OVERSIZE_TRUNCATE, NULL},
    {"drop", SP_OVERSIZE_DROP, NULL}, {NULL, 0, NULL}};
static const sp_cfg_enum starts[] = {
    {"end", SP_START_END, NULL}, {"beginning", SP_START_BEGINNING, NULL}, {NULL, 0, NULL}};
static const sp_cfg_enum agent_starts[] = {
    {"START_OF_FILE", SP_START_BEGINNING, NULL}, {"END_OF_FILE", SP_START_END, NULL}, {NULL, 0, NULL}};
/* DETERMINISTIC is the MD5 of the record data in hex, as "hash" */
static const sp_cfg_enum agent_keys[] = {
    {"RANDOM", 0, "random"}, {"DETERMINISTIC", 0, "hash"}, {NULL, 0, NULL}};

/* cloudwatch.emitMetrics: false is what shardpipe does anyway */
#define NO_CW "shardpipe does not publish CloudWatch metrics; its counters are in its log"
static int emit_metrics(const sp_cfg_cx *x, const sp_cfg_key *k, const char *p, json_object *v, void *obj)
{
    (void)k;
    (void)obj;
    int on = 0;
    if (sp_cfg_get_bool(x, p, v, &on) != SP_OK)
        return SP_ERR;
    if (on)
        sp_cfg_ignored(x, p, NO_CW);
    return SP_OK;
}

/* metrics_listen: ADDR:PORT, the address numeric (checked again as it is bound) */
static int check_listen(const sp_cfg_cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    char host[128];
    int port;
    sp_err e;
    if (sp_listen_split(*val, "metrics_listen", host, sizeof host, &port, &e) != SP_OK)
        return sp_cfg_fail(x, p, "%s", e.msg + strlen("metrics_listen: "));
    return SP_OK;
}

/* dataProcessingOptions: only an empty list changes nothing */
static int processing(const sp_cfg_cx *x, const sp_cfg_key *k, const char *p, json_object *v, void *obj)
{
    (void)k;
    (void)obj;
    if (!json_object_is_type(v, json_type_array))
        return sp_cfg_fail(x, p, "must be an array, not %s", sp_jsonpos_type(v));
    if (json_object_array_length(v) == 0)
        return SP_OK;
    json_object *first = json_object_array_get_idx(v, 0), *name = NULL;
    json_object_object_get_ex(first, "optionName", &name);
    return sp_cfg_fail(x, p, "data processing (%.64s%s) is not supported: shardpipe sends records "
                             "as they are read; remove the option or keep the Kinesis Agent "
                             "for this flow",
                       name && json_object_is_type(name, json_type_string) ? json_object_get_string(name) : "?",
                       json_object_array_length(v) > 1 ? ", ..." : "");
}

#define NO_CREDS "Java credential provider classes cannot be loaded; use the environment or a profile"
#define NO_THREADS "shardpipe sends from one event loop; concurrency is requests in flight"
#define NO_HTTP "shardpipe manages its own HTTP connections"
#define NO_LOGM "shardpipe logs its own periodic statistics"
#define NO_QUEUE "buffering is bounded by shardpipe's global memory budget"
#define NO_POLL "file discovery and polling are global in shardpipe (file_poll_ms in its own dialect)"
#define NO_UA "shardpipe sends its own User-Agent"
#define NO_RETRY "shardpipe retries with its own exponential backoff and jitter"

#define IGNORED_TOP(k, w) {NULL, k, .scope = SP_CFG_TOP, .type = SP_CFG_IGNORED, .why = w}
#define IGNORED_FLOW(k, w) {NULL, k, .scope = SP_CFG_FLOW, .type = SP_CFG_IGNORED, .why = w}

/* The order is the man page's. The untranslated agent.json keys follow
 * the agent's documentation (AWS "Writing to Kinesis Data Streams Using
 * Kinesis Agent") and the options its source reads: a warning only for
 * what changes nothing about which records are sent where. */
const sp_cfg_key sp_cfg_keys[] = {
    /* ---- top level ---- */
    {"region", "kinesis.region", TOPF(region), .type = SP_CFG_STR, .check = sp_cfg_check_region,
     .flags = SP_CFG_AGENT_UNSET},
    /* the agent's packaged agent.json has "kinesis.endpoint": "", meaning unset */
    {"endpoint", "kinesis.endpoint", TOPF(endpoint), .type = SP_CFG_STR, .check = sp_cfg_check_endpoint,
     .flags = SP_CFG_AGENT_UNSET},
    {"ca_file", NULL, TOPF(ca_file), .type = SP_CFG_STR, .check = sp_cfg_check_ca_file},
    {"profile", NULL, TOPF(profile), .type = SP_CFG_STR, .check = sp_cfg_check_profile},
    {NULL, "awsAccessKeyId", TOPF(access_key_id), .type = SP_CFG_STR, .check = sp_cfg_check_akid,
     .flags = SP_CFG_AGENT_UNSET},
    {NULL, "awsSecretAccessKey", TOPF(secret_access_key), .type = SP_CFG_STR, .flags = SP_CFG_AGENT_UNSET},
    {"assume_role_arn", "assumeRoleARN", TOPF(role_arn), .type = SP_CFG_STR,
     .check = sp_cfg_check_role_arn, .flags = SP_CFG_AGENT_UNSET},
    {"assume_role_external_id", "assumeRoleExternalId", TOPF(external_id), .type = SP_CFG_STR,
     .check = sp_cfg_check_external_id, .flags = SP_CFG_AGENT_UNSET},
    {"assume_role_session_name", NULL, TOPF(role_session_name), .type = SP_CFG_STR,
     .check = sp_cfg_check_session_name},
    {"sts_endpoint", "sts.endpoint", TOPF(sts_endpoint), .type = SP_CFG_STR, .check = sp_cfg_check_endpoint,
     .flags = SP_CFG_AGENT_UNSET},
    {"checkpoint_file", "checkpointFile", TOPF(checkpoint_file), .type = SP_CFG_STR,
     .check = sp_cfg_check_checkpoint, .sdef = DEFAULT_CHECKPOINT},
    {"memory_budget", NULL, TOPF(memory_budget), .type = SP_CFG_SIZE, .min = MIB, .max = 1ULL << 40,
     .def = SP_PRODUCER_BUDGET_DEFAULT},
    {"log_level", NULL, TOPF(log_level), .type = SP_CFG_ENUM, .names = log_levels, .sdef = "info"},
    {"log_file", NULL, TOPF(log_file), .type = SP_CFG_STR, .check = sp_cfg_check_log_file},
    {"shutdown_timeout_ms", "shutdownTimeoutMillis", TOPF(shutdown_timeout_ms), .type = SP_CFG_MS,
     .max = MS_MAX, .def = 30000},
    {"file_poll_ms", NULL, TOPF(file_poll_ms), .type = SP_CFG_MS, .min = 10, .max = MS_MAX, .def = 1000},
    {"partial_line_flush_ms", NULL, TOPF(partial_line_flush_ms), .type = SP_CFG_MS, .min = 1,
     .max = MS_MAX, .def = 5000},
    {"metrics_listen", NULL, TOPF(metrics_listen), .type = SP_CFG_STR, .check = check_listen},
    {"health_stall_ms", NULL, TOPF(health_stall_ms), .type = SP_CFG_MS, .min = 1000, .max = MS_MAX,
     .def = 60000},
    {"stats_interval_ms", NULL, TOPF(stats_interval_ms), .type = SP_CFG_MS, .max = MS_MAX, .def = 30000},
    {"flows", "flows", .scope = SP_CFG_TOP, .type = SP_CFG_SPECIAL},
    {NULL, "cloudwatch.emitMetrics", .scope = SP_CFG_TOP, .type = SP_CFG_CUSTOM, .custom = emit_metrics},
    {NULL, "userDefinedCredentialsProvider.classname", .scope = SP_CFG_TOP, .type = SP_CFG_REFUSED,
     .why = NO_CREDS},
    {NULL, "userDefinedCredentialsProvider.location", .scope = SP_CFG_TOP, .type = SP_CFG_REFUSED,
     .why = NO_CREDS},
    IGNORED_TOP("cloudwatch.endpoint", NO_CW),
    IGNORED_TOP("cloudwatch.tagInstance", NO_CW),
    IGNORED_TOP("cloudwatch.metricsBufferTimeMillis", NO_CW),
    IGNORED_TOP("cloudwatch.namespace", NO_CW),
    IGNORED_TOP("cloudwatch.metricsQueueSize", NO_CW),
    /* the packaged agent.json has "firehose.endpoint": "", meaning unset */
    IGNORED_TOP("firehose.endpoint", "shardpipe has no Firehose flows"),
    IGNORED_TOP("log.emitMetrics", NO_LOGM),
    IGNORED_TOP("log.emitInternalMetrics", NO_LOGM),
    IGNORED_TOP("log.statusReportingPeriodSeconds", NO_LOGM),
    IGNORED_TOP("maxSendingThreads", NO_THREADS),
    IGNORED_TOP("maxSendingThreadsPerCore", NO_THREADS),
    IGNORED_TOP("sendingThreadsKeepAliveMillis", NO_THREADS),
    IGNORED_TOP("sendingThreadsMaxQueueSize", NO_THREADS),
    IGNORED_TOP("maxConnections", NO_HTTP),
    IGNORED_TOP("connectionTimeoutMillis", NO_HTTP),
    IGNORED_TOP("connectionTTLMillis", NO_HTTP),
    IGNORED_TOP("socketTimeoutMillis", NO_HTTP),
    IGNORED_TOP("useTcpKeepAlive", NO_HTTP),
    IGNORED_TOP("useHttpGzip", NO_HTTP),
    IGNORED_TOP("userAgent", NO_UA),
    IGNORED_TOP("userAgentOverride", NO_UA),
    IGNORED_TOP("checkpointTimeToLiveDays", "shardpipe drops a file's checkpoint once the file is "
                                            "deleted and fully read"),

    /* ---- a flow ---- */
    {"name", NULL, FLOWF(name), .type = SP_CFG_STR, .check = sp_cfg_check_name},
    {"stream", "kinesisStream", FLOWF(stream), .type = SP_CFG_STR, .check = sp_cfg_check_stream},
    {"sources", NULL, .scope = SP_CFG_FLOW, .type = SP_CFG_SPECIAL},
    {"key", NULL, FLOWF(key), .type = SP_CFG_STR, .check = sp_cfg_check_key_spec, .sdef = "random"},
    {NULL, "partitionKeyOption", FLOWF(key), .type = SP_CFG_ENUM, .agent_names = agent_keys},
    {"linger_ms", "maxBufferAgeMillis", FLOWF(linger_ms), .type = SP_CFG_MS, .max = MS_MAX, .def = 200},
    {"batch_records", "maxBufferSizeRecords", FLOWF(batch_records), .type = SP_CFG_UINT, .min = 1,
     .max = SP_BATCH_MAX_RECORDS, .def = SP_BATCH_MAX_RECORDS},
    {"batch_bytes", "maxBufferSizeBytes", FLOWF(batch_bytes), .type = SP_CFG_SIZE, .min = 1,
     .max = SP_BATCH_MAX_BYTES, .def = SP_BATCH_DEFAULT_BYTES},
    /* the agent truncates an oversize record and ends it with "\n" */
    {"oversize", NULL, FLOWF(oversize), .type = SP_CFG_ENUM, .names = oversizes, .sdef = "split",
     .agent_sdef = "truncate"},
    {"truncated_terminator", "truncatedRecordTerminator", FLOWF(truncated_terminator), .type = SP_CFG_STR,
     .check = sp_cfg_check_terminator, .agent_sdef = "\n", .flags = SP_CFG_AGENT_UNSET},
    /* empty: our dialect's check says to leave the key out; one record per line to the agent */
    {"multiline_start", "multiLineStartPattern", FLOWF(multiline_start), .type = SP_CFG_STR,
     .check = sp_cfg_check_multiline, .flags = SP_CFG_EMPTY_OK | SP_CFG_AGENT_UNSET},
    {"match_bytes", NULL, FLOWF(match_bytes), .type = SP_CFG_SIZE, .min = SP_MATCH_BYTES_MIN,
     .max = SP_MATCH_BYTES_MAX},
    {"skip_header_lines", "skipHeaderLines", FLOWF(skip_header_lines), .type = SP_CFG_UINT,
     .max = SP_CFG_HEADER_LINES_MAX},
    {"start", "initialPosition", FLOWF(start), .type = SP_CFG_ENUM, .names = starts,
     .agent_names = agent_starts, .sdef = "end"},
    {"shard_rate", NULL, FLOWF(shard_rate), .type = SP_CFG_RATE, .def = 100},
    {"ordered", NULL, FLOWF(ordered), .type = SP_CFG_BOOL},
    {NULL, "deliveryStream", .scope = SP_CFG_FLOW, .type = SP_CFG_SPECIAL},
    {NULL, "dataProcessingOptions", .scope = SP_CFG_FLOW, .type = SP_CFG_CUSTOM, .custom = processing},
    {NULL, "fileFooterPattern", .scope = SP_CFG_FLOW, .type = SP_CFG_REFUSED,
     .why = "stopping at a footer line is not supported"},
    IGNORED_FLOW("aggregatedRecordSizeBytes", "a Firehose option; the Kinesis Agent ignores it in a "
                                              "kinesisStream flow as well"),
    IGNORED_FLOW("minTimeBetweenFilePollsMillis", NO_POLL),
    IGNORED_FLOW("maxTimeBetweenFileTrackerRefreshMillis", NO_POLL),
    IGNORED_FLOW("retryInitialBackoffMillis", NO_RETRY),
    IGNORED_FLOW("retryMaxBackoffMillis", NO_RETRY),
    IGNORED_FLOW("publishQueueCapacity", NO_QUEUE),
    IGNORED_FLOW("waitOnFullPublishQueueMillis", NO_QUEUE),
    IGNORED_FLOW("waitOnEmptyPublishQueueMillis", NO_QUEUE),
    IGNORED_FLOW("waitOnFullRetryQueueMillis", NO_QUEUE),
    IGNORED_FLOW("log.emitInternalMetrics", NO_LOGM),

    /* ---- a source (agent.json: its one file source, keys in the flow) ---- */
    {"type", NULL, .scope = SP_CFG_SOURCE, .type = SP_CFG_SPECIAL,
     .kinds = K_FILE | K_TCP | K_UDP | K_UNIX | K_STDIN},
    {"path", "filePattern", SRCF(path), .type = SP_CFG_STR, .kinds = K_FILE | K_UNIX,
     .check = sp_cfg_check_source_path},
    {"bind", NULL, SRCF(bind), .type = SP_CFG_STR, .kinds = K_TCP | K_UDP, .check = sp_cfg_check_bind,
     .sdef = "127.0.0.1"},
    {"port", NULL, SRCF(port), .type = SP_CFG_UINT, .kinds = K_TCP | K_UDP, .min = 1, .max = 65535},
    {"lines", NULL, SRCF(udp_lines), .type = SP_CFG_BOOL, .kinds = K_UDP},
    {"max_line", NULL, SRCF(max_line), .type = SP_CFG_SIZE, .kinds = K_TCP | K_UNIX, .min = 1,
     .max = SP_CFG_RECORD_MAX},
    {"max_clients", NULL, SRCF(max_clients), .type = SP_CFG_UINT, .kinds = K_TCP | K_UNIX, .min = 1,
     .max = SP_CFG_CLIENTS_MAX, .def = 64},
};

const size_t sp_cfg_nkeys = sizeof sp_cfg_keys / sizeof sp_cfg_keys[0];

const char *sp_cfg_kind_name(enum sp_source_kind kind)
{
    return (size_t)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "?";
}

int sp_cfg_kind_parse(const char *s, enum sp_source_kind *out)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum sp_source_kind)i;
            return SP_OK;
        }
    }
    return SP_ERR;
}

const sp_cfg_key *sp_cfg_find(int agent, unsigned scopes, const char *name)
{
    for (size_t i = 0; i < sp_cfg_nkeys; i++) {
        const sp_cfg_key *k = &sp_cfg_keys[i];
        const char *n = agent ? k->agent : k->name;
        if (n != NULL && (k->scope & scopes) && strcmp(n, name) == 0)
            return k;
    }
    return NULL;
}

static void *field_of(const sp_cfg_key *k, const sp_cfg_target *t)
{
    char *base = k->scope == SP_CFG_TOP ? (char *)t->top
               : k->scope == SP_CFG_FLOW ? (char *)t->flow : (char *)t->source;
    return base == NULL || k->width == 0 ? NULL : base + k->off;
}

static void *obj_of(const sp_cfg_key *k, const sp_cfg_target *t)
{
    return k->scope == SP_CFG_TOP ? (void *)t->top : k->scope == SP_CFG_FLOW ? (void *)t->flow
                                                                             : (void *)t->source;
}

static int store_str(const sp_cfg_cx *x, const char *p, char **dst, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        return sp_cfg_fail(x, p, "out of memory");
    free(*dst);
    *dst = d;
    return SP_OK;
}

static const sp_cfg_enum *enum_names(const sp_cfg_cx *x, const sp_cfg_key *k)
{
    return x->agent && k->agent_names != NULL ? k->agent_names : k->names;
}

static int store_enum(const sp_cfg_cx *x, const char *p, const sp_cfg_key *k, void *dst,
                      const sp_cfg_enum *e)
{
    if (e->str != NULL)
        return store_str(x, p, dst, e->str);
    sp_store_uint(dst, k->width, (unsigned long long)e->value);
    return SP_OK;
}

/* "'cut' is not split, truncate or drop" */
static int set_enum(const sp_cfg_cx *x, const sp_cfg_key *k, const char *p, json_object *v, void *dst)
{
    const sp_cfg_enum *names = enum_names(x, k);
    char *s = NULL;
    if (sp_cfg_get_str(x, p, v, 0, &s) != SP_OK)
        return SP_ERR;
    for (const sp_cfg_enum *e = names; e->name != NULL; e++) {
        if (strcmp(s, e->name) == 0) {
            free(s);
            return store_enum(x, p, k, dst, e);
        }
    }
    char list[256];
    size_t n = 0;
    list[0] = '\0';
    for (const sp_cfg_enum *e = names; e->name != NULL && n < sizeof list; e++) {
        const char *sep = e == names ? "" : e[1].name == NULL ? " or " : ", ";
        int w = snprintf(list + n, sizeof list - n, "%s%s", sep, e->name);
        n += w < 0 ? sizeof list : (size_t)w;
    }
    int rc = sp_cfg_fail(x, p, "'%.64s' is not %s", s, list);
    free(s);
    return rc;
}

static int set_str(const sp_cfg_cx *x, const sp_cfg_key *k, const char *p, json_object *v,
                   char **dst, const void *obj)
{
    int unset = x->agent && (k->flags & SP_CFG_AGENT_UNSET);
    int empty_ok = unset || (!x->agent && (k->flags & SP_CFG_EMPTY_OK));
    if (sp_cfg_get_str(x, p, v, empty_ok, dst) != SP_OK)
        return SP_ERR;
    if (unset && (*dst)[0] == '\0') {
        free(*dst);
        *dst = NULL;
        return SP_OK;
    }
    return k->check != NULL ? k->check(x, p, dst, obj) : SP_OK;
}

int sp_cfg_set(const sp_cfg_cx *x, const sp_cfg_key *k, const char *p, json_object *v,
               const sp_cfg_target *t)
{
    void *dst = field_of(k, t);
    unsigned long long u = 0;
    int b = 0;
    int rc;
    switch (k->type) {
    case SP_CFG_STR:
        return set_str(x, k, p, v, dst, obj_of(k, t));
    case SP_CFG_BOOL:
        if (sp_cfg_get_bool(x, p, v, &b) != SP_OK)
            return SP_ERR;
        sp_store_uint(dst, k->width, (unsigned long long)b);
        return SP_OK;
    case SP_CFG_UINT:
    case SP_CFG_MS:
    case SP_CFG_SIZE:
        rc = k->type == SP_CFG_SIZE && !x->agent ? sp_cfg_get_size(x, p, v, k->min, k->max, &u)
                                                 : sp_cfg_get_uint(x, p, v, k->min, k->max, &u);
        if (rc == SP_OK)
            sp_store_uint(dst, k->width, u);
        return rc;
    case SP_CFG_ENUM:
        return set_enum(x, k, p, v, dst);
    case SP_CFG_RATE:
        return sp_cfg_get_rate(x, p, v, dst);
    case SP_CFG_CUSTOM:
        return k->custom(x, k, p, v, obj_of(k, t));
    case SP_CFG_SPECIAL:
        return SP_OK;
    case SP_CFG_IGNORED:
        /* a top-level "" is the packaged agent.json's way of leaving a key unset */
        if (k->scope != SP_CFG_TOP || !json_object_is_type(v, json_type_string) ||
            json_object_get_string_len(v) != 0)
            sp_cfg_ignored(x, p, k->why);
        return SP_OK;
    case SP_CFG_REFUSED:
        return sp_cfg_fail(x, p, "not supported: %s", k->why);
    }
    return sp_cfg_fail(x, p, "unknown key");
}

int sp_cfg_defaults(const sp_cfg_cx *x, unsigned scope, const sp_cfg_target *t)
{
    for (size_t i = 0; i < sp_cfg_nkeys; i++) {
        const sp_cfg_key *k = &sp_cfg_keys[i];
        void *dst = field_of(k, t);
        if (k->scope != scope || dst == NULL)
            continue;
        if (scope == SP_CFG_SOURCE && !(k->kinds & (1u << t->source->kind)))
            continue;
        const char *sdef = x->agent && k->agent_sdef != NULL ? k->agent_sdef : k->sdef;
        const char *p = k->name != NULL ? k->name : k->agent;
        switch (k->type) {
        case SP_CFG_BOOL:
        case SP_CFG_UINT:
        case SP_CFG_MS:
        case SP_CFG_SIZE:
            sp_store_uint(dst, k->width, k->def);
            break;
        case SP_CFG_RATE:
            *(double *)dst = (double)k->def / 100.0;
            break;
        case SP_CFG_STR:
            if (sdef != NULL && store_str(x, p, dst, sdef) != SP_OK)
                return SP_ERR;
            break;
        case SP_CFG_ENUM:
            for (const sp_cfg_enum *e = k->names; sdef != NULL && e != NULL && e->name != NULL; e++)
                if (strcmp(e->name, sdef) == 0 && store_enum(x, p, k, dst, e) != SP_OK)
                    return SP_ERR;
            break;
        default:
            break;
        }
    }
    return SP_OK;
}

#define EACH_KEY(obj, k, v)                                                              \
    for (struct json_object_iterator it_ = json_object_iter_begin(obj),                  \
                                      end_ = json_object_iter_end(obj);                  \
         !json_object_iter_equal(&it_, &end_) &&                                         \
         ((k) = json_object_iter_peek_name(&it_), (v) = json_object_iter_peek_value(&it_), 1); \
         json_object_iter_next(&it_))

int sp_cfg_object(const sp_cfg_cx *x, const char *path, json_object *o, unsigned scopes,
                  const sp_cfg_target *t, sp_cfg_unknown_fn *unknown)
{
    const char *name;
    json_object *v;
    EACH_KEY(o, name, v) {
        char p[SP_CFG_PATH];
        sp_jsonpos_key(p, path, name);
        const sp_cfg_key *k = sp_cfg_find(x->agent, scopes, name);
        if (k == NULL) {
            if (unknown(x, p, name) != SP_OK)
                return SP_ERR;
            continue;
        }
        if (k->scope == SP_CFG_SOURCE && !(k->kinds & (1u << t->source->kind)))
            return sp_cfg_fail(x, p, "is not a key of a %s source", sp_cfg_kind_name(t->source->kind));
        if (sp_cfg_set(x, k, p, v, t) != SP_OK)
            return SP_ERR;
    }
    return SP_OK;
}

int sp_cfg_flows(const sp_cfg_cx *x, json_object *v, sp_config *c, sp_cfg_flow_fn *parse)
{
    if (v == NULL)
        return sp_cfg_fail(x, "flows", "missing: at least one flow is needed");
    if (!json_object_is_type(v, json_type_array))
        return sp_cfg_fail(x, "flows", "must be an array of flows, not %s", sp_jsonpos_type(v));
    size_t n = json_object_array_length(v);
    if (n == 0 || n > SP_CFG_FLOWS_MAX)
        return sp_cfg_fail(x, "flows", "must hold 1 to %d flows, not %zu", SP_CFG_FLOWS_MAX, n);
    c->flows = calloc(n, sizeof *c->flows);
    if (c->flows == NULL)
        return sp_cfg_fail(x, "flows", "out of memory");
    c->nflows = n;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(v, i);
        char fp[SP_CFG_PATH];
        sp_jsonpos_index(fp, "flows", i);
        if (!json_object_is_type(o, json_type_object))
            return sp_cfg_fail(x, fp, "must be an object, not %s", sp_jsonpos_type(o));
        sp_cfg_target t = {.top = c, .flow = &c->flows[i]};
        if (sp_cfg_defaults(x, SP_CFG_FLOW, &t) != SP_OK || parse(x, o, i, &c->flows[i]) != SP_OK)
            return SP_ERR;
    }
    return SP_OK;
}

int sp_cfg_role_orphans(const sp_cfg_cx *x, const sp_config *c, const char *role_key,
                        const char *const keys[3])
{
    char *const vals[3] = {c->external_id, c->role_session_name, c->sts_endpoint};
    if (c->role_arn != NULL)
        return SP_OK;
    for (int i = 0; i < 3; i++) {
        if (vals[i] == NULL || keys[i] == NULL)
            continue;
        if (!x->agent)
            return sp_cfg_fail(x, keys[i], "has no effect without %s", role_key);
        char why[96];
        snprintf(why, sizeof why, "only used with %s", role_key);
        sp_cfg_ignored(x, keys[i], why);
    }
    return SP_OK;
}
