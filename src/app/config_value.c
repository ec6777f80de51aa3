/* One configuration value, read and checked (config_value.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "shardpipe/config_types.h"
#include "shardpipe/config_value.h"
#include "shardpipe/creds.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/ere.h"
#include "shardpipe/javaregex.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/parse.h"
#include "shardpipe/partition.h"
#include "shardpipe/source.h"
#include "shardpipe/sts.h"

#define MIB SP_CFG_MIB
#define REGEX_MAX SP_CFG_REGEX_MAX
#define NAME_LEN_MAX SP_CFG_NAME_MAX
#define TERMINATOR_MAX SP_CFG_TERMINATOR_MAX
/* The Kinesis Agent keeps its checkpoints in an SQLite database: writing
 * ours over it would destroy them, so we keep ours beside it. */
#define AGENT_CKPT_SUFFIX ".shardpipe"

typedef sp_cfg_cx cx;
#define fail sp_cfg_fail
#define get_str sp_cfg_get_str
#define jtype sp_jsonpos_type

int sp_cfg_fail(const cx *x, const char *path, const char *fmt, ...)
{
    char msg[SP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= sizeof msg)
        msg[sp_utf8_cut(msg, sizeof msg - 1)] = '\0';
    if (path != NULL && path[0] != '\0')
        return sp_err_set(x->err, "%s: %s: %s", x->name, path, msg);
    return sp_err_set(x->err, "%s: %s", x->name, msg);
}

void sp_cfg_ignored(const cx *x, const char *path, const char *why)
{
    sp_log_warn(x->lg, "%s: accepted but ignored: %s: %s", x->name, path, why);
}

/* "5MiB" rather than 5242880 in messages. */
void sp_cfg_fmt_size(char *out, size_t n, unsigned long long v)
{
    if (v != 0 && v % (1ULL << 30) == 0)
        snprintf(out, n, "%lluGiB", v >> 30);
    else if (v != 0 && v % MIB == 0)
        snprintf(out, n, "%lluMiB", v >> 20);
    else if (v != 0 && v % 1024 == 0)
        snprintf(out, n, "%lluKiB", v >> 10);
    else
        snprintf(out, n, "%llu", v);
}

/* ---- typed values ---- */

/* A string without NUL characters, copied into *out (replacing it). */
int sp_cfg_get_str(const cx *x, const char *p, json_object *v, int empty_ok, char **out)
{
    if (!json_object_is_type(v, json_type_string))
        return fail(x, p, "must be a string, not %s", jtype(v));
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (memchr(s, '\0', n) != NULL)
        return fail(x, p, "must not contain a NUL character");
    if (n == 0 && !empty_ok)
        return fail(x, p, "must not be empty");
    char *d = strdup(s);
    if (d == NULL)
        return fail(x, p, "out of memory");
    free(*out);
    *out = d;
    return SP_OK;
}

/* An integer as a message shows it. json-c saturates what does not fit in
 * 64 bits, so the two ends are shown as bounds, not as the value written. */
static const char *int_shown(json_object *v, char *buf, size_t n)
{
    int64_t i = json_object_get_int64(v);
    if (i == INT64_MIN)
        snprintf(buf, n, "%lld or less", (long long)i);
    else if (i < 0)
        snprintf(buf, n, "%lld", (long long)i);
    else if (i == INT64_MAX && json_object_get_uint64(v) == UINT64_MAX)
        snprintf(buf, n, "%llu or more", (unsigned long long)UINT64_MAX);
    else
        snprintf(buf, n, "%llu", i == INT64_MAX ? (unsigned long long)json_object_get_uint64(v)
                                                : (unsigned long long)i);
    return buf;
}

/* A whole number in [min, max]. agent.json may spell it as a string. */
int sp_cfg_get_uint(const cx *x, const char *p, json_object *v, unsigned long long min,
                    unsigned long long max, unsigned long long *out)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        char shown[48];
        /* json-c keeps values above INT64_MAX as unsigned */
        unsigned long long u = i == INT64_MAX ? (unsigned long long)json_object_get_uint64(v)
                                              : (unsigned long long)i;
        if (i < 0 || u < min || u > max)
            return fail(x, p, "must be %llu to %llu, not %s", min, max, int_shown(v, shown, sizeof shown));
        *out = u;
        return SP_OK;
    }
    if (x->text && json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (sp_parse_uint(s, min, max, out) == 0)
            return SP_OK;
        return fail(x, p, "must be %llu to %llu, not '%.64s'", min, max, s);
    }
    if (json_object_is_type(v, json_type_double))
        return fail(x, p, "must be a whole number from %llu to %llu, not %.64s", min, max,
                    json_object_to_json_string(v));
    return fail(x, p, "must be a number, not %s", jtype(v));
}

/* A byte count: a number, or a string with K/M/G (KiB, MiB, GiB) as the
 * command line takes them. */
int sp_cfg_get_size(const cx *x, const char *p, json_object *v, unsigned long long min,
                    unsigned long long max, unsigned long long *out)
{
    char lo[32], hi[32];
    sp_cfg_fmt_size(lo, sizeof lo, min);
    sp_cfg_fmt_size(hi, sizeof hi, max);
    unsigned long long u = 0;
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        char shown[48];
        u = i == INT64_MAX ? (unsigned long long)json_object_get_uint64(v) : (unsigned long long)i;
        if (i < 0 || u < min || u > max)
            return fail(x, p, "must be a size from %s to %s, not %s", lo, hi, int_shown(v, shown, sizeof shown));
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (sp_parse_size(s, max, &u) != 0 || u < min)
            return fail(x, p, "must be a size from %s to %s (a number of bytes or a string "
                              "such as \"5MiB\"), not '%.64s'", lo, hi, s);
    } else {
        return fail(x, p, "must be a size (a number of bytes or a string such as \"5MiB\"), not %s",
                    jtype(v));
    }
    *out = u;
    return SP_OK;
}

int sp_cfg_get_bool(const cx *x, const char *p, json_object *v, int *out)
{
    if (json_object_is_type(v, json_type_boolean)) {
        *out = json_object_get_boolean(v) ? 1 : 0;
        return SP_OK;
    }
    if (x->text && json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0) {
            *out = strcasecmp(s, "true") == 0;
            return SP_OK;
        }
    }
    return fail(x, p, "must be true or false, not %s", jtype(v));
}

/* "80%" or 80: a share of each shard's write limit, as --shard-rate. */
int sp_cfg_get_rate(const cx *x, const char *p, json_object *v, double *out)
{
    unsigned long long pct = 0;
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        char shown[48];
        if (i < 1 || i > 1000)
            return fail(x, p, "must be 1%% to 1000%% of each shard's write limit, not %s",
                        int_shown(v, shown, sizeof shown));
        pct = (unsigned long long)i;
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char buf[16];
        size_t n = strlen(s);
        if (n == 0 || n >= sizeof buf)
            return fail(x, p, "must be 1%% to 1000%% of each shard's write limit, not '%.64s'", s);
        memcpy(buf, s, n + 1);
        if (buf[n - 1] == '%')
            buf[n - 1] = '\0';
        if (sp_parse_uint(buf, 1, 1000, &pct) != 0)
            return fail(x, p, "must be 1%% to 1000%% of each shard's write limit, not '%.64s'", s);
    } else {
        return fail(x, p, "must be a percentage such as \"80%%\", not %s", jtype(v));
    }
    *out = (double)pct / 100.0;
    return SP_OK;
}

/* ---- checks of single values ---- */

int sp_cfg_check_region(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    if (!sp_region_valid(*val))
        return fail(x, p, "'%.64s' is not a region name (1 to %d lowercase letters, digits and '-', "
                          "starting with a letter, e.g. us-east-1)", *val, SP_REGION_NAME_MAX);
    return SP_OK;
}

/* "" never gets here: it is unset in agent.json, refused in our dialect. */
int sp_cfg_check_endpoint(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    /* The agent's Java SDK takes a bare host name and adds https://. */
    if (x->agent && strstr(*val, "://") == NULL) {
        size_t n = strlen(*val);
        char *u = malloc(n + 9);
        if (u == NULL)
            return fail(x, p, "out of memory");
        memcpy(u, "https://", 8);
        memcpy(u + 8, *val, n + 1);
        free(*val);
        *val = u;
    }
    char host[256];
    sp_err e;
    if (sp_endpoint_host(*val, host, sizeof host, &e) != SP_OK)
        return fail(x, p, "%s", e.msg);
    return SP_OK;
}

/* The checks sts.c makes again before each call; here they fail early,
 * with the key path. */
static int check_sts(const cx *x, const char *p, const char *s,
                     int (*check)(const char *, sp_err *))
{
    sp_err e;
    if (check(s, &e) != SP_OK)
        return fail(x, p, "%s", e.msg);
    return SP_OK;
}

static int check_abs(const cx *x, const char *p, const char *s)
{
    if (s[0] != '/')
        return fail(x, p, "must be an absolute path, not '%.200s'", s);
    return SP_OK;
}

/* An existing directory; dir is the directory part of what p names. */
static int check_dir(const cx *x, const char *p, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return fail(x, p, "no such directory %s", dir);
        return fail(x, p, "%s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return fail(x, p, "%s is not a directory", dir);
    return SP_OK;
}

/* A file glob: absolute, with a file name part, and the directory it
 * starts from (the part before the first metacharacter) must exist. A
 * missing directory is almost always a typo; at run time it would just
 * never yield a file. Files are found with glob(3), which has no {a,b}:
 * a Java glob from agent.json that uses it would match nothing, so it is
 * refused. */

/* The directory path[0..cut) (the root when cut is 0) must exist. */
static int check_dir_of(const cx *x, const char *p, const char *path, size_t cut)
{
    char dir[PATH_MAX];
    if (cut >= sizeof dir)
        return fail(x, p, "the directory part is longer than %d bytes", PATH_MAX - 1);
    if (cut == 0) {
        dir[0] = '/';
        dir[1] = '\0';
    } else {
        memcpy(dir, path, cut);
        dir[cut] = '\0';
    }
    return check_dir(x, p, dir);
}

static int check_glob(const cx *x, const char *p, const char *glob)
{
    if (check_abs(x, p, glob) != SP_OK)
        return SP_ERR;
    size_t n = strlen(glob);
    if (n >= PATH_MAX)
        return fail(x, p, "is longer than %d bytes", PATH_MAX - 1);
    if (glob[n - 1] == '/')
        return fail(x, p, "'%.200s' names a directory; add a file name or pattern such as *.log", glob);
    if (strchr(glob, '{') != NULL)
        return fail(x, p, "'%.200s': {a,b} alternatives are not supported (glob(3) has *, ? and [...]); "
                          "use one %s per alternative", glob, x->agent ? "flow" : "source");
    size_t lim = strcspn(glob, "*?[");
    size_t cut = 0;
    for (size_t i = 0; i < lim; i++)
        if (glob[i] == '/')
            cut = i;
    return check_dir_of(x, p, glob, cut);
}

static int check_unix_path(const cx *x, const char *p, const char *path)
{
    struct sockaddr_un sa;
    if (check_abs(x, p, path) != SP_OK)
        return SP_ERR;
    if (strlen(path) >= sizeof sa.sun_path)
        return fail(x, p, "is %zu bytes long; a unix socket path must be shorter than %zu",
                    strlen(path), sizeof sa.sun_path);
    if (path[strlen(path) - 1] == '/')
        return fail(x, p, "'%s' names a directory, not a socket", path);
    return check_dir_of(x, p, path, (size_t)(strrchr(path, '/') - path));
}

/* A numeric IPv4 or IPv6 address ("::1" or "[::1]"): the listener does
 * not resolve names, so that start-up never waits on DNS. */
static int check_bind(const cx *x, const char *p, const char *s)
{
    unsigned char a[sizeof(struct in6_addr)];
    char v6[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(s);
    if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
        return SP_OK;
    if (n > 2 && n < sizeof v6 && s[0] == '[' && s[n - 1] == ']') {
        memcpy(v6, s + 1, n - 2);
        v6[n - 2] = '\0';
        if (inet_pton(AF_INET6, v6, a) == 1)
            return SP_OK;
    }
    return fail(x, p, "'%.64s' is not a numeric IP address (e.g. 127.0.0.1 or ::1; names are not resolved)", s);
}

static int check_name(const cx *x, const char *p, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_LEN_MAX ||
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
        return fail(x, p, "'%.64s' is not a flow name (1 to %d of letters, digits, '_', '.', '-')",
                    s, NAME_LEN_MAX);
    return SP_OK;
}

static int check_key_spec(const cx *x, const char *p, const char *spec)
{
    sp_partition part;
    sp_err e;
    int rc = sp_partition_parse(spec, &part, &e);
    sp_partition_free(&part);
    if (rc != SP_OK)
        return fail(x, p, "%s", e.msg);
    return SP_OK;
}

/* ---- regular expressions ---- */

/* With the checks every user pattern gets (ere.h): no back-references,
 * a bounded size. */
static int compile_ere(const cx *x, const char *p, const char *re, const char *shown)
{
    regex_t r;
    sp_err e;
    if (sp_ere_compile(&r, re, REG_NOSUB, &e) != SP_OK)
        return fail(x, p, "'%.200s' %s", shown, e.msg);
    regfree(&r);
    return SP_OK;
}

static int check_ere(const cx *x, const char *p, const char *re)
{
    sp_err e;
    if (re[0] == '\0')
        return fail(x, p, "must not be empty (leave the key out to treat every line as a record)");
    if (strlen(re) > REGEX_MAX)
        return fail(x, p, "is longer than %d bytes", REGEX_MAX);
    if (sp_ere_bad_escape(re, &e) != SP_OK)
        return fail(x, p, "%s", e.msg);
    return compile_ere(x, p, re, re);
}

/* Access key ids as the credentials module takes them. */
static int check_akid(const cx *x, const char *p, const char *s)
{
    if (!sp_creds_akid_ok(s))
        return fail(x, p, "is not an access key id (3 to 128 letters, digits or '_')");
    return SP_OK;
}


/* ---- the checks in the shape of the key table's ---- */

int sp_cfg_check_role_arn(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    return check_sts(x, p, *val, sp_sts_check_role_arn);
}

int sp_cfg_check_external_id(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    return check_sts(x, p, *val, sp_sts_check_external_id);
}

int sp_cfg_check_session_name(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    return check_sts(x, p, *val, sp_sts_check_session_name);
}

int sp_cfg_check_akid(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    return check_akid(x, p, *val);
}

int sp_cfg_check_profile(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    if (strlen(*val) > 128 || strpbrk(*val, "[]\t\r\n") != NULL)
        return fail(x, p, "'%.64s' is not a profile name", *val);
    return SP_OK;
}

int sp_cfg_check_checkpoint(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    if (check_abs(x, p, *val) != SP_OK)
        return SP_ERR;
    if (!x->agent)
        return SP_OK;
    size_t n = strlen(*val) + sizeof AGENT_CKPT_SUFFIX;
    char *d = malloc(n);
    if (d == NULL)
        return fail(x, p, "out of memory");
    snprintf(d, n, "%s%s", *val, AGENT_CKPT_SUFFIX);
    free(*val);
    *val = d;
    return SP_OK;
}

int sp_cfg_check_log_file(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    if (check_abs(x, p, *val) != SP_OK)
        return SP_ERR;
    const char *slash = strrchr(*val, '/');
    if (slash[1] == '\0')
        return fail(x, p, "must name a file, not the directory '%.200s'", *val);
    /* A missing directory is a typo; the file itself is made at start. */
    return check_dir_of(x, p, *val, (size_t)(strrchr(*val, '/') - *val));
}

int sp_ca_file_check(const char *path, sp_err *err)
{
    static const char mark[] = "-----BEGIN CERTIFICATE-----";
    const size_t ml = sizeof mark - 1;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return sp_err_setc(err, errno == ENOENT ? SP_E_NOENT : SP_E_INVALID, "cannot read '%.200s': %s", path,
                           strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        fclose(f);
        return sp_err_setc(err, SP_E_INVALID, "'%.200s' is a directory, not a file of PEM certificates", path);
    }
    /* the mark may straddle two reads: keep the last ml - 1 bytes */
    char buf[4096 + sizeof mark];
    size_t have = 0, n;
    int found = 0, bad = 0;
    while (!found && (n = fread(buf + have, 1, sizeof buf - 1 - have, f)) > 0) {
        have += n;
        buf[have] = '\0';
        found = memmem(buf, have, mark, ml) != NULL;
        size_t keep = have < ml - 1 ? have : ml - 1;
        memmove(buf, buf + have - keep, keep);
        have = keep;
    }
    bad = ferror(f);
    fclose(f);
    if (bad)
        return sp_err_setc(err, SP_E_IO, "cannot read '%.200s'", path);
    if (!found)
        return sp_err_setc(err, SP_E_INVALID, "'%.200s' holds no PEM certificate (no '%s' line)", path, mark);
    return SP_OK;
}

int sp_cfg_check_ca_file(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    sp_err e;
    if (sp_ca_file_check(*val, &e) != SP_OK)
        return fail(x, p, "%s", e.msg);
    return SP_OK;
}

int sp_cfg_check_stream(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    sp_err e;
    if (sp_kinesis_check_stream_name(*val, &e) != SP_OK)
        return fail(x, p, "%s", e.msg);
    return SP_OK;
}

int sp_cfg_check_name(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    return check_name(x, p, *val);
}

int sp_cfg_check_key_spec(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    return check_key_spec(x, p, *val);
}

int sp_cfg_check_terminator(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    if (strlen(*val) > TERMINATOR_MAX)
        return fail(x, p, "must be at most %d bytes", TERMINATOR_MAX);
    return SP_OK;
}

/* agent.json's multiLineStartPattern is a Java regex, which the agent
 * applies with Matcher.lookingAt(): it is translated (javaregex.h) and
 * then gets every check an ERE gets, shown as written. */
int sp_cfg_check_multiline(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    if (!x->agent)
        return check_ere(x, p, *val);
    char *ere = NULL;
    sp_err e;
    if (sp_javaregex_to_ere(*val, &ere, &e) != SP_OK)
        return fail(x, p, "%s", e.msg);
    if (compile_ere(x, p, ere, *val) != SP_OK) {
        free(ere);
        return SP_ERR;
    }
    free(*val);
    *val = ere;
    return SP_OK;
}

int sp_cfg_check_source_path(const cx *x, const char *p, char **val, const void *obj)
{
    const sp_source_cfg *s = obj;
    return s->kind == SP_SRC_FILE ? check_glob(x, p, *val) : check_unix_path(x, p, *val);
}

int sp_cfg_check_bind(const cx *x, const char *p, char **val, const void *obj)
{
    (void)obj;
    return check_bind(x, p, *val);
}
