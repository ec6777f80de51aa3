/* EC2 instance metadata (IMDS; KINESIS.md §6.1 item 11): the instance
 * role's temporary credentials. IMDSv2: PUT /latest/api/token with a TTL
 * header, then, with the token, the role name from
 * /latest/meta-data/iam/security-credentials/ and its credentials (the
 * JSON document, ecscreds.h). As botocore: IMDSv1 (no token) only when
 * the token PUT answers 403, 404 or 405 or connects but times out (the
 * hop limit inside a container), unless IMDSv1 is disabled. A new token
 * at every start (a renewal is hourly), 1 s timeouts and one attempt, so
 * that off EC2 it costs little. Every step runs on the event loop through
 * http.c; the token, the secret and the session token never reach a
 * message, and the buffers that held them are wiped. */
#ifndef SHARDPIPE_IMDS_H
#define SHARDPIPE_IMDS_H

#include <stddef.h>

#include "shardpipe/creds.h"
#include "shardpipe/err.h"
#include "shardpipe/http.h"
#include "shardpipe/loop.h"

#define SP_IMDS_ENDPOINT_V4 "http://169.254.169.254"
#define SP_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define SP_IMDS_TIMEOUT_MS 1000
#define SP_IMDS_TOKEN_TTL_S 21600

typedef struct sp_imds_opts {
    const char *endpoint;   /* AWS_EC2_METADATA_SERVICE_ENDPOINT; NULL: by mode */
    const char *mode;       /* AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: IPv4 (NULL) or IPv6 */
    int v1_disabled;        /* AWS_EC2_METADATA_V1_DISABLED=true */
    long timeout_ms;        /* 0: SP_IMDS_TIMEOUT_MS */
} sp_imds_opts;

/* The base URL (no trailing "/"); a bad mode or endpoint is an error
 * naming the variable. */
int sp_imds_base(const sp_imds_opts *o, char *out, size_t outlen, sp_err *err);

typedef struct sp_imds_call sp_imds_call;

/* As sp_creds_done_fn. */
typedef void (*sp_imds_done_fn)(void *arg, sp_creds_result *res);

/* Starts the walk to the role's credentials: done once, from the loop,
 * with them (source "instance metadata (role NAME)") or with an error
 * that starts "instance metadata: " and says why ("no role attached to
 * this instance"). SP_ERR: nothing started. */
int sp_imds_creds_start(sp_http *http, const sp_imds_opts *o, sp_imds_done_fn done, void *arg,
                        sp_imds_call **call, sp_err *err);

/* Withdraws a call: done is never called. NULL is fine. */
void sp_imds_cancel(sp_imds_call *c);

/* The instance's region (/latest/meta-data/placement/region, after a
 * token as above), for when nothing else names one. It runs a private
 * event loop until the answer (a few seconds at most): only at start-up,
 * before the program's own loop runs, and never from a loop callback. */
int sp_imds_region(const sp_imds_opts *o, char *out, size_t outlen, sp_err *err);

#endif
