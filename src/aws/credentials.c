/* The credential provider chain and region lookup (KINESIS.md §6).
 *
 * Providers are rows of a table, tried in order; each says "found",
 * "nothing here" (and notes what it looked at, for the final message), or
 * fails the whole resolution when a source exists but is broken. Secrets
 * and tokens only ever live in heap copies that are wiped before free, and
 * no message quotes them, nor an access key id that failed validation (it
 * may be a secret pasted into the wrong place). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shardpipe/buf.h"
#include "shardpipe/credentials.h"
#include "shardpipe/ecscreds.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/http.h"
#include "shardpipe/imds.h"
#include "shardpipe/ini.h"
#include "shardpipe/profile.h"
#include "shardpipe/sts.h"
#include "shardpipe/webidentity.h"

/* The system-wide boto file. Tests point it elsewhere through an injected
 * getenv_fn; the real environment is never asked, so a deployment always
 * gets boto2's file set. */
#define BOTO_SYSTEM_FILE "/etc/boto.cfg"
#define BOTO_SYSTEM_TEST_VAR "SHARDPIPE_TEST_BOTO_SYSTEM_FILE"

#define AKID_RULE "3 to 128 characters from A-Z, a-z, 0-9 and _"

static const sp_creds_opts default_opts;

/* --- small helpers -------------------------------------------------------- */

static const char *env(const sp_creds_opts *o, const char *name)
{
    const char *v = o->getenv_fn ? o->getenv_fn(name, o->getenv_arg) : getenv(name);
    return (v != NULL && v[0] != '\0') ? v : NULL;   /* empty counts as unset */
}

static int nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* A control character (a stray CR, say) would end up in a signed header. */
static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* snprintf for text that is only shown: cutting it short is fine. */
static void show(char *dst, size_t n, const char *fmt, ...) SP_PRINTF(3, 4);

static void show(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* The option strings a copy owns; secret ones are wiped when freed. */
#define OPT_STRINGS(X)                                                             \
    X(access_key_id, 0) X(secret_access_key, 1) X(session_token, 1) X(profile, 0) \
    X(role_arn, 0) X(external_id, 1) X(role_session_name, 0) X(sts_endpoint, 0)  \
    X(region, 0)

void sp_creds_opts_free(sp_creds_opts *o)
{
    if (o == NULL)
        return;
#define FREE_ONE(f, secret)      \
    if (secret)                  \
        sp_wipe_free((char *)o->f); \
    else                         \
        free((char *)o->f);
    OPT_STRINGS(FREE_ONE)
#undef FREE_ONE
    memset(o, 0, sizeof *o);
}

int sp_creds_opts_copy(sp_creds_opts *dst, const sp_creds_opts *src, sp_err *err)
{
    memset(dst, 0, sizeof *dst);
    if (src == NULL)
        return SP_OK;
    dst->getenv_fn = src->getenv_fn;
    dst->getenv_arg = src->getenv_arg;
    int ok = 1;
#define COPY_ONE(f, secret)                                        \
    (void)(secret);                                                \
    if (ok && src->f != NULL && (dst->f = strdup(src->f)) == NULL) \
        ok = 0;
    OPT_STRINGS(COPY_ONE)
#undef COPY_ONE
    if (!ok) {
        sp_creds_opts_free(dst);
        return sp_err_set(err, "out of memory");
    }
    return SP_OK;
}


const char *sp_creds_profile(const sp_creds_opts *o)
{
    if (o == NULL)
        o = &default_opts;
    if (nonempty(o->profile))
        return o->profile;
    const char *p = env(o, "AWS_PROFILE");
    if (p == NULL)
        p = env(o, "AWS_DEFAULT_PROFILE");
    return p ? p : "default";
}

/* What names the three values carry in one source, for messages. */
typedef struct names {
    const char *akid, *secret, *token;
} names;

static const names file_names = {"aws_access_key_id", "aws_secret_access_key",
                                 "aws_session_token"};

/* Checks a found set and fills out. where names the source in messages;
 * source is what sp_creds.source will say. */
static int accept(const char *where, const names *n, const char *akid, const char *secret,
                  const char *token, const char *source, sp_creds *out, sp_err *err)
{
    if (akid == NULL)
        return sp_err_set(err, "%s: %s is set but %s is missing", where, n->secret, n->akid);
    if (secret == NULL)
        return sp_err_set(err, "%s: %s is set but %s is missing", where, n->akid, n->secret);
    if (!sp_creds_akid_ok(akid))
        return sp_err_set(err, "%s: %s is malformed (expected " AKID_RULE ")", where,
                          n->akid);
    if (has_ctl(secret))
        return sp_err_set(err, "%s: %s contains a control character", where, n->secret);
    if (token != NULL && has_ctl(token))
        return sp_err_set(err, "%s: %s contains a control character", where, n->token);

    memset(out, 0, sizeof *out);
    strcpy(out->access_key_id, akid);   /* valid_akid bounded it */
    if ((out->secret = strdup(secret)) == NULL ||
        (token != NULL && (out->token = strdup(token)) == NULL)) {
        sp_creds_free(out);
        return sp_err_set(err, "%s: out of memory", where);
    }
    show(out->source, sizeof out->source, "%s", source);
    return SP_OK;
}

/* --- the chain's shared state --------------------------------------------- */

/* A source that needs the network, chosen by the chain. */
enum net { NET_NONE, NET_WEBID, NET_ECS, NET_IMDS };

typedef struct chain {
    const sp_creds_opts *o;
    const char *profile;
    int sync;                      /* sp_creds_resolve: no network sources */
    enum net net;                  /* what the chain ended on, if not keys */
    int imds_off;                  /* AWS_EC2_METADATA_DISABLED: said up front */
    char url[SP_URL_MAX];          /* container credentials */
    sp_imds_opts imds;
    /* A profile with role_arn: its keys (heap, freed by chain_free); with
     * web_identity_token_file they are web identity's, else the role is
     * assumed on what the profile's source gives. */
    char *prole[SP_ROLE_NKEYS];
    int prole_set;
    char prole_where[SP_CREDS_SOURCE_MAX];
    char looked[SP_ERR_MSG_MAX];   /* what was tried, for "nothing found" */
    size_t looked_len;
} chain;

static void note(chain *c, const char *fmt, ...) SP_PRINTF(2, 3);

static void note(chain *c, const char *fmt, ...)
{
    size_t room = sizeof c->looked - c->looked_len;
    if (room <= 1)
        return;
    if (c->looked_len > 0) {
        int n = snprintf(c->looked + c->looked_len, room, "; ");
        c->looked_len += (size_t)n < room ? (size_t)n : room - 1;
        room = sizeof c->looked - c->looked_len;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->looked + c->looked_len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->looked_len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Fills path from the variable var ("~/" expanded with HOME) or from
 * HOME + home_rel. SP_OK, SP_ERR (too long), or 1: no HOME to build it. */
static int file_path(const sp_creds_opts *o, const char *var, const char *home_rel,
                     char *path, size_t len, sp_err *err)
{
    const char *v = var ? env(o, var) : NULL;
    const char *home = env(o, "HOME");
    int n;
    if (v != NULL && !(v[0] == '~' && (v[1] == '/' || v[1] == '\0')))
        n = snprintf(path, len, "%s", v);
    else if (home == NULL)
        return 1;
    else if (v != NULL)
        n = snprintf(path, len, "%s%s", home, v + 1);
    else
        n = snprintf(path, len, "%s/%s", home, home_rel);
    if (n < 0 || (size_t)n >= len)
        return sp_err_set(err, "%s: path too long", var ? var : home_rel);
    return SP_OK;
}

/* Shared by the credentials and config file providers. */
static int profile_file(chain *c, const char *kind, const char *var, const char *home_rel,
                        enum sp_profile_match match, sp_creds *out, int *found, sp_err *err)
{
    char path[PATH_MAX];
    int rc = file_path(c->o, var, home_rel, path, sizeof path, err);
    if (rc == SP_ERR)
        return sp_err_prefix(err, "%s", kind);
    if (rc == 1) {
        note(c, "%s (HOME and %s not set)", kind, var);
        return SP_OK;
    }
    sp_profile s = {.match = match, .name = c->profile};
    rc = sp_profile_read(kind, path, &s, err);
    if (rc == SP_ERR)
        goto out;
    char want[80];
    if (match == SP_PROFILE_EXACT || strcmp(c->profile, "default") == 0)
        snprintf(want, sizeof want, "[%s]", c->profile);
    else
        snprintf(want, sizeof want, "[profile %s]", c->profile);
    if (rc == SP_INI_MISSING) {
        note(c, "%s %s (not found)", kind, path);
        rc = SP_OK;
    } else if (!s.seen) {
        note(c, "%s %s (no %s)", kind, path, want);
    } else if (!s.have_akid && s.secret == NULL) {
        if (s.unsupported)
            note(c, "%s %s ([%s] uses %s, which shardpipe does not support)", kind, path,
                 s.section, s.unsupported);
        else
            note(c, "%s %s ([%s] has no aws_access_key_id)", kind, path, s.section);
    } else if (s.akid_bad_line != 0) {
        rc = sp_err_set(err, "%s %s:%zu, profile [%s]: aws_access_key_id is malformed "
                             "(expected " AKID_RULE ")", kind, path, s.akid_bad_line, s.section);
    } else {
        char source[SP_CREDS_SOURCE_MAX];
        show(source, sizeof source, "%s %s, profile [%s]", kind, path, s.section);
        rc = accept(source, &file_names, s.have_akid ? s.akid : NULL, s.secret,
                    sp_profile_token(&s), source, out, err);
        if (rc == SP_OK)
            *found = 1;
    }
out:
    sp_profile_free(&s);
    return rc;
}

/* --- providers -------------------------------------------------------------- */

typedef int (*provider_fn)(chain *c, sp_creds *out, int *found, sp_err *err);

static int from_cli(chain *c, sp_creds *out, int *found, sp_err *err)
{
    static const names n = {"access key id", "secret access key", "session token"};
    const sp_creds_opts *o = c->o;
    const char *akid = nonempty(o->access_key_id) ? o->access_key_id : NULL;
    const char *secret = nonempty(o->secret_access_key) ? o->secret_access_key : NULL;
    if (akid == NULL && secret == NULL) {
        if (nonempty(o->session_token))
            return sp_err_set(err, "command line: a session token needs an access key id "
                                   "and a secret access key");
        note(c, "command line (no keys given)");
        return SP_OK;
    }
    const char *token = nonempty(o->session_token) ? o->session_token : NULL;
    if (accept("command line", &n, akid, secret, token, "command line", out, err) != SP_OK)
        return SP_ERR;
    *found = 1;
    return SP_OK;
}

static int from_env(chain *c, sp_creds *out, int *found, sp_err *err)
{
    names n = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
    /* As botocore and the AWS CLI: a profile chosen explicitly (not
     * through AWS_PROFILE) overrides credentials in the environment. */
    if (nonempty(c->o->profile)) {
        note(c, "environment (skipped: profile given explicitly)");
        return SP_OK;
    }
    const char *akid = env(c->o, "AWS_ACCESS_KEY_ID");
    const char *secret = env(c->o, "AWS_SECRET_ACCESS_KEY");
    if (akid == NULL && secret == NULL) {
        note(c, "environment (AWS_ACCESS_KEY_ID not set)");
        return SP_OK;
    }
    const char *token = env(c->o, "AWS_SESSION_TOKEN");
    if (token == NULL && (token = env(c->o, "AWS_SECURITY_TOKEN")) != NULL)
        n.token = "AWS_SECURITY_TOKEN";
    if (accept("environment", &n, akid, secret, token, "environment (AWS_ACCESS_KEY_ID)", out,
               err) != SP_OK)
        return SP_ERR;
    *found = 1;
    return SP_OK;
}

static int from_shared_file(chain *c, sp_creds *out, int *found, sp_err *err)
{
    return profile_file(c, "shared credentials file", "AWS_SHARED_CREDENTIALS_FILE",
                        ".aws/credentials", SP_PROFILE_EXACT, out, found, err);
}

static int from_config_file(chain *c, sp_creds *out, int *found, sp_err *err)
{
    return profile_file(c, "config file", "AWS_CONFIG_FILE", ".aws/config", SP_PROFILE_CONFIG,
                        out, found, err);
}

/* boto2 semantics (KINESIS.md §6.2): BOTO_CONFIG alone if set; otherwise
 * /etc/boto.cfg then ~/.boto, a key in a later file overriding the same
 * key in an earlier one. */
static int from_boto(chain *c, sp_creds *out, int *found, sp_err *err)
{
    static const names n = {"aws_access_key_id", "aws_secret_access_key",
                            "aws_security_token"};
    char paths[2][PATH_MAX];
    int npaths = 0, rc;

    const char *only = env(c->o, "BOTO_CONFIG");
    if (only != NULL) {
        rc = file_path(c->o, "BOTO_CONFIG", NULL, paths[0], sizeof paths[0], err);
        if (rc == SP_ERR)
            return sp_err_prefix(err, "boto file");
        if (rc == 1) {
            note(c, "boto file %s (HOME not set)", only);
            return SP_OK;
        }
        npaths = 1;
    } else {
        const char *sys = c->o->getenv_fn ? env(c->o, BOTO_SYSTEM_TEST_VAR) : NULL;
        int n = snprintf(paths[npaths++], sizeof paths[0], "%s", sys ? sys : BOTO_SYSTEM_FILE);
        if (n < 0 || (size_t)n >= sizeof paths[0])
            return sp_err_set(err, "boto file: path too long");
        rc = file_path(c->o, NULL, ".boto", paths[npaths], sizeof paths[0], err);
        if (rc == SP_ERR)
            return sp_err_prefix(err, "boto file");
        if (rc == 1)
            note(c, "boto file ~/.boto (HOME not set)");
        else
            npaths++;
    }

    /* Merged values, and which file each came from. */
    sp_profile m = {.match = SP_PROFILE_EXACT, .name = "Credentials"};
    int akid_from = -1, secret_from = -1, any = 0;
    size_t bad_line = 0;
    rc = SP_OK;
    for (int i = 0; i < npaths; i++) {
        sp_profile s = {.match = SP_PROFILE_EXACT, .name = "Credentials"};
        int r = sp_profile_read("boto file", paths[i], &s, err);
        if (r == SP_ERR) {
            sp_profile_free(&s);
            rc = SP_ERR;
            goto out;
        }
        if (r == SP_INI_MISSING)
            note(c, "boto file %s (not found)", paths[i]);
        else if (!s.have_akid && s.secret == NULL)
            note(c, "boto file %s (no [Credentials] keys)", paths[i]);
        if (s.have_akid) {
            strcpy(m.akid, s.akid);
            m.have_akid = 1;
            bad_line = s.akid_bad_line;
            akid_from = i;
        }
        if (s.secret != NULL) {
            sp_wipe_free(m.secret);
            m.secret = s.secret;
            s.secret = NULL;
            secret_from = i;
        }
        const char *tok = sp_profile_token(&s);
        if (tok != NULL && sp_secret_set(&m.token, tok) != SP_OK) {
            sp_profile_free(&s);
            rc = sp_err_set(err, "boto file %s: out of memory", paths[i]);
            goto out;
        }
        any |= s.have_akid || secret_from == i;
        sp_profile_free(&s);
    }
    if (!any)
        goto out;
    if (bad_line != 0) {
        rc = sp_err_set(err, "boto file %s:%zu: aws_access_key_id is malformed (expected "
                             AKID_RULE ")", paths[akid_from], bad_line);
        goto out;
    }

    char where[SP_CREDS_SOURCE_MAX];
    int a = akid_from >= 0 ? akid_from : secret_from;
    int b = secret_from >= 0 ? secret_from : akid_from;
    if (a == b)
        show(where, sizeof where, "boto file %s", paths[a]);
    else
        show(where, sizeof where, "boto files %s and %s", paths[a < b ? a : b],
                 paths[a < b ? b : a]);
    rc = accept(where, &n, m.have_akid ? m.akid : NULL, m.secret, m.token, where, out, err);
    if (rc == SP_OK)
        *found = 1;
out:
    sp_profile_free(&m);
    return rc;
}

/* The network sources only choose here; sp_creds_resolve_start asks
 * them. Without the loop (sp_creds_resolve) they are only noted. */
static int net_chosen(chain *c, enum net kind, const char *what, int *found)
{
    if (c->sync) {
        note(c, "%s (not tried here)", what);
        return SP_OK;
    }
    c->net = kind;
    *found = 1;
    return SP_OK;
}

/* botocore's: the variables alone, both needed (a profile's
 * web_identity_token_file is not supported yet). */
static int from_webid(chain *c, sp_creds *out, int *found, sp_err *err)
{
    (void)out;
    (void)err;
    const char *file = env(c->o, "AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *arn = env(c->o, "AWS_ROLE_ARN");
    if (file == NULL || arn == NULL) {
        note(c, "web identity (no AWS_%s)", file ? "ROLE_ARN" : "WEB_IDENTITY_TOKEN_FILE");
        return SP_OK;
    }
    return net_chosen(c, NET_WEBID, "web identity", found);
}

static int from_container(chain *c, sp_creds *out, int *found, sp_err *err)
{
    (void)out;
    const char *rel = env(c->o, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env(c->o, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel == NULL && full == NULL) {
        note(c, "container credentials (no AWS_CONTAINER_CREDENTIALS_*_URI)");
        return SP_OK;
    }
    if (sp_ecs_url(rel, full, c->url, sizeof c->url, err) != SP_OK)
        return sp_err_prefix(err, "container credentials");
    return net_chosen(c, NET_ECS, "container credentials", found);
}

static int env_true(const chain *c, const char *name)
{
    const char *v = env(c->o, name);
    return v != NULL && strcasecmp(v, "true") == 0;
}

static int from_imds(chain *c, sp_creds *out, int *found, sp_err *err)
{
    (void)out;
    if (env_true(c, "AWS_EC2_METADATA_DISABLED")) {
        c->imds_off = 1;
        return SP_OK;
    }
    c->imds.endpoint = env(c->o, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    c->imds.mode = env(c->o, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    c->imds.v1_disabled = env_true(c, "AWS_EC2_METADATA_V1_DISABLED");
    char base[SP_URL_MAX];
    if (sp_imds_base(&c->imds, base, sizeof base, err) != SP_OK)
        return sp_err_prefix(err, "instance metadata");
    return net_chosen(c, NET_IMDS, "instance metadata", found);
}

static void chain_free(chain *c)
{
    for (int i = 0; i < SP_ROLE_NKEYS; i++)
        sp_wipe_free(c->prole[i]);
}

/* Where a profile role gets its base credentials (botocore's
 * credential_source values). */
static int role_source(chain *c, const char *cs, sp_creds *out, int *found, sp_err *err)
{
    static const names n = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
    int rc = SP_OK;
    if (strcmp(cs, "Environment") == 0) {
        const char *akid = env(c->o, "AWS_ACCESS_KEY_ID"), *sec = env(c->o, "AWS_SECRET_ACCESS_KEY");
        if (akid == NULL && sec == NULL)
            return sp_err_set(err, "%s: credential_source Environment, but AWS_ACCESS_KEY_ID is "
                                   "not set", c->prole_where);
        rc = accept("environment", &n, akid, sec, env(c->o, "AWS_SESSION_TOKEN"),
                    "environment (AWS_ACCESS_KEY_ID)", out, err);
        *found = rc == SP_OK;
        return rc;
    }
    int ecs = strcmp(cs, "EcsContainer") == 0;
    if (!ecs && strcmp(cs, "Ec2InstanceMetadata") != 0)
        return sp_err_set(err, "%s: credential_source must be Environment, Ec2InstanceMetadata "
                               "or EcsContainer", c->prole_where);
    int sync = c->sync;
    c->sync = 0;   /* the role itself needs the loop anyway */
    rc = ecs ? from_container(c, out, found, err) : from_imds(c, out, found, err);
    c->sync = sync;
    if (rc == SP_OK && !*found)
        rc = sp_err_set(err, "%s: credential_source %s, but %s", c->prole_where, cs,
                        ecs ? "AWS_CONTAINER_CREDENTIALS_*_URI is not set"
                            : "AWS_EC2_METADATA_DISABLED is set");
    return rc;
}

/* role_arn in the profile, with exactly one of source_profile,
 * credential_source and web_identity_token_file (botocore's
 * AssumeRoleProvider and web identity profiles); the credentials file's
 * keys override the config file's. A source_profile gives static keys:
 * a chain of role profiles is not supported. */
static int from_profile_role(chain *c, sp_creds *out, int *found, sp_err *err)
{
    static const struct {
        const char *kind, *var, *rel;
        enum sp_profile_match m;
    } files[] = {{"config file", "AWS_CONFIG_FILE", ".aws/config", SP_PROFILE_CONFIG},
                 {"shared credentials file", "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials",
                  SP_PROFILE_EXACT}};
    for (int f = 0; f < 2; f++) {
        char path[PATH_MAX];
        int rc = file_path(c->o, files[f].var, files[f].rel, path, sizeof path, err);
        if (rc == SP_ERR)
            return sp_err_prefix(err, "%s", files[f].kind);
        if (rc == 1)
            continue;
        sp_profile p = {.match = files[f].m, .name = c->profile};
        /* a broken file is reported by its own provider, if the chain gets there */
        int bad = sp_profile_read(files[f].kind, path, &p, err) == SP_ERR;
        for (int i = 0; !bad && i < SP_ROLE_NKEYS; i++) {
            if (p.role[i] == NULL)
                continue;
            sp_wipe_free(c->prole[i]);
            c->prole[i] = p.role[i];
            p.role[i] = NULL;
            show(c->prole_where, sizeof c->prole_where, "%s %s, profile [%s]", files[f].kind,
                 path, p.section);
        }
        sp_profile_free(&p);
    }
    const char *sp = c->prole[SP_ROLE_SOURCE_PROFILE], *cs = c->prole[SP_ROLE_CREDENTIAL_SOURCE];
    const char *wf = c->prole[SP_ROLE_TOKEN_FILE];
    if (c->prole[SP_ROLE_ARN] == NULL) {
        if (sp || cs || wf)
            return sp_err_set(err, "%s: %s needs role_arn", c->prole_where,
                              sp ? "source_profile" : cs ? "credential_source" : "web_identity_token_file");
        return SP_OK;
    }
    if ((sp != NULL) + (cs != NULL) + (wf != NULL) != 1)
        return sp_err_set(err, "%s: role_arn needs exactly one of source_profile, "
                               "credential_source and web_identity_token_file", c->prole_where);
    if (wf != NULL)
        return net_chosen(c, NET_WEBID, "web identity profile", found);
    c->prole_set = 1;
    if (cs != NULL)
        return role_source(c, cs, out, found, err);
    /* the source profile's own keys, from either file */
    const char *self = c->profile;
    c->profile = sp;
    int rc = from_shared_file(c, out, found, err);
    if (rc == SP_OK && !*found)
        rc = from_config_file(c, out, found, err);
    c->profile = self;
    if (rc == SP_OK && !*found)
        rc = sp_err_set(err, "%s: source_profile %s has no aws_access_key_id (a chain of role "
                             "profiles is not supported)", c->prole_where, sp);
    return rc;
}

/* The chain, in order (KINESIS.md §6.1). */
static const struct provider {
    const char *name;
    provider_fn fn;
} providers[] = {
    {"command line", from_cli},
    {"environment", from_env},
    {"web identity", from_webid},
    {"role profile", from_profile_role},
    {"shared credentials file", from_shared_file},
    {"config file", from_config_file},
    {"boto file", from_boto},
    {"container credentials", from_container},
    {"instance metadata", from_imds},
};

/* SP_OK with keys in out, or with c->net set (nothing in out). */
static int chain_walk(chain *c, sp_creds *out, sp_err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++) {
        int found = 0;
        if (providers[i].fn(c, out, &found, err) != SP_OK) {
            sp_creds_free(out);
            return SP_ERR;
        }
        if (found)
            return SP_OK;
    }
    return sp_err_set(err, "no AWS credentials found for profile \"%s\"%s; looked at: %s",
                      c->profile, c->imds_off ? " (AWS_EC2_METADATA_DISABLED is set)" : "", c->looked);
}

static int chain_resolve(const sp_creds_opts *o, sp_creds *out, sp_err *err)
{
    chain c = {.o = o, .profile = sp_creds_profile(o), .sync = 1};
    int rc = chain_walk(&c, out, err);
    if (rc == SP_OK && c.prole_set) {
        sp_creds_free(out);
        rc = sp_err_set(err, "%s: assuming role %s needs a request on the event loop",
                        c.prole_where, c.prole[SP_ROLE_ARN]);
    }
    chain_free(&c);
    return rc;
}

/* A resolution waiting for the network: a platform source (web
 * identity, container credentials, instance metadata), then STS
 * AssumeRole when a role is asked for, or only the latter. It owns a copy
 * of the options, since a step may start from a callback. */
struct sp_creds_job {
    sp_creds_opts o;
    sp_http *http;
    long skew;
    enum net net;
    sp_webid_call *webid;
    sp_ecs_call *ecs;
    sp_imds_call *imds;
    sp_sts_call *sts;
    sp_creds_done_fn done;
    void *arg;
    /* The roles to assume in turn on the base: a profile's, then
     * o.role_arn. Heap strings; the external IDs are wiped. */
    struct job_role {
        char *arn, *external_id, *session_name;
    } roles[2];
    int nroles, next;
    char looked[SP_ERR_MSG_MAX];   /* the chain's notes, for instance metadata's failure */
};

static void job_free(sp_creds_job *j)
{
    sp_creds_opts_free(&j->o);
    for (int i = 0; i < j->nroles; i++) {
        free(j->roles[i].arn);
        sp_wipe_free(j->roles[i].external_id);
        free(j->roles[i].session_name);
    }
    free(j);
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    return !nonempty(src) || (*dst = strdup(src)) != NULL;
}

static int add_role(sp_creds_job *j, const char *arn, const char *ext, const char *session)
{
    struct job_role *r = &j->roles[j->nroles++];
    return dup_opt(&r->arn, arn) && dup_opt(&r->external_id, ext) &&
           dup_opt(&r->session_name, session);
}

static int start_role(sp_creds_job *j, const sp_creds *base, sp_err *err);

/* Hands the result over; the job is gone first: the callback may start
 * the next resolution. */
static void job_end(sp_creds_job *j, sp_creds_result *res)
{
    sp_creds_done_fn done = j->done;
    void *darg = j->arg;
    job_free(j);
    done(darg, res);
}

/* Credentials came: when roles are left to assume, the next one is
 * assumed with them (1: taken over, the job goes on or has ended). */
static int next_role(sp_creds_job *j, sp_creds_result *res)
{
    if (res->rc != SP_OK || j->next >= j->nroles)
        return 0;
    sp_creds_result r;
    memset(&r, 0, sizeof r);
    int rc = start_role(j, &res->creds, &r.err);
    sp_creds_free(&res->creds);
    if (rc != SP_OK) {
        r.rc = SP_ERR;
        job_end(j, &r);
    }
    return 1;
}

static void on_role(void *arg, sp_creds_result *res)
{
    sp_creds_job *j = arg;
    j->sts = NULL;
    if (!next_role(j, res))     /* the next role, on this one */
        job_end(j, res);
}

void sp_creds_job_cancel(sp_creds_job *j)
{
    if (j == NULL)
        return;
    sp_sts_cancel(j->sts);
    sp_webid_cancel(j->webid);
    sp_ecs_cancel(j->ecs);
    sp_imds_cancel(j->imds);
    job_free(j);
}

/* STS goes to an explicit endpoint, else the SDKs' variables (the
 * service's, then the global one), else the regional one. */
static void sts_endpoint(const sp_creds_opts *o, const char **url, const char **from)
{
    *url = o->sts_endpoint;
    *from = "STS endpoint";
    static const char *const vars[] = {"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"};
    for (size_t i = 0; i < 2 && !nonempty(*url); i++) {
        *url = env(o, vars[i]);
        *from = vars[i];
    }
}

/* The region STS is asked in: o->region, else as sp_region_resolve. */
static int sts_region(const sp_creds_opts *o, char *buf, size_t len, const char **r, sp_err *err)
{
    *r = o->region;
    if (nonempty(*r))
        return SP_OK;
    if (sp_region_resolve(o, NULL, buf, len, err) != SP_OK)
        return SP_ERR;
    *r = buf;
    return SP_OK;
}

/* Exchanges base for the next role's credentials. */
static int start_role(sp_creds_job *j, const sp_creds *base, sp_err *err)
{
    const sp_creds_opts *o = &j->o;
    const struct job_role *r = &j->roles[j->next++];
    char region[64];
    sp_sts_opts so = {0};
    if (sts_region(o, region, sizeof region, &so.region, err) != SP_OK)
        return sp_err_prefix(err, "assuming role %s", r->arn);
    sts_endpoint(o, &so.endpoint, &so.endpoint_from);
    so.role_arn = r->arn;
    so.external_id = r->external_id;
    so.session_name = r->session_name;
    so.skew = j->skew;
    return sp_sts_assume_role_start(j->http, &so, base, on_role, j, &j->sts, err);
}

/* The platform source answered: the result, or the base for a role. */
static void on_base(void *arg, sp_creds_result *res)
{
    sp_creds_job *j = arg;
    j->webid = NULL;
    j->ecs = NULL;
    j->imds = NULL;
    if (next_role(j, res))
        return;
    if (res->rc != SP_OK && j->net == NET_IMDS) {
        /* the last resort: say what else was looked at */
        sp_err e = res->err;
        sp_err_setc(&res->err, e.code, "%s; no other AWS credentials for profile \"%s\": "
                    "looked at %s", e.msg, sp_creds_profile(&j->o), j->looked);
    }
    if (res->rc != SP_OK && j->nroles > 0)
        sp_err_prefix(&res->err, "assuming role %s", j->roles[0].arn);
    job_end(j, res);
}

/* Starts the platform source the chain chose. */
static int start_net(sp_creds_job *j, const chain *c, sp_err *err)
{
    const sp_creds_opts *o = &j->o;
    if (c->net == NET_ECS) {
        sp_ecs_opts eo = {c->url, env(o, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                          env(o, "AWS_CONTAINER_AUTHORIZATION_TOKEN"), 0};
        return sp_ecs_start(j->http, &eo, on_base, j, &j->ecs, err);
    }
    if (c->net == NET_IMDS)
        return sp_imds_creds_start(j->http, &c->imds, on_base, j, &j->imds, err);
    char region[64];
    sp_webid_opts wo = {0};
    if (sts_region(o, region, sizeof region, &wo.region, err) != SP_OK)
        return sp_err_prefix(err, "web identity");
    sts_endpoint(o, &wo.endpoint, &wo.endpoint_from);
    if (c->prole[SP_ROLE_TOKEN_FILE] != NULL) {
        wo.token_file = c->prole[SP_ROLE_TOKEN_FILE];
        wo.role_arn = c->prole[SP_ROLE_ARN];
        wo.session_name = c->prole[SP_ROLE_SESSION_NAME];
        wo.from = c->prole_where;
    } else {
        wo.token_file = env(o, "AWS_WEB_IDENTITY_TOKEN_FILE");
        wo.role_arn = env(o, "AWS_ROLE_ARN");
        wo.session_name = env(o, "AWS_ROLE_SESSION_NAME");
        wo.from = "environment";
    }
    return sp_webid_start(j->http, &wo, on_base, j, &j->webid, err);
}

int sp_creds_resolve(const sp_creds_opts *o, sp_creds *out, sp_err *err)
{
    if (o == NULL)
        o = &default_opts;
    memset(out, 0, sizeof *out);
    if (nonempty(o->role_arn))
        return sp_err_set(err, "assuming role %s: needs a request on the event loop "
                               "(sp_creds_resolve_start)", o->role_arn);
    return chain_resolve(o, out, err);
}

int sp_creds_resolve_start(const sp_creds_opts *o, sp_http *http, long skew, sp_creds *out,
                           sp_creds_done_fn done, void *arg, sp_creds_job **job, sp_err *err)
{
    if (o == NULL)
        o = &default_opts;
    memset(out, 0, sizeof *out);
    *job = NULL;
    int role = nonempty(o->role_arn);
    chain c = {.o = o, .profile = sp_creds_profile(o)};
    sp_creds base;
    if (chain_walk(&c, &base, err) != SP_OK) {
        chain_free(&c);
        return role ? sp_err_prefix(err, "assuming role %s", o->role_arn) : SP_ERR;
    }
    if (c.net == NET_NONE && !role && !c.prole_set) {
        *out = base;
        chain_free(&c);
        return SP_OK;
    }
    sp_creds_job *j = calloc(1, sizeof *j);
    int ok = j != NULL && sp_creds_opts_copy(&j->o, o, err) == SP_OK;
    if (ok && c.prole_set)
        ok = add_role(j, c.prole[SP_ROLE_ARN], c.prole[SP_ROLE_EXTERNAL_ID],
                      c.prole[SP_ROLE_SESSION_NAME]);
    if (ok && role)
        ok = add_role(j, o->role_arn, o->external_id, o->role_session_name);
    if (!ok) {
        if (j)
            job_free(j);
        sp_creds_free(&base);
        chain_free(&c);
        return sp_err_set(err, "credentials: out of memory");
    }
    j->http = http;
    j->skew = skew;
    j->net = c.net;
    j->done = done;
    j->arg = arg;
    snprintf(j->looked, sizeof j->looked, "%s", c.looked);
    int rc = c.net != NET_NONE ? start_net(j, &c, err) : start_role(j, &base, err);
    sp_creds_free(&base);
    chain_free(&c);
    if (rc != SP_OK) {
        if (j->nroles > 0 && c.net != NET_NONE)
            sp_err_prefix(err, "assuming role %s", j->roles[0].arn);
        job_free(j);
        return SP_ERR;
    }
    *job = j;
    return SP_OK;
}

/* The source a job is waiting for, for messages until it ends. */
const char *sp_creds_job_source(const sp_creds_job *j)
{
    if (j == NULL)
        return "";
    if (j->sts != NULL || j->net == NET_NONE)
        return "a role profile (being assumed)";
    return j->net == NET_WEBID ? "web identity (being fetched)"
           : j->net == NET_ECS ? "container credentials (being fetched)"
                               : "instance metadata (being fetched)";
}

/* --- region ----------------------------------------------------------- */

static int put_region(const char *where, const char *r, char *out, size_t outlen,
                      sp_err *err)
{
    if (sp_region_check(where, r, err) != SP_OK)
        return SP_ERR;
    if (strlen(r) >= outlen)
        return sp_err_set(err, "%s: no room for the region", where);
    strcpy(out, r);
    return SP_OK;
}

const char *sp_region_given(const sp_creds_opts *o, const char *cli_region, const char **where)
{
    if (o == NULL)
        o = &default_opts;
    if (nonempty(cli_region)) {
        *where = "--region";
        return cli_region;
    }
    static const char *const vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
    for (size_t i = 0; i < 2; i++) {
        const char *r = env(o, vars[i]);
        if (r != NULL) {
            *where = vars[i];
            return r;
        }
    }
    *where = NULL;
    return NULL;
}

int sp_region_resolve(const sp_creds_opts *o, const char *cli_region,
                      char *out, size_t outlen, sp_err *err)
{
    if (o == NULL)
        o = &default_opts;
    if (outlen > 0)
        out[0] = '\0';
    const char *where;
    const char *given = sp_region_given(o, cli_region, &where);
    if (given != NULL)
        return put_region(where, given, out, outlen, err);

    const char *profile = sp_creds_profile(o);
    char path[PATH_MAX];
    int rc = file_path(o, "AWS_CONFIG_FILE", ".aws/config", path, sizeof path, err);
    if (rc == SP_ERR)
        return sp_err_prefix(err, "config file");
    int have_path = rc == SP_OK;
    if (have_path) {
        sp_profile s = {.match = SP_PROFILE_CONFIG, .name = profile};
        rc = sp_profile_read("config file", path, &s, err);
        if (rc == SP_OK && (s.region[0] != '\0' || s.region_long)) {
            char where[PATH_MAX + 100];
            show(where, sizeof where, "config file %s, profile [%s], region", path,
                 s.section);
            rc = s.region_long ? sp_err_set(err, "%s: too long to be a region", where)
                               : put_region(where, s.region, out, outlen, err);
            sp_profile_free(&s);
            return rc;
        }
        sp_profile_free(&s);
        if (rc == SP_ERR)
            return SP_ERR;
    }
    /* last, as botocore: the instance's own region */
    chain c = {.o = o};
    sp_err why = {0};
    int found = 0;
    if (from_imds(&c, NULL, &found, &why) == SP_OK && found &&
        sp_imds_region(&c.imds, out, outlen, &why) == SP_OK)
        return SP_OK;
    return sp_err_set(err, "no AWS region: pass --region, set AWS_REGION, or put "
                           "\"region = us-east-1\" (say) in the %s%s] section of %s (%s)",
                      strcmp(profile, "default") == 0 ? "[" : "[profile ", profile,
                      have_path ? path : "~/.aws/config",
                      why.msg[0] ? why.msg : "instance metadata: disabled");
}
