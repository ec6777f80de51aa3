/* JSON text to a json-c object, with positions in errors and duplicate
 * keys refused (jsonpos.h). */
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/jsonpos.h"

#define KPATH SP_JSONPOS_PATH_MAX
#define DK_DEPTH 64                      /* json-c itself refuses nesting deeper than 32 */

void sp_jsonpos_key(char out[SP_JSONPOS_PATH_MAX], const char *parent, const char *key)
{
    size_t n = 0;
    if (parent[0] != '\0') {
        int k = snprintf(out, KPATH, "%s.", parent);
        n = k < 0 ? 0 : (size_t)k < KPATH ? (size_t)k : KPATH - 1;
    }
    for (; *key != '\0' && n < KPATH - 1; key++)
        out[n++] = isprint((unsigned char)*key) ? *key : '?';
    out[n] = '\0';
}

void sp_jsonpos_index(char out[SP_JSONPOS_PATH_MAX], const char *parent, size_t i)
{
    char num[32];
    snprintf(num, sizeof num, "[%zu]", i);
    size_t a = strnlen(parent, KPATH - 1), b = strlen(num);
    if (a + b > KPATH - 1)
        b = KPATH - 1 - a;
    memmove(out, parent, a);
    memcpy(out + a, num, b);
    out[a + b] = '\0';
}

const char *sp_jsonpos_type(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double:
    case json_type_int: return "a number";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "an unknown type";
}

/* Skips white space and comments, which json-c accepts. */
static size_t skip_space(const char *t, size_t len, size_t i)
{
    for (;;) {
        while (i < len && isspace((unsigned char)t[i]))
            i++;
        if (i + 1 < len && t[i] == '/' && t[i + 1] == '*') {
            const char *e = memmem(t + i + 2, len - i - 2, "*/", 2);
            i = e ? (size_t)(e - t) + 2 : len;
        } else if (i + 1 < len && t[i] == '/' && t[i + 1] == '/') {
            while (i < len && t[i] != '\n')
                i++;
        } else {
            return i;
        }
    }
}

static void line_col(const char *t, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (t[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

static int parse_json(const char *name, const char *t, size_t len, json_object **out, sp_err *err)
{
    size_t line, col;
    *out = NULL;
    if (skip_space(t, len, 0) == len)
        return sp_err_set(err, "%s: is empty: a JSON object is expected", name);
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return sp_err_set(err, "%s: out of memory", name);
    json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, t, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (o == NULL && e == json_tokener_continue) {
        /* a last "// comment" waits for its newline: give it one */
        o = json_tokener_parse_ex(tok, "\n", 1);
        e = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);
    if (o == NULL) {
        line_col(t, end, &line, &col);
        if (e == json_tokener_continue)
            return sp_err_set(err, "%s:%zu:%zu: the text ends inside an object, array, string or comment",
                              name, line, col);
        return sp_err_set(err, "%s:%zu:%zu: %s", name, line, col, json_tokener_error_desc(e));
    }
    if (end < len && skip_space(t, len, end) < len) {
        line_col(t, skip_space(t, len, end), &line, &col);
        json_object_put(o);
        return sp_err_set(err, "%s:%zu:%zu: text after the end of the configuration object",
                          name, line, col);
    }
    if (!json_object_is_type(o, json_type_object)) {
        sp_err_set(err, "%s: must be a JSON object { ... }, not %s", name, sp_jsonpos_type(o));
        json_object_put(o);
        return SP_ERR;
    }
    *out = o;
    return SP_OK;
}

/* json-c keeps the last of two equal keys without a word, and a key given
 * twice is nearly always a mistake (one setting edited in two places), so
 * the text, which json-c has accepted already, is scanned for them. Keys
 * are compared as written. */
typedef struct dk_level {
    int is_obj;
    size_t index;            /* arrays: the element being read */
    const char *key;         /* objects: the key being read */
    size_t klen;
    const char **keys;
    size_t *lens;
    size_t n, cap;
} dk_level;

static void dk_path(char *out, const dk_level *st, size_t depth, const char *key, size_t klen)
{
    char part[KPATH];
    out[0] = '\0';
    for (size_t l = 0; l + 1 < depth; l++) {
        char tmp[KPATH];
        if (st[l].is_obj) {
            snprintf(part, sizeof part, "%.*s", (int)(st[l].klen < KPATH - 1 ? st[l].klen : KPATH - 1), st[l].key);
            sp_jsonpos_key(tmp, out, part);
        } else {
            sp_jsonpos_index(tmp, out, st[l].index);
        }
        memcpy(out, tmp, KPATH);
    }
    char tmp[KPATH];
    snprintf(part, sizeof part, "%.*s", (int)(klen < KPATH - 1 ? klen : KPATH - 1), key);
    sp_jsonpos_key(tmp, out, part);
    memcpy(out, tmp, KPATH);
}

static int dup_keys(const char *name, const char *t, size_t len, sp_err *err)
{
    dk_level st[DK_DEPTH];
    size_t depth = 0, i = 0;
    int expect_key = 0, rc = SP_OK;
    while (rc == SP_OK && (i = skip_space(t, len, i)) < len) {
        char ch = t[i];
        if (ch == '{' || ch == '[') {
            if (depth == DK_DEPTH)
                break;
            memset(&st[depth], 0, sizeof st[depth]);
            st[depth++].is_obj = ch == '{';
            expect_key = ch == '{';
            i++;
        } else if (ch == '}' || ch == ']') {
            if (depth > 0) {
                depth--;
                free(st[depth].keys);
                free(st[depth].lens);
            }
            expect_key = 0;
            i++;
        } else if (ch == ',') {
            if (depth > 0 && st[depth - 1].is_obj)
                expect_key = 1;
            else if (depth > 0)
                st[depth - 1].index++;
            i++;
        } else if (ch == ':') {
            expect_key = 0;
            i++;
        } else if (ch == '"' || ch == '\'') {
            size_t s = ++i;
            while (i < len && t[i] != ch)
                i += t[i] == '\\' ? 2 : 1;
            size_t e = i < len ? i : len;
            i = e + 1;
            if (depth == 0 || !st[depth - 1].is_obj || !expect_key)
                continue;
            dk_level *l = &st[depth - 1];
            for (size_t k = 0; k < l->n; k++) {
                if (l->lens[k] == e - s && memcmp(l->keys[k], t + s, e - s) == 0) {
                    char p[KPATH];
                    dk_path(p, st, depth, t + s, e - s);
                    rc = sp_err_set(err, "%s: %s: given twice in the same object (only one may stay)",
                                    name, p);
                    break;
                }
            }
            if (rc != SP_OK)
                break;
            if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                const char **keys = realloc(l->keys, cap * sizeof *keys);
                if (keys != NULL)
                    l->keys = keys;
                size_t *lens = keys ? realloc(l->lens, cap * sizeof *lens) : NULL;
                if (lens != NULL)
                    l->lens = lens;
                if (keys == NULL || lens == NULL) {
                    rc = sp_err_set(err, "%s: out of memory", name);
                    break;
                }
                l->cap = cap;
            }
            l->keys[l->n] = t + s;
            l->lens[l->n++] = e - s;
            l->key = t + s;
            l->klen = e - s;
            expect_key = 0;
        } else {
            size_t from = i;
            while (i < len && strchr(",:[]{}\"'/ \t\r\n", t[i]) == NULL)
                i++;
            if (i == from)
                i++;
        }
    }
    while (depth > 0) {
        depth--;
        free(st[depth].keys);
        free(st[depth].lens);
    }
    return rc;
}

int sp_jsonpos_parse(const char *text, size_t len, const char *name, json_object **out, sp_err *err)
{
    if (parse_json(name, text, len, out, err) != SP_OK)
        return SP_ERR;
    if (dup_keys(name, text, len, err) != SP_OK) {
        json_object_put(*out);
        *out = NULL;
        return SP_ERR;
    }
    return SP_OK;
}
