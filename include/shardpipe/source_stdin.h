/* Standard input as a source: lines from a pipe, a terminal or a file. */
#ifndef SHARDPIPE_SOURCE_STDIN_H
#define SHARDPIPE_SOURCE_STDIN_H

#include "shardpipe/framer.h"
#include "shardpipe/log.h"
#include "shardpipe/loop.h"
#include "shardpipe/source.h"

typedef struct sp_stdin_source sp_stdin_source;

typedef struct sp_stdin_source_opts {
    int fd;                      /* normally STDIN_FILENO */
    size_t max_record;           /* data bytes per record */
    enum sp_oversize oversize;
    const char *truncated_terminator; /* NULL or "": none */
    sp_sink sink;
    void (*on_eof)(void *arg);   /* input ended (or stop): the framer is finished */
    void (*on_error)(void *arg, const char *msg);
    void *arg;
    const sp_log *log;
} sp_stdin_source_opts;

sp_stdin_source *sp_stdin_source_new(sp_loop *loop, const sp_stdin_source_opts *o, sp_err *err);
/* Stops reading while paused (the memory budget is full). */
void sp_stdin_source_pause(sp_stdin_source *s, int paused);
/* Ends input: at once when no line is in progress, else once the line in
 * progress has ended (read on to its newline, and not a byte further), or
 * at end of input. on_eof fires then. */
void sp_stdin_source_stop(sp_stdin_source *s);
/* 1 between a stop in a line and that line's end. */
int sp_stdin_source_draining(const sp_stdin_source *s);
/* The owner cannot wait any longer (the shutdown deadline): a line still in
 * progress is dropped and counted in stats.partial, with a warning; input
 * ends (on_eof fires). */
void sp_stdin_source_abandon(sp_stdin_source *s);
int sp_stdin_source_done(const sp_stdin_source *s);
const sp_framer_stats *sp_stdin_source_stats(const sp_stdin_source *s);
/* Restores the descriptor's flags (it is shared with the shell). */
void sp_stdin_source_free(sp_stdin_source *s);

#endif
