/* Container credentials (ECS task roles, EKS Pod Identity; KINESIS.md §6.1
 * item 10): one GET of a local endpoint that answers with the JSON
 * credential document, which instance metadata (imds.h) serves too, so
 * its reader lives here. The request runs on the event loop through
 * http.c; the Authorization token file is re-read at every start because
 * the platform rotates it. No message ever holds the token or a secret,
 * and every buffer that held one is wiped. */
#ifndef SHARDPIPE_ECSCREDS_H
#define SHARDPIPE_ECSCREDS_H

#include <stddef.h>

#include "shardpipe/creds.h"
#include "shardpipe/err.h"
#include "shardpipe/http.h"

#define SP_ECS_HOST "169.254.170.2"   /* what a relative URI is appended to */
#define SP_ECS_TIMEOUT_MS 2000         /* botocore's */

/* The URL to ask: "http://169.254.170.2" + relative (it must start with
 * "/"), else full, whose host must be a loopback address, 169.254.170.2,
 * 169.254.170.23 or fd00:ec2::23, unless the scheme is https (botocore's
 * rule). The messages name the variable. */
int sp_ecs_url(const char *relative, const char *full, char *out, size_t outlen, sp_err *err);

/* Reads a credential document: a JSON object with the strings
 * AccessKeyId, SecretAccessKey, Token and Expiration (ISO-8601), all
 * required; other members are ignored, but a "Code" other than "Success"
 * is an error. The message names what is wrong, never a value. */
int sp_creds_parse_json(const char *s, size_t len, sp_creds *out, sp_err *err);

typedef struct sp_ecs_opts {
    const char *url;            /* from sp_ecs_url */
    const char *token_file;     /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: wins */
    const char *token;          /* AWS_CONTAINER_AUTHORIZATION_TOKEN */
    long timeout_ms;            /* 0: SP_ECS_TIMEOUT_MS */
} sp_ecs_opts;

typedef struct sp_ecs_call sp_ecs_call;

/* As sp_creds_done_fn: res->creds are the callback's. */
typedef void (*sp_ecs_done_fn)(void *arg, sp_creds_result *res);

/* Starts the GET. SP_ERR (nothing started, done never called) for a
 * token file that cannot be read or a token with CR or LF. done is called
 * once from the loop; the creds' source reads "container credentials
 * (URL)". */
int sp_ecs_start(sp_http *http, const sp_ecs_opts *o, sp_ecs_done_fn done, void *arg,
                 sp_ecs_call **call, sp_err *err);

/* Withdraws a call: done is never called. NULL is fine. */
void sp_ecs_cancel(sp_ecs_call *c);

#endif
