/* Live progress of put (see progress.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardpipe/putprog.h"

struct sp_putprog {
    sp_loop *loop;
    const sp_flow *flow;
    int fd;
    sp_timer timer;
    sp_flow_counters prev;
    uint64_t prev_ms;
    int drawn;                /* a line is on the screen */
};

/* 1234, 12.3k, 4.56M: short numbers for a narrow line. */
static void human(char *out, size_t n, double v, const char *unit)
{
    if (v >= 1e9)
        snprintf(out, n, "%.2fG%s", v / 1e9, unit);
    else if (v >= 1e6)
        snprintf(out, n, "%.2fM%s", v / 1e6, unit);
    else if (v >= 1e4)
        snprintf(out, n, "%.1fk%s", v / 1e3, unit);
    else
        snprintf(out, n, "%.0f%s", v, unit);
}

void sp_putprog_format(char *out, size_t n, const sp_flow_counters *prev, const sp_flow_counters *now,
                        uint64_t ms)
{
    double s = ms > 0 ? (double)ms / 1000.0 : 1.0;
    double rps = (double)(now->p.records - prev->p.records) / s;
    double mbs = (double)(now->p.bytes - prev->p.bytes) / s / 1e6;
    char total[32], rate[32], held[32];
    human(total, sizeof total, (double)now->p.records, "");
    human(rate, sizeof rate, rps, "");
    human(held, sizeof held, (double)now->held, "B");
    snprintf(out, n, "put: %s records, %s records/s, %.2f MB/s, throttled %llu, buffered %s", total, rate,
             mbs, (unsigned long long)now->p.throttled, held);
}

static void put_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;   /* a terminal that cannot take it: progress is only a courtesy */
        s += w;
        n -= (size_t)w;
    }
}

static void on_tick(sp_loop *loop, void *arg)
{
    sp_putprog *p = arg;
    sp_flow_counters now;
    sp_flow_counters_get(p->flow, &now);
    uint64_t t = sp_loop_now_ms(loop);
    char line[160], buf[200];
    sp_putprog_format(line, sizeof line, &p->prev, &now, t - p->prev_ms);
    int len = snprintf(buf, sizeof buf, "\r%s\033[K", line);
    put_all(p->fd, buf, (size_t)len < sizeof buf ? (size_t)len : sizeof buf - 1);
    p->drawn = 1;
    p->prev = now;
    p->prev_ms = t;
    sp_err err;
    (void)sp_timer_start(loop, &p->timer, SP_PUTPROG_MS, &err); /* failing: no more redraws */
}

int sp_putprog_start(sp_loop *loop, const sp_flow *flow, int fd, sp_putprog **out, sp_err *err)
{
    *out = NULL;
    if (!isatty(fd))
        return SP_OK;
    sp_putprog *p = calloc(1, sizeof *p);
    if (p == NULL)
        return sp_err_set(err, "out of memory");
    p->loop = loop;
    p->flow = flow;
    p->fd = fd;
    p->prev_ms = sp_loop_now_ms(loop);
    sp_timer_init(&p->timer, on_tick, p);
    if (sp_timer_start(loop, &p->timer, SP_PUTPROG_MS, err) != SP_OK) {
        free(p);
        return SP_ERR;
    }
    *out = p;
    return SP_OK;
}

void sp_putprog_free(sp_putprog *p)
{
    if (p == NULL)
        return;
    sp_timer_stop(p->loop, &p->timer);
    if (p->drawn)
        put_all(p->fd, "\r\033[K", 4);
    free(p);
}
