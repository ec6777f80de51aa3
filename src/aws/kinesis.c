/* The Kinesis API: one signed POST per operation (KINESIS.md §1), sent
 * through http.c, and the credentials it is signed with, renewed on the
 * loop (kinesis.h says how calls wait for a renewal). */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shardpipe/endpoint.h"
#include "shardpipe/backoff.h"
#include "shardpipe/kinesis.h"
#include "shardpipe/rng.h"
#include "shardpipe/sigv4.h"

struct sp_kinesis {
    sp_loop *loop;
    sp_http *http;
    const sp_log *log;
    sp_creds creds;             /* what requests are signed with */
    unsigned gen;               /* which set that is: 0 until the first arrives */
    unsigned refused_gen;       /* the set Kinesis called expired; 0: none */
    sp_creds_job *refresh;      /* the one resolution in progress, or NULL */
    struct sp_kcall *wait;      /* calls waiting for it, oldest first */
    struct sp_kcall **wait_tail;
    char last_error[SP_ERR_MSG_MAX]; /* why the last resolution failed */
    sp_log_repeat refresh_log;  /* renewals failing while the current set works */
    sp_creds_opts creds_opts;
    sp_sigv4_cache sigcache;
    char region[SP_REGION_MAX + 1];
    char url[SP_URL_MAX];
    char host[SP_URL_MAX];
    long skew;                  /* server time - local time, seconds */
    time_t refresh_at;          /* renew temporary credentials from then on; 0: never */
};

/* Temporary credentials are renewed this long before they expire, as
 * botocore does (KINESIS.md §6.1); a failed renewal is tried again after
 * RETRY_S while the old ones still work. Within EXPIRED_S of their end
 * they no longer sign: a request waits for the renewal instead. */
#define REFRESH_BEFORE_S (15 * 60)
#define REFRESH_RETRY_S 30
#define REFRESH_MIN_S 60
#define EXPIRED_S 10

struct sp_kcall {
    sp_kinesis *k;
    sp_kinesis_cb cb;
    void *arg;
    char op[48];
    unsigned gen;               /* the credentials it was signed with */
    sp_buf body;                /* until it is sent */
    sp_kinesis_result *held;    /* an ExpiredToken answer kept until the renewal ends */
    struct sp_kcall *next;      /* in k->wait */
};

/* ---- classification ---- */

static const struct {
    const char *code;
    enum sp_kclass klass;
} codes[] = {
    {"ProvisionedThroughputExceededException", SP_KC_THROTTLE},
    {"LimitExceededException", SP_KC_THROTTLE},
    {"ThrottlingException", SP_KC_THROTTLE},
    {"Throttling", SP_KC_THROTTLE},
    {"KMSThrottlingException", SP_KC_THROTTLE},
    {"InternalFailure", SP_KC_RETRY},
    {"InternalFailureException", SP_KC_RETRY},
    {"ServiceUnavailable", SP_KC_RETRY},
    {"ServiceUnavailableException", SP_KC_RETRY},
    {"RequestTimeout", SP_KC_RETRY},
    {"RequestTimeoutException", SP_KC_RETRY},
    {"ExpiredTokenException", SP_KC_CREDS_EXPIRED},
    {"ExpiredToken", SP_KC_CREDS_EXPIRED},
    {"ResourceInUseException", SP_KC_IN_USE},
    {"ExpiredIteratorException", SP_KC_EXPIRED_ITERATOR},
    {"ExpiredNextTokenException", SP_KC_EXPIRED_NEXT_TOKEN},
    {"ResourceNotFoundException", SP_KC_NOT_FOUND},
    {"IncompleteSignature", SP_KC_AUTH},
    {"IncompleteSignatureException", SP_KC_AUTH},
    {"InvalidSignatureException", SP_KC_AUTH},
    {"MissingAuthenticationToken", SP_KC_AUTH},
    {"MissingAuthenticationTokenException", SP_KC_AUTH},
    {"UnrecognizedClientException", SP_KC_AUTH},
    {"InvalidClientTokenId", SP_KC_AUTH},
    {"AccessDeniedException", SP_KC_AUTH},
    {"AccessDenied", SP_KC_AUTH},
};

int sp_kclass_retryable(enum sp_kclass c)
{
    return c == SP_KC_RETRY || c == SP_KC_THROTTLE || c == SP_KC_CLOCK_SKEW ||
           c == SP_KC_CREDS_EXPIRED || c == SP_KC_IN_USE;
}

const char *sp_kclass_name(enum sp_kclass c)
{
    static const char *const names[] = {
        "ok", "transient", "throttled", "clock skew", "credentials expired", "stream busy",
        "iterator expired", "list token expired", "not found", "credentials rejected", "fatal"};
    return (size_t)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

enum sp_kclass sp_kinesis_classify(long status, const char *code, const char *message)
{
    if (status >= 200 && status < 300)
        return SP_KC_OK;
    if (status == 0)
        return SP_KC_RETRY;
    /* Clock skew comes as InvalidSignatureException with this text. */
    if (message && strstr(message, "Signature expired") != NULL)
        return SP_KC_CLOCK_SKEW;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (code && strcmp(code, codes[i].code) == 0)
            return codes[i].klass;
    if (status == 500 || status == 502 || status == 503 || status == 504)
        return SP_KC_RETRY;
    if (status == 429)
        return SP_KC_THROTTLE;
    return SP_KC_FATAL;
}

/* Cut to fit, never inside a UTF-8 character. */
static void copy_str(char *out, size_t outlen, const char *s, size_t n)
{
    if (outlen == 0)
        return;
    if (n >= outlen)
        n = sp_utf8_cut(s, outlen - 1);
    memcpy(out, s, n);
    out[n] = '\0';
}

void sp_kinesis_parse_error(const char *body, size_t len, long status, const char *errtype,
                            char *code, size_t codelen, char *msg, size_t msglen)
{
    code[0] = '\0';
    msg[0] = '\0';
    json_tokener *tok = json_tokener_new();
    json_object *j = tok ? json_tokener_parse_ex(tok, body, (int)(len > 1 << 20 ? 1 << 20 : len)) : NULL;
    if (tok)
        json_tokener_free(tok);
    const char *type = NULL;
    json_object *v;
    if (j && json_object_is_type(j, json_type_object)) {
        if (json_object_object_get_ex(j, "__type", &v) && json_object_is_type(v, json_type_string))
            type = json_object_get_string(v);
        if ((json_object_object_get_ex(j, "message", &v) || json_object_object_get_ex(j, "Message", &v)) &&
            json_object_is_type(v, json_type_string))
            copy_str(msg, msglen, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    }
    if (type == NULL && errtype && *errtype)
        type = errtype;
    if (type != NULL) {
        const char *hash = strrchr(type, '#');
        if (hash)
            type = hash + 1;
        size_t n = strcspn(type, ":");
        copy_str(code, codelen, type, n);
    } else {
        snprintf(code, codelen, "%ld", status);
    }
    if (msg[0] == '\0' && (j == NULL) && len > 0) {
        /* Not JSON (a proxy page, say): keep the start of it, printable only. */
        size_t n = len < 120 ? len : 120, o = 0;
        for (size_t i = 0; i < n && o + 1 < msglen; i++)
            msg[o++] = isprint((unsigned char)body[i]) ? body[i] : ' ';
        msg[o] = '\0';
    }
    if (j)
        json_object_put(j);
}

/* ---- names ---- */

int sp_kinesis_check_stream_name(const char *name, sp_err *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > SP_STREAM_NAME_MAX)
        return sp_err_set(err, "stream name must be 1 to %d characters", SP_STREAM_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(isalnum(c) || c == '_' || c == '.' || c == '-'))
            return sp_err_set(err, "stream name '%s' has a character other than letters, digits, '_', '.', '-'", name);
    }
    return SP_OK;
}

/* ---- the client ---- */

/* When to renew after a resolution (ok) or a failed one. */
static void plan_refresh(sp_kinesis *k, int ok)
{
    time_t now = time(NULL) + k->skew;
    if (!ok && k->gen == 0) {
        k->refresh_at = now + REFRESH_RETRY_S;   /* none yet: try again later */
        return;
    }
    if (k->creds.expiration == 0) {
        k->refresh_at = 0;
        return;
    }
    long left = (long)(k->creds.expiration - now);
    if (!ok) {
        k->refresh_at = now + REFRESH_RETRY_S;
        return;
    }
    k->refresh_at = k->creds.expiration - REFRESH_BEFORE_S;
    /* Credentials that are due at once (a short session, a wrong clock)
     * must not turn every request into an STS call. */
    if (k->refresh_at <= now) {
        k->refresh_at = now + REFRESH_MIN_S;
        sp_log_warn(k->log, "temporary credentials from %s expire in %ld s, within the %d s "
                            "renewal window; is the clock right?", k->creds.source, left,
                    REFRESH_BEFORE_S);
    }
}

/* The current credentials may sign: there are some, Kinesis has not
 * called them expired, and they do not end within EXPIRED_S. */
static int creds_usable(const sp_kinesis *k)
{
    if (k->gen == 0 || k->refused_gen == k->gen)
        return 0;
    return k->creds.expiration == 0 || time(NULL) + k->skew + EXPIRED_S < k->creds.expiration;
}

static void adopt(sp_kinesis *k, sp_creds *fresh)
{
    int renewal = k->gen != 0;
    sp_creds_free(&k->creds);
    k->creds = *fresh;
    memset(fresh, 0, sizeof *fresh);
    if (++k->gen == 0)
        k->gen = 1;   /* 0 means none */
    sp_sigv4_cache_clear(&k->sigcache);
    plan_refresh(k, 1);
    sp_log_repeat_end(&k->refresh_log);
    if (renewal && k->creds.expiration != 0)
        sp_log_info(k->log, "renewed temporary credentials (%s); they expire in %ld s",
                    k->creds.source, (long)(k->creds.expiration - time(NULL) - k->skew));
}

static void on_refreshed(void *arg, sp_creds_result *res);

/* Renewing failed while the current set still signs (a revoked role, an
 * STS that refuses): an error at once, then again with backoff while it
 * lasts, so that the agent is never silent until they expire. */
static void refresh_failed(sp_kinesis *k, const char *msg)
{
    sp_log_repeat *r = &k->refresh_log;
    if (!sp_log_repeat_due(r, sp_loop_now_ms(k->loop), SP_LOG_REPEAT_FIRST_MS, SP_LOG_REPEAT_CAP_MS))
        return;
    long left = k->creds.expiration ? (long)(k->creds.expiration - time(NULL) - k->skew) : -1;
    char more[64] = "";
    if (r->held > 0)
        snprintf(more, sizeof more, "; %" PRIu64 " more failures since the last message", r->held);
    sp_log_error(k->log, "refreshing credentials failed: %s (the current ones expire in %ld s%s)", msg,
                 left, more);
    r->held = 0;
}

/* Starts the one resolution, unless it runs already. One that needs no
 * network ends at once. A failure to start is logged and tried again
 * after REFRESH_RETRY_S. */
static void start_refresh(sp_kinesis *k)
{
    if (k->refresh != NULL)
        return;
    sp_creds fresh;
    sp_err e;
    sp_log_debug(k->log, "renewing credentials (%s)", k->creds.source);
    if (sp_creds_resolve_start(&k->creds_opts, k->http, k->skew, &fresh, on_refreshed, k,
                               &k->refresh, &e) != SP_OK) {
        refresh_failed(k, e.msg);
        snprintf(k->last_error, sizeof k->last_error, "%s", e.msg);
        plan_refresh(k, 0);
    } else if (k->refresh == NULL) {
        adopt(k, &fresh);
    }
}

sp_kinesis *sp_kinesis_new(sp_loop *loop, sp_http *http, const sp_kinesis_opts *o, sp_err *err)
{
    sp_kinesis *k = calloc(1, sizeof *k);
    if (k == NULL) {
        sp_err_set(err, "out of memory");
        return NULL;
    }
    k->loop = loop;
    k->http = http;
    k->log = o->log;
    k->wait_tail = &k->wait;
    /* A copy: the options must outlive the configuration they came from,
     * which a reload frees, since credentials are resolved again later. */
    if (sp_creds_opts_copy(&k->creds_opts, &o->creds, err) != SP_OK) {
        free(k);
        return NULL;
    }
    snprintf(k->region, sizeof k->region, "%s", o->region);
    /* STS signs for the client's region unless told otherwise. */
    if (k->creds_opts.region == NULL && (k->creds_opts.region = strdup(k->region)) == NULL) {
        sp_err_set(err, "out of memory");
        goto fail;
    }
    if (o->endpoint && *o->endpoint) {
        if (strlen(o->endpoint) >= sizeof k->url) {
            sp_err_set(err, "endpoint URL too long");
            goto fail;
        }
        snprintf(k->url, sizeof k->url, "%s", o->endpoint);
    } else if (sp_endpoint_default("kinesis", o->region, k->url, sizeof k->url, err) != SP_OK) {
        goto fail;
    }
    if (sp_endpoint_host(k->url, k->host, sizeof k->host, err) != SP_OK)
        goto fail;
    /* The chain now (a missing key fails here); a role's STS call on the
     * loop, with the first calls waiting for it. */
    sp_creds fresh;
    if (sp_creds_resolve_start(&k->creds_opts, http, k->skew, &fresh, on_refreshed, k, &k->refresh,
                               err) != SP_OK)
        goto fail;
    if (k->refresh == NULL)
        adopt(k, &fresh);
    else if (k->creds_opts.role_arn != NULL && k->creds_opts.role_arn[0] != '\0')
        snprintf(k->creds.source, sizeof k->creds.source, "role %s (being assumed)",
                 k->creds_opts.role_arn);
    else
        snprintf(k->creds.source, sizeof k->creds.source, "%s", sp_creds_job_source(k->refresh));
    return k;
fail:
    sp_creds_opts_free(&k->creds_opts);
    free(k);
    return NULL;
}

static void call_free(struct sp_kcall *c)
{
    sp_buf_free(&c->body);
    free(c->held);
    free(c);
}

void sp_kinesis_free(sp_kinesis *k)
{
    if (k == NULL)
        return;
    sp_creds_job_cancel(k->refresh);
    while (k->wait) {   /* their callbacks are never called, as in sp_http_free */
        struct sp_kcall *c = k->wait;
        k->wait = c->next;
        call_free(c);
    }
    sp_creds_free(&k->creds);
    sp_creds_opts_free(&k->creds_opts);
    sp_sigv4_cache_clear(&k->sigcache);
    free(k);
}

const char *sp_kinesis_region(const sp_kinesis *k) { return k->region; }
const char *sp_kinesis_endpoint(const sp_kinesis *k) { return k->url; }
const char *sp_kinesis_creds_source(const sp_kinesis *k) { return k->creds.source; }
sp_loop *sp_kinesis_loop(const sp_kinesis *k) { return k->loop; }
const sp_log *sp_kinesis_log(const sp_kinesis *k) { return k->log; }

static void enqueue(sp_kinesis *k, struct sp_kcall *c)
{
    c->next = NULL;
    *k->wait_tail = c;
    k->wait_tail = &c->next;
}

/* Runs the callback (unless cancelled) and frees the call. */
static void deliver(struct sp_kcall *c, sp_kinesis_result *res)
{
    if (c->cb)
        c->cb(c->arg, res);
    if (res->json)
        json_object_put(res->json);
    call_free(c);
}

/* A waiting call that cannot be sent: it fails as a transfer would. */
static void fail_waiting(struct sp_kcall *c, enum sp_kclass klass, const char *code, const char *msg)
{
    sp_kinesis_result res;
    memset(&res, 0, sizeof res);
    res.klass = klass;
    snprintf(res.code, sizeof res.code, "%s", code);
    snprintf(res.message, sizeof res.message, "%s", msg);
    deliver(c, &res);
}

static int send_call(sp_kinesis *k, struct sp_kcall *c, sp_err *err);

/* The resolution ended: new credentials (ok) or not; the calls that
 * waited for it go on. */
static void on_refreshed(void *arg, sp_creds_result *res)
{
    sp_kinesis *k = arg;
    k->refresh = NULL;
    if (res->have_skew && res->skew != k->skew) {
        k->skew = res->skew;
        sp_log_warn(k->log, "clock differs from STS's by %ld s; correcting", k->skew);
    }
    int ok = res->rc == SP_OK;
    if (ok) {
        adopt(k, &res->creds);
    } else {
        if (k->gen != 0)
            refresh_failed(k, res->err.msg);
        snprintf(k->last_error, sizeof k->last_error, "%s", res->err.msg);
        plan_refresh(k, 0);
    }
    /* Detached first: the callbacks may queue calls behind a new renewal. */
    struct sp_kcall *c = k->wait;
    k->wait = NULL;
    k->wait_tail = &k->wait;
    while (c != NULL) {
        struct sp_kcall *next = c->next;
        sp_err e;
        if (c->cb == NULL) {
            call_free(c);
        } else if (c->held != NULL) {
            /* retried with the new credentials; without any the run cannot go on */
            if (!ok)
                c->held->klass = SP_KC_AUTH;
            deliver(c, c->held);
        } else if (k->gen != 0 && (ok || creds_usable(k))) {
            if (send_call(k, c, &e) != SP_OK)
                fail_waiting(c, SP_KC_RETRY, "RequestNotSent", e.msg);
        } else {
            fail_waiting(c, SP_KC_AUTH, "NoCredentials", k->last_error);
        }
        c = next;
    }
}

/* Kinesis called the credentials c was signed with expired. Unless newer
 * ones came since, one renewal runs and c's answer waits for its end.
 * 1: c is held; 0: deliver res as it is (now). */
static int on_expired(sp_kinesis *k, struct sp_kcall *c, sp_kinesis_result *res)
{
    if (c->gen != k->gen)
        return 0;   /* renewed since it was signed: the retry uses the new set */
    k->refused_gen = k->gen;
    start_refresh(k);
    if (k->refresh == NULL) {
        if (k->gen == c->gen)
            res->klass = SP_KC_AUTH;   /* renewing failed: the run cannot go on */
        return 0;
    }
    if ((c->held = malloc(sizeof *c->held)) == NULL)
        return 0;   /* retried later, and then waits */
    *c->held = *res;
    enqueue(k, c);
    return 1;
}

static void on_response(void *arg, const sp_http_response *r)
{
    struct sp_kcall *c = arg;
    sp_kinesis *k = c->k;
    sp_kinesis_result res;
    memset(&res, 0, sizeof res);
    res.status = r->status;
    snprintf(res.request_id, sizeof res.request_id, "%s", r->request_id ? r->request_id : "");
    if (r->status == 0) {
        res.klass = SP_KC_RETRY;
        res.maybe_done = r->sent;
        snprintf(res.code, sizeof res.code, "TransportError");
        snprintf(res.message, sizeof res.message, "%s", r->transport_error ? r->transport_error : "transfer failed");
    } else if (r->status >= 200 && r->status < 300 && strcmp(c->op, "PutRecords") == 0) {
        /* Read by the producer's scanner (putresp.h): no tree. */
        res.klass = SP_KC_OK;
        res.body = r->body;
        res.body_len = r->body_len;
    } else if (r->status >= 200 && r->status < 300) {
        res.body = r->body;
        res.body_len = r->body_len;
        json_tokener *tok = json_tokener_new();
        if (tok != NULL) {
            /* GetRecords answers can nest no deeper than ours; keep the default depth. */
            res.json = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
            if (res.json != NULL && json_tokener_get_parse_end(tok) != r->body_len) {
                size_t end = json_tokener_get_parse_end(tok);
                while (end < r->body_len && isspace((unsigned char)r->body[end]))
                    end++;
                if (end != r->body_len) {
                    json_object_put(res.json);
                    res.json = NULL;
                }
            }
            json_tokener_free(tok);
        }
        if (res.json == NULL || !json_object_is_type(res.json, json_type_object)) {
            if (res.json)
                json_object_put(res.json);
            res.json = NULL;
            res.klass = SP_KC_RETRY;
            res.maybe_done = 1;
            snprintf(res.code, sizeof res.code, "MalformedResponse");
            snprintf(res.message, sizeof res.message, "HTTP %ld with a body that is not a JSON object (%zu bytes)",
                     r->status, r->body_len);
        } else {
            res.klass = SP_KC_OK;
        }
    } else {
        sp_kinesis_parse_error(r->body, r->body_len, r->status, r->error_type,
                               res.code, sizeof res.code, res.message, sizeof res.message);
        res.klass = sp_kinesis_classify(r->status, res.code, res.message);
        /* 503 means not processed; a 500 or a gateway's 502/504 may come
         * after the service stored some or all of the request. */
        res.maybe_done = r->status == 500 || r->status == 502 || r->status == 504;
        if (res.klass == SP_KC_CLOCK_SKEW) {
            if (r->date > 0) {
                k->skew = (long)(r->date - time(NULL));
                sp_log_warn(k->log, "clock differs from the server's by %ld s; correcting", k->skew);
            } else {
                res.klass = SP_KC_FATAL; /* nothing to correct by */
            }
        }
    }
    sp_log_debug(k->log, "%s: HTTP %ld %s request-id %s", c->op, r->status, res.code,
                 res.request_id[0] ? res.request_id : "-");
    if (res.klass == SP_KC_CREDS_EXPIRED && on_expired(k, c, &res))
        return;
    deliver(c, &res); /* a NULL callback: cancelled, the caller is gone */
}

static void add_header(sp_buf *hb, size_t *offs, size_t *nh, const char *fmt, ...) SP_PRINTF(4, 5);

/* Appends one NUL-terminated header line to hb (reserved up front, so
 * that the token is never left behind by a realloc) and records where it
 * starts. */
static void add_header(sp_buf *hb, size_t *offs, size_t *nh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    offs[(*nh)++] = hb->len;
    if (n < 0 || sp_buf_reserve(hb, (size_t)n + 1) != SP_OK) {
        hb->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(hb->data + hb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    hb->len += (size_t)n + 1;
}

void sp_kinesis_cancel(sp_kcall *c)
{
    if (c != NULL)
        c->cb = NULL;
}

int sp_kinesis_call(sp_kinesis *k, const char *op, sp_buf *body,
                    sp_kinesis_cb cb, void *arg, sp_err *err)
{
    return sp_kinesis_call_h(k, op, body, cb, arg, NULL, err);
}

/* Signs c with the current credentials and hands it to http. */
static int send_call(sp_kinesis *k, struct sp_kcall *c, sp_err *err)
{
    char amz_date[SP_AMZ_DATE_LEN + 1];
    sp_sigv4_amz_date(time(NULL) + k->skew, amz_date);
    char target[80];
    snprintf(target, sizeof target, "Kinesis_20131202.%s", c->op);

    sp_sigv4_header sh[5];
    size_t nsh = 0;
    sh[nsh++] = (sp_sigv4_header){"content-type", "application/x-amz-json-1.1"};
    sh[nsh++] = (sp_sigv4_header){"host", k->host};
    sh[nsh++] = (sp_sigv4_header){"x-amz-date", amz_date};
    if (k->creds.token)
        sh[nsh++] = (sp_sigv4_header){"x-amz-security-token", k->creds.token};
    sh[nsh++] = (sp_sigv4_header){"x-amz-target", target};
    sp_sigv4_request sreq = {"POST", "/", "", sh, nsh, c->body.data ? c->body.data : "", c->body.len};
    sp_sigv4_scope scope = {k->region, "kinesis", amz_date};
    char auth[SP_SIGV4_AUTH_MAX];
    if (sp_sigv4_sign(&sreq, &scope, k->creds.access_key_id, k->creds.secret, &k->sigcache,
                      auth, sizeof auth, err) != SP_OK)
        return SP_ERR;

    /* Headers as sent, NUL-separated in one buffer (the token is long). */
    sp_buf hb;
    sp_buf_init(&hb, 0);
    sp_buf_reserve(&hb, 512 + strlen(k->host) + (k->creds.token ? strlen(k->creds.token) : 0) +
                            strlen(auth) + strlen(target));
    const char *hdrs[8];
    size_t offs[8], nh = 0;
    add_header(&hb, offs, &nh, "Host: %s", k->host);
    add_header(&hb, offs, &nh, "Content-Type: application/x-amz-json-1.1");
    add_header(&hb, offs, &nh, "X-Amz-Date: %s", amz_date);
    add_header(&hb, offs, &nh, "X-Amz-Target: %s", target);
    if (k->creds.token)
        add_header(&hb, offs, &nh, "X-Amz-Security-Token: %s", k->creds.token);
    add_header(&hb, offs, &nh, "Authorization: %s", auth);
    /* Unsigned: stops libcurl from waiting for 100-continue on big bodies. */
    add_header(&hb, offs, &nh, "Expect:");
    explicit_bzero(auth, sizeof auth);
    int rc = sp_buf_check(&hb, err, "request headers");
    for (size_t i = 0; rc == SP_OK && i < nh; i++)
        hdrs[i] = hb.data + offs[i];
    if (rc == SP_OK)
        rc = sp_http_post(k->http, k->url, hdrs, nh, &c->body, on_response, c, err);
    /* The token and signature lived in hb. */
    sp_buf_wipe_free(&hb);
    if (rc == SP_OK)
        c->gen = k->gen;
    return rc;
}

int sp_kinesis_call_h(sp_kinesis *k, const char *op, sp_buf *body,
                      sp_kinesis_cb cb, void *arg, sp_kcall **handle, sp_err *err)
{
    if (sp_buf_check(body, err, "request body") != SP_OK)
        return SP_ERR;
    struct sp_kcall *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sp_err_set(err, "out of memory");
    c->k = k;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->op, sizeof c->op, "%s", op);
    c->body = *body;
    sp_buf_init(body, body->max);
    /* Ahead of expiry the renewal runs on the loop while this call and the
     * ones after it are signed with the current credentials. */
    if (k->refresh_at != 0 && time(NULL) + k->skew >= k->refresh_at)
        start_refresh(k);
    if (!creds_usable(k) && k->refresh != NULL) {
        enqueue(k, c);   /* signed when the renewal ends */
    } else if (k->gen == 0) {
        call_free(c);
        return sp_err_set(err, "no credentials: %s", k->last_error);
    } else if (send_call(k, c, err) != SP_OK) {
        call_free(c);
        return SP_ERR;
    }
    if (handle)
        *handle = c;
    return SP_OK;
}

void sp_kinesis_result_free(sp_kinesis_result *r)
{
    if (r->json)
        json_object_put(r->json);
    r->json = NULL;
}

int sp_kinesis_explain(const sp_kinesis *k, const char *op, const char *stream,
                       const sp_kinesis_result *res, sp_err *err)
{
    /* What identifies the failure comes first and the server's text last:
     * the message is cut to fit, and a long server text (one that quotes
     * a rejected key, say) must lose only its own end. */
    char rid[sizeof res->request_id + 16] = "";
    if (res->request_id[0])
        snprintf(rid, sizeof rid, ", request id %s", res->request_id);
    /* Credentials that could not be had: the resolution's message says
     * all (role, base source, endpoint, request id). */
    enum sp_errcode code = sp_kclass_retryable(res->klass) ? SP_E_TRANSIENT
                           : res->klass == SP_KC_NOT_FOUND ? SP_E_NOENT : SP_E_INVALID;
    if (res->klass == SP_KC_AUTH && res->status == 0)
        return sp_err_setc(err, code, "%s", res->message);
    switch (res->klass) {
    case SP_KC_NOT_FOUND:
        return sp_err_setc(err, code, "%s: stream '%s' was not found (region %s, endpoint %s%s): %s", op,
                          stream ? stream : "?", k->region, k->url, rid, res->message);
    case SP_KC_AUTH:
        return sp_err_setc(err, code, "%s was refused: %s (credentials from %s, region %s, endpoint %s%s): %s",
                          op, res->code, k->creds.source, k->region, k->url, rid, res->message);
    default:
        if (res->status == 0)
            return sp_err_setc(err, code, "%s to %s failed (region %s): %s", op, k->url, k->region, res->message);
        return sp_err_setc(err, code, "%s on stream '%s' failed: HTTP %ld %s (region %s, endpoint %s%s): %s", op,
                          stream ? stream : "?", res->status, res->code, k->region, k->url, rid,
                          res->message);
    }
}

/* ---- request bodies ---- */

int sp_kinesis_body_stream(sp_buf *b, const char *stream)
{
    sp_buf_puts(b, "{\"StreamName\":");
    sp_buf_json_str(b, stream, strlen(stream));
    return sp_buf_putc(b, '}');
}

int sp_kinesis_body_list_shards(sp_buf *b, const char *stream, const char *filter,
                                const char *next_token)
{
    if (next_token) {
        sp_buf_puts(b, "{\"NextToken\":");
        sp_buf_json_str(b, next_token, strlen(next_token));
        return sp_buf_puts(b, ",\"MaxResults\":1000}");
    }
    sp_buf_puts(b, "{\"StreamName\":");
    sp_buf_json_str(b, stream, strlen(stream));
    if (filter)
        sp_buf_printf(b, ",\"ShardFilter\":{\"Type\":\"%s\"}", filter);
    return sp_buf_puts(b, ",\"MaxResults\":1000}");
}

int sp_kinesis_body_shard_iterator(sp_buf *b, const char *stream, const char *shard_id,
                                   const char *type, const char *seq, int64_t ts_ms)
{
    sp_buf_puts(b, "{\"StreamName\":");
    sp_buf_json_str(b, stream, strlen(stream));
    sp_buf_puts(b, ",\"ShardId\":");
    sp_buf_json_str(b, shard_id, strlen(shard_id));
    sp_buf_printf(b, ",\"ShardIteratorType\":\"%s\"", type);
    if (seq) {
        sp_buf_puts(b, ",\"StartingSequenceNumber\":");
        sp_buf_json_str(b, seq, strlen(seq));
    }
    if (strcmp(type, "AT_TIMESTAMP") == 0)
        sp_buf_printf(b, ",\"Timestamp\":%lld.%03d", (long long)(ts_ms / 1000), (int)(ts_ms % 1000));
    return sp_buf_putc(b, '}');
}

int sp_kinesis_body_get_records(sp_buf *b, const char *iterator, long limit)
{
    sp_buf_puts(b, "{\"ShardIterator\":");
    sp_buf_json_str(b, iterator, strlen(iterator));
    if (limit > 0)
        sp_buf_printf(b, ",\"Limit\":%ld", limit);
    return sp_buf_putc(b, '}');
}

/* ---- responses ---- */

static const char *get_str(json_object *o, const char *key)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

static int get_num(json_object *o, const char *key, double *out)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) &&
        (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))) {
        *out = json_object_get_double(v);
        return 1;
    }
    return 0;
}

static void set_str(char *out, size_t outlen, const char *s)
{
    snprintf(out, outlen, "%s", s ? s : "");
}

int sp_kinesis_parse_summary(json_object *j, sp_stream_summary *out, sp_err *err)
{
    memset(out, 0, sizeof *out);
    json_object *d;
    if (!json_object_object_get_ex(j, "StreamDescriptionSummary", &d) ||
        !json_object_is_type(d, json_type_object))
        return sp_err_set(err, "DescribeStreamSummary: response has no StreamDescriptionSummary object");
    const char *name = get_str(d, "StreamName");
    const char *status = get_str(d, "StreamStatus");
    if (name == NULL || status == NULL)
        return sp_err_set(err, "DescribeStreamSummary: response lacks StreamName or StreamStatus");
    set_str(out->name, sizeof out->name, name);
    set_str(out->status, sizeof out->status, status);
    set_str(out->arn, sizeof out->arn, get_str(d, "StreamARN"));
    set_str(out->encryption, sizeof out->encryption, get_str(d, "EncryptionType"));
    json_object *m;
    if (json_object_object_get_ex(d, "StreamModeDetails", &m))
        set_str(out->mode, sizeof out->mode, get_str(m, "StreamMode"));
    if (out->mode[0] == '\0')
        set_str(out->mode, sizeof out->mode, "PROVISIONED"); /* kinesalite predates modes */
    double v;
    out->retention_hours = get_num(d, "RetentionPeriodHours", &v) ? (long)v : 0;
    out->open_shards = get_num(d, "OpenShardCount", &v) ? (long)v : -1;
    out->created = get_num(d, "StreamCreationTimestamp", &v) ? v : 0;
    out->max_record_kib = 1024;
    if (get_num(d, "MaxRecordSizeInKiB", &v)) {
        if (v < 1 || v > 10240)
            return sp_err_set(err, "DescribeStreamSummary: MaxRecordSizeInKiB %.0f is outside 1..10240", v);
        out->max_record_kib = (long)v;
    }
    return SP_OK;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int sp_kinesis_parse_shards(json_object *j, sp_shard **shards, size_t *n,
                            char **next_token, sp_err *err)
{
    *next_token = NULL;
    json_object *arr;
    json_object *desc;
    /* DescribeStream nests the list; ListShards does not. */
    if (json_object_object_get_ex(j, "StreamDescription", &desc))
        j = desc;
    if (!json_object_object_get_ex(j, "Shards", &arr) || !json_object_is_type(arr, json_type_array))
        return sp_err_set(err, "ListShards: response has no Shards array");
    size_t add = json_object_array_length(arr);
    if (add > 0) {
        if (*n + add < *n || *n + add > (size_t)1 << 20)
            return sp_err_set(err, "ListShards: too many shards");
        sp_shard *s = realloc(*shards, (*n + add) * sizeof *s);
        if (s == NULL)
            return sp_err_set(err, "out of memory");
        *shards = s;
    }
    for (size_t i = 0; i < add; i++) {
        json_object *o = json_object_array_get_idx(arr, i);
        sp_shard *sh = &(*shards)[*n];
        memset(sh, 0, sizeof *sh);
        const char *id = get_str(o, "ShardId");
        json_object *hk = NULL, *sq = NULL;
        json_object_object_get_ex(o, "HashKeyRange", &hk);
        json_object_object_get_ex(o, "SequenceNumberRange", &sq);
        const char *start = get_str(hk, "StartingHashKey");
        const char *end = get_str(hk, "EndingHashKey");
        if (id == NULL || start == NULL || end == NULL || strlen(id) > SP_SHARD_ID_MAX)
            return sp_err_set(err, "ListShards: shard %zu lacks ShardId or HashKeyRange", i);
        if (sp_u128_parse(start, strlen(start), &sh->start) != 0 ||
            sp_u128_parse(end, strlen(end), &sh->end) != 0)
            return sp_err_set(err, "ListShards: shard %s has a hash key that is not a 128-bit decimal", id);
        snprintf(sh->id, sizeof sh->id, "%s", id);
        sh->start_seq = dup_or_null(get_str(sq, "StartingSequenceNumber"));
        sh->end_seq = dup_or_null(get_str(sq, "EndingSequenceNumber"));
        sh->parent = dup_or_null(get_str(o, "ParentShardId"));
        sh->adjacent_parent = dup_or_null(get_str(o, "AdjacentParentShardId"));
        (*n)++;
        if ((get_str(sq, "StartingSequenceNumber") && !sh->start_seq) ||
            (get_str(sq, "EndingSequenceNumber") && !sh->end_seq) ||
            (get_str(o, "ParentShardId") && !sh->parent) ||
            (get_str(o, "AdjacentParentShardId") && !sh->adjacent_parent))
            return sp_err_set(err, "out of memory");
    }
    const char *tok = get_str(j, "NextToken");
    if (tok) {
        *next_token = strdup(tok);
        if (*next_token == NULL)
            return sp_err_set(err, "out of memory");
    }
    return SP_OK;
}

int sp_kinesis_parse_get_records(json_object *j, sp_get_records *out, sp_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_object_object_get_ex(j, "Records", &out->records) ||
        !json_object_is_type(out->records, json_type_array))
        return sp_err_set(err, "GetRecords: response has no Records array");
    out->n = json_object_array_length(out->records);
    out->next_iterator = get_str(j, "NextShardIterator");
    double v;
    out->millis_behind = get_num(j, "MillisBehindLatest", &v) ? (int64_t)v : -1;
    return SP_OK;
}

int sp_kinesis_record_at(const sp_get_records *g, size_t i, sp_kinesis_record *out, sp_err *err)
{
    json_object *o = json_object_array_get_idx(g->records, i);
    json_object *d, *pk;
    memset(out, 0, sizeof *out);
    out->seq = get_str(o, "SequenceNumber");
    if (out->seq == NULL || !json_object_object_get_ex(o, "Data", &d) || !json_object_is_type(d, json_type_string) ||
        !json_object_object_get_ex(o, "PartitionKey", &pk) || !json_object_is_type(pk, json_type_string))
        return sp_err_set(err, "GetRecords: record %zu lacks SequenceNumber, Data or PartitionKey", i);
    out->data_b64 = json_object_get_string(d);
    out->data_b64_len = (size_t)json_object_get_string_len(d);
    out->pk = json_object_get_string(pk);
    out->pk_len = (size_t)json_object_get_string_len(pk);
    get_num(o, "ApproximateArrivalTimestamp", &out->arrival);
    return SP_OK;
}

void sp_shard_clear(sp_shard *s)
{
    free(s->start_seq);
    free(s->end_seq);
    free(s->parent);
    free(s->adjacent_parent);
    s->start_seq = s->end_seq = s->parent = s->adjacent_parent = NULL;
}

void sp_shards_free(sp_shard *shards, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sp_shard_clear(&shards[i]);
    free(shards);
}
