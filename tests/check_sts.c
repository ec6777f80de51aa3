/* STS AssumeRole: the XML reader (valid answers, entities, missing and
 * repeated fields, error documents, every truncation), the request body,
 * the parameter checks, times, endpoints, and whole calls against a
 * one-shot HTTP server forked on 127.0.0.1 (the request it saw is checked,
 * and no message may carry a secret). The signature itself is verified
 * with botocore by tests/integration/test_assume_role.py. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/credentials.h"
#include "shardpipe/http.h"
#include "shardpipe/loop.h"
#include "shardpipe/sts.h"

#define BASE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define BASE_TOKEN "BaseSessionToken/with+plus=="
#define ROLE "arn:aws:iam::123456789012:role/demo"
#define ROLE_SECRET "roleSecret/K7MDENG+bPxRfiCYzzEXAMPLE"
#define ROLE_TOKEN "FwoGZXIvYXdzEXAMPLEroleTOKEN//////////wEaDNtoken+abc=="

/* AWS's documented example, with our values. */
static const char good[] =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleResult>\n"
    "    <SourceIdentity>Alice</SourceIdentity>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/demo/John</Arn>\n"
    "      <AssumedRoleId>ARO123EXAMPLE123:John</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <SessionToken>" ROLE_TOKEN "</SessionToken>\n"
    "      <SecretAccessKey>" ROLE_SECRET "</SecretAccessKey>\n"
    "      <Expiration>2019-11-09T13:34:41Z</Expiration>\n"
    "      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "    </Credentials>\n"
    "    <PackedPolicySize>8</PackedPolicySize>\n"
    "  </AssumeRoleResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</AssumeRoleResponse>\n";

static const char denied[] =
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <Error>\n"
    "    <Type>Sender</Type>\n"
    "    <Code>AccessDenied</Code>\n"
    "    <Message>User: arn:aws:iam::123456789012:user/base is not authorized to perform: "
    "sts:AssumeRole on resource: " ROLE "</Message>\n"
    "  </Error>\n"
    "  <RequestId>4f0d1f2a-0000-4000-8000-000000000001</RequestId>\n"
    "</ErrorResponse>\n";

/* A document with the Credentials block replaced by creds. */
static char *with_creds(const char *creds)
{
    static char doc[4096];
    snprintf(doc, sizeof doc,
             "<AssumeRoleResponse><AssumeRoleResult><Credentials>%s</Credentials>"
             "</AssumeRoleResult></AssumeRoleResponse>", creds);
    return doc;
}

#define C_AKID "<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>"
#define C_SECRET "<SecretAccessKey>" ROLE_SECRET "</SecretAccessKey>"
#define C_TOKEN "<SessionToken>" ROLE_TOKEN "</SessionToken>"
#define C_EXP "<Expiration>2019-11-09T13:34:41Z</Expiration>"

static void no_secrets(const char *msg)
{
    ck_assert_msg(strstr(msg, ROLE_SECRET) == NULL, "secret in: %s", msg);
    ck_assert_msg(strstr(msg, "roleSecret") == NULL, "secret in: %s", msg);
    ck_assert_msg(strstr(msg, ROLE_TOKEN) == NULL, "token in: %s", msg);
    ck_assert_msg(strstr(msg, "EXAMPLEroleTOKEN") == NULL, "token in: %s", msg);
    ck_assert_msg(strstr(msg, BASE_SECRET) == NULL, "base secret in: %s", msg);
    ck_assert_msg(strstr(msg, "BaseSessionToken") == NULL, "base token in: %s", msg);
}

/* Parses text and expects an error containing want (no secret in it). */
static void bad(const char *text, const char *want)
{
    sp_creds c;
    sp_sts_fault f;
    sp_err err = {0};
    ck_assert_msg(sp_sts_parse_assume_role(text, strlen(text), &c, &f, &err) == SP_ERR,
                  "accepted: %s", text);
    ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' not in: %s", want, err.msg);
    ck_assert_ptr_null(c.secret);
    ck_assert_ptr_null(c.token);
    ck_assert_str_eq(f.code, "");
    no_secrets(err.msg);
}

static void good_creds(const char *text, sp_creds *c)
{
    sp_err err = {0};
    sp_sts_fault f;
    int rc = sp_sts_parse_assume_role(text, strlen(text), c, &f, &err);
    ck_assert_msg(rc == SP_OK, "rejected: %s", err.msg);
}

START_TEST(parse_valid)
{
    sp_creds c;
    sp_sts_fault f;
    sp_err err;
    ck_assert_int_eq(sp_sts_parse_assume_role(good, strlen(good), &c, &f, &err), SP_OK);
    ck_assert_str_eq(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    ck_assert_str_eq(c.secret, ROLE_SECRET);
    ck_assert_str_eq(c.token, ROLE_TOKEN);
    ck_assert_int_eq((long long)c.expiration, 1573306481LL);
    ck_assert_str_eq(c.source, "");
    ck_assert_str_eq(f.code, "");
    ck_assert_str_eq(f.request_id, "c6104cbe-af31-11e0-8154-cbc7ccf896c7");
    sp_creds_free(&c);

    /* declaration, BOM, comments, PIs, attributes, self-closed elements,
     * white space in tags, CRLF: all well-formed XML */
    good_creds("\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- hi -->"
               "<AssumeRoleResponse a='1' b = \"2\"><?pi x?><AssumeRoleResult><Empty/><Also />"
               "<Credentials>" C_AKID C_SECRET C_TOKEN "<Expiration >2019-11-09T13:34:41.123Z"
               "</Expiration ></Credentials></AssumeRoleResult></AssumeRoleResponse >\r\n<!-- end -->\n",
               &c);
    ck_assert_int_eq((long long)c.expiration, 1573306481LL);
    sp_creds_free(&c);
    /* order does not matter */
    good_creds(with_creds(C_EXP C_TOKEN C_SECRET C_AKID), &c);
    ck_assert_str_eq(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    sp_creds_free(&c);
}
END_TEST

START_TEST(parse_entities)
{
    sp_creds c;
    /* the five entities, decimal and hex references (to UTF-8), CDATA */
    good_creds(with_creds(C_AKID
                          "<SecretAccessKey>a&amp;b&lt;c&gt;d&quot;e&apos;f&#47;g&#x2B;h&#xe9;"
                          "&#x20AC;&#x1F600;</SecretAccessKey>"
                          "<SessionToken><![CDATA[tok<&>en]]>+tail</SessionToken>" C_EXP),
               &c);
    ck_assert_str_eq(c.secret, "a&b<c>d\"e'f/g+h\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    ck_assert_str_eq(c.token, "tok<&>en+tail");
    sp_creds_free(&c);
    /* entities in an attribute are checked too */
    good_creds("<AssumeRoleResponse x=\"&amp;&#65;\"><AssumeRoleResult><Credentials>" C_AKID C_SECRET
               C_TOKEN C_EXP "</Credentials></AssumeRoleResult></AssumeRoleResponse>", &c);
    sp_creds_free(&c);

    bad(with_creds(C_AKID "<SecretAccessKey>a&nbsp;b</SecretAccessKey>" C_TOKEN C_EXP), "unknown entity");
    bad(with_creds(C_AKID "<SecretAccessKey>a&b</SecretAccessKey>" C_TOKEN C_EXP), "unknown entity");
    bad(with_creds(C_AKID "<SecretAccessKey>a&amp b</SecretAccessKey>" C_TOKEN C_EXP), "unknown entity");
    bad(with_creds(C_AKID "<SecretAccessKey>&#0;</SecretAccessKey>" C_TOKEN C_EXP), "character reference");
    bad(with_creds(C_AKID "<SecretAccessKey>&#xD800;</SecretAccessKey>" C_TOKEN C_EXP), "character reference");
    bad(with_creds(C_AKID "<SecretAccessKey>&#x110000;</SecretAccessKey>" C_TOKEN C_EXP), "character reference");
    bad(with_creds(C_AKID "<SecretAccessKey>&#1;</SecretAccessKey>" C_TOKEN C_EXP), "character reference");
    bad(with_creds(C_AKID "<SecretAccessKey>&#;</SecretAccessKey>" C_TOKEN C_EXP), "character reference");
    bad(with_creds(C_AKID "<SecretAccessKey>&#x4g;</SecretAccessKey>" C_TOKEN C_EXP), "bad character reference");
    bad(with_creds(C_AKID "<SecretAccessKey>&#99999999999;</SecretAccessKey>" C_TOKEN C_EXP),
        "bad character reference");
    /* a decoded line break is still not allowed in a credential */
    bad(with_creds(C_AKID "<SecretAccessKey>a&#10;b</SecretAccessKey>" C_TOKEN C_EXP),
        "Credentials/SecretAccessKey is empty or holds a control character");
    bad(with_creds(C_AKID "<SecretAccessKey>a\tb</SecretAccessKey>" C_TOKEN C_EXP),
        "Credentials/SecretAccessKey is empty or holds a control character");
}
END_TEST

START_TEST(parse_missing_and_repeated)
{
    bad(with_creds(C_SECRET C_TOKEN C_EXP), "the response lacks Credentials/AccessKeyId");
    bad(with_creds(C_AKID C_TOKEN C_EXP), "the response lacks Credentials/SecretAccessKey");
    bad(with_creds(C_AKID C_SECRET C_EXP), "the response lacks Credentials/SessionToken");
    bad(with_creds(C_AKID C_SECRET C_TOKEN), "the response lacks Credentials/Expiration");
    bad("<AssumeRoleResponse><AssumeRoleResult/></AssumeRoleResponse>",
        "the response lacks Credentials/AccessKeyId");
    bad(with_creds(C_AKID C_SECRET "<SessionToken/>" C_EXP), "Credentials/SessionToken is empty");
    bad(with_creds(C_AKID C_SECRET "<SessionToken></SessionToken>" C_EXP), "Credentials/SessionToken is empty");
    bad(with_creds(C_AKID C_SECRET C_TOKEN C_SECRET C_EXP),
        "AssumeRoleResponse/AssumeRoleResult/Credentials/SecretAccessKey appears twice");
    bad(with_creds("<AccessKeyId>AS IA</AccessKeyId>" C_SECRET C_TOKEN C_EXP),
        "Credentials/AccessKeyId is malformed");
    bad(with_creds("<AccessKeyId>" ROLE_SECRET "</AccessKeyId>" C_SECRET C_TOKEN C_EXP),
        "Credentials/AccessKeyId is malformed");
    bad(with_creds(C_AKID C_SECRET C_TOKEN "<Expiration>tomorrow</Expiration>"),
        "Credentials/Expiration is not an ISO-8601 time");
    /* in the wrong place, a field does not count */
    bad("<AssumeRoleResponse><Credentials>" C_AKID C_SECRET C_TOKEN C_EXP "</Credentials></AssumeRoleResponse>",
        "the response lacks Credentials/AccessKeyId");
    /* a field with children is not a value */
    bad(with_creds(C_AKID "<SecretAccessKey><x>s</x></SecretAccessKey>" C_TOKEN C_EXP),
        "the response lacks Credentials/SecretAccessKey");
    bad("<GetCallerIdentityResponse><A>b</A></GetCallerIdentityResponse>",
        "unexpected root element <GetCallerIdentityResponse>");
}
END_TEST

START_TEST(parse_error_documents)
{
    sp_creds c;
    sp_sts_fault f;
    sp_err err;
    ck_assert_int_eq(sp_sts_parse_assume_role(denied, strlen(denied), &c, &f, &err), SP_ERR);
    ck_assert_str_eq(f.code, "AccessDenied");
    ck_assert_str_eq(f.message, "User: arn:aws:iam::123456789012:user/base is not authorized to perform: "
                                "sts:AssumeRole on resource: " ROLE);
    ck_assert_str_eq(f.request_id, "4f0d1f2a-0000-4000-8000-000000000001");
    ck_assert_ptr_nonnull(strstr(err.msg, "AccessDenied: User: arn:aws:iam::123456789012:user/base"));
    ck_assert_ptr_null(c.secret);

    static const char expired[] =
        "<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code>"
        "<Message>The security token included in the request is expired</Message></Error>"
        "<RequestId>r-1</RequestId></ErrorResponse>";
    ck_assert_int_eq(sp_sts_parse_assume_role(expired, strlen(expired), &c, &f, &err), SP_ERR);
    ck_assert_str_eq(f.code, "ExpiredToken");
    ck_assert_str_eq(err.msg, "ExpiredToken: The security token included in the request is expired");

    /* entities in a message, unprintable bytes made harmless, no message */
    static const char odd[] = "<ErrorResponse><Error><Code>Throttling</Code>"
                              "<Message>Rate &amp; limit &lt;exceeded&gt; \x1b[31m</Message></Error></ErrorResponse>";
    bad(odd, "control character in text");
    static const char odd2[] = "<ErrorResponse><Error><Code>Throttling</Code>"
                               "<Message>Rate &amp; limit &lt;exceeded&gt; &#x7f;&#xe9;</Message></Error></ErrorResponse>";
    ck_assert_int_eq(sp_sts_parse_assume_role(odd2, strlen(odd2), &c, &f, &err), SP_ERR);
    ck_assert_str_eq(f.message, "Rate & limit <exceeded> ???");
    static const char nomsg[] = "<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>";
    ck_assert_int_eq(sp_sts_parse_assume_role(nomsg, strlen(nomsg), &c, NULL, &err), SP_ERR);
    ck_assert_str_eq(err.msg, "InternalFailure: (no message)");

    bad("<ErrorResponse><Error><Message>m</Message></Error></ErrorResponse>",
        "ErrorResponse without an Error/Code");
}
END_TEST

START_TEST(parse_malformed)
{
    bad("", "no root element");
    bad("   \n", "no root element");
    bad("<?xml version='1.0'?><!-- only -->", "no root element");
    bad("not xml", "XML line 1: text outside the root element");
    bad("{\"Credentials\":{}}", "text outside the root element");
    bad("<a></b>", "</b> closes <a>");
    bad("<a><b></a></b>", "</a> closes <b>");
    bad("<a></a></a>", "</a> closes nothing");
    bad("<a></a><b></b>", "a second root element <b>");
    bad("<a></a>trailing", "text outside the root element");
    bad("<a>\n<b>x</b>\ny\n</a>", "XML line 4: text mixed with elements in <a>");
    bad("<a>x<b>y</b></a>", "text mixed with elements in <a>");
    bad("<!DOCTYPE a [<!ENTITY e \"boom\">]><a>&e;</a>", "document type declarations are not accepted");
    bad("<a><!ENTITY e 'x'></a>", "document type declarations are not accepted");
    bad("<a b=c></a>", "attribute b in <a> is not quoted");
    bad("<a b></a>", "attribute b in <a> has no value");
    bad("<a b='<'></a>", "bad character in attribute b of <a>");
    bad("<a b='1'c='2'></a>", "expected white space before an attribute in <a>");
    bad("<1a></1a>", "expected an element name");
    bad("< a></a>", "expected an element name");
    bad("<a>\x01</a>", "control character in text");
    bad("<a><![CDATA[\x02]]></a>", "control character in a CDATA section");
    bad("<![CDATA[x]]><a/>", "CDATA outside the root element");
    bad("<a></a  x>", "expected '>' after </a");
    static char deep[1024];
    size_t n = 0;
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "<d%d>", i);
    bad(deep, "elements nested deeper than 16");
    char longname[200] = "<";
    memset(longname + 1, 'n', 70);
    strcpy(longname + 71, "/>");
    bad(longname, "element name longer than 64 characters");
}
END_TEST

/* Every proper prefix of a good answer is refused, without a crash, a
 * leak or a secret in the message. */
START_TEST(parse_truncated)
{
    size_t n = strlen(good);
    for (size_t cut = 0; cut < n; cut++) {
        char *t = malloc(cut + 1);
        ck_assert_ptr_nonnull(t);
        memcpy(t, good, cut);
        t[cut] = '\0';
        sp_creds c;
        sp_err err = {0};
        int rc = sp_sts_parse_assume_role(t, cut, &c, NULL, &err);
        /* the one complete document is the whole text less its last newline */
        if (cut == n - 1) {
            ck_assert_int_eq(rc, SP_OK);
            sp_creds_free(&c);
        } else {
            ck_assert_msg(rc == SP_ERR, "prefix of %zu bytes accepted", cut);
            no_secrets(err.msg);
            ck_assert_ptr_null(c.secret);
        }
        free(t);
    }
    bad("<AssumeRoleResponse><AssumeRoleResult><Credentials>" C_AKID "<SecretAccessKey>roleSecr",
        "truncated: <SecretAccessKey> is not closed");
    bad("<a><!-- never ends", "truncated inside a comment");
    bad("<a><![CDATA[never", "truncated inside a CDATA section");
    bad("<a b=\"never", "truncated inside <a>");
    bad("<a>&am", "truncated inside an entity reference");
    bad("<a>&#12", "truncated inside a character reference");
    bad("<a></a", "truncated inside </a>");
    /* a NUL inside the stated length ends nothing early */
    static const char nul[] = "<a>x\0y</a>";
    sp_creds c;
    sp_err err;
    ck_assert_int_eq(sp_sts_parse_assume_role(nul, sizeof nul - 1, &c, NULL, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "control character in text"));
}
END_TEST

START_TEST(body_encoding)
{
    sp_buf b;
    sp_buf_init(&b, 0);
    ck_assert_int_eq(sp_sts_body_assume_role(&b, ROLE, "shardpipe-1700000000", NULL, 3600), SP_OK);
    ck_assert_str_eq(b.data, "Action=AssumeRole&Version=2011-06-15"
                             "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo"
                             "&RoleSessionName=shardpipe-1700000000&DurationSeconds=3600");
    sp_buf_reset(&b);
    /* RFC 3986 unreserved stays, everything else is %XX (upper case) */
    ck_assert_int_eq(sp_sts_body_assume_role(&b, "arn:aws:iam::123456789012:role/a_b.c~d-e+f",
                                             "u+s=e,r.@x-y_z", "ex+t=1,2.3@4:5/6-7_8", 0), SP_OK);
    ck_assert_str_eq(b.data, "Action=AssumeRole&Version=2011-06-15"
                             "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa_b.c~d-e%2Bf"
                             "&RoleSessionName=u%2Bs%3De%2Cr.%40x-y_z"
                             "&ExternalId=ex%2Bt%3D1%2C2.3%404%3A5%2F6-7_8");
    sp_buf_reset(&b);
    ck_assert_int_eq(sp_sts_body_assume_role(&b, "a b&c=d\xC3\xA9", "s", "", 900), SP_OK);
    ck_assert_str_eq(b.data, "Action=AssumeRole&Version=2011-06-15&RoleArn=a%20b%26c%3Dd%C3%A9"
                             "&RoleSessionName=s&ExternalId=&DurationSeconds=900");
    sp_buf_free(&b);
    /* a bounded buffer that overflows is an error, not a short body */
    sp_buf_init(&b, 20);
    ck_assert_int_eq(sp_sts_body_assume_role(&b, ROLE, "s1", NULL, 3600), SP_ERR);
    sp_buf_free(&b);
}
END_TEST

START_TEST(checks)
{
    sp_err err;
    ck_assert_int_eq(sp_sts_check_role_arn(ROLE, &err), SP_OK);
    ck_assert_int_eq(sp_sts_check_role_arn("arn:aws-us-gov:iam::123456789012:role/x/y/z", &err), SP_OK);
    ck_assert_int_eq(sp_sts_check_role_arn("arn:aws-cn:iam::123456789012:role/service-role/x+y=z,a.b@c-d_e", &err), SP_OK);
    static const char *const no[] = {
        "", "arn:aws:iam::123456789012:role", "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:user/x", "arn:aws:sts::123456789012:role/x",
        "arn:aws:iam::1234567890123:role/x", "arn:aws:iam::12345678901x:role/x",
        "arn:aws:iam:us-east-1:123456789012:role/x", "arn:gcp:iam::123456789012:role/x",
        "arn:aws:iam::123456789012:role/x y", "arn:aws:iam::123456789012:role/x\n",
        "ARN:AWS:IAM::123456789012:ROLE/X",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        ck_assert_msg(sp_sts_check_role_arn(no[i], &err) == SP_ERR, "accepted %s", no[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "is not an IAM role ARN"));
    }
    char big[2100] = "arn:aws:iam::123456789012:role/";
    memset(big + strlen(big), 'x', 2048 - strlen(big));
    big[2048] = '\0';
    ck_assert_int_eq(sp_sts_check_role_arn(big, &err), SP_OK);
    strcat(big, "x");
    ck_assert_int_eq(sp_sts_check_role_arn(big, &err), SP_ERR);
    ck_assert_ptr_null(strstr(err.msg, "xxxxxxxx"));   /* not quoted when that long */

    ck_assert_int_eq(sp_sts_check_external_id("ab", &err), SP_OK);
    ck_assert_int_eq(sp_sts_check_external_id("Ab_0+=,.@:/-", &err), SP_OK);
    ck_assert_int_eq(sp_sts_check_external_id("a", &err), SP_ERR);
    ck_assert_int_eq(sp_sts_check_external_id("secret word", &err), SP_ERR);
    ck_assert_ptr_null(strstr(err.msg, "secret word"));
    char ext[1300];
    memset(ext, 'e', 1224);
    ext[1224] = '\0';
    ck_assert_int_eq(sp_sts_check_external_id(ext, &err), SP_OK);
    strcat(ext, "e");
    ck_assert_int_eq(sp_sts_check_external_id(ext, &err), SP_ERR);

    ck_assert_int_eq(sp_sts_check_session_name("ab", &err), SP_OK);
    ck_assert_int_eq(sp_sts_check_session_name("shardpipe-1700000000", &err), SP_OK);
    ck_assert_int_eq(sp_sts_check_session_name("a:b", &err), SP_ERR);
    ck_assert_str_eq(err.msg, "role session name 'a:b' must be 2 to 64 characters from A-Z, a-z, 0-9 and _+=,.@-");
    ck_assert_int_eq(sp_sts_check_session_name("a", &err), SP_ERR);
    char sn[80];
    memset(sn, 's', 65);
    sn[65] = '\0';
    ck_assert_int_eq(sp_sts_check_session_name(sn, &err), SP_ERR);
    sn[64] = '\0';
    ck_assert_int_eq(sp_sts_check_session_name(sn, &err), SP_OK);
}
END_TEST

START_TEST(times)
{
    time_t t;
    ck_assert_int_eq(sp_sts_parse_time("2019-11-09T13:34:41Z", &t), SP_OK);
    ck_assert_int_eq((long long)t, 1573306481LL);
    ck_assert_int_eq(sp_sts_parse_time("2019-11-09T13:34:41.5Z", &t), SP_OK);
    ck_assert_int_eq((long long)t, 1573306481LL);
    ck_assert_int_eq(sp_sts_parse_time("2019-11-09T15:34:41+02:00", &t), SP_OK);
    ck_assert_int_eq((long long)t, 1573306481LL);
    ck_assert_int_eq(sp_sts_parse_time("2019-11-09T08:04:41-05:30", &t), SP_OK);
    ck_assert_int_eq((long long)t, 1573306481LL);
    ck_assert_int_eq(sp_sts_parse_time("2024-02-29T00:00:00Z", &t), SP_OK);
    ck_assert_int_eq((long long)t, 1709164800LL);
    static const char *const no[] = {
        "", "2019-11-09", "2019-11-09T13:34:41", "2019-11-09 13:34:41Z", "2019-13-09T13:34:41Z",
        "2019-11-31T13:34:41Z", "2023-02-29T00:00:00Z", "2019-11-09T24:00:00Z",
        "2019-11-09T13:60:00Z", "2019-11-09T13:34:41.Z", "2019-11-09T13:34:41ZZ",
        "2019-11-09T13:34:41+0200", "19-11-09T13:34:41Z", "2019-11-09T13:34:4xZ",
        "1969-12-31T23:59:59Z",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(sp_sts_parse_time(no[i], &t) == SP_ERR, "accepted %s", no[i]);
}
END_TEST

START_TEST(endpoints_and_regions)
{
    char url[256], r[64];
    sp_err err;
    ck_assert_int_eq(sp_endpoint_default("sts", "eu-west-1", url, sizeof url, &err), SP_OK);
    ck_assert_str_eq(url, "https://sts.eu-west-1.amazonaws.com");
    ck_assert_int_eq(sp_endpoint_default("sts", "cn-north-1", url, sizeof url, &err), SP_OK);
    ck_assert_str_eq(url, "https://sts.cn-north-1.amazonaws.com.cn");
    ck_assert_int_eq(sp_endpoint_default("sts", "EU", url, sizeof url, &err), SP_ERR);
    ck_assert_int_eq(sp_endpoint_default("sts", NULL, url, sizeof url, &err), SP_ERR);
    ck_assert_int_eq(sp_endpoint_default("sts", "us-east-1", url, 10, &err), SP_ERR);

    sp_sts_signing_region("sts.amazonaws.com", "eu-west-1", r, sizeof r);
    ck_assert_str_eq(r, "us-east-1");
    sp_sts_signing_region("sts.ap-south-2.amazonaws.com", "eu-west-1", r, sizeof r);
    ck_assert_str_eq(r, "ap-south-2");
    sp_sts_signing_region("sts-fips.us-west-2.amazonaws.com:443", "eu-west-1", r, sizeof r);
    ck_assert_str_eq(r, "us-west-2");
    sp_sts_signing_region("sts.cn-northwest-1.amazonaws.com.cn", "eu-west-1", r, sizeof r);
    ck_assert_str_eq(r, "cn-northwest-1");
    sp_sts_signing_region("127.0.0.1:4566", "eu-west-1", r, sizeof r);
    ck_assert_str_eq(r, "eu-west-1");
    sp_sts_signing_region("vpce-1a2b.sts.us-east-1.vpce.amazonaws.com", "eu-west-1", r, sizeof r);
    ck_assert_str_eq(r, "eu-west-1");
    sp_sts_signing_region("sts.evil.example.com", "eu-west-1", r, sizeof r);
    ck_assert_str_eq(r, "eu-west-1");
}
END_TEST

/* ---- calls against a one-shot server ---- */

typedef struct mini {
    pid_t pid;
    int port;
    char reqfile[64];
} mini;

/* Forks a server on 127.0.0.1 that takes one request, stores it in a
 * file, answers with response (status line included) after delay_ms and
 * exits. */
static void mini_start_delayed(mini *m, const char *response, unsigned delay_ms)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s, 4), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    m->port = ntohs(a.sin_port);
    snprintf(m->reqfile, sizeof m->reqfile, "/tmp/check_sts.XXXXXX");
    int fd = mkstemp(m->reqfile);
    ck_assert_int_ge(fd, 0);
    m->pid = fork();
    ck_assert_int_ge(m->pid, 0);
    if (m->pid == 0) {
        alarm(20);
        int c = accept(s, NULL, NULL);
        if (c < 0)
            _exit(1);
        char buf[65536];
        size_t n = 0;
        ssize_t k;
        char *end = NULL;
        while (n < sizeof buf - 1 && (k = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
            n += (size_t)k;
            buf[n] = '\0';
            if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
                char *cl = strcasestr(buf, "\r\nContent-Length:");
                size_t want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
                while (n < want && n < sizeof buf - 1 && (k = read(c, buf + n, sizeof buf - 1 - n)) > 0)
                    n += (size_t)k;
                break;
            }
        }
        if (write(fd, buf, n) != (ssize_t)n)
            _exit(1);
        if (delay_ms)
            usleep(delay_ms * 1000);
        size_t rl = strlen(response);
        if (write(c, response, rl) != (ssize_t)rl)
            _exit(1);
        shutdown(c, SHUT_WR);
        while (read(c, buf, sizeof buf) > 0)
            ;
        _exit(0);
    }
    close(fd);
    close(s);
}

static void mini_start(mini *m, const char *response)
{
    mini_start_delayed(m, response, 0);
}

/* Waits for the server and returns what it received (caller frees). */
static char *mini_finish(mini *m)
{
    int st;
    ck_assert_int_eq(waitpid(m->pid, &st, 0), m->pid);
    FILE *f = fopen(m->reqfile, "rb");
    ck_assert_ptr_nonnull(f);
    char *req = calloc(1, 65536);
    ck_assert_ptr_nonnull(req);
    size_t n = fread(req, 1, 65535, f);
    req[n] = '\0';
    fclose(f);
    unlink(m->reqfile);
    return req;
}

static char *http_response(int status, const char *reason, const char *body)
{
    static char r[8192];
    snprintf(r, sizeof r,
             "HTTP/1.1 %d %s\r\nContent-Type: text/xml\r\nx-amzn-RequestId: hdr-rid-1\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status, reason, strlen(body), body);
    return r;
}

static sp_creds base_creds(int with_token)
{
    sp_creds b;
    memset(&b, 0, sizeof b);
    strcpy(b.access_key_id, "AKIDEXAMPLE");
    b.secret = strdup(BASE_SECRET);
    ck_assert_ptr_nonnull(b.secret);
    if (with_token) {
        b.token = strdup(BASE_TOKEN);
        ck_assert_ptr_nonnull(b.token);
    }
    strcpy(b.source, "environment (AWS_ACCESS_KEY_ID)");
    return b;
}

/* ---- the asynchronous call, driven by a loop of its own ---- */

typedef struct got {
    int done;
    sp_creds_result res;
    sp_loop *loop;
} got;

static void on_got(void *arg, sp_creds_result *r)
{
    got *g = arg;
    ck_assert_int_eq(g->done, 0);   /* once */
    g->res = *r;                    /* the credentials are ours now */
    g->done = 1;
    sp_loop_stop(g->loop);
}

/* The loop's ticks while the call ran: the timer and its counter. */
typedef struct ticker {
    int n;
    sp_timer t;
} ticker;

static void on_tick(sp_loop *loop, void *arg)
{
    ticker *t = arg;
    t->n++;
    sp_err e;
    ck_assert_int_eq(sp_timer_start(loop, &t->t, 100, &e), SP_OK);
}

/* Starts AssumeRole, runs the loop until the answer, and hands back what
 * the callback got (full: the whole result). ticks, when not NULL, counts
 * 100 ms timer ticks meanwhile. */
static int assume_full(const sp_sts_opts *o, const sp_creds *b, sp_creds *out, sp_err *err,
                       sp_creds_result *full, int *ticks)
{
    sp_err e;
    sp_loop *loop = sp_loop_new(&e);
    ck_assert_ptr_nonnull(loop);
    sp_http *http = sp_http_new(loop, NULL, &e);
    ck_assert_ptr_nonnull(http);
    got g = {0};
    g.loop = loop;
    ticker t = {0};
    sp_timer_init(&t.t, on_tick, &t);
    sp_sts_call *c = NULL;
    int rc = sp_sts_assume_role_start(http, o, b, on_got, &g, &c, err);
    memset(out, 0, sizeof *out);
    if (rc == SP_OK) {
        ck_assert_ptr_nonnull(c);
        if (ticks)
            ck_assert_int_eq(sp_timer_start(loop, &t.t, 100, &e), SP_OK);
        while (!g.done)
            ck_assert_int_eq(sp_loop_run(loop, &e), SP_OK);
        sp_timer_stop(loop, &t.t);
        rc = g.res.rc;
        *out = g.res.creds;
        if (rc != SP_OK)
            *err = g.res.err;
        if (full)
            *full = g.res;
    } else {
        ck_assert_int_eq(g.done, 0);   /* never called after SP_ERR */
    }
    if (ticks)
        *ticks = t.n;
    ck_assert_uint_eq(sp_http_in_flight(http), 0);
    sp_http_free(http);
    sp_loop_free(loop);
    return rc;
}

static int assume(const sp_sts_opts *o, const sp_creds *b, sp_creds *out, sp_err *err)
{
    return assume_full(o, b, out, err, NULL, NULL);
}

static int call(mini *m, const char *response, const sp_sts_opts *base_opts, int with_token,
                sp_creds *out, sp_err *err, char **req)
{
    char url[64];
    mini_start(m, response);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", m->port);
    sp_sts_opts o = *base_opts;
    o.endpoint = url;
    sp_creds b = base_creds(with_token);
    int rc = assume(&o, &b, out, err);
    sp_creds_free(&b);
    *req = mini_finish(m);
    return rc;
}

START_TEST(call_success)
{
    mini m;
    sp_creds c;
    sp_err err = {0};
    char *req;
    sp_sts_opts o = {.region = "eu-west-1", .role_arn = ROLE, .external_id = "ext-1",
                     .session_name = "unit-test"};
    int rc = call(&m, http_response(200, "OK", good), &o, 1, &c, &err, &req);
    ck_assert_msg(rc == SP_OK, "%s", err.msg);
    ck_assert_str_eq(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    ck_assert_str_eq(c.secret, ROLE_SECRET);
    ck_assert_str_eq(c.token, ROLE_TOKEN);
    ck_assert_int_eq((long long)c.expiration, 1573306481LL);
    ck_assert_str_eq(c.source, "role " ROLE " assumed with credentials from environment (AWS_ACCESS_KEY_ID)");
    sp_creds_free(&c);

    ck_assert_msg(strncmp(req, "POST / HTTP/1.1\r\n", 17) == 0, "%s", req);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", m.port);
    ck_assert_ptr_nonnull(strstr(req, host));
    ck_assert_ptr_nonnull(strstr(req, "\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(req, "\r\nX-Amz-Security-Token: " BASE_TOKEN "\r\n"));
    ck_assert_ptr_nonnull(strstr(req, "\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    ck_assert_ptr_nonnull(strstr(req, "/eu-west-1/sts/aws4_request, SignedHeaders=content-type;host;"
                                      "x-amz-date;x-amz-security-token, Signature="));
    const char *body = strstr(req, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    ck_assert_str_eq(body + 4, "Action=AssumeRole&Version=2011-06-15"
                               "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo"
                               "&RoleSessionName=unit-test&ExternalId=ext-1&DurationSeconds=3600");
    ck_assert_ptr_null(strstr(req, BASE_SECRET));
    free(req);

    /* no token: none sent, none signed; the default session name */
    sp_sts_opts o2 = {.region = "us-east-1", .role_arn = ROLE};
    time_t before = time(NULL);
    rc = call(&m, http_response(200, "OK", good), &o2, 0, &c, &err, &req);
    ck_assert_msg(rc == SP_OK, "%s", err.msg);
    sp_creds_free(&c);
    ck_assert_ptr_null(strstr(req, "X-Amz-Security-Token"));
    ck_assert_ptr_nonnull(strstr(req, "SignedHeaders=content-type;host;x-amz-date, "));
    const char *sn = strstr(req, "&RoleSessionName=shardpipe-");
    ck_assert_ptr_nonnull(sn);
    long long when = strtoll(sn + 27, NULL, 10);
    ck_assert(when >= (long long)before && when <= (long long)time(NULL));
    ck_assert_ptr_null(strstr(req, "ExternalId"));
    free(req);
}
END_TEST

START_TEST(call_failures)
{
    mini m;
    sp_creds c;
    sp_err err = {0};
    char *req;
    sp_sts_opts o = {.region = "us-east-1", .role_arn = ROLE, .external_id = "hidden-ext-id"};

    /* refused: code, message, hint, request id, role, base source, endpoint */
    int rc = call(&m, http_response(403, "Forbidden", denied), &o, 1, &c, &err, &req);
    free(req);
    ck_assert_int_eq(rc, SP_ERR);
    ck_assert_ptr_null(c.secret);
    ck_assert_msg(strstr(err.msg, "assuming role " ROLE " with credentials from environment (AWS_ACCESS_KEY_ID): "
                                  "STS refused (HTTP 403): AccessDenied: User: arn:aws:iam::123456789012:user/base "
                                  "is not authorized") == err.msg, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, "trust policy"));
    ck_assert_ptr_nonnull(strstr(err.msg, "request id 4f0d1f2a-0000-4000-8000-000000000001"));
    ck_assert_ptr_nonnull(strstr(err.msg, "(endpoint http://127.0.0.1:"));
    ck_assert_ptr_null(strstr(err.msg, "hidden-ext-id"));
    no_secrets(err.msg);

    /* expired base token */
    rc = call(&m, http_response(400, "Bad Request",
                                "<ErrorResponse><Error><Code>ExpiredToken</Code><Message>The security token "
                                "included in the request is expired</Message></Error></ErrorResponse>"),
              &o, 1, &c, &err, &req);
    free(req);
    ck_assert_int_eq(rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "STS refused (HTTP 400): ExpiredToken: The security token"));
    ck_assert_ptr_nonnull(strstr(err.msg, "session token of the base credentials has expired"));
    ck_assert_ptr_nonnull(strstr(err.msg, "request id hdr-rid-1"));   /* from the header */

    /* not an STS document: the start of it is shown */
    rc = call(&m, http_response(503, "Service Unavailable", "<html>upstream\ndown</html>"), &o, 1, &c, &err, &req);
    free(req);
    ck_assert_int_eq(rc, SP_ERR);
    ck_assert_msg(strstr(err.msg, "STS answered HTTP 503 (endpoint http://127.0.0.1:") != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, ": \"<html>upstream down</html>\""));

    /* a broken success is never quoted: it holds the secret */
    char broken[1024];
    snprintf(broken, sizeof broken, "%.*s", (int)(strstr(good, "</SecretAccessKey>") - good), good);
    rc = call(&m, http_response(200, "OK", broken), &o, 1, &c, &err, &req);
    free(req);
    ck_assert_int_eq(rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, ": malformed AssumeRole response: XML line"));
    ck_assert_ptr_nonnull(strstr(err.msg, "truncated: <SecretAccessKey> is not closed"));
    no_secrets(err.msg);

    /* credentials with an error status are not used, nor shown, even
     * when they come first */
    rc = call(&m, http_response(500, "Internal", good), &o, 1, &c, &err, &req);
    free(req);
    ck_assert_int_eq(rc, SP_ERR);
    ck_assert_ptr_null(c.secret);
    ck_assert_ptr_nonnull(strstr(err.msg, "STS answered HTTP 500"));
    ck_assert_ptr_null(strstr(err.msg, "AssumeRoleResponse"));
    no_secrets(err.msg);
    rc = call(&m, http_response(502, "Bad Gateway", "<SecretAccessKey>" ROLE_SECRET), &o, 1, &c, &err, &req);
    free(req);
    ck_assert_int_eq(rc, SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "STS answered HTTP 502 (endpoint"));
    no_secrets(err.msg);

    /* nobody listening */
    mini_start(&m, "");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
    kill(m.pid, SIGKILL);
    free(mini_finish(&m));
    sp_sts_opts o3 = o;
    o3.endpoint = url;
    sp_creds b = base_creds(0);
    rc = assume(&o3, &b, &c, &err);
    ck_assert_int_eq(rc, SP_ERR);
    ck_assert_msg(strstr(err.msg, "assuming role " ROLE " with credentials from environment (AWS_ACCESS_KEY_ID): "
                                  "STS at http://127.0.0.1:") == err.msg, "%s", err.msg);

    /* bad parameters fail before any I/O, naming the role where there is one */
    sp_sts_opts o4 = {.region = "us-east-1", .role_arn = "arn:aws:iam::123:role/x", .endpoint = url};
    ck_assert_int_eq(assume(&o4, &b, &c, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "assuming a role with credentials from environment "
                                          "(AWS_ACCESS_KEY_ID): role ARN 'arn:aws:iam::123:role/x' is not"));
    o4.role_arn = ROLE;
    o4.session_name = "bad name";
    ck_assert_int_eq(assume(&o4, &b, &c, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "role session name 'bad name' must be"));
    o4.session_name = NULL;
    o4.external_id = "bad ext";
    ck_assert_int_eq(assume(&o4, &b, &c, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "the external ID must be"));
    ck_assert_ptr_null(strstr(err.msg, "bad ext"));
    o4.external_id = NULL;
    o4.endpoint = "ftp://sts";
    ck_assert_int_eq(assume(&o4, &b, &c, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "must start with http:// or https://"));
    o4.endpoint = NULL;
    o4.region = NULL;
    ck_assert_int_eq(assume(&o4, &b, &c, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "STS needs a region"));
    sp_creds_free(&b);
}
END_TEST

/* ---- through the credential chain ---- */

#define MAXENV 8
static const char *envk[MAXENV];
static const char *envv[MAXENV];
static int nenv;

static const char *fake_getenv(const char *name, void *arg)
{
    (void)arg;
    for (int i = 0; i < nenv; i++)
        if (strcmp(envk[i], name) == 0)
            return envv[i];
    return NULL;
}

static void env_set(const char *k, const char *v)
{
    ck_assert_int_lt(nenv, MAXENV);
    envk[nenv] = k;
    envv[nenv++] = v;
}

static void on_resolved(void *arg, sp_creds_result *r)
{
    on_got(arg, r);
}

/* sp_creds_resolve_start, then the loop until the answer when there is
 * one to wait for. */
static int resolve(const sp_creds_opts *o, sp_creds *out, sp_err *err)
{
    sp_err e;
    sp_loop *loop = sp_loop_new(&e);
    ck_assert_ptr_nonnull(loop);
    sp_http *http = sp_http_new(loop, NULL, &e);
    ck_assert_ptr_nonnull(http);
    got g = {0};
    g.loop = loop;
    sp_creds_job *job = (sp_creds_job *)&g;   /* a sentinel: the call must set it */
    int rc = sp_creds_resolve_start(o, http, 0, out, on_resolved, &g, &job, err);
    if (rc == SP_OK && job != NULL) {
        while (!g.done)
            ck_assert_int_eq(sp_loop_run(loop, &e), SP_OK);
        rc = g.res.rc;
        *out = g.res.creds;
        if (rc != SP_OK)
            *err = g.res.err;
    } else {
        ck_assert_ptr_null(job);
    }
    ck_assert_int_eq(g.done, job != NULL);
    sp_http_free(http);
    sp_loop_free(loop);
    return rc;
}

START_TEST(chain_assumes_role)
{
    mini m;
    char url[64], url2[64];
    sp_creds c;
    sp_err err = {0};
    nenv = 0;
    env_set("HOME", "/nonexistent-sp-home");
    env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    env_set("AWS_SECRET_ACCESS_KEY", BASE_SECRET);
    env_set("AWS_SESSION_TOKEN", BASE_TOKEN);
    env_set("AWS_ENDPOINT_URL", "http://127.0.0.1:1");   /* loses to the STS-specific one */
    mini_start(&m, http_response(200, "OK", good));
    snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
    env_set("AWS_ENDPOINT_URL_STS", url);
    sp_creds_opts o = {0};
    o.getenv_fn = fake_getenv;
    o.role_arn = ROLE;
    o.region = "us-west-2";
    /* the synchronous chain does not go over the network */
    ck_assert_int_eq(sp_creds_resolve(&o, &c, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "assuming role " ROLE ": needs a request on the event loop") == err.msg,
                  "%s", err.msg);
    ck_assert_ptr_null(c.secret);
    int rc = resolve(&o, &c, &err);
    char *req = mini_finish(&m);
    ck_assert_msg(rc == SP_OK, "%s", err.msg);
    ck_assert_str_eq(c.source, "role " ROLE " assumed with credentials from environment (AWS_ACCESS_KEY_ID)");
    ck_assert_str_eq(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    ck_assert_int_ne((long long)c.expiration, 0);
    ck_assert_ptr_nonnull(strstr(req, "/us-west-2/sts/aws4_request"));
    ck_assert_ptr_nonnull(strstr(req, "X-Amz-Security-Token: " BASE_TOKEN "\r\n"));
    sp_creds_free(&c);
    free(req);

    /* an explicit endpoint wins over both variables; the region comes
     * from the environment when the options have none */
    mini_start(&m, http_response(200, "OK", good));
    snprintf(url2, sizeof url2, "http://127.0.0.1:%d", m.port);
    o.sts_endpoint = url2;
    o.region = NULL;
    o.role_session_name = "chain-test";
    env_set("AWS_REGION", "ap-northeast-1");
    rc = resolve(&o, &c, &err);
    req = mini_finish(&m);
    ck_assert_msg(rc == SP_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(req, "/ap-northeast-1/sts/aws4_request"));
    ck_assert_ptr_nonnull(strstr(req, "&RoleSessionName=chain-test&"));
    sp_creds_free(&c);
    free(req);

    /* the chain finding nothing names the role too */
    nenv = 0;
    env_set("HOME", "/nonexistent-sp-home");
    env_set("SHARDPIPE_TEST_BOTO_SYSTEM_FILE", "/nonexistent-sp-home/boto.cfg");
    env_set("AWS_EC2_METADATA_DISABLED", "true");   /* never the real instance metadata */
    ck_assert_int_eq(resolve(&o, &c, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "assuming role " ROLE ": no AWS credentials found") == err.msg, "%s", err.msg);

    /* no role, no STS: the chain's answer as it is */
    nenv = 0;
    env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    env_set("AWS_SECRET_ACCESS_KEY", BASE_SECRET);
    env_set("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1");
    o.role_arn = "";
    ck_assert_int_eq(resolve(&o, &c, &err), SP_OK);
    ck_assert_str_eq(c.source, "environment (AWS_ACCESS_KEY_ID)");
    ck_assert_int_eq((long long)c.expiration, 0);
    sp_creds_free(&c);
}
END_TEST

/* A bad STS endpoint from a variable is refused before any request, and
 * the message names the variable (issue 7). */
START_TEST(env_endpoint_named)
{
    sp_creds c;
    sp_err err = {0};
    nenv = 0;
    env_set("HOME", "/nonexistent-sp-home");
    env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    env_set("AWS_SECRET_ACCESS_KEY", BASE_SECRET);
    env_set("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:99999");
    sp_creds_opts o = {0};
    o.getenv_fn = fake_getenv;
    o.role_arn = ROLE;
    o.region = "us-west-2";
    ck_assert_int_eq(resolve(&o, &c, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "AWS_ENDPOINT_URL_STS: endpoint URL 'http://127.0.0.1:99999': the port must be")
                  != NULL, "%s", err.msg);
    nenv = 3;
    env_set("AWS_ENDPOINT_URL", "http://[::1");
    ck_assert_int_eq(resolve(&o, &c, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "AWS_ENDPOINT_URL: endpoint URL 'http://[::1' has an IPv6") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(opts_copy)
{
    sp_creds_opts a = {0}, b;
    sp_err err;
    a.access_key_id = "AKIDEXAMPLE";
    a.secret_access_key = BASE_SECRET;
    a.role_arn = ROLE;
    a.external_id = "ext-1";
    a.sts_endpoint = "http://127.0.0.1:9";
    a.getenv_fn = fake_getenv;
    ck_assert_int_eq(sp_creds_opts_copy(&b, &a, &err), SP_OK);
    ck_assert_ptr_ne(b.secret_access_key, a.secret_access_key);
    ck_assert_str_eq(b.secret_access_key, BASE_SECRET);
    ck_assert_str_eq(b.role_arn, ROLE);
    ck_assert_str_eq(b.external_id, "ext-1");
    ck_assert_str_eq(b.sts_endpoint, "http://127.0.0.1:9");
    ck_assert_ptr_null(b.profile);
    ck_assert_ptr_null(b.region);
    ck_assert_ptr_eq((void *)b.getenv_fn, (void *)fake_getenv);
    sp_creds_opts_free(&b);
    ck_assert_ptr_null(b.role_arn);
    ck_assert_int_eq(sp_creds_opts_copy(&b, NULL, &err), SP_OK);
    sp_creds_opts_free(&b);
}
END_TEST

/* ---- on the loop (issue 8) ---- */

/* An STS that answers after 1.5 s does not hold the loop: its timers keep
 * firing while the answer is awaited. */
START_TEST(call_does_not_block_the_loop)
{
    mini m;
    char url[64];
    mini_start_delayed(&m, http_response(200, "OK", good), 1500);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
    sp_sts_opts o = {.region = "us-east-1", .role_arn = ROLE, .endpoint = url};
    sp_creds b = base_creds(1), c;
    sp_err err = {0};
    int ticks = 0;
    uint64_t t0 = sp_monotonic_ms();
    int rc = assume_full(&o, &b, &c, &err, NULL, &ticks);
    uint64_t took = sp_monotonic_ms() - t0;
    free(mini_finish(&m));
    ck_assert_msg(rc == SP_OK, "%s", err.msg);
    ck_assert_str_eq(c.secret, ROLE_SECRET);
    ck_assert_uint_ge(took, 1400);
    ck_assert_msg(ticks >= 10, "the loop ticked %d times in %llu ms", ticks, (unsigned long long)took);
    sp_creds_free(&c);
    sp_creds_free(&b);
}
END_TEST

/* Signed for local time + the offset the servers' Date headers taught. */
START_TEST(call_signs_with_skew)
{
    mini m;
    sp_creds c;
    sp_err err = {0};
    char *req;
    sp_sts_opts o = {.region = "us-east-1", .role_arn = ROLE, .skew = 7200};
    time_t now = time(NULL);
    int rc = call(&m, http_response(200, "OK", good), &o, 0, &c, &err, &req);
    ck_assert_msg(rc == SP_OK, "%s", err.msg);
    sp_creds_free(&c);
    const char *d = strstr(req, "\r\nX-Amz-Date: ");
    ck_assert_ptr_nonnull(d);
    struct tm tm = {0};
    ck_assert_ptr_nonnull(strptime(d + 14, "%Y%m%dT%H%M%SZ", &tm));
    long ahead = (long)(timegm(&tm) - now);
    ck_assert_msg(ahead >= 7200 - 5 && ahead <= 7200 + 5, "X-Amz-Date is %ld s ahead", ahead);
    char scope[64];
    strftime(scope, sizeof scope, "Credential=AKIDEXAMPLE/%Y%m%d/", &tm);
    ck_assert_msg(strstr(req, scope) != NULL, "%s not in %s", scope, req);
    free(req);
}
END_TEST

/* "Signature expired" with a Date header: the result says by how much
 * the clock is off, so that the next attempt is signed right. */
START_TEST(call_learns_skew)
{
    mini m;
    sp_creds c, b = base_creds(0);
    sp_err err = {0};
    char url[64], resp[2048], date[64];
    time_t server = time(NULL) - 3600;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&server));
    static const char doc[] =
        "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>Signature "
        "expired: 20260101T010000Z is now earlier than 20260101T000000Z (20260101T000500Z - 5 min.)"
        "</Message></Error><RequestId>rid-skew</RequestId></ErrorResponse>";
    snprintf(resp, sizeof resp, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nDate: %s\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", date, strlen(doc), doc);
    mini_start(&m, resp);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
    sp_sts_opts o = {.region = "us-east-1", .role_arn = ROLE, .endpoint = url};
    sp_creds_result full;
    ck_assert_int_eq(assume_full(&o, &b, &c, &err, &full, NULL), SP_ERR);
    free(mini_finish(&m));
    ck_assert_ptr_nonnull(strstr(err.msg, "STS refused (HTTP 403): SignatureDoesNotMatch: Signature expired"));
    ck_assert_ptr_nonnull(strstr(err.msg, "request id rid-skew"));
    ck_assert_int_eq(full.have_skew, 1);
    ck_assert_msg(full.skew >= -3600 - 5 && full.skew <= -3600 + 5, "skew %ld", full.skew);
    /* any other refusal teaches nothing */
    mini_start(&m, http_response(403, "Forbidden", denied));
    snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
    ck_assert_int_eq(assume_full(&o, &b, &c, &err, &full, NULL), SP_ERR);
    free(mini_finish(&m));
    ck_assert_int_eq(full.have_skew, 0);
    sp_creds_free(&b);
}
END_TEST

static void never(void *arg, sp_creds_result *r)
{
    (void)arg;
    (void)r;
    ck_abort_msg("the callback of a cancelled call ran");
}

static void on_stop(sp_loop *loop, void *arg)
{
    (void)arg;
    sp_loop_stop(loop);
}

/* A cancelled call leaves nothing in flight and never calls back. */
START_TEST(call_cancelled)
{
    mini m;
    char url[64];
    sp_err err = {0};
    mini_start_delayed(&m, http_response(200, "OK", good), 300);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
    sp_loop *loop = sp_loop_new(&err);
    sp_http *http = sp_http_new(loop, NULL, &err);
    ck_assert_ptr_nonnull(http);
    sp_sts_opts o = {.region = "us-east-1", .role_arn = ROLE, .endpoint = url};
    sp_creds b = base_creds(1);
    sp_sts_call *c = NULL;
    ck_assert_int_eq(sp_sts_assume_role_start(http, &o, &b, never, NULL, &c, &err), SP_OK);
    sp_creds_free(&b);   /* not needed once started */
    ck_assert_uint_eq(sp_http_in_flight(http), 1);
    sp_timer t;
    sp_timer_init(&t, on_stop, NULL);
    ck_assert_int_eq(sp_timer_start(loop, &t, 100, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(loop, &err), SP_OK);   /* the request is out */
    sp_sts_cancel(c);
    ck_assert_uint_eq(sp_http_in_flight(http), 0);
    ck_assert_int_eq(sp_timer_start(loop, &t, 600, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(loop, &err), SP_OK);
    free(mini_finish(&m));
    sp_http_free(http);
    sp_loop_free(loop);
}
END_TEST

static Suite *sts_suite(void)
{
    Suite *s = suite_create("sts");
    TCase *t = tcase_create("xml");
    tcase_add_test(t, parse_valid);
    tcase_add_test(t, parse_entities);
    tcase_add_test(t, parse_missing_and_repeated);
    tcase_add_test(t, parse_error_documents);
    tcase_add_test(t, parse_malformed);
    tcase_add_test(t, parse_truncated);
    suite_add_tcase(s, t);
    t = tcase_create("request");
    tcase_add_test(t, body_encoding);
    tcase_add_test(t, checks);
    tcase_add_test(t, times);
    tcase_add_test(t, endpoints_and_regions);
    suite_add_tcase(s, t);
    t = tcase_create("calls");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, call_success);
    tcase_add_test(t, call_failures);
    tcase_add_test(t, chain_assumes_role);
    tcase_add_test(t, env_endpoint_named);
    tcase_add_test(t, opts_copy);
    tcase_add_test(t, call_does_not_block_the_loop);
    tcase_add_test(t, call_signs_with_skew);
    tcase_add_test(t, call_learns_skew);
    tcase_add_test(t, call_cancelled);
    suite_add_tcase(s, t);
    return s;
}

SP_CHECK_MAIN(sts_suite)
