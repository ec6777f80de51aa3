/* HTTP requests (POST; GET and PUT for the metadata services) over libcurl's multi interface, driven by the event loop: the
 * only place where libcurl is used (Kinesis and STS both come here).
 * Connections are kept and reused by the multi handle; TLS peers are
 * always verified. The caller builds and signs the headers; this module
 * only moves bytes. The copies it keeps of the headers (libcurl's header
 * list) are wiped before they are freed, and so are the body and the
 * answer of a request marked secret. */
#ifndef SHARDPIPE_HTTP_H
#define SHARDPIPE_HTTP_H

#include <stddef.h>
#include <time.h>
#include "shardpipe/buf.h"
#include "shardpipe/err.h"
#include "shardpipe/loop.h"

typedef struct sp_http sp_http;

typedef struct sp_http_opts {
    long connect_timeout_ms;   /* default 5000 */
    long request_timeout_ms;   /* whole request; default 30000 */
    size_t max_response;       /* bytes; default 32 MiB */
    const char *user_agent;    /* default "shardpipe/VERSION" */
    const char *ca_file;       /* NULL: the system store */
    long max_connections;      /* per host; 0: libcurl's default */
} sp_http_opts;

typedef struct sp_http_response {
    long status;               /* HTTP status; 0 when the transfer failed */
    const char *transport_error; /* set when status is 0 */
    const char *body;          /* NUL-terminated */
    size_t body_len;
    const char *request_id;    /* x-amzn-RequestId, "" when absent */
    const char *error_type;    /* X-Amzn-ErrorType, "" when absent */
    time_t date;               /* the Date header, 0 when absent */
    int sent;                  /* the whole request went out: when the transfer
                                  then failed, the server may have acted on it */
    int read_timeout;          /* connected, then no answer in time (status 0):
                                  the IMDSv2 hop-limit symptom */
} sp_http_response;

/* Called exactly once per request, from the loop. The response memory is
 * valid only during the call. */
typedef void (*sp_http_done_fn)(void *arg, const sp_http_response *resp);

sp_http *sp_http_new(sp_loop *loop, const sp_http_opts *opts, sp_err *err);
/* Cancels requests still in flight without calling their callbacks. */
void sp_http_free(sp_http *h);

/* Starts a POST. headers: n "Name: value" strings (copied). body: moved
 * into the request (*body is left empty), so the caller never has to keep
 * it alive. On SP_ERR the callback is never called. */
int sp_http_post(sp_http *h, const char *url, const char *const *headers, size_t n,
                 sp_buf *body, sp_http_done_fn done, void *arg, sp_err *err);

/* What one request may change from the client's options. */
typedef struct sp_http_req_opts {
    long connect_timeout_ms;   /* 0: the client's */
    long request_timeout_ms;   /* 0: the client's */
    size_t max_response;       /* 0: the client's */
    int secret;                /* body and answer hold secrets (STS): wiped before
                                  they are freed, the answer never left behind by
                                  a realloc */
    const char *method;        /* NULL or "POST"; "GET" (the body is not sent)
                                  or "PUT" */
} sp_http_req_opts;

/* One request in flight, for sp_http_cancel. */
typedef struct sp_http_req sp_http_req;

/* sp_http_post with per-request options (NULL: none) and, when handle is
 * not NULL, the request, valid until its callback starts. */
int sp_http_post_ex(sp_http *h, const char *url, const char *const *headers, size_t n,
                    sp_buf *body, const sp_http_req_opts *ro, sp_http_done_fn done, void *arg,
                    sp_http_req **handle, sp_err *err);

/* Drops a request in flight; its callback is never called. Not from
 * inside that callback. NULL is fine. */
void sp_http_cancel(sp_http *h, sp_http_req *r);

size_t sp_http_in_flight(const sp_http *h);

#endif
