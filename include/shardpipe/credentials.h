/* AWS credentials and region: the provider chain (KINESIS.md §6).
 * Order: command line -> environment -> web identity (webidentity.h) ->
 * a role profile (role_arn with source_profile, credential_source or
 * web_identity_token_file; profile.h) -> shared credentials/config file
 * profile -> legacy boto file -> container credentials (ecscreds.h) ->
 * instance metadata (imds.h). Each provider is
 * one entry in a table in credentials.c. The last three sources need the
 * network: the chain only chooses them (their variables are set; instance
 * metadata unless AWS_EC2_METADATA_DISABLED=true) and
 * sp_creds_resolve_start asks them on the event loop, never blocking; a
 * chosen source that fails ends the resolution, as in botocore. With a
 * role ARN, the chain's answer is only the base: STS AssumeRole (sts.h)
 * turns it into the role's temporary credentials, on the loop too. No
 * function here ever puts a secret or token into an error message or log.
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
#include "shardpipe/creds.h"
#include "shardpipe/err.h"
#include "shardpipe/http.h"

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
    /* AssumeRole on top of what the chain found; NULL or "": no role. */
    const char *role_arn;
    const char *external_id;        /* NULL: none */
    const char *role_session_name;  /* NULL: "shardpipe-<unix time>" */
    const char *sts_endpoint;       /* NULL: AWS_ENDPOINT_URL_STS, then
                                       AWS_ENDPOINT_URL, then the regional one */
    const char *region;             /* for STS; NULL: as sp_region_resolve
                                       finds it without --region */
    sp_getenv_fn getenv_fn;  /* NULL: getenv(3) */
    void *getenv_arg;
} sp_creds_opts;

/* Deep copies of the strings in src (secrets wiped again on free), so that
 * a long-lived client can re-resolve after the configuration it came from
 * was freed (a reload). getenv_fn and getenv_arg are copied as they are. */
int sp_creds_opts_copy(sp_creds_opts *dst, const sp_creds_opts *src, sp_err *err);
void sp_creds_opts_free(sp_creds_opts *o);

/* Walks the chain; the first provider that has credentials wins. A
 * provider that finds a broken source (a key without a secret, an
 * unreadable file, a malformed access key id) fails the whole resolution
 * with a message naming the source, rather than silently falling through.
 * When nothing is found the message lists every place that was looked at.
 * Every source it reads is local: the network sources are only noted as
 * not tried; with o->role_arn or a role profile it fails (a role needs
 * sp_creds_resolve_start). */
int sp_creds_resolve(const sp_creds_opts *o, sp_creds *out, sp_err *err);

/* A resolution waiting for an answer from the network. */
typedef struct sp_creds_job sp_creds_job;
typedef void (*sp_creds_done_fn)(void *arg, sp_creds_result *res);

/* The whole resolution, without blocking. The chain is walked at once
 * (local sources); when that is all, out is filled, *job is NULL and
 * SP_OK returned. When it chose a network source, that runs on the loop
 * (SP_OK with *job set; done gets its credentials, with their expiration,
 * or its error; for instance metadata, the last resort, the error also
 * lists what else was looked at). With o->role_arn the chain's credentials are exchanged
 * with STS AssumeRole on the loop through http, signed for local time +
 * skew: SP_OK with *job set, and done is called once, from the loop, with
 * the role's credentials (expiration set, source "role ARN assumed with
 * credentials from <source>") or the error. SP_ERR: nothing started. */
int sp_creds_resolve_start(const sp_creds_opts *o, sp_http *http, long skew, sp_creds *out,
                           sp_creds_done_fn done, void *arg, sp_creds_job **job, sp_err *err);

/* What a job is waiting for ("instance metadata (being fetched)"), for
 * messages; never a secret. */
const char *sp_creds_job_source(const sp_creds_job *j);

/* Withdraws a job: done is never called. Not from inside done; before
 * sp_http_free; NULL is fine. */
void sp_creds_job_cancel(sp_creds_job *j);

/* Region: cli_region (--region) -> AWS_REGION -> AWS_DEFAULT_REGION -> the
 * profile's `region` in the config file. Writes to out; if none is found,
 * returns SP_ERR with a message that says how to set one. */
int sp_region_resolve(const sp_creds_opts *o, const char *cli_region,
                      char *out, size_t outlen, sp_err *err);

/* The region the invocation gives: cli_region, else AWS_REGION, else
 * AWS_DEFAULT_REGION (empty counts as unset), the order sp_region_resolve
 * follows, with *where naming it. NULL (and *where NULL) when none is set;
 * the config file's profile may still have one. Not checked. */
const char *sp_region_given(const sp_creds_opts *o, const char *cli_region, const char **where);

/* The profile name that o selects (for messages). */
const char *sp_creds_profile(const sp_creds_opts *o);

#endif
