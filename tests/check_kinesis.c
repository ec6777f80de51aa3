/* Request bodies, response parsing (including malformed and truncated
 * JSON) and error classification of the Kinesis API module; and the
 * credentials it signs with, renewed on the loop (issue 8), against an STS
 * and a Kinesis faked in this process on 127.0.0.1, driven by the same
 * loop as the client. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/kinesis.h"

static json_object *parse(const char *s)
{
    return json_tokener_parse(s);
}

START_TEST(classify_table)
{
    ck_assert_int_eq(sp_kinesis_classify(200, "", ""), SP_KC_OK);
    ck_assert_int_eq(sp_kinesis_classify(0, "TransportError", "reset"), SP_KC_RETRY);
    ck_assert_int_eq(sp_kinesis_classify(400, "ProvisionedThroughputExceededException", ""), SP_KC_THROTTLE);
    ck_assert_int_eq(sp_kinesis_classify(400, "LimitExceededException", ""), SP_KC_THROTTLE);
    ck_assert_int_eq(sp_kinesis_classify(400, "KMSThrottlingException", ""), SP_KC_THROTTLE);
    ck_assert_int_eq(sp_kinesis_classify(500, "InternalFailure", ""), SP_KC_RETRY);
    ck_assert_int_eq(sp_kinesis_classify(503, "503", ""), SP_KC_RETRY);
    ck_assert_int_eq(sp_kinesis_classify(504, "", ""), SP_KC_RETRY);
    ck_assert_int_eq(sp_kinesis_classify(400, "ResourceNotFoundException", ""), SP_KC_NOT_FOUND);
    ck_assert_int_eq(sp_kinesis_classify(400, "ValidationException", ""), SP_KC_FATAL);
    ck_assert_int_eq(sp_kinesis_classify(400, "InvalidArgumentException", ""), SP_KC_FATAL);
    ck_assert_int_eq(sp_kinesis_classify(400, "SerializationException", ""), SP_KC_FATAL);
    ck_assert_int_eq(sp_kinesis_classify(400, "AccessDeniedException", ""), SP_KC_AUTH);
    ck_assert_int_eq(sp_kinesis_classify(403, "InvalidSignatureException", "bad"), SP_KC_AUTH);
    ck_assert_int_eq(sp_kinesis_classify(400, "InvalidSignatureException",
                                         "Signature expired: 20131008T001036Z is now earlier than ..."),
                     SP_KC_CLOCK_SKEW);
    ck_assert_int_eq(sp_kinesis_classify(400, "ExpiredTokenException", ""), SP_KC_CREDS_EXPIRED);
    ck_assert_int_eq(sp_kinesis_classify(400, "ExpiredIteratorException", ""), SP_KC_EXPIRED_ITERATOR);
    ck_assert_int_eq(sp_kinesis_classify(400, "ExpiredNextTokenException", ""), SP_KC_EXPIRED_NEXT_TOKEN);
    ck_assert_int_eq(sp_kinesis_classify(400, "KMSDisabledException", ""), SP_KC_FATAL);
    ck_assert(sp_kclass_retryable(SP_KC_THROTTLE));
    ck_assert(sp_kclass_retryable(SP_KC_RETRY));
    ck_assert(!sp_kclass_retryable(SP_KC_FATAL));
    ck_assert(!sp_kclass_retryable(SP_KC_AUTH));
    ck_assert(!sp_kclass_retryable(SP_KC_NOT_FOUND));
}
END_TEST

START_TEST(parse_error_shapes)
{
    char code[96], msg[256];
    const char *b1 = "{\"__type\":\"com.amazonaws.kinesis.v20131202#ResourceNotFoundException\",\"message\":\"gone\"}";
    sp_kinesis_parse_error(b1, strlen(b1), 400, "", code, sizeof code, msg, sizeof msg);
    ck_assert_str_eq(code, "ResourceNotFoundException");
    ck_assert_str_eq(msg, "gone");
    const char *b2 = "{\"__type\":\"SerializationException:http://internal\",\"Message\":\"bad base64\"}";
    sp_kinesis_parse_error(b2, strlen(b2), 400, "", code, sizeof code, msg, sizeof msg);
    ck_assert_str_eq(code, "SerializationException");
    ck_assert_str_eq(msg, "bad base64");
    /* No __type: the header, then the status. */
    const char *b3 = "{\"message\":\"x\"}";
    sp_kinesis_parse_error(b3, strlen(b3), 400, "ThrottlingException:foo", code, sizeof code, msg, sizeof msg);
    ck_assert_str_eq(code, "ThrottlingException");
    sp_kinesis_parse_error(b3, strlen(b3), 502, "", code, sizeof code, msg, sizeof msg);
    ck_assert_str_eq(code, "502");
    /* Truncated JSON and HTML from a proxy: a code from the status and a
     * printable excerpt, never a crash. */
    const char *b4 = "{\"__type\":\"Internal";
    sp_kinesis_parse_error(b4, strlen(b4), 500, "", code, sizeof code, msg, sizeof msg);
    ck_assert_str_eq(code, "500");
    const char *b5 = "<html>\x01\x02 Bad Gateway</html>";
    sp_kinesis_parse_error(b5, strlen(b5), 502, "", code, sizeof code, msg, sizeof msg);
    ck_assert_str_eq(code, "502");
    ck_assert_ptr_nonnull(strstr(msg, "Bad Gateway"));
    ck_assert_ptr_null(strchr(msg, '\x01'));
    sp_kinesis_parse_error("", 0, 503, "", code, sizeof code, msg, sizeof msg);
    ck_assert_str_eq(code, "503");
    ck_assert_str_eq(msg, "");
}
END_TEST

START_TEST(endpoints)
{
    char url[256], host[256];
    sp_err err;
    ck_assert_int_eq(sp_endpoint_default("kinesis", "us-east-1", url, sizeof url, &err), SP_OK);
    ck_assert_str_eq(url, "https://kinesis.us-east-1.amazonaws.com");
    ck_assert_int_eq(sp_endpoint_default("kinesis", "cn-north-1", url, sizeof url, &err), SP_OK);
    ck_assert_str_eq(url, "https://kinesis.cn-north-1.amazonaws.com.cn");
    ck_assert_int_eq(sp_endpoint_default("kinesis", "US East", url, sizeof url, &err), SP_ERR);
    ck_assert_int_eq(sp_endpoint_default("kinesis", "", url, sizeof url, &err), SP_ERR);
    ck_assert_int_eq(sp_endpoint_host("http://127.0.0.1:4567", host, sizeof host, &err), SP_OK);
    ck_assert_str_eq(host, "127.0.0.1:4567");
    ck_assert_int_eq(sp_endpoint_host("https://Kinesis.US-EAST-1.amazonaws.com/", host, sizeof host, &err), SP_OK);
    ck_assert_str_eq(host, "kinesis.us-east-1.amazonaws.com");
    ck_assert_int_eq(sp_endpoint_host("ftp://x", host, sizeof host, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "http://"));
    ck_assert_int_eq(sp_endpoint_host("https://u:p@host", host, sizeof host, &err), SP_ERR);
    ck_assert_int_eq(sp_endpoint_host("https://host/path", host, sizeof host, &err), SP_ERR);
    ck_assert_int_eq(sp_endpoint_host("https://host?q=1", host, sizeof host, &err), SP_ERR);
    ck_assert_int_eq(sp_endpoint_host("https://", host, sizeof host, &err), SP_ERR);
}
END_TEST

/* The endpoint URL check Kinesis and STS share (issue 7): what curl would
 * only fail on later, or retry as a transport error, is refused here. */
static void url_bad(const char *url, const char *want)
{
    char host[SP_URL_MAX];
    sp_err err = {0};
    ck_assert_msg(sp_endpoint_host(url, host, sizeof host, &err) == SP_ERR, "accepted: %s", url);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", url, err.msg, want);
}

static void url_ok(const char *url, const char *want_host)
{
    char host[SP_URL_MAX];
    sp_err err = {0};
    ck_assert_msg(sp_endpoint_host(url, host, sizeof host, &err) == SP_OK, "%s: %s", url, err.msg);
    ck_assert_str_eq(host, want_host);
}

START_TEST(endpoint_validation)
{
    url_ok("http://localhost:4567", "localhost:4567");
    url_ok("http://[::1]:4567", "[::1]:4567");
    url_ok("http://[::1]", "[::1]");
    url_ok("https://[2001:DB8::1]/", "[2001:db8::1]");
    url_ok("http://10.0.0.1:1", "10.0.0.1:1");
    url_ok("http://kinesalite_1:65535", "kinesalite_1:65535");
    url_ok("https://kinesis.us-east-1.amazonaws.com.", "kinesis.us-east-1.amazonaws.com.");

    url_bad("http://[::1", "without its closing ']'");
    url_bad("http://[::1:4567/", "without its closing ']'");
    url_bad("http://[]:80", "no IPv6 address");
    url_bad("http://[::g]:80", "'::g' is not an IPv6 address");
    url_bad("http://[::1]4567", "'4' after the IPv6 address");
    url_bad("http://::1:4567", "must be in brackets");
    url_bad("http://127.0.0.1:99999", "port must be a number from 1 to 65535, not '99999'");
    url_bad("http://127.0.0.1:0", "not '0'");
    url_bad("http://127.0.0.1:", "not ''");
    url_bad("http://127.0.0.1:4567x", "not '4567x'");
    url_bad("http://127.0.0.1:-1", "port must be");
    url_bad("http://127.0.0.1:0000080", "port must be");
    url_bad("http://[::1]:70000", "port must be");
    url_bad("http://256.0.0.1", "'256.0.0.1' is not an IPv4 address");
    url_bad("http://1.2.3", "is not an IPv4 address");
    url_bad("http://-host", "is not a host name");
    url_bad("http://host-.x", "is not a host name");
    url_bad("http://a..b", "is not a host name");
    url_bad("http://h%41st", "is not a host name");
    url_bad("http://h!", "is not a host name");
    url_bad("http://:4567", "has no host");
    url_bad("http://a b", "space");
    url_bad("http://a\tb", "control character");
    url_bad("http://h\xc3\xa9", "non-ASCII");
    url_bad(" http://h", "space");
    url_bad("HTTP://h", "must start with http:// or https://");
    url_bad("http:/h", "must start with http:// or https://");
    url_bad("http://user:secret@h", "user information");
    url_bad("http://h/x", "must not have a path");
    url_bad("http://h#f", "must not have a path");
    /* a password is never echoed */
    char host[SP_URL_MAX];
    sp_err err = {0};
    ck_assert_int_eq(sp_endpoint_host("http://u:hunter2@h:99999", host, sizeof host, &err), SP_ERR);
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));
    ck_assert_int_eq(sp_endpoint_host("http://h/hunter2@x", host, sizeof host, &err), SP_ERR);
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));
    /* a long label; a host name longer than DNS allows */
    char url[400];
    snprintf(url, sizeof url, "http://%064d.com", 0);
    url_bad(url, "is not a host name");
    char big[SP_URL_MAX + 16];
    memset(big, 'a', sizeof big);
    memcpy(big, "http://", 7);
    big[sizeof big - 1] = '\0';
    url_bad(big, "too long");
    /* the host buffer is honoured */
    char tiny[8];
    ck_assert_int_eq(sp_endpoint_host("http://localhost:4567", tiny, sizeof tiny, &err), SP_ERR);
}
END_TEST

START_TEST(stream_names)
{
    sp_err err;
    ck_assert_int_eq(sp_kinesis_check_stream_name("app-logs_1.x", &err), SP_OK);
    ck_assert_int_eq(sp_kinesis_check_stream_name("", &err), SP_ERR);
    ck_assert_int_eq(sp_kinesis_check_stream_name("a b", &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "a b"));
    char long_name[200];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ck_assert_int_eq(sp_kinesis_check_stream_name(long_name, &err), SP_ERR);
    long_name[128] = '\0';
    ck_assert_int_eq(sp_kinesis_check_stream_name(long_name, &err), SP_OK);
}
END_TEST

START_TEST(bodies)
{
    sp_buf b;
    sp_buf_init(&b, 0);
    sp_kinesis_body_stream(&b, "s\"1");
    ck_assert_str_eq(b.data, "{\"StreamName\":\"s\\\"1\"}");
    sp_buf_reset(&b);
    sp_kinesis_body_list_shards(&b, "s", "AT_LATEST", NULL);
    ck_assert_str_eq(b.data, "{\"StreamName\":\"s\",\"ShardFilter\":{\"Type\":\"AT_LATEST\"},\"MaxResults\":1000}");
    sp_buf_reset(&b);
    /* Later pages carry the token only. */
    sp_kinesis_body_list_shards(&b, "s", "AT_LATEST", "tok");
    ck_assert_str_eq(b.data, "{\"NextToken\":\"tok\",\"MaxResults\":1000}");
    sp_buf_reset(&b);
    sp_kinesis_body_shard_iterator(&b, "s", "shardId-000000000001", "AT_TIMESTAMP", NULL, 1459799926480);
    ck_assert_str_eq(b.data, "{\"StreamName\":\"s\",\"ShardId\":\"shardId-000000000001\","
                             "\"ShardIteratorType\":\"AT_TIMESTAMP\",\"Timestamp\":1459799926.480}");
    sp_buf_reset(&b);
    sp_kinesis_body_shard_iterator(&b, "s", "shardId-0", "AFTER_SEQUENCE_NUMBER", "123", 0);
    ck_assert_str_eq(b.data, "{\"StreamName\":\"s\",\"ShardId\":\"shardId-0\","
                             "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"123\"}");
    sp_buf_reset(&b);
    sp_kinesis_body_get_records(&b, "it", 25);
    ck_assert_str_eq(b.data, "{\"ShardIterator\":\"it\",\"Limit\":25}");
    sp_buf_free(&b);
}
END_TEST

START_TEST(summary)
{
    sp_stream_summary s;
    sp_err err;
    json_object *j = parse("{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamARN\":\"arn:x\","
                           "\"StreamStatus\":\"ACTIVE\",\"StreamModeDetails\":{\"StreamMode\":\"ON_DEMAND\"},"
                           "\"RetentionPeriodHours\":24,\"OpenShardCount\":4,\"MaxRecordSizeInKiB\":10240,"
                           "\"StreamCreationTimestamp\":1459799926.48}}");
    ck_assert_int_eq(sp_kinesis_parse_summary(j, &s, &err), SP_OK);
    ck_assert_str_eq(s.name, "s");
    ck_assert_str_eq(s.mode, "ON_DEMAND");
    ck_assert_int_eq(s.max_record_kib, 10240);
    ck_assert_int_eq(s.open_shards, 4);
    json_object_put(j);
    /* kinesalite: no mode, no max record size -> PROVISIONED, 1024. */
    j = parse("{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamStatus\":\"CREATING\"}}");
    ck_assert_int_eq(sp_kinesis_parse_summary(j, &s, &err), SP_OK);
    ck_assert_int_eq(s.max_record_kib, 1024);
    ck_assert_str_eq(s.mode, "PROVISIONED");
    json_object_put(j);
    j = parse("{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamStatus\":\"ACTIVE\",\"MaxRecordSizeInKiB\":99999}}");
    ck_assert_int_eq(sp_kinesis_parse_summary(j, &s, &err), SP_ERR);
    json_object_put(j);
    j = parse("{\"Other\":1}");
    ck_assert_int_eq(sp_kinesis_parse_summary(j, &s, &err), SP_ERR);
    json_object_put(j);
}
END_TEST

START_TEST(shards)
{
    sp_shard *sh = NULL;
    size_t n = 0;
    char *tok = NULL;
    sp_err err;
    json_object *j = parse("{\"Shards\":[{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{\"StartingHashKey\":\"0\","
                           "\"EndingHashKey\":\"170141183460469231731687303715884105727\"},\"SequenceNumberRange\":"
                           "{\"StartingSequenceNumber\":\"1\",\"EndingSequenceNumber\":\"9\"}},"
                           "{\"ShardId\":\"shardId-000000000001\",\"ParentShardId\":\"shardId-000000000000\",\"HashKeyRange\":"
                           "{\"StartingHashKey\":\"170141183460469231731687303715884105728\",\"EndingHashKey\":"
                           "\"340282366920938463463374607431768211455\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"2\"}}],"
                           "\"NextToken\":\"next\"}");
    ck_assert_int_eq(sp_kinesis_parse_shards(j, &sh, &n, &tok, &err), SP_OK);
    json_object_put(j);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(tok, "next");
    ck_assert_str_eq(sh[0].end_seq, "9");
    ck_assert_ptr_null(sh[1].end_seq);
    ck_assert_str_eq(sh[1].parent, "shardId-000000000000");
    ck_assert_uint_eq(sh[1].end.hi, UINT64_MAX);
    ck_assert_uint_eq(sh[1].end.lo, UINT64_MAX);
    free(tok);
    /* A second page appends. */
    j = parse("{\"Shards\":[{\"ShardId\":\"shardId-000000000002\",\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"}}]}");
    ck_assert_int_eq(sp_kinesis_parse_shards(j, &sh, &n, &tok, &err), SP_OK);
    json_object_put(j);
    ck_assert_uint_eq(n, 3);
    ck_assert_ptr_null(tok);
    /* A hash key that is not a 128-bit decimal is refused. */
    j = parse("{\"Shards\":[{\"ShardId\":\"x\",\"HashKeyRange\":{\"StartingHashKey\":\"-1\",\"EndingHashKey\":\"1\"}}]}");
    ck_assert_int_eq(sp_kinesis_parse_shards(j, &sh, &n, &tok, &err), SP_ERR);
    json_object_put(j);
    j = parse("{\"Shards\":[{\"ShardId\":\"x\",\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"340282366920938463463374607431768211456\"}}]}");
    ck_assert_int_eq(sp_kinesis_parse_shards(j, &sh, &n, &tok, &err), SP_ERR);
    json_object_put(j);
    j = parse("{\"NoShards\":[]}");
    ck_assert_int_eq(sp_kinesis_parse_shards(j, &sh, &n, &tok, &err), SP_ERR);
    json_object_put(j);
    for (size_t i = 0; i < n; i++)
        sp_shard_clear(&sh[i]);
    free(sh);
}
END_TEST

/* Parses text (a C string) as a response to nsent records. */
static int put_parse(const char *text, size_t nsent, sp_put_result *r, sp_buf *scratch, sp_err *err)
{
    return sp_putresp_parse(text, strlen(text), nsent, r, scratch, err);
}

START_TEST(put_records_response)
{
    sp_put_result r[3];
    sp_err err;
    sp_buf sc;
    sp_buf_init(&sc, 1 << 20);
    const char *j = "{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"shardId-0\"},"
                    "{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"Rate exceeded\"},"
                    "{\"SequenceNumber\":\"\"}]}";
    ck_assert_int_eq(put_parse(j, 3, r, &sc, &err), SP_OK);
    ck_assert_str_eq(r[0].seq, "1");
    ck_assert_str_eq(r[0].shard_id, "shardId-0");
    ck_assert_ptr_null(r[0].code);
    ck_assert_str_eq(r[1].code, "ProvisionedThroughputExceededException");
    ck_assert_str_eq(r[1].message, "Rate exceeded");
    ck_assert_ptr_null(r[1].seq);
    /* An empty sequence number is not a success. */
    ck_assert_ptr_nonnull(r[2].code);
    /* Length mismatch is an error: we cannot tell which entry is which. */
    ck_assert_int_eq(put_parse(j, 2, r, &sc, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "3 entries for 2"));
    ck_assert_int_eq(err.code, SP_E_FAILED);
    ck_assert_int_eq(put_parse(j, 4, r, &sc, &err), SP_ERR);
    ck_assert_int_eq(put_parse("{\"FailedRecordCount\":0}", 1, r, &sc, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_FAILED);
    ck_assert_int_eq(put_parse("{\"Records\":[7]}", 1, r, &sc, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_FAILED);
    ck_assert_int_eq(put_parse("{\"Records\":{}}", 1, r, &sc, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_FAILED);

    /* Escapes are decoded, members it does not need are skipped whatever
     * they hold, the last of duplicate members counts, and a non-string
     * member is absent. */
    ck_assert_int_eq(put_parse(" {\"EncryptionType\":\"NONE\",\"x\":[1,-2.5e3,{\"a\":[true,false,null]}],"
                               "\"Records\":[{\"ErrorCode\":\"A\\u0042\\n\\\"\\\\\\/\",\"ErrorMessage\":"
                               "\"\\u00e9\\ud83d\\ude00\\ud800x\",\"ShardId\":7},"
                               "{\"SequenceNumber\":\"9\",\"SequenceNumber\":\"10\",\"ShardId\":\"s\","
                               "\"Other\":{\"deep\":[[[]]]}}],\"FailedRecordCount\":1}\r\n",
                               2, r, &sc, &err), SP_OK);
    ck_assert_str_eq(r[0].code, "AB\n\"\\/");
    ck_assert_str_eq(r[0].message, "\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx");
    ck_assert_ptr_null(r[0].shard_id);
    ck_assert_str_eq(r[1].seq, "10");
    ck_assert_str_eq(r[1].shard_id, "s");
    ck_assert_ptr_null(r[1].code);
    /* Every byte from 0x20 up but '"' and '\\' stands for itself. */
    char all[400] = "{\"Records\":[{\"ErrorCode\":\"";
    size_t al = strlen(all), from = al;
    for (int c = 0x20; c < 0x100; c++)
        if (c != '"' && c != '\\')
            all[al++] = (char)c;
    all[al] = '\0';
    char want[300];
    snprintf(want, sizeof want, "%s", all + from);
    strcat(all, "\"}]}");
    ck_assert_int_eq(put_parse(all, 1, r, &sc, &err), SP_OK);
    ck_assert_str_eq(r[0].code, want);
    /* Escapes after a long plain run. */
    ck_assert_int_eq(put_parse("{\"Records\":[{\"ErrorCode\":\"0123456789abcdefghij\\\"0123456789abcdefghij\\n"
                               "0123456789abcdefghij\"}]}", 1, r, &sc, &err), SP_OK);
    ck_assert_str_eq(r[0].code, "0123456789abcdefghij\"0123456789abcdefghij\n0123456789abcdefghij");

    /* Anything that is not one JSON object is malformed (SP_E_INVALID),
     * as json-c would have refused it. */
    static const char *const bad[] = {
        "", "   ", "[]", "\"x\"", "{", "{\"Records\":[{}]", "{\"Records\":[{}]}x", "{\"Records\":[{},]}",
        "{\"Records\":[{\"ShardId\":\"a\",}]}", "{\"Records\" [{}]}", "{Records:[{}]}",
        "{\"Records\":[{\"ShardId\":\"a\nb\"}]}", "{\"Records\":[{\"ShardId\":\"\\x\"}]}",
        "{\"Records\":[{\"ShardId\":\"\\u12\"}]}", "{\"Records\":[{}],\"n\":01}", "{\"Records\":[{}],\"n\":1.}",
        "{\"Records\":[{}],\"n\":-}", "{\"Records\":[{}],\"n\":1e}", "{\"Records\":[{}],\"n\":tru}",
        "{\"Records\":[{}],\"n\":[1 2]}", "{\"Records\":[{\"ShardId\":\"a\"", "{\"Records\":[{}]}{}",
        "{\"Records\":[{\"ShardId\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x01\"}]}",
        "{\"Records\":[{\"ShardId\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x1f\"}]}",
        "{\"Records\":[{\"ShardId\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(put_parse(bad[i], 1, r, &sc, &err) == SP_ERR, "accepted: %s", bad[i]);
        ck_assert_msg(err.code == SP_E_INVALID, "%s: %s", bad[i], err.msg);
    }
    /* Nesting is bounded; a NUL inside the text is not the end of it. */
    char deep[300] = "{\"Records\":[{}],\"n\":";
    size_t dl = strlen(deep);
    for (int i = 0; i < 100; i++)
        deep[dl++] = '[';
    for (int i = 0; i < 100; i++)
        deep[dl++] = ']';
    deep[dl++] = '}';
    ck_assert_int_eq(sp_putresp_parse(deep, dl, 1, r, &sc, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "nested"));
    ck_assert_int_eq(sp_putresp_parse("{\"Records\":[{}]}\0", 17, 1, r, &sc, &err), SP_ERR);
    sp_buf_free(&sc);
}
END_TEST

START_TEST(get_records_response)
{
    sp_get_records g;
    sp_kinesis_record rec;
    sp_err err;
    json_object *j = parse("{\"Records\":[{\"SequenceNumber\":\"5\",\"Data\":\"aGk=\",\"PartitionKey\":\"k\","
                           "\"ApproximateArrivalTimestamp\":1459799926.48}],\"NextShardIterator\":\"n\",\"MillisBehindLatest\":0}");
    ck_assert_int_eq(sp_kinesis_parse_get_records(j, &g, &err), SP_OK);
    ck_assert_uint_eq(g.n, 1);
    ck_assert_str_eq(g.next_iterator, "n");
    ck_assert_int_eq(g.millis_behind, 0);
    ck_assert_int_eq(sp_kinesis_record_at(&g, 0, &rec, &err), SP_OK);
    ck_assert_str_eq(rec.seq, "5");
    ck_assert_uint_eq(rec.data_b64_len, 4);
    ck_assert(rec.arrival > 1459799926.0 && rec.arrival < 1459799927.0);
    json_object_put(j);
    /* A closed shard: NextShardIterator null. */
    j = parse("{\"Records\":[],\"NextShardIterator\":null}");
    ck_assert_int_eq(sp_kinesis_parse_get_records(j, &g, &err), SP_OK);
    ck_assert_ptr_null(g.next_iterator);
    ck_assert_int_eq(g.millis_behind, -1);
    json_object_put(j);
    j = parse("{\"Records\":[{\"SequenceNumber\":\"5\"}],\"NextShardIterator\":\"n\"}");
    ck_assert_int_eq(sp_kinesis_parse_get_records(j, &g, &err), SP_OK);
    ck_assert_int_eq(sp_kinesis_record_at(&g, 0, &rec, &err), SP_ERR);
    json_object_put(j);
}
END_TEST


/* ---- error text (issue 7): identifying parts first, cut whole ---- */

START_TEST(utf8_cuts)
{
    ck_assert_uint_eq(sp_utf8_cut("abc", 3), 3);
    ck_assert_uint_eq(sp_utf8_cut("a\xf0\x9f\x8e\x89", 5), 5);   /* whole emoji */
    ck_assert_uint_eq(sp_utf8_cut("a\xf0\x9f\x8e\x89", 4), 1);   /* 3 of its 4 bytes */
    ck_assert_uint_eq(sp_utf8_cut("a\xf0\x9f\x8e\x89", 2), 1);
    ck_assert_uint_eq(sp_utf8_cut("a\xc3\xa9", 2), 1);
    ck_assert_uint_eq(sp_utf8_cut("\x80\x80", 2), 2);            /* not UTF-8: kept */
    ck_assert_uint_eq(sp_utf8_cut("", 0), 0);
    /* sp_err_set cuts a long message whole. */
    char big[SP_ERR_MSG_MAX * 2];
    memset(big, 0, sizeof big);
    big[0] = 'x';
    for (size_t i = 1; i + 4 < sizeof big; i += 4)
        memcpy(big + i, "\xf0\x9f\x8e\x89", 4);
    sp_err err;
    sp_err_set(&err, "%s", big);
    ck_assert_uint_lt(strlen(err.msg), SP_ERR_MSG_MAX);
    ck_assert_uint_gt(strlen(err.msg), SP_ERR_MSG_MAX - 5);
    ck_assert_uint_eq((strlen(err.msg) - 1) % 4, 0);
    sp_err_prefix(&err, "context");
    ck_assert_int_eq(strncmp(err.msg, "context: x", 10), 0);
    ck_assert_uint_eq((strlen(err.msg) - 10) % 4, 0);
}
END_TEST

/* Valid UTF-8? (a local check, so that the test does not lean on code it tests) */
static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((p[k] & 0xc0) != 0x80)
                return 0;
        p += len;
    }
    return 1;
}

/* A ValidationException whose message quotes a key of 129 emoji (what
 * Kinesis answers): the text keeps operation, stream, status, code,
 * region, endpoint and request id, and is valid UTF-8. */
START_TEST(explain_long_server_message)
{
    sp_err err;
    sp_loop *loop = sp_loop_new(&err);
    ck_assert_ptr_nonnull(loop);
    sp_http_opts ho = {0};
    sp_http *http = sp_http_new(loop, &ho, &err);
    ck_assert_ptr_nonnull(http);
    sp_kinesis_opts ko = {0};
    ko.region = "eu-west-3";
    ko.endpoint = "http://127.0.0.1:9";
    ko.creds.access_key_id = "AKIDEXAMPLE";
    ko.creds.secret_access_key = "secret";
    sp_kinesis *k = sp_kinesis_new(loop, http, &ko, &err);
    ck_assert_msg(k != NULL, "%s", err.msg);

    sp_buf body;
    sp_buf_init(&body, 0);
    sp_buf_puts(&body, "{\"__type\":\"ValidationException\",\"message\":\"1 validation error detected: "
                       "Value '");
    for (int i = 0; i < 129; i++)
        sp_buf_puts(&body, "\xf0\x9f\x8e\x89");
    sp_buf_puts(&body, "' at 'records.2.member.partitionKey' failed to satisfy constraint: Member must "
                       "have length less than or equal to 256\"}");
    sp_kinesis_result res;
    memset(&res, 0, sizeof res);
    res.klass = SP_KC_FATAL;
    res.status = 400;
    snprintf(res.request_id, sizeof res.request_id, "c0ffee00-1111-4222-8333-444455556666");
    sp_kinesis_parse_error(body.data, body.len, 400, "", res.code, sizeof res.code,
                           res.message, sizeof res.message);
    sp_buf_free(&body);
    ck_assert_str_eq(res.code, "ValidationException");
    ck_assert_msg(valid_utf8(res.message), "message cut inside a character");
    ck_assert_int_eq(sp_kinesis_explain(k, "PutRecords", "orders", &res, &err), SP_ERR);
    ck_assert_msg(valid_utf8(err.msg), "error text cut inside a character: %s", err.msg);
    static const char *const want[] = {
        "PutRecords", "'orders'", "HTTP 400", "ValidationException", "region eu-west-3",
        "endpoint http://127.0.0.1:9", "request id c0ffee00-1111-4222-8333-444455556666",
        "1 validation error detected",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(err.msg, want[i]) != NULL, "'%s' lost from: %s", want[i], err.msg);
    /* the other shapes keep their identifying parts too */
    res.klass = SP_KC_NOT_FOUND;
    sp_kinesis_explain(k, "DescribeStreamSummary", "orders", &res, &err);
    ck_assert_msg(valid_utf8(err.msg) && strstr(err.msg, "request id c0ffee00") && strstr(err.msg, "eu-west-3"),
                  "%s", err.msg);
    res.klass = SP_KC_AUTH;
    sp_kinesis_explain(k, "PutRecords", "orders", &res, &err);
    ck_assert_msg(valid_utf8(err.msg) && strstr(err.msg, "request id c0ffee00") && strstr(err.msg, "eu-west-3") &&
                  strstr(err.msg, "credentials from "), "%s", err.msg);
    sp_kinesis_free(k);
    sp_http_free(http);
    sp_loop_free(loop);
}
END_TEST

/* ---- credentials on the loop: a fake STS and Kinesis on the same loop ---- */

#define FK_ROLE "arn:aws:iam::123456789012:role/demo"
#define FK_KEY1 "ASIAFAKEKEYONE000001"
#define FK_KEY2 "ASIAFAKEKEYTWO000002"
#define FK_MAX 64

typedef struct fake fake;

typedef struct fconn {
    fake *f;
    int fd;
    char buf[16384];
    size_t n;
    sp_buf resp;
    sp_timer t;
    struct fconn *next;
} fconn;

struct fake {
    sp_loop *loop;
    int lfd, port;
    char url[64];
    fconn *conns;
    /* STS: the n-th call issues FK_KEY1, then FK_KEY2 */
    int sts_calls, sts_answers;
    unsigned sts_delay_ms[4];       /* per call; the last repeats */
    long sts_expires_in[4];         /* per call, seconds; 0: 3600 */
    int sts_deny;
    time_t sts_date[FK_MAX];        /* each call's X-Amz-Date */
    /* Kinesis */
    int kin_calls;
    char kin_key[FK_MAX][24];       /* the access key each call was signed with */
    int expire_key1;                /* ExpiredTokenException for FK_KEY1 */
    int skew_first;                 /* "Signature expired" to the first call, Date 2 h ahead */
};

static void fconn_close(fconn *c)
{
    fake *f = c->f;
    sp_timer_stop(f->loop, &c->t);
    sp_loop_unwatch(f->loop, c->fd);
    close(c->fd);
    for (fconn **p = &f->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    sp_buf_free(&c->resp);
    free(c);
}

static void fconn_write(sp_loop *loop, void *arg)
{
    (void)loop;
    fconn *c = arg;
    if (strstr(c->buf, "Content-Type: application/x-www-form-urlencoded") != NULL)
        c->f->sts_answers++;
    /* small answers on loopback: one send; a client gone is fine */
    if (send(c->fd, c->resp.data, c->resp.len, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
        ck_abort_msg("send: %s", strerror(errno));
    fconn_close(c);
}

static time_t amz_time(const char *req, const char *name)
{
    const char *d = strstr(req, name);
    struct tm tm = {0};
    if (d == NULL || strptime(d + strlen(name), "%Y%m%dT%H%M%SZ", &tm) == NULL)
        return 0;
    return timegm(&tm);
}

static void answer(fconn *c, int status, time_t date, const char *type, const char *body)
{
    char d[64];
    strftime(d, sizeof d, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&date));
    sp_buf_printf(&c->resp, "HTTP/1.1 %d X\r\nDate: %s\r\nContent-Type: %s\r\nx-amzn-RequestId: rid-%d\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status, d, type,
                  c->f->sts_calls + c->f->kin_calls, strlen(body), body);
}

static void handle(fconn *c)
{
    fake *f = c->f;
    time_t now = time(NULL);
    unsigned delay = 0;
    const char *cred = strstr(c->buf, "Credential=");
    char key[24] = "";
    if (cred)
        sscanf(cred + 11, "%23[A-Z0-9]", key);
    if (strstr(c->buf, "Content-Type: application/x-www-form-urlencoded") != NULL) {
        int i = f->sts_calls++;
        ck_assert_int_lt(i, FK_MAX);
        f->sts_date[i] = amz_time(c->buf, "X-Amz-Date: ");
        delay = f->sts_delay_ms[i < 4 ? i : 3];
        if (f->sts_deny) {
            answer(c, 403, now, "text/xml", "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not "
                   "allowed</Message></Error><RequestId>sts-rid-1</RequestId></ErrorResponse>");
        } else {
            long in = f->sts_expires_in[i < 4 ? i : 3];
            time_t exp = now + (in ? in : 3600);
            char e[32], doc[1024];
            strftime(e, sizeof e, "%Y-%m-%dT%H:%M:%SZ", gmtime(&exp));
            snprintf(doc, sizeof doc, "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>%s"
                     "</AccessKeyId><SecretAccessKey>roleSecret%d</SecretAccessKey><SessionToken>roleToken%d"
                     "</SessionToken><Expiration>%s</Expiration></Credentials></AssumeRoleResult>"
                     "</AssumeRoleResponse>", i == 0 ? FK_KEY1 : FK_KEY2, i, i, e);
            answer(c, 200, now, "text/xml", doc);
        }
    } else {
        int i = f->kin_calls++;
        ck_assert_int_lt(i, FK_MAX);
        snprintf(f->kin_key[i], sizeof f->kin_key[i], "%s", key);
        if (f->skew_first && i == 0)
            answer(c, 400, now + 7200, "application/x-amz-json-1.1", "{\"__type\":\"InvalidSignatureException\","
                   "\"message\":\"Signature expired: 20260101T000000Z is now earlier than 20260101T020000Z\"}");
        else if (f->expire_key1 && strcmp(key, FK_KEY1) == 0)
            answer(c, 400, now, "application/x-amz-json-1.1", "{\"__type\":\"ExpiredTokenException\","
                   "\"message\":\"The security token included in the request is expired\"}");
        else
            answer(c, 200, now, "application/x-amz-json-1.1", "{}");
    }
    sp_err err;
    ck_assert_int_eq(sp_timer_start(f->loop, &c->t, delay, &err), SP_OK);
}

static void fconn_read(sp_loop *loop, int fd, unsigned ev, void *arg)
{
    (void)loop, (void)ev;
    fconn *c = arg;
    ssize_t k = read(fd, c->buf + c->n, sizeof c->buf - 1 - c->n);
    if (k <= 0) {
        if (k < 0 && errno == EAGAIN)
            return;
        fconn_close(c);   /* the client went away (a cancelled call) */
        return;
    }
    c->n += (size_t)k;
    c->buf[c->n] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (end == NULL || c->resp.len > 0)
        return;
    size_t want = (size_t)(end + 4 - c->buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
    if (c->n < want)
        return;
    sp_err err;
    ck_assert_int_eq(sp_loop_watch(c->f->loop, fd, 0, fconn_read, c, &err), SP_OK);   /* one request */
    handle(c);
}

static void fake_accept(sp_loop *loop, int fd, unsigned ev, void *arg)
{
    (void)ev;
    fake *f = arg;
    int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s < 0)
        return;
    fconn *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->f = f;
    c->fd = s;
    sp_buf_init(&c->resp, 0);
    sp_timer_init(&c->t, fconn_write, c);
    c->next = f->conns;
    f->conns = c;
    sp_err err;
    ck_assert_int_eq(sp_loop_watch(loop, s, SP_EV_READ, fconn_read, c, &err), SP_OK);
}

static void fake_start(fake *f, sp_loop *loop)
{
    memset(f, 0, sizeof *f);
    f->loop = loop;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(f->lfd, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(f->lfd, 64), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->port);
    sp_err err;
    ck_assert_int_eq(sp_loop_watch(loop, f->lfd, SP_EV_READ, fake_accept, f, &err), SP_OK);
}

static void fake_stop(fake *f)
{
    while (f->conns)
        fconn_close(f->conns);
    sp_loop_unwatch(f->loop, f->lfd);
    close(f->lfd);
}

/* One client with a role, STS and Kinesis both at the fake. */
typedef struct world {
    sp_loop *loop;
    sp_http *http;
    sp_kinesis *k;
    fake f;
    sp_log log;
} world;

static void world_start(world *w, void (*tune)(fake *))
{
    sp_err err;
    memset(w, 0, sizeof *w);
    w->loop = sp_loop_new(&err);
    ck_assert_ptr_nonnull(w->loop);
    w->http = sp_http_new(w->loop, NULL, &err);
    ck_assert_ptr_nonnull(w->http);
    fake_start(&w->f, w->loop);
    if (tune)
        tune(&w->f);
    w->log.level = SP_LOG_ERROR;
    sp_kinesis_opts ko = {0};
    ko.region = "us-east-1";
    ko.endpoint = w->f.url;
    ko.creds.access_key_id = "AKIDBASEEXAMPLE";
    ko.creds.secret_access_key = "baseSecret";
    ko.creds.role_arn = FK_ROLE;
    ko.creds.sts_endpoint = w->f.url;
    ko.log = &w->log;
    uint64_t t0 = sp_monotonic_ms();
    w->k = sp_kinesis_new(w->loop, w->http, &ko, &err);
    ck_assert_msg(w->k != NULL, "%s", err.msg);
    ck_assert_msg(sp_monotonic_ms() - t0 < 500, "sp_kinesis_new waited for STS");
}

static void world_stop(world *w)
{
    sp_kinesis_free(w->k);
    ck_assert_uint_eq(sp_http_in_flight(w->http), 0);
    sp_http_free(w->http);
    fake_stop(&w->f);
    sp_loop_free(w->loop);
}

/* What each call's callback got. */
typedef struct outcome {
    int done;
    enum sp_kclass klass;
    long status;
    char code[96];
    char message[SP_ERR_MSG_MAX];
    int sts_answers;              /* how many STS answers the fake had sent by then */
    fake *f;
} outcome;

static void on_outcome(void *arg, const sp_kinesis_result *r)
{
    outcome *o = arg;
    ck_assert_int_eq(o->done, 0);
    o->done = 1;
    o->klass = r->klass;
    o->status = r->status;
    snprintf(o->code, sizeof o->code, "%s", r->code);
    snprintf(o->message, sizeof o->message, "%s", r->message);
    o->sts_answers = o->f->sts_answers;
}

static void put(world *w, outcome *o)
{
    sp_err err;
    sp_buf body;
    sp_buf_init(&body, 0);
    sp_buf_puts(&body, "{\"StreamName\":\"s\",\"Records\":[]}");
    memset(o, 0, sizeof *o);
    o->f = &w->f;
    ck_assert_msg(sp_kinesis_call(w->k, "PutRecords", &body, on_outcome, o, &err) == SP_OK, "%s", err.msg);
    sp_buf_free(&body);
}

/* Runs the loop until pred holds (checked every 5 ms); 10 s at most. */
typedef int (*pred_fn)(void *arg);
struct until {
    pred_fn pred;
    void *arg;
    sp_timer t;
    uint64_t deadline;
};

static void until_check(sp_loop *loop, void *arg)
{
    struct until *u = arg;
    sp_err err;
    if (u->pred(u->arg) || sp_monotonic_ms() > u->deadline)
        sp_loop_stop(loop);
    else
        ck_assert_int_eq(sp_timer_start(loop, &u->t, 5, &err), SP_OK);
}

static void run_until(world *w, pred_fn pred, void *arg, const char *what)
{
    struct until u = {pred, arg, {0}, sp_monotonic_ms() + 10000};
    sp_timer_init(&u.t, until_check, &u);
    sp_err err;
    ck_assert_int_eq(sp_timer_start(w->loop, &u.t, 0, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(w->loop, &err), SP_OK);
    sp_timer_stop(w->loop, &u.t);
    ck_assert_msg(pred(arg), "timed out waiting for %s", what);
}

struct all_done {
    outcome *o;
    int n;
};

static int all_done(void *arg)
{
    struct all_done *a = arg;
    for (int i = 0; i < a->n; i++)
        if (!a->o[i].done)
            return 0;
    return 1;
}

static void run_all(world *w, outcome *o, int n)
{
    struct all_done a = {o, n};
    run_until(w, all_done, &a, "the answers");
}

static int sleep_done(void *arg)
{
    return sp_monotonic_ms() >= *(uint64_t *)arg;
}

static void run_for(world *w, unsigned ms)
{
    uint64_t until = sp_monotonic_ms() + ms;
    run_until(w, sleep_done, &until, "time to pass");
}

static void slow_first(fake *f)
{
    f->sts_delay_ms[0] = 300;
}

/* sp_kinesis_new does not wait for STS: the first calls wait in a queue
 * for the one AssumeRole and are then signed with the role's keys. */
START_TEST(first_resolution_on_the_loop)
{
    world w;
    world_start(&w, slow_first);
    ck_assert_str_eq(sp_kinesis_creds_source(w.k), "role " FK_ROLE " (being assumed)");
    outcome o[5];
    for (int i = 0; i < 5; i++)
        put(&w, &o[i]);
    ck_assert_int_eq(w.f.kin_calls, 0);
    run_all(&w, o, 5);
    ck_assert_int_eq(w.f.sts_calls, 1);
    ck_assert_int_eq(w.f.kin_calls, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(o[i].klass == SP_KC_OK, "%d: %s %s", i, o[i].code, o[i].message);
        ck_assert_str_eq(w.f.kin_key[i], FK_KEY1);
    }
    ck_assert_str_eq(sp_kinesis_creds_source(w.k), "role " FK_ROLE " assumed with credentials from command line");
    world_stop(&w);
}
END_TEST

static void key1_expires(fake *f)
{
    f->expire_key1 = 1;
    f->sts_delay_ms[1] = 300;
    f->sts_delay_ms[2] = 0;
}

static int renewal_asked(void *arg)
{
    return ((fake *)arg)->sts_calls == 2;
}

/* Five calls meet expired credentials (ExpiredTokenException): one
 * renewal, which all five wait for; a call made while it runs waits too,
 * and is signed with the new keys at once. */
START_TEST(one_refresh_at_a_time)
{
    world w;
    world_start(&w, key1_expires);
    outcome o[7];
    for (int i = 0; i < 5; i++)
        put(&w, &o[i]);
    run_until(&w, renewal_asked, &w.f, "the renewal to reach STS");
    ck_assert_int_eq(w.f.sts_answers, 1);   /* the renewal is still being answered */
    put(&w, &o[5]);
    run_all(&w, o, 6);
    ck_assert_int_eq(w.f.sts_calls, 2);
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(w.f.kin_key[i], FK_KEY1);
        ck_assert_msg(o[i].klass == SP_KC_CREDS_EXPIRED, "%d: %s", i, sp_kclass_name(o[i].klass));
        ck_assert_int_eq(o[i].sts_answers, 2);   /* held until the renewal ended */
    }
    ck_assert_int_eq(w.f.kin_calls, 6);
    ck_assert_str_eq(w.f.kin_key[5], FK_KEY2);
    ck_assert_int_eq(o[5].klass, SP_KC_OK);
    /* the retries: the new keys, no more STS */
    for (int i = 0; i < 5; i++)
        put(&w, &o[i]);
    run_all(&w, o, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(o[i].klass, SP_KC_OK);
        ck_assert_str_eq(w.f.kin_key[6 + i], FK_KEY2);
    }
    ck_assert_int_eq(w.f.sts_calls, 2);
    world_stop(&w);
}
END_TEST

static void renew_in_a_second(fake *f)
{
    f->sts_expires_in[0] = 15 * 60 + 1;   /* due one second from now */
    f->sts_delay_ms[1] = 800;
}

/* A renewal ahead of expiry holds nothing: the call that starts it and
 * the ones while it runs are signed with the current keys and answered
 * before STS answers; the calls after it use the new keys. */
START_TEST(renewal_ahead_holds_nothing)
{
    world w;
    world_start(&w, renew_in_a_second);
    outcome o[3];
    put(&w, &o[0]);
    run_all(&w, o, 1);
    ck_assert_int_eq(o[0].klass, SP_KC_OK);
    run_for(&w, 1100);
    ck_assert_int_eq(w.f.sts_calls, 1);   /* a renewal starts from a call */
    put(&w, &o[1]);
    ck_assert_int_eq(w.f.kin_calls, 1);
    put(&w, &o[2]);
    run_all(&w, o + 1, 2);
    ck_assert_int_eq(w.f.sts_calls, 2);
    for (int i = 1; i < 3; i++) {
        ck_assert_int_eq(o[i].klass, SP_KC_OK);
        ck_assert_str_eq(w.f.kin_key[i], FK_KEY1);
        ck_assert_int_eq(o[i].sts_answers, 1);   /* STS had not answered yet */
    }
    run_until(&w, renewal_asked, &w.f, "the renewal");
    run_for(&w, 900);
    ck_assert_int_eq(w.f.sts_answers, 2);
    put(&w, &o[0]);
    run_all(&w, o, 1);
    ck_assert_str_eq(w.f.kin_key[3], FK_KEY2);
    ck_assert_int_eq(w.f.sts_calls, 2);
    world_stop(&w);
}
END_TEST

static void deny(fake *f)
{
    f->sts_deny = 1;
    f->sts_delay_ms[0] = 100;
}

/* The resolution fails: the calls that waited for it fail with its
 * error, which names the role, the base source and the endpoint. */
START_TEST(waiting_calls_get_the_refresh_error)
{
    world w;
    world_start(&w, deny);
    outcome o[3];
    for (int i = 0; i < 3; i++)
        put(&w, &o[i]);
    run_all(&w, o, 3);
    ck_assert_int_eq(w.f.sts_calls, 1);
    ck_assert_int_eq(w.f.kin_calls, 0);
    char want[256];
    snprintf(want, sizeof want, "assuming role " FK_ROLE " with credentials from command line: STS refused "
             "(HTTP 403): AccessDenied: not allowed; check that the role's trust policy");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(o[i].klass, SP_KC_AUTH);
        ck_assert_int_eq(o[i].status, 0);
        ck_assert_msg(strstr(o[i].message, want) == o[i].message, "%s", o[i].message);
        ck_assert_ptr_nonnull(strstr(o[i].message, "request id sts-rid-1"));
        ck_assert_ptr_null(strstr(o[i].message, "baseSecret"));
    }
    sp_kinesis_result res = {0};
    res.klass = o[0].klass;
    snprintf(res.message, sizeof res.message, "%s", o[0].message);
    sp_err err;
    sp_kinesis_explain(w.k, "DescribeStreamSummary", "s", &res, &err);
    ck_assert_str_eq(err.msg, o[0].message);
    world_stop(&w);
}
END_TEST

static void skewed(fake *f)
{
    f->skew_first = 1;
    f->expire_key1 = 1;
    f->sts_expires_in[0] = 4 * 3600;
}

/* The offset learned from Kinesis's Date header signs the renewal. */
START_TEST(refresh_signed_with_learned_skew)
{
    world w;
    world_start(&w, skewed);
    outcome o[2];
    put(&w, &o[0]);
    run_all(&w, o, 1);
    ck_assert_int_eq(o[0].klass, SP_KC_CLOCK_SKEW);
    put(&w, &o[1]);
    run_all(&w, o + 1, 1);
    ck_assert_int_eq(o[1].klass, SP_KC_CREDS_EXPIRED);
    ck_assert_int_eq(w.f.sts_calls, 2);
    long first = (long)(w.f.sts_date[0] - time(NULL)), second = (long)(w.f.sts_date[1] - time(NULL));
    ck_assert_msg(first > -5 && first < 5, "first STS call %ld s off", first);
    ck_assert_msg(second > 7200 - 10 && second < 7200 + 5, "renewal signed %ld s ahead", second);
    world_stop(&w);
}
END_TEST

static void never_cb(void *arg, const sp_kinesis_result *r)
{
    (void)arg, (void)r;
    ck_abort_msg("a withdrawn call was answered");
}

static void slow_sts(fake *f)
{
    f->sts_delay_ms[0] = 400;
}

/* A waiting call that is cancelled is never sent; freeing the client
 * while a resolution runs withdraws it and the calls still waiting. */
START_TEST(cancel_and_free_while_waiting)
{
    world w;
    world_start(&w, slow_sts);
    sp_err err;
    sp_buf body;
    sp_kcall *h;
    sp_buf_init(&body, 0);
    sp_buf_puts(&body, "{}");
    ck_assert_int_eq(sp_kinesis_call_h(w.k, "PutRecords", &body, never_cb, NULL, &h, &err), SP_OK);
    sp_kinesis_cancel(h);
    outcome o;
    put(&w, &o);
    run_all(&w, &o, 1);
    ck_assert_int_eq(o.klass, SP_KC_OK);
    ck_assert_int_eq(w.f.kin_calls, 1);   /* the cancelled one was never sent */
    sp_kinesis_free(w.k);

    /* a second client, freed while its STS call is out */
    sp_kinesis_opts ko = {0};
    ko.region = "us-east-1";
    ko.endpoint = w.f.url;
    ko.creds.access_key_id = "AKIDBASEEXAMPLE";
    ko.creds.secret_access_key = "baseSecret";
    ko.creds.role_arn = FK_ROLE;
    ko.creds.sts_endpoint = w.f.url;
    ko.log = &w.log;
    w.f.sts_delay_ms[1] = 400;
    w.k = sp_kinesis_new(w.loop, w.http, &ko, &err);
    ck_assert_ptr_nonnull(w.k);
    sp_buf_puts(&body, "{}");
    ck_assert_int_eq(sp_kinesis_call(w.k, "PutRecords", &body, never_cb, NULL, &err), SP_OK);
    run_until(&w, renewal_asked, &w.f, "the second client's STS call");
    sp_kinesis_free(w.k);
    w.k = NULL;
    ck_assert_uint_eq(sp_http_in_flight(w.http), 0);
    run_for(&w, 600);
    ck_assert_int_eq(w.f.kin_calls, 1);
    sp_buf_free(&body);
    world_stop(&w);
}
END_TEST

static Suite *kinesis_suite(void)
{
    Suite *s = suite_create("kinesis");
    TCase *tc = tcase_create("api");
    tcase_add_test(tc, classify_table);
    tcase_add_test(tc, parse_error_shapes);
    tcase_add_test(tc, endpoints);
    tcase_add_test(tc, endpoint_validation);
    tcase_add_test(tc, stream_names);
    tcase_add_test(tc, bodies);
    tcase_add_test(tc, summary);
    tcase_add_test(tc, shards);
    tcase_add_test(tc, put_records_response);
    tcase_add_test(tc, get_records_response);
    TCase *te = tcase_create("error_text");
    tcase_add_test(te, utf8_cuts);
    tcase_add_test(te, explain_long_server_message);
    suite_add_tcase(s, te);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("refresh");
    tcase_set_timeout(tr, 30);
    tcase_add_test(tr, first_resolution_on_the_loop);
    tcase_add_test(tr, one_refresh_at_a_time);
    tcase_add_test(tr, renewal_ahead_holds_nothing);
    tcase_add_test(tr, waiting_calls_get_the_refresh_error);
    tcase_add_test(tr, refresh_signed_with_learned_skew);
    tcase_add_test(tr, cancel_and_free_while_waiting);
    suite_add_tcase(s, tr);
    return s;
}

SP_CHECK_MAIN(kinesis_suite)
