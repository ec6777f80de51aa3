/* Signs request descriptions with sp_sigv4_sign, for the botocore
 * cross-check (tests/sigv4_botocore.py).
 *
 * Input: one JSON object per line on stdin:
 *   {"method": "POST", "path": "/", "query": "",
 *    "headers": [["Host", "kinesis.us-east-1.amazonaws.com"], ...],
 *    "body": "text" | "body_hex": "00ff...",
 *    "region": "us-east-1", "service": "kinesis", "amz_date": "20260101T000000Z",
 *    "access_key_id": "...", "secret": "..."}
 * Output: one line per input, the Authorization header value, or
 * "ERROR <message>". Exit status 1 if any line failed.
 * One signing key cache serves every line, so its reuse and invalidation
 * are checked too; --no-cache signs without it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "shardpipe/sigv4.h"

#define LINE_MAX_BYTES ((size_t)64 << 20)
#define MAX_HEADERS 64

static const char *str_field(json_object *o, const char *name, const char *dflt)
{
    json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return dflt;
    return json_object_get_string(v);
}

static int unhex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Signs the request that o describes. */
static int sign_one(json_object *o, sp_sigv4_cache *cache, char *auth, size_t authlen,
                    sp_err *err)
{
    sp_sigv4_header hdrs[MAX_HEADERS];
    size_t nh = 0;
    json_object *ha;
    if (!json_object_object_get_ex(o, "headers", &ha) || !json_object_is_type(ha, json_type_array))
        return sp_err_set(err, "no \"headers\" array");
    size_t n = json_object_array_length(ha);
    if (n > MAX_HEADERS)
        return sp_err_set(err, "more than %d headers", MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        json_object *pair = json_object_array_get_idx(ha, i);
        if (!json_object_is_type(pair, json_type_array) || json_object_array_length(pair) != 2)
            return sp_err_set(err, "header %zu is not a [name, value] pair", i);
        hdrs[nh].name = json_object_get_string(json_object_array_get_idx(pair, 0));
        hdrs[nh].value = json_object_get_string(json_object_array_get_idx(pair, 1));
        nh++;
    }

    const void *body = "";
    size_t body_len = 0;
    unsigned char *owned = NULL;
    json_object *b;
    if (json_object_object_get_ex(o, "body", &b)) {
        body = json_object_get_string(b);
        body_len = (size_t)json_object_get_string_len(b);
    } else if (json_object_object_get_ex(o, "body_hex", &b)) {
        const char *h = json_object_get_string(b);
        size_t hl = (size_t)json_object_get_string_len(b);
        if (hl % 2 != 0)
            return sp_err_set(err, "odd-length body_hex");
        if ((owned = malloc(hl / 2 + 1)) == NULL)
            return sp_err_set(err, "out of memory");
        for (size_t i = 0; i < hl / 2; i++) {
            int hi = unhex(h[2 * i]), lo = unhex(h[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                free(owned);
                return sp_err_set(err, "bad body_hex");
            }
            owned[i] = (unsigned char)(hi << 4 | lo);
        }
        body = owned;
        body_len = hl / 2;
    }

    sp_sigv4_request req = {
        .method = str_field(o, "method", "POST"),
        .path = str_field(o, "path", "/"),
        .query = str_field(o, "query", ""),
        .headers = hdrs,
        .nheaders = nh,
        .payload = body,
        .payload_len = body_len,
    };
    sp_sigv4_scope scope = {
        .region = str_field(o, "region", NULL),
        .service = str_field(o, "service", "kinesis"),
        .amz_date = str_field(o, "amz_date", NULL),
    };
    int rc = sp_sigv4_sign(&req, &scope, str_field(o, "access_key_id", NULL),
                           str_field(o, "secret", NULL), cache, auth, authlen, err);
    free(owned);
    return rc;
}

int main(int argc, char **argv)
{
    int use_cache = !(argc > 1 && strcmp(argv[1], "--no-cache") == 0);
    sp_sigv4_cache cache;
    memset(&cache, 0, sizeof cache);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int failed = 0;
    json_tokener *tok = json_tokener_new();
    if (tok == NULL) {
        fprintf(stderr, "sigv4_sign: out of memory\n");
        return 2;
    }

    while ((len = getline(&line, &cap, stdin)) > 0) {
        char auth[SP_SIGV4_AUTH_MAX];
        sp_err err = {0};
        json_object *o = NULL;
        if ((size_t)len > LINE_MAX_BYTES) {
            sp_err_set(&err, "line longer than %zu bytes", LINE_MAX_BYTES);
        } else {
            json_tokener_reset(tok);
            o = json_tokener_parse_ex(tok, line, (int)len);
            if (o == NULL || !json_object_is_type(o, json_type_object))
                sp_err_set(&err, "not a JSON object: %s",
                           json_tokener_error_desc(json_tokener_get_error(tok)));
        }
        if (err.msg[0] == '\0' &&
            sign_one(o, use_cache ? &cache : NULL, auth, sizeof auth, &err) == SP_OK) {
            printf("%s\n", auth);
        } else {
            printf("ERROR %s\n", err.msg);
            failed = 1;
        }
        json_object_put(o);
    }
    fflush(stdout);
    json_tokener_free(tok);
    free(line);
    sp_sigv4_cache_clear(&cache);
    if (ferror(stdin) || ferror(stdout)) {
        fprintf(stderr, "sigv4_sign: I/O error\n");
        return 2;
    }
    return failed;
}
