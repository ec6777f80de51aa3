/* Socket sources: TCP and unix stream sockets (many clients, one record
 * per line) and UDP (one datagram is one record, or each of its lines is).
 *
 * Memory is bounded whatever the input rate: each stream client holds at
 * most max_line bytes of an unfinished line (longer lines go through the
 * oversize policy, never a bigger buffer), clients are at most max_clients,
 * and reads go through one 64 KiB buffer per source.
 *
 * Decisions:
 * - Listening starts in sp_socket_source_new; pause right after if the
 *   pipeline is not ready.
 * - A connection beyond max_clients is accepted and closed at once (the
 *   peer sees the connection end, not a hang in the backlog) and counted
 *   as rejected; a warning is logged at most every 10 seconds.
 * - Backpressure: sp_socket_source_pause stops reading every stream client
 *   and stops accepting; unread data waits in the kernel (the peer's
 *   writes block once the socket buffers fill). Independently of pause,
 *   a stream client checks sink.full before each read: when full, the
 *   source pauses itself and looks again every 50 ms (or at the next
 *   sp_socket_source_pause(s, 0)). A datagram received while paused or
 *   while sink.full is counted as dropped.
 * - Fairness: one wake-up reads at most 64 KiB from a client, at most 64
 *   datagrams, and accepts at most 64 connections.
 * - A client that disconnects (end of file or an error such as a reset)
 *   has its last unterminated line emitted (SP_FRAME_UNTERMINATED). A stop
 *   first takes the connections still in the listen queue and reads what
 *   the kernel holds for every client (up to 64 MiB in all), so what was
 *   sent before a stop is delivered. A client that is then in the middle
 *   of a line is read on to that line's end (or its disconnect) and no
 *   further; if the owner gives up first (sp_socket_source_abandon), the
 *   unfinished line is dropped and counted as partial, never sent cut.
 * - Datagrams: one trailing newline is stripped; an empty datagram gives
 *   no record. A datagram longer than max_line goes through the oversize
 *   policy like a line (split pieces carry SP_FRAME_PART). With udp_lines
 *   each line is a record and the last line need not end with a newline.
 * - truncated_terminator replaces the tail of a truncated record, so the
 *   record still fits in max_line bytes; it must be shorter than max_line.
 * - The listening socket is listen.h's: numeric bind addresses only (no
 *   DNS at start-up), and a unix socket file of mode 0660 that replaces a
 *   stale one and is removed at stop/free if it is still ours.
 * - Records go to sink.record with a no-op ack, token NULL and tag 0:
 *   socket input cannot be replayed, so nothing waits for the ack.
 * - sink.record may call sp_socket_source_pause, but must not stop or
 *   free the source. When the sink fails, the source closes every socket
 *   and reports the error through on_fail from a timer, so on_fail may
 *   free the source. */
#ifndef SHARDPIPE_SOURCE_SOCKET_H
#define SHARDPIPE_SOURCE_SOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/err.h"
#include "shardpipe/framer.h"
#include "shardpipe/log.h"
#include "shardpipe/loop.h"
#include "shardpipe/source.h"

typedef struct sp_socket_source sp_socket_source;

typedef void (*sp_socket_fail_fn)(void *arg, const char *msg);

typedef struct sp_socket_source_opts {
    enum sp_source_kind kind;   /* SP_SRC_TCP, SP_SRC_UDP or SP_SRC_UNIX */
    const char *bind;           /* tcp/udp: numeric address, NULL: "127.0.0.1" */
    int port;                   /* tcp/udp: 0..65535, 0: an ephemeral port */
    const char *path;           /* unix: the socket file */
    size_t max_line;            /* largest record data, >= 1 */
    enum sp_oversize oversize;  /* for longer lines and datagrams */
    const char *truncated_terminator; /* NULL or "": none */
    unsigned max_clients;       /* tcp/unix: 0: 64 */
    int udp_lines;              /* udp: each line of a datagram is a record */
    sp_sink sink;               /* record is required; full may be NULL */
    const sp_log *log;          /* NULL: stderr */
    const char *name;           /* flow name for messages; NULL: none */
    sp_socket_fail_fn on_fail;  /* the sink failed and the source stopped; may be NULL */
    void *fail_arg;
} sp_socket_source_opts;

typedef struct sp_socket_source_stats {
    unsigned clients;           /* connected now */
    uint64_t accepted;          /* connections taken as clients */
    uint64_t rejected;          /* connections closed at once: max_clients reached */
    uint64_t records;           /* records handed to the sink */
    uint64_t lines;             /* lines (and datagrams) framed */
    uint64_t datagrams;         /* datagrams received (dropped ones included) */
    uint64_t dropped_datagrams; /* received while paused or while the sink was full */
    uint64_t bytes;             /* bytes received, from clients and datagrams */
    uint64_t split;             /* oversize lines/datagrams split */
    uint64_t truncated;         /* oversize lines/datagrams truncated */
    uint64_t dropped_oversize;  /* oversize lines/datagrams dropped */
    uint64_t partial;           /* lines cut short at a stop and not sent */
    size_t held;                /* bytes of unfinished lines held now (<= clients * max_line) */
} sp_socket_source_stats;

/* Binds, listens and starts watching on loop. Errors name the flow and the
 * address: "flow web: tcp 127.0.0.1:5140: bind: Address already in use". */
sp_socket_source *sp_socket_source_new(sp_loop *loop, const sp_socket_source_opts *o,
                                       sp_err *err);

/* The bound port (useful with port 0); 0 for a unix socket. */
int sp_socket_source_port(const sp_socket_source *s);

/* paused 1: stop reading stream clients and accepting; datagrams are read
 * and dropped. paused 0: resume. SP_ERR only if the loop cannot watch a
 * descriptor (the source has then failed). */
int sp_socket_source_pause(sp_socket_source *s, int paused, sp_err *err);

/* Reads what clients had sent (see above), then closes the listener and
 * every client that is not in the middle of a line; the others are read
 * on to their line's end and closed then (sp_socket_source_draining).
 * Idempotent. SP_ERR if the sink refused a record (the other clients are
 * still closed) or if called from inside sink.record. */
int sp_socket_source_stop(sp_socket_source *s, sp_err *err);
/* 1 while clients are reading on to a line's end after a stop. */
int sp_socket_source_draining(const sp_socket_source *s);
/* The owner cannot wait (the shutdown deadline): lines still unfinished
 * are dropped, counted as partial, with one warning. */
void sp_socket_source_abandon(sp_socket_source *s);

sp_socket_source_stats sp_socket_source_stats_get(const sp_socket_source *s);

/* The error that stopped the source, or NULL. */
const char *sp_socket_source_failed(const sp_socket_source *s);

/* Closes everything without emitting; call stop first to keep partial
 * lines. NULL is fine. */
void sp_socket_source_free(sp_socket_source *s);

#endif
