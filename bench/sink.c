/* A fast local Kinesis sink for the benchmark (bench/README.md): one
 * thread, epoll, HTTP/1.1 keep-alive, plain or TLS. It answers PutRecords,
 * PutRecord, ListShards and DescribeStreamSummary for one stream of N shards
 * (even hash ranges, MD5 routing of the partition key or the
 * ExplicitHashKey), so that what a benchmark measures is the client, not
 * the server (tests/fake/fake_kinesis.py stays for behaviour: it checks
 * SigV4 and injects faults; this one only requires an Authorization header).
 *
 * For the exactly-once check every stored record's data is decoded and a
 * 64-bit hash of it is added into a sum and an xor; `sink --digest FILE`
 * prints the same figures over the lines of a file.
 *
 *   sink [--port N] [--cert PEM --key PEM] [--stream NAME] [--shards N]
 *        [--limit off|rolling|bucket] [--records-per-s N] [--bytes-per-s N]
 *        [--max-body BYTES]
 *   sink --digest FILE
 *
 * The first line on stdout is "listening PORT". GET /stats (unsigned)
 * returns the counters as JSON, GET /stats?shards adds one [records, data
 * bytes, throttled] triple per shard. Only 127.0.0.1 is listened on.
 *
 * This file is the server (buffers, HTTP, connections, main); the Kinesis
 * part is bench/sink_kinesis.c. Built by bench/sinklib.py:
 *   cc -O2 -std=c11 -Wall -Wextra -Werror -o build/sink bench/sink.c bench/sink_kinesis.c -lssl -lcrypto -lm */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sink.h"

static const char *const op_names[NOPS] = {"PutRecords", "PutRecord", "ListShards",
                                           "DescribeStreamSummary", "other"};

/* ---- buffers ---- */

int buf_reserve(struct buf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    if (b->len + more > b->max) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    if (cap > b->max)
        cap = b->max;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void put(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) == 0) {
        memcpy(b->p + b->len, p, n);
        b->len += n;
    }
}

void putf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}


/* ---- HTTP ---- */

static const char *reason(int status)
{
    return status == 200 ? "OK" : status == 100 ? "Continue" : status == 400 ? "Bad Request" : status == 403
           ? "Forbidden" : status == 404 ? "Not Found" : status == 413 ? "Payload Too Large" : status == 431
           ? "Request Header Fields Too Large" : status == 501 ? "Not Implemented" : "Internal Server Error";
}

static void respond(struct sink *s, struct conn *c, int status, const char *type)
{
    time_t now = time(NULL);
    if (now != s->date_t) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_t = now;
    }
    putf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: %zu\r\n"
                  "x-amzn-RequestId: 5a1e0000-0000-4000-8000-%012llx\r\nDate: %s\r\n%s%s%s%s\r\n",
         status, reason(status), s->body.len, (unsigned long long)++s->reqid, s->date,
         type ? "X-Amzn-ErrorType: " : "", type ? type : "", type ? "\r\n" : "",
         c->closing ? "Connection: close\r\n" : "");
    put(&c->out, s->body.p, s->body.len);
    if (c->out.failed)
        c->closing = 1;
    s->body.len = 0;
    s->body.failed = 0;
}

static void respond_error(struct sink *s, struct conn *c, const struct res *r)
{
    s->errors++;
    s->body.len = 0;
    s->body.failed = 0;
    putf(&s->body, "{\"__type\":\"%s\",\"message\":\"", r->type);
    for (const char *m = r->msg; *m; m++)      /* the message may quote the request */
        if (*m == '"' || *m == '\\' || (unsigned char)*m < 0x20)
            putf(&s->body, "\\u%04x", (unsigned char)*m);
        else
            put(&s->body, m, 1);
    PUTS(&s->body, "\"}");
    respond(s, c, r->status, r->type);
}

static void stats(struct sink *s, struct buf *b, int per_shard)
{
    PUTS(b, "{\"requests\":{");
    for (int i = 0; i < NOPS; i++)
        putf(b, "%s\"%s\":%llu", i ? "," : "", op_names[i], (unsigned long long)s->reqs[i]);
    putf(b, "},\"errors\":%llu,\"records\":%llu,\"data_bytes\":%llu,\"key_bytes\":%llu,\"throttled\":%llu,"
            "\"sum\":\"%016llx\",\"xor\":\"%016llx\",\"connections\":%llu,\"shards\":%u",
         (unsigned long long)s->errors, (unsigned long long)s->records, (unsigned long long)s->data_bytes,
         (unsigned long long)s->key_bytes, (unsigned long long)s->throttled, (unsigned long long)s->sum,
         (unsigned long long)s->xor, (unsigned long long)s->conns, s->nshards);
    if (per_shard) {
        PUTS(b, ",\"per_shard\":[");
        for (uint32_t i = 0; i < s->nshards; i++)
            putf(b, "%s[%llu,%llu,%llu]", i ? "," : "", (unsigned long long)s->sh[i].records,
                 (unsigned long long)s->sh[i].bytes, (unsigned long long)s->sh[i].throttled);
        PUTS(b, "]");
    }
    PUTS(b, "}\n");
}

static int header_is(const char *line, size_t n, const char *name, const char **val, size_t *vn)
{
    size_t l = strlen(name);
    if (n <= l || line[l] != ':' || strncasecmp(line, name, l) != 0)
        return 0;
    const char *v = line + l + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *val = v;
    *vn = (size_t)(e - v);
    return 1;
}

/* Answers the first request in c->in if it is complete: 1 answered (or
 * 100 Continue sent), 0 more bytes needed. */
static int process(struct sink *s, struct conn *c)
{
    char *p = c->in.p, *end = c->in.len ? memmem(p, c->in.len < HEAD_MAX ? c->in.len : HEAD_MAX, "\r\n\r\n", 4)
                                        : NULL;
    struct res r = {0};
    if (end == NULL) {
        if (c->in.len < HEAD_MAX)
            return 0;
        c->closing = 1;
        fail(&r, 431, "SerializationException", "request headers over %u bytes", HEAD_MAX);
        respond_error(s, c, &r);
        return 1;
    }
    size_t head = (size_t)(end + 4 - p), cl = 0;
    const char *target = NULL, *v;
    size_t targetn = 0, vn;
    int auth = 0, get = !strncmp(p, "GET ", 4), expect = 0, chunked = 0, bad_cl = 0;
    char *path = memchr(p, ' ', head);
    if (!get && strncmp(p, "POST ", 5) != 0)
        c->closing = 1;
    for (char *line = memchr(p, '\n', head) + 1; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end + 2 - line));
        size_t n = (size_t)(nl - line) - (nl > line && nl[-1] == '\r');
        if (header_is(line, n, "Content-Length", &v, &vn)) {
            char *stop;
            unsigned long long x = strtoull(v, &stop, 10);
            bad_cl = vn == 0 || stop != v + vn;
            cl = x > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)x;
        } else if (header_is(line, n, "X-Amz-Target", &v, &vn)) {
            target = v, targetn = vn;
        } else if (header_is(line, n, "Authorization", &v, &vn)) {
            auth = vn > 0;
        } else if (header_is(line, n, "Connection", &v, &vn)) {
            if (vn == 5 && !strncasecmp(v, "close", 5))
                c->closing = 1;
        } else if (header_is(line, n, "Expect", &v, &vn)) {
            expect = vn == 12 && !strncasecmp(v, "100-continue", 12);
        } else if (header_is(line, n, "Transfer-Encoding", &v, &vn)) {
            chunked = 1;
        }
        line = nl + 1;
    }
    if (chunked || bad_cl || path == NULL) {
        c->closing = 1;
        fail(&r, chunked ? 501 : 400, "SerializationException", "%s", chunked ? "chunked bodies are not supported"
                                                                     : "bad request line or Content-Length");
        respond_error(s, c, &r);
        return 1;
    }
    if (cl > s->max_body) {        /* refused unread: the connection goes */
        c->closing = 1;
        fail(&r, 413, "SerializationException", "request body of %zu bytes is over %zu", cl, s->max_body);
        respond_error(s, c, &r);
        return 1;
    }
    if (c->in.len < head + cl) {
        if (expect && !c->continued) {
            c->continued = 1;
            PUTS(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
            return 1;
        }
        return 0;
    }
    char *body = p + head;
    struct js j = {body, body + cl, 0};
    int status = -1;
    if (get) {
        if (!strncmp(path, " /stats", 7)) {
            stats(s, &s->body, !strncmp(path, " /stats?shards", 14));
            status = 200;
        } else {
            fail(&r, 404, "ResourceNotFoundException", "GET /stats only");
        }
    } else if (!auth) {
        fail(&r, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
    } else {
        int op = OP_OTHER;
        const char *pre = "Kinesis_20131202.";
        if (target && targetn > strlen(pre) && !strncmp(target, pre, strlen(pre)))
            for (int i = 0; i < OP_OTHER; i++)
                if (targetn - strlen(pre) == strlen(op_names[i]) &&
                    !strncmp(target + strlen(pre), op_names[i], strlen(op_names[i])))
                    op = i;
        s->reqs[op]++;
        status = op == OP_PUTRECORDS ? op_put_records(s, &j, &r)
               : op == OP_PUTRECORD  ? op_put_record(s, &j, &r)
               : op == OP_OTHER      ? fail(&r, 400, "UnknownOperationException", "%.*s is not implemented",
                                            (int)(targetn > 64 ? 64 : targetn), target ? target : "")
                                     : op_control(s, op, &j, &r);
    }
    if (status > 0 && s->body.failed)
        status = fail(&r, 500, "InternalFailure", "response over %u bytes", OUT_MAX);
    if (status > 0)
        respond(s, c, status, NULL);
    else
        respond_error(s, c, &r);
    c->continued = 0;
    memmove(c->in.p, c->in.p + head + cl, c->in.len - head - cl);
    c->in.len -= head + cl;
    return 1;
}

/* ---- connections ---- */

static void conn_close(struct sink *s, struct conn *c)
{
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl)
        SSL_free(c->ssl);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    free(c);
    s->conns--;
}

static void want(struct sink *s, struct conn *c, uint32_t ev)
{
    if (ev == c->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->events = ev;
}

/* The direction a blocked TLS call waits for, or 0 for an error. */
static uint32_t ssl_wait(SSL *ssl, int rc)
{
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
    ERR_clear_error();
    return 0;
}

/* Waits for ev, or closes the connection (ev 0: an error or the end). */
static void blocked(struct sink *s, struct conn *c, uint32_t ev)
{
    if (ev)
        want(s, c, ev);
    else
        conn_close(s, c);
}

/* Moves the connection on as far as it goes without blocking. */
static void conn_io(struct sink *s, struct conn *c)
{
    for (;;) {
        if (c->ssl && !c->handshaken) {
            int rc = SSL_accept(c->ssl);
            if (rc == 1) {
                c->handshaken = 1;
                continue;
            }
            blocked(s, c, ssl_wait(c->ssl, rc));
            return;
        }
        if (c->out_off < c->out.len) {
            size_t n = c->out.len - c->out_off;
            long wr;
            if (c->ssl) {
                int rc = SSL_write(c->ssl, c->out.p + c->out_off, n > INT32_MAX ? INT32_MAX : (int)n);
                if (rc <= 0) {
                    blocked(s, c, ssl_wait(c->ssl, rc));
                    return;
                }
                wr = rc;
            } else {
                wr = send(c->fd, c->out.p + c->out_off, n, MSG_NOSIGNAL);
                if (wr < 0) {
                    blocked(s, c, errno == EAGAIN || errno == EINTR ? EPOLLOUT : 0);
                    return;
                }
            }
            c->out_off += (size_t)wr;
            if (c->out_off == c->out.len)
                c->out_off = c->out.len = 0;
            continue;
        }
        if (c->closing) {
            conn_close(s, c);
            return;
        }
        if (process(s, c))
            continue;
        if (buf_reserve(&c->in, 64 << 10) != 0) {
            /* only an incomplete request bigger than the limits lands here */
            conn_close(s, c);
            return;
        }
        size_t room = c->in.cap - c->in.len;
        long rd;
        if (c->ssl) {
            int rc = SSL_read(c->ssl, c->in.p + c->in.len, room > INT32_MAX ? INT32_MAX : (int)room);
            if (rc <= 0) {
                blocked(s, c, ssl_wait(c->ssl, rc));
                return;
            }
            rd = rc;
        } else {
            rd = recv(c->fd, c->in.p + c->in.len, room, 0);
            if (rd <= 0) {
                blocked(s, c, rd < 0 && (errno == EAGAIN || errno == EINTR) ? EPOLLIN : 0);
                return;
            }
        }
        c->in.len += (size_t)rd;
    }
}

static void accept_all(struct sink *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        struct conn *c = s->conns < MAX_CONNS ? calloc(1, sizeof *c) : NULL;
        if (c == NULL || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->in.max = HEAD_MAX + s->max_body + (64 << 10);
        c->out.max = OUT_MAX;
        c->events = EPOLLIN;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if ((s->tls && ((c->ssl = SSL_new(s->tls)) == NULL || SSL_set_fd(c->ssl, fd) != 1)) ||
            epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            if (c->ssl)
                SSL_free(c->ssl);
            free(c);
            close(fd);
            continue;
        }
        s->conns++;
    }
}

/* ---- main ---- */

static int digest(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t count = 0, bytes = 0, sum = 0, x = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        uint64_t h = hash64(line, (size_t)n);
        sum += h;
        x ^= h;
        count++;
        bytes += (uint64_t)n;
    }
    int bad = ferror(f);
    free(line);
    fclose(f);
    if (bad) {
        perror(path);
        return 1;
    }
    printf("{\"records\":%llu,\"data_bytes\":%llu,\"sum\":\"%016llx\",\"xor\":\"%016llx\"}\n",
           (unsigned long long)count, (unsigned long long)bytes, (unsigned long long)sum, (unsigned long long)x);
    return 0;
}

static int usage(void)
{
    fputs("usage: sink [--port N] [--cert PEM --key PEM] [--stream NAME] [--shards N] [--region R]\n"
          "            [--limit off|rolling|bucket] [--records-per-s N] [--bytes-per-s N] [--max-body BYTES]\n"
          "       sink --digest FILE\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    static struct sink s;          /* big (the entries); main's, not shared */
    const char *cert = NULL, *key = NULL;
    long port = 0;
    s.stream = "bench";
    s.region = "us-east-1";
    s.nshards = 16;
    s.lim_n = 1000;
    s.lim_b = 1048576;
    s.max_body = 16u << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage();
        i++;
        if (!strcmp(a, "--digest"))
            return digest(v);
        else if (!strcmp(a, "--port"))
            port = strtol(v, NULL, 10);
        else if (!strcmp(a, "--cert"))
            cert = v;
        else if (!strcmp(a, "--key"))
            key = v;
        else if (!strcmp(a, "--stream"))
            s.stream = v;
        else if (!strcmp(a, "--region"))
            s.region = v;
        else if (!strcmp(a, "--shards"))
            s.nshards = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--records-per-s"))
            s.lim_n = strtod(v, NULL);
        else if (!strcmp(a, "--bytes-per-s"))
            s.lim_b = strtod(v, NULL);
        else if (!strcmp(a, "--max-body"))
            s.max_body = (size_t)strtoull(v, NULL, 10);
        else if (!strcmp(a, "--limit") && (!strcmp(v, "off") || !strcmp(v, "rolling") || !strcmp(v, "bucket")))
            s.limit = v[0] == 'o' ? LIM_OFF : v[0] == 'r' ? LIM_ROLLING : LIM_BUCKET;
        else
            return usage();
    }
    if (s.nshards < 1 || s.nshards > 100000 || port < 0 || port > 65535 || (!cert != !key) || s.lim_n < 1 ||
        s.lim_b < 1 || s.max_body < 1024 || s.max_body > (256u << 20) || strlen(s.stream) > 128)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    b64_init(s.b64pair);
    if (md5_init(s.md5k) != 0) {
        fputs("sink: MD5 self-test failed\n", stderr);
        return 1;
    }
    /* 2^128 / N, the even split of AWS (N = 1 takes all, routes to 0) */
    s.step = s.nshards == 1 ? ~(u128)0 : (~(u128)0) / s.nshards + ((~(u128)0) % s.nshards + 1 == s.nshards);
    s.sh = calloc(s.nshards, sizeof *s.sh);
    s.shard_ids = calloc(s.nshards, sizeof *s.shard_ids);
    if (s.sh == NULL || s.shard_ids == NULL)
        return fputs("sink: out of memory\n", stderr), 1;
    for (uint32_t i = 0; i < s.nshards; i++) {
        snprintf(s.shard_ids[i], sizeof s.shard_ids[i], "shardId-%012u", i);
        s.sh[i].tok_n = s.lim_n;   /* buckets start full: the one-second burst */
        s.sh[i].tok_b = s.lim_b;
        s.sh[i].last = mono();
    }
    memcpy(s.seq, "49600000000000000000000000000000000000000000000000000000", 57);
    s.body.max = OUT_MAX;
    if (cert) {
        s.tls = SSL_CTX_new(TLS_server_method());
        if (s.tls == NULL || SSL_CTX_use_certificate_chain_file(s.tls, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(s.tls, key, SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "sink: cannot load %s / %s:\n", cert, key);
            ERR_print_errors_fp(stderr);
            return 1;
        }
        SSL_CTX_set_mode(s.tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    int one = 1;
    s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL}, se = {.events = EPOLLIN, .data.ptr = &s};
    /* SIGTERM and SIGINT end the loop, so that callgrind or a profiler
     * writes its output */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    int sfd = sigprocmask(SIG_BLOCK, &stop, NULL) == 0 ? signalfd(-1, &stop, SFD_CLOEXEC) : -1;
    if (sfd < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, sfd, &se) != 0 || s.lfd < 0 || s.ep < 0 || setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s.lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s.lfd, 512) != 0 ||
        getsockname(s.lfd, (struct sockaddr *)&sa, &sl) != 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &le) != 0) {
        perror("sink: listen");
        return 1;
    }
    printf("listening %u\n", ntohs(sa.sin_port));
    fflush(stdout);
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(s.ep, ev, 64, -1);
        if (n < 0 && errno != EINTR) {
            perror("sink: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == &s)
                return 0;
            if (ev[i].data.ptr == NULL)
                accept_all(&s);
            else
                conn_io(&s, ev[i].data.ptr);
        }
    }
}
