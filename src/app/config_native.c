/* shardpipe's own dialect (config_native.h). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/config_native.h"

#define SOURCES_MAX 256

typedef sp_cfg_cx cx;
#define fail sp_cfg_fail

static int unknown_key(const cx *x, const char *p, const char *key)
{
    (void)key;
    return fail(x, p, "unknown key");
}

static int unknown_top(const cx *x, const char *p, const char *key)
{
    if (strstr(key, "access_key") != NULL || strstr(key, "secret") != NULL)
        return fail(x, p, "credentials are not read from shardpipe's configuration: use "
                          "\"profile\", the environment or the shared credentials file");
    return unknown_key(x, p, key);
}

static int has(json_object *o, const char *key)
{
    return json_object_object_get_ex(o, key, NULL);
}

static int native_source(const cx *x, const char *sp, json_object *o, sp_source_cfg *s)
{
    char p[SP_CFG_PATH];
    if (!json_object_is_type(o, json_type_object))
        return fail(x, sp, "must be an object, not %s", sp_jsonpos_type(o));
    /* the type first: it says which keys the source may have */
    json_object *t;
    sp_jsonpos_key(p, sp, "type");
    if (!json_object_object_get_ex(o, "type", &t))
        return fail(x, p, "missing: file, tcp, udp, unix or stdin");
    char *type = NULL;
    if (sp_cfg_get_str(x, p, t, 0, &type) != SP_OK)
        return SP_ERR;
    int rc = sp_cfg_kind_parse(type, &s->kind);
    if (rc != SP_OK)
        fail(x, p, "'%.64s' is not a source type (file, tcp, udp, unix or stdin)", type);
    free(type);
    if (rc != SP_OK)
        return SP_ERR;
    sp_cfg_target tg = {.source = s};
    if (sp_cfg_defaults(x, SP_CFG_SOURCE, &tg) != SP_OK ||
        sp_cfg_object(x, sp, o, SP_CFG_SOURCE, &tg, unknown_key) != SP_OK)
        return SP_ERR;
    const char *kind = sp_cfg_kind_name(s->kind);
    if ((s->kind == SP_SRC_FILE || s->kind == SP_SRC_UNIX) && s->path == NULL) {
        sp_jsonpos_key(p, sp, "path");
        return fail(x, p, "missing: a %s source needs %s", kind,
                    s->kind == SP_SRC_FILE ? "a file glob such as /var/log/app/*.log" : "a socket path");
    }
    if ((s->kind == SP_SRC_TCP || s->kind == SP_SRC_UDP) && !has(o, "port")) {
        sp_jsonpos_key(p, sp, "port");
        return fail(x, p, "missing: a %s source needs a port (1 to 65535)", kind);
    }
    return SP_OK;
}

static int has_file_source(const sp_flow_cfg *f)
{
    for (size_t i = 0; i < f->nsources; i++)
        if (f->sources[i].kind == SP_SRC_FILE)
            return 1;
    return 0;
}

static int native_flow(const cx *x, json_object *o, size_t idx, sp_flow_cfg *f)
{
    char fp[SP_CFG_PATH], p[SP_CFG_PATH];
    sp_jsonpos_index(fp, "flows", idx);
    sp_cfg_target t = {.flow = f};
    if (sp_cfg_object(x, fp, o, SP_CFG_FLOW, &t, unknown_key) != SP_OK)
        return SP_ERR;
    if (f->stream == NULL) {
        sp_jsonpos_key(p, fp, "stream");
        return fail(x, p, "missing: the name of the Kinesis data stream to write to");
    }
    json_object *sources = NULL;
    json_object_object_get_ex(o, "sources", &sources);
    sp_jsonpos_key(p, fp, "sources");
    if (sources == NULL)
        return fail(x, p, "missing: a list of sources such as [{\"type\": \"stdin\"}]");
    if (!json_object_is_type(sources, json_type_array))
        return fail(x, p, "must be an array of sources, not %s", sp_jsonpos_type(sources));
    size_t n = json_object_array_length(sources);
    if (n == 0 || n > SOURCES_MAX)
        return fail(x, p, "must hold 1 to %d sources, not %zu", SOURCES_MAX, n);
    f->sources = calloc(n, sizeof *f->sources);
    if (f->sources == NULL)
        return fail(x, p, "out of memory");
    f->nsources = n;
    for (size_t i = 0; i < n; i++) {
        char sp[SP_CFG_PATH];
        sp_jsonpos_index(sp, p, i);
        if (native_source(x, sp, json_object_array_get_idx(sources, i), &f->sources[i]) != SP_OK)
            return SP_ERR;
    }
    /* options that could not take effect are refused, not dropped */
    if (has(o, "truncated_terminator") && f->oversize != SP_OVERSIZE_TRUNCATE) {
        sp_jsonpos_key(p, fp, "truncated_terminator");
        return fail(x, p, "applies only with \"oversize\": \"truncate\"");
    }
    int have_start = has(o, "start"), have_skip = has(o, "skip_header_lines");
    if ((have_start || have_skip || f->multiline_start) && !has_file_source(f)) {
        sp_jsonpos_key(p, fp, have_start ? "start" : have_skip ? "skip_header_lines" : "multiline_start");
        return fail(x, p, "applies only to file sources, and this flow has none");
    }
    if (has(o, "match_bytes") && f->multiline_start == NULL && strncmp(f->key, "regex:", 6) != 0) {
        sp_jsonpos_key(p, fp, "match_bytes");
        return fail(x, p, "applies only with a \"regex:\" key or multiline_start, and this flow has neither");
    }
    if (f->name == NULL) {
        f->name = strdup(fp);
        if (f->name == NULL)
            return fail(x, fp, "out of memory");
    }
    return SP_OK;
}

int sp_config_native(const cx *x, json_object *root, sp_config *c)
{
    sp_cfg_target t = {.top = c};
    if (sp_cfg_object(x, "", root, SP_CFG_TOP, &t, unknown_top) != SP_OK)
        return SP_ERR;
    static const char *const orphans[3] = {"assume_role_external_id", "assume_role_session_name",
                                           "sts_endpoint"};
    if (sp_cfg_role_orphans(x, c, "assume_role_arn", orphans) != SP_OK)
        return SP_ERR;
    json_object *flows = NULL;
    json_object_object_get_ex(root, "flows", &flows);
    return sp_cfg_flows(x, flows, c, native_flow);
}
