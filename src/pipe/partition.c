#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/md5.h"
#include "shardpipe/partition.h"

static const char hexdig[] = "0123456789abcdef";

/* Walks valid UTF-8, counting characters and UTF-16 code units; -1 when
 * s is not valid UTF-8. */
static long utf8_walk(const char *s, size_t n, long *units)
{
    const unsigned char *p = (const unsigned char *)s;
    long chars = 0;
    size_t i = 0;
    *units = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        if (c < 0x80) len = 1;
        else if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c >= 0xe0 && c <= 0xef) len = 3;
        else if (c >= 0xf0 && c <= 0xf4) len = 4;
        else return -1;
        if (len > n - i)
            return -1;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return -1;
        /* overlongs and surrogates */
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
            (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))
            return -1;
        i += len;
        chars++;
        *units += len == 4 ? 2 : 1;     /* above U+FFFF: a surrogate pair */
    }
    return chars;
}

long sp_utf8_chars(const char *s, size_t n)
{
    long units;
    return utf8_walk(s, n, &units);
}

long sp_utf16_units(const char *s, size_t n)
{
    long units;
    return utf8_walk(s, n, &units) < 0 ? -1 : units;
}

int sp_partition_fixed(sp_partition *p, const char *key, sp_err *err)
{
    size_t n = strlen(key);
    long units = sp_utf16_units(key, n);
    if (units < 0)
        return sp_err_set(err, "partition key is not valid UTF-8");
    /* Kinesis counts UTF-16 code units: a longer key fails the whole request. */
    if (units < 1 || units > SP_PK_MAX_UNITS)
        return sp_err_set(err, "partition key must be 1 to %d UTF-16 code units, as Kinesis counts "
                               "them (got %ld; a character above U+FFFF, such as an emoji, counts 2)",
                          SP_PK_MAX_UNITS, units);
    memset(p, 0, sizeof *p);
    p->kind = SP_PK_FIXED;
    memcpy(p->fixed, key, n);
    p->fixed_len = n;
    return SP_OK;
}

static int parse_field(sp_partition *p, const char *path, sp_err *err)
{
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p->path)
        return sp_err_set(err, "field path must be 1 to %zu characters", sizeof p->path - 1);
    memcpy(p->path, path, n + 1);
    memcpy(p->path_store, path, n + 1);
    char *s = p->path_store;
    for (;;) {
        char *dot = strchr(s, '.');
        if (dot)
            *dot = '\0';
        if (*s == '\0')
            return sp_err_set(err, "field path '%s' has an empty part", path);
        if (p->nparts == SP_FIELD_DEPTH_MAX)
            return sp_err_set(err, "field path '%s' is deeper than %d levels", path, SP_FIELD_DEPTH_MAX);
        p->parts[p->nparts++] = s;
        if (!dot)
            break;
        s = dot + 1;
    }
    p->kind = SP_PK_FIELD;
    return SP_OK;
}

static int parse_regex(sp_partition *p, const char *ere, sp_err *err)
{
    sp_err e;
    if (sp_ere_compile(&p->re, ere, 0, &e) != SP_OK)
        return sp_err_set(err, "regex '%.200s' %s", ere, e.msg);
    p->re_set = 1;
    p->match_bytes = SP_MATCH_BYTES_DEFAULT;
    if (p->re.re_nsub < 1) {
        regfree(&p->re);
        p->re_set = 0;
        return sp_err_set(err, "regex '%s' has no capture group; the key is the first group, e.g. 'user=([a-z]+)'", ere);
    }
    p->kind = SP_PK_REGEX;
    return SP_OK;
}

int sp_partition_parse(const char *spec, sp_partition *p, sp_err *err)
{
    memset(p, 0, sizeof *p);
    if (strcmp(spec, "random") == 0) {
        p->kind = SP_PK_RANDOM;
        return SP_OK;
    }
    if (strcmp(spec, "hash") == 0) {
        p->kind = SP_PK_HASH;
        return SP_OK;
    }
    if (strcmp(spec, "balanced") == 0) {
        p->kind = SP_PK_BALANCED;
        return SP_OK;
    }
    if (strncmp(spec, "fixed:", 6) == 0)
        return sp_partition_fixed(p, spec + 6, err);
    if (strncmp(spec, "field:", 6) == 0)
        return parse_field(p, spec + 6, err);
    if (strncmp(spec, "regex:", 6) == 0)
        return parse_regex(p, spec + 6, err);
    return sp_err_set(err, "unknown partition key strategy '%s' (expected random, hash, balanced, "
                           "fixed:KEY, field:PATH or regex:ERE)", spec);
}

void sp_partition_free(sp_partition *p)
{
    if (p->re_set)
        regfree(&p->re);
    p->re_set = 0;
}

size_t sp_partition_reserve(const sp_partition *p)
{
    switch (p->kind) {
    case SP_PK_FIXED: return p->fixed_len;
    case SP_PK_HASH: return 32;
    case SP_PK_RANDOM: return 16;
    case SP_PK_BALANCED: return 1;
    case SP_PK_FIELD:
    case SP_PK_REGEX: return SP_PK_MAX_BYTES;
    }
    return SP_PK_MAX_BYTES;
}

static size_t md5_hex(const void *data, size_t len, char *out)
{
    uint8_t md[16];
    sp_md5(data, len, md);
    for (unsigned i = 0; i < 16; i++) {
        out[2 * i] = hexdig[md[i] >> 4];
        out[2 * i + 1] = hexdig[md[i] & 15];
    }
    return 32;
}

static size_t random_key(sp_rng *rng, char *out)
{
    uint64_t r = sp_rng_next(rng);
    for (int i = 0; i < 16; i++, r >>= 4)
        out[i] = hexdig[r & 15];
    return 16;
}

/* A found key as is when valid (UTF-8 of 1..256 UTF-16 units), else
 * hashed down. */
static size_t accept_key(const char *k, size_t n, char *out)
{
    long units = n <= SP_PK_MAX_BYTES ? sp_utf16_units(k, n) : -1;
    if (units >= 1 && units <= SP_PK_MAX_UNITS) {
        memcpy(out, k, n);
        return n;
    }
    return md5_hex(k, n, out);
}

static size_t field_key(const sp_partition *p, const void *data, size_t len, char *out)
{
    if (len == 0 || len > INT32_MAX)
        return 0;
    json_tokener *tok = json_tokener_new_ex(SP_FIELD_DEPTH_MAX + 16);
    if (tok == NULL)
        return 0;
    json_object *root = json_tokener_parse_ex(tok, data, (int)len);
    json_tokener_free(tok);
    if (root == NULL)
        return 0;
    json_object *v = root;
    for (size_t i = 0; i < p->nparts && v; i++) {
        json_object *next = NULL;
        if (!json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, p->parts[i], &next))
            next = NULL;
        v = next;
    }
    size_t n = 0;
    if (v && !json_object_is_type(v, json_type_null)) {
        const char *s;
        size_t sl;
        if (json_object_is_type(v, json_type_string)) {
            s = json_object_get_string(v);
            sl = (size_t)json_object_get_string_len(v);
        } else {
            s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
            sl = s ? strlen(s) : 0;
        }
        if (s && sl > 0)
            n = accept_key(s, sl, out);
    }
    json_object_put(root);
    return n;
}

static size_t regex_key(const sp_partition *p, const void *data, size_t len, char *out)
{
    /* Only the head of the line: what a line can cost is bounded (ere.h). */
    size_t win = p->match_bytes > 0 ? p->match_bytes : SP_MATCH_BYTES_DEFAULT;
    if (len > win)
        len = win;
    /* regexec needs a C string: lines with a NUL are matched up to it. */
    char stackbuf[SP_MATCH_BYTES_DEFAULT + 1];
    char *line = len < sizeof stackbuf ? stackbuf : malloc(len + 1);
    if (line == NULL)
        return 0;
    memcpy(line, data, len);
    line[len] = '\0';
    regmatch_t m[2];
    size_t n = 0;
    if (regexec(&p->re, line, 2, m, 0) == 0 && m[1].rm_so >= 0 && m[1].rm_eo > m[1].rm_so)
        n = accept_key(line + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so), out);
    if (line != stackbuf)
        free(line);
    return n;
}

size_t sp_partition_key(const sp_partition *p, sp_rng *rng, const void *data, size_t len,
                        char *out, int *fallback)
{
    size_t n;
    *fallback = 0;
    switch (p->kind) {
    case SP_PK_FIXED:
        memcpy(out, p->fixed, p->fixed_len);
        return p->fixed_len;
    case SP_PK_HASH:
        return md5_hex(data, len, out);
    case SP_PK_BALANCED:
        out[0] = 'b'; /* routing is by ExplicitHashKey; the key only has to exist */
        return 1;
    case SP_PK_FIELD:
        n = field_key(p, data, len, out);
        break;
    case SP_PK_REGEX:
        n = regex_key(p, data, len, out);
        break;
    case SP_PK_RANDOM:
    default:
        return random_key(rng, out);
    }
    if (n == 0) {
        *fallback = 1;
        return random_key(rng, out);
    }
    return n;
}
