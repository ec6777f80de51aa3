/* The agent. States: RUNNING -> (SIGHUP) RELOADING -> RUNNING, and
 * RUNNING/RELOADING -> (SIGTERM) STOPPING -> exit. Reloading and stopping
 * both first stop input and flush every flow, so nothing buffered is lost
 * across a reload; the shutdown deadline bounds how long a stop waits. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shardpipe/endpoint.h"
#include "shardpipe/agent.h"
#include "shardpipe/checkpoint.h"
#include "shardpipe/config.h"
#include "shardpipe/flow.h"
#include "shardpipe/http.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/metrics.h"

#define CHECKPOINT_EVERY_MS 250   /* bounds what a crash resends; one fsync each */
#define SAVE_ERROR_EVERY_MS 60000 /* a save that keeps failing: one error line a minute */

/* "Log at most once per interval": due() says whether a line may be
 * written now; the events it held back are counted for that line. */
struct ratelog {
    uint64_t last_ms;            /* when the last line was written */
    int logged;                  /* a line was ever written */
    uint64_t held;               /* events since that line, not logged */
};

static int ratelog_due(struct ratelog *r, uint64_t now_ms, uint64_t every_ms)
{
    if (r->logged && now_ms - r->last_ms < every_ms) {
        r->held++;
        return 0;
    }
    r->logged = 1;
    r->last_ms = now_ms;
    return 1;
}

enum state { RUNNING, RELOADING, STOPPING };

struct agent {
    const sp_agent_opts *o;
    sp_log log;
    sp_loop *loop;
    sp_http *http;
    char *ca_file;               /* http's copy: a reload frees the old cfg */
    sp_kinesis *k;
    sp_config cfg;
    sp_config next_cfg;          /* waiting while RELOADING */
    int have_next;
    sp_ckpt ckpt;
    int have_ckpt;
    sp_budget budget;
    sp_flow **flows;
    size_t nflows;
    enum state state;
    int settling;                /* inside settled() */
    size_t nstarting;            /* flows whose stream has not answered yet */
    int reloaded;                /* the flows starting come from a reload */
    char region[SP_REGION_MAX + 1];
    int exit_code;
    sp_timer ckpt_timer;
    sp_timer deadline;
    sp_timer stats_timer;        /* stats_interval_ms */
    sp_metrics_srv *metrics;     /* metrics_listen */
    struct ratelog save_log;     /* errors of periodic saves */
    uint64_t save_failures;      /* in a row, since the last save that worked */
    int save_error_shown;        /* an error line was written for those */
};

/* Saves the checkpoints. A failure (the directory was removed or became
 * read-only) does not stop delivery: the set stays dirty, the next save
 * tries again, and the error is logged at most once a minute. final: the
 * last save before exiting, whose failure is always logged. */
static void agent_save(struct agent *a, int final)
{
    if (!a->have_ckpt)
        return;
    for (size_t i = 0; i < a->nflows; i++)
        sp_flow_checkpoint(a->flows[i]);
    sp_err err;
    if (sp_ckpt_save(&a->ckpt, &err) != SP_OK) {
        a->save_failures++;
        if (final) {
            sp_log_error(&a->log, "saving checkpoints at exit: %s", err.msg);
        } else if (ratelog_due(&a->save_log, sp_monotonic_ms(), SAVE_ERROR_EVERY_MS)) {
            if (a->save_log.held == 0)
                sp_log_error(&a->log, "saving checkpoints: %s (delivery goes on; trying again every "
                             "%d ms, this error is logged at most once a minute)", err.msg,
                             CHECKPOINT_EVERY_MS);
            else
                sp_log_error(&a->log, "saving checkpoints: %s (%" PRIu64 " more failures since the "
                             "last message; delivery goes on)", err.msg, a->save_log.held);
            a->save_log.held = 0;
            a->save_error_shown = 1;
        }
        return;
    }
    /* Not after a failure nobody was told about (flapping within the minute). */
    if (a->save_failures > 0 && a->save_error_shown)
        sp_log_info(&a->log, "saving checkpoints works again (after %" PRIu64 " failed attempt%s)",
                    a->save_failures, a->save_failures == 1 ? "" : "s");
    a->save_failures = 0;
    a->save_error_shown = 0;
}

static void on_ckpt_timer(sp_loop *loop, void *arg)
{
    struct agent *a = arg;
    sp_err err;
    agent_save(a, 0);
    if (sp_timer_start(loop, &a->ckpt_timer, CHECKPOINT_EVERY_MS, &err) != SP_OK)
        sp_log_error(&a->log, "%s", err.msg);
}

/* One line per flow: on SIGUSR1 and every stats_interval_ms. */
static void log_stats(struct agent *a)
{
    for (size_t i = 0; i < a->nflows; i++) {
        sp_buf b;
        sp_buf_init(&b, 0);
        sp_flow_stats(a->flows[i], &b);
        sp_log_stats(&a->log, "flow %s: %s buffered=%zu", sp_flow_name(a->flows[i]),
                     b.data ? b.data : "", a->budget.used);
        sp_buf_free(&b);
    }
}

/* Re-armed from the configuration in force, so a reload can change it. */
static void arm_stats(struct agent *a)
{
    sp_err err;
    if (a->cfg.stats_interval_ms > 0 &&
        sp_timer_start(a->loop, &a->stats_timer, a->cfg.stats_interval_ms, &err) != SP_OK)
        sp_log_error(&a->log, "%s", err.msg);
}

static void on_stats_timer(sp_loop *loop, void *arg)
{
    (void)loop;
    struct agent *a = arg;
    log_stats(a);
    arm_stats(a);
}

static size_t agent_flows(void *arg, sp_flow *const **flows)
{
    struct agent *a = arg;
    *flows = a->flows;
    return a->nflows;
}

static void free_flows(struct agent *a)
{
    for (size_t i = 0; i < a->nflows; i++)
        sp_flow_free(a->flows[i]);
    free(a->flows);
    a->flows = NULL;
    a->nflows = 0;
}

static int all_idle(const struct agent *a)
{
    for (size_t i = 0; i < a->nflows; i++)
        if (!sp_flow_idle(a->flows[i]))
            return 0;
    return 1;
}

static int start_flows(struct agent *a, sp_err *err);

static int differs(const char *x, const char *y)
{
    return (x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0);
}

/* Settings read only at start: say so when a reload changes them. */
static void warn_restart_only(struct agent *a)
{
    const sp_config *o = &a->cfg, *n = &a->next_cfg;
    const char *what = differs(o->region, n->region) ? "region"
                       : differs(o->endpoint, n->endpoint) ? "endpoint"
                       : differs(o->ca_file, n->ca_file) ? "ca_file"
                       : differs(o->profile, n->profile) ? "profile"
                       : differs(o->access_key_id, n->access_key_id) ? "credentials"
                       : differs(o->secret_access_key, n->secret_access_key) ? "credentials"
                       : differs(o->role_arn, n->role_arn) ? "the role to assume"
                       : differs(o->external_id, n->external_id) ? "the role's external ID"
                       : differs(o->role_session_name, n->role_session_name) ? "the role session name"
                       : differs(o->sts_endpoint, n->sts_endpoint) ? "the STS endpoint"
                       : differs(o->checkpoint_file, n->checkpoint_file) ? "checkpoint_file"
                       : o->log_level != n->log_level ? "log_level"
                       : differs(o->log_file, n->log_file) ? "log_file"
                       : differs(o->metrics_listen, n->metrics_listen) ? "metrics_listen"
                       : o->health_stall_ms != n->health_stall_ms ? "health_stall_ms"
                       : NULL;
    if (what)
        sp_log_warn(&a->log, "reload: %s changed, which takes effect only after a restart", what);
}

/* Every flow has delivered what it held: finish the stop or the reload. */
static void settled(struct agent *a)
{
    /* Reached from several places (drained callbacks, the deadline, the
     * end of wind_down); only the first one while winding down acts. */
    if (a->state == RUNNING || a->settling)
        return;
    a->settling = 1;
    sp_timer_stop(a->loop, &a->deadline);
    agent_save(a, 0);
    if (a->state == STOPPING) {
        sp_loop_stop(a->loop);
        return; /* settling stays set: nothing more happens */
    }
    warn_restart_only(a);
    /* RELOADING: swap in the new configuration. Checkpoints were saved
     * above; anything the old flows still hold (deadline passed) is given up
     * without touching them, so files resume from what was stored. */
    free_flows(a);
    sp_config_free(&a->cfg);
    a->cfg = a->next_cfg;
    memset(&a->next_cfg, 0, sizeof a->next_cfg);
    a->have_next = 0;
    a->state = RUNNING;
    a->settling = 0;
    sp_err err;
    a->reloaded = 1;
    if (start_flows(a, &err) != SP_OK) {
        sp_log_error(&a->log, "after reload: %s", err.msg);
        a->exit_code = 1;
        a->state = STOPPING;
        sp_loop_stop(a->loop);
    }
}

static int all_input_done(const struct agent *a)
{
    for (size_t i = 0; i < a->nflows; i++)
        if (!sp_flow_input_done(a->flows[i]))
            return 0;
    return 1;
}

static int nothing_left(const struct agent *a)
{
    return all_input_done(a) && all_idle(a);
}

static void on_flow_drained(void *arg, sp_flow *f)
{
    (void)f;
    struct agent *a = arg;
    if (a->state != RUNNING && all_idle(a)) {
        settled(a);
    } else if (a->state == RUNNING && a->nstarting == 0 && all_input_done(a) && all_idle(a)) {
        /* Only standard input was configured and it has ended: as put does. */
        sp_log_info(&a->log, "all input ended and was delivered: stopping");
        a->state = STOPPING;
        settled(a);
    }
}

static void on_deadline(sp_loop *loop, void *arg)
{
    (void)loop;
    struct agent *a = arg;
    sp_log_warn(&a->log, "shutdown deadline passed with records still buffered; "
                         "files resume from their checkpoints, other input is lost");
    settled(a);
}

/* Stops input everywhere and flushes, then settles (now or when drained). */
static void wind_down(struct agent *a, enum state to)
{
    a->state = to;
    for (size_t i = 0; i < a->nflows; i++)
        sp_flow_stop_input(a->flows[i]);
    for (size_t i = 0; i < a->nflows; i++)
        sp_flow_flush(a->flows[i]);
    sp_err err;
    if (sp_timer_start(a->loop, &a->deadline, a->cfg.shutdown_timeout_ms, &err) != SP_OK)
        sp_log_error(&a->log, "%s", err.msg);
    if (a->state == to && all_idle(a))
        settled(a);
}

/* Messages from a flow's sources already name it ("flow web: tcp ..."). */
static int names_flow(const char *msg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(msg, "flow ", 5) == 0 && strncmp(msg + 5, name, n) == 0 && msg[5 + n] == ':';
}

static void on_flow_fatal(void *arg, sp_flow *f, const char *msg)
{
    struct agent *a = arg;
    if (names_flow(msg, sp_flow_name(f)))
        sp_log_error(&a->log, "%s", msg);
    else
        sp_log_error(&a->log, "flow %s: %s", sp_flow_name(f), msg);
    if (!sp_flow_started(f) && a->nstarting > 0)
        a->nstarting--;             /* it will not start: do not wait for it */
    a->exit_code = 1;
    if (a->state != STOPPING)
        wind_down(a, STOPPING);
}

static void on_input_done(void *arg, sp_flow *f)
{
    struct agent *a = arg;
    sp_flow_flush(f);
    (void)a;
}

static void on_space(void *arg)
{
    struct agent *a = arg;
    if (a->budget.used < a->budget.limit)
        for (size_t i = 0; i < a->nflows; i++)
            sp_flow_pause(a->flows[i], 0);
}

/* Every flow's stream answered and its sources are open. */
static void all_started(struct agent *a)
{
    if (a->reloaded)
        sp_log_info(&a->log, "configuration reloaded: %zu flows", a->nflows);
    else
        sp_log_info(&a->log, "running %zu flows from %s (region %s, endpoint %s, credentials from %s)",
                    a->nflows, a->o->config_path, a->region, sp_kinesis_endpoint(a->k),
                    sp_kinesis_creds_source(a->k));
    if (a->state == RUNNING && nothing_left(a))
        on_flow_drained(a, NULL);
}

static void on_flow_started(void *arg, sp_flow *f)
{
    (void)f;
    struct agent *a = arg;
    if (a->nstarting > 0 && --a->nstarting == 0)
        all_started(a);
}

/* Flows start side by side on the loop (each asks for its stream and its
 * shards); until all have started, "all input ended" cannot be judged. */
static int start_flows(struct agent *a, sp_err *err)
{
    a->budget.limit = a->cfg.memory_budget;
    a->flows = calloc(a->cfg.nflows ? a->cfg.nflows : 1, sizeof *a->flows);
    if (a->flows == NULL)
        return sp_err_set(err, "out of memory");
    for (size_t i = 0; i < a->cfg.nflows; i++) {
        sp_flow_opts fo = {0};
        fo.cfg = &a->cfg.flows[i];
        fo.producer.backoff.base_ms = SP_BACKOFF_BASE_MS;
        fo.producer.backoff.cap_ms = SP_BACKOFF_CAP_MS;
        fo.producer.max_in_flight = 8;
        fo.producer.refresh_ms = 60000;
        fo.budget = &a->budget;
        fo.ckpt = a->have_ckpt ? &a->ckpt : NULL;
        fo.file_poll_ms = a->cfg.file_poll_ms;
        fo.partial_flush_ms = a->cfg.partial_line_flush_ms;
        fo.stdin_closed = a->o->stdin_closed;
        fo.log = &a->log;
        fo.on_fatal = on_flow_fatal;
        fo.on_started = on_flow_started;
        fo.on_drained = on_flow_drained;
        fo.on_input_done = on_input_done;
        fo.on_space = on_space;
        fo.arg = a;
        sp_flow *f = sp_flow_new(a->loop, a->k, &fo, err);
        if (f == NULL)
            return SP_ERR;
        a->flows[a->nflows++] = f;
        a->nstarting++;
    }
    if (a->nstarting == 0)
        all_started(a);
    return SP_OK;
}

static void on_signal(sp_loop *loop, int signo, void *arg)
{
    struct agent *a = arg;
    sp_err err;
    switch (signo) {
    case SIGTERM:
    case SIGINT:
        if (a->state == STOPPING) {
            sp_log_warn(&a->log, "second signal: stopping now");
            a->settling = 0;
            settled(a);
            sp_loop_stop(a->loop);
            return;
        }
        sp_log_info(&a->log, "signal %d: stopping; delivering what is buffered (up to %u ms)", signo,
                    a->cfg.shutdown_timeout_ms);
        if (a->have_next) {
            sp_config_free(&a->next_cfg);
            a->have_next = 0;
        }
        wind_down(a, STOPPING);
        return;
    case SIGHUP:
        /* First, whatever else happens: logrotate has moved the file and
         * waits for the new one to appear. */
        if (sp_log_reopen(&a->log, &err) != SP_OK)
            sp_log_error(&a->log, "SIGHUP: reopening the log: %s; writing on to the old file", err.msg);
        if (a->state != RUNNING) {
            sp_log_warn(&a->log, "SIGHUP ignored: already %s", a->state == STOPPING ? "stopping" : "reloading");
            return;
        }
        if (sp_config_load(a->o->config_path, &a->log, &a->next_cfg, &err) != SP_OK) {
            sp_log_error(&a->log, "reload refused, keeping the running configuration: %s", err.msg);
            return;
        }
        a->have_next = 1;
        sp_log_info(&a->log, "SIGHUP: reloading %s after delivering what is buffered", a->o->config_path);
        wind_down(a, RELOADING);
        return;
    case SIGUSR1:
        log_stats(a);
        return;
    }
    (void)loop;
}

static int open_checkpoints(struct agent *a, sp_err *err)
{
    sp_err cerr;
    if (sp_ckpt_open(&a->ckpt, a->cfg.checkpoint_file, &cerr) != SP_OK) {
        /* Keep the damaged file for a person to look at, start fresh. */
        char aside[4096];
        snprintf(aside, sizeof aside, "%s.corrupt-%lld", a->cfg.checkpoint_file, (long long)time(NULL));
        if (rename(a->cfg.checkpoint_file, aside) == 0)
            sp_log_error(&a->log, "%s; moved it to %s and starting from the configured positions",
                         cerr.msg, aside);
        else
            sp_log_error(&a->log, "%s; starting from the configured positions", cerr.msg);
        sp_ckpt_close(&a->ckpt);
        if (sp_ckpt_open(&a->ckpt, a->cfg.checkpoint_file, err) != SP_OK)
            return SP_ERR;
    }
    a->have_ckpt = 1;
    return SP_OK;
}

/* checkpoint_file must be in a directory that takes a new file: a save
 * that can never work would otherwise only show as errors while running.
 * Not part of sp_config_load: a reload keeps the running checkpoint file,
 * and parsing stays testable without the default directory. */
static int check_checkpoint_file(const sp_config *c, const char *cfg_path, sp_err *err)
{
    /* Only file sources keep positions: a configuration of sockets and
     * standard input (a sidecar, a container) needs no state directory. */
    int files = 0;
    for (size_t i = 0; i < c->nflows && !files; i++)
        for (size_t j = 0; j < c->flows[i].nsources && !files; j++)
            files = c->flows[i].sources[j].kind == SP_SRC_FILE;
    if (!files)
        return SP_OK;
    if (sp_ckpt_check_writable(c->checkpoint_file, err) != SP_OK)
        return sp_err_prefix(err, "%s: %s", cfg_path, c->agent_json ? "checkpointFile" : "checkpoint_file");
    return SP_OK;
}

int sp_agent_check_config(const char *path, const sp_log *lg)
{
    sp_config c;
    sp_err err;
    if (sp_config_load(path, lg, &c, &err) != SP_OK) {
        fprintf(stderr, "shardpipe: %s\n", err.msg);
        return 1;
    }
    if (check_checkpoint_file(&c, path, &err) != SP_OK) {
        fprintf(stderr, "shardpipe: %s\n", err.msg);
        sp_config_free(&c);
        return 1;
    }
    printf("%s: valid, %zu flow%s\n", path, c.nflows, c.nflows == 1 ? "" : "s");
    sp_config_free(&c);
    return 0;
}

int sp_agent_run(const sp_agent_opts *o)
{
    struct agent a;
    memset(&a, 0, sizeof a);
    a.o = o;
    a.log.level = o->log_level_set ? o->log_level : SP_LOG_INFO;
    a.log.timestamps = o->log_timestamps;
    a.exit_code = 0;
    sp_err err;
    int rc = 1;
    sp_timer_init(&a.ckpt_timer, on_ckpt_timer, &a);
    sp_timer_init(&a.deadline, on_deadline, &a);
    /* --log-file before reading the configuration: its warnings go there. */
    if (o->log_file != NULL && sp_log_open(&a.log, o->log_file, &err) != SP_OK) {
        sp_err_prefix(&err, "--log-file");
        goto out;
    }
    sp_timer_init(&a.stats_timer, on_stats_timer, &a);
    if (sp_config_load(o->config_path, &a.log, &a.cfg, &err) != SP_OK)
        goto out;
    if (!o->log_level_set)
        a.log.level = a.cfg.log_level;
    if (o->log_file == NULL && a.cfg.log_file != NULL &&
        sp_log_open(&a.log, a.cfg.log_file, &err) != SP_OK) {
        sp_err_prefix(&err, "%s: log_file", o->config_path);
        goto out;
    }
    if (check_checkpoint_file(&a.cfg, o->config_path, &err) != SP_OK)
        goto out;
    sp_creds_opts co = {0};
    co.access_key_id = a.cfg.access_key_id;
    co.secret_access_key = a.cfg.secret_access_key;
    co.profile = a.cfg.profile;
    co.role_arn = a.cfg.role_arn;
    co.external_id = a.cfg.external_id;
    co.role_session_name = a.cfg.role_session_name;
    co.sts_endpoint = a.cfg.sts_endpoint;
    if (sp_region_resolve(&co, a.cfg.region, a.region, sizeof a.region, &err) != SP_OK)
        goto out;
    a.loop = sp_loop_new(&err);
    if (a.loop == NULL)
        goto out;
    /* --ca-file was checked as it was read, the file's key as it was loaded */
    const char *ca = o->ca_file ? o->ca_file : a.cfg.ca_file;
    if (ca != NULL && (a.ca_file = strdup(ca)) == NULL) {
        sp_err_set(&err, "out of memory");
        goto out;
    }
    sp_http_opts ho = {0};
    ho.ca_file = a.ca_file;
    a.http = sp_http_new(a.loop, &ho, &err);
    if (a.http == NULL)
        goto out;
    sp_kinesis_opts ko = {0};
    ko.region = a.region;
    /* As for put/get/describe: the file first, then the environment. */
    ko.endpoint = a.cfg.endpoint;
    if (ko.endpoint == NULL || !*ko.endpoint) {
        /* the file's endpoint was checked as it was read; a variable's is
         * checked here so that the message names it */
        const char *where;
        char host[SP_URL_MAX];
        ko.endpoint = sp_endpoint_env_kinesis(&where);
        if (ko.endpoint != NULL && sp_endpoint_host(ko.endpoint, host, sizeof host, &err) != SP_OK) {
            sp_err_prefix(&err, "%s", where);
            goto out;
        }
    }
    ko.creds = co;
    ko.log = &a.log;
    a.k = sp_kinesis_new(a.loop, a.http, &ko, &err);
    if (a.k == NULL)
        goto out;
    if (open_checkpoints(&a, &err) != SP_OK || start_flows(&a, &err) != SP_OK)
        goto out;
    if (sp_loop_signal(a.loop, SIGTERM, on_signal, &a, &err) != SP_OK ||
        sp_loop_signal(a.loop, SIGINT, on_signal, &a, &err) != SP_OK ||
        sp_loop_signal(a.loop, SIGHUP, on_signal, &a, &err) != SP_OK ||
        sp_loop_signal(a.loop, SIGUSR1, on_signal, &a, &err) != SP_OK ||
        sp_timer_start(a.loop, &a.ckpt_timer, CHECKPOINT_EVERY_MS, &err) != SP_OK)
        goto out;
    sp_metrics_opts mo = {a.cfg.metrics_listen, "metrics_listen", a.cfg.health_stall_ms, agent_flows, &a,
                          &a.log};
    if (a.cfg.metrics_listen && (a.metrics = sp_metrics_new(a.loop, &mo, &err)) == NULL)
        goto out;
    arm_stats(&a);
    if (sp_loop_run(a.loop, &err) != SP_OK)
        goto out;
    rc = a.exit_code;
    err.msg[0] = '\0';
out:
    if (rc != 0 && err.msg[0]) {
        sp_log_error(&a.log, "%s", err.msg);
        if (a.log.path != NULL)     /* what stopped it shows where it was started too */
            fprintf(stderr, "shardpipe: error: %s\n", err.msg);
    }
    if (a.loop) {
        sp_timer_stop(a.loop, &a.ckpt_timer);
        sp_timer_stop(a.loop, &a.deadline);
        sp_timer_stop(a.loop, &a.stats_timer);
    }
    sp_metrics_free(a.metrics);
    /* Save before abandoning: abandoned records were not stored, and their
     * acknowledgements must not move a checkpoint that is written later. */
    agent_save(&a, 1);
    for (size_t i = 0; i < a.nflows; i++) {
        sp_flow_abandon(a.flows[i]);
        /* What each flow did, and what it could not store, in one line. */
        sp_buf b;
        sp_buf_init(&b, 0);
        sp_flow_stats(a.flows[i], &b);
        sp_log_info(&a.log, "flow %s: stopped: %s", sp_flow_name(a.flows[i]), b.data ? b.data : "");
        sp_buf_free(&b);
    }
    free_flows(&a);
    if (a.have_ckpt)
        sp_ckpt_close(&a.ckpt);
    if (a.have_next)
        sp_config_free(&a.next_cfg);
    sp_config_free(&a.cfg);
    sp_kinesis_free(a.k);
    sp_http_free(a.http);
    free(a.ca_file);
    sp_loop_free(a.loop);
    sp_log_close(&a.log);
    return rc;
}
