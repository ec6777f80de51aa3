/* libcurl multi handle bound to sp_loop: curl tells us which sockets to
 * watch (socket callback) and when to wake it (timer callback); we call
 * curl_multi_socket_action and collect finished transfers. The one place
 * where an easy handle is set up. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shardpipe/http.h"
#include "shardpipe/list.h"

struct sp_http_req {
    sp_http *h;
    CURL *easy;
    struct curl_slist *headers;
    sp_buf body;
    sp_buf resp;
    char request_id[128];
    char error_type[128];
    time_t date;
    char errbuf[CURL_ERROR_SIZE];
    int secret;             /* body and answer are wiped before they are freed */
    sp_http_done_fn done;
    void *arg;
    struct sp_http_req *next, *prev;
};

struct sp_http {
    sp_loop *loop;
    CURLM *multi;
    sp_timer timer;
    sp_http_opts opts;
    char user_agent[64];
    struct sp_http_req *reqs; /* in flight */
    size_t nreqs;
};

static void check_done(sp_http *h);

static void on_socket_event(sp_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    sp_http *h = arg;
    int mask = 0;
    if (events & SP_EV_READ)
        mask |= CURL_CSELECT_IN;
    if (events & SP_EV_WRITE)
        mask |= CURL_CSELECT_OUT;
    if (events & SP_EV_ERROR)
        mask |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(h->multi, fd, mask, &running);
    check_done(h);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    sp_http *h = userp;
    if (what == CURL_POLL_REMOVE) {
        sp_loop_unwatch(h->loop, s);
        return 0;
    }
    unsigned ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= SP_EV_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= SP_EV_WRITE;
    sp_err err;
    return sp_loop_watch(h->loop, s, ev, on_socket_event, h, &err) == SP_OK ? 0 : -1;
}

static void on_timer(sp_loop *loop, void *arg)
{
    (void)loop;
    sp_http *h = arg;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    sp_http *h = userp;
    if (timeout_ms < 0) {
        sp_timer_stop(h->loop, &h->timer);
        return 0;
    }
    sp_err err;
    return sp_timer_start(h->loop, &h->timer, (uint64_t)timeout_ms, &err) == SP_OK ? 0 : -1;
}

sp_http *sp_http_new(sp_loop *loop, const sp_http_opts *opts, sp_err *err)
{
    sp_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        sp_err_set(err, "http: out of memory");
        return NULL;
    }
    h->loop = loop;
    if (opts)
        h->opts = *opts;
    if (h->opts.connect_timeout_ms <= 0)
        h->opts.connect_timeout_ms = 5000;
    if (h->opts.request_timeout_ms <= 0)
        h->opts.request_timeout_ms = 30000;
    if (h->opts.max_response == 0)
        h->opts.max_response = (size_t)32 << 20;
    snprintf(h->user_agent, sizeof h->user_agent, "%s",
             h->opts.user_agent ? h->opts.user_agent : "shardpipe/" SP_VERSION);
    sp_timer_init(&h->timer, on_timer, h);
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        sp_err_set(err, "http: curl_multi_init failed");
        free(h);
        return NULL;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    if (h->opts.max_connections > 0)
        curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->opts.max_connections);
    return h;
}

/* Every header list is wiped: it holds the signature and often a session
 * token. */
static void slist_wipe_free(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i != NULL; i = i->next)
        if (i->data)
            explicit_bzero(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

static void req_free(struct sp_http_req *r)
{
    if (r->easy) {
        curl_multi_remove_handle(r->h->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    slist_wipe_free(r->headers);
    if (r->secret) {
        sp_buf_wipe_free(&r->body);
        sp_buf_wipe_free(&r->resp);
    } else {
        sp_buf_free(&r->body);
        sp_buf_free(&r->resp);
    }
    free(r);
}

static void unlink_req(sp_http *h, struct sp_http_req *r)
{
    SP_LIST_REMOVE(&h->reqs, r);
    h->nreqs--;
}

void sp_http_free(sp_http *h)
{
    if (h == NULL)
        return;
    while (h->reqs) {
        struct sp_http_req *r = h->reqs;
        unlink_req(h, r);
        req_free(r);
    }
    sp_timer_stop(h->loop, &h->timer);
    curl_multi_cleanup(h->multi);
    free(h);
}

size_t sp_http_in_flight(const sp_http *h) { return h->nreqs; }

void sp_http_cancel(sp_http *h, sp_http_req *r)
{
    if (r == NULL)
        return;
    unlink_req(h, r);
    req_free(r);
}

/* realloc would leave a copy of what the answer held so far in freed
 * memory: a secret answer moves to a new block by hand, wiping the old. */
static int grow_wiped(sp_buf *b, size_t n)
{
    if (b->len + n < b->cap)
        return sp_buf_reserve(b, n);
    sp_buf nb;
    sp_buf_init(&nb, b->max);
    if (sp_buf_reserve(&nb, b->len + n) != SP_OK || sp_buf_append(&nb, b->data ? b->data : "", b->len) != SP_OK) {
        sp_buf_wipe_free(&nb);
        b->failed = 1;
        return SP_ERR;
    }
    sp_buf_wipe_free(b);
    *b = nb;
    return SP_OK;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct sp_http_req *r = arg;
    size_t n = size * nmemb;
    if ((r->secret && grow_wiped(&r->resp, n) != SP_OK) || sp_buf_append(&r->resp, p, n) != SP_OK)
        return 0; /* makes curl fail the transfer: response over the cap */
    return n;
}

/* Copies a header value (trimmed) when the name matches. */
static int header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return 0;
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t len = (size_t)(end - v);
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 1;
}

static size_t header_cb(char *p, size_t size, size_t nitems, void *arg)
{
    struct sp_http_req *r = arg;
    size_t n = size * nitems;
    char date[64];
    header_value(p, n, "x-amzn-RequestId", r->request_id, sizeof r->request_id);
    header_value(p, n, "X-Amzn-ErrorType", r->error_type, sizeof r->error_type);
    if (header_value(p, n, "Date", date, sizeof date)) {
        time_t t = curl_getdate(date, NULL);
        r->date = t > 0 ? t : 0;
    }
    /* Room for the whole body at once rather than doubling through it (a
     * hint only: a compressed body grows, and the cap still holds). */
    char clen[24];
    if (!r->secret && header_value(p, n, "Content-Length", clen, sizeof clen)) {
        char *end;
        unsigned long long v = strtoull(clen, &end, 10);
        if (*end == '\0' && v > 0 && v < r->resp.max && v > r->resp.len)
            sp_buf_reserve(&r->resp, (size_t)v - r->resp.len);
    }
    return n;
}

int sp_http_post(sp_http *h, const char *url, const char *const *headers, size_t n,
                 sp_buf *body, sp_http_done_fn done, void *arg, sp_err *err)
{
    return sp_http_post_ex(h, url, headers, n, body, NULL, done, arg, NULL, err);
}

int sp_http_post_ex(sp_http *h, const char *url, const char *const *headers, size_t n,
                    sp_buf *body, const sp_http_req_opts *ro, sp_http_done_fn done, void *arg,
                    sp_http_req **handle, sp_err *err)
{
    static const sp_http_req_opts none;
    if (ro == NULL)
        ro = &none;
    struct sp_http_req *r = calloc(1, sizeof *r);
    if (r == NULL) {
        if (ro->secret)
            sp_buf_wipe_free(body);
        return sp_err_set(err, "http: out of memory");
    }
    r->h = h;
    r->done = done;
    r->arg = arg;
    r->secret = ro->secret;
    sp_buf_init(&r->resp, ro->max_response ? ro->max_response : h->opts.max_response);
    r->body = *body;
    sp_buf_init(body, body->max);
    for (size_t i = 0; i < n; i++) {
        struct curl_slist *s = curl_slist_append(r->headers, headers[i]);
        if (s == NULL)
            goto oom;
        r->headers = s;
    }
    r->easy = curl_easy_init();
    if (r->easy == NULL)
        goto oom;
    CURL *e = r->easy;
    int ok = 1;
    ok &= curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
    if (ro->method != NULL && strcmp(ro->method, "GET") == 0) {
        ok &= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    } else {
        ok &= curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK;
        ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "") == CURLE_OK;
        ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len) == CURLE_OK;
        if (ro->method != NULL && strcmp(ro->method, "PUT") == 0)
            ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT") == CURLE_OK;
    }
    ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, r) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, r) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ro->connect_timeout_ms > 0 ? ro->connect_timeout_ms
                                                         : h->opts.connect_timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ro->request_timeout_ms > 0 ? ro->request_timeout_ms
                                                  : h->opts.request_timeout_ms) == CURLE_OK;
    /* Verification is never turned off: there is deliberately no option. */
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
    if (h->opts.ca_file)
        ok &= curl_easy_setopt(e, CURLOPT_CAINFO, h->opts.ca_file) == CURLE_OK;
    if (!ok) {
        req_free(r);
        return sp_err_set(err, "http: could not set up the request to %s", url);
    }
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        req_free(r);
        return sp_err_set(err, "http: curl_multi_add_handle failed");
    }
    SP_LIST_PUSH(&h->reqs, r);
    h->nreqs++;
    if (handle)
        *handle = r;
    return SP_OK;
oom:
    req_free(r);
    return sp_err_set(err, "http: out of memory");
}

static void check_done(sp_http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct sp_http_req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL)
            continue;
        CURLcode rc = m->data.result;
        sp_http_response resp = {0};
        if (rc == CURLE_OK) {
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        } else {
            resp.status = 0;
            curl_off_t up = 0;
            resp.sent = curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK &&
                        up >= (curl_off_t)r->body.len;
            resp.transport_error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
            curl_off_t connected = 0;
            resp.read_timeout = rc == CURLE_OPERATION_TIMEDOUT &&
                                curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connected) == CURLE_OK &&
                                connected > 0;
            if (rc == CURLE_WRITE_ERROR && r->resp.failed)
                resp.transport_error = "response larger than the limit";
        }
        resp.body = r->resp.data ? r->resp.data : "";
        resp.body_len = r->resp.len;
        resp.request_id = r->request_id;
        resp.error_type = r->error_type;
        resp.date = r->date;
        unlink_req(h, r);
        /* Detach before the callback, which may start new requests. */
        curl_multi_remove_handle(h->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
        r->done(r->arg, &resp);
        req_free(r);
    }
}
