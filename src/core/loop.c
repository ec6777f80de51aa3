/* The event loop. Design notes:
 * - Watches live in an array indexed by fd: O(1) lookup, and fds are small.
 * - Timers are a binary min-heap of pointers to caller-owned sp_timer
 *   objects, so arming and stopping never allocate per timer (only the
 *   heap array grows) and there is no id table to go stale.
 * - epoll refuses regular files (EPERM). Input redirected from a file is
 *   always readable anyway, so such fds go on an "always ready" list and the
 *   loop polls without sleeping while any of them is active. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "shardpipe/loop.h"

struct watch {
    sp_io_fn fn;
    void *arg;
    unsigned events;
    int registered;   /* known to epoll */
    int always;       /* epoll refused it: always readable */
};

struct sp_loop {
    int epfd;
    struct watch *watches;
    size_t nwatches;
    sp_timer **heap;
    size_t nheap, capheap;
    int sigfd;
    sigset_t sigmask;
    struct {
        sp_signal_fn fn;
        void *arg;
    } sig[65];
    uint64_t now;
    int stop;
    int running;      /* inside sp_loop_run: a second run is refused */
    sp_clock_fn clock;   /* tests: a fake clock; NULL: CLOCK_MONOTONIC */
    void *clock_arg;
};

static uint64_t loop_clock(const sp_loop *l);

uint64_t sp_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

sp_loop *sp_loop_new(sp_err *err)
{
    sp_loop *l = calloc(1, sizeof *l);
    if (l == NULL) {
        sp_err_set(err, "event loop: out of memory");
        return NULL;
    }
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        sp_err_set(err, "epoll_create1: %s", strerror(errno));
        free(l);
        return NULL;
    }
    l->now = sp_monotonic_ms();
    return l;
}

void sp_loop_free(sp_loop *l)
{
    if (l == NULL)
        return;
    close(l->epfd);
    if (l->sigfd >= 0) {
        close(l->sigfd);
        sigprocmask(SIG_UNBLOCK, &l->sigmask, NULL);
    }
    free(l->watches);
    free(l->heap);
    free(l);
}

uint64_t sp_loop_now_ms(const sp_loop *l) { return l->now; }
void sp_loop_update_time(sp_loop *l) { l->now = loop_clock(l); }
void sp_loop_stop(sp_loop *l) { l->stop = 1; }

static int grow_watches(sp_loop *l, int fd, sp_err *err)
{
    if ((size_t)fd < l->nwatches)
        return SP_OK;
    size_t n = l->nwatches ? l->nwatches : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct watch *w = realloc(l->watches, n * sizeof *w);
    if (w == NULL)
        return sp_err_set(err, "event loop: out of memory");
    memset(w + l->nwatches, 0, (n - l->nwatches) * sizeof *w);
    l->watches = w;
    l->nwatches = n;
    return SP_OK;
}

int sp_loop_watch(sp_loop *l, int fd, unsigned events, sp_io_fn fn, void *arg, sp_err *err)
{
    if (fd < 0)
        return sp_err_set(err, "event loop: bad descriptor %d", fd);
    if (grow_watches(l, fd, err) != SP_OK)
        return SP_ERR;
    struct watch *w = &l->watches[fd];
    w->fn = fn;
    w->arg = arg;
    w->events = events;
    if (w->always)
        return SP_OK;
    if (events == 0) {
        /* epoll reports a hang-up or an error whatever it was asked for,
         * so a paused descriptor that has hung up would wake every wait:
         * a pause takes it out of epoll altogether. */
        if (w->registered)
            (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL); /* ENOENT/EBADF: already gone */
        w->registered = 0;
        return SP_OK;
    }
    struct epoll_event ev = {0};
    ev.events = ((events & SP_EV_READ) ? EPOLLIN : 0) | ((events & SP_EV_WRITE) ? EPOLLOUT : 0);
    ev.data.fd = fd;
    int op = w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(l->epfd, op, fd, &ev);
    if (rc < 0 && errno == ENOENT && op == EPOLL_CTL_MOD)
        rc = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev); /* fd was closed and reused */
    else if (rc < 0 && errno == EEXIST && op == EPOLL_CTL_ADD)
        rc = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (rc < 0 && errno == EPERM) {
        w->always = 1;
        return SP_OK;
    }
    if (rc < 0)
        return sp_err_set(err, "epoll_ctl(fd %d): %s", fd, strerror(errno));
    w->registered = 1;
    return SP_OK;
}

void sp_loop_unwatch(sp_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nwatches)
        return;
    struct watch *w = &l->watches[fd];
    if (w->registered)
        (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL); /* ENOENT/EBADF when already closed: fine */
    memset(w, 0, sizeof *w);
}

/* ---- timers: binary min-heap on (when) ---- */

static void heap_swap(sp_loop *l, size_t a, size_t b)
{
    sp_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_index = a;
    l->heap[b]->heap_index = b;
}

static void heap_up(sp_loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->when <= l->heap[i]->when)
            break;
        heap_swap(l, i, p);
        i = p;
    }
}

static void heap_down(sp_loop *l, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->nheap && l->heap[c]->when < l->heap[m]->when)
            m = c;
        if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[m]->when)
            m = c + 1;
        if (m == i)
            break;
        heap_swap(l, i, m);
        i = m;
    }
}

void sp_timer_init(sp_timer *t, sp_timer_fn fn, void *arg)
{
    memset(t, 0, sizeof *t);
    t->fn = fn;
    t->arg = arg;
}

void sp_timer_stop(sp_loop *l, sp_timer *t)
{
    if (!t->armed)
        return;
    size_t i = t->heap_index;
    t->armed = 0;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_index = i;
        heap_down(l, i);
        heap_up(l, i);
    }
}

int sp_timer_start_at(sp_loop *l, sp_timer *t, uint64_t when, sp_err *err)
{
    sp_timer_stop(l, t);
    if (l->nheap == l->capheap) {
        size_t cap = l->capheap ? l->capheap * 2 : 64;
        sp_timer **h = realloc(l->heap, cap * sizeof *h);
        if (h == NULL)
            return sp_err_set(err, "event loop: out of memory for timers");
        l->heap = h;
        l->capheap = cap;
    }
    t->when = when;
    t->armed = 1;
    t->heap_index = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_index);
    return SP_OK;
}

int sp_timer_start(sp_loop *l, sp_timer *t, uint64_t delay_ms, sp_err *err)
{
    return sp_timer_start_at(l, t, loop_clock(l) + delay_ms, err);
}

/* ---- signals ---- */

static void on_signalfd(sp_loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    (void)arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        int s = (int)si.ssi_signo;
        if (s > 0 && s < 65 && l->sig[s].fn)
            l->sig[s].fn(l, s, l->sig[s].arg);
    }
}

int sp_loop_signal(sp_loop *l, int signo, sp_signal_fn fn, void *arg, sp_err *err)
{
    if (signo <= 0 || signo >= 65)
        return sp_err_set(err, "event loop: bad signal %d", signo);
    sigaddset(&l->sigmask, signo);
    if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
        return sp_err_set(err, "sigprocmask: %s", strerror(errno));
    int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return sp_err_set(err, "signalfd: %s", strerror(errno));
    l->sig[signo].fn = fn;
    l->sig[signo].arg = arg;
    if (l->sigfd < 0) {
        l->sigfd = fd;
        return sp_loop_watch(l, fd, SP_EV_READ, on_signalfd, NULL, err);
    }
    return SP_OK;
}

/* ---- running ---- */

static int run_timers(sp_loop *l)
{
    int ran = 0;
    while (l->nheap > 0 && l->heap[0]->when <= l->now && !l->stop) {
        sp_timer *t = l->heap[0];
        sp_timer_stop(l, t);
        t->fn(l, t->arg);
        ran = 1;
    }
    return ran;
}

static int have_always(const sp_loop *l)
{
    for (size_t i = 0; i < l->nwatches; i++)
        if (l->watches[i].always && (l->watches[i].events & SP_EV_READ))
            return 1;
    return 0;
}

static int have_work(const sp_loop *l)
{
    if (l->nheap > 0)
        return 1;
    for (size_t i = 0; i < l->nwatches; i++)
        if (l->watches[i].fn != NULL && (int)i != l->sigfd && l->watches[i].events)
            return 1;
    return 0;
}

/* A hang-up or error is told to every direction the watch asked for: a
 * reader sees it as the end of input (or the error) from read(2), a
 * writer as the error from write(2). */
static unsigned map_events(uint32_t ev)
{
    unsigned e = 0;
    if (ev & EPOLLIN)
        e |= SP_EV_READ;
    if (ev & EPOLLOUT)
        e |= SP_EV_WRITE;
    if (ev & (EPOLLHUP | EPOLLERR))
        e |= SP_EV_READ | SP_EV_WRITE | SP_EV_ERROR;
    return e;
}

int sp_loop_run(sp_loop *l, sp_err *err)
{
    struct epoll_event evs[64];
    /* Nothing runs the loop from inside one of its callbacks: work that
     * waits for an answer gets a callback instead. A nested run would
     * dispatch events under a caller that is half way through its own. */
    if (l->running)
        return sp_err_set(err, "internal error: the event loop was run from inside one of its callbacks");
    int rc = SP_OK;
    l->running = 1;
    l->stop = 0;
    while (!l->stop) {
        if (!have_work(l))
            break;
        sp_loop_update_time(l);
        int timeout = -1;
        int always = have_always(l);
        if (always) {
            timeout = 0;
        } else if (l->nheap > 0) {
            uint64_t when = l->heap[0]->when;
            timeout = when <= l->now ? 0 : (int)(when - l->now > 60000 ? 60000 : when - l->now);
        }
        int n = epoll_wait(l->epfd, evs, 64, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = sp_err_set(err, "epoll_wait: %s", strerror(errno));
            break;
        }
        sp_loop_update_time(l);
        for (int i = 0; i < n && !l->stop; i++) {
            int fd = evs[i].data.fd;
            if ((size_t)fd >= l->nwatches)
                continue;
            /* The watch as it is now: an earlier callback of this batch
             * may have paused, changed or removed it. */
            struct watch *w = &l->watches[fd];
            unsigned e = map_events(evs[i].events) & (w->events | SP_EV_ERROR);
            if (w->fn == NULL || !(e & (SP_EV_READ | SP_EV_WRITE)))
                continue;
            w->fn(l, fd, e, w->arg);
        }
        if (always) {
            for (size_t i = 0; i < l->nwatches && !l->stop; i++) {
                struct watch *w = &l->watches[i];
                if (w->always && (w->events & SP_EV_READ) && w->fn)
                    w->fn(l, (int)i, SP_EV_READ, w->arg);
            }
        }
        run_timers(l);
    }
    l->running = 0;
    return rc;
}

/* ---- for tests: an injected clock ---- */

static uint64_t loop_clock(const sp_loop *l)
{
    return l->clock ? l->clock(l->clock_arg) : sp_monotonic_ms();
}

void sp_loop_set_clock(sp_loop *l, sp_clock_fn fn, void *arg)
{
    l->clock = fn;
    l->clock_arg = arg;
    l->now = loop_clock(l);
}

size_t sp_loop_run_due(sp_loop *l)
{
    size_t ran = 0;
    sp_loop_update_time(l);
    /* Timers armed by these callbacks run too when they are already due. */
    while (l->nheap > 0 && l->heap[0]->when <= l->now) {
        sp_timer *t = l->heap[0];
        sp_timer_stop(l, t);
        t->fn(l, t->arg);
        ran++;
    }
    return ran;
}
