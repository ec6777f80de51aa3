/* Credentials as a request is signed with them (KINESIS.md §6): what the
 * provider chain (credentials.h) and STS (sts.h) both produce, and the
 * result a resolution that goes over the network hands to its callback. */
#ifndef SHARDPIPE_CREDS_H
#define SHARDPIPE_CREDS_H

#include <time.h>

#include "shardpipe/err.h"

#define SP_AKID_MAX 128
#define SP_CREDS_SOURCE_MAX 512   /* a role ARN plus a file path */

typedef struct sp_creds {
    char access_key_id[SP_AKID_MAX + 1];
    char *secret;            /* heap; wiped before free */
    char *token;             /* heap or NULL; wiped before free */
    time_t expiration;       /* 0: does not expire */
    /* Where they came from, for messages: e.g. "environment
     * (AWS_ACCESS_KEY_ID)" or "shared credentials file
     * /root/.aws/credentials, profile [default]". Never holds a secret. */
    char source[SP_CREDS_SOURCE_MAX];
} sp_creds;

/* What an asynchronous resolution ends with. The callback owns creds:
 * it keeps them (a struct copy) or frees them with sp_creds_free. */
typedef struct sp_creds_result {
    int rc;                  /* SP_OK: creds are set; SP_ERR: err says why */
    sp_creds creds;
    sp_err err;              /* never holds a secret */
    int have_skew;           /* a service refused the request's time ("Signature
                                expired") and sent a Date header: */
    long skew;               /* then server time - local time, seconds */
} sp_creds_result;

/* 1 when s is an access key id as shardpipe takes them: [A-Za-z0-9_]{3,128},
 * looser than AWS's [A-Z0-9]{16,128} so that emulator ids work. The one
 * rule, for the command line, the environment, files and configuration. */
int sp_creds_akid_ok(const char *s);

/* Wipes the secret and the token, then the struct. NULL is fine. */
void sp_creds_free(sp_creds *c);

#endif
