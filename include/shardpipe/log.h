/* Log lines on stderr. The logger is a value owned by the program's
 * context, not a global. Callers never pass secrets: credentials are
 * referred to by their source only. */
#ifndef SHARDPIPE_LOG_H
#define SHARDPIPE_LOG_H

#include <stdio.h>
#include "shardpipe/err.h"

enum sp_log_level { SP_LOG_ERROR = 0, SP_LOG_WARN, SP_LOG_INFO, SP_LOG_DEBUG };

typedef struct sp_log {
    enum sp_log_level level;
    FILE *out;            /* NULL: stderr */
    int timestamps;       /* prefix lines with an ISO-8601 UTC time */
} sp_log;

int sp_log_level_parse(const char *s, enum sp_log_level *out);
void sp_log_msg(const sp_log *lg, enum sp_log_level lvl, const char *fmt, ...) SP_PRINTF(3, 4);
/* Always written, whatever the level, labelled "stats" (SIGUSR1's line). */
void sp_log_stats(const sp_log *lg, const char *fmt, ...) SP_PRINTF(2, 3);

#define sp_log_error(lg, ...) sp_log_msg((lg), SP_LOG_ERROR, __VA_ARGS__)
#define sp_log_warn(lg, ...) sp_log_msg((lg), SP_LOG_WARN, __VA_ARGS__)
#define sp_log_info(lg, ...) sp_log_msg((lg), SP_LOG_INFO, __VA_ARGS__)
#define sp_log_debug(lg, ...) sp_log_msg((lg), SP_LOG_DEBUG, __VA_ARGS__)

#endif
