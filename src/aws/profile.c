/* Reading one profile from an INI file (profile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/buf.h"
#include "shardpipe/ini.h"
#include "shardpipe/profile.h"

const char *const sp_profile_role_keys[SP_ROLE_NKEYS] = {
    "role_arn", "source_profile", "credential_source", "web_identity_token_file",
    "external_id", "role_session_name",
};

static int ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y || x == 0)
            return x - y;
    }
}

void sp_profile_free(sp_profile *s)
{
    sp_wipe_free(s->secret);
    sp_wipe_free(s->token);
    sp_wipe_free(s->token_legacy);
    for (int i = 0; i < SP_ROLE_NKEYS; i++)
        sp_wipe_free(s->role[i]);
    explicit_bzero(s, sizeof *s);
}

static int section_matches(const sp_profile *s, const char *sec)
{
    if (s->match == SP_PROFILE_EXACT)
        return strcmp(sec, s->name) == 0;
    if (strcmp(s->name, "default") == 0 && strcmp(sec, "default") == 0)
        return 1;
    if (strncmp(sec, "profile", 7) != 0 || (sec[7] != ' ' && sec[7] != '\t'))
        return 0;
    sec += 7 + strspn(sec + 7, " \t");
    return strcmp(sec, s->name) == 0;
}

static int scan_key(void *arg, const char *section, const char *key, const char *value,
                    size_t line, sp_err *err)
{
    sp_profile *s = arg;
    if (!section_matches(s, section))
        return SP_OK;
    s->seen = 1;
    snprintf(s->section, sizeof s->section, "%s", section);
    if (ascii_casecmp(key, "aws_access_key_id") == 0) {
        /* Reported only if these credentials are used: a region lookup
         * should not fail over a key id nobody asked for. */
        s->have_akid = value[0] != '\0';
        s->akid_bad_line = s->have_akid && !sp_creds_akid_ok(value) ? line : 0;
        if (s->have_akid && s->akid_bad_line == 0)
            strcpy(s->akid, value);
        return SP_OK;
    }
    char **dst = NULL;
    if (ascii_casecmp(key, "aws_secret_access_key") == 0)
        dst = &s->secret;
    else if (ascii_casecmp(key, "aws_session_token") == 0)
        dst = &s->token;
    else if (ascii_casecmp(key, "aws_security_token") == 0)
        dst = &s->token_legacy;
    for (int i = 0; dst == NULL && i < SP_ROLE_NKEYS; i++)
        if (ascii_casecmp(key, sp_profile_role_keys[i]) == 0)
            dst = &s->role[i];
    if (dst != NULL) {
        if (sp_secret_set(dst, value[0] ? value : NULL) != SP_OK)
            return sp_err_set(err, "out of memory");
        return SP_OK;
    }
    if (ascii_casecmp(key, "region") == 0) {
        size_t n = strlen(value);
        s->region_long = n >= sizeof s->region;
        if (!s->region_long)
            memcpy(s->region, value, n + 1);
        return SP_OK;
    }
    static const char *const unsupported[] = {
        "credential_process", "sso_start_url", "sso_session", "mfa_serial",
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (s->unsupported == NULL && ascii_casecmp(key, unsupported[i]) == 0)
            s->unsupported = unsupported[i];
    return SP_OK;
}

int sp_profile_read(const char *kind, const char *path, sp_profile *s, sp_err *err)
{
    int rc = sp_ini_parse_file(path, scan_key, s, err);
    if (rc == SP_ERR)
        sp_err_prefix(err, "%s", kind);
    return rc;
}

const char *sp_profile_token(const sp_profile *s)
{
    return s->token ? s->token : s->token_legacy;
}
