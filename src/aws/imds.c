/* EC2 instance metadata (imds.h): a small state machine over http.c,
 * one request at a time: token, then role name and credentials, or the
 * region. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/buf.h"
#include "shardpipe/ecscreds.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/imds.h"

#define RESPONSE_MAX ((size_t)64 << 10)
#define ROLE_PATH "/latest/meta-data/iam/security-credentials/"
#define REGION_PATH "/latest/meta-data/placement/region"

enum step { S_TOKEN, S_ROLE, S_CREDS, S_REGION };

struct sp_imds_call {
    sp_http *http;
    sp_http_req *req;
    sp_imds_done_fn done;
    void *arg;
    enum step step;
    int want_region;
    int v1_disabled;
    long timeout_ms;
    char *token;             /* IMDSv2 session token (wiped), NULL: IMDSv1 */
    char role[256];
    char base[SP_URL_MAX];
};

static int ascii_eq_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (char)(y + 32);
        if (x != y)
            return 0;
    }
    return *a == *b;
}

int sp_imds_base(const sp_imds_opts *o, char *out, size_t outlen, sp_err *err)
{
    const char *b;
    if (o->endpoint != NULL && o->endpoint[0] != '\0') {
        b = o->endpoint;
        if ((strncmp(b, "http://", 7) != 0 && strncmp(b, "https://", 8) != 0) ||
            strpbrk(b, " \r\n\t?#") != NULL)
            return sp_err_setc(err, SP_E_INVALID, "AWS_EC2_METADATA_SERVICE_ENDPOINT must be "
                                                  "an http:// or https:// URL");
    } else if (o->mode == NULL || o->mode[0] == '\0' || ascii_eq_ci(o->mode, "IPv4")) {
        b = SP_IMDS_ENDPOINT_V4;
    } else if (ascii_eq_ci(o->mode, "IPv6")) {
        b = SP_IMDS_ENDPOINT_V6;
    } else {
        return sp_err_setc(err, SP_E_INVALID, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be "
                                              "IPv4 or IPv6");
    }
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/')
        n--;
    if (n >= outlen)
        return sp_err_setc(err, SP_E_INVALID, "AWS_EC2_METADATA_SERVICE_ENDPOINT is too long");
    memcpy(out, b, n);
    out[n] = '\0';
    return SP_OK;
}

static void call_free(sp_imds_call *c)
{
    sp_wipe_free(c->token);
    explicit_bzero(c, sizeof *c);
    free(c);
}

void sp_imds_cancel(sp_imds_call *c)
{
    if (c == NULL)
        return;
    sp_http_cancel(c->http, c->req);
    call_free(c);
}

static void on_answer(void *arg, const sp_http_response *resp);

/* The next request of the walk. */
static int send_step(sp_imds_call *c, sp_err *err)
{
    char url[SP_URL_MAX + 300];
    const char *method = "GET", *path = c->step == S_ROLE ? ROLE_PATH
                                      : c->step == S_REGION ? REGION_PATH : "/latest/api/token";
    if (c->step == S_TOKEN)
        method = "PUT";
    if (c->step == S_CREDS)
        snprintf(url, sizeof url, "%s" ROLE_PATH "%s", c->base, c->role);
    else
        snprintf(url, sizeof url, "%s%s", c->base, path);
    sp_buf hb;
    sp_buf_init(&hb, 0);
    sp_buf_reserve(&hb, 128 + (c->token ? strlen(c->token) : 0));
    const char *lines[2];
    size_t n = 0;
    if (c->step == S_TOKEN)
        sp_buf_printf(&hb, "x-aws-ec2-metadata-token-ttl-seconds: %d", SP_IMDS_TOKEN_TTL_S);
    else if (c->token)
        sp_buf_printf(&hb, "x-aws-ec2-metadata-token: %s", c->token);
    if (hb.len > 0) {
        sp_buf_putc(&hb, '\0');
        lines[n++] = hb.data;
    }
    int rc = SP_ERR;
    if (hb.failed) {
        sp_err_set(err, "instance metadata: out of memory");
    } else {
        sp_buf body;
        sp_buf_init(&body, 0);
        sp_http_req_opts ro = {c->timeout_ms, c->timeout_ms, RESPONSE_MAX, 1, method};
        rc = sp_http_post_ex(c->http, url, lines, n, &body, &ro, on_answer, c, &c->req, err);
        if (rc != SP_OK)
            sp_err_prefix(err, "instance metadata");
    }
    sp_buf_wipe_free(&hb);
    return rc;
}

/* The first line, trimmed, when it is plain text that fits; a role name
 * (no_slash) goes into a path, so it may not hold "/". */
static int first_line(const sp_http_response *resp, char *out, size_t outlen, int no_slash)
{
    size_t n = strcspn(resp->body, "\r\n");
    if (n > resp->body_len)
        n = resp->body_len;
    while (n > 0 && resp->body[n - 1] == ' ')
        n--;
    if (n == 0 || n >= outlen)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)resp->body[i] <= 0x20 || (no_slash && resp->body[i] == '/') ||
            resp->body[i] == 0x7f)
            return 0;
    memcpy(out, resp->body, n);
    out[n] = '\0';
    return 1;
}

/* One answer: the next step (SP_OK with nothing to report), or the end
 * (1, r filled). */
static int advance(sp_imds_call *c, const sp_http_response *resp, sp_creds_result *r)
{
    sp_err *err = &r->err;
    long st = resp->status;
    if (c->step == S_TOKEN) {
        if (st == 200) {
            char tok[256];
            if (!first_line(resp, tok, sizeof tok, 0)) {
                sp_err_set(err, "instance metadata: the IMDSv2 token answer is not a token");
                return 1;
            }
            if ((c->token = strdup(tok)) == NULL) {
                explicit_bzero(tok, sizeof tok);
                sp_err_set(err, "instance metadata: out of memory");
                return 1;
            }
            explicit_bzero(tok, sizeof tok);
        } else if (st == 403 || st == 404 || st == 405 || (st == 0 && resp->read_timeout)) {
            if (c->v1_disabled) {
                sp_err_set(err, "instance metadata: no IMDSv2 token (%s) and "
                                "AWS_EC2_METADATA_V1_DISABLED forbids IMDSv1",
                           st ? "refused" : "timed out");
                return 1;
            }
        } else if (st == 0) {
            sp_err_setc(err, SP_E_TRANSIENT, "instance metadata: not reachable at %s (%s)",
                        c->base, resp->transport_error ? resp->transport_error : "failed");
            return 1;
        } else {
            sp_err_set(err, "instance metadata: the IMDSv2 token request was refused "
                            "(HTTP %ld)", st);
            return 1;
        }
        c->step = c->want_region ? S_REGION : S_ROLE;
        return 0;
    }
    if (st == 0) {
        sp_err_setc(err, SP_E_TRANSIENT, "instance metadata: %s: %s", c->base,
                    resp->transport_error ? resp->transport_error : "failed");
        return 1;
    }
    if (st == 401) {
        sp_err_set(err, "instance metadata: the service refused the %s (HTTP 401)",
                   c->token ? "IMDSv2 token" : "request without a token (IMDSv2 only?)");
        return 1;
    }
    if (c->step == S_REGION) {
        /* the region travels in creds.source: nothing else is set */
        if (st != 200 || !first_line(resp, r->creds.source, sizeof r->creds.source, 1) ||
            !sp_region_valid(r->creds.source)) {
            r->creds.source[0] = '\0';
            sp_err_set(err, "instance metadata: no usable region (HTTP %ld)", st);
            return 1;
        }
        r->rc = SP_OK;
        return 1;
    }
    if (c->step == S_ROLE) {
        if (st == 404 || (st == 200 && resp->body_len == 0)) {
            sp_err_setc(err, SP_E_NOENT, "instance metadata: no role attached to this instance");
            return 1;
        }
        if (st != 200 || !first_line(resp, c->role, sizeof c->role, 1)) {
            sp_err_set(err, "instance metadata: the role name answer is unusable (HTTP %ld)", st);
            return 1;
        }
        c->step = S_CREDS;
        return 0;
    }
    sp_err perr;
    if (st != 200) {
        sp_err_set(err, "instance metadata: no credentials for role %s (HTTP %ld)", c->role, st);
    } else if (sp_creds_parse_json(resp->body, resp->body_len, &r->creds, &perr) != SP_OK) {
        sp_err_set(err, "instance metadata: credentials of role %s: %s", c->role, perr.msg);
    } else {
        if (snprintf(r->creds.source, sizeof r->creds.source, "instance metadata (role %s)",
                     c->role) < 0)
            r->creds.source[0] = '\0';
        r->rc = SP_OK;
    }
    return 1;
}

static void on_answer(void *arg, const sp_http_response *resp)
{
    sp_imds_call *c = arg;
    sp_creds_result r;
    memset(&r, 0, sizeof r);
    r.rc = SP_ERR;
    c->req = NULL;
    if (!advance(c, resp, &r)) {
        if (send_step(c, &r.err) == SP_OK)
            return;
    }
    sp_imds_done_fn done = c->done;
    void *darg = c->arg;
    call_free(c);
    done(darg, &r);
    explicit_bzero(&r, sizeof r);
}

static int start(sp_http *http, const sp_imds_opts *o, int region, sp_imds_done_fn done,
                 void *arg, sp_imds_call **call, sp_err *err)
{
    sp_imds_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sp_err_set(err, "instance metadata: out of memory");
    if (sp_imds_base(o, c->base, sizeof c->base, err) != SP_OK) {
        free(c);
        return sp_err_prefix(err, "instance metadata");
    }
    c->http = http;
    c->done = done;
    c->arg = arg;
    c->want_region = region;
    c->v1_disabled = o->v1_disabled;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : SP_IMDS_TIMEOUT_MS;
    c->step = S_TOKEN;
    if (send_step(c, err) != SP_OK) {
        call_free(c);
        return SP_ERR;
    }
    if (call)
        *call = c;
    return SP_OK;
}

int sp_imds_creds_start(sp_http *http, const sp_imds_opts *o, sp_imds_done_fn done, void *arg,
                        sp_imds_call **call, sp_err *err)
{
    return start(http, o, 0, done, arg, call, err);
}

/* ---- the region, before the event loop runs ---- */

typedef struct region_wait {
    sp_loop *loop;
    int done;
    sp_creds_result res;
} region_wait;

static void on_region(void *arg, sp_creds_result *res)
{
    region_wait *w = arg;
    w->done = 1;
    w->res = *res;
    sp_loop_stop(w->loop);
}

int sp_imds_region(const sp_imds_opts *o, char *out, size_t outlen, sp_err *err)
{
    region_wait w = {0};
    sp_http *http = NULL;
    int rc = SP_ERR;
    if ((w.loop = sp_loop_new(err)) == NULL || (http = sp_http_new(w.loop, NULL, err)) == NULL)
        goto out;
    if (start(http, o, 1, on_region, &w, NULL, err) != SP_OK)
        goto out;
    if (sp_loop_run(w.loop, err) != SP_OK)
        goto out;
    if (!w.done) {   /* the loop ran dry: cannot happen while a request is out */
        sp_err_set(err, "instance metadata: no answer");
        goto out;
    }
    if (w.res.rc != SP_OK) {
        *err = w.res.err;
    } else if (strlen(w.res.creds.source) >= outlen) {
        sp_err_set(err, "instance metadata: no room for the region");
    } else {
        strcpy(out, w.res.creds.source);
        rc = SP_OK;
    }
out:
    sp_http_free(http);
    if (w.loop)
        sp_loop_free(w.loop);
    return rc;
}
