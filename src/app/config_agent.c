/* The Kinesis Agent's dialect, agent.json (config_agent.h). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/config_agent.h"

typedef sp_cfg_cx cx;
#define fail sp_cfg_fail

int sp_config_agent_detect(json_object *root, char why[SP_CFG_PATH])
{
    json_object_object_foreach(root, k, v) {
        (void)v;
        const sp_cfg_key *e = sp_cfg_find(1, SP_CFG_TOP, k);
        /* "flows" is a key of both dialects */
        if (strchr(k, '.') != NULL || (e != NULL && (e->name == NULL || strcmp(e->name, k) != 0))) {
            sp_jsonpos_key(why, "", k);
            return 1;
        }
    }
    json_object *flows;
    if (!json_object_object_get_ex(root, "flows", &flows) || !json_object_is_type(flows, json_type_array))
        return 0;
    static const char *const flow_marks[] = {"filePattern", "kinesisStream", "deliveryStream"};
    for (size_t i = 0; i < json_object_array_length(flows); i++) {
        json_object *f = json_object_array_get_idx(flows, i);
        if (!json_object_is_type(f, json_type_object))
            continue;
        for (size_t j = 0; j < sizeof flow_marks / sizeof flow_marks[0]; j++) {
            if (json_object_object_get_ex(f, flow_marks[j], NULL)) {
                char fp[SP_CFG_PATH];
                sp_jsonpos_index(fp, "flows", i);
                sp_jsonpos_key(why, fp, flow_marks[j]);
                return 1;
            }
        }
    }
    return 0;
}

static int agent_unknown(const cx *x, const char *p, const char *key)
{
    (void)key;
    return fail(x, p, "unknown key (the file is read as a Kinesis Agent agent.json because of %s, "
                      "and the two dialects cannot be mixed)", x->why);
}

/* Named as the agent names its flows, "kinesis:STREAM:PATTERN": the
 * checkpoints then survive a reordering of the flows, and a duplicate is
 * the agent's duplicate. Names are kept short enough for the flow and
 * its checkpoints; a longer one ends in a hash of the whole, so that two
 * long ids stay apart. */
static char *agent_flow_name(const char *stream, const char *pattern)
{
    size_t n = strlen(stream) + strlen(pattern) + 10;
    char *id = malloc(n);
    if (id == NULL)
        return NULL;
    snprintf(id, n, "kinesis:%s:%s", stream, pattern);
    if (strlen(id) <= SP_CFG_NAME_MAX)
        return id;
    uint64_t h = 0xcbf29ce484222325ULL;         /* FNV-1a: stable, no key needed */
    for (const char *c = id; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
    snprintf(id + SP_CFG_NAME_MAX - 17, 18, "~%016llx", (unsigned long long)h);
    return id;
}

/* The flow's keys and its one file source's (filePattern) side by side. */
static int agent_flow(const cx *x, json_object *o, size_t idx, sp_flow_cfg *f)
{
    char fp[SP_CFG_PATH], p[SP_CFG_PATH];
    sp_jsonpos_index(fp, "flows", idx);
    json_object *ds;
    if (json_object_object_get_ex(o, "deliveryStream", &ds))
        return fail(x, fp, "is a Firehose flow (deliveryStream %.128s): shardpipe writes to Kinesis "
                           "Data Streams only; remove the flow or keep the Kinesis Agent for it",
                    json_object_to_json_string(ds));
    f->sources = calloc(1, sizeof *f->sources);
    if (f->sources == NULL)
        return fail(x, fp, "out of memory");
    f->nsources = 1;
    f->sources[0].kind = SP_SRC_FILE;
    sp_cfg_target t = {.flow = f, .source = &f->sources[0]};
    if (sp_cfg_defaults(x, SP_CFG_SOURCE, &t) != SP_OK ||
        sp_cfg_object(x, fp, o, SP_CFG_FLOW | SP_CFG_SOURCE, &t, agent_unknown) != SP_OK)
        return SP_ERR;
    if (f->sources[0].path == NULL) {
        sp_jsonpos_key(p, fp, "filePattern");
        return fail(x, p, "missing: the glob of the files to send");
    }
    if (f->stream == NULL) {
        sp_jsonpos_key(p, fp, "kinesisStream");
        return fail(x, p, "missing: the name of the Kinesis data stream to write to");
    }
    f->name = agent_flow_name(f->stream, f->sources[0].path);
    if (f->name == NULL)
        return fail(x, fp, "out of memory");
    return SP_OK;
}

/* kinesis.REGION.amazonaws.com[.cn] (or kinesis-fips.): the agent's Java
 * SDK signs for the region in the endpoint, so an agent.json often gives
 * only kinesis.endpoint. */
static int region_from_endpoint(const char *url, char **out)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    const char *r;
    if (strncmp(h, "kinesis.", 8) == 0)
        r = h + 8;
    else if (strncmp(h, "kinesis-fips.", 13) == 0)
        r = h + 13;
    else
        return SP_OK;
    size_t n = strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-");
    if (n == 0 || strncmp(r + n, ".amazonaws.com", 14) != 0)
        return SP_OK;
    *out = strndup(r, n);
    return *out == NULL ? SP_ERR : SP_OK;
}

int sp_config_agent(const cx *x, json_object *root, sp_config *c)
{
    sp_cfg_target t = {.top = c};
    if (sp_cfg_object(x, "", root, SP_CFG_TOP, &t, agent_unknown) != SP_OK)
        return SP_ERR;
    /* "" counts as unset, as in the agent: the table has made it NULL */
    if ((c->access_key_id == NULL) != (c->secret_access_key == NULL))
        return fail(x, c->access_key_id ? "awsAccessKeyId" : "awsSecretAccessKey",
                    "given without %s", c->access_key_id ? "awsSecretAccessKey" : "awsAccessKeyId");
    static const char *const orphans[3] = {"assumeRoleExternalId", NULL, "sts.endpoint"};
    if (sp_cfg_role_orphans(x, c, "assumeRoleARN", orphans) != SP_OK)
        return SP_ERR;
    if (c->region == NULL && c->endpoint != NULL && region_from_endpoint(c->endpoint, &c->region) != SP_OK)
        return fail(x, "kinesis.endpoint", "out of memory");
    json_object *flows = NULL;
    json_object_object_get_ex(root, "flows", &flows);
    return sp_cfg_flows(x, flows, c, agent_flow);
}
