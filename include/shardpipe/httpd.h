/* A small HTTP/1.1 server on the event loop, for the metrics and health
 * endpoints. It answers only GET of the paths its handler knows, one
 * request per connection, and closes after each answer ("Connection:
 * close"). Everything about a request is bounded: its size (request line
 * and headers), the number of header lines, the time to send it, and how
 * many connections may be open at once (more are closed at once).
 * Refusals: 400 for a malformed request (or one with a body), 405 (with
 * "Allow: GET") for any other method, 404 for other paths, 414 for a
 * request line longer than the limit, 431 for too many or too large
 * headers, 505 for a version other than HTTP/1.0 and 1.1. The listening
 * socket is the socket sources' (listen.h): numeric addresses only,
 * 127.0.0.1 when none is given. */
#ifndef SHARDPIPE_HTTPD_H
#define SHARDPIPE_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/buf.h"
#include "shardpipe/err.h"
#include "shardpipe/log.h"
#include "shardpipe/loop.h"

#define SP_HTTPD_MAX_REQUEST 8192    /* bytes of request line and headers */
#define SP_HTTPD_MAX_HEADERS 64
#define SP_HTTPD_TIMEOUT_MS 5000     /* to send the request; then to take the answer */
#define SP_HTTPD_MAX_CONNS 32

/* A parsed request head: the path without its query, as sent. */
typedef struct sp_httpd_req {
    char path[256];
} sp_httpd_req;

/* Looks at the first len bytes received. 0: the head is not complete yet
 * (and len is within max_bytes); 200: a well-formed GET, path in *req;
 * otherwise the status to refuse it with (400, 405, 414, 431, 505). The
 * path is not judged here (404 is the handler's). */
int sp_httpd_parse(const char *buf, size_t len, size_t max_bytes, unsigned max_headers,
                   sp_httpd_req *req);

/* The reason phrase of a status ("Not Found"). */
const char *sp_httpd_reason(int status);

/* Fills body (and *ctype, default text/plain) for a GET of path and
 * returns the status; 404 for a path it does not serve. */
typedef int (*sp_httpd_fn)(void *arg, const char *path, sp_buf *body, const char **ctype);

typedef struct sp_httpd_opts {
    const char *listen;          /* "ADDR:PORT", "[V6]:PORT" or "PORT" */
    const char *what;            /* the setting that gave it, for errors: "--metrics-listen" */
    sp_httpd_fn fn;
    void *arg;
    const sp_log *log;
    /* 0: the defaults above */
    size_t max_request;
    unsigned max_headers;
    uint32_t timeout_ms;
    unsigned max_conns;
} sp_httpd_opts;

typedef struct sp_httpd sp_httpd;

/* Binds and listens; the server then runs on the loop. */
sp_httpd *sp_httpd_new(sp_loop *loop, const sp_httpd_opts *o, sp_err *err);
/* The bound port (useful with port 0) and "127.0.0.1:9100". */
int sp_httpd_port(const sp_httpd *h);
const char *sp_httpd_label(const sp_httpd *h);
/* Closes the listener and every connection. NULL is fine. */
void sp_httpd_free(sp_httpd *h);

#endif
