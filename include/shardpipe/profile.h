/* One profile of the shared credentials file, the config file or a boto
 * file (KINESIS.md §6): the keys, the region and the settings of a profile
 * that assumes a role (role_arn with source_profile, credential_source or
 * web_identity_token_file, botocore's names). Secrets live in heap copies
 * that are wiped on free; nothing here writes a message that quotes one. */
#ifndef SHARDPIPE_PROFILE_H
#define SHARDPIPE_PROFILE_H

#include <stddef.h>

#include "shardpipe/creds.h"
#include "shardpipe/err.h"

/* [NAME] exactly (credentials and boto files), or the config file's
 * [default] / [profile NAME] (botocore's build_profile_map). */
enum sp_profile_match { SP_PROFILE_EXACT, SP_PROFILE_CONFIG };

/* The role keys, in sp_profile.role[]. */
enum { SP_ROLE_ARN, SP_ROLE_SOURCE_PROFILE, SP_ROLE_CREDENTIAL_SOURCE, SP_ROLE_TOKEN_FILE,
       SP_ROLE_EXTERNAL_ID, SP_ROLE_SESSION_NAME, SP_ROLE_NKEYS };

typedef struct sp_profile {
    enum sp_profile_match match;   /* set before sp_profile_read */
    const char *name;              /* section (EXACT) or profile (CONFIG) */
    int seen;                      /* a matching section exists */
    char akid[SP_AKID_MAX + 1];
    int have_akid;
    size_t akid_bad_line;          /* not 0: the key id there is malformed */
    char *secret;
    char *token;
    char *token_legacy;            /* aws_security_token */
    char region[64];
    int region_long;
    char *role[SP_ROLE_NKEYS];     /* heap copies or NULL; the external ID is wiped */
    const char *unsupported;       /* a key of a profile type we cannot use */
    char section[80];              /* the matching section, for messages */
} sp_profile;

/* The botocore key name of sp_profile.role[i]. */
extern const char *const sp_profile_role_keys[SP_ROLE_NKEYS];

/* SP_OK (file read), SP_INI_MISSING, or SP_ERR with a message that starts
 * with kind (what kind of file it is). Keys of later lines override. */
int sp_profile_read(const char *kind, const char *path, sp_profile *p, sp_err *err);

/* The token the profile supplies: aws_session_token over aws_security_token. */
const char *sp_profile_token(const sp_profile *p);

void sp_profile_free(sp_profile *p);

#endif
