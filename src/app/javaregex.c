/* Java regex to POSIX ERE (javaregex.h). */
#include <ctype.h>
#include <string.h>

#include "shardpipe/buf.h"
#include "shardpipe/javaregex.h"

static int ere_literal(sp_buf *b, char c)
{
    if (strchr(".[]()*+?{}|^$\\", c) != NULL && sp_buf_putc(b, '\\') != SP_OK)
        return SP_ERR;
    return sp_buf_putc(b, c);
}

/* Java's one-letter escapes for control characters, or -1. */
static int java_control(char e)
{
    switch (e) {
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'a': return '\a';
    case 'e': return 0x1b;
    }
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \xhh with an ASCII value, or -1. */
static int java_hex(const char *s)
{
    if (s[0] != 'x' || hexval(s[1]) < 0 || hexval(s[2]) < 0)
        return -1;
    int v = hexval(s[1]) * 16 + hexval(s[2]);
    return v >= 1 && v < 0x80 ? v : -1;
}

/* One Java character class "[...]" starting at *pp, as a POSIX bracket
 * expression. In a bracket ']' is literal only first, '-' only first or
 * last, '^' anywhere but first, and '\' always: escaped ones are collected
 * and put where they keep their meaning. */
static int java_bracket(const char **pp, sp_buf *b, sp_err *err)
{
    const char *c = *pp + 1;
    char body[512];
    size_t n = 0;
    int neg = 0, rb = 0, dash = 0, caret = 0, bs = 0, lb = 0, last_special = 0;
    if (*c == '^') {
        neg = 1;
        c++;
    }
    if (*c == ']') {
        rb = 1;
        c++;
    }
    for (;;) {
        char ch = *c;
        const char *add = NULL;
        char one[2] = {0, 0};
        int special = 0;
        if (ch == '\0')
            return sp_err_set(err, "a character class '[' is not closed");
        if (ch == ']')
            break;
        if (ch == '[' || (ch == '&' && c[1] == '&'))
            return sp_err_set(err, "nested classes and intersections ('[' or '&&' inside [...]) "
                              "have no POSIX equivalent");
        if (ch == '\\') {
            char e = c[1];
            int v;
            c += 2;
            if (e == 'd') {
                add = "0-9";
            } else if (e == 's') {
                add = "[:space:]";
            } else if (e == 'w') {
                add = "[:alnum:]_";
            } else if ((v = java_control(e)) >= 0 || (v = java_hex(c - 1)) >= 0) {
                if (e == 'x')
                    c += 2;
                one[0] = (char)v;
            } else if (e != '\0' && !isalnum((unsigned char)e)) {
                one[0] = e;
            } else {
                return sp_err_set(err, "\\%c inside [...] has no POSIX equivalent", e ? e : '?');
            }
        } else if (ch == '-' && n > 0 && c[1] != ']') {
            if (last_special)
                return sp_err_set(err, "a range in [...] may not start at an escaped ']', '\\', '[', '^' or '-'");
            add = "-";
            c++;
        } else {
            one[0] = ch;
            c++;
        }
        if (add == NULL) {
            switch (one[0]) {
            case ']': rb = 1; special = 1; break;
            case '-': dash = 1; special = 1; break;
            case '^': caret = 1; special = 1; break;
            case '\\': bs = 1; special = 1; break;
            case '[': lb = 1; special = 1; break;
            default: add = one;
            }
        }
        if (add != NULL) {
            size_t k = strlen(add);
            if (n + k >= sizeof body)
                return sp_err_set(err, "a character class is too long");
            memcpy(body + n, add, k);
            n += k;
        }
        last_special = special;
    }
    body[n] = '\0';
    *pp = c + 1;
    /* A lone literal caret cannot be a bracket expression of its own. */
    if (caret && !neg && !rb && n == 0 && !bs && !lb && !dash)
        return sp_buf_puts(b, "\\^");
    sp_buf_putc(b, '[');
    if (neg)
        sp_buf_putc(b, '^');
    if (rb)
        sp_buf_putc(b, ']');
    sp_buf_puts(b, body);
    if (bs)
        sp_buf_putc(b, '\\');
    if (lb)
        sp_buf_putc(b, '[');
    if (caret && !neg && !rb && n == 0 && !bs && !lb) {
        sp_buf_puts(b, "-^");           /* '-' first is literal, so '^' is not first */
        dash = 0;
    } else if (caret) {
        sp_buf_putc(b, '^');
    }
    if (dash)
        sp_buf_putc(b, '-');
    return sp_buf_putc(b, ']');
}

/* A repetition {n}, {n,} or {n,m} at s: its length, or 0. */
static size_t java_repeat(const char *s)
{
    size_t i = 1;
    if (!isdigit((unsigned char)s[i]))
        return 0;
    while (isdigit((unsigned char)s[i]))
        i++;
    if (s[i] == ',') {
        i++;
        while (isdigit((unsigned char)s[i]))
            i++;
    }
    return s[i] == '}' ? i + 1 : 0;
}

/* The pattern is wrapped in ^( ) for lookingAt(); see javaregex.h. */
int sp_javaregex_to_ere(const char *in, char **out, sp_err *err)
{
    sp_buf b;
    sp_buf_init(&b, SP_JAVAREGEX_ERE_MAX);
    sp_buf_puts(&b, "^(");
    const char *c = in;
    int rc = SP_OK;
    while (rc == SP_OK && *c != '\0') {
        char ch = *c;
        if (ch == '\\') {
            char e = c[1];
            int v;
            if (e == 'Q') {
                const char *end = strstr(c + 2, "\\E");
                const char *stop = end ? end : c + strlen(c);
                for (const char *q = c + 2; q < stop; q++)
                    ere_literal(&b, *q);
                c = end ? end + 2 : stop;
                continue;
            }
            switch (e) {
            case 'd': sp_buf_puts(&b, "[0-9]"); break;
            case 'D': sp_buf_puts(&b, "[^0-9]"); break;
            case 's': sp_buf_puts(&b, "[[:space:]]"); break;
            case 'S': sp_buf_puts(&b, "[^[:space:]]"); break;
            case 'w': sp_buf_puts(&b, "[[:alnum:]_]"); break;
            case 'W': sp_buf_puts(&b, "[^[:alnum:]_]"); break;
            case 'b': sp_buf_puts(&b, "\\b"); break;
            case 'B': sp_buf_puts(&b, "\\B"); break;
            default:
                if ((v = java_control(e)) >= 0) {
                    ere_literal(&b, (char)v);
                } else if ((v = java_hex(c + 1)) >= 0) {
                    ere_literal(&b, (char)v);
                    c += 2;
                } else if (e != '\0' && !isalnum((unsigned char)e)) {
                    ere_literal(&b, e);
                } else if (e == '\0') {
                    rc = sp_err_set(err, "ends with a lone backslash");
                } else if (e >= '1' && e <= '9') {
                    /* a back-reference: kept, for the check all patterns get to refuse */
                    sp_buf_putc(&b, '\\');
                    sp_buf_putc(&b, e);
                } else {
                    rc = sp_err_set(err, "\\%c has no POSIX equivalent; rewrite the pattern "
                                    "without it", e);
                }
            }
            c += 2;
            continue;
        }
        if (ch == '[') {
            rc = java_bracket(&c, &b, err);
            continue;
        }
        if (ch == '(' && c[1] == '?') {
            if (c[2] == ':') {
                sp_buf_putc(&b, '(');
                c += 3;
                continue;
            }
            rc = sp_err_set(err, "(?%c...) groups (look-around, flags, named groups) have no POSIX "
                            "equivalent", c[2] ? c[2] : '?');
            break;
        }
        if (ch == '{') {
            size_t k = java_repeat(c);
            if (k == 0) {
                rc = sp_err_set(err, "'{' does not start a repetition such as {2} or {1,3}");
                break;
            }
            sp_buf_append(&b, c, k);
            c += k;
        } else if (ch == '}') {
            sp_buf_puts(&b, "\\}");         /* a stray '}' is literal in Java */
            c++;
            continue;
        } else {
            sp_buf_putc(&b, ch);
            c++;
            if (ch != '*' && ch != '+' && ch != '?')
                continue;
        }
        /* after a quantifier: lazy matches the same lines, possessive may not */
        if (*c == '?')
            c++;
        else if (*c == '+')
            rc = sp_err_set(err, "possessive quantifiers (*+, ++, ?+, {n}+) have no POSIX equivalent");
    }
    if (rc == SP_OK)
        sp_buf_putc(&b, ')');
    if (rc == SP_OK && b.failed)
        rc = sp_err_set(err, "is too long");
    if (rc != SP_OK) {
        sp_buf_free(&b);
        return SP_ERR;
    }
    *out = b.data;              /* handed over: not freed */
    return SP_OK;
}
