/* INI parsing (syntax in ini.h). The input is copied into one heap buffer
 * and parsed in place: lines are cut with NULs and continuation lines are
 * moved back onto their value, so parsing allocates nothing more, and the
 * one buffer is wiped before it is freed. */
#include <stdlib.h>
#include <string.h>

#include "shardpipe/file.h"
#include "shardpipe/ini.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static char *rtrim(char *s, char *end)
{
    while (end > s && is_blank(end[-1]))
        end--;
    return end;
}

/* The key whose value is still being collected (continuation lines may
 * follow). */
typedef struct pending {
    char *key;
    char *val;        /* value start */
    char *val_end;    /* one past its last byte */
    size_t line;
    size_t indent;    /* of the key line; deeper lines continue the value */
} pending;

static int flush(pending *p, const char *name, const char *section, sp_ini_fn fn,
                 void *arg, sp_err *err)
{
    if (p->key == NULL)
        return SP_OK;
    *p->val_end = '\0';
    int rc = fn(arg, section, p->key, p->val, p->line, err);
    p->key = NULL;
    if (rc != SP_OK)
        return sp_err_prefix(err, "%s:%zu", name, p->line);
    return SP_OK;
}

static int parse(char *buf, size_t len, const char *name, sp_ini_fn fn, void *arg,
                 sp_err *err)
{
    const char *section = NULL;
    pending p = {0};
    size_t lineno = 0;
    char *s = buf, *end = buf + len;

    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    while (s < end) {
        lineno++;
        char *nl = memchr(s, '\n', (size_t)(end - s));
        char *eol = nl ? nl : end;
        if (memchr(s, '\0', (size_t)(eol - s)) != NULL)
            return sp_err_set(err, "%s:%zu: NUL byte (not a text file?)", name, lineno);
        if (eol > s && eol[-1] == '\r')
            eol--;
        if ((size_t)(eol - s) > SP_INI_MAX_LINE)
            return sp_err_set(err, "%s:%zu: line longer than %zu bytes", name, lineno,
                              SP_INI_MAX_LINE);
        char *next = nl ? nl + 1 : end;
        *eol = '\0';

        size_t indent = strspn(s, " \t");
        char *t = s + indent;
        char *tend = rtrim(t, eol);
        s = next;

        if (t == tend) {            /* blank: ends a multi-line value */
            if (flush(&p, name, section, fn, arg, err) != SP_OK)
                return SP_ERR;
            continue;
        }
        if (*t == '#' || *t == ';') /* comments do not end a value */
            continue;
        if (p.key != NULL && indent > p.indent) {
            /* Continuation: move the text right behind the value so far;
             * it only ever moves towards the start of the buffer. */
            size_t n = (size_t)(tend - t);
            if (p.val_end == p.val) {
                memmove(p.val_end, t, n);
                p.val_end += n;
            } else {
                *p.val_end++ = '\n';
                memmove(p.val_end, t, n);
                p.val_end += n;
            }
            continue;
        }
        if (flush(&p, name, section, fn, arg, err) != SP_OK)
            return SP_ERR;

        if (*t == '[') {
            char *close = strchr(t, ']');
            if (close == NULL)
                return sp_err_set(err, "%s:%zu: section header without a closing ']'", name,
                                  lineno);
            char *after = close + 1 + strspn(close + 1, " \t");
            if (after < tend && *after != '#' && *after != ';')
                return sp_err_set(err, "%s:%zu: text after the section header", name, lineno);
            char *sn = t + 1 + strspn(t + 1, " \t");
            char *se = rtrim(sn, close);
            if (sn >= se)
                return sp_err_set(err, "%s:%zu: empty section name", name, lineno);
            *se = '\0';
            section = sn;
            continue;
        }

        size_t klen = strcspn(t, "=:");
        if (t[klen] == '\0')
            return sp_err_set(err, "%s:%zu: expected \"key = value\" or \"[section]\"", name,
                              lineno);
        char *kend = rtrim(t, t + klen);
        if (kend == t)
            return sp_err_set(err, "%s:%zu: empty key", name, lineno);
        if (section == NULL)
            return sp_err_set(err, "%s:%zu: key outside any [section]", name, lineno);
        char *v = t + klen + 1;
        v += strspn(v, " \t");
        *kend = '\0';
        p.key = t;
        p.val = v;
        p.val_end = v < tend ? tend : v;
        p.line = lineno;
        p.indent = indent;
    }
    return flush(&p, name, section, fn, arg, err);
}

int sp_ini_parse_mem(const char *name, const void *data, size_t len,
                     sp_ini_fn fn, void *arg, sp_err *err)
{
    if (name == NULL)
        name = "(memory)";
    if (len > SP_INI_MAX_FILE)
        return sp_err_set(err, "%s: larger than %zu bytes", name, SP_INI_MAX_FILE);
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return sp_err_set(err, "%s: out of memory", name);
    if (len > 0)
        memcpy(buf, data, len);
    buf[len] = '\0';
    int rc = parse(buf, len, name, fn, arg, err);
    explicit_bzero(buf, len + 1);
    free(buf);
    return rc;
}

int sp_ini_parse_file(const char *path, sp_ini_fn fn, void *arg, sp_err *err)
{
    char *buf;
    size_t len;
    /* Credentials files: whatever memory held them is wiped. */
    if (sp_file_read(path, SP_INI_MAX_FILE, SP_FILE_WIPE | SP_FILE_DEVICES, &buf, &len, err) != SP_OK) {
        int missing = err->code == SP_E_NOENT;
        sp_err_prefix(err, "%s", path);
        return missing ? SP_INI_MISSING : SP_ERR;
    }
    int rc = parse(buf, len, path, fn, arg, err);
    sp_file_free(buf, len, 1);
    return rc;
}
