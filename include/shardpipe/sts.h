/* STS AssumeRole (Query protocol, API version 2011-06-15): turns the base
 * credentials that the provider chain found into a role's temporary ones.
 *
 * The call is a request on the event loop through http.c (5 s to connect,
 * 10 s in all) whose answer comes to a callback: nothing waits for it. It
 * is signed with the clock offset the caller learned from the servers'
 * Date headers. The response is read by a small strict XML parser of our
 * own: no library for five elements. No function here ever puts a secret,
 * a session token or the external ID into an error message, and every
 * buffer that held one is wiped before it is freed. */
#ifndef SHARDPIPE_STS_H
#define SHARDPIPE_STS_H

#include <stddef.h>
#include <time.h>

#include "shardpipe/buf.h"
#include "shardpipe/creds.h"
#include "shardpipe/err.h"
#include "shardpipe/http.h"

#define SP_STS_DURATION_S 3600         /* what the Kinesis Agent asks for too */
#define SP_STS_CONNECT_TIMEOUT_MS 5000
#define SP_STS_TIMEOUT_MS 10000

typedef struct sp_sts_opts {
    const char *region;        /* signs with it; picks the default endpoint */
    const char *endpoint;      /* NULL or "": https://sts.REGION.amazonaws.com[.cn] */
    const char *endpoint_from; /* where endpoint came from, for messages; NULL: "STS" */
    const char *role_arn;
    const char *external_id;   /* NULL or "": none */
    const char *session_name;  /* NULL or "": "shardpipe-<unix time>" */
    long duration_s;           /* 0: SP_STS_DURATION_S */
    long connect_timeout_ms;   /* 0: SP_STS_CONNECT_TIMEOUT_MS */
    long timeout_ms;           /* 0: SP_STS_TIMEOUT_MS */
    long skew;                 /* server time - local time, seconds: signs for then */
} sp_sts_opts;

/* What an ErrorResponse said; all "" when there was none. Never secret. */
typedef struct sp_sts_fault {
    char code[96];
    char message[256];
    char request_id[128];
} sp_sts_fault;

/* Checks of the request parameters, as the STS model constrains them (the
 * role ARN more tightly: it must name an IAM role). Messages quote the ARN
 * and the session name, never the external ID. */
int sp_sts_check_role_arn(const char *arn, sp_err *err);
int sp_sts_check_external_id(const char *id, sp_err *err);
int sp_sts_check_session_name(const char *name, sp_err *err);

/* The region a request to host must be signed for: REGION for
 * sts[-fips].REGION.amazonaws.com[.cn], us-east-1 for the global
 * sts.amazonaws.com, otherwise fallback (a test or VPC endpoint). Writes
 * at most outlen - 1 characters. */
void sp_sts_signing_region(const char *host, const char *fallback, char *out, size_t outlen);

/* Appends the form-encoded AssumeRole body: Action, Version, RoleArn,
 * RoleSessionName, then ExternalId (when not NULL) and DurationSeconds
 * (when > 0). Values are percent-encoded except for RFC 3986's
 * unreserved characters. */
int sp_sts_body_assume_role(sp_buf *b, const char *role_arn, const char *session_name,
                            const char *external_id, long duration_s);

/* An ISO-8601 UTC time as STS writes it: YYYY-MM-DDTHH:MM:SS, optional
 * fraction, then Z or an offset (+HH:MM, -HH:MM). */
int sp_sts_parse_time(const char *s, time_t *out);

/* Reads an AssumeRole response body. An AssumeRoleResponse with all of
 * Credentials/{AccessKeyId,SecretAccessKey,SessionToken,Expiration} fills
 * out (source left empty) and returns SP_OK. An ErrorResponse fills fault
 * (code set) and returns SP_ERR with "Code: Message" in err. Anything else
 * (not well-formed, truncated, another root element, a field missing or
 * given twice) returns SP_ERR with fault->code "" and a message that
 * names what is wrong, never the text of a field. fault may be NULL. */
int sp_sts_parse_assume_role(const char *xml, size_t len, sp_creds *out, sp_sts_fault *fault,
                             sp_err *err);

/* The same for the answer to another action that returns credentials
 * ("AssumeRoleWithWebIdentity"): ACTIONResponse/ACTIONResult/Credentials. */
int sp_sts_parse_response(const char *action, const char *xml, size_t len, sp_creds *out,
                          sp_sts_fault *fault, sp_err *err);

/* Appends "&Name=value", the value percent-encoded as in the bodies above. */
void sp_sts_form_param(sp_buf *b, const char *name, const char *value);

/* One AssumeRole on its way. */
typedef struct sp_sts_call sp_sts_call;

/* Called once, from the loop. res->creds are the callback's: it keeps
 * them (a struct copy) or frees them with sp_creds_free. On success their
 * source reads "role ARN assumed with credentials from <base source>";
 * every failure message names the role ARN, the source of the base
 * credentials and the endpoint (and the request id when STS gave one).
 * When STS refused the request's time, res->skew is the offset its Date
 * header implies. */
typedef void (*sp_sts_done_fn)(void *arg, sp_creds_result *res);

/* Starts AssumeRole with base (its session token, if any, is sent as
 * X-Amz-Security-Token; base is not needed once this returns). SP_ERR
 * for parameters that cannot work, before any I/O, and then done is never
 * called. *call, when call is not NULL, is valid until done starts. */
int sp_sts_assume_role_start(sp_http *http, const sp_sts_opts *o, const sp_creds *base,
                             sp_sts_done_fn done, void *arg, sp_sts_call **call, sp_err *err);

/* Withdraws a call (its owner is going away): done is never called and
 * what the request held is wiped. Before sp_http_free; NULL is fine. */
void sp_sts_cancel(sp_sts_call *c);

#endif
