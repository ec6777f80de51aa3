#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shardpipe/err.h"

int sp_err_set(sp_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return SP_ERR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
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
    if (n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", old);
    return SP_ERR;
}

void sp_err_clear(sp_err *err)
{
    if (err != NULL)
        err->msg[0] = '\0';
}
