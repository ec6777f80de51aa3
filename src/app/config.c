/* The JSON configuration of `shardpipe run` (man shardpipe.json(5)): the
 * shardpipe dialect and the Amazon Kinesis Agent's agent.json, both read
 * with json-c into one sp_config. Validation is strict: an unknown key, a
 * wrong type or a value out of range is an error naming the key path,
 * because a setting dropped without a word is worse than one refused. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#include "shardpipe/endpoint.h"
#include "shardpipe/batch.h"
#include "shardpipe/buf.h"
#include "shardpipe/parse.h"
#include "shardpipe/config.h"
#include "shardpipe/creds.h"
#include "shardpipe/ere.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/partition.h"
#include "shardpipe/sts.h"

#define CFG_TEXT_MAX ((size_t)4 << 20)  /* configurations are small: a bigger file is the wrong file */
#define KPATH 256                        /* longest key path shown in a message */
#define MS_MAX 3600000ULL                /* an hour, the command line's bound for times */
#define MIB (1ULL << 20)
#define RECORD_MAX (10 * MIB)            /* largest Kinesis record, and so the longest line */
#define FLOWS_MAX 1024
#define SOURCES_MAX 256
#define NAME_LEN_MAX 127                 /* flow.c keeps 127 bytes of a name */
#define TERMINATOR_MAX 1024
#define HEADER_LINES_MAX 1000000ULL
#define CLIENTS_MAX 10000ULL
#define REGEX_MAX 4096
#define DK_DEPTH 64                      /* json-c itself refuses nesting deeper than 32 */

#define DEFAULT_CHECKPOINT "/var/lib/shardpipe/checkpoints"
/* The Kinesis Agent keeps its checkpoints in an SQLite database: writing
 * ours over it would destroy them, so we keep ours beside it. */
#define AGENT_CKPT_SUFFIX ".shardpipe"

/* What every step needs to report: the file's name for messages, the
 * logger for warnings, the error to fill. */
typedef struct cx {
    const char *name;
    const sp_log *lg;
    sp_err *err;
    int agent;            /* agent.json: numbers may be written as strings, as Java reads them */
    char why[KPATH];      /* agent.json: the key that identified the dialect */
} cx;

static int fail(const cx *x, const char *path, const char *fmt, ...) SP_PRINTF(3, 4);

static int fail(const cx *x, const char *path, const char *fmt, ...)
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

static void ignored(const cx *x, const char *path, const char *why)
{
    sp_log_warn(x->lg, "%s: accepted but ignored: %s: %s", x->name, path, why);
}

/* Keys come from the file: anything unprintable is shown as '?', so a
 * message cannot carry terminal escapes. */
static void kpath(char *out, const char *parent, const char *key)
{
    size_t n = 0;
    if (parent[0] != '\0') {
        int k = snprintf(out, KPATH, "%s.", parent);
        n = k < 0 ? 0 : (size_t)k < KPATH ? (size_t)k : KPATH - 1;
    }
    for (; *key != '\0' && n < KPATH - 1; key++)
        out[n++] = isprint((unsigned char)*key) ? *key : '?';
    out[n] = '\0';
}

static void ipath(char *out, const char *parent, size_t i)
{
    char num[32];
    snprintf(num, sizeof num, "[%zu]", i);
    size_t a = strnlen(parent, KPATH - 1), b = strlen(num);
    if (a + b > KPATH - 1)
        b = KPATH - 1 - a;
    memmove(out, parent, a);
    memcpy(out + a, num, b);
    out[a + b] = '\0';
}

static const char *jtype(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double:
    case json_type_int: return "a number";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "an unknown type";
}

/* "5MiB" rather than 5242880 in messages. */
static void fmt_size(char *out, size_t n, unsigned long long v)
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
static int get_str(const cx *x, const char *p, json_object *v, int empty_ok, char **out)
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
static int get_uint(const cx *x, const char *p, json_object *v, unsigned long long min,
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
    if (x->agent && json_object_is_type(v, json_type_string)) {
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
static int get_size(const cx *x, const char *p, json_object *v, unsigned long long min,
                    unsigned long long max, unsigned long long *out)
{
    char lo[32], hi[32];
    fmt_size(lo, sizeof lo, min);
    fmt_size(hi, sizeof hi, max);
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

static int get_bool(const cx *x, const char *p, json_object *v, int *out)
{
    if (json_object_is_type(v, json_type_boolean)) {
        *out = json_object_get_boolean(v) ? 1 : 0;
        return SP_OK;
    }
    if (x->agent && json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0) {
            *out = strcasecmp(s, "true") == 0;
            return SP_OK;
        }
    }
    return fail(x, p, "must be true or false, not %s", jtype(v));
}

/* ---- checks of single values ---- */

static int check_region(const cx *x, const char *p, const char *s)
{
    if (!sp_region_valid(s))
        return fail(x, p, "'%.64s' is not a region name (1 to %d lowercase letters, digits and '-', "
                          "starting with a letter, e.g. us-east-1)", s, SP_REGION_NAME_MAX);
    return SP_OK;
}

static int get_endpoint(const cx *x, const char *p, json_object *v, char **out)
{
    char *s = NULL;
    if (get_str(x, p, v, x->agent, &s) != SP_OK)
        return SP_ERR;
    /* The agent's packaged agent.json has "kinesis.endpoint": "", meaning unset. */
    if (s[0] == '\0') {
        free(s);
        return SP_OK;
    }
    /* The agent's Java SDK takes a bare host name and adds https://. */
    if (x->agent && strstr(s, "://") == NULL) {
        size_t n = strlen(s);
        char *u = malloc(n + 9);
        if (u == NULL) {
            free(s);
            return fail(x, p, "out of memory");
        }
        memcpy(u, "https://", 8);
        memcpy(u + 8, s, n + 1);
        free(s);
        s = u;
    }
    char host[256];
    sp_err e;
    if (sp_endpoint_host(s, host, sizeof host, &e) != SP_OK) {
        free(s);
        return fail(x, p, "%s", e.msg);
    }
    free(*out);
    *out = s;
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

/* Settings that mean nothing without a role. The shardpipe dialect
 * refuses them; the agent ignores them, so agent.json only warns. */
static int role_orphans(const cx *x, sp_config *c, const char *role_key,
                        const char *const keys[3])
{
    char *const vals[3] = {c->external_id, c->role_session_name, c->sts_endpoint};
    if (c->role_arn != NULL)
        return SP_OK;
    for (int i = 0; i < 3; i++) {
        if (vals[i] == NULL || keys[i] == NULL)
            continue;
        if (!x->agent)
            return fail(x, keys[i], "has no effect without %s", role_key);
        char why[96];
        snprintf(why, sizeof why, "only used with %s", role_key);
        ignored(x, keys[i], why);
    }
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

/* glibc reads an unknown escape such as \d as the bare letter, so a
 * pattern written for Perl or Java would compile and quietly match
 * something else: such escapes are refused. */
static int check_ere(const cx *x, const char *p, const char *re)
{
    if (re[0] == '\0')
        return fail(x, p, "must not be empty (leave the key out to treat every line as a record)");
    if (strlen(re) > REGEX_MAX)
        return fail(x, p, "is longer than %d bytes", REGEX_MAX);
    for (const char *c = re; *c != '\0'; c++) {
        if (*c == '[') {
            /* skip the bracket expression, whose backslashes are literal */
            c++;
            if (*c == '^')
                c++;
            if (*c == ']')
                c++;
            while (*c != '\0' && *c != ']') {
                if (*c == '[' && (c[1] == ':' || c[1] == '.' || c[1] == '=')) {
                    char close[3] = {c[1], ']', '\0'};
                    const char *e = strstr(c + 2, close);
                    if (e == NULL)
                        break;
                    c = e + 1;
                }
                c++;
            }
            if (*c == '\0')
                break;
            continue;
        }
        if (*c == '\\') {
            unsigned char e = (unsigned char)c[1];
            if (e == '\0')
                break;
            if (isalpha(e) && strchr("wWsSbB", e) == NULL) {
                const char *hint = e == 'd' ? " (use [0-9])" : e == 'D' ? " (use [^0-9])" : "";
                return fail(x, p, "\\%c is not an escape of POSIX extended regular expressions%s", e, hint);
            }
            c++;
        }
    }
    return compile_ere(x, p, re, re);
}

static int ere_literal(sp_buf *b, char c)
{
    if (strchr(".[]()*+?{}|^$\\", c) != NULL && sp_buf_putc(b, '\\') != SP_OK)
        return SP_ERR;
    return sp_buf_putc(b, c);
}

/* Java's one-letter escapes for control characters, or -1. */
static int java_control(char e)
{
    switch (e) {
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'a': return '\a';
    case 'e': return 0x1b;
    }
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \xhh with an ASCII value, or -1. */
static int java_hex(const char *s)
{
    if (s[0] != 'x' || hexval(s[1]) < 0 || hexval(s[2]) < 0)
        return -1;
    int v = hexval(s[1]) * 16 + hexval(s[2]);
    return v >= 1 && v < 0x80 ? v : -1;
}

/* One Java character class "[...]" starting at *pp, as a POSIX bracket
 * expression. In a bracket ']' is literal only first, '-' only first or
 * last, '^' anywhere but first, and '\' always: escaped ones are collected
 * and put where they keep their meaning. */
static int java_bracket(const cx *x, const char *p, const char **pp, sp_buf *b)
{
    const char *c = *pp + 1;
    char body[512];
    size_t n = 0;
    int neg = 0, rb = 0, dash = 0, caret = 0, bs = 0, lb = 0, last_special = 0;
    if (*c == '^') {
        neg = 1;
        c++;
    }
    if (*c == ']') {
        rb = 1;
        c++;
    }
    for (;;) {
        char ch = *c;
        const char *add = NULL;
        char one[2] = {0, 0};
        int special = 0;
        if (ch == '\0')
            return fail(x, p, "a character class '[' is not closed");
        if (ch == ']')
            break;
        if (ch == '[' || (ch == '&' && c[1] == '&'))
            return fail(x, p, "nested classes and intersections ('[' or '&&' inside [...]) "
                              "have no POSIX equivalent");
        if (ch == '\\') {
            char e = c[1];
            int v;
            c += 2;
            if (e == 'd') {
                add = "0-9";
            } else if (e == 's') {
                add = "[:space:]";
            } else if (e == 'w') {
                add = "[:alnum:]_";
            } else if ((v = java_control(e)) >= 0 || (v = java_hex(c - 1)) >= 0) {
                if (e == 'x')
                    c += 2;
                one[0] = (char)v;
            } else if (e != '\0' && !isalnum((unsigned char)e)) {
                one[0] = e;
            } else {
                return fail(x, p, "\\%c inside [...] has no POSIX equivalent", e ? e : '?');
            }
        } else if (ch == '-' && n > 0 && c[1] != ']') {
            if (last_special)
                return fail(x, p, "a range in [...] may not start at an escaped ']', '\\', '[', '^' or '-'");
            add = "-";
            c++;
        } else {
            one[0] = ch;
            c++;
        }
        if (add == NULL) {
            switch (one[0]) {
            case ']': rb = 1; special = 1; break;
            case '-': dash = 1; special = 1; break;
            case '^': caret = 1; special = 1; break;
            case '\\': bs = 1; special = 1; break;
            case '[': lb = 1; special = 1; break;
            default: add = one;
            }
        }
        if (add != NULL) {
            size_t k = strlen(add);
            if (n + k >= sizeof body)
                return fail(x, p, "a character class is too long");
            memcpy(body + n, add, k);
            n += k;
        }
        last_special = special;
    }
    body[n] = '\0';
    *pp = c + 1;
    /* A lone literal caret cannot be a bracket expression of its own. */
    if (caret && !neg && !rb && n == 0 && !bs && !lb && !dash)
        return sp_buf_puts(b, "\\^");
    sp_buf_putc(b, '[');
    if (neg)
        sp_buf_putc(b, '^');
    if (rb)
        sp_buf_putc(b, ']');
    sp_buf_puts(b, body);
    if (bs)
        sp_buf_putc(b, '\\');
    if (lb)
        sp_buf_putc(b, '[');
    if (caret && !neg && !rb && n == 0 && !bs && !lb) {
        sp_buf_puts(b, "-^");           /* '-' first is literal, so '^' is not first */
        dash = 0;
    } else if (caret) {
        sp_buf_putc(b, '^');
    }
    if (dash)
        sp_buf_putc(b, '-');
    return sp_buf_putc(b, ']');
}

/* A repetition {n}, {n,} or {n,m} at s: its length, or 0. */
static size_t java_repeat(const char *s)
{
    size_t i = 1;
    if (!isdigit((unsigned char)s[i]))
        return 0;
    while (isdigit((unsigned char)s[i]))
        i++;
    if (s[i] == ',') {
        i++;
        while (isdigit((unsigned char)s[i]))
            i++;
    }
    return s[i] == '}' ? i + 1 : 0;
}

/* agent.json's multiLineStartPattern is a Java regex that the agent tries
 * with Matcher.lookingAt(), that is anchored at the start of the line: the
 * ERE is wrapped in ^( ). What means the same in POSIX is translated (\d,
 * \s, \w, (?:, \Q..\E, lazy quantifiers, which match the same lines);
 * anything else is refused rather than guessed. */
static int java_to_ere(const cx *x, const char *p, const char *in, char **out)
{
    sp_buf b;
    sp_buf_init(&b, 4 * REGEX_MAX);
    sp_buf_puts(&b, "^(");
    const char *c = in;
    int rc = SP_OK;
    while (rc == SP_OK && *c != '\0') {
        char ch = *c;
        if (ch == '\\') {
            char e = c[1];
            int v;
            if (e == 'Q') {
                const char *end = strstr(c + 2, "\\E");
                const char *stop = end ? end : c + strlen(c);
                for (const char *q = c + 2; q < stop; q++)
                    ere_literal(&b, *q);
                c = end ? end + 2 : stop;
                continue;
            }
            switch (e) {
            case 'd': sp_buf_puts(&b, "[0-9]"); break;
            case 'D': sp_buf_puts(&b, "[^0-9]"); break;
            case 's': sp_buf_puts(&b, "[[:space:]]"); break;
            case 'S': sp_buf_puts(&b, "[^[:space:]]"); break;
            case 'w': sp_buf_puts(&b, "[[:alnum:]_]"); break;
            case 'W': sp_buf_puts(&b, "[^[:alnum:]_]"); break;
            case 'b': sp_buf_puts(&b, "\\b"); break;
            case 'B': sp_buf_puts(&b, "\\B"); break;
            default:
                if ((v = java_control(e)) >= 0) {
                    ere_literal(&b, (char)v);
                } else if ((v = java_hex(c + 1)) >= 0) {
                    ere_literal(&b, (char)v);
                    c += 2;
                } else if (e != '\0' && !isalnum((unsigned char)e)) {
                    ere_literal(&b, e);
                } else if (e == '\0') {
                    rc = fail(x, p, "ends with a lone backslash");
                } else if (e >= '1' && e <= '9') {
                    /* a back-reference: kept, for the check all patterns get to refuse */
                    sp_buf_putc(&b, '\\');
                    sp_buf_putc(&b, e);
                } else {
                    rc = fail(x, p, "\\%c has no POSIX equivalent; rewrite the pattern "
                                    "without it", e);
                }
            }
            c += 2;
            continue;
        }
        if (ch == '[') {
            rc = java_bracket(x, p, &c, &b);
            continue;
        }
        if (ch == '(' && c[1] == '?') {
            if (c[2] == ':') {
                sp_buf_putc(&b, '(');
                c += 3;
                continue;
            }
            rc = fail(x, p, "(?%c...) groups (look-around, flags, named groups) have no POSIX "
                            "equivalent", c[2] ? c[2] : '?');
            break;
        }
        if (ch == '{') {
            size_t k = java_repeat(c);
            if (k == 0) {
                rc = fail(x, p, "'{' does not start a repetition such as {2} or {1,3}");
                break;
            }
            sp_buf_append(&b, c, k);
            c += k;
        } else if (ch == '}') {
            sp_buf_puts(&b, "\\}");         /* a stray '}' is literal in Java */
            c++;
            continue;
        } else {
            sp_buf_putc(&b, ch);
            c++;
            if (ch != '*' && ch != '+' && ch != '?')
                continue;
        }
        /* after a quantifier: lazy matches the same lines, possessive may not */
        if (*c == '?')
            c++;
        else if (*c == '+')
            rc = fail(x, p, "possessive quantifiers (*+, ++, ?+, {n}+) have no POSIX equivalent");
    }
    if (rc == SP_OK)
        sp_buf_putc(&b, ')');
    if (rc == SP_OK && b.failed)
        rc = fail(x, p, "is too long");
    if (rc == SP_OK)
        rc = compile_ere(x, p, b.data, in);
    if (rc != SP_OK) {
        sp_buf_free(&b);
        return SP_ERR;
    }
    free(*out);
    *out = b.data;              /* handed over: not freed */
    return SP_OK;
}

/* ---- iteration over an object's keys, in file order ---- */

#define EACH_KEY(obj, k, v)                                                              \
    for (struct json_object_iterator it_ = json_object_iter_begin(obj),                  \
                                      end_ = json_object_iter_end(obj);                  \
         !json_object_iter_equal(&it_, &end_) &&                                         \
         ((k) = json_object_iter_peek_name(&it_), (v) = json_object_iter_peek_value(&it_), 1); \
         json_object_iter_next(&it_))

/* ---- the shardpipe dialect ---- */

static const char *const kind_names[] = {"file", "tcp", "udp", "unix", "stdin"};

#define K_FILE (1u << SP_SRC_FILE)
#define K_TCP (1u << SP_SRC_TCP)
#define K_UDP (1u << SP_SRC_UDP)
#define K_UNIX (1u << SP_SRC_UNIX)
#define K_STDIN (1u << SP_SRC_STDIN)

static const struct src_key {
    const char *key;
    unsigned kinds;
} src_keys[] = {
    {"type", K_FILE | K_TCP | K_UDP | K_UNIX | K_STDIN},
    {"path", K_FILE | K_UNIX},
    {"bind", K_TCP | K_UDP},
    {"port", K_TCP | K_UDP},
    {"lines", K_UDP},
    {"max_line", K_TCP | K_UNIX},
    {"max_clients", K_TCP | K_UNIX},
};

static int source_kind(const char *s, enum sp_source_kind *out)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum sp_source_kind)i;
            return SP_OK;
        }
    }
    return SP_ERR;
}

static int native_source(const cx *x, const char *sp, json_object *o, sp_source_cfg *s)
{
    char p[KPATH];
    if (!json_object_is_type(o, json_type_object))
        return fail(x, sp, "must be an object, not %s", jtype(o));
    json_object *t;
    kpath(p, sp, "type");
    if (!json_object_object_get_ex(o, "type", &t))
        return fail(x, p, "missing: file, tcp, udp, unix or stdin");
    char *type = NULL;
    if (get_str(x, p, t, 0, &type) != SP_OK)
        return SP_ERR;
    int rc = source_kind(type, &s->kind);
    if (rc != SP_OK)
        fail(x, p, "'%.64s' is not a source type (file, tcp, udp, unix or stdin)", type);
    free(type);
    if (rc != SP_OK)
        return SP_ERR;
    if (s->kind == SP_SRC_TCP || s->kind == SP_SRC_UNIX)
        s->max_clients = 64;

    const char *k;
    json_object *v;
    unsigned long long u;
    int have_port = 0;
    EACH_KEY(o, k, v) {
        size_t i;
        kpath(p, sp, k);
        for (i = 0; i < sizeof src_keys / sizeof src_keys[0]; i++)
            if (strcmp(k, src_keys[i].key) == 0)
                break;
        if (i == sizeof src_keys / sizeof src_keys[0])
            return fail(x, p, "unknown key");
        if (!(src_keys[i].kinds & (1u << s->kind)))
            return fail(x, p, "is not a key of a %s source", kind_names[s->kind]);
        if (strcmp(k, "path") == 0) {
            if (get_str(x, p, v, 0, &s->path) != SP_OK)
                return SP_ERR;
            rc = s->kind == SP_SRC_FILE ? check_glob(x, p, s->path) : check_unix_path(x, p, s->path);
        } else if (strcmp(k, "bind") == 0) {
            rc = get_str(x, p, v, 0, &s->bind);
            if (rc == SP_OK)
                rc = check_bind(x, p, s->bind);
        } else if (strcmp(k, "port") == 0) {
            rc = get_uint(x, p, v, 1, 65535, &u);
            s->port = (int)u;
            have_port = 1;
        } else if (strcmp(k, "lines") == 0) {
            rc = get_bool(x, p, v, &s->udp_lines);
        } else if (strcmp(k, "max_line") == 0) {
            rc = get_size(x, p, v, 1, RECORD_MAX, &u);
            s->max_line = (size_t)u;
        } else if (strcmp(k, "max_clients") == 0) {
            rc = get_uint(x, p, v, 1, CLIENTS_MAX, &u);
            s->max_clients = (unsigned)u;
        }
        if (rc != SP_OK)
            return SP_ERR;
    }
    if ((s->kind == SP_SRC_FILE || s->kind == SP_SRC_UNIX) && s->path == NULL) {
        kpath(p, sp, "path");
        return fail(x, p, "missing: a %s source needs %s", kind_names[s->kind],
                    s->kind == SP_SRC_FILE ? "a file glob such as /var/log/app/*.log" : "a socket path");
    }
    if ((s->kind == SP_SRC_TCP || s->kind == SP_SRC_UDP) && !have_port) {
        kpath(p, sp, "port");
        return fail(x, p, "missing: a %s source needs a port (1 to 65535)", kind_names[s->kind]);
    }
    if ((s->kind == SP_SRC_TCP || s->kind == SP_SRC_UDP) && s->bind == NULL) {
        s->bind = strdup("127.0.0.1");
        if (s->bind == NULL)
            return fail(x, sp, "out of memory");
    }
    return SP_OK;
}

/* "80%" or 80: a share of each shard's write limit, as --shard-rate. */
static int get_rate(const cx *x, const char *p, json_object *v, double *out)
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

static void flow_defaults(sp_flow_cfg *f)
{
    f->linger_ms = 200;
    f->batch_records = SP_BATCH_MAX_RECORDS;
    f->batch_bytes = SP_BATCH_DEFAULT_BYTES;
    f->oversize = SP_OVERSIZE_SPLIT;
    f->start = SP_START_END;
    f->shard_rate = 1.0;
}

static int has_file_source(const sp_flow_cfg *f)
{
    for (size_t i = 0; i < f->nsources; i++)
        if (f->sources[i].kind == SP_SRC_FILE)
            return 1;
    return 0;
}

static int set_default_str(const cx *x, const char *p, char **dst, const char *val)
{
    if (*dst != NULL)
        return SP_OK;
    *dst = strdup(val);
    if (*dst == NULL)
        return fail(x, p, "out of memory");
    return SP_OK;
}

static int native_flow(const cx *x, json_object *o, size_t idx, sp_flow_cfg *f)
{
    char fp[KPATH], p[KPATH];
    ipath(fp, "flows", idx);
    if (!json_object_is_type(o, json_type_object))
        return fail(x, fp, "must be an object, not %s", jtype(o));
    flow_defaults(f);
    json_object *sources = NULL;
    int have_start = 0, have_skip = 0, have_term = 0, have_match = 0;
    const char *k;
    json_object *v;
    EACH_KEY(o, k, v) {
        unsigned long long u = 0;
        int rc = SP_OK;
        char *tmp = NULL;
        kpath(p, fp, k);
        if (strcmp(k, "name") == 0) {
            rc = get_str(x, p, v, 0, &f->name);
            if (rc == SP_OK)
                rc = check_name(x, p, f->name);
        } else if (strcmp(k, "stream") == 0) {
            sp_err e;
            rc = get_str(x, p, v, 0, &f->stream);
            if (rc == SP_OK && sp_kinesis_check_stream_name(f->stream, &e) != SP_OK)
                rc = fail(x, p, "%s", e.msg);
        } else if (strcmp(k, "sources") == 0) {
            sources = v;
        } else if (strcmp(k, "key") == 0) {
            rc = get_str(x, p, v, 0, &f->key);
            if (rc == SP_OK)
                rc = check_key_spec(x, p, f->key);
        } else if (strcmp(k, "linger_ms") == 0) {
            rc = get_uint(x, p, v, 0, MS_MAX, &u);
            f->linger_ms = (uint32_t)u;
        } else if (strcmp(k, "batch_records") == 0) {
            rc = get_uint(x, p, v, 1, SP_BATCH_MAX_RECORDS, &u);
            f->batch_records = (size_t)u;
        } else if (strcmp(k, "batch_bytes") == 0) {
            rc = get_size(x, p, v, 1, SP_BATCH_MAX_BYTES, &u);
            f->batch_bytes = (size_t)u;
        } else if (strcmp(k, "oversize") == 0) {
            rc = get_str(x, p, v, 0, &tmp);
            if (rc == SP_OK && sp_oversize_parse(tmp, &f->oversize) != 0)
                rc = fail(x, p, "'%.64s' is not split, truncate or drop", tmp);
        } else if (strcmp(k, "truncated_terminator") == 0) {
            rc = get_str(x, p, v, 0, &f->truncated_terminator);
            if (rc == SP_OK && strlen(f->truncated_terminator) > TERMINATOR_MAX)
                rc = fail(x, p, "must be at most %d bytes", TERMINATOR_MAX);
            have_term = 1;
        } else if (strcmp(k, "multiline_start") == 0) {
            rc = get_str(x, p, v, 1, &f->multiline_start);
            if (rc == SP_OK)
                rc = check_ere(x, p, f->multiline_start);
        } else if (strcmp(k, "match_bytes") == 0) {
            rc = get_size(x, p, v, SP_MATCH_BYTES_MIN, SP_MATCH_BYTES_MAX, &u);
            f->match_bytes = (size_t)u;
            have_match = 1;
        } else if (strcmp(k, "skip_header_lines") == 0) {
            rc = get_uint(x, p, v, 0, HEADER_LINES_MAX, &u);
            f->skip_header_lines = (unsigned)u;
            have_skip = 1;
        } else if (strcmp(k, "start") == 0) {
            rc = get_str(x, p, v, 0, &tmp);
            if (rc == SP_OK) {
                if (strcmp(tmp, "end") == 0)
                    f->start = SP_START_END;
                else if (strcmp(tmp, "beginning") == 0)
                    f->start = SP_START_BEGINNING;
                else
                    rc = fail(x, p, "'%.64s' is not end or beginning", tmp);
            }
            have_start = 1;
        } else if (strcmp(k, "shard_rate") == 0) {
            rc = get_rate(x, p, v, &f->shard_rate);
        } else if (strcmp(k, "ordered") == 0) {
            rc = get_bool(x, p, v, &f->ordered);
        } else {
            rc = fail(x, p, "unknown key");
        }
        free(tmp);
        if (rc != SP_OK)
            return SP_ERR;
    }
    if (f->stream == NULL) {
        kpath(p, fp, "stream");
        return fail(x, p, "missing: the name of the Kinesis data stream to write to");
    }
    kpath(p, fp, "sources");
    if (sources == NULL)
        return fail(x, p, "missing: a list of sources such as [{\"type\": \"stdin\"}]");
    if (!json_object_is_type(sources, json_type_array))
        return fail(x, p, "must be an array of sources, not %s", jtype(sources));
    size_t n = json_object_array_length(sources);
    if (n == 0 || n > SOURCES_MAX)
        return fail(x, p, "must hold 1 to %d sources, not %zu", SOURCES_MAX, n);
    f->sources = calloc(n, sizeof *f->sources);
    if (f->sources == NULL)
        return fail(x, p, "out of memory");
    f->nsources = n;
    for (size_t i = 0; i < n; i++) {
        char sp[KPATH];
        ipath(sp, p, i);
        if (native_source(x, sp, json_object_array_get_idx(sources, i), &f->sources[i]) != SP_OK)
            return SP_ERR;
    }
    /* options that could not take effect are refused, not dropped */
    if (have_term && f->oversize != SP_OVERSIZE_TRUNCATE) {
        kpath(p, fp, "truncated_terminator");
        return fail(x, p, "applies only with \"oversize\": \"truncate\"");
    }
    if ((have_start || have_skip || f->multiline_start) && !has_file_source(f)) {
        kpath(p, fp, have_start ? "start" : have_skip ? "skip_header_lines" : "multiline_start");
        return fail(x, p, "applies only to file sources, and this flow has none");
    }
    if (have_match && f->multiline_start == NULL && (f->key == NULL || strncmp(f->key, "regex:", 6) != 0)) {
        kpath(p, fp, "match_bytes");
        return fail(x, p, "applies only with a \"regex:\" key or multiline_start, and this flow has neither");
    }
    char def[KPATH];
    ipath(def, "flows", idx);
    if (set_default_str(x, fp, &f->name, def) != SP_OK || set_default_str(x, fp, &f->key, "random") != SP_OK)
        return SP_ERR;
    return SP_OK;
}

static int get_flows(const cx *x, json_object *v, sp_config *c,
                     int (*parse)(const cx *, json_object *, size_t, sp_flow_cfg *))
{
    if (v == NULL)
        return fail(x, "flows", "missing: at least one flow is needed");
    if (!json_object_is_type(v, json_type_array))
        return fail(x, "flows", "must be an array of flows, not %s", jtype(v));
    size_t n = json_object_array_length(v);
    if (n == 0 || n > FLOWS_MAX)
        return fail(x, "flows", "must hold 1 to %d flows, not %zu", FLOWS_MAX, n);
    c->flows = calloc(n, sizeof *c->flows);
    if (c->flows == NULL)
        return fail(x, "flows", "out of memory");
    c->nflows = n;
    for (size_t i = 0; i < n; i++)
        if (parse(x, json_object_array_get_idx(v, i), i, &c->flows[i]) != SP_OK)
            return SP_ERR;
    return SP_OK;
}

static int native_top(const cx *x, json_object *root, sp_config *c)
{
    json_object *flows = NULL;
    const char *k;
    json_object *v;
    EACH_KEY(root, k, v) {
        char p[KPATH];
        unsigned long long u = 0;
        char *tmp = NULL;
        int rc = SP_OK;
        kpath(p, "", k);
        if (strcmp(k, "region") == 0) {
            rc = get_str(x, p, v, 0, &c->region);
            if (rc == SP_OK)
                rc = check_region(x, p, c->region);
        } else if (strcmp(k, "endpoint") == 0) {
            rc = get_endpoint(x, p, v, &c->endpoint);
        } else if (strcmp(k, "assume_role_arn") == 0) {
            rc = get_str(x, p, v, 0, &c->role_arn);
            if (rc == SP_OK)
                rc = check_sts(x, p, c->role_arn, sp_sts_check_role_arn);
        } else if (strcmp(k, "assume_role_external_id") == 0) {
            rc = get_str(x, p, v, 0, &c->external_id);
            if (rc == SP_OK)
                rc = check_sts(x, p, c->external_id, sp_sts_check_external_id);
        } else if (strcmp(k, "assume_role_session_name") == 0) {
            rc = get_str(x, p, v, 0, &c->role_session_name);
            if (rc == SP_OK)
                rc = check_sts(x, p, c->role_session_name, sp_sts_check_session_name);
        } else if (strcmp(k, "sts_endpoint") == 0) {
            rc = get_endpoint(x, p, v, &c->sts_endpoint);
        } else if (strcmp(k, "profile") == 0) {
            rc = get_str(x, p, v, 0, &c->profile);
            if (rc == SP_OK && (strlen(c->profile) > 128 || strpbrk(c->profile, "[]\t\r\n") != NULL))
                rc = fail(x, p, "'%.64s' is not a profile name", c->profile);
        } else if (strcmp(k, "checkpoint_file") == 0) {
            rc = get_str(x, p, v, 0, &c->checkpoint_file);
            if (rc == SP_OK)
                rc = check_abs(x, p, c->checkpoint_file);
        } else if (strcmp(k, "memory_budget") == 0) {
            rc = get_size(x, p, v, MIB, 1ULL << 40, &u);
            c->memory_budget = (size_t)u;
        } else if (strcmp(k, "log_level") == 0) {
            rc = get_str(x, p, v, 0, &tmp);
            if (rc == SP_OK && sp_log_level_parse(tmp, &c->log_level) != SP_OK)
                rc = fail(x, p, "'%.64s' is not error, warn, info or debug", tmp);
        } else if (strcmp(k, "shutdown_timeout_ms") == 0) {
            rc = get_uint(x, p, v, 0, MS_MAX, &u);
            c->shutdown_timeout_ms = (uint32_t)u;
        } else if (strcmp(k, "file_poll_ms") == 0) {
            rc = get_uint(x, p, v, 10, MS_MAX, &u);
            c->file_poll_ms = (uint32_t)u;
        } else if (strcmp(k, "partial_line_flush_ms") == 0) {
            rc = get_uint(x, p, v, 1, MS_MAX, &u);
            c->partial_line_flush_ms = (uint32_t)u;
        } else if (strcmp(k, "flows") == 0) {
            flows = v;
        } else if (strstr(k, "access_key") != NULL || strstr(k, "secret") != NULL) {
            rc = fail(x, p, "credentials are not read from shardpipe's configuration: use "
                            "\"profile\", the environment or the shared credentials file");
        } else {
            rc = fail(x, p, "unknown key");
        }
        free(tmp);
        if (rc != SP_OK)
            return SP_ERR;
    }
    static const char *const orphans[3] = {"assume_role_external_id", "assume_role_session_name",
                                           "sts_endpoint"};
    if (role_orphans(x, c, "assume_role_arn", orphans) != SP_OK)
        return SP_ERR;
    return get_flows(x, flows, c, native_flow);
}

/* ---- the Kinesis Agent dialect (agent.json) ---- */

/* Keys of agent.json that shardpipe does not translate. A warning is only
 * for what changes nothing about which records are sent where; anything
 * else is an error. The lists follow the agent's documentation (AWS
 * "Writing to Kinesis Data Streams Using Kinesis Agent") and the options
 * its source reads. */
struct agent_key {
    const char *key;
    int refuse;
    const char *why;
};

#define NO_CW "shardpipe does not publish CloudWatch metrics; its counters are in its log"
#define NO_THREADS "shardpipe sends from one event loop; concurrency is requests in flight"
#define NO_HTTP "shardpipe manages its own HTTP connections"
#define NO_LOGM "shardpipe logs its own periodic statistics"
#define NO_QUEUE "buffering is bounded by shardpipe's global memory budget"
#define NO_POLL "file discovery and polling are global in shardpipe (file_poll_ms in its own dialect)"

static const struct agent_key agent_top_keys[] = {
    {"userDefinedCredentialsProvider.classname", 1,
     "Java credential provider classes cannot be loaded; use the environment or a profile"},
    {"userDefinedCredentialsProvider.location", 1,
     "Java credential provider classes cannot be loaded; use the environment or a profile"},
    {"cloudwatch.endpoint", 0, NO_CW},
    {"cloudwatch.tagInstance", 0, NO_CW},
    {"cloudwatch.metricsBufferTimeMillis", 0, NO_CW},
    {"cloudwatch.namespace", 0, NO_CW},
    {"cloudwatch.metricsQueueSize", 0, NO_CW},
    {"firehose.endpoint", 0, "shardpipe has no Firehose flows"},
    {"log.emitMetrics", 0, NO_LOGM},
    {"log.emitInternalMetrics", 0, NO_LOGM},
    {"log.statusReportingPeriodSeconds", 0, NO_LOGM},
    {"maxSendingThreads", 0, NO_THREADS},
    {"maxSendingThreadsPerCore", 0, NO_THREADS},
    {"sendingThreadsKeepAliveMillis", 0, NO_THREADS},
    {"sendingThreadsMaxQueueSize", 0, NO_THREADS},
    {"maxConnections", 0, NO_HTTP},
    {"connectionTimeoutMillis", 0, NO_HTTP},
    {"connectionTTLMillis", 0, NO_HTTP},
    {"socketTimeoutMillis", 0, NO_HTTP},
    {"useTcpKeepAlive", 0, NO_HTTP},
    {"useHttpGzip", 0, NO_HTTP},
    {"userAgent", 0, "shardpipe sends its own User-Agent"},
    {"userAgentOverride", 0, "shardpipe sends its own User-Agent"},
    {"checkpointTimeToLiveDays", 0, "shardpipe drops a file's checkpoint once the file is "
                                    "deleted and fully read"},
};

static const struct agent_key agent_flow_keys[] = {
    {"fileFooterPattern", 1, "stopping at a footer line is not supported"},
    {"aggregatedRecordSizeBytes", 0, "a Firehose option; the Kinesis Agent ignores it in a "
                                     "kinesisStream flow as well"},
    {"minTimeBetweenFilePollsMillis", 0, NO_POLL},
    {"maxTimeBetweenFileTrackerRefreshMillis", 0, NO_POLL},
    {"retryInitialBackoffMillis", 0, "shardpipe retries with its own exponential backoff and jitter"},
    {"retryMaxBackoffMillis", 0, "shardpipe retries with its own exponential backoff and jitter"},
    {"publishQueueCapacity", 0, NO_QUEUE},
    {"waitOnFullPublishQueueMillis", 0, NO_QUEUE},
    {"waitOnEmptyPublishQueueMillis", 0, NO_QUEUE},
    {"waitOnFullRetryQueueMillis", 0, NO_QUEUE},
    {"log.emitInternalMetrics", 0, NO_LOGM},
};

/* The keys the agent dialect translates; with the tables above, these
 * decide which dialect a file is in. */
static const char *const agent_top_translated[] = {
    "awsAccessKeyId", "awsSecretAccessKey", "kinesis.endpoint", "kinesis.region",
    "checkpointFile", "shutdownTimeoutMillis", "cloudwatch.emitMetrics", "assumeRoleARN",
    "assumeRoleExternalId",
};

static const struct agent_key *agent_lookup(const struct agent_key *t, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].key, k) == 0)
            return &t[i];
    return NULL;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* 1 and the reason in why when the file is an agent.json: a top-level key
 * only the agent has (all of its dotted ones included), or a flow with
 * filePattern, kinesisStream or deliveryStream. */
static int detect_agent(json_object *root, char *why)
{
    const char *k;
    json_object *v;
    EACH_KEY(root, k, v) {
        (void)v;
        int hit = strchr(k, '.') != NULL || agent_lookup(agent_top_keys, NELEM(agent_top_keys), k) != NULL;
        for (size_t i = 0; !hit && i < NELEM(agent_top_translated); i++)
            hit = strcmp(k, agent_top_translated[i]) == 0;
        if (hit) {
            kpath(why, "", k);
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
        for (size_t j = 0; j < NELEM(flow_marks); j++) {
            if (json_object_object_get_ex(f, flow_marks[j], NULL)) {
                char fp[KPATH];
                ipath(fp, "flows", i);
                kpath(why, fp, flow_marks[j]);
                return 1;
            }
        }
    }
    return 0;
}

static int agent_unknown(const cx *x, const char *p)
{
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
    if (strlen(id) <= NAME_LEN_MAX)
        return id;
    uint64_t h = 0xcbf29ce484222325ULL;         /* FNV-1a: stable, no key needed */
    for (const char *c = id; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
    snprintf(id + NAME_LEN_MAX - 17, 18, "~%016llx", (unsigned long long)h);
    return id;
}

static int agent_flow(const cx *x, json_object *o, size_t idx, sp_flow_cfg *f)
{
    char fp[KPATH], p[KPATH];
    ipath(fp, "flows", idx);
    if (!json_object_is_type(o, json_type_object))
        return fail(x, fp, "must be an object, not %s", jtype(o));
    flow_defaults(f);
    /* the agent truncates an oversize record and ends it with "\n" */
    f->oversize = SP_OVERSIZE_TRUNCATE;
    json_object *ds;
    if (json_object_object_get_ex(o, "deliveryStream", &ds))
        return fail(x, fp, "is a Firehose flow (deliveryStream %.128s): shardpipe writes to Kinesis "
                           "Data Streams only; remove the flow or keep the Kinesis Agent for it",
                    json_object_to_json_string(ds));
    char *pattern = NULL;
    int have_term = 0;
    const char *k;
    json_object *v;
    EACH_KEY(o, k, v) {
        unsigned long long u = 0;
        int rc = SP_OK;
        char *tmp = NULL;
        const struct agent_key *ak;
        kpath(p, fp, k);
        if (strcmp(k, "filePattern") == 0) {
            rc = get_str(x, p, v, 0, &pattern);
            if (rc == SP_OK)
                rc = check_glob(x, p, pattern);
        } else if (strcmp(k, "kinesisStream") == 0) {
            sp_err e;
            rc = get_str(x, p, v, 0, &f->stream);
            if (rc == SP_OK && sp_kinesis_check_stream_name(f->stream, &e) != SP_OK)
                rc = fail(x, p, "%s", e.msg);
        } else if (strcmp(k, "partitionKeyOption") == 0) {
            rc = get_str(x, p, v, 0, &tmp);
            /* DETERMINISTIC is the MD5 of the record data in hex, as "hash" */
            if (rc == SP_OK && strcmp(tmp, "RANDOM") == 0)
                rc = set_default_str(x, p, &f->key, "random");
            else if (rc == SP_OK && strcmp(tmp, "DETERMINISTIC") == 0)
                rc = set_default_str(x, p, &f->key, "hash");
            else if (rc == SP_OK)
                rc = fail(x, p, "'%.64s' is not RANDOM or DETERMINISTIC", tmp);
        } else if (strcmp(k, "initialPosition") == 0) {
            rc = get_str(x, p, v, 0, &tmp);
            if (rc == SP_OK && strcmp(tmp, "START_OF_FILE") == 0)
                f->start = SP_START_BEGINNING;
            else if (rc == SP_OK && strcmp(tmp, "END_OF_FILE") == 0)
                f->start = SP_START_END;
            else if (rc == SP_OK)
                rc = fail(x, p, "'%.64s' is not START_OF_FILE or END_OF_FILE", tmp);
        } else if (strcmp(k, "multiLineStartPattern") == 0) {
            rc = get_str(x, p, v, 1, &tmp);
            /* empty means one record per line to the agent */
            if (rc == SP_OK && tmp[0] != '\0')
                rc = java_to_ere(x, p, tmp, &f->multiline_start);
        } else if (strcmp(k, "skipHeaderLines") == 0) {
            rc = get_uint(x, p, v, 0, HEADER_LINES_MAX, &u);
            f->skip_header_lines = (unsigned)u;
        } else if (strcmp(k, "truncatedRecordTerminator") == 0) {
            rc = get_str(x, p, v, 1, &f->truncated_terminator);
            if (rc == SP_OK && strlen(f->truncated_terminator) > TERMINATOR_MAX)
                rc = fail(x, p, "must be at most %d bytes", TERMINATOR_MAX);
            if (rc == SP_OK && f->truncated_terminator[0] == '\0') {
                free(f->truncated_terminator);   /* "" is no terminator to the agent */
                f->truncated_terminator = NULL;
            }
            have_term = 1;
        } else if (strcmp(k, "maxBufferAgeMillis") == 0) {
            rc = get_uint(x, p, v, 0, MS_MAX, &u);
            f->linger_ms = (uint32_t)u;
        } else if (strcmp(k, "maxBufferSizeRecords") == 0) {
            rc = get_uint(x, p, v, 1, SP_BATCH_MAX_RECORDS, &u);
            f->batch_records = (size_t)u;
        } else if (strcmp(k, "maxBufferSizeBytes") == 0) {
            rc = get_uint(x, p, v, 1, SP_BATCH_MAX_BYTES, &u);
            f->batch_bytes = (size_t)u;
        } else if (strcmp(k, "dataProcessingOptions") == 0) {
            if (!json_object_is_type(v, json_type_array)) {
                rc = fail(x, p, "must be an array, not %s", jtype(v));
            } else if (json_object_array_length(v) > 0) {
                json_object *first = json_object_array_get_idx(v, 0), *name = NULL;
                json_object_object_get_ex(first, "optionName", &name);
                rc = fail(x, p, "data processing (%.64s%s) is not supported: shardpipe sends records "
                                "as they are read; remove the option or keep the Kinesis Agent "
                                "for this flow",
                          name && json_object_is_type(name, json_type_string) ? json_object_get_string(name) : "?",
                          json_object_array_length(v) > 1 ? ", ..." : "");
            }
        } else if ((ak = agent_lookup(agent_flow_keys, NELEM(agent_flow_keys), k)) != NULL) {
            if (ak->refuse)
                rc = fail(x, p, "not supported: %s", ak->why);
            else
                ignored(x, p, ak->why);
        } else {
            rc = agent_unknown(x, p);
        }
        free(tmp);
        if (rc != SP_OK) {
            free(pattern);
            return SP_ERR;
        }
    }
    if (pattern == NULL) {
        kpath(p, fp, "filePattern");
        return fail(x, p, "missing: the glob of the files to send");
    }
    f->sources = calloc(1, sizeof *f->sources);
    if (f->sources == NULL) {
        free(pattern);
        return fail(x, fp, "out of memory");
    }
    f->nsources = 1;
    f->sources[0].kind = SP_SRC_FILE;
    f->sources[0].path = pattern;
    if (f->stream == NULL) {
        kpath(p, fp, "kinesisStream");
        return fail(x, p, "missing: the name of the Kinesis data stream to write to");
    }
    if (!have_term && set_default_str(x, fp, &f->truncated_terminator, "\n") != SP_OK)
        return SP_ERR;
    if (set_default_str(x, fp, &f->key, "random") != SP_OK)
        return SP_ERR;
    f->name = agent_flow_name(f->stream, pattern);
    if (f->name == NULL)
        return fail(x, fp, "out of memory");
    return SP_OK;
}

/* Access key ids as the credentials module takes them. */
static int check_akid(const cx *x, const char *p, const char *s)
{
    if (!sp_creds_akid_ok(s))
        return fail(x, p, "is not an access key id (3 to 128 letters, digits or '_')");
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

static int agent_top(const cx *x, json_object *root, sp_config *c)
{
    json_object *flows = NULL;
    const char *k;
    json_object *v;
    EACH_KEY(root, k, v) {
        char p[KPATH];
        unsigned long long u = 0;
        int rc = SP_OK, on = 0;
        const struct agent_key *ak;
        kpath(p, "", k);
        if (strcmp(k, "awsAccessKeyId") == 0) {
            rc = get_str(x, p, v, 1, &c->access_key_id);
            if (rc == SP_OK && c->access_key_id[0] != '\0')
                rc = check_akid(x, p, c->access_key_id);
        } else if (strcmp(k, "awsSecretAccessKey") == 0) {
            rc = get_str(x, p, v, 1, &c->secret_access_key);
        } else if (strcmp(k, "kinesis.endpoint") == 0) {
            rc = get_endpoint(x, p, v, &c->endpoint);
        } else if (strcmp(k, "assumeRoleARN") == 0) {
            /* "" is unset to the agent (Strings.isNullOrEmpty) */
            rc = get_str(x, p, v, 1, &c->role_arn);
            if (rc == SP_OK && c->role_arn[0] != '\0')
                rc = check_sts(x, p, c->role_arn, sp_sts_check_role_arn);
        } else if (strcmp(k, "assumeRoleExternalId") == 0) {
            rc = get_str(x, p, v, 1, &c->external_id);
            if (rc == SP_OK && c->external_id[0] != '\0')
                rc = check_sts(x, p, c->external_id, sp_sts_check_external_id);
        } else if (strcmp(k, "sts.endpoint") == 0) {
            rc = get_endpoint(x, p, v, &c->sts_endpoint);
        } else if (strcmp(k, "kinesis.region") == 0) {
            rc = get_str(x, p, v, 1, &c->region);
            if (rc == SP_OK && c->region[0] == '\0') {
                free(c->region);
                c->region = NULL;
            } else if (rc == SP_OK) {
                rc = check_region(x, p, c->region);
            }
        } else if (strcmp(k, "checkpointFile") == 0) {
            char *s = NULL;
            rc = get_str(x, p, v, 0, &s);
            if (rc == SP_OK)
                rc = check_abs(x, p, s);
            if (rc == SP_OK) {
                size_t n = strlen(s) + sizeof AGENT_CKPT_SUFFIX;
                char *d = malloc(n);
                if (d == NULL) {
                    rc = fail(x, p, "out of memory");
                } else {
                    snprintf(d, n, "%s%s", s, AGENT_CKPT_SUFFIX);
                    free(c->checkpoint_file);
                    c->checkpoint_file = d;
                }
            }
            free(s);
        } else if (strcmp(k, "shutdownTimeoutMillis") == 0) {
            rc = get_uint(x, p, v, 0, MS_MAX, &u);
            c->shutdown_timeout_ms = (uint32_t)u;
        } else if (strcmp(k, "cloudwatch.emitMetrics") == 0) {
            rc = get_bool(x, p, v, &on);
            if (rc == SP_OK && on)
                ignored(x, p, NO_CW);
        } else if (strcmp(k, "flows") == 0) {
            flows = v;
        } else if ((ak = agent_lookup(agent_top_keys, NELEM(agent_top_keys), k)) != NULL) {
            if (ak->refuse) {
                rc = fail(x, p, "not supported: %s", ak->why);
            } else {
                /* the packaged agent.json has "firehose.endpoint": "", meaning unset */
                int empty = json_object_is_type(v, json_type_string) && json_object_get_string_len(v) == 0;
                if (!empty)
                    ignored(x, p, ak->why);
            }
        } else {
            rc = agent_unknown(x, p);
        }
        if (rc != SP_OK)
            return SP_ERR;
    }
    /* "" counts as unset, as in the agent */
    if (c->access_key_id != NULL && c->access_key_id[0] == '\0') {
        free(c->access_key_id);
        c->access_key_id = NULL;
    }
    if (c->secret_access_key != NULL && c->secret_access_key[0] == '\0') {
        free(c->secret_access_key);
        c->secret_access_key = NULL;
    }
    if ((c->access_key_id == NULL) != (c->secret_access_key == NULL))
        return fail(x, c->access_key_id ? "awsAccessKeyId" : "awsSecretAccessKey",
                    "given without %s", c->access_key_id ? "awsSecretAccessKey" : "awsAccessKeyId");
    char **empty[] = {&c->role_arn, &c->external_id};
    for (size_t i = 0; i < NELEM(empty); i++) {
        if (*empty[i] != NULL && (*empty[i])[0] == '\0') {
            free(*empty[i]);
            *empty[i] = NULL;
        }
    }
    static const char *const orphans[3] = {"assumeRoleExternalId", NULL, "sts.endpoint"};
    if (role_orphans(x, c, "assumeRoleARN", orphans) != SP_OK)
        return SP_ERR;
    if (c->region == NULL && c->endpoint != NULL && region_from_endpoint(c->endpoint, &c->region) != SP_OK)
        return fail(x, "kinesis.endpoint", "out of memory");
    return get_flows(x, flows, c, agent_flow);
}

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
                                kind_names[a->kind], a->port, a->bind, i2, s2);
                }
            }
        }
    }
    return SP_OK;
}

/* ---- text to JSON ---- */

/* Skips white space and comments, which json-c accepts. */
static size_t skip_space(const char *t, size_t len, size_t i)
{
    for (;;) {
        while (i < len && isspace((unsigned char)t[i]))
            i++;
        if (i + 1 < len && t[i] == '/' && t[i + 1] == '*') {
            const char *e = memmem(t + i + 2, len - i - 2, "*/", 2);
            i = e ? (size_t)(e - t) + 2 : len;
        } else if (i + 1 < len && t[i] == '/' && t[i + 1] == '/') {
            while (i < len && t[i] != '\n')
                i++;
        } else {
            return i;
        }
    }
}

static void line_col(const char *t, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (t[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

static int parse_json(const cx *x, const char *t, size_t len, json_object **out)
{
    size_t line, col;
    *out = NULL;
    if (skip_space(t, len, 0) == len)
        return fail(x, NULL, "is empty: a JSON object is expected");
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return fail(x, NULL, "out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, t, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (o == NULL && e == json_tokener_continue) {
        /* a last "// comment" waits for its newline: give it one */
        o = json_tokener_parse_ex(tok, "\n", 1);
        e = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);
    if (o == NULL) {
        line_col(t, end, &line, &col);
        if (e == json_tokener_continue)
            return sp_err_set(x->err, "%s:%zu:%zu: the text ends inside an object, array, string or comment",
                              x->name, line, col);
        return sp_err_set(x->err, "%s:%zu:%zu: %s", x->name, line, col, json_tokener_error_desc(e));
    }
    if (end < len && skip_space(t, len, end) < len) {
        line_col(t, skip_space(t, len, end), &line, &col);
        json_object_put(o);
        return sp_err_set(x->err, "%s:%zu:%zu: text after the end of the configuration object",
                          x->name, line, col);
    }
    if (!json_object_is_type(o, json_type_object)) {
        fail(x, NULL, "must be a JSON object { ... }, not %s", jtype(o));
        json_object_put(o);
        return SP_ERR;
    }
    *out = o;
    return SP_OK;
}

/* json-c keeps the last of two equal keys without a word, and a key given
 * twice is nearly always a mistake (one setting edited in two places), so
 * the text, which json-c has accepted already, is scanned for them. Keys
 * are compared as written. */
typedef struct dk_level {
    int is_obj;
    size_t index;            /* arrays: the element being read */
    const char *key;         /* objects: the key being read */
    size_t klen;
    const char **keys;
    size_t *lens;
    size_t n, cap;
} dk_level;

static void dk_path(char *out, const dk_level *st, size_t depth, const char *key, size_t klen)
{
    char part[KPATH];
    out[0] = '\0';
    for (size_t l = 0; l + 1 < depth; l++) {
        char tmp[KPATH];
        if (st[l].is_obj) {
            snprintf(part, sizeof part, "%.*s", (int)(st[l].klen < KPATH - 1 ? st[l].klen : KPATH - 1), st[l].key);
            kpath(tmp, out, part);
        } else {
            ipath(tmp, out, st[l].index);
        }
        memcpy(out, tmp, KPATH);
    }
    char tmp[KPATH];
    snprintf(part, sizeof part, "%.*s", (int)(klen < KPATH - 1 ? klen : KPATH - 1), key);
    kpath(tmp, out, part);
    memcpy(out, tmp, KPATH);
}

static int dup_keys(const cx *x, const char *t, size_t len)
{
    dk_level st[DK_DEPTH];
    size_t depth = 0, i = 0;
    int expect_key = 0, rc = SP_OK;
    while (rc == SP_OK && (i = skip_space(t, len, i)) < len) {
        char ch = t[i];
        if (ch == '{' || ch == '[') {
            if (depth == DK_DEPTH)
                break;
            memset(&st[depth], 0, sizeof st[depth]);
            st[depth++].is_obj = ch == '{';
            expect_key = ch == '{';
            i++;
        } else if (ch == '}' || ch == ']') {
            if (depth > 0) {
                depth--;
                free(st[depth].keys);
                free(st[depth].lens);
            }
            expect_key = 0;
            i++;
        } else if (ch == ',') {
            if (depth > 0 && st[depth - 1].is_obj)
                expect_key = 1;
            else if (depth > 0)
                st[depth - 1].index++;
            i++;
        } else if (ch == ':') {
            expect_key = 0;
            i++;
        } else if (ch == '"' || ch == '\'') {
            size_t s = ++i;
            while (i < len && t[i] != ch)
                i += t[i] == '\\' ? 2 : 1;
            size_t e = i < len ? i : len;
            i = e + 1;
            if (depth == 0 || !st[depth - 1].is_obj || !expect_key)
                continue;
            dk_level *l = &st[depth - 1];
            for (size_t k = 0; k < l->n; k++) {
                if (l->lens[k] == e - s && memcmp(l->keys[k], t + s, e - s) == 0) {
                    char p[KPATH];
                    dk_path(p, st, depth, t + s, e - s);
                    rc = fail(x, p, "given twice in the same object (only one may stay)");
                    break;
                }
            }
            if (rc != SP_OK)
                break;
            if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                const char **keys = realloc(l->keys, cap * sizeof *keys);
                if (keys != NULL)
                    l->keys = keys;
                size_t *lens = keys ? realloc(l->lens, cap * sizeof *lens) : NULL;
                if (lens != NULL)
                    l->lens = lens;
                if (keys == NULL || lens == NULL) {
                    rc = fail(x, NULL, "out of memory");
                    break;
                }
                l->cap = cap;
            }
            l->keys[l->n] = t + s;
            l->lens[l->n++] = e - s;
            l->key = t + s;
            l->klen = e - s;
            expect_key = 0;
        } else {
            size_t from = i;
            while (i < len && strchr(",:[]{}\"'/ \t\r\n", t[i]) == NULL)
                i++;
            if (i == from)
                i++;
        }
    }
    while (depth > 0) {
        depth--;
        free(st[depth].keys);
        free(st[depth].lens);
    }
    return rc;
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
    if (parse_json(&x, text, len, &root) != SP_OK)
        return SP_ERR;
    sp_config c;
    memset(&c, 0, sizeof c);
    int rc = dup_keys(&x, text, len);
    if (rc == SP_OK) {
        c.checkpoint_file = strdup(DEFAULT_CHECKPOINT);
        if (c.checkpoint_file == NULL)
            rc = fail(&x, NULL, "out of memory");
    }
    if (rc == SP_OK) {
        c.memory_budget = (size_t)64 << 20;
        c.log_level = SP_LOG_INFO;
        c.shutdown_timeout_ms = 30000;
        c.file_poll_ms = 1000;
        c.partial_line_flush_ms = 5000;
        x.agent = c.agent_json = detect_agent(root, x.why);
        rc = x.agent ? agent_top(&x, root, &c) : native_top(&x, root, &c);
    }
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
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (nor a
     * device for its carrier); what was opened is then refused unless it
     * is a regular file. Reads of a regular file ignore the flag. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return sp_err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sp_err_set(err, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        const char *what = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                         : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                         : S_ISSOCK(st.st_mode) ? "a socket" : "of another kind";
        close(fd);
        return sp_err_set(err, "%s: not a regular file (it is %s)", path, what);
    }
    if ((unsigned long long)st.st_size > CFG_TEXT_MAX) {
        close(fd);
        return sp_err_set(err, "%s: larger than %zu bytes; is it the right file?", path, CFG_TEXT_MAX);
    }
    /* read one byte more than allowed, to tell a file that is too big */
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap == CFG_TEXT_MAX + 1)
                break;
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > CFG_TEXT_MAX + 1)
                ncap = CFG_TEXT_MAX + 1;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                close(fd);
                return sp_err_set(err, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return sp_err_set(err, "%s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > CFG_TEXT_MAX) {
        free(buf);
        return sp_err_set(err, "%s: larger than %zu bytes; is it the right file?", path, CFG_TEXT_MAX);
    }
    int rc = sp_config_parse(buf ? buf : "", len, path, lg, out, err);
    free(buf);
    return rc;
}
