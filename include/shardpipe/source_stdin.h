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
/* Ends input now, as at end of file: what was read, a partial last line
 * included, is passed on (standard input cannot be re-read later). */
void sp_stdin_source_stop(sp_stdin_source *s);
int sp_stdin_source_done(const sp_stdin_source *s);
const sp_framer_stats *sp_stdin_source_stats(const sp_stdin_source *s);
/* Restores the descriptor's flags (it is shared with the shell). */
void sp_stdin_source_free(sp_stdin_source *s);

#endif
