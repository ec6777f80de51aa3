/* Errors are values: a status code plus a message a person can act on. */
#ifndef SHARDPIPE_ERR_H
#define SHARDPIPE_ERR_H

#include <stddef.h>

#define SP_OK 0
#define SP_ERR (-1)

#define SP_ERR_MSG_MAX 512

typedef struct sp_err {
    char msg[SP_ERR_MSG_MAX];
} sp_err;

#if defined(__GNUC__)
#define SP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SP_PRINTF(a, b)
#endif

/* Sets the message (truncated to fit) and returns SP_ERR, so callers can
 * write `return sp_err_set(err, "...")`. err may be NULL. */
int sp_err_set(sp_err *err, const char *fmt, ...) SP_PRINTF(2, 3);

/* Puts context in front of an existing message: "reading X: <old>". */
int sp_err_prefix(sp_err *err, const char *fmt, ...) SP_PRINTF(2, 3);

void sp_err_clear(sp_err *err);

#endif
