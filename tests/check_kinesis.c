/* Request bodies, response parsing (including malformed and truncated
 * JSON) and error classification of the Kinesis API module. */
#include <string.h>

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
    sp_err err = {{0}};
    ck_assert_msg(sp_endpoint_host(url, host, sizeof host, &err) == SP_ERR, "accepted: %s", url);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", url, err.msg, want);
}

static void url_ok(const char *url, const char *want_host)
{
    char host[SP_URL_MAX];
    sp_err err = {{0}};
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
    sp_err err = {{0}};
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

START_TEST(put_records_response)
{
    sp_put_result r[3];
    sp_err err;
    json_object *j = parse("{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"shardId-0\"},"
                           "{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"Rate exceeded\"},"
                           "{\"SequenceNumber\":\"\"}]}");
    ck_assert_int_eq(sp_kinesis_parse_put_records(j, 3, r, &err), SP_OK);
    ck_assert_str_eq(r[0].seq, "1");
    ck_assert_ptr_null(r[0].code);
    ck_assert_str_eq(r[1].code, "ProvisionedThroughputExceededException");
    ck_assert_ptr_null(r[1].seq);
    /* An empty sequence number is not a success. */
    ck_assert_ptr_nonnull(r[2].code);
    /* Length mismatch is an error: we cannot tell which entry is which. */
    ck_assert_int_eq(sp_kinesis_parse_put_records(j, 2, r, &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "3 entries for 2"));
    json_object_put(j);
    j = parse("{\"FailedRecordCount\":0}");
    ck_assert_int_eq(sp_kinesis_parse_put_records(j, 1, r, &err), SP_ERR);
    json_object_put(j);
    j = parse("{\"Records\":[7]}");
    ck_assert_int_eq(sp_kinesis_parse_put_records(j, 1, r, &err), SP_ERR);
    json_object_put(j);
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
    return s;
}

SP_CHECK_MAIN(kinesis_suite)
