/* The Kinesis API (AWS JSON 1.1, KINESIS.md §1): endpoints, signed calls,
 * request bodies, response shapes and error classification. */
#ifndef SHARDPIPE_KINESIS_H
#define SHARDPIPE_KINESIS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "shardpipe/buf.h"
#include "shardpipe/credentials.h"
#include "shardpipe/endpoint.h"
#include "shardpipe/err.h"
#include "shardpipe/http.h"
#include "shardpipe/log.h"
#include "shardpipe/putresp.h"
#include "shardpipe/loop.h"
#include "shardpipe/u128.h"

#define SP_STREAM_NAME_MAX 128
#define SP_REGION_MAX 64

/* What a caller should do with a failed call (KINESIS.md §1.5). */
enum sp_kclass {
    SP_KC_OK = 0,
    SP_KC_RETRY,             /* transient: transport, 5xx, InternalFailure, bad 2xx body */
    SP_KC_THROTTLE,          /* PTEE, LimitExceeded, Throttling, KMSThrottling */
    SP_KC_CLOCK_SKEW,        /* "Signature expired": the offset was corrected, retry */
    SP_KC_CREDS_EXPIRED,     /* ExpiredToken: credentials were refreshed, retry */
    SP_KC_IN_USE,            /* ResourceInUse: stream not ACTIVE, retry slowly */
    SP_KC_EXPIRED_ITERATOR,  /* reader: get a new iterator */
    SP_KC_EXPIRED_NEXT_TOKEN,/* ListShards: restart the listing */
    SP_KC_NOT_FOUND,         /* ResourceNotFound */
    SP_KC_AUTH,              /* credentials or signature rejected */
    SP_KC_FATAL              /* anything else: a bug or a configuration problem */
};

/* 1 for the classes a caller retries with backoff. */
int sp_kclass_retryable(enum sp_kclass c);
const char *sp_kclass_name(enum sp_kclass c);

/* Pure classification of an error response: status and a normalised code. */
enum sp_kclass sp_kinesis_classify(long status, const char *code, const char *message);

/* Extracts code and message from an error body as botocore does: __type
 * (after the last '#', before any ':'), else the X-Amzn-ErrorType header,
 * else the HTTP status; message from "message" or "Message". */
void sp_kinesis_parse_error(const char *body, size_t len, long status, const char *errtype,
                            char *code, size_t codelen, char *msg, size_t msglen);

/* Stream names: 1..128 of [a-zA-Z0-9_.-]. */
int sp_kinesis_check_stream_name(const char *name, sp_err *err);

#define SP_SHARD_ID_MAX 128

typedef struct sp_shard {
    char id[SP_SHARD_ID_MAX + 1];
    sp_u128 start, end;              /* inclusive hash-key range */
    char *start_seq;                 /* may be NULL */
    char *end_seq;                   /* NULL while the shard is open */
    char *parent;                    /* may be NULL */
    char *adjacent_parent;           /* may be NULL */
} sp_shard;

void sp_shard_clear(sp_shard *s);    /* frees the strings */

void sp_shard_clear(sp_shard *s);    /* frees the strings */
/* Frees an array of n shards. */
void sp_shards_free(sp_shard *shards, size_t n);

typedef struct sp_kinesis_result {
    enum sp_kclass klass;
    long status;              /* 0: transport failure */
    int maybe_done;           /* a failure after which the service may have
                                 acted all the same: the request went out and
                                 timed out or broke, a 500/502/504, or a 2xx
                                 answer that cannot be read */
    char code[96];            /* error code, "" on success */
    char message[SP_ERR_MSG_MAX]; /* error or transport message */
    char request_id[128];     /* "" when absent */
    json_object *json;        /* parsed body of a success (borrowed; NULL on failure,
                                 and for PutRecords, whose answers are read by
                                 sp_putresp_parse from body) */
    const char *body;         /* the body of a success, as received (borrowed) */
    size_t body_len;
} sp_kinesis_result;

typedef void (*sp_kinesis_cb)(void *arg, const sp_kinesis_result *res);

typedef struct sp_kinesis_opts {
    const char *region;
    const char *endpoint;        /* NULL or "": the regional endpoint */
    sp_creds_opts creds;         /* used again to refresh */
    const sp_log *log;
} sp_kinesis_opts;

typedef struct sp_kinesis sp_kinesis;

/* Walks the credential chain at once, so a missing key fails before any
 * I/O. A role's AssumeRole goes out on the loop (nothing here waits for
 * it); the first calls wait in a queue until it ends. Credentials are
 * renewed the same way: one renewal at a time, started by the first call
 * within 15 minutes of their expiry (that call and the ones during the
 * renewal are signed with the current credentials) or by an
 * ExpiredTokenException. A call that meets expired credentials (refused by
 * Kinesis, or within 10 s of their end) waits for the renewal and is
 * signed when it ends, or fails with its error (SP_KC_AUTH, status 0, the
 * message naming role, base source and endpoint); an ExpiredToken answer
 * is held until then, and comes as SP_KC_CREDS_EXPIRED, or SP_KC_AUTH
 * when renewing failed. Requests to STS are signed with the clock offset
 * learned from the Date headers. */
sp_kinesis *sp_kinesis_new(sp_loop *loop, sp_http *http, const sp_kinesis_opts *o, sp_err *err);
/* Before sp_http_free: withdraws a resolution in progress and the calls
 * waiting for it, whose callbacks are never called. */
void sp_kinesis_free(sp_kinesis *k);

const char *sp_kinesis_region(const sp_kinesis *k);
const char *sp_kinesis_endpoint(const sp_kinesis *k);
const char *sp_kinesis_creds_source(const sp_kinesis *k);
sp_loop *sp_kinesis_loop(const sp_kinesis *k);
const sp_log *sp_kinesis_log(const sp_kinesis *k);

/* Signs and sends one call, or queues it behind the renewal in progress.
 * op is the operation name ("PutRecords"); body is moved into the request,
 * also on SP_ERR. The callback runs once, from the loop, never from
 * inside this function. */
int sp_kinesis_call(sp_kinesis *k, const char *op, sp_buf *body,
                    sp_kinesis_cb cb, void *arg, sp_err *err);

/* The same, giving a handle with which the caller can withdraw its
 * callback (it is going away before the answer comes). The handle is
 * valid until the callback runs or sp_kinesis_cancel is called. */
typedef struct sp_kcall sp_kcall;
int sp_kinesis_call_h(sp_kinesis *k, const char *op, sp_buf *body,
                      sp_kinesis_cb cb, void *arg, sp_kcall **handle, sp_err *err);
void sp_kinesis_cancel(sp_kcall *c);

void sp_kinesis_result_free(sp_kinesis_result *r);

/* A message for a failed call that a person can act on: names the
 * operation, the stream, the region and the endpoint, and for rejected
 * credentials their source (never the secret). The code: SP_E_TRANSIENT
 * for what may heal when tried again, SP_E_NOENT for a missing stream,
 * SP_E_INVALID for the rest. */
int sp_kinesis_explain(const sp_kinesis *k, const char *op, const char *stream,
                       const sp_kinesis_result *res, sp_err *err);

/* ---- request bodies (appended to b) ---- */

int sp_kinesis_body_stream(sp_buf *b, const char *stream);
/* First page: StreamName + filter (NULL for none, "AT_LATEST", ...);
 * later pages: NextToken only (KINESIS.md §1.4). */
int sp_kinesis_body_list_shards(sp_buf *b, const char *stream, const char *filter,
                                const char *next_token);
/* type: TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER,
 * AT_TIMESTAMP; seq for the sequence types, ts_ms for AT_TIMESTAMP. */
int sp_kinesis_body_shard_iterator(sp_buf *b, const char *stream, const char *shard_id,
                                   const char *type, const char *seq, int64_t ts_ms);
int sp_kinesis_body_get_records(sp_buf *b, const char *iterator, long limit);

/* ---- responses ---- */

typedef struct sp_stream_summary {
    char name[SP_STREAM_NAME_MAX + 1];
    char arn[2049];
    char status[32];
    char mode[32];
    long retention_hours;
    long max_record_kib;       /* 1024 when the server does not say */
    long open_shards;
    double created;            /* epoch seconds */
    char encryption[16];
} sp_stream_summary;

int sp_kinesis_parse_summary(json_object *j, sp_stream_summary *out, sp_err *err);

/* DescribeStreamSummary, waiting for the answer (start-up only). */

/* Appends the shards of a ListShards (or DescribeStream) page to *shards
 * (grown with realloc), sets *next_token (malloc'd, NULL on the last page). */
int sp_kinesis_parse_shards(json_object *j, sp_shard **shards, size_t *n,
                            char **next_token, sp_err *err);

typedef struct sp_get_records {
    json_object *records;      /* array (borrowed) */
    size_t n;
    const char *next_iterator; /* NULL when the shard is closed and read to its end */
    int64_t millis_behind;     /* -1 when absent */
} sp_get_records;

typedef struct sp_kinesis_record {
    const char *seq;
    const char *pk;
    size_t pk_len;
    const char *data_b64;
    size_t data_b64_len;
    double arrival;            /* epoch seconds */
} sp_kinesis_record;

int sp_kinesis_parse_get_records(json_object *j, sp_get_records *out, sp_err *err);
int sp_kinesis_record_at(const sp_get_records *g, size_t i, sp_kinesis_record *out, sp_err *err);

#endif
