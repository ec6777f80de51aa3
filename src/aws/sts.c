/* STS AssumeRole over the Query protocol: a form-encoded POST /, signed
 * with SigV4 for service "sts", sent on the loop through http.c, answered
 * in XML. The XML reader is deliberately small and strict: well-formed
 * nesting, the five predefined entities and character references, no
 * DOCTYPE (so no entity definitions of any kind), a depth limit, and
 * nothing but white space around elements that have children. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/endpoint.h"
#include "shardpipe/sigv4.h"
#include "shardpipe/sts.h"

#define STS_VERSION "2011-06-15"
#define FORM_TYPE "application/x-www-form-urlencoded; charset=utf-8"
#define RESPONSE_MAX ((size_t)1 << 20)   /* a real answer is ~2 KiB; tokens vary */
#define XML_DEPTH_MAX 16
#define XML_PATH_MAX 256
#define XML_NAME_MAX 64

/* ---- small helpers ---- */

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* Service text for messages: printable ASCII only, cut to fit. */
static void printable(char *out, size_t outlen, const char *s, size_t n)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    for (size_t i = 0; i < n && o + 1 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' || c == '\t') ? ' ' : '?';
    }
    out[o] = '\0';
}

/* ---- parameter checks ---- */

static int all_in(const char *s, const char *extra)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(isalnum(c) || c == '_' || strchr(extra, c) != NULL))
            return 0;
    }
    return 1;
}

int sp_sts_check_role_arn(const char *arn, sp_err *err)
{
    static const char want[] = "is not an IAM role ARN (expected arn:aws:iam::123456789012:role/NAME)";
    size_t n = strlen(arn);
    int show = n <= 200 && !has_ctl(arn);
    if (n < 20 || n > 2048)
        return sp_err_set(err, "role ARN %s%s%s%s", show ? "'" : "", show ? arn : "",
                          show ? "' " : "", want);
    /* arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME */
    const char *p = arn;
    int ok = strncmp(p, "arn:aws", 7) == 0;
    if (ok) {
        p += 7;
        p += strspn(p, "abcdefghijklmnopqrstuvwxyz-");
        ok = strncmp(p, ":iam::", 6) == 0;
    }
    if (ok) {
        p += 6;
        ok = strspn(p, "0123456789") == 12 && strncmp(p + 12, ":role/", 6) == 0;
    }
    if (ok) {
        p += 18;
        /* printable ASCII, no space: a role path and name allow less still */
        ok = *p != '\0';
        for (; ok && *p; p++)
            ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f;
    }
    if (!ok)
        return sp_err_set(err, "role ARN %s%s%s%s", show ? "'" : "", show ? arn : "",
                          show ? "' " : "", want);
    return SP_OK;
}

int sp_sts_check_external_id(const char *id, sp_err *err)
{
    size_t n = strlen(id);
    if (n < 2 || n > 1224 || !all_in(id, "+=,.@:/-"))
        return sp_err_set(err, "the external ID must be 2 to 1224 characters from A-Z, a-z, "
                               "0-9 and _+=,.@:/-");
    return SP_OK;
}

int sp_sts_check_session_name(const char *name, sp_err *err)
{
    size_t n = strlen(name);
    if (n < 2 || n > 64 || !all_in(name, "+=,.@-")) {
        int show = n <= 64 && !has_ctl(name);
        return sp_err_set(err, "role session name %s%s%smust be 2 to 64 characters from A-Z, "
                               "a-z, 0-9 and _+=,.@-", show ? "'" : "", show ? name : "",
                          show ? "' " : "");
    }
    return SP_OK;
}

void sp_sts_signing_region(const char *host, const char *fallback, char *out, size_t outlen)
{
    const char *r = NULL;
    size_t n = 0;
    char h[256];
    /* the port is not part of the name */
    snprintf(h, sizeof h, "%.*s", (int)strcspn(host, ":"), host);
    if (strcmp(h, "sts.amazonaws.com") == 0) {
        r = "us-east-1";
        n = 9;
    } else if (strncmp(h, "sts.", 4) == 0 || strncmp(h, "sts-fips.", 9) == 0) {
        const char *p = h + (h[3] == '.' ? 4 : 9);
        size_t k = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (k > 0 && (strcmp(p + k, ".amazonaws.com") == 0 ||
                      strcmp(p + k, ".amazonaws.com.cn") == 0)) {
            r = p;
            n = k;
        }
    }
    if (r == NULL) {
        r = fallback ? fallback : "";
        n = strlen(r);
    }
    snprintf(out, outlen, "%.*s", (int)n, r);
}

/* ---- the request body ---- */

static void form_value(sp_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            sp_buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sp_buf_append(b, e, 3);
        }
    }
}

void sp_sts_form_param(sp_buf *b, const char *name, const char *value)
{
    sp_buf_printf(b, "&%s=", name);
    form_value(b, value);
}

int sp_sts_body_assume_role(sp_buf *b, const char *role_arn, const char *session_name,
                            const char *external_id, long duration_s)
{
    sp_buf_puts(b, "Action=AssumeRole&Version=" STS_VERSION "&RoleArn=");
    form_value(b, role_arn);
    sp_buf_puts(b, "&RoleSessionName=");
    form_value(b, session_name);
    if (external_id != NULL) {
        sp_buf_puts(b, "&ExternalId=");
        form_value(b, external_id);
    }
    if (duration_s > 0)
        sp_buf_printf(b, "&DurationSeconds=%ld", duration_s);
    return b->failed ? SP_ERR : SP_OK;
}

/* ---- time ---- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int sp_sts_parse_time(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return SP_ERR;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60)
        return SP_ERR;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return SP_ERR;
    const char *p = s + 19;
    if (*p == '.') {
        size_t k = strspn(p + 1, "0123456789");
        if (k == 0 || k > 9)
            return SP_ERR;
        p += 1 + k;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return SP_ERR;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return SP_ERR;
    }
    if (*p != '\0')
        return SP_ERR;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return SP_ERR;
    *out = t - off;
    return SP_OK;
}

/* ---- a strict little XML reader ---- */

/* Called for every element without child elements, with its path from
 * the root ("A/B/C") and its decoded text. */
typedef int (*xml_leaf_fn)(void *arg, const char *path, const char *text, size_t len,
                           sp_err *err);

typedef struct xml {
    const char *s, *p, *end;
    sp_buf text;                        /* decoded text of the open element */
    char path[XML_PATH_MAX];
    size_t plen;
    size_t at[XML_DEPTH_MAX + 1];       /* path length before each open element */
    int kids[XML_DEPTH_MAX + 1];        /* the open element has child elements */
    int depth;
    char root[XML_NAME_MAX + 1];
    xml_leaf_fn leaf;
    void *arg;
} xml;

static int xml_fail(const xml *x, sp_err *err, const char *fmt, ...) SP_PRINTF(3, 4);

static int xml_fail(const xml *x, sp_err *err, const char *fmt, ...)
{
    size_t line = 1;
    for (const char *c = x->s; c < x->p && c < x->end; c++)
        line += *c == '\n';
    char msg[SP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sp_err_set(err, "XML line %zu: %s", line, msg);
}

static int starts(const xml *x, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(x->end - x->p) >= n && memcmp(x->p, lit, n) == 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(xml *x)
{
    while (x->p < x->end && is_space(*x->p))
        x->p++;
}

static int only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i]))
            return 0;
    return 1;
}

/* Skips up to and past the terminator; the construct must be complete. */
static int skip_past(xml *x, const char *term, const char *what, sp_err *err)
{
    size_t n = strlen(term);
    const void *e = memmem(x->p, (size_t)(x->end - x->p), term, n);
    if (e == NULL)
        return xml_fail(x, err, "truncated inside %s", what);
    x->p = (const char *)e + n;
    return SP_OK;
}

static int name_start(unsigned char c)
{
    return isalpha(c) || c == '_' || c == ':';
}

static int name_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == ':' || c == '.' || c == '-';
}

static int read_name(xml *x, char *out, sp_err *err)
{
    size_t n = 0;
    if (x->p >= x->end)
        return xml_fail(x, err, "truncated inside a tag");
    if (!name_start((unsigned char)*x->p))
        return xml_fail(x, err, "expected an element name");
    while (x->p < x->end && name_char((unsigned char)*x->p)) {
        if (n == XML_NAME_MAX)
            return xml_fail(x, err, "element name longer than %d characters", XML_NAME_MAX);
        out[n++] = *x->p++;
    }
    out[n] = '\0';
    return SP_OK;
}

/* XML 1.0's Char production, for characters given by reference. */
static int xml_char_ok(unsigned long c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

static void put_utf8(sp_buf *b, unsigned long c)
{
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xC0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    sp_buf_append(b, u, n);
}

/* At '&': decodes one reference into out (NULL: only checks it). */
static int entity(xml *x, sp_buf *out, sp_err *err)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    x->p++;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (starts(x, named[i].name)) {
            x->p += strlen(named[i].name);
            if (out)
                sp_buf_putc(out, named[i].c);
            return SP_OK;
        }
    }
    if (x->p < x->end && *x->p == '#') {
        x->p++;
        int hex = x->p < x->end && *x->p == 'x';
        x->p += hex;
        unsigned long c = 0;
        size_t nd = 0;
        while (x->p < x->end && *x->p != ';') {
            int v;
            unsigned char ch = (unsigned char)*x->p;
            if (isdigit(ch))
                v = ch - '0';
            else if (hex && isxdigit(ch))
                v = tolower(ch) - 'a' + 10;
            else
                return xml_fail(x, err, "bad character reference");
            c = c * (hex ? 16 : 10) + (unsigned long)v;
            if (++nd > 8)
                return xml_fail(x, err, "bad character reference");
            x->p++;
        }
        if (x->p >= x->end)
            return xml_fail(x, err, "truncated inside a character reference");
        if (nd == 0 || !xml_char_ok(c))
            return xml_fail(x, err, "character reference to a character XML does not allow");
        x->p++;
        if (out)
            put_utf8(out, c);
        return SP_OK;
    }
    const char *e = x->p;
    while (e < x->end && isalnum((unsigned char)*e))
        e++;
    if (e == x->end)
        return xml_fail(x, err, "truncated inside an entity reference");
    return xml_fail(x, err, "unknown entity (only &amp; &lt; &gt; &quot; &apos; and &#...; "
                            "are allowed)");
}

/* Raw characters: XML forbids control characters other than tab, LF, CR. */
static int raw_ok(unsigned char c)
{
    return c >= 0x20 || c == '\t' || c == '\n' || c == '\r';
}

/* Character data up to the next '<', decoded into x->text (or, outside
 * the root element, checked to be white space). */
static int text(xml *x, sp_err *err)
{
    while (x->p < x->end && *x->p != '<') {
        unsigned char c = (unsigned char)*x->p;
        if (x->depth == 0) {
            if (!is_space((char)c))
                return xml_fail(x, err, "text outside the root element");
            x->p++;
        } else if (c == '&') {
            if (entity(x, &x->text, err) != SP_OK)
                return SP_ERR;
        } else if (!raw_ok(c)) {
            return xml_fail(x, err, "control character in text");
        } else {
            sp_buf_putc(&x->text, (char)c);
            x->p++;
        }
    }
    if (x->text.failed)
        return xml_fail(x, err, "text too long or out of memory");
    return SP_OK;
}

static int open_element(xml *x, const char *name, sp_err *err)
{
    if (x->depth == 0 && x->root[0] != '\0')
        return xml_fail(x, err, "a second root element <%s>", name);
    if (x->depth == XML_DEPTH_MAX)
        return xml_fail(x, err, "elements nested deeper than %d", XML_DEPTH_MAX);
    if (x->depth > 0) {
        if (!only_space(x->text.data ? x->text.data : "", x->text.len))
            return xml_fail(x, err, "text mixed with elements in <%s>",
                            x->path + x->at[x->depth - 1] + (x->depth > 1));
        x->kids[x->depth - 1] = 1;
    } else {
        snprintf(x->root, sizeof x->root, "%s", name);
    }
    size_t n = strlen(name);
    size_t need = x->plen + (x->depth > 0) + n;
    if (need >= sizeof x->path)
        return xml_fail(x, err, "element path longer than %d characters", XML_PATH_MAX - 1);
    x->at[x->depth] = x->plen;
    if (x->depth > 0)
        x->path[x->plen++] = '/';
    memcpy(x->path + x->plen, name, n + 1);
    x->plen += n;
    x->kids[x->depth] = 0;
    x->depth++;
    if (x->text.data)
        explicit_bzero(x->text.data, x->text.len);
    sp_buf_reset(&x->text);
    return SP_OK;
}

static int close_element(xml *x, sp_err *err)
{
    int d = x->depth - 1;
    const char *tx = x->text.data ? x->text.data : "";
    if (x->kids[d]) {
        if (!only_space(tx, x->text.len))
            return xml_fail(x, err, "text mixed with elements in <%s>",
                            x->path + x->at[d] + (d > 0));
    } else if (x->leaf(x->arg, x->path, tx, x->text.len, err) != SP_OK) {
        return SP_ERR;
    }
    if (x->text.data)
        explicit_bzero(x->text.data, x->text.len);
    sp_buf_reset(&x->text);
    x->plen = x->at[d];
    x->path[x->plen] = '\0';
    x->depth = d;
    return SP_OK;
}

/* At '<' followed by a name: the tag, its attributes (checked, not kept). */
static int start_tag(xml *x, sp_err *err)
{
    char name[XML_NAME_MAX + 1];
    x->p++;
    if (read_name(x, name, err) != SP_OK)
        return SP_ERR;
    for (;;) {
        const char *before = x->p;
        skip_space(x);
        if (x->p >= x->end)
            return xml_fail(x, err, "truncated inside <%s>", name);
        if (*x->p == '>' || starts(x, "/>"))
            break;
        if (x->p == before)
            return xml_fail(x, err, "expected white space before an attribute in <%s>", name);
        char attr[XML_NAME_MAX + 1];
        if (read_name(x, attr, err) != SP_OK)
            return SP_ERR;
        skip_space(x);
        if (x->p >= x->end || *x->p != '=')
            return xml_fail(x, err, "attribute %s in <%s> has no value", attr, name);
        x->p++;
        skip_space(x);
        if (x->p >= x->end || (*x->p != '"' && *x->p != '\''))
            return xml_fail(x, err, "attribute %s in <%s> is not quoted", attr, name);
        char q = *x->p++;
        while (x->p < x->end && *x->p != q) {
            if (*x->p == '<' || !raw_ok((unsigned char)*x->p))
                return xml_fail(x, err, "bad character in attribute %s of <%s>", attr, name);
            if (*x->p == '&') {
                if (entity(x, NULL, err) != SP_OK)
                    return SP_ERR;
            } else {
                x->p++;
            }
        }
        if (x->p >= x->end)
            return xml_fail(x, err, "truncated inside <%s>", name);
        x->p++;
    }
    if (open_element(x, name, err) != SP_OK)
        return SP_ERR;
    if (*x->p == '/') {
        x->p += 2;
        return close_element(x, err);
    }
    x->p++;
    return SP_OK;
}

static int end_tag(xml *x, sp_err *err)
{
    char name[XML_NAME_MAX + 1];
    x->p += 2;
    if (read_name(x, name, err) != SP_OK)
        return SP_ERR;
    skip_space(x);
    if (x->p >= x->end)
        return xml_fail(x, err, "truncated inside </%s>", name);
    if (*x->p != '>')
        return xml_fail(x, err, "expected '>' after </%s", name);
    x->p++;
    if (x->depth == 0)
        return xml_fail(x, err, "</%s> closes nothing", name);
    const char *open = x->path + x->at[x->depth - 1] + (x->depth > 1);
    if (strcmp(open, name) != 0)
        return xml_fail(x, err, "</%s> closes <%s>", name, open);
    return close_element(x, err);
}

/* Parses the whole document; root gets the root element's name. */
static int xml_parse(const char *s, size_t len, xml_leaf_fn leaf, void *arg,
                     char root[XML_NAME_MAX + 1], sp_err *err)
{
    xml x;
    memset(&x, 0, sizeof x);
    x.s = x.p = s;
    x.end = s + len;
    x.leaf = leaf;
    x.arg = arg;
    sp_buf_init(&x.text, RESPONSE_MAX);
    /* no text is longer than the document: reserved once, never moved */
    sp_buf_reserve(&x.text, len < RESPONSE_MAX ? len : RESPONSE_MAX);
    int rc = SP_OK;
    if (starts(&x, "\xEF\xBB\xBF"))
        x.p += 3;
    while (rc == SP_OK && x.p < x.end) {
        if (*x.p != '<') {
            rc = text(&x, err);
        } else if (starts(&x, "<!--")) {
            rc = skip_past(&x, "-->", "a comment", err);
        } else if (starts(&x, "<?")) {
            rc = skip_past(&x, "?>", "a processing instruction", err);
        } else if (starts(&x, "<![CDATA[")) {
            if (x.depth == 0) {
                rc = xml_fail(&x, err, "CDATA outside the root element");
                break;
            }
            const char *from = x.p + 9;
            x.p = from;
            rc = skip_past(&x, "]]>", "a CDATA section", err);
            if (rc == SP_OK) {
                for (const char *c = from; c < x.p - 3 && rc == SP_OK; c++)
                    if (!raw_ok((unsigned char)*c))
                        rc = xml_fail(&x, err, "control character in a CDATA section");
                if (rc == SP_OK && sp_buf_append(&x.text, from, (size_t)(x.p - 3 - from)) != SP_OK)
                    rc = xml_fail(&x, err, "text too long or out of memory");
            }
        } else if (starts(&x, "<!")) {
            /* DOCTYPE and its entity definitions are refused outright */
            rc = xml_fail(&x, err, "document type declarations are not accepted");
        } else if (starts(&x, "</")) {
            rc = end_tag(&x, err);
        } else {
            rc = start_tag(&x, err);
        }
    }
    if (rc == SP_OK && x.root[0] == '\0')
        rc = xml_fail(&x, err, "no root element");
    else if (rc == SP_OK && x.depth > 0)
        rc = xml_fail(&x, err, "truncated: <%s> is not closed", x.path + x.at[x.depth - 1] + (x.depth > 1));
    memcpy(root, x.root, sizeof x.root);
    sp_buf_wipe_free(&x.text);
    explicit_bzero(&x, sizeof x);
    return rc;
}

/* ---- the AssumeRole response ---- */

enum { F_AKID, F_SECRET, F_TOKEN, F_EXPIRATION, F_CODE, F_MESSAGE, F_RID, F_RID2, NFIELDS };

/* Under ACTIONResponse/ACTIONResult/Credentials/ but for the errors. */
static const char *const field_paths[NFIELDS] = {
    "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration",
    "ErrorResponse/Error/Code", "ErrorResponse/Error/Message", "ErrorResponse/RequestId",
    "ResponseMetadata/RequestId",
};

typedef struct answer {
    char paths[NFIELDS][XML_PATH_MAX];
    char *v[NFIELDS];             /* heap copies, wiped on free */
    size_t len[NFIELDS];
} answer;

static void answer_free(answer *a)
{
    for (int i = 0; i < NFIELDS; i++)
        sp_wipe_free(a->v[i]);
    memset(a, 0, sizeof *a);
}

static int on_leaf(void *arg, const char *path, const char *text, size_t len, sp_err *err)
{
    answer *a = arg;
    for (int i = 0; i < NFIELDS; i++) {
        if (strcmp(path, a->paths[i]) != 0)
            continue;
        if (a->v[i] != NULL)
            return sp_err_set(err, "%s appears twice", path);
        if ((a->v[i] = malloc(len + 1)) == NULL)
            return sp_err_set(err, "out of memory");
        memcpy(a->v[i], text, len);
        a->v[i][len] = '\0';
        a->len[i] = len;
        return SP_OK;
    }
    return SP_OK;
}

/* A field that must hold one line of text: no NUL, no control character. */
static int plain(const answer *a, int f)
{
    return a->v[f] != NULL && a->len[f] > 0 && strlen(a->v[f]) == a->len[f] && !has_ctl(a->v[f]);
}

int sp_sts_parse_assume_role(const char *xml_text, size_t len, sp_creds *out, sp_sts_fault *fault,
                             sp_err *err)
{
    return sp_sts_parse_response("AssumeRole", xml_text, len, out, fault, err);
}

int sp_sts_parse_response(const char *action, const char *xml_text, size_t len, sp_creds *out,
                          sp_sts_fault *fault, sp_err *err)
{
    sp_sts_fault spare;
    if (fault == NULL)
        fault = &spare;
    memset(fault, 0, sizeof *fault);
    memset(out, 0, sizeof *out);
    answer a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < NFIELDS; i++) {
        if (i < F_CODE)
            snprintf(a.paths[i], XML_PATH_MAX, "%sResponse/%sResult/Credentials/%s", action,
                     action, field_paths[i]);
        else if (i == F_RID2)
            snprintf(a.paths[i], XML_PATH_MAX, "%sResponse/%s", action, field_paths[i]);
        else
            snprintf(a.paths[i], XML_PATH_MAX, "%s", field_paths[i]);
    }
    char root[XML_NAME_MAX + 1], want[XML_NAME_MAX + 16];
    snprintf(want, sizeof want, "%sResponse", action);
    int rc = xml_parse(xml_text, len, on_leaf, &a, root, err);
    if (rc != SP_OK)
        goto out;
    if (strcmp(root, "ErrorResponse") == 0) {
        if (!plain(&a, F_CODE)) {
            rc = sp_err_set(err, "ErrorResponse without an Error/Code");
            goto out;
        }
        printable(fault->code, sizeof fault->code, a.v[F_CODE], a.len[F_CODE]);
        if (a.v[F_MESSAGE])
            printable(fault->message, sizeof fault->message, a.v[F_MESSAGE], a.len[F_MESSAGE]);
        if (a.v[F_RID])
            printable(fault->request_id, sizeof fault->request_id, a.v[F_RID], a.len[F_RID]);
        rc = sp_err_set(err, "%s: %s", fault->code,
                        fault->message[0] ? fault->message : "(no message)");
        goto out;
    }
    if (strcmp(root, want) != 0) {
        rc = sp_err_set(err, "unexpected root element <%s> (expected %s or ErrorResponse)", root,
                        want);
        goto out;
    }
    if (a.v[F_RID2])
        printable(fault->request_id, sizeof fault->request_id, a.v[F_RID2], a.len[F_RID2]);
    static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
                                        "Expiration"};
    for (int f = F_AKID; f <= F_EXPIRATION; f++) {
        if (a.v[f] == NULL) {
            rc = sp_err_set(err, "the response lacks Credentials/%s", names[f]);
            goto out;
        }
        if (!plain(&a, f)) {
            rc = sp_err_set(err, "Credentials/%s is empty or holds a control character",
                            names[f]);
            goto out;
        }
    }
    if (!sp_creds_akid_ok(a.v[F_AKID])) {
        rc = sp_err_set(err, "Credentials/AccessKeyId is malformed");
        goto out;
    }
    if (sp_sts_parse_time(a.v[F_EXPIRATION], &out->expiration) != SP_OK) {
        rc = sp_err_set(err, "Credentials/Expiration is not an ISO-8601 time");
        goto out;
    }
    strcpy(out->access_key_id, a.v[F_AKID]);   /* sp_creds_akid_ok bounded it */
    out->secret = a.v[F_SECRET];
    out->token = a.v[F_TOKEN];
    a.v[F_SECRET] = a.v[F_TOKEN] = NULL;
    rc = SP_OK;
out:
    answer_free(&a);
    if (rc != SP_OK)
        out->expiration = 0;
    return rc;
}

/* ---- the call ---- */

/* What a person can do about the common refusals. */
static const char *hint(const char *code)
{
    static const struct {
        const char *code, *hint;
    } hints[] = {
        {"AccessDenied", "; check that the role's trust policy lets these credentials assume "
                         "it (and the external ID, if it asks for one)"},
        {"ExpiredToken", "; the session token of the base credentials has expired"},
        {"ExpiredTokenException", "; the session token of the base credentials has expired"},
        {"InvalidClientTokenId", "; AWS does not know the base access key id"},
        {"SignatureDoesNotMatch", "; the base secret access key is wrong"},
        {"RegionDisabledException", "; STS is not activated in this region for the account"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strcmp(code, hints[i].code) == 0)
            return hints[i].hint;
    return "";
}

/* What the answer needs for its messages; nothing secret. */
struct sp_sts_call {
    sp_http *http;
    sp_http_req *req;
    sp_sts_done_fn done;
    void *arg;
    char arn[2049];
    char src[SP_CREDS_SOURCE_MAX];
    char url[SP_URL_MAX];
};

#define FAIL_PREFIX "assuming role %s with credentials from %s"

/* Reads the answer into r; every failure message names the role, the
 * base credentials' source and the endpoint. */
static void read_answer(const struct sp_sts_call *c, const sp_http_response *resp, sp_creds_result *r)
{
    const char *arn = c->arn, *src = c->src, *url = c->url;
    sp_err *err = &r->err;
    if (resp->status == 0) {
        sp_err_set(err, FAIL_PREFIX ": STS at %s: %s", arn, src, url,
                   resp->transport_error ? resp->transport_error : "transfer failed");
        return;
    }
    long status = resp->status;
    sp_sts_fault fault;
    sp_err perr;
    int prc = sp_sts_parse_assume_role(resp->body, resp->body_len, &r->creds, &fault, &perr);
    const char *rid = fault.request_id[0] ? fault.request_id : resp->request_id ? resp->request_id : "";
    char tail[SP_URL_MAX + 160];
    snprintf(tail, sizeof tail, "(endpoint %s%s%s)", url, rid[0] ? ", request id " : "", rid);
    if (prc == SP_OK && status >= 200 && status < 300) {
        /* cut short if it must: the source is only shown */
        if (snprintf(r->creds.source, sizeof r->creds.source,
                     "role %s assumed with credentials from %s", arn, src) < 0)
            r->creds.source[0] = '\0';
        r->rc = SP_OK;
        return;
    }
    sp_creds_free(&r->creds);
    if (fault.code[0] != '\0') {
        /* the request's time was refused: the Date header says by how much */
        if (strstr(fault.message, "Signature expired") != NULL && resp->date > 0) {
            r->have_skew = 1;
            r->skew = (long)(resp->date - time(NULL));
        }
        /* "...signing method.; the base secret..." reads badly */
        size_t n = strlen(perr.msg);
        if (hint(fault.code)[0] != '\0' && n > 0 && perr.msg[n - 1] == '.')
            perr.msg[n - 1] = '\0';
        sp_err_set(err, FAIL_PREFIX ": STS refused (HTTP %ld): %s%s %s", arn, src, status,
                   perr.msg, hint(fault.code), tail);
    } else if (status < 200 || status >= 300) {
        /* Not an STS error document (a proxy's page, say): its start may
         * help, unless it looks like it holds credentials after all. */
        char peek[121] = "";
        const char *b = resp->body;
        if (prc != SP_OK && memmem(b, resp->body_len, "SecretAccessKey", 15) == NULL &&
            memmem(b, resp->body_len, "SessionToken", 12) == NULL)
            printable(peek, sizeof peek, b, resp->body_len);
        sp_err_set(err, FAIL_PREFIX ": STS answered HTTP %ld %s%s%s%s", arn, src, status, tail,
                   peek[0] ? ": \"" : "", peek, peek[0] ? "\"" : "");
    } else {
        /* Never quote a success body: it holds the role's secret. */
        sp_err_set(err, FAIL_PREFIX ": malformed AssumeRole response: %s %s", arn, src,
                   perr.msg, tail);
    }
}

static void on_answer(void *arg, const sp_http_response *resp)
{
    struct sp_sts_call *c = arg;
    sp_creds_result r;
    memset(&r, 0, sizeof r);
    r.rc = SP_ERR;
    read_answer(c, resp, &r);
    /* the request is gone once this returns; the call goes first */
    sp_sts_done_fn done = c->done;
    void *darg = c->arg;
    free(c);
    done(darg, &r);   /* r.creds are its own now */
    explicit_bzero(&r, sizeof r);
}

void sp_sts_cancel(sp_sts_call *c)
{
    if (c == NULL)
        return;
    sp_http_cancel(c->http, c->req);   /* wipes what it held */
    free(c);
}

/* "Name: value" lines, NUL-separated in one block reserved up front, so
 * that no realloc leaves a copy of the token behind; wiped after use. */
static void header(sp_buf *hb, size_t *offs, size_t *n, const char *name, const char *value)
{
    offs[(*n)++] = hb->len;
    sp_buf_printf(hb, "%s: %s", name, value);
    sp_buf_putc(hb, '\0');
}

int sp_sts_assume_role_start(sp_http *http, const sp_sts_opts *o, const sp_creds *base,
                             sp_sts_done_fn done, void *arg, sp_sts_call **call, sp_err *err)
{
    char url[SP_URL_MAX], host[SP_URL_MAX], region[64], session[80];
    const char *arn = o->role_arn ? o->role_arn : "";
    const char *ext = o->external_id && o->external_id[0] ? o->external_id : NULL;
    const char *src = base->source[0] ? base->source : "an unnamed source";

    /* Names the role and where the base credentials came from, always. */
    if (sp_sts_check_role_arn(arn, err) != SP_OK)
        return sp_err_prefix(err, "assuming a role with credentials from %s", src);
    if (ext != NULL && sp_sts_check_external_id(ext, err) != SP_OK)
        return sp_err_prefix(err, FAIL_PREFIX, arn, src);
    if (o->session_name && o->session_name[0]) {
        if (sp_sts_check_session_name(o->session_name, err) != SP_OK)
            return sp_err_prefix(err, FAIL_PREFIX, arn, src);
        snprintf(session, sizeof session, "%s", o->session_name);
    } else {
        snprintf(session, sizeof session, "shardpipe-%lld", (long long)time(NULL));
    }
    if (o->endpoint && o->endpoint[0]) {
        if (strlen(o->endpoint) >= sizeof url)
            return sp_err_set(err, FAIL_PREFIX ": STS endpoint URL too long", arn, src);
        snprintf(url, sizeof url, "%s", o->endpoint);
    } else if (sp_endpoint_default("sts", o->region, url, sizeof url, err) != SP_OK) {
        return sp_err_prefix(err, FAIL_PREFIX, arn, src);
    }
    if (sp_endpoint_host(url, host, sizeof host, err) != SP_OK)
        return sp_err_prefix(err, FAIL_PREFIX ": %s", arn, src,
                             o->endpoint_from && o->endpoint && o->endpoint[0] ? o->endpoint_from : "STS");
    sp_sts_signing_region(host, o->region, region, sizeof region);
    if (!sp_region_valid(region))
        return sp_err_set(err, FAIL_PREFIX ": no region to sign the STS request for", arn, src);

    struct sp_sts_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sp_err_set(err, FAIL_PREFIX ": out of memory", arn, src);
    c->http = http;
    c->done = done;
    c->arg = arg;
    snprintf(c->arn, sizeof c->arn, "%s", arn);
    snprintf(c->src, sizeof c->src, "%s", src);
    snprintf(c->url, sizeof c->url, "%s", url);

    /* Reserved whole, so that the external ID and the token never move. */
    size_t tlen = base->token ? strlen(base->token) : 0;
    sp_buf body, hb;
    sp_buf_init(&body, 0);
    sp_buf_init(&hb, 0);
    sp_buf_reserve(&body, 160 + 3 * (strlen(arn) + strlen(session) + (ext ? strlen(ext) : 0)));
    sp_buf_reserve(&hb, 256 + strlen(host) + tlen + SP_SIGV4_AUTH_MAX);
    int rc = SP_ERR;
    if (sp_sts_body_assume_role(&body, arn, session, ext,
                                o->duration_s > 0 ? o->duration_s : SP_STS_DURATION_S) != SP_OK) {
        sp_err_set(err, FAIL_PREFIX ": out of memory", arn, src);
        goto done;
    }
    /* signed with the offset the servers' Date headers taught (kinesis.c) */
    char amz_date[SP_AMZ_DATE_LEN + 1];
    sp_sigv4_amz_date(time(NULL) + o->skew, amz_date);
    sp_sigv4_header sh[4];
    size_t nsh = 0;
    sh[nsh++] = (sp_sigv4_header){"content-type", FORM_TYPE};
    sh[nsh++] = (sp_sigv4_header){"host", host};
    sh[nsh++] = (sp_sigv4_header){"x-amz-date", amz_date};
    if (base->token)
        sh[nsh++] = (sp_sigv4_header){"x-amz-security-token", base->token};
    sp_sigv4_request sreq = {"POST", "/", "", sh, nsh, body.data, body.len};
    sp_sigv4_scope scope = {region, "sts", amz_date};
    char auth[SP_SIGV4_AUTH_MAX];
    if (sp_sigv4_sign(&sreq, &scope, base->access_key_id, base->secret, NULL, auth, sizeof auth,
                      err) != SP_OK) {
        sp_err_prefix(err, FAIL_PREFIX, arn, src);
        goto done;
    }
    const char *lines[6];
    size_t offs[6], n = 0;
    header(&hb, offs, &n, "Host", host);
    header(&hb, offs, &n, "Content-Type", FORM_TYPE);
    header(&hb, offs, &n, "X-Amz-Date", amz_date);
    if (base->token)
        header(&hb, offs, &n, "X-Amz-Security-Token", base->token);
    header(&hb, offs, &n, "Authorization", auth);
    header(&hb, offs, &n, "Accept", "text/xml");
    explicit_bzero(auth, sizeof auth);
    if (hb.failed) {
        sp_err_set(err, FAIL_PREFIX ": out of memory", arn, src);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        lines[i] = hb.data + offs[i];
    sp_http_req_opts ro = {o->connect_timeout_ms > 0 ? o->connect_timeout_ms : SP_STS_CONNECT_TIMEOUT_MS,
                           o->timeout_ms > 0 ? o->timeout_ms : SP_STS_TIMEOUT_MS, RESPONSE_MAX, 1, NULL};
    if (sp_http_post_ex(http, url, lines, n, &body, &ro, on_answer, c, &c->req, err) != SP_OK) {
        sp_err_prefix(err, FAIL_PREFIX ": STS at %s", arn, src, url);
        goto done;
    }
    if (call)
        *call = c;
    rc = SP_OK;
done:
    sp_buf_wipe_free(&hb);
    sp_buf_wipe_free(&body);
    if (rc != SP_OK)
        free(c);
    return rc;
}
#undef FAIL_PREFIX
