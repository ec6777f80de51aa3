/* STS AssumeRoleWithWebIdentity (webidentity.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shardpipe/buf.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/file.h"
#include "shardpipe/sts.h"
#include "shardpipe/webidentity.h"

#define ACTION "AssumeRoleWithWebIdentity"
#define FORM_TYPE "application/x-www-form-urlencoded; charset=utf-8"
#define TOKEN_MAX ((size_t)20000)   /* the API's limit on WebIdentityToken */
#define RESPONSE_MAX ((size_t)1 << 20)

struct sp_webid_call {
    sp_http *http;
    sp_http_req *req;
    sp_webid_done_fn done;
    void *arg;
    char arn[2049];
    char file[1024];
    char url[SP_URL_MAX];
};

static const char *hint(const char *code)
{
    if (strcmp(code, "InvalidIdentityToken") == 0 || strcmp(code, "ExpiredTokenException") == 0)
        return "; is the token file the one the platform keeps current?";
    if (strcmp(code, "AccessDenied") == 0)
        return "; check that the role's trust policy accepts this identity provider";
    return "";
}

static void on_answer(void *arg, const sp_http_response *resp)
{
    sp_webid_call *c = arg;
    sp_creds_result r;
    memset(&r, 0, sizeof r);
    r.rc = SP_ERR;
    sp_sts_fault fault;
    sp_err perr;
    if (resp->status == 0) {
        sp_err_setc(&r.err, SP_E_TRANSIENT, "web identity: role %s: STS at %s: %s", c->arn,
                    c->url, resp->transport_error ? resp->transport_error : "transfer failed");
    } else if (sp_sts_parse_response(ACTION, resp->body, resp->body_len, &r.creds, &fault,
                                     &perr) == SP_OK && resp->status == 200) {
        if (snprintf(r.creds.source, sizeof r.creds.source, "web identity (role %s, token file %s)",
                     c->arn, c->file) < 0)
            r.creds.source[0] = '\0';
        r.rc = SP_OK;
    } else {
        sp_creds_free(&r.creds);
        if (fault.code[0])
            sp_err_set(&r.err, "web identity: role %s: STS refused (HTTP %ld): %s%s (endpoint %s)",
                       c->arn, resp->status, perr.msg, hint(fault.code), c->url);
        else if (resp->status != 200)
            sp_err_set(&r.err, "web identity: role %s: STS answered HTTP %ld (endpoint %s)",
                       c->arn, resp->status, c->url);
        else   /* never quote a success body: it holds the secret */
            sp_err_set(&r.err, "web identity: role %s: malformed answer: %s (endpoint %s)",
                       c->arn, perr.msg, c->url);
    }
    sp_webid_done_fn done = c->done;
    void *darg = c->arg;
    free(c);
    done(darg, &r);
    explicit_bzero(&r, sizeof r);
}

void sp_webid_cancel(sp_webid_call *c)
{
    if (c == NULL)
        return;
    sp_http_cancel(c->http, c->req);
    free(c);
}

int sp_webid_start(sp_http *http, const sp_webid_opts *o, sp_webid_done_fn done, void *arg,
                   sp_webid_call **call, sp_err *err)
{
    const char *arn = o->role_arn ? o->role_arn : "";
    char session[80];
    if (sp_sts_check_role_arn(arn, err) != SP_OK)
        return sp_err_prefix(err, "web identity (%s)", o->from ? o->from : "environment");
    if (o->session_name && o->session_name[0]) {
        if (sp_sts_check_session_name(o->session_name, err) != SP_OK)
            return sp_err_prefix(err, "web identity: role %s", arn);
        snprintf(session, sizeof session, "%s", o->session_name);
    } else {
        snprintf(session, sizeof session, "shardpipe-%lld", (long long)time(NULL));
    }
    sp_webid_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sp_err_set(err, "web identity: out of memory");
    c->http = http;
    c->done = done;
    c->arg = arg;
    snprintf(c->arn, sizeof c->arn, "%s", arn);
    snprintf(c->file, sizeof c->file, "%s", o->token_file);
    if (o->endpoint && o->endpoint[0]) {
        char host[SP_URL_MAX];
        if (strlen(o->endpoint) >= sizeof c->url ||
            sp_endpoint_host(o->endpoint, host, sizeof host, err) != SP_OK) {
            free(c);
            return sp_err_set(err, "web identity: %s is not a usable URL",
                              o->endpoint_from ? o->endpoint_from : "the STS endpoint");
        }
        snprintf(c->url, sizeof c->url, "%s", o->endpoint);
    } else if (sp_endpoint_default("sts", o->region, c->url, sizeof c->url, err) != SP_OK) {
        free(c);
        return sp_err_prefix(err, "web identity: role %s", arn);
    }
    /* read at every start: the platform rotates the token */
    char *tok = NULL;
    size_t tlen = 0;
    if (sp_file_read(o->token_file, TOKEN_MAX, SP_FILE_WIPE, &tok, &tlen, err) != SP_OK) {
        free(c);
        return sp_err_prefix(err, "web identity: token file %s", o->token_file);
    }
    size_t tsize = tlen;   /* what sp_file_free wipes */
    while (tlen > 0 && (tok[tlen - 1] == '\n' || tok[tlen - 1] == '\r' || tok[tlen - 1] == ' '))
        tok[--tlen] = '\0';
    int rc = SP_ERR;
    sp_buf body;
    sp_buf_init(&body, 0);
    if (tlen < 4 || strlen(tok) != tlen) {
        sp_err_setc(err, SP_E_INVALID, "web identity: token file %s is empty or not text",
                    o->token_file);
        goto done;
    }
    /* reserved whole, so that the token never moves */
    sp_buf_reserve(&body, 200 + 3 * (strlen(arn) + strlen(session) + tlen));
    sp_buf_puts(&body, "Action=" ACTION "&Version=2011-06-15");
    sp_sts_form_param(&body, "RoleArn", arn);
    sp_sts_form_param(&body, "RoleSessionName", session);
    sp_sts_form_param(&body, "WebIdentityToken", tok);
    sp_buf_printf(&body, "&DurationSeconds=%d", SP_STS_DURATION_S);
    if (body.failed) {
        sp_err_set(err, "web identity: out of memory");
        goto done;
    }
    static const char *const lines[] = {"Content-Type: " FORM_TYPE, "Accept: text/xml"};
    sp_http_req_opts ro = {SP_STS_CONNECT_TIMEOUT_MS, SP_STS_TIMEOUT_MS, RESPONSE_MAX, 1, NULL};
    if (sp_http_post_ex(http, c->url, lines, 2, &body, &ro, on_answer, c, &c->req, err) != SP_OK) {
        sp_err_prefix(err, "web identity: role %s: STS at %s", arn, c->url);
        goto done;
    }
    if (call)
        *call = c;
    rc = SP_OK;
done:
    sp_buf_wipe_free(&body);
    sp_file_free(tok, tsize, 1);
    if (rc != SP_OK)
        free(c);
    return rc;
}
