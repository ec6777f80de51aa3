/* The keys of the configuration, one table for both dialects, the way
 * Fluent Bit's config_map drives its parsing: for each key its name in
 * shardpipe's dialect and in the Kinesis Agent's agent.json, where it
 * sits (top level, a flow, a source), its type and range, its default
 * and the field it sets. A key is read in one place, sp_cfg_set, for
 * both dialects; config_native.c and config_agent.c add only the shape
 * (flows, sources) and the checks across keys. agent.json's keys that
 * shardpipe does not translate are in the table too, refused or ignored
 * with the reason. tests/check_config.c holds the table against
 * man/shardpipe.json.5. */
#ifndef SHARDPIPE_CONFIG_KEYS_H
#define SHARDPIPE_CONFIG_KEYS_H

#include <stddef.h>

#include "shardpipe/config_types.h"
#include "shardpipe/config_value.h"

struct json_object;

/* Where a key sits; bits, so that a lookup can take several. */
enum sp_cfg_scope { SP_CFG_TOP = 1, SP_CFG_FLOW = 2, SP_CFG_SOURCE = 4 };

enum sp_cfg_type {
    SP_CFG_STR,      /* a string, then the key's check */
    SP_CFG_BOOL,     /* true or false, into an int */
    SP_CFG_UINT,     /* a whole number in [min, max] */
    SP_CFG_MS,       /* milliseconds: a whole number in [min, max] */
    SP_CFG_SIZE,     /* bytes, a number or "5MiB"; agent.json: a number, as the agent reads it */
    SP_CFG_ENUM,     /* one of the names of the dialect */
    SP_CFG_RATE,     /* "80%" or 80, into a double share (0.8) */
    SP_CFG_CUSTOM,   /* read by the key's own function */
    SP_CFG_SPECIAL,  /* the shape (flows, sources, type): read by the dialect itself */
    SP_CFG_IGNORED,  /* agent.json: accepted with a warning that says why */
    SP_CFG_REFUSED,  /* agent.json: refused, saying why */
};

typedef struct sp_cfg_enum {
    const char *name;
    int value;
    const char *str;         /* non-NULL: the field is a string, and gets this */
} sp_cfg_enum;

/* flags */
#define SP_CFG_EMPTY_OK 1u    /* shardpipe's dialect: "" is read, and checked */
#define SP_CFG_AGENT_UNSET 2u /* agent.json: "" means not set (the agent's isNullOrEmpty) */

struct sp_cfg_key;
typedef int sp_cfg_custom_fn(const sp_cfg_cx *x, const struct sp_cfg_key *k, const char *p,
                             struct json_object *v, void *obj);

typedef struct sp_cfg_key {
    const char *name;        /* shardpipe's dialect; NULL: agent.json only */
    const char *agent;       /* agent.json; NULL: shardpipe's dialect only */
    unsigned scope;          /* one enum sp_cfg_scope */
    enum sp_cfg_type type;
    unsigned kinds;          /* a source's: the kinds that take it, bits 1 << SP_SRC_* */
    size_t off, width;       /* the field in sp_config, sp_flow_cfg or sp_source_cfg; width 0: none */
    unsigned long long min, max;
    unsigned long long def;  /* numbers, booleans, rates (in %) */
    const char *sdef;        /* strings; enums, by their name in shardpipe's dialect */
    const char *agent_sdef;  /* agent.json's default, where it differs */
    const sp_cfg_enum *names;       /* ENUM: shardpipe's dialect, ending in {NULL} */
    const sp_cfg_enum *agent_names; /* ENUM: agent.json's; NULL: the same */
    sp_cfg_check_fn *check;  /* STR: after the string is read; NULL: none */
    sp_cfg_custom_fn *custom;
    unsigned flags;
    const char *why;         /* IGNORED, REFUSED */
} sp_cfg_key;

extern const sp_cfg_key sp_cfg_keys[];
extern const size_t sp_cfg_nkeys;

/* The objects keys are written to: top for SP_CFG_TOP keys, and so on. */
typedef struct sp_cfg_target {
    sp_config *top;
    sp_flow_cfg *flow;
    sp_source_cfg *source;
} sp_cfg_target;

/* "file", "tcp", ... and back. */
const char *sp_cfg_kind_name(enum sp_source_kind kind);
int sp_cfg_kind_parse(const char *s, enum sp_source_kind *out);

/* The key named name in the dialect among the scopes given, or NULL. */
const sp_cfg_key *sp_cfg_find(int agent, unsigned scopes, const char *name);
/* Reads v, the value of key k at path p, into its field. */
int sp_cfg_set(const sp_cfg_cx *x, const sp_cfg_key *k, const char *p, struct json_object *v,
               const sp_cfg_target *t);
/* Sets the defaults of the keys of one scope (a source's: of its kind). */
int sp_cfg_defaults(const sp_cfg_cx *x, unsigned scope, const sp_cfg_target *t);

/* Called with a key the table does not know in the dialect; fails. */
typedef int sp_cfg_unknown_fn(const sp_cfg_cx *x, const char *p, const char *key);
/* Reads every key of object o (at path) in file order: a key of one of
 * the scopes is set, a SPECIAL one passed over, a source's key of
 * another kind of source refused, any other key handed to unknown. */
int sp_cfg_object(const sp_cfg_cx *x, const char *path, struct json_object *o, unsigned scopes,
                  const sp_cfg_target *t, sp_cfg_unknown_fn *unknown);

/* ---- the shape both dialects share ---- */

/* "flows": an array of 1 to SP_CFG_FLOWS_MAX objects, each read by parse
 * into c->flows (with the flow's defaults set first). */
#define SP_CFG_FLOWS_MAX 1024
typedef int sp_cfg_flow_fn(const sp_cfg_cx *x, struct json_object *o, size_t idx, sp_flow_cfg *f);
int sp_cfg_flows(const sp_cfg_cx *x, struct json_object *v, sp_config *c, sp_cfg_flow_fn *parse);
/* Settings that mean nothing without a role, keys[i] naming external_id,
 * role_session_name and sts_endpoint in the dialect (NULL: none). Our
 * dialect refuses them; the agent ignores them, so agent.json warns. */
int sp_cfg_role_orphans(const sp_cfg_cx *x, const sp_config *c, const char *role_key,
                        const char *const keys[3]);

#endif
