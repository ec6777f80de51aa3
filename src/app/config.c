/* The JSON configuration of `shardpipe run` (man shardpipe.json(5)): the
 * shardpipe dialect (config_native.c) and the Amazon Kinesis Agent's
 * agent.json (config_agent.c), both read with json-c (jsonpos.c) into one
 * sp_config through one table of keys (config_keys.c). Validation is
 * strict: an unknown key, a wrong type or a value out of range is an
 * error naming the key path, because a setting dropped without a word is
 * worse than one refused. This file reads the file, tells the dialects
 * apart, and checks what spans flows. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardpipe/buf.h"
#include "shardpipe/config.h"
#include "shardpipe/file.h"
#include "shardpipe/config_agent.h"
#include "shardpipe/config_keys.h"
#include "shardpipe/config_native.h"
#include "shardpipe/jsonpos.h"

#define CFG_TEXT_MAX ((size_t)4 << 20)  /* configurations are small: a bigger file is the wrong file */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define KPATH SP_CFG_PATH

typedef sp_cfg_cx cx;
#define fail sp_cfg_fail
#define kpath sp_jsonpos_key
#define ipath sp_jsonpos_index

/* ---- checks across flows ---- */

static int same_listener(const sp_source_cfg *a, const sp_source_cfg *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == SP_SRC_UNIX)
        return strcmp(a->path, b->path) == 0;
    if (a->kind != SP_SRC_TCP && a->kind != SP_SRC_UDP)
        return 0;
    if (a->port != b->port)
        return 0;
    /* a wildcard address takes the port on every address */
    static const char *const any[] = {"0.0.0.0", "::"};
    for (size_t i = 0; i < NELEM(any); i++)
        if (strcmp(a->bind, any[i]) == 0 || strcmp(b->bind, any[i]) == 0)
            return 1;
    return strcmp(a->bind, b->bind) == 0;
}

static int cross_check(const cx *x, const sp_config *c)
{
    char p[KPATH], q[KPATH];
    int stdin_seen = 0;
    char stdin_at[KPATH] = "";
    for (size_t i = 0; i < c->nflows; i++) {
        const sp_flow_cfg *f = &c->flows[i];
        for (size_t j = 0; j < i; j++) {
            if (strcmp(f->name, c->flows[j].name) != 0)
                continue;
            ipath(p, "flows", i);
            if (c->agent_json)
                return fail(x, p, "has the same kinesisStream and filePattern as flows[%zu]", j);
            kpath(q, p, "name");
            return fail(x, q, "'%s' is already the name of flows[%zu]", f->name, j);
        }
        for (size_t s = 0; s < f->nsources; s++) {
            const sp_source_cfg *a = &f->sources[s];
            ipath(q, "flows", i);
            kpath(p, q, "sources");
            ipath(q, p, s);
            if (a->kind == SP_SRC_STDIN) {
                if (stdin_seen)
                    return fail(x, q, "standard input is read by %s already; it can be read once", stdin_at);
                stdin_seen = 1;
                snprintf(stdin_at, sizeof stdin_at, "%s", q);
            }
            /* the same listener twice would fail at run time with EADDRINUSE */
            for (size_t i2 = 0; i2 <= i; i2++) {
                const sp_flow_cfg *g = &c->flows[i2];
                for (size_t s2 = 0; s2 < (i2 == i ? s : g->nsources); s2++) {
                    if (!same_listener(a, &g->sources[s2]))
                        continue;
                    if (a->kind == SP_SRC_UNIX)
                        return fail(x, q, "socket %s is also the socket of flows[%zu].sources[%zu]",
                                    a->path, i2, s2);
                    return fail(x, q, "%s port %d on %s is also used by flows[%zu].sources[%zu]",
                                sp_cfg_kind_name(a->kind), a->port, a->bind, i2, s2);
                }
            }
        }
    }
    return SP_OK;
}

/* ---- the interface ---- */

void sp_config_free(sp_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->flows != NULL && i < c->nflows; i++) {
        sp_flow_cfg *f = &c->flows[i];
        for (size_t j = 0; f->sources != NULL && j < f->nsources; j++) {
            free(f->sources[j].path);
            free(f->sources[j].bind);
        }
        free(f->sources);
        free(f->name);
        free(f->stream);
        free(f->key);
        free(f->truncated_terminator);
        free(f->multiline_start);
    }
    free(c->flows);
    free(c->region);
    free(c->endpoint);
    free(c->ca_file);
    free(c->profile);
    free(c->access_key_id);
    if (c->secret_access_key != NULL) {
        sp_wipe_free(c->secret_access_key);
    }
    free(c->role_arn);
    if (c->external_id != NULL) {
        sp_wipe_free(c->external_id);   /* a shared password for the role, in effect */
    }
    free(c->role_session_name);
    free(c->sts_endpoint);
    free(c->checkpoint_file);
    free(c->log_file);
    free(c->metrics_listen);
    memset(c, 0, sizeof *c);
}

int sp_config_parse(const char *text, size_t len, const char *name, const sp_log *lg,
                    sp_config *out, sp_err *err)
{
    cx x = {.name = name ? name : "configuration", .lg = lg, .err = err};
    memset(out, 0, sizeof *out);
    if (len > CFG_TEXT_MAX)
        return fail(&x, NULL, "is larger than %zu bytes; is it the right file?", CFG_TEXT_MAX);
    if (memchr(text, '\0', len) != NULL)
        return fail(&x, NULL, "contains a NUL byte: not a JSON text file");
    /* Windows editors start UTF-8 files with a byte-order mark, which
     * json-c refuses. It is skipped; editors do not count it as a column,
     * so positions in messages stay right. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    json_object *root;
    if (sp_jsonpos_parse(text, len, x.name, &root, err) != SP_OK)
        return SP_ERR;
    sp_config c;
    memset(&c, 0, sizeof c);
    /* agent.json is read as the agent's Java reads it: numbers and
     * booleans may be strings */
    x.agent = x.text = c.agent_json = sp_config_agent_detect(root, x.why);
    sp_cfg_target t = {.top = &c};
    int rc = sp_cfg_defaults(&x, SP_CFG_TOP, &t);
    if (rc == SP_OK)
        rc = x.agent ? sp_config_agent(&x, root, &c) : sp_config_native(&x, root, &c);
    if (rc == SP_OK)
        rc = cross_check(&x, &c);
    json_object_put(root);
    if (rc != SP_OK) {
        sp_config_free(&c);
        return SP_ERR;
    }
    *out = c;
    return SP_OK;
}

int sp_config_load(const char *path, const sp_log *lg, sp_config *out, sp_err *err)
{
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    /* Never a FIFO or a device (they would block or never end); wiped,
     * as the file may hold a secret key. */
    if (sp_file_read(path, CFG_TEXT_MAX, SP_FILE_WIPE, &buf, &len, err) != SP_OK)
        return sp_err_prefix(err, "%s", path);
    int rc = sp_config_parse(buf, len, path, lg, out, err);
    sp_file_free(buf, len, 1);
    return rc;
}
