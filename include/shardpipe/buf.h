/* A growable byte buffer with a hard upper bound, so that no input can make
 * it grow without limit. Allocation failures are sticky (`failed`), so a
 * long sequence of appends can be checked once at the end. */
#ifndef SHARDPIPE_BUF_H
#define SHARDPIPE_BUF_H

#include <stddef.h>
#include "shardpipe/err.h"

typedef struct sp_buf {
    char *data;     /* always NUL-terminated when data != NULL */
    size_t len;
    size_t cap;
    size_t max;     /* largest len allowed */
    int failed;     /* set once an append did not fit or could not allocate */
} sp_buf;

#define SP_BUF_DEFAULT_MAX ((size_t)64 << 20)

void sp_buf_init(sp_buf *b, size_t max);
void sp_buf_free(sp_buf *b);
void sp_buf_reset(sp_buf *b);               /* len = 0, keeps memory, clears failed */

/* Each returns SP_OK, or SP_ERR (and sets b->failed) on overflow of max or
 * allocation failure. */
int sp_buf_reserve(sp_buf *b, size_t extra);
int sp_buf_append(sp_buf *b, const void *p, size_t n);
int sp_buf_puts(sp_buf *b, const char *s);
int sp_buf_putc(sp_buf *b, char c);
int sp_buf_printf(sp_buf *b, const char *fmt, ...) SP_PRINTF(2, 3);
/* Appends s as a JSON string literal, quotes included; bytes that are not
 * valid UTF-8 are escaped as \u00XX of the byte (lossy, only used for text
 * such as names and keys that the caller validated). */
int sp_buf_json_str(sp_buf *b, const char *s, size_t n);

/* Appends "key":"v" (v NULL: "key":null), after a comma when comma. */
int sp_buf_json_kv(sp_buf *b, const char *key, const char *v, int comma);

/* Turns a failed buffer into an error message. */
int sp_buf_check(const sp_buf *b, sp_err *err, const char *what);

/* Secrets never stay in freed memory: these zero (in a way the compiler
 * keeps) before freeing. NULL is fine. */
void sp_wipe_free(char *s);          /* a NUL-terminated string */
void sp_buf_wipe_free(sp_buf *b);    /* the whole allocation, then sp_buf_free */
/* Replaces *dst with a copy of src (NULL clears it), wiping the old one.
 * SP_ERR when out of memory (*dst is then left as it was). */
int sp_secret_set(char **dst, const char *src);

#endif
