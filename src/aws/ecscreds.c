/* Container credentials and the JSON credential document (ecscreds.h).
 *
 * The document is read by a small parser of our own rather than json-c:
 * json-c keeps copies of the strings it reads, and those would hold the
 * secret and the token in memory nobody wipes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/buf.h"
#include "shardpipe/ecscreds.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/file.h"
#include "shardpipe/sts.h"

#define RESPONSE_MAX ((size_t)64 << 10)
#define TOKEN_FILE_MAX ((size_t)16 << 10)

/* ---- the URL ---- */

/* 127.0.0.0/8 and ::1, as botocore's is_loopback. */
static int loopback(const char *h)
{
    if (strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0)
        return 1;
    unsigned a, b, c, d;
    char tail;
    return sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256;
}

int sp_ecs_url(const char *relative, const char *full, char *out, size_t outlen, sp_err *err)
{
    int n;
    if (relative != NULL) {
        if (relative[0] != '/' || strpbrk(relative, " \r\n\t") != NULL)
            return sp_err_setc(err, SP_E_INVALID, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must "
                                                  "be a path starting with \"/\"");
        n = snprintf(out, outlen, "http://" SP_ECS_HOST "%s", relative);
    } else {
        const char *var = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
        const char *p = full;
        int https = strncmp(p, "https://", 8) == 0;
        if (!https && strncmp(p, "http://", 7) != 0)
            return sp_err_setc(err, SP_E_INVALID, "%s must be an http:// or https:// URL", var);
        if (strpbrk(p, " \r\n\t") != NULL)
            return sp_err_setc(err, SP_E_INVALID, "%s holds a space or a line break", var);
        p += https ? 8 : 7;
        size_t hl = strcspn(p, "/?#");
        char host[256];
        if (hl == 0 || hl >= sizeof host || memchr(p, '@', hl) != NULL)
            return sp_err_setc(err, SP_E_INVALID, "%s has no usable host", var);
        memcpy(host, p, hl);
        host[hl] = '\0';
        char *h = host;
        if (h[0] == '[') {   /* [v6]:port */
            char *end = strchr(h, ']');
            if (end == NULL)
                return sp_err_setc(err, SP_E_INVALID, "%s has an unclosed [", var);
            *end = '\0';
            h++;
        } else {
            char *colon = strchr(h, ':');
            if (colon)
                *colon = '\0';
        }
        for (char *q = h; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q + 32);
        if (!https && !loopback(h) && strcmp(h, "169.254.170.2") != 0 &&
            strcmp(h, "169.254.170.23") != 0 && strcmp(h, "fd00:ec2::23") != 0)
            return sp_err_setc(err, SP_E_INVALID,
                               "%s: host %s is not allowed over http (only loopback, "
                               "169.254.170.2, 169.254.170.23 and fd00:ec2::23; or use https)",
                               var, h);
        n = snprintf(out, outlen, "%s", full);
    }
    if (n < 0 || (size_t)n >= outlen)
        return sp_err_setc(err, SP_E_INVALID, "container credentials URL too long");
    return SP_OK;
}

/* ---- the document ---- */

typedef struct jp {
    const char *s, *end;
} jp;

static void ws(jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* A string at p->s (the opening quote) into out (wiped buffer, may be
 * NULL to skip). Control characters are refused, as JSON does; \u
 * escapes below 0x20 too, since the values end up in headers. */
static int jstring(jp *p, sp_buf *out)
{
    if (p->s >= p->end || *p->s != '"')
        return SP_ERR;
    p->s++;
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s++;
        if (c < 0x20)
            return SP_ERR;
        if (c != '\\') {
            if (out)
                sp_buf_putc(out, (char)c);
            continue;
        }
        if (p->s >= p->end)
            return SP_ERR;
        char e = *p->s++, ch;
        switch (e) {
        case '"': case '\\': case '/': ch = e; break;
        case 'b': case 'f': case 'n': case 'r': case 't':
            if (out)
                return SP_ERR;   /* control characters: never in a credential */
            continue;
        case 'u': ch = 0; break;
        default: return SP_ERR;
        }
        if (e != 'u') {
            if (out)
                sp_buf_putc(out, ch);
            continue;
        }
        unsigned u;
        if (p->end - p->s < 4 || !hex4(p->s, &u) || (out && u < 0x20) || (u >= 0xd800 && u < 0xe000))
            return SP_ERR;   /* surrogates: nothing in a credential needs them */
        p->s += 4;
        if (out == NULL)
            continue;
        if (u < 0x80) {
            sp_buf_putc(out, (char)u);
        } else if (u < 0x800) {
            sp_buf_putc(out, (char)(0xc0 | (u >> 6)));
            sp_buf_putc(out, (char)(0x80 | (u & 0x3f)));
        } else {
            sp_buf_putc(out, (char)(0xe0 | (u >> 12)));
            sp_buf_putc(out, (char)(0x80 | ((u >> 6) & 0x3f)));
            sp_buf_putc(out, (char)(0x80 | (u & 0x3f)));
        }
    }
    if (p->s >= p->end)
        return SP_ERR;
    p->s++;
    return out && out->failed ? SP_ERR : SP_OK;
}

/* Skips any value; nesting is bounded. */
static int jskip(jp *p, int depth)
{
    ws(p);
    if (p->s >= p->end || depth > 16)
        return SP_ERR;
    char c = *p->s;
    if (c == '"')
        return jstring(p, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        p->s++;
        ws(p);
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return SP_OK;
        }
        for (;;) {
            if (c == '{') {
                ws(p);
                if (jstring(p, NULL) != SP_OK)
                    return SP_ERR;
                ws(p);
                if (p->s >= p->end || *p->s++ != ':')
                    return SP_ERR;
            }
            if (jskip(p, depth + 1) != SP_OK)
                return SP_ERR;
            ws(p);
            if (p->s >= p->end)
                return SP_ERR;
            if (*p->s == close) {
                p->s++;
                return SP_OK;
            }
            if (*p->s++ != ',')
                return SP_ERR;
        }
    }
    const char *start = p->s;
    while (p->s < p->end && *p->s != '\0' && strchr("-+.0123456789eEtrufalsn", *p->s) != NULL)
        p->s++;
    return p->s > start ? SP_OK : SP_ERR;
}

enum { J_AKID, J_SECRET, J_TOKEN, J_EXP, J_CODE, NJ };
static const char *const jnames[NJ] = {"AccessKeyId", "SecretAccessKey", "Token", "Expiration",
                                       "Code"};

int sp_creds_parse_json(const char *s, size_t len, sp_creds *out, sp_err *err)
{
    memset(out, 0, sizeof *out);
    sp_buf v[NJ];
    int seen[NJ] = {0};
    for (int i = 0; i < NJ; i++)
        sp_buf_init(&v[i], 0);
    int rc = SP_ERR;
    jp p = {s, s + len};
    sp_buf key;
    sp_buf_init(&key, 256);
    ws(&p);
    if (p.s >= p.end || *p.s++ != '{') {
        sp_err_set(err, "the answer is not a JSON object");
        goto out;
    }
    ws(&p);
    if (p.s < p.end && *p.s == '}') {
        p.s++;
    } else {
        for (;;) {
            ws(&p);
            key.len = 0;
            if (jstring(&p, &key) != SP_OK || sp_buf_putc(&key, '\0') != SP_OK)
                goto bad;
            ws(&p);
            if (p.s >= p.end || *p.s++ != ':')
                goto bad;
            ws(&p);
            int f = -1;
            for (int i = 0; i < NJ; i++)
                if (strcmp(key.data, jnames[i]) == 0)
                    f = i;
            if (f >= 0) {
                if (seen[f]) {
                    sp_err_set(err, "%s appears twice", jnames[f]);
                    goto out;
                }
                seen[f] = 1;
                if (p.s >= p.end || *p.s != '"') {
                    sp_err_set(err, "%s is not a string", jnames[f]);
                    goto out;
                }
                /* room for all at once: a realloc would leave a copy unwiped */
                if (sp_buf_reserve(&v[f], len + 1) != SP_OK) {
                    sp_err_set(err, "out of memory");
                    goto out;
                }
                if (jstring(&p, &v[f]) != SP_OK || sp_buf_putc(&v[f], '\0') != SP_OK)
                    goto bad;
            } else if (jskip(&p, 0) != SP_OK) {
                goto bad;
            }
            ws(&p);
            if (p.s >= p.end)
                goto bad;
            if (*p.s == '}') {
                p.s++;
                break;
            }
            if (*p.s++ != ',')
                goto bad;
        }
    }
    ws(&p);
    if (p.s != p.end)
        goto bad;
    if (seen[J_CODE] && strcmp(v[J_CODE].data, "Success") != 0) {
        char code[64];
        size_t i = 0;
        for (const char *c = v[J_CODE].data; *c && i + 1 < sizeof code; c++)
            code[i++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
        code[i] = '\0';
        sp_err_set(err, "the answer's Code is \"%s\", not \"Success\"", code);
        goto out;
    }
    for (int f = J_AKID; f <= J_EXP; f++) {
        if (!seen[f] || v[f].len <= 1) {
            sp_err_set(err, "the answer lacks %s", jnames[f]);
            goto out;
        }
        if (strlen(v[f].data) + 1 != v[f].len) {
            sp_err_set(err, "%s holds a NUL", jnames[f]);
            goto out;
        }
    }
    if (!sp_creds_akid_ok(v[J_AKID].data)) {
        sp_err_set(err, "AccessKeyId is malformed");
        goto out;
    }
    if (sp_sts_parse_time(v[J_EXP].data, &out->expiration) != SP_OK) {
        sp_err_set(err, "Expiration is not an ISO-8601 time");
        goto out;
    }
    strcpy(out->access_key_id, v[J_AKID].data);   /* sp_creds_akid_ok bounded it */
    out->secret = strdup(v[J_SECRET].data);
    out->token = strdup(v[J_TOKEN].data);
    if (out->secret == NULL || out->token == NULL) {
        sp_creds_free(out);
        sp_err_set(err, "out of memory");
        goto out;
    }
    rc = SP_OK;
    goto out;
bad:
    sp_err_set(err, "the answer is not well-formed JSON");
out:
    for (int i = 0; i < NJ; i++)
        sp_buf_wipe_free(&v[i]);
    sp_buf_free(&key);
    if (rc != SP_OK)
        out->expiration = 0;
    return rc;
}

/* ---- the call ---- */

struct sp_ecs_call {
    sp_http *http;
    sp_http_req *req;
    sp_ecs_done_fn done;
    void *arg;
    char url[SP_URL_MAX];
};

static void on_answer(void *arg, const sp_http_response *resp)
{
    sp_ecs_call *c = arg;
    sp_creds_result r;
    memset(&r, 0, sizeof r);
    r.rc = SP_ERR;
    sp_err perr;
    if (resp->status == 0) {
        sp_err_setc(&r.err, SP_E_TRANSIENT, "container credentials: %s: %s", c->url,
                    resp->transport_error ? resp->transport_error : "transfer failed");
    } else if (resp->status != 200) {
        sp_err_setc(&r.err, resp->status >= 500 ? SP_E_TRANSIENT : SP_E_INVALID,
                    "container credentials: %s answered HTTP %ld%s", c->url, resp->status,
                    resp->status == 401 || resp->status == 403
                        ? " (is the authorization token the right one?)" : "");
    } else if (sp_creds_parse_json(resp->body, resp->body_len, &r.creds, &perr) != SP_OK) {
        sp_err_set(&r.err, "container credentials: %s: %s", c->url, perr.msg);
    } else {
        /* cut short if it must: the source is only shown */
        if (snprintf(r.creds.source, sizeof r.creds.source, "container credentials (%s)",
                     c->url) < 0)
            r.creds.source[0] = '\0';
        r.rc = SP_OK;
    }
    sp_ecs_done_fn done = c->done;
    void *darg = c->arg;
    free(c);
    done(darg, &r);
    explicit_bzero(&r, sizeof r);
}

void sp_ecs_cancel(sp_ecs_call *c)
{
    if (c == NULL)
        return;
    sp_http_cancel(c->http, c->req);
    free(c);
}

int sp_ecs_start(sp_http *http, const sp_ecs_opts *o, sp_ecs_done_fn done, void *arg,
                 sp_ecs_call **call, sp_err *err)
{
    char *file = NULL;
    size_t flen = 0, fsize = 0;   /* fsize: what sp_file_free wipes */
    const char *token = o->token;
    if (o->token_file != NULL) {
        /* read each time: the platform rotates it */
        if (sp_file_read(o->token_file, TOKEN_FILE_MAX, SP_FILE_WIPE, &file, &flen, err) != SP_OK)
            return sp_err_prefix(err, "container credentials: "
                                      "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s", o->token_file);
        fsize = flen;
        while (flen > 0 && (file[flen - 1] == '\n' || file[flen - 1] == '\r' ||
                            file[flen - 1] == ' '))
            file[--flen] = '\0';
        token = file;
    }
    int rc = SP_ERR;
    sp_buf hb;
    sp_buf_init(&hb, 0);
    if (token != NULL && strpbrk(token, "\r\n") != NULL) {
        sp_err_setc(err, SP_E_INVALID, "container credentials: the authorization token (%s) "
                                       "holds a line break",
                    file ? "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
                         : "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        goto done;
    }
    sp_ecs_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        sp_err_set(err, "container credentials: out of memory");
        goto done;
    }
    c->http = http;
    c->done = done;
    c->arg = arg;
    snprintf(c->url, sizeof c->url, "%s", o->url);
    const char *lines[2];
    size_t n = 0;
    sp_buf_reserve(&hb, 64 + (token ? strlen(token) : 0));
    lines[n++] = "Accept: application/json";
    if (token != NULL) {
        sp_buf_printf(&hb, "Authorization: %s", token);
        sp_buf_putc(&hb, '\0');
        lines[n++] = hb.data;
    }
    if (hb.failed) {
        free(c);
        sp_err_set(err, "container credentials: out of memory");
        goto done;
    }
    sp_buf body;
    sp_buf_init(&body, 0);
    sp_http_req_opts ro = {o->timeout_ms > 0 ? o->timeout_ms : SP_ECS_TIMEOUT_MS,
                           o->timeout_ms > 0 ? o->timeout_ms : SP_ECS_TIMEOUT_MS, RESPONSE_MAX, 1,
                           "GET"};
    if (sp_http_post_ex(http, o->url, lines, n, &body, &ro, on_answer, c, &c->req, err) != SP_OK) {
        free(c);
        sp_err_prefix(err, "container credentials: %s", o->url);
        goto done;
    }
    if (call)
        *call = c;
    rc = SP_OK;
done:
    sp_buf_wipe_free(&hb);
    if (file)
        sp_file_free(file, fsize, 1);
    return rc;
}
