/* The credential chain, region lookup and the INI parser. Every test works
 * in its own mkdtemp directory with an injected environment, never the
 * real HOME. */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/credentials.h"
#include "shardpipe/ecscreds.h"
#include "shardpipe/http.h"
#include "shardpipe/imds.h"
#include "shardpipe/sts.h"
#include "shardpipe/ini.h"
#include "shardpipe/loop.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SECRET2 "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
#define TOKEN "IQoJb3JpZ2luX2VjEXAMPLETOKEN+abc/def=="

/* --- fixture: a temp HOME and a fake environment ------------------------ */

#define MAXENV 32

static char tmp[200];
static const char *envk[MAXENV];
static char envv[MAXENV][512];
static int nenv;

static const char *fake_getenv(const char *name, void *arg)
{
    (void)arg;
    for (int i = 0; i < nenv; i++)
        if (strcmp(envk[i], name) == 0)
            return envv[i];
    return NULL;
}

static void setenv_fake(const char *k, const char *fmt, ...) SP_PRINTF(2, 3);

static void setenv_fake(const char *k, const char *fmt, ...)
{
    int i;
    for (i = 0; i < nenv && strcmp(envk[i], k) != 0; i++)
        ;
    ck_assert_int_lt(i, MAXENV);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(envv[i], sizeof envv[i], fmt, ap);
    va_end(ap);
    envk[i] = k;
    if (i == nenv)
        nenv++;
}

static void write_file(const char *rel, const char *text)
{
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(tmp) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        ck_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "%s/sp-creds-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    nenv = 0;
    setenv_fake("HOME", "%s/home", tmp);
    ck_assert_int_eq(mkdir(envv[0], 0700), 0);
    /* Never the machine's /etc/boto.cfg. */
    setenv_fake("SHARDPIPE_TEST_BOTO_SYSTEM_FILE", "%s/etc/boto.cfg", tmp);
    /* Never the real instance metadata service. */
    setenv_fake("AWS_EC2_METADATA_DISABLED", "true");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static sp_creds_opts opts(void)
{
    sp_creds_opts o = {0};
    o.getenv_fn = fake_getenv;
    return o;
}

/* Resolves and expects success. */
static void ok(const sp_creds_opts *o, sp_creds *c)
{
    sp_err err = {0};
    int rc = sp_creds_resolve(o, c, &err);
    ck_assert_msg(rc == SP_OK, "unexpected error: %s", err.msg);
}

/* Resolves and expects an error that contains want and no secret. */
static void fails(const sp_creds_opts *o, const char *want, sp_err *err)
{
    sp_creds c;
    ck_assert_int_eq(sp_creds_resolve(o, &c, err), SP_ERR);
    ck_assert_msg(strstr(err->msg, want) != NULL, "\"%s\" not in: %s", want, err->msg);
    ck_assert_ptr_null(strstr(err->msg, SECRET));
    ck_assert_ptr_null(strstr(err->msg, SECRET2));
    ck_assert_ptr_null(strstr(err->msg, "wJalrXUtnFEMI"));
    ck_assert_ptr_null(strstr(err->msg, TOKEN));
    ck_assert_ptr_null(c.secret);
    ck_assert_ptr_null(c.token);
}

/* --- command line and environment ------------------------------------------- */

START_TEST(env_basic)
{
    sp_creds_opts o = opts();
    sp_creds c;
    setenv_fake("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE");
    setenv_fake("AWS_SECRET_ACCESS_KEY", SECRET);
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    ck_assert_str_eq(c.secret, SECRET);
    ck_assert_ptr_null(c.token);
    ck_assert_int_eq(c.expiration, 0);
    ck_assert_str_eq(c.source, "environment (AWS_ACCESS_KEY_ID)");
    sp_creds_free(&c);
    static const sp_creds zero;
    ck_assert_mem_eq(&c, &zero, sizeof c);
}
END_TEST

START_TEST(env_tokens)
{
    sp_creds_opts o = opts();
    sp_creds c;
    setenv_fake("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    setenv_fake("AWS_SECRET_ACCESS_KEY", SECRET);
    setenv_fake("AWS_SECURITY_TOKEN", "legacy");
    ok(&o, &c);
    ck_assert_str_eq(c.token, "legacy");
    sp_creds_free(&c);
    setenv_fake("AWS_SESSION_TOKEN", TOKEN);   /* the current name wins */
    ok(&o, &c);
    ck_assert_str_eq(c.token, TOKEN);
    sp_creds_free(&c);
}
END_TEST

START_TEST(env_errors)
{
    sp_creds_opts o = opts();
    sp_err err;
    setenv_fake("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    fails(&o, "AWS_SECRET_ACCESS_KEY", &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "environment"));
    setenv_fake("AWS_ACCESS_KEY_ID", "%s", "");   /* empty counts as unset */
    setenv_fake("AWS_SECRET_ACCESS_KEY", SECRET);
    fails(&o, "AWS_ACCESS_KEY_ID is missing", &err);
    /* The secret pasted as the key id: refused without being repeated. */
    setenv_fake("AWS_ACCESS_KEY_ID", SECRET);
    fails(&o, "AWS_ACCESS_KEY_ID is malformed", &err);
    setenv_fake("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    setenv_fake("AWS_SESSION_TOKEN", "a\rb");
    fails(&o, "AWS_SESSION_TOKEN contains a control character", &err);
}
END_TEST

START_TEST(akid_rule)
{
    static const struct {
        const char *id;
        int ok;
    } cases[] = {
        {"AKIDEXAMPLE", 1}, {"AKIAIOSFODNN7EXAMPLE", 1}, {"test", 1}, {"abc", 1},
        {"local_key_1", 1}, {"123456789012", 1}, {"ab", 0}, {"AKID EXAMPLE", 0},
        {"AKID/EXAMPLE", 0}, {"AKID-EXAMPLE", 0}, {"AKIDÉXAMPLE", 0},
    };
    sp_creds_opts o = opts();
    o.secret_access_key = SECRET;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_creds c;
        sp_err err = {0};
        o.access_key_id = cases[i].id;
        int rc = sp_creds_resolve(&o, &c, &err);
        ck_assert_msg((rc == SP_OK) == cases[i].ok, "%s: %s", cases[i].id, err.msg);
        if (rc == SP_OK)
            sp_creds_free(&c);
        else
            ck_assert_ptr_null(strstr(err.msg, cases[i].id));
    }
    char id[130];
    memset(id, 'A', sizeof id);
    id[128] = '\0';
    o.access_key_id = id;
    sp_creds c;
    ok(&o, &c);
    sp_creds_free(&c);
    id[128] = 'A';
    id[129] = '\0';
    sp_err err;
    fails(&o, "malformed", &err);
}
END_TEST

START_TEST(cli_first)
{
    sp_creds_opts o = opts();
    sp_creds c;
    sp_err err;
    setenv_fake("AWS_ACCESS_KEY_ID", "ENVKEY");
    setenv_fake("AWS_SECRET_ACCESS_KEY", SECRET);
    o.access_key_id = "CLIKEY";
    o.secret_access_key = SECRET2;
    o.session_token = TOKEN;
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "CLIKEY");
    ck_assert_str_eq(c.secret, SECRET2);
    ck_assert_str_eq(c.token, TOKEN);
    ck_assert_str_eq(c.source, "command line");
    sp_creds_free(&c);
    o.secret_access_key = NULL;
    fails(&o, "command line", &err);
    o.access_key_id = NULL;
    fails(&o, "session token", &err);
    o.secret_access_key = SECRET2;
    fails(&o, "command line: secret access key is set but access key id is missing", &err);
}
END_TEST

/* --- profiles -------------------------------------------------------------------- */

#define CREDS(akid, secret) "aws_access_key_id = " akid "\naws_secret_access_key = " secret "\n"

START_TEST(shared_file_default)
{
    sp_creds_opts o = opts();
    sp_creds c;
    char want[1024];
    write_file("home/.aws/credentials", "# comment\n[default]\n" CREDS("AKIDDEFAULT", SECRET)
                                        "aws_session_token=" TOKEN "\n");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDDEFAULT");
    ck_assert_str_eq(c.secret, SECRET);
    ck_assert_str_eq(c.token, TOKEN);
    snprintf(want, sizeof want, "shared credentials file %s/home/.aws/credentials, profile [default]",
             tmp);
    ck_assert_str_eq(c.source, want);
    sp_creds_free(&c);
}
END_TEST

START_TEST(profile_selection)
{
    sp_creds_opts o = opts();
    sp_creds c;
    write_file("home/.aws/credentials", "[default]\n" CREDS("AKIDDEFAULT", SECRET)
                                        "[a]\n" CREDS("AKIDPROFA", SECRET)
                                        "[b]\n" CREDS("AKIDPROFB", SECRET)
                                        "[c]\n" CREDS("AKIDPROFC", SECRET));
    ck_assert_str_eq(sp_creds_profile(&o), "default");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDDEFAULT");
    sp_creds_free(&c);
    setenv_fake("AWS_DEFAULT_PROFILE", "c");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDPROFC");
    sp_creds_free(&c);
    setenv_fake("AWS_PROFILE", "b");
    ck_assert_str_eq(sp_creds_profile(&o), "b");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDPROFB");
    ck_assert_ptr_nonnull(strstr(c.source, "profile [b]"));
    sp_creds_free(&c);
    o.profile = "a";
    ck_assert_str_eq(sp_creds_profile(&o), "a");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDPROFA");
    sp_creds_free(&c);
}
END_TEST

START_TEST(env_vs_profile)
{
    sp_creds_opts o = opts();
    sp_creds c;
    write_file("home/.aws/credentials", "[p]\n" CREDS("AKIDFILE", SECRET2));
    setenv_fake("AWS_ACCESS_KEY_ID", "AKIDENV");
    setenv_fake("AWS_SECRET_ACCESS_KEY", SECRET);
    /* AWS_PROFILE does not beat keys in the environment... */
    setenv_fake("AWS_PROFILE", "p");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDENV");
    sp_creds_free(&c);
    /* ...but an explicit profile (--profile) skips the environment. */
    o.profile = "p";
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDFILE");
    ck_assert_str_eq(c.secret, SECRET2);
    sp_creds_free(&c);
}
END_TEST

START_TEST(config_file_sections)
{
    sp_creds_opts o = opts();
    sp_creds c;
    sp_err err;
    char want[1024];
    /* In the config file "[x]" is not profile x; "[profile x]" is. */
    write_file("home/.aws/config", "[default]\n" CREDS("AKIDCFGDEFAULT", SECRET)
                                   "[x]\n" CREDS("AKIDWRONG", SECRET)
                                   "[profile   x]\nregion = eu-west-1\n" CREDS("AKIDCFGX", SECRET)
                                   "[profile y]\n" CREDS("AKIDWRONG", SECRET));
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDCFGDEFAULT");
    snprintf(want, sizeof want, "config file %s/home/.aws/config, profile [default]", tmp);
    ck_assert_str_eq(c.source, want);
    sp_creds_free(&c);
    o.profile = "x";
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDCFGX");
    ck_assert_ptr_nonnull(strstr(c.source, "profile [profile   x]"));
    sp_creds_free(&c);
    /* In the credentials file it is the other way round. */
    write_file("home/.aws/credentials", "[profile y]\n" CREDS("AKIDWRONG", SECRET));
    o.profile = "y";
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDWRONG");   /* from [profile y] of the config */
    ck_assert_ptr_nonnull(strstr(c.source, "config file"));
    sp_creds_free(&c);
    o.profile = "profile y";
    ok(&o, &c);
    ck_assert_ptr_nonnull(strstr(c.source, "shared credentials file"));
    sp_creds_free(&c);
    o.profile = "z";
    fails(&o, "no [profile z]", &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "profile \"z\""));
}
END_TEST

START_TEST(credentials_file_beats_config)
{
    sp_creds_opts o = opts();
    sp_creds c;
    write_file("home/.aws/credentials", "[default]\n" CREDS("AKIDCREDS", SECRET));
    write_file("home/.aws/config", "[default]\n" CREDS("AKIDCONFIG", SECRET2)
                                   "[profile only]\n" CREDS("AKIDONLY", SECRET2));
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDCREDS");
    sp_creds_free(&c);
    o.profile = "only";    /* not in the credentials file: the config has it */
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDONLY");
    sp_creds_free(&c);
}
END_TEST

START_TEST(file_paths_from_env)
{
    sp_creds_opts o = opts();
    sp_creds c;
    char want[1024];
    write_file("home/.aws/credentials", "[default]\n" CREDS("AKIDDEFAULTPATH", SECRET));
    write_file("elsewhere/creds", "[default]\n" CREDS("AKIDELSEWHERE", SECRET));
    write_file("home/my/config", "[default]\n" CREDS("AKIDTILDE", SECRET));
    setenv_fake("AWS_SHARED_CREDENTIALS_FILE", "%s/elsewhere/creds", tmp);
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDELSEWHERE");
    sp_creds_free(&c);
    setenv_fake("AWS_SHARED_CREDENTIALS_FILE", "%s/nothing/here", tmp);
    setenv_fake("AWS_CONFIG_FILE", "~/my/config");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDTILDE");
    snprintf(want, sizeof want, "config file %s/home/my/config, profile [default]", tmp);
    ck_assert_str_eq(c.source, want);
    sp_creds_free(&c);
}
END_TEST

START_TEST(file_syntax_tolerated)
{
    sp_creds_opts o = opts();
    sp_creds c;
    /* BOM, CRLF, comments, odd spacing, ':' and upper-case key names,
     * an indented key block, and nested settings in continuation lines. */
    write_file("home/.aws/config",
               "\xEF\xBB\xBF; config\r\n"
               "[default]\r\n"
               "s3 =\r\n"
               "    max_concurrent_requests = 20\r\n"
               "    aws_access_key_id = AKIDNESTED\r\n"
               "  # indented comment\r\n"
               "\r\n"
               "[profile t]\n"
               "  AWS_ACCESS_KEY_ID:AKIDINDENTED  \n"
               "  aws_secret_access_key   =   " SECRET "\t\n"
               "  aws_security_token = " TOKEN "\n"
               "[ default ]\n"
               "aws_secret_access_key=" SECRET2 "\n"
               "aws_access_key_id =AKIDLAST");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDLAST");
    ck_assert_str_eq(c.secret, SECRET2);
    sp_creds_free(&c);
    o.profile = "t";
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDINDENTED");
    ck_assert_str_eq(c.secret, SECRET);
    ck_assert_str_eq(c.token, TOKEN);
    sp_creds_free(&c);
}
END_TEST

START_TEST(nothing_found_lists_places)
{
    sp_creds_opts o = opts();
    sp_err err;
    char want[1024];
    write_file("home/.aws/config", "[profile other]\nregion = us-east-1\n");
    write_file("home/.aws/credentials", "[default]\nregion = us-east-1\n");
    fails(&o, "no AWS credentials found", &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "command line"));
    ck_assert_ptr_nonnull(strstr(err.msg, "AWS_ACCESS_KEY_ID not set"));
    snprintf(want, sizeof want, "%s/home/.aws/credentials ([default] has no aws_access_key_id)", tmp);
    ck_assert_ptr_nonnull(strstr(err.msg, want));
    snprintf(want, sizeof want, "%s/home/.aws/config (no [default])", tmp);
    ck_assert_ptr_nonnull(strstr(err.msg, want));
    snprintf(want, sizeof want, "boto file %s/etc/boto.cfg (not found)", tmp);
    ck_assert_ptr_nonnull(strstr(err.msg, want));
    snprintf(want, sizeof want, "boto file %s/home/.boto (not found)", tmp);
    ck_assert_ptr_nonnull(strstr(err.msg, want));

    write_file("home/.aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/x\n");
    fails(&o, "profile [default]: role_arn needs exactly one of source_profile, credential_source "
              "and web_identity_token_file", &err);
    write_file("home/.aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/x\n"
                                   "credential_source = Environment\n");
    fails(&o, "credential_source Environment, but AWS_ACCESS_KEY_ID is not set", &err);
    write_file("home/.aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/x\n"
                                   "credential_source = Ec2\n");
    fails(&o, "credential_source must be Environment, Ec2InstanceMetadata or EcsContainer", &err);
    write_file("home/.aws/config", "[default]\nsource_profile = base\n");
    fails(&o, "profile [default]: source_profile needs role_arn", &err);
    write_file("home/.aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n");
    fails(&o, "source_profile base has no aws_access_key_id", &err);
    write_file("home/.aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n"
                                   "[profile base]\naws_access_key_id = AKIABASE\naws_secret_access_key = x\n");
    fails(&o, "assuming role arn:aws:iam::1:role/x needs a request on the event loop", &err);
    write_file("home/.aws/config", "[default]\ncredential_process = /bin/true\n");
    fails(&o, "uses credential_process, which shardpipe does not support", &err);

    /* No HOME at all: still a clear message. */
    nenv = 0;
    fails(&o, "HOME and AWS_SHARED_CREDENTIALS_FILE not set", &err);
}
END_TEST

START_TEST(broken_files_are_errors)
{
    sp_creds_opts o = opts();
    sp_err err;
    char want[1024];

    /* A secret pasted on a line of its own: the line number, not the line. */
    write_file("home/.aws/credentials", "[default]\naws_access_key_id = AKIDEXAMPLE\n"
                                        "\n" SECRET "\n");
    snprintf(want, sizeof want, "shared credentials file: %s/home/.aws/credentials:4: expected", tmp);
    fails(&o, want, &err);

    write_file("home/.aws/credentials", "[default]\n" CREDS("AKIDEXAMPLE", SECRET));
    write_file("home/.aws/config", "[default\n");   /* used only if reached */
    sp_creds c;
    ok(&o, &c);
    sp_creds_free(&c);
    o.profile = "other";
    fails(&o, "config:1: section header without a closing ']'", &err);

    /* Key id without secret, secret without key id, malformed key id. */
    o.profile = NULL;
    write_file("home/.aws/credentials", "[default]\naws_access_key_id = AKIDEXAMPLE\n");
    snprintf(want, sizeof want, "shared credentials file %s/home/.aws/credentials, profile "
                                "[default]: aws_access_key_id is set but aws_secret_access_key "
                                "is missing", tmp);
    fails(&o, want, &err);
    write_file("home/.aws/credentials", "[default]\naws_secret_access_key = " SECRET "\n");
    fails(&o, "aws_access_key_id is missing", &err);
    write_file("home/.aws/credentials", "[default]\n\n\naws_access_key_id = " SECRET "\n"
                                        "aws_secret_access_key = " SECRET "\n");
    snprintf(want, sizeof want, "shared credentials file %s/home/.aws/credentials:4, profile [default]: "
                                "aws_access_key_id is malformed", tmp);
    fails(&o, want, &err);

    /* Unreadable: a directory where the file should be. */
    char path[400];
    snprintf(path, sizeof path, "%s/home/.aws/credentials", tmp);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    fails(&o, "is a directory", &err);
}
END_TEST

/* --- boto ---------------------------------------------------------------------- */

#define BOTO(akid, secret) "[Credentials]\naws_access_key_id = " akid \
                           "\naws_secret_access_key = " secret "\n"

START_TEST(boto_home_over_system)
{
    sp_creds_opts o = opts();
    sp_creds c;
    char want[1024];
    write_file("etc/boto.cfg", BOTO("AKIDSYSTEM", SECRET));
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDSYSTEM");
    snprintf(want, sizeof want, "boto file %s/etc/boto.cfg", tmp);
    ck_assert_str_eq(c.source, want);
    sp_creds_free(&c);

    write_file("home/.boto", "[Boto]\nnum_retries = 3\n" BOTO("AKIDHOME", SECRET2)
                             "aws_security_token = " TOKEN "\n");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDHOME");    /* boto2: ~/.boto wins */
    ck_assert_str_eq(c.secret, SECRET2);
    ck_assert_str_eq(c.token, TOKEN);
    snprintf(want, sizeof want, "boto file %s/home/.boto", tmp);
    ck_assert_str_eq(c.source, want);
    sp_creds_free(&c);

    /* Key by key: the key id from ~/.boto, the secret from /etc. */
    write_file("home/.boto", "[Credentials]\naws_access_key_id = AKIDHOMEONLY\n");
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDHOMEONLY");
    ck_assert_str_eq(c.secret, SECRET);
    ck_assert_ptr_null(c.token);
    snprintf(want, sizeof want, "boto files %s/etc/boto.cfg and %s/home/.boto", tmp, tmp);
    ck_assert_str_eq(c.source, want);
    sp_creds_free(&c);
}
END_TEST

START_TEST(boto_config_exclusive)
{
    sp_creds_opts o = opts();
    sp_creds c;
    sp_err err;
    char want[1024];
    write_file("etc/boto.cfg", BOTO("AKIDSYSTEM", SECRET));
    write_file("home/.boto", BOTO("AKIDHOME", SECRET));
    write_file("mine.cfg", BOTO("AKIDMINE", SECRET2));
    setenv_fake("BOTO_CONFIG", "%s/mine.cfg", tmp);
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDMINE");
    snprintf(want, sizeof want, "boto file %s/mine.cfg", tmp);
    ck_assert_str_eq(c.source, want);
    sp_creds_free(&c);
    /* Only that file, even when it has no credentials or is missing. */
    write_file("mine.cfg", "[Boto]\ndebug = 0\n");
    fails(&o, "no [Credentials] keys", &err);
    ck_assert_ptr_null(strstr(err.msg, ".boto"));
    ck_assert_ptr_null(strstr(err.msg, "etc/boto.cfg"));
    setenv_fake("BOTO_CONFIG", "%s/missing.cfg", tmp);
    fails(&o, "missing.cfg (not found)", &err);
}
END_TEST

START_TEST(boto_last_and_errors)
{
    sp_creds_opts o = opts();
    sp_creds c;
    sp_err err;
    /* The profile files come first. */
    write_file("home/.boto", BOTO("AKIDBOTO", SECRET));
    write_file("home/.aws/config", "[default]\n" CREDS("AKIDCONFIG", SECRET));
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDCONFIG");
    sp_creds_free(&c);
    write_file("home/.aws/config", "");
    write_file("home/.boto", "[Credentials]\naws_access_key_id = AKIDBOTO\n");
    fails(&o, ".boto: aws_access_key_id is set but aws_secret_access_key is missing", &err);
    write_file("home/.boto", "[Credentials]\naws_access_key_id = " SECRET "\n"
                             "aws_secret_access_key = " SECRET "\n");
    fails(&o, ".boto:2: aws_access_key_id is malformed", &err);
    write_file("home/.boto", "[Credentials\n");
    fails(&o, "boto file: ", &err);
    ck_assert_ptr_nonnull(strstr(err.msg, ".boto:1:"));
}
END_TEST

/* The test-only system boto path is honoured only through an injected
 * getenv, never from the real environment. */
START_TEST(boto_system_override_not_from_real_env)
{
    struct stat st;
    if (stat("/etc/boto.cfg", &st) == 0)
        return;   /* this machine has one; the check below would be moot */
    char home[300], sys[300];
    snprintf(home, sizeof home, "%s/home", tmp);
    snprintf(sys, sizeof sys, "%s/etc/boto.cfg", tmp);
    write_file("etc/boto.cfg", BOTO("AKIDSYSTEM", SECRET));
    /* Check runs each test in its own process, so this is safe. */
    ck_assert_int_eq(clearenv(), 0);
    setenv("HOME", home, 1);
    setenv("SHARDPIPE_TEST_BOTO_SYSTEM_FILE", sys, 1);
    sp_creds c;
    sp_err err;
    fails(NULL, "boto file /etc/boto.cfg (not found)", &err);
    /* The real environment is read when nothing is injected. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDREALENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    ok(NULL, &c);
    ck_assert_str_eq(c.access_key_id, "AKIDREALENV");
    sp_creds_free(&c);
}
END_TEST

/* --- region ------------------------------------------------------------------------- */

START_TEST(region_chain)
{
    sp_creds_opts o = opts();
    char r[64];
    sp_err err = {0};
    write_file("home/.aws/config", "[default]\nregion = ap-south-1\n"
                                   "[profile cn]\nregion=cn-north-1\n");
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_OK);
    ck_assert_str_eq(r, "ap-south-1");
    o.profile = "cn";
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_OK);
    ck_assert_str_eq(r, "cn-north-1");
    setenv_fake("AWS_DEFAULT_REGION", "eu-central-1");
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_OK);
    ck_assert_str_eq(r, "eu-central-1");
    setenv_fake("AWS_REGION", "us-gov-west-1");
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_OK);
    ck_assert_str_eq(r, "us-gov-west-1");
    ck_assert_int_eq(sp_region_resolve(&o, "us-west-2", r, sizeof r, &err), SP_OK);
    ck_assert_str_eq(r, "us-west-2");
    ck_assert_int_eq(sp_region_resolve(&o, "", r, sizeof r, &err), SP_OK);
    ck_assert_str_eq(r, "us-gov-west-1");
}
END_TEST

/* One region rule for every module: a DNS label of lowercase letters,
 * digits and '-', starting with a letter (issue 7). */
START_TEST(region_rule)
{
    ck_assert_int_eq(sp_region_valid("us-east-1"), 1);
    ck_assert_int_eq(sp_region_valid("us-gov-west-1"), 1);
    ck_assert_int_eq(sp_region_valid("local"), 1);
    ck_assert_int_eq(sp_region_valid(""), 0);
    ck_assert_int_eq(sp_region_valid("-us"), 0);
    ck_assert_int_eq(sp_region_valid("us-"), 0);
    ck_assert_int_eq(sp_region_valid("1us"), 0);
    ck_assert_int_eq(sp_region_valid("US"), 0);
    ck_assert_int_eq(sp_region_valid("us east"), 0);
    char r[80];
    memset(r, 'a', 63);
    r[63] = '\0';
    ck_assert_int_eq(sp_region_valid(r), 1);
    r[63] = 'a';
    r[64] = '\0';
    ck_assert_int_eq(sp_region_valid(r), 0);
    sp_err err = {0};
    ck_assert_int_eq(sp_region_check("--region", "-x", &err), SP_ERR);
    ck_assert_str_eq(err.msg, "--region: \"-x\" is not a valid region (expected 1 to 63 of a-z, 0-9 and -, "
                              "starting with a letter, e.g. us-east-1)");
    ck_assert_int_eq(sp_region_check("AWS_REGION", "\x1b[2J", &err), SP_ERR);
    ck_assert_ptr_null(strchr(err.msg, '\x1b'));

    /* what the invocation gives, in sp_region_resolve's order */
    sp_creds_opts o = opts();
    const char *where = "x";
    ck_assert_ptr_null(sp_region_given(&o, NULL, &where));
    ck_assert_ptr_null(where);
    setenv_fake("AWS_DEFAULT_REGION", "eu-west-1");
    ck_assert_str_eq(sp_region_given(&o, NULL, &where), "eu-west-1");
    ck_assert_str_eq(where, "AWS_DEFAULT_REGION");
    setenv_fake("AWS_REGION", "%s", "");
    ck_assert_str_eq(sp_region_given(&o, NULL, &where), "eu-west-1");
    setenv_fake("AWS_REGION", "BAD");
    ck_assert_str_eq(sp_region_given(&o, NULL, &where), "BAD");
    ck_assert_str_eq(where, "AWS_REGION");
    ck_assert_str_eq(sp_region_given(&o, "us-west-2", &where), "us-west-2");
    ck_assert_str_eq(where, "--region");
    ck_assert_str_eq(sp_region_given(&o, "", &where), "BAD");
}
END_TEST

START_TEST(region_errors)
{
    sp_creds_opts o = opts();
    char r[64];
    sp_err err = {0};
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "--region"));
    ck_assert_ptr_nonnull(strstr(err.msg, "AWS_REGION"));
    ck_assert_ptr_nonnull(strstr(err.msg, "[default]"));
    ck_assert_ptr_nonnull(strstr(err.msg, "(instance metadata: disabled)"));
    o.profile = "p";
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "[profile p]"));

    ck_assert_int_eq(sp_region_resolve(&o, "US East 1", r, sizeof r, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "--region: \"US East 1\" is not a valid region"));
    setenv_fake("AWS_REGION", "us_east_1");
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "AWS_REGION"));
    setenv_fake("AWS_REGION", "us-east-1");
    char tiny[5];
    ck_assert_int_eq(sp_region_resolve(&o, NULL, tiny, sizeof tiny, &err), SP_ERR);

    /* From the file: an inline comment is part of the value (configparser). */
    nenv = 0;
    setenv_fake("HOME", "%s/home", tmp);
    setenv_fake("AWS_EC2_METADATA_DISABLED", "true");
    write_file("home/.aws/config", "[profile p]\nregion = us-east-1 # N. Virginia\n");
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "profile [profile p], region"));
    /* A malformed key id in the profile does not stop the region lookup. */
    write_file("home/.aws/config", "[profile p]\nregion = us-east-2\naws_access_key_id = ?\n");
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_OK);
    ck_assert_str_eq(r, "us-east-2");
    write_file("home/.aws/config", "[profile p]\nregion = us-east-2\nbroken\n");
    ck_assert_int_eq(sp_region_resolve(&o, NULL, r, sizeof r, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "config:3:"));
}
END_TEST

/* --- the INI parser ------------------------------------------------------------------ */

typedef struct collect {
    char text[2048];
    int fail_at;      /* fail on this call number (1-based); 0: never */
    int calls;
} collect;

static int collect_fn(void *arg, const char *section, const char *key, const char *value,
                      size_t line, sp_err *err)
{
    collect *c = arg;
    size_t n = strlen(c->text);
    if (++c->calls == c->fail_at)
        return sp_err_set(err, "rejected %s", key);
    snprintf(c->text + n, sizeof c->text - n, "%zu[%s]%s=<%s>\n", line, section, key, value);
    return SP_OK;
}

static int parse_str(const char *s, collect *c, sp_err *err)
{
    memset(c->text, 0, sizeof c->text);
    c->calls = 0;
    return sp_ini_parse_mem("t.ini", s, strlen(s), collect_fn, c, err);
}

START_TEST(ini_basics)
{
    collect c = {0};
    sp_err err = {0};
    ck_assert_int_eq(parse_str("# c\n; c\n[a]\nk = v\nk2=  v = w : x \n"
                               "[ profile  b ] ; note\nempty =\ncolon: yes\n"
                               "url = http://x:1/?a=b\n"
                               "long =\n  one\n\tand two\n  # skipped comment\n  three\nafter = 1\n"
                               "[c]\nlast = no newline",
                               &c, &err),
                     SP_OK);
    ck_assert_str_eq(c.text, "4[a]k=<v>\n"
                             "5[a]k2=<v = w : x>\n"
                             "7[profile  b]empty=<>\n"
                             "8[profile  b]colon=<yes>\n"
                             "9[profile  b]url=<http://x:1/?a=b>\n"
                             "10[profile  b]long=<one\nand two\nthree>\n"
                             "15[profile  b]after=<1>\n"
                             "17[c]last=<no newline>\n");
    ck_assert_int_eq(parse_str("", &c, &err), SP_OK);
    ck_assert_str_eq(c.text, "");
    ck_assert_int_eq(parse_str("\xEF\xBB\xBF[s]\r\nk = v\r\n", &c, &err), SP_OK);
    ck_assert_str_eq(c.text, "2[s]k=<v>\n");
}
END_TEST

START_TEST(ini_errors)
{
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        {"k = v\n", "t.ini:1: key outside any [section]"},
        {"[s]\nk = v\n\nno equals sign here\n", "t.ini:4: expected \"key = value\" or \"[section]\""},
        {"[s]\n = v\n", "t.ini:2: empty key"},
        {"[s\n", "t.ini:1: section header without a closing ']'"},
        {"[ ]\n", "t.ini:1: empty section name"},
        {"[s] x\n", "t.ini:1: text after the section header"},
        {"[s]\na=1\nb=2\nc=3\n", "t.ini:3: rejected b"},
    };
    collect c = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_err err = {0};
        c.fail_at = 2;
        ck_assert_int_eq(parse_str(cases[i].in, &c, &err), SP_ERR);
        ck_assert_str_eq(err.msg, cases[i].msg);
    }
    /* The offending line is never quoted: it may be a secret. */
    sp_err err = {0};
    ck_assert_int_eq(parse_str("[s]\n" SECRET "\n", &c, &err), SP_ERR);
    ck_assert_ptr_null(strstr(err.msg, "wJalr"));

    static const char nul[] = "[s]\nk = a\0b\n";
    ck_assert_int_eq(sp_ini_parse_mem("t.ini", nul, sizeof nul - 1, collect_fn, &c, &err), SP_ERR);
    ck_assert_str_eq(err.msg, "t.ini:2: NUL byte (not a text file?)");
}
END_TEST

START_TEST(ini_limits)
{
    sp_err err = {0};
    collect c = {0};
    size_t n = SP_INI_MAX_FILE + 1;
    char *big = malloc(n + 64);
    ck_assert_ptr_nonnull(big);

    /* A line of exactly the limit is fine, one byte more is not. */
    strcpy(big, "[s]\nk=");
    memset(big + 6, 'x', SP_INI_MAX_LINE - 2);
    strcpy(big + 4 + SP_INI_MAX_LINE, "\n");
    ck_assert_int_eq(sp_ini_parse_mem("t", big, strlen(big), collect_fn, &c, &err), SP_OK);
    strcpy(big + 4 + SP_INI_MAX_LINE, "x\r\n");
    ck_assert_int_eq(sp_ini_parse_mem("t", big, strlen(big), collect_fn, &c, &err), SP_ERR);
    ck_assert_str_eq(err.msg, "t:2: line longer than 16384 bytes");

    /* 1 MiB is fine, 1 MiB + 1 is not: in memory and from a file. */
    memset(big, '\n', n);
    memcpy(big, "[s]", 3);
    ck_assert_int_eq(sp_ini_parse_mem("t", big, n - 1, collect_fn, &c, &err), SP_OK);
    ck_assert_int_eq(sp_ini_parse_mem("t", big, n, collect_fn, &c, &err), SP_ERR);
    ck_assert_str_eq(err.msg, "t: larger than 1048576 bytes");

    char path[400];
    snprintf(path, sizeof path, "%s/big.ini", tmp);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(big, 1, n - 1, f), n - 1);
    ck_assert_int_eq(fflush(f), 0);
    ck_assert_int_eq(sp_ini_parse_file(path, collect_fn, &c, &err), SP_OK);
    ck_assert_uint_eq(fwrite(big, 1, 1, f), 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(sp_ini_parse_file(path, collect_fn, &c, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "big.ini: larger than 1048576 bytes"));
    free(big);

    snprintf(path, sizeof path, "%s/none.ini", tmp);
    ck_assert_int_eq(sp_ini_parse_file(path, collect_fn, &c, &err), SP_INI_MISSING);
    snprintf(path, sizeof path, "%s/none/x.ini", tmp);
    ck_assert_int_eq(sp_ini_parse_file(path, collect_fn, &c, &err), SP_INI_MISSING);
    ck_assert_int_eq(sp_ini_parse_file(tmp, collect_fn, &c, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "is a directory"));

    /* A device has no size: read in steps, still bounded. */
    ck_assert_int_eq(sp_ini_parse_file("/dev/null", collect_fn, &c, &err), SP_OK);
}
END_TEST

/* --- the resolution that may go over the network ------------------------- */

static void no_callback(void *arg, sp_creds_result *r)
{
    (void)arg;
    (void)r;
    ck_abort_msg("called back for a resolution that needed no network");
}

/* Local sources need no loop: sp_creds_resolve_start answers at once,
 * with no job and no callback; a role whose base cannot be found fails
 * at once too, naming the role, before any request. */
START_TEST(resolve_start_local)
{
    sp_err err = {0};
    sp_loop *loop = sp_loop_new(&err);
    ck_assert_ptr_nonnull(loop);
    sp_http *http = sp_http_new(loop, NULL, &err);
    ck_assert_ptr_nonnull(http);
    sp_creds_opts o = opts();
    sp_creds c;
    sp_creds_job *job = (sp_creds_job *)&c;   /* a sentinel: must be cleared */
    setenv_fake("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE");
    setenv_fake("AWS_SECRET_ACCESS_KEY", SECRET);
    ck_assert_int_eq(sp_creds_resolve_start(&o, http, 0, &c, no_callback, NULL, &job, &err), SP_OK);
    ck_assert_ptr_null(job);
    ck_assert_str_eq(c.secret, SECRET);
    ck_assert_str_eq(c.source, "environment (AWS_ACCESS_KEY_ID)");
    sp_creds_free(&c);

    nenv = 3;   /* HOME, the boto override and no instance metadata only */
    o.role_arn = "arn:aws:iam::123456789012:role/demo";
    o.region = "us-east-1";
    job = (sp_creds_job *)&c;
    ck_assert_int_eq(sp_creds_resolve_start(&o, http, 0, &c, no_callback, NULL, &job, &err), SP_ERR);
    ck_assert_ptr_null(job);
    ck_assert_msg(strstr(err.msg, "assuming role arn:aws:iam::123456789012:role/demo: no AWS credentials "
                                  "found") == err.msg, "%s", err.msg);
    ck_assert_uint_eq(sp_http_in_flight(http), 0);
    /* the synchronous chain never makes a request: a role is refused */
    setenv_fake("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE");
    setenv_fake("AWS_SECRET_ACCESS_KEY", SECRET);
    fails(&o, "needs a request on the event loop", &err);
    sp_creds_job_cancel(NULL);
    sp_http_free(http);
    sp_loop_free(loop);
}
END_TEST


/* The JSON credential document of instance metadata and container
 * endpoints: all four fields, "Code" when present must be Success, and no
 * message quotes a value. */
START_TEST(platform_json_document)
{
    sp_creds c;
    sp_err err;
    const char *ok_doc = "{\n  \"Code\" : \"Success\", \"LastUpdated\": \"2026-01-01T00:00:00Z\","
                         " \"Type\": \"AWS-HMAC\", \"AccessKeyId\": \"ASIAEXAMPLE\",\n"
                         " \"SecretAccessKey\": \"se\\/cr\\u0065t\", \"Token\": \"tok+==\","
                         " \"Expiration\": \"2026-01-01T06:00:00Z\", \"Nested\": {\"a\": [1, true, null]}}";
    ck_assert_int_eq(sp_creds_parse_json(ok_doc, strlen(ok_doc), &c, &err), SP_OK);
    ck_assert_str_eq(c.access_key_id, "ASIAEXAMPLE");
    ck_assert_str_eq(c.secret, "se/cret");
    ck_assert_str_eq(c.token, "tok+==");
    ck_assert(c.expiration == (time_t)1767247200);
    sp_creds_free(&c);
    static const struct {
        const char *doc, *msg;
    } bad[] = {
        {"[]", "not a JSON object"},
        {"{\"AccessKeyId\": \"ASIAEXAMPLE\", \"SecretAccessKey\": \"s3cr3tvalue\", \"Token\": \"t\"}",
         "lacks Expiration"},
        {"{\"Code\": \"Failure\", \"AccessKeyId\": \"ASIAEXAMPLE\"}", "Code is \"Failure\""},
        {"{\"AccessKeyId\": \"ASIA EXAMPLE\", \"SecretAccessKey\": \"s3cr3tvalue\", \"Token\": \"t\","
         " \"Expiration\": \"2026-01-01T06:00:00Z\"}", "AccessKeyId is malformed"},
        {"{\"AccessKeyId\": \"ASIAEXAMPLE\", \"SecretAccessKey\": \"s3cr3t\\nvalue\", \"Token\": \"t\","
         " \"Expiration\": \"2026-01-01T06:00:00Z\"}", "not well-formed"},
        {"{\"AccessKeyId\": \"ASIAEXAMPLE\", \"SecretAccessKey\": \"s3cr3tvalue\", \"Token\": \"t\","
         " \"Expiration\": \"soon\"}", "Expiration is not"},
        {"{\"AccessKeyId\": \"ASIAEXAMPLE\", \"AccessKeyId\": \"ASIAEXAMPLE\"}", "appears twice"},
        {"{\"AccessKeyId\": 5}", "AccessKeyId is not a string"},
        {"{\"SecretAccessKey\": \"s3cr3tvalue\"", "not well-formed"},
        {"{\"SecretAccessKey\": \"s3cr3tvalue\"} x", "not well-formed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(sp_creds_parse_json(bad[i].doc, strlen(bad[i].doc), &c, &err), SP_ERR);
        ck_assert_msg(strstr(err.msg, bad[i].msg) != NULL, "%zu: %s", i, err.msg);
        ck_assert_ptr_null(strstr(err.msg, "s3cr3t"));
        ck_assert_ptr_null(c.secret);
    }
}
END_TEST

/* botocore's hosts for a full URI; relative ones go to 169.254.170.2. */
START_TEST(platform_container_url)
{
    char u[SP_URL_MAX];
    sp_err err;
    ck_assert_int_eq(sp_ecs_url("/v2/credentials/abc", NULL, u, sizeof u, &err), SP_OK);
    ck_assert_str_eq(u, "http://169.254.170.2/v2/credentials/abc");
    ck_assert_int_eq(sp_ecs_url("v2", NULL, u, sizeof u, &err), SP_ERR);
    static const char *const good[] = {
        "http://127.0.0.1:8080/creds", "http://127.9.9.9/x", "http://localhost/x", "http://[::1]:9/x",
        "http://169.254.170.2/v1", "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1",
        "https://creds.example.com/x", "HTTP://LOCALHOST/x",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(sp_ecs_url(NULL, good[i], u, sizeof u, &err) == SP_OK || strncmp(good[i], "HTTP:", 5) == 0,
                      "%s: %s", good[i], err.msg);
    static const char *const bad[] = {
        "http://169.254.169.254/x", "http://example.com/x", "http://127.0.0.1.example.com/x",
        "http://user@127.0.0.1/x", "ftp://127.0.0.1/x", "http://128.0.0.1/x", "http://[fd00:ec2::254]/x",
        "http://127.0.0.1/a b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(sp_ecs_url(NULL, bad[i], u, sizeof u, &err) == SP_ERR, "%s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
    }
}
END_TEST

START_TEST(platform_imds_base)
{
    char u[SP_URL_MAX];
    sp_err err;
    sp_imds_opts o = {0};
    ck_assert_int_eq(sp_imds_base(&o, u, sizeof u, &err), SP_OK);
    ck_assert_str_eq(u, "http://169.254.169.254");
    o.mode = "ipv6";
    ck_assert_int_eq(sp_imds_base(&o, u, sizeof u, &err), SP_OK);
    ck_assert_str_eq(u, "http://[fd00:ec2::254]");
    o.mode = "IPv5";
    ck_assert_int_eq(sp_imds_base(&o, u, sizeof u, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"));
    o.endpoint = "http://127.0.0.1:1338//";   /* the endpoint wins over the mode */
    ck_assert_int_eq(sp_imds_base(&o, u, sizeof u, &err), SP_OK);
    ck_assert_str_eq(u, "http://127.0.0.1:1338");
    o.endpoint = "127.0.0.1:1338";
    ck_assert_int_eq(sp_imds_base(&o, u, sizeof u, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "AWS_EC2_METADATA_SERVICE_ENDPOINT must"));
}
END_TEST

START_TEST(platform_web_identity_answer)
{
    const char *doc =
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        "<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken>"
        "<Credentials><AccessKeyId>ASIAWEBID</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey>"
        "<SessionToken>tok</SessionToken><Expiration>2026-01-01T06:00:00Z</Expiration></Credentials>"
        "</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>rid-1</RequestId>"
        "</ResponseMetadata></AssumeRoleWithWebIdentityResponse>";
    sp_creds c;
    sp_sts_fault f;
    sp_err err;
    ck_assert_int_eq(sp_sts_parse_response("AssumeRoleWithWebIdentity", doc, strlen(doc), &c, &f, &err),
                     SP_OK);
    ck_assert_str_eq(c.access_key_id, "ASIAWEBID");
    ck_assert_str_eq(c.secret, "s3cr3t");
    ck_assert_str_eq(f.request_id, "rid-1");
    sp_creds_free(&c);
    /* the other action's answer is not this one's */
    ck_assert_int_eq(sp_sts_parse_assume_role(doc, strlen(doc), &c, &f, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "expected AssumeRoleResponse"));
}
END_TEST

/* Network sources: the synchronous chain notes them as not tried; the
 * chain's order puts them after the files. A container URL with a host
 * botocore refuses fails at once, before any request. */
START_TEST(platform_chain_choice)
{
    sp_creds_opts o = opts();
    sp_err err;
    setenv_fake("AWS_EC2_METADATA_DISABLED", "false");
    setenv_fake("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds");
    setenv_fake("AWS_WEB_IDENTITY_TOKEN_FILE", "%s/token", tmp);
    fails(&o, "web identity (no AWS_ROLE_ARN)", &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "container credentials (not tried here); "
                                          "instance metadata (not tried here)"));
    /* a profile with keys comes first */
    write_file("home/.aws/credentials", "[default]\naws_access_key_id = AKIAFILE\n"
                                        "aws_secret_access_key = " SECRET "\n");
    sp_creds c;
    ok(&o, &c);
    ck_assert_str_eq(c.access_key_id, "AKIAFILE");
    sp_creds_free(&c);

    sp_loop *loop = sp_loop_new(&err);
    sp_http *http = sp_http_new(loop, NULL, &err);
    ck_assert_ptr_nonnull(http);
    char path[400];
    snprintf(path, sizeof path, "%s/home/.aws/credentials", tmp);
    ck_assert_int_eq(unlink(path), 0);
    setenv_fake("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.169.254/creds");
    sp_creds_job *job = NULL;
    ck_assert_int_eq(sp_creds_resolve_start(&o, http, 0, &c, no_callback, NULL, &job, &err), SP_ERR);
    ck_assert_ptr_null(job);
    ck_assert_ptr_nonnull(strstr(err.msg, "container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI: "
                                          "host 169.254.169.254 is not allowed"));
    setenv_fake("AWS_CONTAINER_CREDENTIALS_FULL_URI", "%s", "");
    setenv_fake("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv7");
    ck_assert_int_eq(sp_creds_resolve_start(&o, http, 0, &c, no_callback, NULL, &job, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "instance metadata: AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"));
    ck_assert_uint_eq(sp_http_in_flight(http), 0);
    sp_http_free(http);
    sp_loop_free(loop);
}
END_TEST

static Suite *credentials_suite(void)
{
    Suite *s = suite_create("credentials");
    TCase *t = tcase_create("env");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, env_basic);
    tcase_add_test(t, env_tokens);
    tcase_add_test(t, env_errors);
    tcase_add_test(t, akid_rule);
    tcase_add_test(t, cli_first);
    tcase_add_test(t, resolve_start_local);
    suite_add_tcase(s, t);

    t = tcase_create("profiles");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, shared_file_default);
    tcase_add_test(t, profile_selection);
    tcase_add_test(t, env_vs_profile);
    tcase_add_test(t, config_file_sections);
    tcase_add_test(t, credentials_file_beats_config);
    tcase_add_test(t, file_paths_from_env);
    tcase_add_test(t, file_syntax_tolerated);
    tcase_add_test(t, nothing_found_lists_places);
    tcase_add_test(t, broken_files_are_errors);
    suite_add_tcase(s, t);

    t = tcase_create("boto");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, boto_home_over_system);
    tcase_add_test(t, boto_config_exclusive);
    tcase_add_test(t, boto_last_and_errors);
    tcase_add_test(t, boto_system_override_not_from_real_env);
    suite_add_tcase(s, t);

    t = tcase_create("region");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, region_chain);
    tcase_add_test(t, region_errors);
    tcase_add_test(t, region_rule);
    suite_add_tcase(s, t);

    t = tcase_create("ini");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, ini_basics);
    tcase_add_test(t, ini_errors);
    tcase_add_test(t, ini_limits);
    suite_add_tcase(s, t);

    t = tcase_create("platform");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, platform_json_document);
    tcase_add_test(t, platform_container_url);
    tcase_add_test(t, platform_imds_base);
    tcase_add_test(t, platform_web_identity_answer);
    tcase_add_test(t, platform_chain_choice);
    suite_add_tcase(s, t);
    return s;
}

SP_CHECK_MAIN(credentials_suite)
