/* The metrics server: request parsing and refusals, the server on a loop
 * (answers, limits, timeouts), the exposition format's names and escaping,
 * and put's progress line. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/httpd.h"
#include "shardpipe/listen.h"
#include "shardpipe/metrics.h"
#include "shardpipe/putprog.h"

static int parse(const char *req, sp_httpd_req *out)
{
    return sp_httpd_parse(req, strlen(req), 8192, 8, out);
}

START_TEST(parses_get_and_refuses_the_rest)
{
    sp_httpd_req r;
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    ck_assert_str_eq(r.path, "/metrics");
    ck_assert_int_eq(parse("GET /healthz?verbose=1 HTTP/1.0\n\n", &r), 200);
    ck_assert_str_eq(r.path, "/healthz");
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r), 200);
    /* incomplete: more to come */
    ck_assert_int_eq(parse("", &r), 0);
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r), 0);
    ck_assert_int_eq(parse("GET /metr", &r), 0);
    static const struct {
        const char *req;
        int status;
    } bad[] = {
        {"POST /metrics HTTP/1.1\r\n\r\n", 405},
        {"HEAD /metrics HTTP/1.1\r\n\r\n", 405},
        {"get /metrics HTTP/1.1\r\n\r\n", 405},
        {"GET /metrics HTTP/2.0\r\n\r\n", 505},
        {"GET /metrics HTTP/1.1 x\r\n\r\n", 400},
        {"GET  /metrics HTTP/1.1\r\n\r\n", 400},
        {"GET /metrics\r\n\r\n", 400},
        {"GET metrics HTTP/1.1\r\n\r\n", 400},
        {"GET http://x/metrics HTTP/1.1\r\n\r\n", 400},
        {"GET /met\x01rics HTTP/1.1\r\n\r\n", 400},
        {"GET /metrics HTTX/1.1\r\n\r\n", 400},
        {"G(T /metrics HTTP/1.1\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400},
        {"GET /metrics HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\n\r\n",
         431},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse(bad[i].req, &r) == bad[i].status, "case %zu: %d, want %d", i,
                      parse(bad[i].req, &r), bad[i].status);
    /* eight headers are allowed */
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n\r\n",
                           &r), 200);
}
END_TEST

START_TEST(bounds_the_request_size)
{
    sp_httpd_req r;
    char big[300];
    memset(big, 'a', sizeof big);
    /* a request line that never ends within the limit */
    ck_assert_int_eq(sp_httpd_parse("GET /aaaaaaaaaaaaaaaa", 20, 20, 8, &r), 414);
    ck_assert_int_eq(sp_httpd_parse("GET /aaaaaaaaaaaaaaaa", 20, 21, 8, &r), 0);
    /* a path longer than the server keeps */
    char req[400];
    snprintf(req, sizeof req, "GET /%.*s HTTP/1.1\r\n\r\n", 290, big);
    ck_assert_int_eq(parse(req, &r), 414);
    /* headers that do not end within the limit */
    const char *h = "GET / HTTP/1.1\r\nA: aaaaaaaaaaaaaaaaaaaaaaa\r\n";
    ck_assert_int_eq(sp_httpd_parse(h, strlen(h), strlen(h), 8, &r), 431);
    ck_assert_int_eq(sp_httpd_parse(h, strlen(h), strlen(h) + 10, 8, &r), 0);
    const char *h2 = "GET / HTTP/1.1\r\nA: a\r\n\r\n";
    ck_assert_int_eq(sp_httpd_parse(h2, strlen(h2), strlen(h2) - 1, 8, &r), 431);
}
END_TEST

START_TEST(splits_listen_addresses)
{
    char host[64];
    int port;
    sp_err e;
    ck_assert_int_eq(sp_listen_split("127.0.0.1:9100", "x", host, sizeof host, &port, &e), SP_OK);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 9100);
    ck_assert_int_eq(sp_listen_split("[::1]:0", "x", host, sizeof host, &port, &e), SP_OK);
    ck_assert_str_eq(host, "[::1]");
    ck_assert_int_eq(port, 0);
    ck_assert_int_eq(sp_listen_split("9100", "x", host, sizeof host, &port, &e), SP_OK);
    ck_assert_str_eq(host, "");
    static const char *const bad[] = {"", ":9100", "::1:9100", "127.0.0.1:", "127.0.0.1:65536",
                                      "127.0.0.1:-1", "127.0.0.1:9x", "host"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(sp_listen_split(bad[i], "--metrics-listen", host, sizeof host, &port, &e) == SP_ERR,
                      "accepted '%s'", bad[i]);
        ck_assert_msg(strncmp(e.msg, "--metrics-listen: ", 18) == 0, "%s", e.msg);
    }
}
END_TEST

/* ---- the server on a loop ---- */

static int handler(void *arg, const char *path, sp_buf *body, const char **ctype)
{
    (void)arg;
    if (strcmp(path, "/hello") != 0)
        return 404;
    *ctype = "text/x-test";
    sp_buf_puts(body, "hi\n");
    return 200;
}

static void stop_loop(sp_loop *loop, void *arg)
{
    (void)arg;
    sp_loop_stop(loop);
}

static void run_for(sp_loop *loop, uint64_t ms)
{
    sp_timer t;
    sp_err err;
    sp_timer_init(&t, stop_loop, NULL);
    ck_assert_int_eq(sp_timer_start(loop, &t, ms, &err), SP_OK);
    ck_assert_int_eq(sp_loop_run(loop, &err), SP_OK);
    sp_timer_stop(loop, &t);
}

static int client(int port, const char *send_this)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    if (send_this)
        ck_assert_int_eq(write(fd, send_this, strlen(send_this)), (ssize_t)strlen(send_this));
    return fd;
}

/* Whatever has come back, without waiting (the loop ran already). */
static void answer(int fd, char *out, size_t n)
{
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, out + got, n - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    out[got] = '\0';
}

static sp_httpd *server(sp_loop *loop, unsigned max_conns, uint32_t timeout_ms)
{
    sp_log lg = {.level = SP_LOG_ERROR};
    static sp_log keep;
    keep = lg;
    sp_httpd_opts o = {0};
    o.listen = "127.0.0.1:0";
    o.what = "test";
    o.fn = handler;
    o.log = &keep;
    o.max_conns = max_conns;
    o.timeout_ms = timeout_ms;
    sp_err err;
    sp_httpd *h = sp_httpd_new(loop, &o, &err);
    ck_assert_msg(h != NULL, "%s", err.msg);
    ck_assert_int_gt(sp_httpd_port(h), 0);
    return h;
}

START_TEST(serves_and_refuses_on_the_loop)
{
    sp_err err;
    sp_loop *loop = sp_loop_new(&err);
    ck_assert_ptr_nonnull(loop);
    sp_httpd *h = server(loop, 0, 0);
    int port = sp_httpd_port(h);
    int ok = client(port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    int nf = client(port, "GET /nope HTTP/1.1\r\n\r\n");
    int post = client(port, "POST /hello HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    int junk = client(port, "\x16\x03\x01 hello\r\n\r\n");
    run_for(loop, 150);
    char buf[2048];
    answer(ok, buf, sizeof buf);
    ck_assert_str_eq(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/x-test\r\nContent-Length: 3\r\n"
                          "Connection: close\r\n\r\nhi\n");
    answer(nf, buf, sizeof buf);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 404 Not Found\r\n", 24) == 0, "%s", buf);
    answer(post, buf, sizeof buf);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0, "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "\r\nAllow: GET\r\n"));
    answer(junk, buf, sizeof buf);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", buf);
    close(ok);
    close(nf);
    close(post);
    close(junk);
    sp_httpd_free(h);
    sp_loop_free(loop);
}
END_TEST

START_TEST(caps_connections_and_times_out)
{
    sp_err err;
    sp_loop *loop = sp_loop_new(&err);
    ck_assert_ptr_nonnull(loop);
    sp_httpd *h = server(loop, 1, 100);
    int port = sp_httpd_port(h);
    int slow = client(port, "GET /hello HT");
    run_for(loop, 20);
    int extra = client(port, "GET /hello HTTP/1.1\r\n\r\n");
    run_for(loop, 300);
    char buf[1024];
    answer(extra, buf, sizeof buf);
    ck_assert_str_eq(buf, "");                  /* closed at once: one connection at most */
    answer(slow, buf, sizeof buf);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0, "%s", buf);
    close(slow);
    close(extra);
    /* room again */
    int again = client(port, "GET /hello HTTP/1.1\r\n\r\n");
    run_for(loop, 100);
    answer(again, buf, sizeof buf);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", buf);
    close(again);
    sp_httpd_free(h);
    sp_loop_free(loop);
}
END_TEST

START_TEST(refuses_a_busy_or_bad_address)
{
    sp_err err;
    sp_loop *loop = sp_loop_new(&err);
    sp_httpd *h = server(loop, 0, 0);
    char spec[64];
    snprintf(spec, sizeof spec, "127.0.0.1:%d", sp_httpd_port(h));
    sp_httpd_opts o = {0};
    o.listen = spec;
    o.what = "--metrics-listen";
    o.fn = handler;
    ck_assert_ptr_null(sp_httpd_new(loop, &o, &err));
    ck_assert_msg(strstr(err.msg, "--metrics-listen: ") == err.msg && strstr(err.msg, "bind"), "%s", err.msg);
    o.listen = "localhost:9100";
    ck_assert_ptr_null(sp_httpd_new(loop, &o, &err));
    ck_assert_msg(strstr(err.msg, "not an IPv4 or IPv6 address"), "%s", err.msg);
    sp_httpd_free(h);
    sp_loop_free(loop);
}
END_TEST

/* ---- exposition ---- */

START_TEST(escapes_label_values)
{
    sp_buf b;
    sp_buf_init(&b, 0);
    sp_metrics_label_value(&b, "a\"b\\c\nd\te");
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\te\"");
    sp_buf_free(&b);
}
END_TEST

START_TEST(names_follow_the_conventions)
{
    sp_buf b;
    sp_buf_init(&b, 0);
    sp_metrics_render(NULL, 0, &b);
    ck_assert(!b.failed && b.data != NULL);
    regex_t help, type;
    ck_assert_int_eq(regcomp(&help, "^# HELP (shardpipe_[a-z_]+) [A-Z].*\\.$", REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&type, "^# TYPE (shardpipe_[a-z_]+) (counter|gauge|histogram)$", REG_EXTENDED), 0);
    size_t families = 0;
    char *save = NULL, last_help[128] = "";
    for (char *line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[3];
        if (strncmp(line, "# HELP ", 7) == 0) {
            ck_assert_msg(regexec(&help, line, 3, m, 0) == 0, "%s", line);
            snprintf(last_help, sizeof last_help, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
            continue;
        }
        ck_assert_msg(regexec(&type, line, 3, m, 0) == 0, "no samples without flows: %s", line);
        char name[128], kind[16];
        snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
        snprintf(kind, sizeof kind, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), line + m[2].rm_so);
        ck_assert_str_eq(name, last_help);     /* HELP then TYPE, same family */
        size_t n = strlen(name);
        int total = n > 6 && strcmp(name + n - 6, "_total") == 0;
        ck_assert_msg(total == (strcmp(kind, "counter") == 0), "%s is a %s", name, kind);
        families++;
    }
    ck_assert_uint_ge(families, 20);
    regfree(&help);
    regfree(&type);
    sp_buf_free(&b);
}
END_TEST

START_TEST(formats_progress)
{
    sp_flow_counters a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.p.records = 1000;
    a.p.bytes = 1000000;
    b.p.records = 26000;
    b.p.bytes = 6000000;
    b.p.throttled = 7;
    b.held = 3500000;
    char line[160];
    sp_putprog_format(line, sizeof line, &a, &b, 500);
    ck_assert_str_eq(line, "put: 26.0k records, 50.0k records/s, 10.00 MB/s, throttled 7, buffered 3.50MB");
    sp_putprog_format(line, sizeof line, &b, &b, 0);
    ck_assert_str_eq(line, "put: 26.0k records, 0 records/s, 0.00 MB/s, throttled 7, buffered 3.50MB");
    /* not a terminal: nothing starts */
    sp_err err;
    sp_loop *loop = sp_loop_new(&err);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    sp_putprog *p = (sp_putprog *)1;
    ck_assert_int_eq(sp_putprog_start(loop, NULL, fds[1], &p, &err), SP_OK);
    ck_assert_ptr_null(p);
    close(fds[0]);
    close(fds[1]);
    sp_loop_free(loop);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parses_get_and_refuses_the_rest);
    tcase_add_test(tc, bounds_the_request_size);
    tcase_add_test(tc, splits_listen_addresses);
    tcase_add_test(tc, serves_and_refuses_on_the_loop);
    tcase_add_test(tc, caps_connections_and_times_out);
    tcase_add_test(tc, refuses_a_busy_or_bad_address);
    tcase_add_test(tc, escapes_label_values);
    tcase_add_test(tc, names_follow_the_conventions);
    tcase_add_test(tc, formats_progress);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(metrics_suite)
