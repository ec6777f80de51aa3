/* The JSON configuration: both dialects, defaults, every validation error
 * with its key path, comments, sizes, the agent.json translation and the
 * example files in etc/. */
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/config.h"
#include "shardpipe/config_keys.h"

/* One parse: the result, the error and whatever was logged. */
typedef struct run {
    int rc;
    sp_config c;
    sp_err err;
    char *log;
    size_t loglen;
} run;

/* Tests write JSON with ' for " to stay readable; json-c would take the
 * single quotes too, but the files we ship use standard JSON. */
static char *dq(const char *s)
{
    char *d = strdup(s);
    ck_assert_ptr_nonnull(d);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static void parse_raw(run *r, const char *text, size_t len)
{
    memset(r, 0, sizeof *r);
    FILE *f = open_memstream(&r->log, &r->loglen);
    ck_assert_ptr_nonnull(f);
    sp_log lg = {.level = SP_LOG_DEBUG, .out = f, .timestamps = 0};
    r->rc = sp_config_parse(text, len, "test.json", &lg, &r->c, &r->err);
    fclose(f);
    if (r->rc != SP_OK) {
        /* on error nothing is left to free */
        ck_assert_ptr_null(r->c.flows);
        ck_assert_ptr_null(r->c.checkpoint_file);
    }
}

static void parse(run *r, const char *json)
{
    char *t = dq(json);
    parse_raw(r, t, strlen(t));
    free(t);
}

static void done(run *r)
{
    sp_config_free(&r->c);
    free(r->log);
}

#define OK(r, json)                                                            \
    do {                                                                       \
        parse((r), (json));                                                    \
        ck_assert_msg((r)->rc == SP_OK, "unexpected error: %s", (r)->err.msg); \
    } while (0)

/* The parse fails and the message holds every given piece. */
static void expect_err(const char *json, const char *want, const char *want2)
{
    run r;
    parse(&r, json);
    ck_assert_msg(r.rc == SP_ERR, "accepted: %s", json);
    ck_assert_msg(strstr(r.err.msg, want) != NULL, "message '%s' lacks '%s'", r.err.msg, want);
    if (want2 != NULL)
        ck_assert_msg(strstr(r.err.msg, want2) != NULL, "message '%s' lacks '%s'", r.err.msg, want2);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "test.json"));
    done(&r);
}

#define MIN_FLOW "'stream':'s','sources':[{'type':'stdin'}]"
#define ONE_FLOW(extra) "{'flows':[{" MIN_FLOW extra "}]}"
#define FILE_FLOW(extra) "{'flows':[{'stream':'s','sources':[{'type':'file','path':'/tmp/*.log'}]" extra "}]}"

/* A source list in one flow. */
#define SOURCES(list) "{'flows':[{'stream':'s','sources':[" list "]}]}"

/* ---- the shardpipe dialect ---- */

START_TEST(assume_role_keys)
{
    run r;
    OK(&r, "{'assume_role_arn':'arn:aws:iam::123456789012:role/sp','assume_role_external_id':'a+b=c,d.e@f:g/h-i',"
           "'assume_role_session_name':'host-1@example.com','sts_endpoint':'http://127.0.0.1:9911',"
           "'flows':[{" MIN_FLOW "}]}");
    ck_assert_int_eq(r.c.agent_json, 0);
    ck_assert_str_eq(r.c.role_arn, "arn:aws:iam::123456789012:role/sp");
    ck_assert_str_eq(r.c.external_id, "a+b=c,d.e@f:g/h-i");
    ck_assert_str_eq(r.c.role_session_name, "host-1@example.com");
    ck_assert_str_eq(r.c.sts_endpoint, "http://127.0.0.1:9911");
    done(&r);
    OK(&r, ONE_FLOW(""));
    ck_assert_ptr_null(r.c.role_arn);
    ck_assert_ptr_null(r.c.external_id);
    ck_assert_ptr_null(r.c.role_session_name);
    ck_assert_ptr_null(r.c.sts_endpoint);
    done(&r);

    /* without a role they would do nothing: refused */
    expect_err("{'assume_role_external_id':'abc','flows':[{" MIN_FLOW "}]}",
               "test.json: assume_role_external_id: has no effect without assume_role_arn", NULL);
    expect_err("{'assume_role_session_name':'abc','flows':[{" MIN_FLOW "}]}",
               "assume_role_session_name: has no effect without assume_role_arn", NULL);
    expect_err("{'sts_endpoint':'https://sts.us-east-1.amazonaws.com','flows':[{" MIN_FLOW "}]}",
               "sts_endpoint: has no effect without assume_role_arn", NULL);
    /* values */
    expect_err("{'assume_role_arn':'','flows':[{" MIN_FLOW "}]}", "assume_role_arn: must not be empty", NULL);
    expect_err("{'assume_role_arn':'arn:aws:s3:::bucket/role/x','flows':[{" MIN_FLOW "}]}",
               "assume_role_arn: role ARN 'arn:aws:s3:::bucket/role/x' is not an IAM role ARN", NULL);
    expect_err("{'assume_role_arn':'arn:aws:iam::123456789012:role/sp','assume_role_session_name':'a b',"
               "'flows':[{" MIN_FLOW "}]}",
               "assume_role_session_name: role session name 'a b' must be 2 to 64 characters", NULL);
    expect_err("{'assume_role_arn':'arn:aws:iam::123456789012:role/sp','assume_role_session_name':'x',"
               "'flows':[{" MIN_FLOW "}]}", "assume_role_session_name: role session name 'x' must be", NULL);
    expect_err("{'assume_role_arn':'arn:aws:iam::123456789012:role/sp','assume_role_external_id':'no spaces',"
               "'flows':[{" MIN_FLOW "}]}", "assume_role_external_id: the external ID must be", NULL);
    expect_err("{'assume_role_arn':'arn:aws:iam::123456789012:role/sp','sts_endpoint':'https://sts/x?y',"
               "'flows':[{" MIN_FLOW "}]}", "sts_endpoint: endpoint URL", "must not have a path or query");
    /* the agent's names are not the shardpipe dialect's */
    expect_err("{'assume_role_arn':'arn:aws:iam::123456789012:role/sp','assumeRoleExternalId':'abc',"
               "'flows':[{" MIN_FLOW "}]}", "assume_role_arn: unknown key (the file is read as a Kinesis Agent "
               "agent.json because of assumeRoleExternalId", NULL);
}
END_TEST

START_TEST(log_file_key)
{
    run r;
    OK(&r, "{'log_file':'/tmp/shardpipe.log','flows':[{" MIN_FLOW "}]}");
    ck_assert_str_eq(r.c.log_file, "/tmp/shardpipe.log");
    done(&r);
    OK(&r, ONE_FLOW(""));
    ck_assert_ptr_null(r.c.log_file);
    done(&r);
    expect_err("{'log_file':'shardpipe.log','flows':[{" MIN_FLOW "}]}",
               "test.json: log_file: must be an absolute path, not 'shardpipe.log'", NULL);
    expect_err("{'log_file':'/no/such/dir/sp.log','flows':[{" MIN_FLOW "}]}",
               "log_file: no such directory /no/such/dir", NULL);
    expect_err("{'log_file':'/tmp/','flows':[{" MIN_FLOW "}]}", "log_file: must name a file", NULL);
    expect_err("{'log_file':3,'flows':[{" MIN_FLOW "}]}", "log_file", NULL);
}
END_TEST

START_TEST(full_shardpipe_config)
{
    run r;
    OK(&r, "{'region':'eu-west-1','endpoint':'http://127.0.0.1:4567','profile':'prod',"
           "'checkpoint_file':'/var/lib/sp/ck','memory_budget':'128MiB','log_level':'debug',"
           "'shutdown_timeout_ms':1500,'file_poll_ms':250,'partial_line_flush_ms':900,"
           "'metrics_listen':'[::1]:9100','health_stall_ms':5000,'stats_interval_ms':0,"
           "'flows':["
           " {'name':'web','stream':'web-logs','sources':[{'type':'file','path':'/var/log/*.log'},"
           "   {'type':'tcp','bind':'0.0.0.0','port':5170,'max_line':'64KiB','max_clients':8}],"
           "  'key':'field:user.id','linger_ms':0,'batch_records':100,'batch_bytes':'1MiB',"
           "  'oversize':'truncate','truncated_terminator':'[cut]','multiline_start':'^[0-9]{4}-',"
           "  'skip_header_lines':3,'start':'beginning','shard_rate':'80%','ordered':true},"
           " {'name':'net','stream':'net','sources':[{'type':'udp','bind':'::1','port':5171,'lines':true},"
           "   {'type':'unix','path':'/tmp/sp-test.sock','max_line':2048,'max_clients':2},{'type':'stdin'}],"
           "  'key':'regex:^([a-z]+)','oversize':'drop','shard_rate':250}]}");
    const sp_config *c = &r.c;
    ck_assert_str_eq(c->region, "eu-west-1");
    ck_assert_str_eq(c->endpoint, "http://127.0.0.1:4567");
    ck_assert_str_eq(c->profile, "prod");
    ck_assert_ptr_null(c->access_key_id);
    ck_assert_ptr_null(c->secret_access_key);
    ck_assert_str_eq(c->checkpoint_file, "/var/lib/sp/ck");
    ck_assert_uint_eq(c->memory_budget, (size_t)128 << 20);
    ck_assert_int_eq(c->log_level, SP_LOG_DEBUG);
    ck_assert_uint_eq(c->shutdown_timeout_ms, 1500);
    ck_assert_uint_eq(c->file_poll_ms, 250);
    ck_assert_uint_eq(c->partial_line_flush_ms, 900);
    ck_assert_str_eq(c->metrics_listen, "[::1]:9100");
    ck_assert_uint_eq(c->health_stall_ms, 5000);
    ck_assert_uint_eq(c->stats_interval_ms, 0);
    ck_assert_int_eq(c->agent_json, 0);
    ck_assert_uint_eq(c->nflows, 2);

    const sp_flow_cfg *f = &c->flows[0];
    ck_assert_str_eq(f->name, "web");
    ck_assert_str_eq(f->stream, "web-logs");
    ck_assert_str_eq(f->key, "field:user.id");
    ck_assert_uint_eq(f->linger_ms, 0);
    ck_assert_uint_eq(f->batch_records, 100);
    ck_assert_uint_eq(f->batch_bytes, (size_t)1 << 20);
    ck_assert_int_eq(f->oversize, SP_OVERSIZE_TRUNCATE);
    ck_assert_str_eq(f->truncated_terminator, "[cut]");
    ck_assert_str_eq(f->multiline_start, "^[0-9]{4}-");
    ck_assert_uint_eq(f->skip_header_lines, 3);
    ck_assert_int_eq(f->start, SP_START_BEGINNING);
    ck_assert_double_eq_tol(f->shard_rate, 0.8, 1e-9);
    ck_assert_int_eq(f->ordered, 1);
    ck_assert_uint_eq(f->nsources, 2);
    ck_assert_int_eq(f->sources[0].kind, SP_SRC_FILE);
    ck_assert_str_eq(f->sources[0].path, "/var/log/*.log");
    ck_assert_ptr_null(f->sources[0].bind);
    ck_assert_int_eq(f->sources[1].kind, SP_SRC_TCP);
    ck_assert_str_eq(f->sources[1].bind, "0.0.0.0");
    ck_assert_int_eq(f->sources[1].port, 5170);
    ck_assert_uint_eq(f->sources[1].max_line, 65536);
    ck_assert_uint_eq(f->sources[1].max_clients, 8);

    f = &c->flows[1];
    ck_assert_str_eq(f->name, "net");
    ck_assert_str_eq(f->key, "regex:^([a-z]+)");
    ck_assert_int_eq(f->oversize, SP_OVERSIZE_DROP);
    ck_assert_double_eq_tol(f->shard_rate, 2.5, 1e-9);
    ck_assert_ptr_null(f->truncated_terminator);
    ck_assert_ptr_null(f->multiline_start);
    ck_assert_uint_eq(f->nsources, 3);
    ck_assert_int_eq(f->sources[0].kind, SP_SRC_UDP);
    ck_assert_str_eq(f->sources[0].bind, "::1");
    ck_assert_int_eq(f->sources[0].port, 5171);
    ck_assert_int_eq(f->sources[0].udp_lines, 1);
    ck_assert_int_eq(f->sources[1].kind, SP_SRC_UNIX);
    ck_assert_str_eq(f->sources[1].path, "/tmp/sp-test.sock");
    ck_assert_uint_eq(f->sources[1].max_line, 2048);
    ck_assert_uint_eq(f->sources[1].max_clients, 2);
    ck_assert_int_eq(f->sources[2].kind, SP_SRC_STDIN);
    ck_assert_uint_eq(r.loglen, 0);       /* nothing to warn about */
    done(&r);
}
END_TEST

START_TEST(defaults)
{
    run r;
    OK(&r, SOURCES("{'type':'stdin'},{'type':'tcp','port':1},{'type':'udp','port':2},"
                   "{'type':'unix','path':'/tmp/x.sock'}"));
    const sp_config *c = &r.c;
    ck_assert_ptr_null(c->region);
    ck_assert_ptr_null(c->endpoint);
    ck_assert_ptr_null(c->profile);
    ck_assert_str_eq(c->checkpoint_file, "/var/lib/shardpipe/checkpoints");
    ck_assert_uint_eq(c->memory_budget, (size_t)1 << 20);
    ck_assert_int_eq(c->log_level, SP_LOG_INFO);
    ck_assert_uint_eq(c->shutdown_timeout_ms, 30000);
    ck_assert_uint_eq(c->file_poll_ms, 1000);
    ck_assert_uint_eq(c->partial_line_flush_ms, 5000);
    ck_assert_ptr_null(c->metrics_listen);
    ck_assert_uint_eq(c->health_stall_ms, 60000);
    ck_assert_uint_eq(c->stats_interval_ms, 30000);
    const sp_flow_cfg *f = &c->flows[0];
    ck_assert_str_eq(f->name, "flows[0]");
    ck_assert_str_eq(f->key, "random");
    ck_assert_uint_eq(f->linger_ms, 200);
    ck_assert_uint_eq(f->batch_records, 500);
    ck_assert_uint_eq(f->batch_bytes, (size_t)5 << 20);
    ck_assert_int_eq(f->oversize, SP_OVERSIZE_SPLIT);
    ck_assert_ptr_null(f->truncated_terminator);
    ck_assert_ptr_null(f->multiline_start);
    ck_assert_uint_eq(f->skip_header_lines, 0);
    ck_assert_int_eq(f->start, SP_START_END);
    ck_assert_double_eq_tol(f->shard_rate, 1.0, 1e-9);
    ck_assert_int_eq(f->ordered, 0);
    ck_assert_str_eq(f->sources[1].bind, "127.0.0.1");
    ck_assert_uint_eq(f->sources[1].max_line, 0);
    ck_assert_uint_eq(f->sources[1].max_clients, 64);
    ck_assert_str_eq(f->sources[2].bind, "127.0.0.1");
    ck_assert_int_eq(f->sources[2].udp_lines, 0);
    ck_assert_uint_eq(f->sources[3].max_clients, 64);
    done(&r);

    /* the second flow's default name counts from zero too */
    OK(&r, "{'flows':[{" MIN_FLOW "},{'stream':'t','sources':[{'type':'tcp','port':9}]}]}");
    ck_assert_str_eq(r.c.flows[1].name, "flows[1]");
    done(&r);
    /* freeing twice, or a zeroed config, is harmless */
    sp_config_free(&r.c);
    sp_config_free(NULL);
}
END_TEST

START_TEST(sizes)
{
    static const struct {
        const char *v;
        size_t want;
    } ok[] = {
        {"'64MiB'", (size_t)64 << 20}, {"'64M'", (size_t)64 << 20}, {"'1G'", (size_t)1 << 30},
        {"'2GiB'", (size_t)2 << 30},   {"1048576", 1048576},        {"'4096K'", (size_t)4 << 20},
        {"'1048576'", 1048576},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char json[256];
        run r;
        snprintf(json, sizeof json, "{'memory_budget':%s,'flows':[{" MIN_FLOW "}]}", ok[i].v);
        OK(&r, json);
        ck_assert_uint_eq(r.c.memory_budget, ok[i].want);
        done(&r);
    }
    run r;
    OK(&r, ONE_FLOW(",'batch_bytes':'10MiB'"));
    ck_assert_uint_eq(r.c.flows[0].batch_bytes, (size_t)10 << 20);
    done(&r);
    OK(&r, ONE_FLOW(",'batch_bytes':1"));
    ck_assert_uint_eq(r.c.flows[0].batch_bytes, 1);
    done(&r);
    OK(&r, ONE_FLOW(",'batch_bytes':'512k'"));
    ck_assert_uint_eq(r.c.flows[0].batch_bytes, 512 * 1024);
    done(&r);

    expect_err(ONE_FLOW(",'batch_bytes':'11MiB'"), "flows[0].batch_bytes: must be a size from 1 to 10MiB", "'11MiB'");
    expect_err(ONE_FLOW(",'batch_bytes':0"), "flows[0].batch_bytes: must be a size from 1 to 10MiB", NULL);
    expect_err(ONE_FLOW(",'batch_bytes':-5"), "flows[0].batch_bytes: must be a size", "-5");
    expect_err(ONE_FLOW(",'batch_bytes':'5 MiB'"), "flows[0].batch_bytes: must be a size", NULL);
    expect_err(ONE_FLOW(",'batch_bytes':'5XB'"), "flows[0].batch_bytes: must be a size", NULL);
    expect_err(ONE_FLOW(",'batch_bytes':1.5"), "flows[0].batch_bytes: must be a size", "not a number");
    expect_err(ONE_FLOW(",'batch_bytes':true"), "flows[0].batch_bytes", "not a boolean");
    expect_err("{'memory_budget':'1000K','flows':[{" MIN_FLOW "}]}", "memory_budget: must be a size from 1MiB to 1024GiB", NULL);
    expect_err("{'memory_budget':99999999999999999999,'flows':[{" MIN_FLOW "}]}", "memory_budget: must be a size", NULL);
    expect_err(SOURCES("{'type':'tcp','port':1,'max_line':'11M'}"), "flows[0].sources[0].max_line: must be a size from 1 to 10MiB", NULL);
}
END_TEST

START_TEST(types_and_ranges)
{
    expect_err("{'region':5,'flows':[{" MIN_FLOW "}]}", "test.json: region: must be a string, not a number", NULL);
    expect_err("{'region':'US_EAST','flows':[{" MIN_FLOW "}]}", "region: 'US_EAST' is not a region name", NULL);
    expect_err("{'profile':'a]b','flows':[{" MIN_FLOW "}]}", "profile: 'a]b' is not a profile name", NULL);
    expect_err("{'checkpoint_file':'ck','flows':[{" MIN_FLOW "}]}", "checkpoint_file: must be an absolute path", NULL);
    expect_err("{'checkpoint_file':'','flows':[{" MIN_FLOW "}]}", "checkpoint_file: must not be empty", NULL);
    expect_err("{'log_level':'verbose','flows':[{" MIN_FLOW "}]}", "log_level: 'verbose' is not error, warn, info or debug", NULL);
    expect_err("{'shutdown_timeout_ms':3600001,'flows':[{" MIN_FLOW "}]}", "shutdown_timeout_ms: must be 0 to 3600000, not 3600001", NULL);
    expect_err("{'file_poll_ms':5,'flows':[{" MIN_FLOW "}]}", "file_poll_ms: must be 10 to 3600000, not 5", NULL);
    expect_err("{'metrics_listen':'::1:9100','flows':[{" MIN_FLOW "}]}", "metrics_listen: \"::1:9100\": put an IPv6 address in brackets", NULL);
    expect_err("{'metrics_listen':'127.0.0.1:65536','flows':[{" MIN_FLOW "}]}", "metrics_listen: \"127.0.0.1:65536\" is not ADDR:PORT", NULL);
    expect_err("{'metrics_listen':':9100','flows':[{" MIN_FLOW "}]}", "metrics_listen: \":9100\" has no address", NULL);
    expect_err("{'health_stall_ms':10,'flows':[{" MIN_FLOW "}]}", "health_stall_ms: must be 1000 to 3600000", NULL);
    expect_err("{'partial_line_flush_ms':0,'flows':[{" MIN_FLOW "}]}", "partial_line_flush_ms: must be 1 to 3600000", NULL);
    expect_err("{'endpoint':'localhost:4567','flows':[{" MIN_FLOW "}]}", "endpoint: endpoint URL 'localhost:4567' must start with http:// or https://", NULL);
    expect_err("{'endpoint':'https://h/x','flows':[{" MIN_FLOW "}]}", "endpoint: endpoint URL", "must not have a path");
    expect_err("{'flows':{}}", "flows: must be an array of flows, not an object", NULL);
    expect_err("{'flows':[]}", "flows: must hold 1 to 1024 flows, not 0", NULL);
    expect_err("{'flows':[5]}", "flows[0]: must be an object, not a number", NULL);
    expect_err(ONE_FLOW(",'linger_ms':'200'"), "flows[0].linger_ms: must be a number, not a string", NULL);
    expect_err(ONE_FLOW(",'linger_ms':1.5"), "flows[0].linger_ms: must be a whole number from 0 to 3600000", NULL);
    expect_err(ONE_FLOW(",'linger_ms':-1"), "flows[0].linger_ms: must be 0 to 3600000, not -1", NULL);
    expect_err(ONE_FLOW(",'linger_ms':3600001"), "flows[0].linger_ms: must be 0 to 3600000, not 3600001", NULL);
    expect_err(ONE_FLOW(",'linger_ms':null"), "flows[0].linger_ms: must be a number, not null", NULL);
    expect_err(ONE_FLOW(",'batch_records':0"), "flows[0].batch_records: must be 1 to 500, not 0", NULL);
    expect_err(ONE_FLOW(",'batch_records':501"), "flows[0].batch_records: must be 1 to 500, not 501", NULL);
    expect_err(ONE_FLOW(",'ordered':'yes'"), "flows[0].ordered: must be true or false, not a string", NULL);
    expect_err(ONE_FLOW(",'oversize':'cut'"), "flows[0].oversize: 'cut' is not split, truncate or drop", NULL);
    expect_err(ONE_FLOW(",'start':'middle'"), "flows[0].start: 'middle' is not end or beginning", NULL);
    expect_err(ONE_FLOW(",'skip_header_lines':1000001"), "flows[0].skip_header_lines: must be 0 to 1000000", NULL);
    expect_err(ONE_FLOW(",'shard_rate':'0%'"), "flows[0].shard_rate: must be 1% to 1000% of each shard's write limit, not '0%'", NULL);
    expect_err(ONE_FLOW(",'shard_rate':'1001%'"), "flows[0].shard_rate: must be 1% to 1000%", NULL);
    expect_err(ONE_FLOW(",'shard_rate':1001"), "flows[0].shard_rate: must be 1% to 1000%", "1001");
    expect_err(ONE_FLOW(",'shard_rate':'fast'"), "flows[0].shard_rate", NULL);
    expect_err(ONE_FLOW(",'shard_rate':0.5"), "flows[0].shard_rate: must be a percentage", NULL);
    expect_err(ONE_FLOW(",'name':'has space'"), "flows[0].name: 'has space' is not a flow name", NULL);
    expect_err(ONE_FLOW(",'name':''"), "flows[0].name: must not be empty", NULL);
    expect_err(ONE_FLOW(",'truncated_terminator':''"), "flows[0].truncated_terminator: must not be empty", NULL);
    expect_err("{'flows':[{'stream':'bad name!','sources':[{'type':'stdin'}]}]}", "flows[0].stream: stream name 'bad name!' has a character", NULL);
    expect_err("{'flows':[{'stream':'','sources':[{'type':'stdin'}]}]}", "flows[0].stream: must not be empty", NULL);
    expect_err(SOURCES("{'type':'tcp','port':0}"), "flows[0].sources[0].port: must be 1 to 65535, not 0", NULL);
    expect_err(SOURCES("{'type':'udp','port':65536}"), "flows[0].sources[0].port: must be 1 to 65535, not 65536", NULL);
    expect_err(SOURCES("{'type':'tcp','port':1,'max_clients':0}"), "flows[0].sources[0].max_clients: must be 1 to 10000", NULL);
    expect_err(SOURCES("{'type':'udp','port':1,'lines':1}"), "flows[0].sources[0].lines: must be true or false", NULL);
    expect_err(SOURCES("{'type':'tcp','port':1,'bind':'not a host'}"), "flows[0].sources[0].bind: 'not a host' is not a numeric IP address", NULL);
    expect_err(SOURCES("{'type':'tcp','port':1,'bind':'localhost'}"), "flows[0].sources[0].bind: 'localhost' is not a numeric IP address", NULL);
    expect_err(SOURCES("{'type':'pipe'}"), "flows[0].sources[0].type: 'pipe' is not a source type", NULL);
    expect_err(SOURCES("{'type':7}"), "flows[0].sources[0].type: must be a string", NULL);
    expect_err(SOURCES("'stdin'"), "flows[0].sources[0]: must be an object, not a string", NULL);
    expect_err("{'flows':[{'stream':'s','sources':{}}]}", "flows[0].sources: must be an array of sources", NULL);
    expect_err("{'flows':[{'stream':'s','sources':[]}]}", "flows[0].sources: must hold 1 to 256 sources, not 0", NULL);

    run r;
    OK(&r, SOURCES("{'type':'tcp','port':1,'bind':'[::1]'},{'type':'tcp','port':65535}"));
    ck_assert_str_eq(r.c.flows[0].sources[0].bind, "[::1]");
    ck_assert_int_eq(r.c.flows[0].sources[1].port, 65535);
    done(&r);
    OK(&r, ONE_FLOW(",'shard_rate':'1%'"));
    ck_assert_double_eq_tol(r.c.flows[0].shard_rate, 0.01, 1e-9);
    done(&r);
    OK(&r, ONE_FLOW(",'shard_rate':'1000'"));
    ck_assert_double_eq_tol(r.c.flows[0].shard_rate, 10.0, 1e-9);
    done(&r);
}
END_TEST

START_TEST(unknown_and_missing_keys)
{
    expect_err("{'regoin':'x','flows':[{" MIN_FLOW "}]}", "test.json: regoin: unknown key", NULL);
    expect_err(ONE_FLOW(",'lnger_ms':5"), "flows[0].lnger_ms: unknown key", NULL);
    expect_err("{'flows':[{" MIN_FLOW "},{" MIN_FLOW ",'batch':1}]}", "flows[1].batch: unknown key", NULL);
    expect_err(SOURCES("{'type':'file','path':'/var/log/*.log','port':5}"),
               "flows[0].sources[0].port: is not a key of a file source", NULL);
    expect_err(SOURCES("{'type':'stdin','path':'/x'}"), "flows[0].sources[0].path: is not a key of a stdin source", NULL);
    expect_err(SOURCES("{'type':'tcp','port':5,'lines':true}"), "flows[0].sources[0].lines: is not a key of a tcp source", NULL);
    expect_err(SOURCES("{'type':'udp','port':5,'max_line':100}"), "flows[0].sources[0].max_line: is not a key of a udp source", NULL);
    expect_err(SOURCES("{'type':'stdin'},{'type':'tcp','port':5,'colour':1}"), "flows[0].sources[1].colour: unknown key", NULL);
    expect_err("{'access_key_id':'AKID','flows':[{" MIN_FLOW "}]}", "access_key_id: credentials are not read", NULL);
    expect_err("{'secret_access_key':'x','flows':[{" MIN_FLOW "}]}", "secret_access_key: credentials are not read", NULL);

    expect_err("{}", "test.json: flows: missing", NULL);
    expect_err("{'region':'us-east-1'}", "flows: missing: at least one flow", NULL);
    expect_err("{'flows':[{'sources':[{'type':'stdin'}]}]}", "flows[0].stream: missing", NULL);
    expect_err("{'flows':[{'stream':'s'}]}", "flows[0].sources: missing", NULL);
    expect_err(SOURCES("{'path':'/x'}"), "flows[0].sources[0].type: missing: file, tcp, udp, unix or stdin", NULL);
    expect_err(SOURCES("{'type':'file'}"), "flows[0].sources[0].path: missing: a file source needs a file glob", NULL);
    expect_err(SOURCES("{'type':'unix'}"), "flows[0].sources[0].path: missing: a unix source needs a socket path", NULL);
    expect_err(SOURCES("{'type':'tcp'}"), "flows[0].sources[0].port: missing", NULL);
    expect_err(SOURCES("{'type':'udp','bind':'::'}"), "flows[0].sources[0].port: missing", NULL);
}
END_TEST

START_TEST(key_and_multiline)
{
    static const char *const good[] = {"random", "hash", "balanced", "fixed:tenant-1", "field:a.b.c", "regex:id=([0-9]+)"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char json[256];
        run r;
        snprintf(json, sizeof json, ONE_FLOW(",'key':'%s'"), good[i]);
        OK(&r, json);
        ck_assert_str_eq(r.c.flows[0].key, good[i]);
        done(&r);
    }
    expect_err(ONE_FLOW(",'key':'bogus'"), "flows[0].key: unknown partition key strategy 'bogus'", NULL);
    expect_err(ONE_FLOW(",'key':'regex:('"), "flows[0].key:", NULL);
    expect_err(ONE_FLOW(",'key':'fixed:'"), "flows[0].key:", NULL);

    run r;
    OK(&r, FILE_FLOW(",'multiline_start':'^(INFO|WARN|ERROR) [[:alpha:]]+\\\\s'"));
    ck_assert_str_eq(r.c.flows[0].multiline_start, "^(INFO|WARN|ERROR) [[:alpha:]]+\\s");
    done(&r);
    OK(&r, FILE_FLOW(",'multiline_start':'^[\\\\d]'"));   /* in brackets a backslash is literal */
    done(&r);
    expect_err(FILE_FLOW(",'multiline_start':'^\\\\d{4}-'"), "flows[0].multiline_start: \\d is not an escape of POSIX extended regular expressions (use [0-9])", NULL);
    expect_err(FILE_FLOW(",'multiline_start':'^(a'"), "flows[0].multiline_start: '^(a' is not a valid extended regular expression", NULL);
    expect_err(FILE_FLOW(",'multiline_start':'a{2,1}'"), "flows[0].multiline_start:", "not a valid extended regular expression");
    expect_err(FILE_FLOW(",'multiline_start':''"), "flows[0].multiline_start: must not be empty", NULL);
    expect_err(ONE_FLOW(",'multiline_start':'^x'"), "flows[0].multiline_start: applies only to file sources", NULL);
}
END_TEST

/* The directory part of a file glob must exist; the message names the
 * flow, the source and the directory that is missing. */
START_TEST(file_globs)
{
    expect_err("{'flows':[{" MIN_FLOW "},{'stream':'t','sources':[{'type':'tcp','port':9}]},"
               "{'stream':'u','sources':[{'type':'file','path':'/var/log/ap/*.log'}]}]}",
               "test.json: flows[2].sources[0].path: no such directory /var/log/ap", NULL);
    expect_err(SOURCES("{'type':'file','path':'/var/log/ap/app.log'}"), "flows[0].sources[0].path: no such directory /var/log/ap", NULL);
    expect_err(SOURCES("{'type':'file','path':'/nonexistent-sp/a*/x.log'}"), "no such directory /nonexistent-sp", NULL);
    expect_err(SOURCES("{'type':'file','path':'/etc/passwd/x.log'}"), "flows[0].sources[0].path: /etc/passwd is not a directory", NULL);
    expect_err(SOURCES("{'type':'file','path':'logs/*.log'}"), "flows[0].sources[0].path: must be an absolute path", NULL);
    expect_err(SOURCES("{'type':'file','path':'/var/log/'}"), "flows[0].sources[0].path: '/var/log/' names a directory", NULL);

    run r;
    /* a wildcard in the directory: only the part before it must exist */
    OK(&r, SOURCES("{'type':'file','path':'/var/log/no-such-*/x.log'},{'type':'file','path':'/var/*/*.log'},"
                   "{'type':'file','path':'/var/log/[ab].log'},{'type':'file','path':'/*.log'}"));
    ck_assert_uint_eq(r.c.flows[0].nsources, 4);
    done(&r);
    /* glob(3) has no {a,b}: such a pattern would match nothing */
    expect_err(SOURCES("{'type':'file','path':'/var/log/{a,b}.log'}"),
               "flows[0].sources[0].path: '/var/log/{a,b}.log': {a,b} alternatives are not supported", "one source per");
}
END_TEST

START_TEST(unix_paths)
{
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    char json[512];
    snprintf(json, sizeof json, SOURCES("{'type':'unix','path':'%s'}"), longp);
    expect_err(json, "flows[0].sources[0].path: is 199 bytes long; a unix socket path must be shorter than 108", NULL);
    expect_err(SOURCES("{'type':'unix','path':'/nonexistent-sp/s.sock'}"), "flows[0].sources[0].path: no such directory /nonexistent-sp", NULL);
    expect_err(SOURCES("{'type':'unix','path':'s.sock'}"), "flows[0].sources[0].path: must be an absolute path", NULL);
    expect_err(SOURCES("{'type':'unix','path':'/tmp/'}"), "flows[0].sources[0].path: '/tmp/' names a directory", NULL);
}
END_TEST

START_TEST(cross_flow_checks)
{
    expect_err("{'flows':[{'name':'a'," MIN_FLOW "},{'name':'a','stream':'t','sources':[{'type':'tcp','port':9}]}]}",
               "flows[1].name: 'a' is already the name of flows[0]", NULL);
    expect_err("{'flows':[{" MIN_FLOW "},{'stream':'t','sources':[{'type':'stdin'}]}]}",
               "flows[1].sources[0]: standard input is read by flows[0].sources[0] already", NULL);
    expect_err(SOURCES("{'type':'stdin'},{'type':'stdin'}"), "flows[0].sources[1]: standard input is read by flows[0].sources[0]", NULL);
    expect_err("{'flows':[{'stream':'s','sources':[{'type':'tcp','port':5170}]},"
               "{'stream':'t','sources':[{'type':'tcp','port':5170}]}]}",
               "flows[1].sources[0]: tcp port 5170 on 127.0.0.1 is also used by flows[0].sources[0]", NULL);
    expect_err(SOURCES("{'type':'udp','port':53,'bind':'0.0.0.0'},{'type':'udp','port':53,'bind':'10.1.2.3'}"),
               "flows[0].sources[1]: udp port 53 on 10.1.2.3 is also used by flows[0].sources[0]", NULL);
    expect_err(SOURCES("{'type':'unix','path':'/tmp/a.sock'},{'type':'unix','path':'/tmp/a.sock'}"),
               "flows[0].sources[1]: socket /tmp/a.sock is also the socket of flows[0].sources[0]", NULL);
    /* options that could not take effect */
    expect_err(ONE_FLOW(",'truncated_terminator':'~'"), "flows[0].truncated_terminator: applies only with \"oversize\": \"truncate\"", NULL);
    expect_err(ONE_FLOW(",'start':'beginning'"), "flows[0].start: applies only to file sources", NULL);
    expect_err(ONE_FLOW(",'skip_header_lines':1"), "flows[0].skip_header_lines: applies only to file sources", NULL);

    run r;
    /* tcp and udp may share a port; distinct addresses may too */
    OK(&r, SOURCES("{'type':'tcp','port':5170},{'type':'udp','port':5170},{'type':'tcp','port':5170,'bind':'127.0.0.2'}"));
    done(&r);
}
END_TEST

START_TEST(duplicate_keys)
{
    expect_err("{'region':'us-east-1','region':'eu-west-1','flows':[{" MIN_FLOW "}]}",
               "test.json: region: given twice in the same object", NULL);
    expect_err("{'flows':[{" MIN_FLOW "},{'stream':'t','sources':[{'type':'tcp','type':'udp','port':1}]}]}",
               "flows[1].sources[0].type: given twice", NULL);
    expect_err("{'flows':[{" MIN_FLOW ",'linger_ms':1, /* again */ 'linger_ms':2}]}", "flows[0].linger_ms: given twice", NULL);
    run r;
    /* equal keys in different objects, or as values, are fine */
    OK(&r, "{'flows':[{'name':'stream','stream':'name','sources':[{'type':'stdin'}]},"
           "{'stream':'t','sources':[{'type':'tcp','port':1}]}]}");
    done(&r);
}
END_TEST

START_TEST(comments_and_syntax)
{
    run r;
    /* json-c reads C and C++ comments, also last in the file without a newline */
    parse(&r, "/* head */ {\n  // the stream\n  'flows': [ { 'stream': 's', /* inline */\n"
              "  'sources': [ { 'type': 'stdin' } ] } ] // tail\n} // end");
    ck_assert_msg(r.rc == SP_OK, "%s", r.err.msg);
    done(&r);
    parse(&r, "{'flows':[{" MIN_FLOW "}]} /* end */");
    ck_assert_int_eq(r.rc, SP_OK);
    done(&r);

    parse(&r, "{'flows':[{" MIN_FLOW "}]");
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "test.json:1:"));
    ck_assert_ptr_nonnull(strstr(r.err.msg, "ends inside an object"));
    done(&r);
    parse(&r, "{\n 'flows': tru\n}");
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_msg(strstr(r.err.msg, "test.json:2:") != NULL, "%s", r.err.msg);
    done(&r);
    parse(&r, "{'flows':[{" MIN_FLOW "}]}\n{}");
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_msg(strstr(r.err.msg, "test.json:2:1: text after the end") != NULL, "%s", r.err.msg);
    done(&r);
    parse(&r, "{'flows':[{" MIN_FLOW "}]} /* open");
    ck_assert_int_eq(r.rc, SP_ERR);
    done(&r);
    expect_err("[1, 2]", "test.json: must be a JSON object { ... }, not an array", NULL);
    expect_err("  // nothing\n", "test.json: is empty", NULL);
    expect_err("{'flows':[{'stream':'s','sources':[{'type':'std\\u0000in'}]}]}", "flows[0].sources[0].type: must not contain a NUL", NULL);
    parse_raw(&r, "{\"a\":\0}", 7);
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "NUL byte"));
    done(&r);
    const char *bad_utf8 = "{\"region\":\"\xff\"}";
    parse_raw(&r, bad_utf8, strlen(bad_utf8));
    ck_assert_int_eq(r.rc, SP_ERR);
    done(&r);
}
END_TEST

/* ---- the Kinesis Agent dialect ---- */

/* The packaged /etc/aws-kinesis/agent.json of the AWS docs, without its
 * Firehose flow. */
START_TEST(agent_canonical)
{
    run r;
    OK(&r, "{'cloudwatch.emitMetrics': true, 'kinesis.endpoint': '', 'firehose.endpoint': '',"
           " 'flows': [ { 'filePattern': '/tmp/app.log*', 'kinesisStream': 'yourkinesisstream',"
           " 'partitionKeyOption': 'RANDOM' } ] }");
    const sp_config *c = &r.c;
    ck_assert_int_eq(c->agent_json, 1);
    ck_assert_ptr_null(c->endpoint);
    ck_assert_ptr_null(c->region);
    ck_assert_ptr_null(c->access_key_id);
    ck_assert_str_eq(c->checkpoint_file, "/var/lib/shardpipe/checkpoints");
    ck_assert_uint_eq(c->nflows, 1);
    const sp_flow_cfg *f = &c->flows[0];
    ck_assert_str_eq(f->stream, "yourkinesisstream");
    ck_assert_str_eq(f->name, "kinesis:yourkinesisstream:/tmp/app.log*");
    ck_assert_str_eq(f->key, "random");
    ck_assert_uint_eq(f->nsources, 1);
    ck_assert_int_eq(f->sources[0].kind, SP_SRC_FILE);
    ck_assert_str_eq(f->sources[0].path, "/tmp/app.log*");
    ck_assert_int_eq(f->start, SP_START_END);
    ck_assert_int_eq(f->oversize, SP_OVERSIZE_TRUNCATE);
    ck_assert_str_eq(f->truncated_terminator, "\n");
    ck_assert_ptr_null(f->multiline_start);
    ck_assert_uint_eq(f->batch_records, 500);
    ck_assert_uint_eq(f->batch_bytes, (size_t)5 << 20);
    ck_assert_uint_eq(f->linger_ms, 200);
    ck_assert_uint_eq(f->skip_header_lines, 0);
    /* one warning, for the metrics; the empty endpoints are unset, as in the agent */
    ck_assert_ptr_nonnull(strstr(r.log, "test.json: accepted but ignored: cloudwatch.emitMetrics: shardpipe does not publish CloudWatch metrics"));
    ck_assert_ptr_null(strstr(r.log, "firehose.endpoint"));
    ck_assert_ptr_null(strstr(r.log, "kinesis.endpoint"));
    done(&r);

    /* emitMetrics false asks for what shardpipe does anyway: no warning */
    OK(&r, "{'cloudwatch.emitMetrics': false, 'flows': [ { 'filePattern': '/tmp/app.log*', 'kinesisStream': 's' } ] }");
    ck_assert_uint_eq(r.loglen, 0);
    done(&r);
    /* the minimal agent.json from the AWS docs */
    OK(&r, "{ 'flows': [ { 'filePattern': '/tmp/app.log*', 'kinesisStream': 'yourkinesisstream' } ] }");
    ck_assert_int_eq(r.c.agent_json, 1);
    ck_assert_str_eq(r.c.flows[0].key, "random");
    done(&r);
}
END_TEST

START_TEST(agent_full)
{
    run r;
    OK(&r, "{'awsAccessKeyId':'AKIDEXAMPLE','awsSecretAccessKey':'wJalrXUtnFEMI/K7MDENG',"
           "'kinesis.endpoint':'kinesis.us-west-2.amazonaws.com','kinesis.region':'us-west-2',"
           "'checkpointFile':'/tmp/aws-kinesis-agent-checkpoints/main.log','shutdownTimeoutMillis':15000,"
           "'cloudwatch.emitMetrics':'false',"
           "'flows':[{'filePattern':'/var/log/*.log','kinesisStream':'k1','partitionKeyOption':'DETERMINISTIC',"
           "'initialPosition':'START_OF_FILE','multiLineStartPattern':'\\\\[SEQUENCE=','skipHeaderLines':2,"
           "'truncatedRecordTerminator':'<TRUNC>','maxBufferAgeMillis':1000,'maxBufferSizeRecords':100,"
           "'maxBufferSizeBytes':1048576,'dataProcessingOptions':[]},"
           "{'filePattern':'/var/log/*.log','kinesisStream':'k2','initialPosition':'END_OF_FILE',"
           "'truncatedRecordTerminator':'','maxBufferAgeMillis':'60000','skipHeaderLines':'1'}]}");
    const sp_config *c = &r.c;
    ck_assert_int_eq(c->agent_json, 1);
    ck_assert_str_eq(c->access_key_id, "AKIDEXAMPLE");
    ck_assert_str_eq(c->secret_access_key, "wJalrXUtnFEMI/K7MDENG");
    ck_assert_str_eq(c->endpoint, "https://kinesis.us-west-2.amazonaws.com");
    ck_assert_str_eq(c->region, "us-west-2");
    /* beside the agent's own SQLite checkpoints, not over them */
    ck_assert_str_eq(c->checkpoint_file, "/tmp/aws-kinesis-agent-checkpoints/main.log.shardpipe");
    ck_assert_uint_eq(c->shutdown_timeout_ms, 15000);
    ck_assert_uint_eq(c->nflows, 2);
    const sp_flow_cfg *f = &c->flows[0];
    ck_assert_str_eq(f->name, "kinesis:k1:/var/log/*.log");
    ck_assert_str_eq(f->stream, "k1");
    ck_assert_str_eq(f->key, "hash");
    ck_assert_int_eq(f->start, SP_START_BEGINNING);
    ck_assert_str_eq(f->multiline_start, "^(\\[SEQUENCE=)");
    ck_assert_uint_eq(f->skip_header_lines, 2);
    ck_assert_str_eq(f->truncated_terminator, "<TRUNC>");
    ck_assert_int_eq(f->oversize, SP_OVERSIZE_TRUNCATE);
    ck_assert_uint_eq(f->linger_ms, 1000);
    ck_assert_uint_eq(f->batch_records, 100);
    ck_assert_uint_eq(f->batch_bytes, 1048576);
    f = &c->flows[1];
    ck_assert_str_eq(f->key, "random");
    ck_assert_int_eq(f->start, SP_START_END);
    ck_assert_ptr_null(f->truncated_terminator);      /* "" is none to the agent */
    ck_assert_uint_eq(f->linger_ms, 60000);           /* numbers as strings, as Java reads them */
    ck_assert_uint_eq(f->skip_header_lines, 1);
    ck_assert_uint_eq(r.loglen, 0);
    /* the secret is never in a message */
    ck_assert_ptr_null(strstr(r.log, "wJalr"));
    done(&r);

    /* the region comes from a regional endpoint, as the agent's SDK takes it */
    OK(&r, "{'kinesis.endpoint':'https://kinesis.eu-west-1.amazonaws.com','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_str_eq(r.c.region, "eu-west-1");
    done(&r);
    OK(&r, "{'kinesis.endpoint':'https://kinesis-fips.us-east-2.amazonaws.com','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_str_eq(r.c.region, "us-east-2");
    done(&r);
    OK(&r, "{'kinesis.endpoint':'http://localhost:4567','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_ptr_null(r.c.region);
    done(&r);
    OK(&r, "{'kinesis.region':'','awsAccessKeyId':'','awsSecretAccessKey':'','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_ptr_null(r.c.region);
    ck_assert_ptr_null(r.c.access_key_id);
    ck_assert_ptr_null(r.c.secret_access_key);
    done(&r);
}
END_TEST

/* Long agent flow ids are cut with a hash, and stay apart and stable. */
START_TEST(agent_long_names)
{
    char stream[129], json[1024];
    memset(stream, 's', 128);
    stream[128] = '\0';
    snprintf(json, sizeof json, "{'flows':[{'filePattern':'/tmp/app-one.log','kinesisStream':'%s'},"
             "{'filePattern':'/tmp/app-two.log','kinesisStream':'%s'}]}", stream, stream);
    run r, r2;
    OK(&r, json);
    OK(&r2, json);
    const char *a = r.c.flows[0].name, *b = r.c.flows[1].name;
    ck_assert_uint_eq(strlen(a), 127);
    ck_assert_uint_eq(strlen(b), 127);
    ck_assert_str_ne(a, b);
    ck_assert_mem_eq(a, "kinesis:sss", 11);
    ck_assert_int_eq(a[110], '~');
    ck_assert_str_eq(a, r2.c.flows[0].name);
    done(&r);
    done(&r2);
    snprintf(json, sizeof json, "{'flows':[{'filePattern':'/tmp/app-one.log','kinesisStream':'%s'},"
             "{'filePattern':'/tmp/app-one.log','kinesisStream':'%s'}]}", stream, stream);
    expect_err(json, "flows[1]: has the same kinesisStream and filePattern as flows[0]", NULL);
    expect_err(ONE_FLOW(",'name':'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
                        "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn'"),
               "flows[0].name: 'nnnn", "is not a flow name (1 to 127");
}
END_TEST

START_TEST(agent_refusals)
{
    /* the agent's packaged agent.json has a Firehose flow */
    expect_err("{'cloudwatch.emitMetrics': true, 'kinesis.endpoint': '', 'firehose.endpoint': '',"
               " 'flows': [ { 'filePattern': '/tmp/app.log*', 'kinesisStream': 'yourkinesisstream',"
               " 'partitionKeyOption': 'RANDOM' }, { 'filePattern': '/tmp/app.log*',"
               " 'deliveryStream': 'yourdeliverystream' } ] }",
               "test.json: flows[1]: is a Firehose flow (deliveryStream \"yourdeliverystream\")",
               "Kinesis Data Streams only");
    expect_err("{'flows':[{'filePattern':'/tmp/app.log*','kinesisStream':'s','dataProcessingOptions':"
               "[{'optionName':'CSVTOJSON','customFieldNames':['a','b'],'delimiter':'\\\\t'}]}]}",
               "flows[0].dataProcessingOptions: data processing (CSVTOJSON) is not supported", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','dataProcessingOptions':"
               "[{'optionName':'SINGLELINE'},{'optionName':'LOGTOJSON','logFormat':'COMMONAPACHELOG'}]}]}",
               "flows[0].dataProcessingOptions: data processing (SINGLELINE, ...) is not supported", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','dataProcessingOptions':{}}]}",
               "flows[0].dataProcessingOptions: must be an array", NULL);
    expect_err("{'userDefinedCredentialsProvider.classname':'com.x.P','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "userDefinedCredentialsProvider.classname: not supported", NULL);
    expect_err("{'userDefinedCredentialsProvider.location':'/x.jar','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "userDefinedCredentialsProvider.location: not supported", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','fileFooterPattern':'^END'}]}",
               "flows[0].fileFooterPattern: not supported", NULL);

    /* values and structure */
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','maxBufferSizeRecords':501}]}",
               "flows[0].maxBufferSizeRecords: must be 1 to 500, not 501", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','maxBufferSizeBytes':11534336}]}",
               "flows[0].maxBufferSizeBytes: must be 1 to 10485760", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','maxBufferAgeMillis':'soon'}]}",
               "flows[0].maxBufferAgeMillis: must be 0 to 3600000, not 'soon'", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','partitionKeyOption':'HASH'}]}",
               "flows[0].partitionKeyOption: 'HASH' is not RANDOM or DETERMINISTIC", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','initialPosition':'start_of_file'}]}",
               "flows[0].initialPosition: 'start_of_file' is not START_OF_FILE or END_OF_FILE", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'},{'filePattern':'/tmp/b','kinesisStream':'s'},"
               "{'filePattern':'/var/log/ap/app.log','kinesisStream':'s'}]}",
               "test.json: flows[2].filePattern: no such directory /var/log/ap", NULL);
    expect_err("{'flows':[{'filePattern':'app.log','kinesisStream':'s'}]}", "flows[0].filePattern: must be an absolute path", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/{app,web}.log','kinesisStream':'s'}]}",
               "flows[0].filePattern: '/tmp/{app,web}.log': {a,b} alternatives are not supported", "one flow per");
    expect_err("{'flows':[{'kinesisStream':'s'}]}", "flows[0].filePattern: missing", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a'}]}", "flows[0].kinesisStream: missing", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'bad stream'}]}", "flows[0].kinesisStream: stream name", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'},{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "flows[1]: has the same kinesisStream and filePattern as flows[0]", NULL);
    expect_err("{'awsAccessKeyId':'AKIDEXAMPLE','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "awsAccessKeyId: given without awsSecretAccessKey", NULL);
    expect_err("{'awsSecretAccessKey':'sekrit','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "awsSecretAccessKey: given without awsAccessKeyId", NULL);
    expect_err("{'awsAccessKeyId':'AK ID','awsSecretAccessKey':'x','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "awsAccessKeyId: is not an access key id", NULL);
    expect_err("{'kinesis.endpoint':'ftp://x','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "kinesis.endpoint: endpoint URL 'ftp://x' must start with http:// or https://", NULL);
    expect_err("{'kinesis.region':'Mars','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "kinesis.region: 'Mars' is not a region name", NULL);
    expect_err("{'checkpointFile':'ck','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "checkpointFile: must be an absolute path", NULL);
    expect_err("{'cloudwatch.emitMetrics':'maybe','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "cloudwatch.emitMetrics: must be true or false", NULL);
    expect_err("{'cloudwatch.emitMetrics':true}", "flows: missing", NULL);

    /* the dialects do not mix, and the message says why the file is an agent.json */
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','linger_ms':5}]}",
               "flows[0].linger_ms: unknown key (the file is read as a Kinesis Agent agent.json because of flows[0].filePattern", NULL);
    expect_err("{'region':'us-east-1','kinesis.region':'us-east-1','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "region: unknown key (the file is read as a Kinesis Agent agent.json because of kinesis.region", NULL);
    expect_err("{'flows':[{'stream':'s','sources':[{'type':'stdin'}]},{'deliveryStream':'d','filePattern':'/tmp/a'}]}",
               "flows[0].stream: unknown key (the file is read as a Kinesis Agent agent.json because of flows[1].filePattern", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','someFutureOption':1}]}",
               "flows[0].someFutureOption: unknown key", NULL);
    expect_err("{'someFutureOption':1,'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "test.json: someFutureOption: unknown key (the file is read as a Kinesis Agent", NULL);
}
END_TEST

/* assumeRoleARN, assumeRoleExternalId and sts.endpoint are translated;
 * "" means unset, as to the agent; the others only warn without a role. */
START_TEST(agent_assume_role)
{
    run r;
    OK(&r, "{'assumeRoleARN':'arn:aws:iam::123456789012:role/agent','assumeRoleExternalId':'ext-id_1',"
           "'sts.endpoint':'sts.eu-west-1.amazonaws.com','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_int_eq(r.c.agent_json, 1);
    ck_assert_str_eq(r.c.role_arn, "arn:aws:iam::123456789012:role/agent");
    ck_assert_str_eq(r.c.external_id, "ext-id_1");
    ck_assert_str_eq(r.c.sts_endpoint, "https://sts.eu-west-1.amazonaws.com");
    ck_assert_ptr_null(r.c.role_session_name);
    ck_assert_uint_eq(r.loglen, 0);
    done(&r);
    /* the role alone decides the dialect */
    OK(&r, "{'assumeRoleARN':'arn:aws-cn:iam::123456789012:role/path/to/agent',"
           "'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_int_eq(r.c.agent_json, 1);
    ck_assert_str_eq(r.c.role_arn, "arn:aws-cn:iam::123456789012:role/path/to/agent");
    ck_assert_ptr_null(r.c.external_id);
    ck_assert_ptr_null(r.c.sts_endpoint);
    done(&r);
    OK(&r, "{'assumeRoleARN':'','assumeRoleExternalId':'','sts.endpoint':'','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_ptr_null(r.c.role_arn);
    ck_assert_ptr_null(r.c.external_id);
    ck_assert_ptr_null(r.c.sts_endpoint);
    ck_assert_uint_eq(r.loglen, 0);
    done(&r);
    /* without a role the agent ignores these: a warning, not an error */
    OK(&r, "{'assumeRoleExternalId':'abc','sts.endpoint':'https://sts.us-east-1.amazonaws.com',"
           "'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_ptr_nonnull(strstr(r.log, "accepted but ignored: assumeRoleExternalId: only used with assumeRoleARN"));
    ck_assert_ptr_nonnull(strstr(r.log, "accepted but ignored: sts.endpoint: only used with assumeRoleARN"));
    ck_assert_ptr_null(strstr(r.log, "abc"));   /* the external ID is never shown */
    done(&r);

    expect_err("{'assumeRoleARN':'arn:aws:iam::123456789012:user/agent','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "test.json: assumeRoleARN: role ARN 'arn:aws:iam::123456789012:user/agent' is not an IAM role ARN",
               "arn:aws:iam::123456789012:role/NAME");
    expect_err("{'assumeRoleARN':'role/agent','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "assumeRoleARN: role ARN 'role/agent' is not an IAM role ARN", NULL);
    expect_err("{'assumeRoleARN':'arn:aws:iam::12345678901:role/agent','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "assumeRoleARN: role ARN", "is not an IAM role ARN");
    expect_err("{'assumeRoleARN':'arn:aws:iam::123456789012:role/','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "assumeRoleARN: role ARN", "is not an IAM role ARN");
    expect_err("{'assumeRoleARN':'arn:aws:iam::123456789012:role/a b','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "assumeRoleARN: role ARN", "is not an IAM role ARN");
    expect_err("{'assumeRoleARN':7,'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "assumeRoleARN: must be a string", NULL);
    run e;
    parse(&e, "{'assumeRoleARN':'arn:aws:iam::123456789012:role/a','assumeRoleExternalId':'sekrit id',"
              "'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}");
    ck_assert_int_eq(e.rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(e.err.msg, "test.json: assumeRoleExternalId: the external ID must be 2 to 1224 characters"));
    ck_assert_ptr_null(strstr(e.err.msg, "sekrit"));
    done(&e);
    expect_err("{'assumeRoleARN':'arn:aws:iam::123456789012:role/a','assumeRoleExternalId':'x',"
               "'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "assumeRoleExternalId: the external ID must be 2 to 1224", NULL);
    expect_err("{'assumeRoleARN':'arn:aws:iam::123456789012:role/a','sts.endpoint':'ftp://sts',"
               "'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "sts.endpoint: endpoint URL 'ftp://sts' must start with http:// or https://", NULL);
}
END_TEST

/* Every key accepted with a warning warns once, naming itself. */
START_TEST(agent_warnings)
{
    static const char *const top[] = {
        "cloudwatch.endpoint", "cloudwatch.tagInstance", "cloudwatch.metricsBufferTimeMillis",
        "cloudwatch.namespace", "cloudwatch.metricsQueueSize", "firehose.endpoint",
        "log.emitMetrics", "log.emitInternalMetrics", "log.statusReportingPeriodSeconds",
        "maxSendingThreads", "maxSendingThreadsPerCore", "sendingThreadsKeepAliveMillis",
        "sendingThreadsMaxQueueSize", "maxConnections", "connectionTimeoutMillis",
        "connectionTTLMillis", "socketTimeoutMillis", "useTcpKeepAlive", "useHttpGzip",
        "userAgent", "userAgentOverride", "checkpointTimeToLiveDays",
    };
    static const char *const flow[] = {
        "aggregatedRecordSizeBytes", "minTimeBetweenFilePollsMillis",
        "maxTimeBetweenFileTrackerRefreshMillis", "retryInitialBackoffMillis",
        "retryMaxBackoffMillis", "publishQueueCapacity", "waitOnFullPublishQueueMillis",
        "waitOnEmptyPublishQueueMillis", "waitOnFullRetryQueueMillis", "log.emitInternalMetrics",
    };
    char json[512], want[256];
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        run r;
        snprintf(json, sizeof json, "{'%s':'x','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}", top[i]);
        OK(&r, json);
        snprintf(want, sizeof want, "test.json: accepted but ignored: %s: ", top[i]);
        ck_assert_msg(strstr(r.log, want) != NULL, "no warning for %s: %s", top[i], r.log);
        done(&r);
    }
    for (size_t i = 0; i < sizeof flow / sizeof flow[0]; i++) {
        run r;
        snprintf(json, sizeof json, "{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','%s':100}]}", flow[i]);
        OK(&r, json);
        snprintf(want, sizeof want, "test.json: accepted but ignored: flows[0].%s: ", flow[i]);
        ck_assert_msg(strstr(r.log, want) != NULL, "no warning for %s: %s", flow[i], r.log);
        done(&r);
    }
    /* a warning goes through the logger: below its level it is not shown */
    FILE *f;
    char *buf = NULL;
    size_t len = 0;
    f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    sp_log lg = {.level = SP_LOG_ERROR, .out = f};
    sp_config c;
    sp_err err;
    const char *t = "{\"cloudwatch.emitMetrics\": true, \"flows\": [{\"filePattern\": \"/tmp/a\", \"kinesisStream\": \"s\"}]}";
    ck_assert_int_eq(sp_config_parse(t, strlen(t), "x", &lg, &c, &err), SP_OK);
    fclose(f);
    ck_assert_uint_eq(len, 0);
    free(buf);
    sp_config_free(&c);
}
END_TEST

/* multiLineStartPattern is a Java regex tried at the start of each line. */
START_TEST(agent_multiline_translation)
{
    static const struct {
        const char *java;     /* as written in JSON, with ' for " */
        const char *ere;
        const char *match, *nomatch;
    } t[] = {
        {"\\\\[SEQUENCE=", "^(\\[SEQUENCE=)", "[SEQUENCE=1] x", "x [SEQUENCE=1]"},
        {"\\\\d{4}-\\\\d{2}-\\\\d{2}", "^([0-9]{4}-[0-9]{2}-[0-9]{2})", "2024-01-31 boot", "at 2024-01-31"},
        {"^(?:INFO|WARN)\\\\s", "^(^(INFO|WARN)[[:space:]])", "WARN disk", "INFO:"},
        {"[\\\\w.-]+:\\\\S", "^([[:alnum:]_.-]+:[^[:space:]])", "a.b-c:x", ":x"},
        {"\\\\d+?x", "^([0-9]+x)", "12x", "x12"},
        {"[^\\\\]]\\\\]", "^([^]]\\])", "a]", "]]"},
        {"\\\\QC++\\\\E\\\\t", "^(C\\+\\+\t)", "C++\tlib", "C+"},
        {"INFO|WARN", "^(INFO|WARN)", "WARN x", "x WARN"},
        {"\\\\x41\\\\/}", "^(A/\\})", "A/}", "a/}"},
        {"[\\\\^a]", "^([a^])", "^", "b"},
        {"[\\\\^]", "^(\\^)", "^x", "x"},
        {"[\\\\-\\\\^]", "^([-^])", "-", "x"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char json[512];
        run r;
        snprintf(json, sizeof json, "{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','multiLineStartPattern':'%s'}]}", t[i].java);
        OK(&r, json);
        const char *ere = r.c.flows[0].multiline_start;
        ck_assert_msg(strcmp(ere, t[i].ere) == 0, "%s -> %s, not %s", t[i].java, ere, t[i].ere);
        regex_t re;
        ck_assert_int_eq(regcomp(&re, ere, REG_EXTENDED | REG_NOSUB), 0);
        ck_assert_msg(regexec(&re, t[i].match, 0, NULL, 0) == 0, "%s should match %s", ere, t[i].match);
        ck_assert_msg(regexec(&re, t[i].nomatch, 0, NULL, 0) != 0, "%s should not match %s", ere, t[i].nomatch);
        regfree(&re);
        done(&r);
    }
    run r;
    /* empty: one record per line, as in the agent */
    OK(&r, "{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','multiLineStartPattern':''}]}");
    ck_assert_ptr_null(r.c.flows[0].multiline_start);
    done(&r);

    static const struct {
        const char *java, *want;
    } bad[] = {
        {"(?=x)", "(?=...) groups (look-around, flags, named groups) have no POSIX equivalent"},
        {"(?i)error", "(?i...) groups"},
        {"a*+", "possessive quantifiers"},
        {"\\\\p{Alpha}", "\\p has no POSIX equivalent"},
        {"(a)\\\\1", "'(a)\\1' uses a back-reference (\\1): back-references are refused"},
        {"\\\\Aa", "\\A has no POSIX equivalent"},
        {"[a-z&&[^x]]", "nested classes and intersections"},
        {"[\\\\D]", "\\D inside [...] has no POSIX equivalent"},
        {"[abc", "a character class '[' is not closed"},
        {"a{x}", "'{' does not start a repetition"},
        {"(ab", "not a valid extended regular expression"},
        {"ab\\\\", "ends with a lone backslash"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','multiLineStartPattern':'%s'}]}", bad[i].java);
        expect_err(json, "flows[0].multiLineStartPattern: ", bad[i].want);
    }
}
END_TEST

/* ---- files ---- */

/* The repository's etc/ directory, found from the working directory (make
 * runs tests from the top) or from the test binary's own path. */
static void repo_file(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s", rel);
    if (access(out, R_OK) == 0)
        return;
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(k, 0);
    exe[k] = '\0';
    for (int up = 0; up < 3; up++) {       /* build/tests/check_config -> top */
        char *slash = strrchr(exe, '/');
        ck_assert_ptr_nonnull(slash);
        *slash = '\0';
    }
    snprintf(out, n, "%s/%s", exe, rel);
}

static void load(run *r, const char *path)
{
    memset(r, 0, sizeof *r);
    FILE *f = open_memstream(&r->log, &r->loglen);
    ck_assert_ptr_nonnull(f);
    sp_log lg = {.level = SP_LOG_DEBUG, .out = f};
    r->rc = sp_config_load(path, &lg, &r->c, &r->err);
    fclose(f);
}

/* The example puts its unix socket in /run/shardpipe/ (the systemd unit's
 * RuntimeDirectory), which a build machine does not have: load a copy
 * that points into a temporary directory instead. */
static void example_copy(const char *src, char *out, size_t n)
{
    char dir[] = "/tmp/check_config_example.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    FILE *in = fopen(src, "r");
    ck_assert_ptr_nonnull(in);
    snprintf(out, n, "%s/shardpipe.json", dir);
    FILE *o = fopen(out, "w");
    ck_assert_ptr_nonnull(o);
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        char *at = strstr(line, "/run/shardpipe/");
        if (at) {
            *at = '\0';
            fprintf(o, "%s%s/%s", line, dir, at + strlen("/run/shardpipe/"));
        } else {
            fputs(line, o);
        }
    }
    fclose(in);
    ck_assert_int_eq(fclose(o), 0);
}

START_TEST(example_shardpipe_json)
{
    char path[PATH_MAX + 32], copy[PATH_MAX + 64];
    run r;
    repo_file(path, sizeof path, "etc/shardpipe.json");
    example_copy(path, copy, sizeof copy);
    load(&r, copy);
    ck_assert_msg(r.rc == SP_OK, "%s", r.err.msg);
    ck_assert_int_eq(r.c.agent_json, 0);
    ck_assert_str_eq(r.c.region, "us-east-1");
    ck_assert_str_eq(r.c.endpoint, "https://kinesis.us-east-1.amazonaws.com");
    ck_assert_str_eq(r.c.profile, "default");
    ck_assert_uint_eq(r.c.memory_budget, (size_t)1 << 20);
    ck_assert_uint_eq(r.c.nflows, 3);
    ck_assert_str_eq(r.c.flows[0].name, "system-logs");
    ck_assert_str_eq(r.c.flows[0].multiline_start, "^[0-9]{4}-[0-9]{2}-[0-9]{2}");
    ck_assert_int_eq(r.c.flows[0].oversize, SP_OVERSIZE_TRUNCATE);
    ck_assert_uint_eq(r.c.flows[1].nsources, 3);
    ck_assert_int_eq(r.c.flows[1].sources[2].kind, SP_SRC_UNIX);
    ck_assert_double_eq_tol(r.c.flows[1].shard_rate, 0.8, 1e-9);
    ck_assert_int_eq(r.c.flows[2].sources[0].kind, SP_SRC_STDIN);
    ck_assert_uint_eq(r.loglen, 0);
    done(&r);
}
END_TEST

START_TEST(example_agent_json)
{
    char path[PATH_MAX + 32];
    run r;
    repo_file(path, sizeof path, "etc/agent.json.example");
    load(&r, path);
    ck_assert_msg(r.rc == SP_OK, "%s", r.err.msg);
    ck_assert_int_eq(r.c.agent_json, 1);
    ck_assert_str_eq(r.c.region, "us-east-1");
    ck_assert_str_eq(r.c.checkpoint_file, "/var/lib/shardpipe/agent-checkpoints.shardpipe");
    ck_assert_uint_eq(r.c.nflows, 2);
    ck_assert_str_eq(r.c.flows[0].key, "random");
    ck_assert_uint_eq(r.c.flows[0].linger_ms, 5000);
    ck_assert_uint_eq(r.c.flows[0].batch_bytes, 4194304);
    ck_assert_str_eq(r.c.flows[1].key, "hash");
    ck_assert_int_eq(r.c.flows[1].start, SP_START_BEGINNING);
    ck_assert_str_eq(r.c.flows[1].multiline_start, "^(Start-Date: [0-9]{4}-[0-9]{2}-[0-9]{2})");
    ck_assert_ptr_nonnull(strstr(r.log, "accepted but ignored: cloudwatch.emitMetrics"));
    done(&r);
}
END_TEST

START_TEST(load_errors)
{
    run r;
    load(&r, "/nonexistent-sp/shardpipe.json");
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_str_eq(r.err.msg, "/nonexistent-sp/shardpipe.json: No such file or directory");
    ck_assert_ptr_null(r.c.flows);
    done(&r);
    load(&r, "/tmp");
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_str_eq(r.err.msg, "/tmp: not a regular file (it is a directory)");
    done(&r);

    /* a file's name is in its messages */
    char dir[] = "/tmp/check_config.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/bad.json", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"flows\": [{\"stream\": \"s\", \"sources\": [{\"type\": \"stdin\", \"extra\": 1}]}]}\n", f);
    fclose(f);
    load(&r, file);
    ck_assert_int_eq(r.rc, SP_ERR);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: flows[0].sources[0].extra: unknown key", file);
    ck_assert_str_eq(r.err.msg, want);
    done(&r);
    /* too big to be a configuration */
    f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    static char chunk[1 << 16];
    memset(chunk, ' ', sizeof chunk);
    for (int i = 0; i < 65; i++)
        fwrite(chunk, 1, sizeof chunk, f);
    fclose(f);
    load(&r, file);
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "larger than"));
    done(&r);
    /* an empty file */
    f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    load(&r, file);
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "is empty"));
    done(&r);
    unlink(file);
    rmdir(dir);
}
END_TEST

/* ---- hostile input (issue 7) ---- */

#define BOM "\xEF\xBB\xBF"

/* A file saved with a UTF-8 byte-order mark is read; positions in later
 * messages count from after the mark, as editors show them. */
START_TEST(bom_skipped)
{
    run r;
    const char *ok = BOM "{\"flows\":[{\"stream\":\"s\",\"sources\":[{\"type\":\"stdin\"}]}]}";
    parse_raw(&r, ok, strlen(ok));
    ck_assert_msg(r.rc == SP_OK, "%s", r.err.msg);
    ck_assert_uint_eq(r.c.nflows, 1);
    done(&r);
    /* the agent's dialect too */
    const char *agent = BOM "{\"flows\":[{\"filePattern\":\"/tmp/a\",\"kinesisStream\":\"s\"}]}";
    parse_raw(&r, agent, strlen(agent));
    ck_assert_msg(r.rc == SP_OK, "%s", r.err.msg);
    ck_assert_int_eq(r.c.agent_json, 1);
    done(&r);
    /* line 1: the column of 'x' is 2, not 5 */
    const char *l1 = BOM "{x";
    parse_raw(&r, l1, strlen(l1));
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_msg(strncmp(r.err.msg, "test.json:1:2: ", 15) == 0, "%s", r.err.msg);
    done(&r);
    const char *l2 = BOM "{\"flows\":[{\"stream\":\"s\",\n \"sources\":[{\"type\":\"stdin\"}]}]} x";
    parse_raw(&r, l2, strlen(l2));
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_str_eq(r.err.msg, "test.json:2:34: text after the end of the configuration object");
    done(&r);
    /* key checks still see the whole text */
    const char *dup = BOM "{\"region\":\"us-east-1\",\"region\":\"us-east-1\",\"flows\":[]}";
    parse_raw(&r, dup, strlen(dup));
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_msg(strstr(r.err.msg, "region") != NULL, "%s", r.err.msg);
    done(&r);
    parse_raw(&r, BOM, 3);
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "is empty"));
    done(&r);
    /* only a mark at the very start is skipped */
    const char *mid = "{\"flows\":[]}" BOM;
    parse_raw(&r, mid, strlen(mid));
    ck_assert_int_eq(r.rc, SP_ERR);
    done(&r);
}
END_TEST

/* Endpoints are checked up front, whichever key holds them; the message
 * names the key and the problem. */
START_TEST(endpoint_and_region_checks)
{
    expect_err("{'endpoint':'http://[::1','flows':[{" MIN_FLOW "}]}",
               "test.json: endpoint: endpoint URL 'http://[::1' has an IPv6 address without its closing ']'", NULL);
    expect_err("{'endpoint':'http://127.0.0.1:99999','flows':[{" MIN_FLOW "}]}",
               "test.json: endpoint: ", "port must be a number from 1 to 65535, not '99999'");
    expect_err("{'endpoint':'http://127.0.0.1:','flows':[{" MIN_FLOW "}]}", "endpoint: ", "port must be");
    expect_err("{'endpoint':'http://300.1.1.1','flows':[{" MIN_FLOW "}]}", "endpoint: ", "is not an IPv4 address");
    expect_err("{'endpoint':'http://a b','flows':[{" MIN_FLOW "}]}", "endpoint: ", "space");
    expect_err("{'kinesis.endpoint':'http://[::1]x','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "test.json: kinesis.endpoint: ", "after the IPv6 address");
    /* a bare host gets https:// in agent.json, and is then checked */
    expect_err("{'kinesis.endpoint':'kinesis.us-east-1.amazonaws.com:0','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "kinesis.endpoint: ", "port must be");
    expect_err("{'assumeRoleARN':'arn:aws:iam::123456789012:role/a','sts.endpoint':'https://sts:65536',"
               "'flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}", "test.json: sts.endpoint: ", "port must be");
    expect_err("{'assume_role_arn':'arn:aws:iam::123456789012:role/sp','sts_endpoint':'https://[sts]',"
               "'flows':[{" MIN_FLOW "}]}", "test.json: sts_endpoint: ", "is not an IPv6 address");
    run r;
    OK(&r, "{'endpoint':'http://[::1]:4567','flows':[{" MIN_FLOW "}]}");
    done(&r);
    OK(&r, "{'endpoint':'https://kinesis.us-east-1.amazonaws.com/','flows':[{" MIN_FLOW "}]}");
    done(&r);
    expect_err("{'region':'-east','flows':[{" MIN_FLOW "}]}", "test.json: region: '-east' is not a region name", NULL);
    expect_err("{'region':'east-','flows':[{" MIN_FLOW "}]}", "region: 'east-' is not a region name", NULL);
    expect_err("{'kinesis.region':'1a','flows':[{'filePattern':'/tmp/a','kinesisStream':'s'}]}",
               "kinesis.region: '1a' is not a region name", NULL);
}
END_TEST

/* Numbers too big for json-c's 64 bits are not shown as the saturated
 * value, as if the file said that. */
START_TEST(number_messages)
{
    expect_err(ONE_FLOW(",'linger_ms':99999999999999999999"),
               "flows[0].linger_ms: must be 0 to 3600000, not 18446744073709551615 or more", NULL);
    expect_err(ONE_FLOW(",'linger_ms':-99999999999999999999"),
               "flows[0].linger_ms: must be 0 to 3600000, not -9223372036854775808 or less", NULL);
    expect_err(ONE_FLOW(",'linger_ms':-1"), "flows[0].linger_ms: must be 0 to 3600000, not -1", NULL);
    expect_err(ONE_FLOW(",'batch_bytes':99999999999999999999"),
               "flows[0].batch_bytes: must be a size from 1 to 10MiB, not 18446744073709551615 or more", NULL);
    expect_err(ONE_FLOW(",'batch_bytes':'99999999G'"),
               "flows[0].batch_bytes: must be a size from 1 to 10MiB", "not '99999999G'");
    expect_err("{'memory_budget':'99999999G','flows':[{" MIN_FLOW "}]}",
               "memory_budget: must be a size from 1MiB to 1024GiB", "not '99999999G'");
}
END_TEST

/* A FIFO, a device or a directory is refused at once: opening a FIFO
 * must not wait for a writer (the test's timeout catches a hang). */
START_TEST(load_not_regular)
{
    run r;
    char dir[] = "/tmp/check_config_fifo.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char fifo[PATH_MAX];
    snprintf(fifo, sizeof fifo, "%s/cfg.json", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    load(&r, fifo);
    ck_assert_int_eq(r.rc, SP_ERR);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: not a regular file (it is a FIFO)", fifo);
    ck_assert_str_eq(r.err.msg, want);
    done(&r);
    unlink(fifo);
    rmdir(dir);
    load(&r, "/dev/null");
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_str_eq(r.err.msg, "/dev/null: not a regular file (it is a device)");
    done(&r);
    /* a device that never ends would be read up to the limit */
    load(&r, "/dev/zero");
    ck_assert_int_eq(r.rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "not a regular file"));
    done(&r);
}
END_TEST

/* ---- hostile patterns (issue 7) ---- */

START_TEST(hostile_patterns)
{
    /* back-references are refused wherever a pattern is given */
    expect_err(ONE_FLOW(",'key':'regex:(a*)\\\\1\\\\1\\\\1x'"), "flows[0].key: regex '(a*)\\1\\1\\1x' uses a back-reference (\\1)", NULL);
    expect_err(FILE_FLOW(",'multiline_start':'^(a*)\\\\1x'"), "flows[0].multiline_start: '^(a*)\\1x' uses a back-reference (\\1)", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','multiLineStartPattern':'(\\\\d+)-\\\\1'}]}",
               "flows[0].multiLineStartPattern: '(\\d+)-\\1' uses a back-reference (\\1)", NULL);
    /* an escaped backslash and a backslash in brackets are none */
    run r;
    OK(&r, FILE_FLOW(",'multiline_start':'^a\\\\\\\\1'"));
    done(&r);
    OK(&r, FILE_FLOW(",'multiline_start':'^[\\\\1]'"));
    done(&r);
    OK(&r, "{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','multiLineStartPattern':'a\\\\\\\\1'}]}");
    done(&r);
    /* so are patterns that expand too far */
    expect_err(FILE_FLOW(",'multiline_start':'(a{1,255}){1,255}'"), "flows[0].multiline_start: '(a{1,255}){1,255}' expands to", "more than 512");
    expect_err(ONE_FLOW(",'key':'regex:((a?){50}){50}'"), "flows[0].key: regex '((a?){50}){50}' expands to", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','multiLineStartPattern':'(a{1,100}){1,100}'}]}",
               "flows[0].multiLineStartPattern: '(a{1,100}){1,100}' expands to", NULL);

    /* match_bytes: per flow, 64 to 1MiB, only where a pattern reads lines */
    OK(&r, FILE_FLOW(",'multiline_start':'^x','match_bytes':65536"));
    ck_assert_uint_eq(r.c.flows[0].match_bytes, 65536);
    done(&r);
    OK(&r, ONE_FLOW(",'key':'regex:k=(.)','match_bytes':'8KiB'"));
    ck_assert_uint_eq(r.c.flows[0].match_bytes, 8192);
    done(&r);
    OK(&r, ONE_FLOW(",'key':'regex:k=(.)'"));
    ck_assert_uint_eq(r.c.flows[0].match_bytes, 0);             /* the default */
    done(&r);
    expect_err(ONE_FLOW(",'key':'regex:k=(.)','match_bytes':63"), "flows[0].match_bytes: must be a size from 64 to 1MiB", NULL);
    expect_err(ONE_FLOW(",'key':'regex:k=(.)','match_bytes':'2MiB'"), "flows[0].match_bytes: must be a size from 64 to 1MiB", NULL);
    expect_err(ONE_FLOW(",'key':'hash','match_bytes':4096"), "flows[0].match_bytes: applies only with a \"regex:\" key or multiline_start", NULL);
    expect_err("{'flows':[{'filePattern':'/tmp/a','kinesisStream':'s','match_bytes':4096}]}", "flows[0].match_bytes", NULL);
}
END_TEST

/* ---- the key table and the man page ---- */

enum man_sec { M_NONE, M_GLOBAL, M_FLOWS, M_SOURCES, M_AGENT_TOP, M_AGENT_FLOW, M_REFUSED, M_IGNORED };

typedef struct man_key {
    char name[96];
    enum man_sec sec;
    int header;              /* the head of a .TP entry, not a mention */
    char type[32];           /* our dialect's headers: "size", "string", ... */
} man_key;

typedef struct man_doc {
    man_key k[512];
    size_t n;
} man_doc;

static void man_add(man_doc *d, const char *name, size_t len, enum man_sec sec, int header, const char *type)
{
    ck_assert_uint_lt(d->n, sizeof d->k / sizeof d->k[0]);
    man_key *k = &d->k[d->n++];
    snprintf(k->name, sizeof k->name, "%.*s", (int)len, name);
    k->sec = sec;
    k->header = header;
    snprintf(k->type, sizeof k->type, "%s", type ? type : "");
}

/* The names the man page documents: the .TP heads of GLOBAL SETTINGS and
 * FLOWS with their "(type)", the .B lines of SOURCES, and every bold name
 * of the .TP heads of the agent sections. */
static void man_read(man_doc *d)
{
    char path[PATH_MAX + 32], line[1024];
    repo_file(path, sizeof path, "man/shardpipe.json.5");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: cannot be read", path);
    enum man_sec sec = M_NONE;
    int head = 0;
    memset(d, 0, sizeof *d);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, ".SH ", 4) == 0 || strncmp(line, ".SS ", 4) == 0) {
            const char *t = line + 4;
            sec = strcmp(t, "GLOBAL SETTINGS") == 0 ? M_GLOBAL : strcmp(t, "FLOWS") == 0 ? M_FLOWS
                : strcmp(t, "SOURCES") == 0 ? M_SOURCES
                : strcmp(t, "Translated global settings") == 0 ? M_AGENT_TOP
                : strcmp(t, "Translated flow settings") == 0 ? M_AGENT_FLOW
                : strcmp(t, "Refused") == 0 ? M_REFUSED
                : strcmp(t, "Accepted but ignored") == 0 ? M_IGNORED : M_NONE;
            continue;
        }
        if (strcmp(line, ".TP") == 0) {
            head = 1;
            continue;
        }
        int was_head = head;
        head = 0;
        if ((sec == M_GLOBAL || sec == M_FLOWS) && was_head && strncmp(line, ".BR ", 4) == 0) {
            /* .BR name " (type, ...)" */
            const char *n = line + 4, *sp = strchr(n, ' '), *ty = strstr(line, "\" (");
            ck_assert_msg(sp != NULL && ty != NULL, "man page: no (type) in '%s'", line);
            ty += 3;
            man_add(d, n, (size_t)(sp - n), sec, 1, NULL);
            snprintf(d->k[d->n - 1].type, sizeof d->k[d->n - 1].type, "%.*s",
                     (int)strcspn(ty, ",)\""), ty);
        } else if (sec == M_SOURCES && strncmp(line, ".B ", 3) == 0 && strchr(line + 3, ' ') == NULL) {
            man_add(d, line + 3, strlen(line + 3), sec, was_head, NULL);
        } else if (sec >= M_AGENT_TOP && was_head && strncmp(line, ".B ", 3) == 0) {
            /* .B a\fR, \fBb\fR (flow), \fBc */
            const char *c = line + 3;
            for (;;) {
                man_add(d, c, strcspn(c, "\\ "), sec, 1, NULL);
                c = strstr(c, "\\fB");
                if (c == NULL)
                    break;
                c += 3;
            }
        }
    }
    fclose(f);
}

static const char *man_type(const sp_cfg_key *k)
{
    switch (k->type) {
    case SP_CFG_STR:
    case SP_CFG_ENUM: return "string";
    case SP_CFG_BOOL: return "boolean";
    case SP_CFG_UINT: return "number";
    case SP_CFG_MS: return "milliseconds";
    case SP_CFG_SIZE: return "size";
    case SP_CFG_RATE: return "string or number";
    case SP_CFG_SPECIAL: return "array";
    default: return "?";
    }
}

static int agent_sec_ok(const sp_cfg_key *k, enum man_sec sec)
{
    switch (k->type) {
    case SP_CFG_IGNORED: return sec == M_IGNORED;
    case SP_CFG_REFUSED:
    case SP_CFG_SPECIAL: return sec == M_REFUSED;
    case SP_CFG_CUSTOM: return sec != M_REFUSED;       /* cloudwatch.emitMetrics is both */
    default: return k->scope == SP_CFG_TOP ? sec == M_AGENT_TOP : sec == M_AGENT_FLOW;
    }
}

START_TEST(key_table_matches_man_page)
{
    static man_doc d;
    man_read(&d);
    ck_assert_uint_gt(d.n, 100);
    /* every key of the table is documented where it belongs */
    for (size_t i = 0; i < sp_cfg_nkeys; i++) {
        const sp_cfg_key *k = &sp_cfg_keys[i];
        if (k->name != NULL) {
            enum man_sec want = k->scope == SP_CFG_TOP ? M_GLOBAL : k->scope == SP_CFG_FLOW ? M_FLOWS : M_SOURCES;
            int found = 0;
            for (size_t j = 0; j < d.n && !found; j++) {
                if (strcmp(d.k[j].name, k->name) != 0 || d.k[j].sec != want)
                    continue;
                found = 1;
                if (want != M_SOURCES)
                    ck_assert_msg(strcmp(d.k[j].type, man_type(k)) == 0, "man page: %s is (%s), the table says (%s)",
                                  k->name, d.k[j].type, man_type(k));
            }
            ck_assert_msg(found, "man page: %s is not documented in its section", k->name);
        }
        if (k->agent != NULL && strcmp(k->agent, "flows") != 0) {
            int found = 0;
            for (size_t j = 0; j < d.n; j++)
                if (strcmp(d.k[j].name, k->agent) == 0 && d.k[j].sec >= M_AGENT_TOP && agent_sec_ok(k, d.k[j].sec))
                    found = 1;
            ck_assert_msg(found, "man page: agent.json's %s is not documented in its section", k->agent);
        }
    }
    /* and everything documented as a key is in the table */
    for (size_t j = 0; j < d.n; j++) {
        const man_key *m = &d.k[j];
        if (m->sec == M_SOURCES)
            continue;       /* its .B lines are kinds and values too; checked the other way */
        int agent = m->sec >= M_AGENT_TOP;
        unsigned scopes = m->sec == M_GLOBAL ? SP_CFG_TOP : m->sec == M_FLOWS ? SP_CFG_FLOW
                        : SP_CFG_TOP | SP_CFG_FLOW | SP_CFG_SOURCE;
        ck_assert_msg(sp_cfg_find(agent, scopes, m->name) != NULL, "man page documents %s%s, which is not a key",
                      m->name, agent ? " (agent.json)" : "");
    }
}
END_TEST

/* The table's defaults are values its own checks accept. */
START_TEST(key_table_defaults)
{
    sp_err err;
    sp_cfg_cx x = {.name = "defaults", .err = &err};
    for (size_t i = 0; i < sp_cfg_nkeys; i++) {
        const sp_cfg_key *k = &sp_cfg_keys[i];
        const char *n = k->name ? k->name : k->agent;
        ck_assert_msg(k->name != NULL || k->agent != NULL, "key %zu has no name", i);
        if ((k->type == SP_CFG_UINT || k->type == SP_CFG_MS || k->type == SP_CFG_SIZE) && k->def != 0)
            ck_assert_msg(k->def >= k->min && k->def <= k->max, "%s: default out of its range", n);
        if (k->type == SP_CFG_ENUM) {
            const char *defs[2] = {k->sdef, k->agent_sdef};
            for (int j = 0; j < 2; j++) {
                int found = defs[j] == NULL;
                for (const sp_cfg_enum *e = k->names; !found && e && e->name; e++)
                    found = strcmp(e->name, defs[j]) == 0;
                ck_assert_msg(found, "%s: default '%s' is not one of its names", n, defs[j]);
            }
        }
        if (k->type == SP_CFG_STR && k->sdef != NULL && k->check != NULL && k->scope != SP_CFG_SOURCE) {
            char *v = strdup(k->sdef);
            ck_assert_ptr_nonnull(v);
            ck_assert_msg(k->check(&x, n, &v, NULL) == SP_OK, "%s: default refused: %s", n, err.msg);
            free(v);
        }
    }
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("shardpipe");
    tcase_add_test(tc, full_shardpipe_config);
    tcase_add_test(tc, log_file_key);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, sizes);
    tcase_add_test(tc, types_and_ranges);
    tcase_add_test(tc, unknown_and_missing_keys);
    tcase_add_test(tc, key_and_multiline);
    tcase_add_test(tc, file_globs);
    tcase_add_test(tc, unix_paths);
    tcase_add_test(tc, cross_flow_checks);
    tcase_add_test(tc, duplicate_keys);
    tcase_add_test(tc, comments_and_syntax);
    tcase_add_test(tc, assume_role_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("agent");
    tcase_add_test(tc, agent_canonical);
    tcase_add_test(tc, agent_full);
    tcase_add_test(tc, agent_long_names);
    tcase_add_test(tc, agent_refusals);
    tcase_add_test(tc, agent_assume_role);
    tcase_add_test(tc, agent_warnings);
    tcase_add_test(tc, agent_multiline_translation);
    tcase_add_test(tc, hostile_patterns);
    suite_add_tcase(s, tc);
    tc = tcase_create("hostile");
    tcase_add_test(tc, bom_skipped);
    tcase_add_test(tc, endpoint_and_region_checks);
    tcase_add_test(tc, number_messages);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, example_shardpipe_json);
    tcase_add_test(tc, example_agent_json);
    tcase_add_test(tc, load_errors);
    tcase_add_test(tc, load_not_regular);
    tcase_add_test(tc, key_table_matches_man_page);
    tcase_add_test(tc, key_table_defaults);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(config_suite)
