/* Errors are values: a status, and an sp_err with a code that callers
 * decide by and a message a person can act on. Code never compares the
 * text. */
#ifndef SHARDPIPE_ERR_H
#define SHARDPIPE_ERR_H

#include <stddef.h>

#define SP_OK 0
#define SP_ERR (-1)

#define SP_ERR_MSG_MAX 512

/* What kind of failure it was. */
enum sp_errcode {
    SP_E_NONE = 0,
    SP_E_FAILED,       /* no more precise code */
    SP_E_NOMEM,        /* out of memory */
    SP_E_NOENT,        /* a file or directory that does not exist */
    SP_E_INVALID,      /* bad input or configuration: trying again will not help */
    SP_E_IO,           /* a system call failed */
    SP_E_TRANSIENT     /* may succeed when tried again later */
};

typedef struct sp_err {
    char msg[SP_ERR_MSG_MAX];
    enum sp_errcode code;
} sp_err;

#if defined(__GNUC__)
#define SP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SP_PRINTF(a, b)
#endif

/* Sets the message (truncated to fit, at a UTF-8 character boundary) and
 * returns SP_ERR, so callers can write `return sp_err_set(err, "...")`.
 * err may be NULL. Put what identifies the failure first: a long message
 * loses its end. */
int sp_err_set(sp_err *err, const char *fmt, ...) SP_PRINTF(2, 3);
/* The same with a code (sp_err_set's is SP_E_FAILED). */
int sp_err_setc(sp_err *err, enum sp_errcode code, const char *fmt, ...) SP_PRINTF(3, 4);

/* Puts context in front of an existing message: "reading X: <old>". The
 * code stays. */
int sp_err_prefix(sp_err *err, const char *fmt, ...) SP_PRINTF(2, 3);

void sp_err_clear(sp_err *err);

/* Where to cut s, whose first n bytes are kept, so that no UTF-8
 * character is split: n, or less when the last character kept would be
 * incomplete. Bytes that are not UTF-8 are kept as they are. */
size_t sp_utf8_cut(const char *s, size_t n);

#endif
