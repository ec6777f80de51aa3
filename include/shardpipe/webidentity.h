/* Web identity (EKS IRSA; KINESIS.md §6.1 item 3): STS
 * AssumeRoleWithWebIdentity with the token in a file the platform
 * rotates, so the file is read again at every start (every renewal). The
 * call is unsigned (the API takes no credentials), Query protocol, an XML
 * answer read by sts.c's parser; it runs on the event loop through http.c.
 * The token, the secret and the session token never reach a message, and
 * the buffers that held them are wiped. */
#ifndef SHARDPIPE_WEBIDENTITY_H
#define SHARDPIPE_WEBIDENTITY_H

#include "shardpipe/creds.h"
#include "shardpipe/err.h"
#include "shardpipe/http.h"

typedef struct sp_webid_opts {
    const char *token_file;     /* AWS_WEB_IDENTITY_TOKEN_FILE or web_identity_token_file */
    const char *role_arn;       /* AWS_ROLE_ARN or the profile's role_arn */
    const char *session_name;   /* NULL or "": "shardpipe-<unix time>" */
    const char *region;         /* picks the regional endpoint */
    const char *endpoint;       /* NULL or "": https://sts.REGION.amazonaws.com */
    const char *endpoint_from;  /* for messages */
    const char *from;           /* where the settings came from, for messages:
                                   "environment" or "config file ..., profile [x]" */
} sp_webid_opts;

typedef struct sp_webid_call sp_webid_call;

/* As sp_creds_done_fn. */
typedef void (*sp_webid_done_fn)(void *arg, sp_creds_result *res);

/* Reads the token file and starts the call; SP_ERR (done never called)
 * for a file that cannot be read or parameters STS would refuse. On
 * success the creds' source reads "web identity (role ARN, token file
 * PATH)"; every failure message starts "web identity: " and names the
 * role. */
int sp_webid_start(sp_http *http, const sp_webid_opts *o, sp_webid_done_fn done, void *arg,
                   sp_webid_call **call, sp_err *err);

/* Withdraws a call: done is never called. NULL is fine. */
void sp_webid_cancel(sp_webid_call *c);

#endif
