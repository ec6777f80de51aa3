#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

static FILE *open_append(const char *path, sp_err *err)
{
    /* Not world-readable: the lines name streams, roles and hosts. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return sp_err_setc(err, errno == ENOENT ? SP_E_NOENT : SP_E_IO, "log file %s: %s", path,
                           strerror(errno)), NULL;
    FILE *f = fdopen(fd, "a");
    if (f == NULL) {
        int e = errno;
        (void)close(fd);
        sp_err_setc(err, SP_E_IO, "log file %s: %s", path, strerror(e));
    }
    return f;
}

int sp_log_open(sp_log *lg, const char *path, sp_err *err)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return sp_err_setc(err, SP_E_NOMEM, "log file %s: out of memory", path);
    FILE *f = open_append(path, err);
    if (f == NULL) {
        free(copy);
        return SP_ERR;
    }
    sp_log_close(lg);
    lg->out = f;
    lg->path = copy;
    lg->timestamps = 1;
    return SP_OK;
}

int sp_log_reopen(sp_log *lg, sp_err *err)
{
    if (lg->path == NULL)
        return SP_OK;
    FILE *f = open_append(lg->path, err);
    if (f == NULL)
        return SP_ERR;
    if (lg->out != NULL)
        (void)fclose(lg->out);   /* each line was flushed as written */
    lg->out = f;
    return SP_OK;
}

void sp_log_close(sp_log *lg)
{
    if (lg->path == NULL)
        return;
    if (lg->out != NULL)
        (void)fclose(lg->out);
    lg->out = NULL;
    free(lg->path);
    lg->path = NULL;
}

int sp_log_repeat_due(sp_log_repeat *r, uint64_t now_ms, uint32_t first_ms, uint32_t cap_ms)
{
    if (r->gap_ms != 0 && now_ms < r->next_ms) {
        r->held++;
        return 0;
    }
    /* The first line at once; each later one after twice the last gap. */
    r->gap_ms = r->gap_ms == 0 ? first_ms : r->gap_ms >= cap_ms / 2 ? cap_ms : r->gap_ms * 2;
    if (r->gap_ms == 0)
        r->gap_ms = 1;
    r->next_ms = now_ms + r->gap_ms;
    return 1;
}

int sp_log_repeat_end(sp_log_repeat *r)
{
    int was = r->gap_ms != 0;
    memset(r, 0, sizeof *r);
    return was;
}

int sp_log_stderr_is_journal(void)
{
    /* "DEVICE:INODE" of the journal's stream, as systemd.exec(5) says */
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char end;
    if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2 || fstat(2, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
