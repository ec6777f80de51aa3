/* Checks on user regular expressions before glibc compiles them (ere.h).
 * The scan follows glibc's ERE syntax closely enough to find every
 * back-reference and to bound the size from above; whatever it misreads
 * is a pattern regcomp refuses anyway. */
#include <ctype.h>
#include <string.h>

#include "shardpipe/ere.h"

#define SAT (1ULL << 40)        /* sizes saturate here: far above the limit */

static unsigned long long sat_add(unsigned long long a, unsigned long long b)
{
    return a + b > SAT ? SAT : a + b;
}

static unsigned long long sat_mul(unsigned long long a, unsigned long long b)
{
    if (a != 0 && b > SAT / a)
        return SAT;
    return a * b;
}

/* c is at '[': the byte after the bracket expression's ']' (or the end of
 * the string). Inside, ']' first is literal, '\' always is, and [:x:],
 * [.x.], [=x=] are single terms. */
static const char *skip_bracket(const char *c)
{
    c++;
    if (*c == '^')
        c++;
    if (*c == ']')
        c++;
    while (*c != '\0' && *c != ']') {
        if (*c == '[' && (c[1] == ':' || c[1] == '.' || c[1] == '=')) {
            char close[3] = {c[1], ']', '\0'};
            const char *e = strstr(c + 2, close);
            if (e == NULL)
                return c + strlen(c);
            c = e + 2;
            continue;
        }
        c++;
    }
    return *c != '\0' ? c + 1 : c;
}

static unsigned long long number(const char **pc)
{
    unsigned long long v = 0;
    while (isdigit((unsigned char)**pc)) {
        v = sat_add(sat_mul(v, 10), (unsigned long long)(**pc - '0'));
        (*pc)++;
    }
    return v;
}

/* c is at '{': when an interval {n}, {n,}, {,m} or {n,m} follows, sets
 * *copies to the copies of the repeated part glibc makes (m, or n + 1 for
 * {n,}, which is n copies and a starred one) and returns the byte after
 * '}'; else NULL. */
static const char *interval(const char *c, unsigned long long *copies)
{
    const char *p = c + 1;
    int lo_given = isdigit((unsigned char)*p);
    unsigned long long lo = number(&p), hi = lo;
    if (*p == ',') {
        p++;
        if (isdigit((unsigned char)*p))
            hi = number(&p);
        else
            hi = sat_add(lo, 1);
    } else if (!lo_given) {
        return NULL;
    }
    if (*p != '}')
        return NULL;
    *copies = hi > 0 ? hi : 1;
    return p + 1;
}

/* A new piece of size 1: the last one is finished. */
static void atom(unsigned long long *sum, unsigned long long *last)
{
    *sum = sat_add(*sum, *last);
    *last = 1;
}

int sp_ere_bad_escape(const char *re, sp_err *err)
{
    for (const char *c = re; *c != '\0';) {
        if (*c == '[') {
            c = skip_bracket(c);   /* its backslashes are literal */
            continue;
        }
        if (*c == '\\') {
            unsigned char e = (unsigned char)c[1];
            if (e == '\0')
                break;
            if (isalpha(e) && strchr("wWsSbB", e) == NULL)
                return sp_err_set(err, "\\%c is not an escape of POSIX extended regular expressions%s", e,
                                  e == 'd' ? " (use [0-9])" : e == 'D' ? " (use [^0-9])" : "");
            c += 2;
            continue;
        }
        c++;
    }
    return SP_OK;
}

int sp_ere_check(const char *re, sp_err *err)
{
    if (sp_ere_bad_escape(re, err) != SP_OK)
        return SP_ERR;
    /* Per open group: the size of its finished pieces and of the last one,
     * which a following quantifier multiplies. */
    unsigned long long sum[SP_ERE_DEPTH_MAX + 1], last[SP_ERE_DEPTH_MAX + 1];
    size_t d = 0;
    sum[0] = last[0] = 0;
    for (const char *c = re; *c != '\0';) {
        unsigned long long copies;
        const char *next;
        switch (*c) {
        case '\\':
            if (c[1] >= '1' && c[1] <= '9')
                return sp_err_set(err, "uses a back-reference (\\%c): back-references are refused, as "
                                       "matching one takes time exponential in the length of the line",
                                  c[1]);
            atom(&sum[d], &last[d]);
            c += c[1] != '\0' ? 2 : 1;
            break;
        case '[':
            atom(&sum[d], &last[d]);
            c = skip_bracket(c);
            break;
        case '(':
            if (d == SP_ERE_DEPTH_MAX)
                return sp_err_set(err, "nests groups more than %d deep", SP_ERE_DEPTH_MAX);
            d++;
            sum[d] = last[d] = 0;
            c++;
            break;
        case ')':
            if (d == 0) {       /* unmatched: regcomp decides */
                atom(&sum[d], &last[d]);
            } else {
                unsigned long long inner = sat_add(sum[d], last[d]);
                d--;
                sum[d] = sat_add(sum[d], last[d]);
                last[d] = sat_add(inner, 1);
            }
            c++;
            break;
        case '|':
            sum[d] = sat_add(sum[d], last[d]);
            last[d] = 0;
            c++;
            break;
        case '+':               /* glibc reads x+ as xx* */
            last[d] = sat_mul(last[d], 2);
            c++;
            break;
        case '*':
        case '?':
            c++;
            break;
        case '{':
            if ((next = interval(c, &copies)) != NULL) {
                last[d] = sat_mul(last[d], copies);
                c = next;
            } else {            /* not an interval: a literal to us */
                atom(&sum[d], &last[d]);
                c++;
            }
            break;
        default:
            atom(&sum[d], &last[d]);
            c++;
        }
    }
    while (d > 0) {             /* unclosed groups: regcomp refuses them */
        unsigned long long inner = sat_add(sum[d], last[d]);
        d--;
        sum[d] = sat_add(sum[d], sat_add(last[d], sat_add(inner, 1)));
        last[d] = 0;
    }
    unsigned long long size = sat_add(sum[0], last[0]);
    if (size > SP_ERE_POSITIONS_MAX)
        return sp_err_set(err, "expands to %s%llu positions, more than %d (glibc copies a repeated "
                               "part once per repetition: x{1,255} is 255 copies of x, x+ two, and "
                               "nested repetitions multiply); compiling and matching it would cost too "
                               "much: use fewer or smaller repetitions",
                          size >= SAT ? "over " : "", size, SP_ERE_POSITIONS_MAX);
    return SP_OK;
}

int sp_ere_compile(regex_t *out, const char *re, int cflags, sp_err *err)
{
    if (sp_ere_check(re, err) != SP_OK)
        return SP_ERR;
    int rc = regcomp(out, re, REG_EXTENDED | cflags);
    if (rc != 0) {
        char why[128];
        regerror(rc, out, why, sizeof why);
        return sp_err_set(err, "is not a valid extended regular expression: %s", why);
    }
    return SP_OK;
}
