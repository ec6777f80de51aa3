/* AWS Signature Version 4 (KINESIS.md §5) with OpenSSL. Pure functions with
 * the time passed in, so they are tested against fixed vectors. libcurl's
 * own signer is not used: 7.88 signs header-removal entries (KINESIS.md §5.4). */
#ifndef SHARDPIPE_SIGV4_H
#define SHARDPIPE_SIGV4_H

#include <stddef.h>
#include <time.h>
#include "shardpipe/buf.h"
#include "shardpipe/err.h"

typedef struct sp_sigv4_header {
    const char *name;    /* any case; lowercased for signing */
    const char *value;   /* trimmed, inner whitespace runs collapsed for signing */
} sp_sigv4_header;

typedef struct sp_sigv4_request {
    const char *method;            /* "POST" */
    const char *path;              /* canonical URI, e.g. "/" */
    const char *query;             /* canonical query string, "" when none */
    const sp_sigv4_header *headers;/* exactly the headers that will be sent and
                                      signed; must include host and x-amz-date */
    size_t nheaders;
    const void *payload;
    size_t payload_len;
} sp_sigv4_request;

typedef struct sp_sigv4_scope {
    const char *region;            /* e.g. "us-east-1" */
    const char *service;           /* "kinesis" */
    const char *amz_date;          /* "YYYYMMDDTHHMMSSZ" */
} sp_sigv4_scope;

#define SP_AMZ_DATE_LEN 16         /* YYYYMMDDTHHMMSSZ */
#define SP_SIGV4_AUTH_MAX 1024

/* Formats t as an X-Amz-Date (UTC). out gets SP_AMZ_DATE_LEN chars + NUL. */
void sp_sigv4_amz_date(time_t t, char out[SP_AMZ_DATE_LEN + 1]);

/* Lowercase hex SHA-256 of data; out gets 64 chars + NUL. */
void sp_sha256_hex(const void *data, size_t n, char out[65]);

/* The canonical request text, appended to out. */
int sp_sigv4_canonical_request(const sp_sigv4_request *req, sp_buf *out, sp_err *err);

/* kSigning for (secret, yyyymmdd, region, service). */
int sp_sigv4_signing_key(const char *secret, const char *yyyymmdd,
                         const char *region, const char *service,
                         unsigned char out[32], sp_err *err);

/* Caches the signing key, which changes only with the day, region, service
 * or secret. Zero-initialise before first use; sp_sigv4_cache_clear wipes it. */
typedef struct sp_sigv4_cache {
    char date[9];
    char region[64];
    char service[32];
    unsigned char secret_digest[32];  /* SHA-256 of the secret, never the secret */
    unsigned char key[32];
    int valid;
} sp_sigv4_cache;

void sp_sigv4_cache_clear(sp_sigv4_cache *c);

/* Signs the request and writes the complete Authorization header value
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...") to
 * auth (size authlen, at least SP_SIGV4_AUTH_MAX is always enough).
 * cache may be NULL. */
int sp_sigv4_sign(const sp_sigv4_request *req, const sp_sigv4_scope *scope,
                  const char *access_key_id, const char *secret,
                  sp_sigv4_cache *cache, char *auth, size_t authlen,
                  sp_err *err);

#endif
