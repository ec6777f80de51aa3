/* The metrics server (see httpd.h). One request per connection: read the
 * head, answer, shut the sending side, then read and discard until the
 * client closes (or the time is up), so that the answer is not lost to a
 * reset from bytes the client sent after the head. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shardpipe/httpd.h"
#include "shardpipe/list.h"
#include "shardpipe/listen.h"

#define ACCEPTS_PER_WAKE 16

/* ---- parsing ---- */

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The next line of [p, end): its length without CR LF (or LF) into *n;
 * NULL when no line end has come yet. */
static const char *line_end(const char *p, const char *end, size_t *n)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        return NULL;
    *n = (size_t)(nl - p);
    if (*n > 0 && p[*n - 1] == '\r')
        (*n)--;
    return nl + 1;
}

static int request_line(const char *p, size_t n, sp_httpd_req *req)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 400;
    const char *sp1 = memchr(p, ' ', n);
    if (sp1 == NULL || sp1 == p)
        return 400;
    const char *t = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (sp2 == NULL || sp2 == t || memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1)) != NULL)
        return 400;
    for (const char *m = p; m < sp1; m++)
        if (!is_tchar((unsigned char)*m))
            return 400;
    const char *v = sp2 + 1;
    size_t vn = (size_t)(end - v);
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (memcmp(v, "HTTP/1.1", 8) != 0 && memcmp(v, "HTTP/1.0", 8) != 0)
        return 505;
    if ((size_t)(sp1 - p) != 3 || memcmp(p, "GET", 3) != 0)
        return 405;
    if (*t != '/')
        return 400;
    const char *q = memchr(t, '?', (size_t)(sp2 - t));
    size_t pn = (size_t)((q ? q : sp2) - t);
    if (pn >= sizeof req->path)
        return 414;
    memcpy(req->path, t, pn);
    req->path[pn] = '\0';
    return 200;
}

/* A header line: a token, a colon, a value without control bytes. A body
 * is refused: these endpoints take none. */
static int header_line(const char *p, size_t n)
{
    const char *colon = memchr(p, ':', n);
    if (colon == NULL || colon == p)
        return 400;
    for (const char *c = p; c < colon; c++)
        if (!is_tchar((unsigned char)*c))
            return 400;   /* also an obsolete folded line, which starts with a blank */
    const char *v = colon + 1, *end = p + n;
    for (const char *c = v; c < end; c++)
        if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
            return 400;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t name = (size_t)(colon - p), vn = (size_t)(end - v);
    if (name == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0)
        return 400;
    if (name == 14 && strncasecmp(p, "Content-Length", 14) == 0 && !(vn == 1 && *v == '0'))
        return 400;
    return 0;
}

int sp_httpd_parse(const char *buf, size_t len, size_t max_bytes, unsigned max_headers,
                   sp_httpd_req *req)
{
    const char *p = buf, *end = buf + len;
    size_t n;
    const char *next = line_end(p, end, &n);
    if (next == NULL)
        return len >= max_bytes ? 414 : 0;
    if ((size_t)(next - buf) > max_bytes)
        return 414;
    int st = request_line(p, n, req);
    if (st != 200)
        return st;
    unsigned headers = 0;
    for (p = next; (next = line_end(p, end, &n)) != NULL; p = next) {
        if ((size_t)(next - buf) > max_bytes)
            return 431;
        if (n == 0)
            return 200;
        if (++headers > max_headers)
            return 431;
        if ((st = header_line(p, n)) != 0)
            return st;
    }
    return len >= max_bytes ? 431 : 0;
}

const char *sp_httpd_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* ---- the server ---- */

enum cstate { READING, WRITING, DRAINING };

struct conn {
    struct conn *prev, *next;
    sp_httpd *h;
    int fd;
    enum cstate state;
    sp_timer timer;
    sp_buf out;
    size_t off;
    size_t len;
    char in[];
};

struct sp_httpd {
    sp_loop *loop;
    sp_httpd_opts o;
    sp_listener l;
    struct conn *conns;
    unsigned nconns;
    uint64_t refused;     /* connections closed at once: too many open */
};

static void conn_close(struct conn *c)
{
    sp_httpd *h = c->h;
    sp_timer_stop(h->loop, &c->timer);
    sp_loop_unwatch(h->loop, c->fd);
    close(c->fd);
    SP_LIST_REMOVE(&h->conns, c);
    h->nconns--;
    sp_buf_free(&c->out);
    free(c);
}

static void on_conn(sp_loop *loop, int fd, unsigned events, void *arg);

static void drain(struct conn *c)
{
    sp_err err;
    c->state = DRAINING;
    if (shutdown(c->fd, SHUT_WR) < 0 ||
        sp_loop_watch(c->h->loop, c->fd, SP_EV_READ, on_conn, c, &err) != SP_OK)
        conn_close(c);
}

static void send_out(struct conn *c)
{
    while (c->off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->off, c->out.len - c->off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->off += (size_t)n;
    }
    drain(c);
}

static void respond(struct conn *c, int status, const sp_httpd_req *req)
{
    sp_httpd *h = c->h;
    sp_buf body;
    sp_buf_init(&body, 0);
    const char *ctype = "text/plain; charset=utf-8";
    if (status == 200)
        status = h->o.fn(h->o.arg, req->path, &body, &ctype);
    if (status == 404 || body.len == 0) {
        sp_buf_reset(&body);
        sp_buf_printf(&body, "%s\n", sp_httpd_reason(status));
        ctype = "text/plain; charset=utf-8";
    }
    if (body.failed) {
        sp_buf_reset(&body);
        status = 500;
        sp_buf_printf(&body, "%s\n", sp_httpd_reason(status));
    }
    if (status != 200)
        sp_log_debug(h->o.log, "%s: answered %d %s", h->l.label, status, sp_httpd_reason(status));
    sp_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                  "Connection: close\r\n\r\n", status, sp_httpd_reason(status), ctype, body.len,
                  status == 405 ? "Allow: GET\r\n" : "");
    sp_buf_append(&c->out, body.data ? body.data : "", body.len);
    sp_buf_free(&body);
    sp_err err;
    c->state = WRITING;
    if (c->out.failed || sp_timer_start(h->loop, &c->timer, h->o.timeout_ms, &err) != SP_OK ||
        sp_loop_watch(h->loop, c->fd, SP_EV_WRITE, on_conn, c, &err) != SP_OK) {
        conn_close(c);
        return;
    }
    send_out(c);
}

static void on_conn(sp_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    struct conn *c = arg;
    if (c->state == WRITING) {
        send_out(c);
        return;
    }
    for (;;) {
        char sink[512];
        char *to = c->state == READING ? c->in + c->len : sink;
        size_t room = c->state == READING ? c->h->o.max_request - c->len : sizeof sink;
        ssize_t n = read(fd, to, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(c);   /* the client is gone, or has read the answer */
            return;
        }
        if (c->state == DRAINING)
            continue;
        c->len += (size_t)n;
        sp_httpd_req req;
        int st = sp_httpd_parse(c->in, c->len, c->h->o.max_request, c->h->o.max_headers, &req);
        if (st != 0) {
            respond(c, st, &req);
            return;
        }
    }
}

static void on_conn_timer(sp_loop *loop, void *arg)
{
    (void)loop;
    struct conn *c = arg;
    if (c->state == READING) {
        respond(c, 408, NULL);
        return;
    }
    conn_close(c);
}

static void on_accept(sp_loop *loop, int fd, unsigned events, void *arg)
{
    (void)events;
    sp_httpd *h = arg;
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                sp_log_warn(h->o.log, "%s: accept: %s", h->l.label, strerror(errno));
            return;
        }
        if (h->nconns >= h->o.max_conns) {
            if (h->refused++ == 0)
                sp_log_warn(h->o.log, "%s: %u connections open; closing more at once", h->l.label,
                            h->nconns);
            close(cfd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c + h->o.max_request);
        sp_err err;
        if (c == NULL) {
            close(cfd);
            continue;
        }
        c->h = h;
        c->fd = cfd;
        sp_buf_init(&c->out, 0);
        sp_timer_init(&c->timer, on_conn_timer, c);
        SP_LIST_PUSH(&h->conns, c);
        h->nconns++;
        if (sp_timer_start(loop, &c->timer, h->o.timeout_ms, &err) != SP_OK ||
            sp_loop_watch(loop, cfd, SP_EV_READ, on_conn, c, &err) != SP_OK) {
            sp_log_warn(h->o.log, "%s: %s", h->l.label, err.msg);
            conn_close(c);
        }
    }
}

sp_httpd *sp_httpd_new(sp_loop *loop, const sp_httpd_opts *o, sp_err *err)
{
    char host[128];
    int port;
    const char *what = o->what ? o->what : "listen";
    if (sp_listen_split(o->listen, what, host, sizeof host, &port, err) != SP_OK)
        return NULL;
    sp_httpd *h = calloc(1, sizeof *h);
    if (h == NULL) {
        sp_err_set(err, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->o = *o;
    if (h->o.max_request == 0)
        h->o.max_request = SP_HTTPD_MAX_REQUEST;
    if (h->o.max_headers == 0)
        h->o.max_headers = SP_HTTPD_MAX_HEADERS;
    if (h->o.timeout_ms == 0)
        h->o.timeout_ms = SP_HTTPD_TIMEOUT_MS;
    if (h->o.max_conns == 0)
        h->o.max_conns = SP_HTTPD_MAX_CONNS;
    sp_listener_init(&h->l, SP_SRC_TCP, NULL, o->log);
    sp_err e;
    if (sp_listener_open_inet(&h->l, host[0] ? host : NULL, port, &e) != SP_OK ||
        sp_loop_watch(loop, h->l.fd, SP_EV_READ, on_accept, h, &e) != SP_OK) {
        sp_err_set(err, "%s: %s", what, e.msg);
        sp_listener_close(&h->l);
        free(h);
        return NULL;
    }
    return h;
}

int sp_httpd_port(const sp_httpd *h)
{
    return h->l.port;
}

const char *sp_httpd_label(const sp_httpd *h)
{
    return h->l.label;
}

void sp_httpd_free(sp_httpd *h)
{
    if (h == NULL)
        return;
    while (h->conns)
        conn_close(h->conns);
    sp_loop_unwatch(h->loop, h->l.fd);
    sp_listener_close(&h->l);
    free(h);
}
