/* The single event loop: file descriptors (epoll), timers (a min-heap of
 * caller-owned timer objects) and signals (signalfd). libcurl's multi
 * interface plugs in through http.c. Everything runs on one thread; no
 * locks anywhere. */
#ifndef SHARDPIPE_LOOP_H
#define SHARDPIPE_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include "shardpipe/err.h"

typedef struct sp_loop sp_loop;

#define SP_EV_READ 0x1u
#define SP_EV_WRITE 0x2u
#define SP_EV_ERROR 0x4u   /* hang-up or error; see sp_loop_watch */

typedef void (*sp_io_fn)(sp_loop *loop, int fd, unsigned events, void *arg);
typedef void (*sp_timer_fn)(sp_loop *loop, void *arg);
typedef void (*sp_signal_fn)(sp_loop *loop, int signo, void *arg);

/* A timer is owned (and usually embedded) by its user; the loop only keeps
 * a pointer while it is armed. */
typedef struct sp_timer {
    uint64_t when;       /* monotonic ms */
    size_t heap_index;   /* position in the heap while armed */
    int armed;
    sp_timer_fn fn;
    void *arg;
} sp_timer;

sp_loop *sp_loop_new(sp_err *err);
/* Disarms nothing: callers stop their timers and watches first. */
void sp_loop_free(sp_loop *loop);

/* Watches fd for events (SP_EV_READ|SP_EV_WRITE); calling again changes
 * the events or callback. A descriptor epoll cannot watch (a regular file
 * on stdin) is treated as always readable.
 *
 * The callback is told only the events the watch asks for at the moment
 * of the call (a change made by an earlier callback of the same wake-up
 * counts). A hang-up or error comes as SP_EV_ERROR together with each
 * direction asked for, READ and/or WRITE, so that read(2) sees the end of
 * input or write(2) the error; a watch asking for neither hears nothing.
 *
 * events 0 pauses the watch: it keeps its callback, but the descriptor
 * leaves epoll (which reports a hang-up even when asked for nothing), so
 * a paused descriptor that hangs up costs nothing until it is resumed. */
int sp_loop_watch(sp_loop *loop, int fd, unsigned events, sp_io_fn fn, void *arg, sp_err *err);
/* Forgets fd; safe to call for an fd already closed or never watched. */
void sp_loop_unwatch(sp_loop *loop, int fd);

void sp_timer_init(sp_timer *t, sp_timer_fn fn, void *arg);
/* Arms (or re-arms) t to fire once after delay_ms. */
int sp_timer_start(sp_loop *loop, sp_timer *t, uint64_t delay_ms, sp_err *err);
/* Arms t at an absolute monotonic time (sp_loop_now_ms scale). */
int sp_timer_start_at(sp_loop *loop, sp_timer *t, uint64_t when_ms, sp_err *err);
void sp_timer_stop(sp_loop *loop, sp_timer *t);

/* Delivers signo through the loop (blocked for the process, read from a
 * signalfd), so handlers run as ordinary callbacks. */
int sp_loop_signal(sp_loop *loop, int signo, sp_signal_fn fn, void *arg, sp_err *err);

/* Runs until sp_loop_stop, or until nothing is left to wait for. Refused
 * (SP_ERR) when called from inside a callback of the same loop: nothing
 * re-enters the loop. */
int sp_loop_run(sp_loop *loop, sp_err *err);
void sp_loop_stop(sp_loop *loop);

/* Monotonic milliseconds, refreshed once per iteration (and on demand by
 * sp_loop_update_time) so that a burst of work sees one consistent "now". */
uint64_t sp_loop_now_ms(const sp_loop *loop);
void sp_loop_update_time(sp_loop *loop);

/* Monotonic milliseconds straight from the clock. */
uint64_t sp_monotonic_ms(void);

/* ---- for tests ---- */

/* Milliseconds on the sp_loop_now_ms scale. */
typedef uint64_t (*sp_clock_fn)(void *arg);
/* Makes fn(arg) the loop's clock (NULL: CLOCK_MONOTONIC again) for
 * sp_loop_now_ms, sp_loop_update_time and sp_timer_start, and reads it at
 * once. sp_loop_run still sleeps in real time; step a fake clock with
 * sp_loop_run_due instead. */
void sp_loop_set_clock(sp_loop *loop, sp_clock_fn fn, void *arg);
/* Reads the clock and runs every timer due by then, timers armed meanwhile
 * and already due included, in order; no descriptors are polled and
 * nothing waits. Returns how many ran. Never from inside a loop callback. */
size_t sp_loop_run_due(sp_loop *loop);

#endif
