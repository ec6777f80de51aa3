/* AWS credentials and region: the provider chain (KINESIS.md §6).
 * Order: command line -> environment -> shared credentials/config file
 * profile -> legacy boto file. Each provider is one entry in a table in
 * credentials.c, so container, instance-metadata and web-identity providers
 * slot in later without changing callers. No function here ever puts a
 * secret or token into an error message or log.
 *
 * Details (see credentials.c):
 *   - an explicit profile (opts->profile) skips the environment keys, as
 *     botocore and the AWS CLI do; AWS_PROFILE does not;
 *   - AWS_SESSION_TOKEN wins over the legacy AWS_SECURITY_TOKEN, and
 *     aws_session_token over aws_security_token in files;
 *   - access key ids must match [A-Za-z0-9_]{3,128}: looser than AWS's
 *     [A-Z0-9]{16,128} so that emulator ids like "AKIDEXAMPLE" or "test" work;
 *   - empty environment variables count as unset; "~/" in a path variable
 *     is expanded with HOME (from getenv_fn);
 *   - boto files follow boto2: BOTO_CONFIG alone if set, else /etc/boto.cfg
 *     then ~/.boto, later keys overriding earlier ones. For tests only, an
 *     injected getenv_fn can move /etc/boto.cfg with
 *     SHARDPIPE_TEST_BOTO_SYSTEM_FILE; the real environment cannot. */
#ifndef SHARDPIPE_CREDENTIALS_H
#define SHARDPIPE_CREDENTIALS_H

#include <stddef.h>
#include <time.h>
#include "shardpipe/err.h"

#define SP_AKID_MAX 128
#define SP_CREDS_SOURCE_MAX 256

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

/* Environment lookup, injectable for tests; NULL means getenv(3). */
typedef const char *(*sp_getenv_fn)(const char *name, void *arg);

typedef struct sp_creds_opts {
    /* From the command line; NULL when not given. A key id without a
     * secret (or the reverse) is an error. */
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
    const char *profile;     /* --profile; NULL: AWS_PROFILE, AWS_DEFAULT_PROFILE, "default".
                                Set, it skips the environment provider. */
    sp_getenv_fn getenv_fn;  /* NULL: getenv(3) */
    void *getenv_arg;
} sp_creds_opts;

/* Walks the chain; the first provider that has credentials wins. A
 * provider that finds a broken source (a key without a secret, an
 * unreadable file, a malformed access key id) fails the whole resolution
 * with a message naming the source, rather than silently falling through.
 * When nothing is found the message lists every place that was looked at. */
int sp_creds_resolve(const sp_creds_opts *o, sp_creds *out, sp_err *err);

void sp_creds_free(sp_creds *c);

/* Region: cli_region (--region) -> AWS_REGION -> AWS_DEFAULT_REGION -> the
 * profile's `region` in the config file. Writes to out; if none is found,
 * returns SP_ERR with a message that says how to set one. */
int sp_region_resolve(const sp_creds_opts *o, const char *cli_region,
                      char *out, size_t outlen, sp_err *err);

/* The profile name that o selects (for messages). */
const char *sp_creds_profile(const sp_creds_opts *o);

#endif
