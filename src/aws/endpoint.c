/* Endpoints and regions, in one place: the rules for an endpoint URL and
 * its Host header, the regional URL of a service, the environment
 * variables that name an endpoint, and what a region name may be. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/endpoint.h"

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

int sp_region_valid(const char *r)
{
    /* It becomes a DNS label of kinesis.REGION.amazonaws.com. */
    size_t n = strlen(r);
    if (n == 0 || n > SP_REGION_NAME_MAX)
        return 0;
    return strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == n && r[0] >= 'a' && r[0] <= 'z' &&
           r[n - 1] != '-';
}

int sp_region_check(const char *where, const char *r, sp_err *err)
{
    if (sp_region_valid(r))
        return SP_OK;
    /* A region is not secret, but a long or binary value is no help. */
    size_t n = strlen(r);
    int show = n <= SP_REGION_NAME_MAX && !has_ctl(r);
    return sp_err_set(err, "%s: %s%s%sis not a valid region (expected 1 to %d of a-z, 0-9 and -, "
                           "starting with a letter, e.g. us-east-1)",
                      where, show ? "\"" : "", show ? r : "", show ? "\" " : "", SP_REGION_NAME_MAX);
}

int sp_endpoint_default(const char *service, const char *region, char *out, size_t outlen, sp_err *err)
{
    const char *name = strcmp(service, "sts") == 0 ? "STS" : strcmp(service, "kinesis") == 0 ? "Kinesis" : service;
    if (region == NULL)
        return sp_err_set(err, "%s needs a region (lowercase letters, digits and '-', e.g. us-east-1)",
                          name);
    if (sp_region_check("region", region, err) != SP_OK)
        return SP_ERR;
    const char *suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
    int n = snprintf(out, outlen, "https://%s.%s.%s", service, region, suffix);
    if (n < 0 || (size_t)n >= outlen)
        return sp_err_set(err, "%s endpoint URL too long", name);
    return SP_OK;
}

/* A URL is shown in a message only when that is safe and useful: never
 * with user information, control characters or at full length. */
static const char *url_shown(const char *url, char *buf, size_t n)
{
    for (const char *c = url; *c; c++)
        if (!isgraph((unsigned char)*c) || *c == '@')
            return "(not shown)";
    snprintf(buf, n, "'%.200s%s'", url, strlen(url) > 200 ? "..." : "");
    return buf;
}

/* A host name: dot-separated labels of letters, digits, '-' and '_' (as
 * container names have them), each 1 to 63 long and not starting or ending
 * with '-'; one final dot is allowed. */
static int host_name_ok(const char *h, size_t n)
{
    if (n == 0 || n > 254 || (n == 254 && h[n - 1] != '.'))
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '_' || c == '-') {
            if (label == 0 && c == '-')
                return 0;
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return h[n - 1] != '-';
}

int sp_endpoint_host(const char *url, char *host, size_t hostlen, sp_err *err)
{
    char sbuf[256];
    const char *shown = url_shown(url, sbuf, sizeof sbuf);
    size_t len = strlen(url);
    for (size_t i = 0; i < len; i++)
        if (!isgraph((unsigned char)url[i]))
            return sp_err_set(err, "endpoint URL has a space, a control character or a non-ASCII "
                                   "byte (at byte %zu)", i + 1);
    if (len >= SP_URL_MAX)
        return sp_err_set(err, "endpoint URL is too long (%zu bytes, at most %d)", len, SP_URL_MAX - 1);
    const char *p;
    if (strncmp(url, "https://", 8) == 0)
        p = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        p = url + 7;
    else
        return sp_err_set(err, "endpoint URL %s must start with http:// or https://", shown);
    size_t n = strcspn(p, "/?#");
    if (memchr(p, '@', n) != NULL)
        return sp_err_set(err, "endpoint URL must not contain user information (user:password@)");
    if (n == 0)
        return sp_err_set(err, "endpoint URL %s has no host", shown);
    const char *rest = p + n;
    if (*rest == '?' || *rest == '#' || (*rest == '/' && rest[1] != '\0'))
        return sp_err_set(err, "endpoint URL %s must not have a path or query (requests go to POST /)", shown);

    /* The authority: a name, an IPv4 address or [IPv6], then :PORT. */
    const char *port = NULL;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close == NULL)
            return sp_err_set(err, "endpoint URL %s has an IPv6 address without its closing ']'", shown);
        char a6[64];
        size_t alen = (size_t)(close - p) - 1;
        struct in6_addr in6;
        if (alen == 0 || alen >= sizeof a6)
            return sp_err_set(err, "endpoint URL %s has no IPv6 address between '[' and ']'", shown);
        memcpy(a6, p + 1, alen);
        a6[alen] = '\0';
        if (inet_pton(AF_INET6, a6, &in6) != 1)
            return sp_err_set(err, "endpoint URL %s: '%s' is not an IPv6 address", shown, a6);
        const char *after = close + 1;
        if (after < p + n && *after != ':')
            return sp_err_set(err, "endpoint URL %s has '%c' after the IPv6 address, where ':PORT' "
                                   "or the end was expected", shown, *after);
        if (after < p + n)
            port = after + 1;
    } else {
        const char *colon = memchr(p, ':', n);
        size_t hn = colon ? (size_t)(colon - p) : n;
        if (colon && memchr(colon + 1, ':', n - hn - 1) != NULL)
            return sp_err_set(err, "endpoint URL %s: an IPv6 address must be in brackets, as in "
                                   "http://[::1]:4567", shown);
        if (hn == 0)
            return sp_err_set(err, "endpoint URL %s has no host", shown);
        char h[256];
        if (hn >= sizeof h || !host_name_ok(p, hn))
            return sp_err_set(err, "endpoint URL %s: the host is not a host name (letters, digits, "
                                   "'-', '_' and '.'), an IPv4 address or an IPv6 address in brackets",
                              shown);
        memcpy(h, p, hn);
        h[hn] = '\0';
        struct in_addr in4;
        /* all digits and dots: it can only be meant as an IPv4 address */
        if (strspn(h, "0123456789.") == hn && inet_pton(AF_INET, h, &in4) != 1)
            return sp_err_set(err, "endpoint URL %s: '%s' is not an IPv4 address", shown, h);
        if (colon)
            port = colon + 1;
    }
    if (port != NULL) {
        size_t pn = (size_t)(p + n - port);
        unsigned long v = 0;
        int ok = pn > 0 && pn <= 5 && strspn(port, "0123456789") >= pn;
        for (size_t i = 0; ok && i < pn; i++)
            v = v * 10 + (unsigned long)(port[i] - '0');
        if (!ok || v < 1 || v > 65535)
            return sp_err_set(err, "endpoint URL %s: the port must be a number from 1 to 65535, "
                                   "not '%.*s'", shown, (int)(pn < 16 ? pn : 16), port);
    }
    if (n >= hostlen)
        return sp_err_set(err, "endpoint host too long");
    memcpy(host, p, n);
    host[n] = '\0';
    /* Host is case-insensitive; sign it lowercased (the port is digits) */
    for (char *c = host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return SP_OK;
}

const char *sp_endpoint_env_kinesis(const char **where)
{
    static const char *const vars[] = {"AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && v[0] != '\0') {
            *where = vars[i];
            return v;
        }
    }
    *where = NULL;
    return NULL;
}
