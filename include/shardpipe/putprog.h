/* `put`'s live progress on a terminal: every half second one line on
 * standard error, redrawn in place (carriage return, erase to the end):
 * records stored, records/s and MB/s over the last interval, entries
 * throttled and bytes buffered. Nothing at all when the descriptor is not
 * a terminal. The line is erased when progress stops, so that the summary
 * that follows stands alone. */
#ifndef SHARDPIPE_PUTPROG_H
#define SHARDPIPE_PUTPROG_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/err.h"
#include "shardpipe/flow.h"
#include "shardpipe/loop.h"

#define SP_PUTPROG_MS 500

typedef struct sp_putprog sp_putprog;

/* *out: NULL when fd is not a terminal (nothing to do), else running. */
int sp_putprog_start(sp_loop *loop, const sp_flow *flow, int fd, sp_putprog **out, sp_err *err);
/* Erases the line and stops. NULL is fine. */
void sp_putprog_free(sp_putprog *p);

/* The line (without the redraw codes) for counters `now`, `ms` after `prev`. */
void sp_putprog_format(char *out, size_t n, const sp_flow_counters *prev, const sp_flow_counters *now,
                        uint64_t ms);

#endif
