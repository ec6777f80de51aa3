/* Log lines, on stderr or in a file (reopened on request, for log
 * rotation; lines in a file carry an ISO-8601 UTC time). The logger is a
 * value owned by the program's context, not a global. Callers never pass
 * secrets: credentials are referred to by their source only. Also owns
 * sp_log_repeat, the pacing of an error that lasts. */
#ifndef SHARDPIPE_LOG_H
#define SHARDPIPE_LOG_H

#include <stdint.h>
#include <stdio.h>
#include "shardpipe/err.h"

enum sp_log_level { SP_LOG_ERROR = 0, SP_LOG_WARN, SP_LOG_INFO, SP_LOG_DEBUG };

typedef struct sp_log {
    enum sp_log_level level;
    FILE *out;            /* NULL: stderr */
    int timestamps;       /* prefix lines with an ISO-8601 UTC time */
    char *path;           /* set by sp_log_open: the file out writes to (owned) */
} sp_log;

int sp_log_level_parse(const char *s, enum sp_log_level *out);
void sp_log_msg(const sp_log *lg, enum sp_log_level lvl, const char *fmt, ...) SP_PRINTF(3, 4);
/* Always written, whatever the level, labelled "stats" (SIGUSR1's line). */
void sp_log_stats(const sp_log *lg, const char *fmt, ...) SP_PRINTF(2, 3);

/* Lines go to the file at path from now on (appended, created 0640), with
 * time stamps. On failure nothing changes and err names the path. */
int sp_log_open(sp_log *lg, const char *path, sp_err *err);
/* Opens the file's path again (it was rotated: renamed or removed) and
 * switches to it; on failure the old stream stays. No file: nothing. */
int sp_log_reopen(sp_log *lg, sp_err *err);
/* Closes a file opened with sp_log_open; lines go to stderr again. */
void sp_log_close(sp_log *lg);

/* Standard error is systemd's journal (JOURNAL_STREAM names it), which
 * stamps every line itself. */
int sp_log_stderr_is_journal(void);

#define sp_log_error(lg, ...) sp_log_msg((lg), SP_LOG_ERROR, __VA_ARGS__)
#define sp_log_warn(lg, ...) sp_log_msg((lg), SP_LOG_WARN, __VA_ARGS__)
#define sp_log_info(lg, ...) sp_log_msg((lg), SP_LOG_INFO, __VA_ARGS__)
#define sp_log_debug(lg, ...) sp_log_msg((lg), SP_LOG_DEBUG, __VA_ARGS__)

/* An error that lasts (credentials refused, a stream missing) is logged at
 * once and then again while it lasts, after gaps that double from first_ms
 * up to cap_ms: never silent, never a flood. Zeroed: no error. */
typedef struct sp_log_repeat {
    uint64_t next_ms;     /* no line before this */
    uint32_t gap_ms;      /* 0: the error is not going on */
    uint64_t held;        /* occurrences since the last line, not logged */
} sp_log_repeat;

#define SP_LOG_REPEAT_FIRST_MS 30000
#define SP_LOG_REPEAT_CAP_MS (10 * 60000)

/* One more occurrence at now_ms: 1 when a line is due (r->held then says
 * how many were not logged since the last one; the caller writes the line
 * and sets held to 0), 0 when it is counted only. */
int sp_log_repeat_due(sp_log_repeat *r, uint64_t now_ms, uint32_t first_ms, uint32_t cap_ms);
/* The error has ended: 1 when it was going on (worth an info line). */
int sp_log_repeat_end(sp_log_repeat *r);

#endif
