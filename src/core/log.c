#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "shardpipe/log.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int sp_log_level_parse(const char *s, enum sp_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum sp_log_level)i;
            return SP_OK;
        }
    }
    return SP_ERR;
}

static void vlog(const sp_log *lg, const char *label, const char *fmt, va_list ap)
{
    FILE *out = (lg && lg->out) ? lg->out : stderr;
    /* One buffer, one write: lines from one process never interleave. */
    char line[2048];
    size_t n = 0;
    if (lg && lg->timestamps) {
        struct timespec ts;
        struct tm tm;
        if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm) != NULL)
            n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    }
    int k = snprintf(line + n, sizeof line - n, "shardpipe: %s: ", label);
    if (k > 0 && (size_t)k < sizeof line - n)
        n += (size_t)k;
    k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    if (k > 0)
        n = (size_t)k < sizeof line - n ? n + (size_t)k : sizeof line - 1;
    if (n < sizeof line - 1)
        line[n++] = '\n';
    else
        line[sizeof line - 2] = '\n', n = sizeof line - 1;
    fwrite(line, 1, n, out);
    fflush(out);
}

void sp_log_msg(const sp_log *lg, enum sp_log_level lvl, const char *fmt, ...)
{
    if (lg != NULL && lvl > lg->level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lg, level_names[lvl], fmt, ap);
    va_end(ap);
}

void sp_log_stats(const sp_log *lg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lg, "stats", fmt, ap);
    va_end(ap);
}
