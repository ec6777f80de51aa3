#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shardpipe/err.h"

size_t sp_utf8_cut(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t k = 0;               /* continuation bytes at the end */
    while (k < n && k < 3 && (p[n - 1 - k] & 0xc0) == 0x80)
        k++;
    if (k == n)
        return n;
    unsigned char lead = p[n - 1 - k];
    size_t len = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return len > k + 1 ? n - 1 - k : n;
}

/* After a vsnprintf into msg that needed `need` bytes: a cut one ends
 * on a character boundary. */
static void cut_whole(char *msg, size_t size, int need)
{
    if (need >= 0 && (size_t)need >= size)
        msg[sp_utf8_cut(msg, size - 1)] = '\0';
}

static int set(sp_err *err, enum sp_errcode code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return SP_ERR;
    err->code = code;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    cut_whole(err->msg, sizeof err->msg, n);
    return SP_ERR;
}

int sp_err_set(sp_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(err, SP_E_FAILED, fmt, ap);
    va_end(ap);
    return SP_ERR;
}

int sp_err_setc(sp_err *err, enum sp_errcode code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(err, code, fmt, ap);
    va_end(ap);
    return SP_ERR;
}

int sp_err_prefix(sp_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return SP_ERR;
    char old[SP_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    cut_whole(err->msg, sizeof err->msg, n);
    if (n >= 0 && (size_t)n < sizeof err->msg) {
        size_t left = sizeof err->msg - (size_t)n;
        cut_whole(err->msg + n, left, snprintf(err->msg + n, left, ": %s", old));
    }
    return SP_ERR;
}

void sp_err_clear(sp_err *err)
{
    if (err != NULL) {
        err->msg[0] = '\0';
        err->code = SP_E_NONE;
    }
}
