/* What every source (file, socket, stdin) shares: the sink it hands
 * framed records to, and the acknowledgement that comes back. The pipeline
 * (pipe/) and the sources (sources/) both speak it, so it sits below them.
 * layer: core (a header without code)
 *
 * A record carries an opaque (token, tag) pair. The pipeline hands both
 * back through the source's ack function once the record is stored or
 * definitely given up, so a file source can advance its checkpoint and a
 * socket source can ignore it. A token must stay valid until every record
 * that carries it has been acknowledged. */
#ifndef SHARDPIPE_SOURCE_H
#define SHARDPIPE_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include "shardpipe/err.h"

enum sp_source_kind { SP_SRC_FILE = 0, SP_SRC_TCP, SP_SRC_UDP, SP_SRC_UNIX, SP_SRC_STDIN };
/* Where a file without a checkpoint starts. */
enum sp_start_pos { SP_START_END = 0, SP_START_BEGINNING };

/* stored: SP_ACK_STORED, SP_ACK_FAILED (refused for good: counted, and a
 * checkpoint may move past it, or it would hold back everything forever),
 * or SP_ACK_ABANDONED (not sent, at shutdown: a checkpoint must not move
 * past it, so that a restart reads it again). */
#define SP_ACK_STORED 1
#define SP_ACK_FAILED 0
#define SP_ACK_ABANDONED (-1)

typedef void (*sp_ack_token_fn)(void *token, uint64_t tag, int stored);

typedef struct sp_sink {
    /* One framed record (flags: SP_FRAME_*). Returning SP_ERR stops the
     * source with that error. The sink copies data. */
    int (*record)(void *arg, const char *data, size_t len, unsigned flags,
                  sp_ack_token_fn ack, void *token, uint64_t tag, sp_err *err);
    /* 1 while the pipeline's memory budget is full: stream sources stop
     * reading, datagram sources count what they drop. */
    int (*full)(void *arg);
    void *arg;
} sp_sink;

#endif
