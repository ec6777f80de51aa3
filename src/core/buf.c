#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/buf.h"

void sp_buf_init(sp_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max ? max : SP_BUF_DEFAULT_MAX;
}

void sp_buf_free(sp_buf *b)
{
    free(b->data);
    size_t max = b->max;
    memset(b, 0, sizeof *b);
    b->max = max;
}

void sp_buf_reset(sp_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

int sp_buf_reserve(sp_buf *b, size_t extra)
{
    if (b->failed)
        return SP_ERR;
    if (extra > b->max || b->len > b->max - extra) {
        b->failed = 1;
        return SP_ERR;
    }
    size_t need = b->len + extra + 1; /* room for the NUL */
    if (need <= b->cap)
        return SP_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return SP_ERR;
    }
    b->data = p;
    b->cap = cap;
    return SP_OK;
}

int sp_buf_append(sp_buf *b, const void *p, size_t n)
{
    if (sp_buf_reserve(b, n) != SP_OK)
        return SP_ERR;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SP_OK;
}

int sp_buf_puts(sp_buf *b, const char *s)
{
    return sp_buf_append(b, s, strlen(s));
}

int sp_buf_putc(sp_buf *b, char c)
{
    return sp_buf_append(b, &c, 1);
}

int sp_buf_printf(sp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return SP_ERR;
    }
    if (sp_buf_reserve(b, (size_t)n) != SP_OK)
        return SP_ERR;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SP_OK;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

int sp_buf_json_str(sp_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (sp_buf_reserve(b, n + 2) != SP_OK)
        return SP_ERR;
    size_t i = 0;
    while (i < n && p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
        i++;
    if (i == n) {
        /* Nothing to escape (a partition key, as a rule): one copy. */
        char *o = b->data + b->len;
        o[0] = '"';
        memcpy(o + 1, s, n);
        o[n + 1] = '"';
        b->len += n + 2;
        b->data[b->len] = '\0';
        return SP_OK;
    }
    sp_buf_putc(b, '"');
    i = 0;
    while (i < n) {
        /* A run of printable ASCII needs no escape: one append for all of
         * it (a partition key is usually one run). */
        size_t j = i;
        while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\')
            j++;
        if (j > i) {
            sp_buf_append(b, p + i, j - i);
            i = j;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sp_buf_append(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sp_buf_append(b, esc, 6);
            i++;
        } else {
            size_t l = utf8_seq(p + i, n - i);
            if (l == 0) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                sp_buf_append(b, esc, 6);
                i++;
            } else {
                sp_buf_append(b, p + i, l);
                i += l;
            }
        }
    }
    return sp_buf_putc(b, '"');
}

int sp_buf_check(const sp_buf *b, sp_err *err, const char *what)
{
    if (!b->failed)
        return SP_OK;
    return sp_err_set(err, "%s: out of memory or over the %zu-byte limit", what, b->max);
}

void sp_wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void sp_buf_wipe_free(sp_buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
    sp_buf_free(b);
}

int sp_buf_json_kv(sp_buf *b, const char *key, const char *v, int comma)
{
    if (comma)
        sp_buf_putc(b, ',');
    sp_buf_json_str(b, key, strlen(key));
    sp_buf_putc(b, ':');
    if (v)
        return sp_buf_json_str(b, v, strlen(v));
    return sp_buf_puts(b, "null");
}

int sp_secret_set(char **dst, const char *src)
{
    char *n = NULL;
    if (src != NULL && (n = strdup(src)) == NULL)
        return SP_ERR;
    sp_wipe_free(*dst);
    *dst = n;
    return SP_OK;
}
