/* Durable source positions (contract in checkpoint.h).
 *
 * The file is JSON, one entry per line so that a person can read and diff
 * it, followed by a trailer line with the zlib crc32 (8 lowercase hex
 * digits) of every byte before that line:
 *
 *   {"version":1,"entries":[
 *   {"flow":"app","path":"/var/log/app.log","dev":2049,"ino":131,"offset":4096,"fp_len":1024,"fp":"<64 hex>","updated":1700000000}
 *   ]}
 *   crc32 0123abcd
 *
 * Strings are written with ", \ and control bytes escaped and every other
 * byte as it is: Linux paths are bytes, not necessarily UTF-8, and json-c
 * reads them back unchanged. json-c saturates integers that overflow 64
 * bits to UINT64_MAX, so that value is not a valid dev or ino: it could be
 * an overflowed one. A save is atomic: temp file in the same directory,
 * fsync, rename, fsync of the directory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "shardpipe/buf.h"
#include "shardpipe/checkpoint.h"
#include "shardpipe/file.h"

#define CKPT_VERSION 1
#define CKPT_MAX_FILE ((size_t)64 << 20)
#define CKPT_TRAILER "crc32 "
#define CKPT_TRAILER_LEN 15                 /* "crc32 " + 8 hex digits + "\n" */
#define ID_MAX (UINT64_MAX - 1)             /* UINT64_MAX may be a saturated overflow */
#define POS_MAX ((uint64_t)INT64_MAX)       /* pread takes an off_t */
#define FP_SHORT 1
#define PROGRESS_START_CAP 1024             /* a power of two, as every later size */

/* --- entries ---------------------------------------------------------------- */

static void entry_free(sp_ckpt_entry *e)
{
    free(e->flow);
    free(e->path);
    e->flow = e->path = NULL;
}

static void drop_entries(sp_ckpt *c)
{
    for (size_t i = 0; i < c->n; i++)
        entry_free(&c->entries[i]);
    free(c->entries);
    c->entries = NULL;
    c->n = c->cap = 0;
}

/* Room for one more entry. */
static int reserve_entry(sp_ckpt *c, sp_err *err)
{
    if (c->n < c->cap)
        return SP_OK;
    size_t ncap = c->cap ? c->cap * 2 : 16;
    if (c->cap > SIZE_MAX / 2 || ncap > SIZE_MAX / sizeof *c->entries)
        return sp_err_set(err, "too many checkpoint entries");
    sp_ckpt_entry *n = realloc(c->entries, ncap * sizeof *n);
    if (n == NULL)
        return sp_err_set(err, "out of memory for %zu checkpoint entries", ncap);
    c->entries = n;
    c->cap = ncap;
    return SP_OK;
}

static int64_t now_secs(void)
{
    time_t t = time(NULL);
    return t < 0 ? 0 : (int64_t)t;
}

/* The rules a stored entry obeys, shared by set and load. */
static int check_values(uint64_t dev, uint64_t ino, uint64_t offset, uint32_t fp_len, sp_err *err)
{
    if (dev > ID_MAX)
        return sp_err_set(err, "dev %" PRIu64 " is out of range", dev);
    if (ino > ID_MAX)
        return sp_err_set(err, "ino %" PRIu64 " is out of range", ino);
    if (offset > POS_MAX)
        return sp_err_set(err, "offset %" PRIu64 " is beyond the largest file offset", offset);
    if (fp_len > SP_FP_MAX)
        return sp_err_set(err, "fp_len %" PRIu32 " is over %d", fp_len, SP_FP_MAX);
    if (fp_len > offset)
        return sp_err_set(err, "fp_len %" PRIu32 " is over the offset %" PRIu64, fp_len, offset);
    return SP_OK;
}

sp_ckpt_entry *sp_ckpt_find(sp_ckpt *c, const char *flow, uint64_t dev, uint64_t ino)
{
    if (flow == NULL)
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        sp_ckpt_entry *e = &c->entries[i];
        if (e->dev == dev && e->ino == ino && strcmp(e->flow, flow) == 0)
            return e;
    }
    return NULL;
}

int sp_ckpt_set(sp_ckpt *c, const char *flow, const char *path, uint64_t dev, uint64_t ino,
                uint64_t offset, const unsigned char fp[32], uint32_t fp_len, sp_err *err)
{
    const char *file = c->path ? c->path : "(none)";
    if (flow == NULL || flow[0] == '\0')
        return sp_err_set(err, "checkpoint %s: empty flow name", file);
    if (fp == NULL)
        return sp_err_set(err, "checkpoint %s: flow %s: no fingerprint", file, flow);
    if (check_values(dev, ino, offset, fp_len, err) != SP_OK)
        return sp_err_prefix(err, "checkpoint %s: flow %s", file, flow);
    if (path == NULL)
        path = "";

    sp_ckpt_entry *e = sp_ckpt_find(c, flow, dev, ino);
    if (e != NULL) {
        int same_path = strcmp(e->path, path) == 0;
        /* Setting the same position again is not a change: no write. */
        if (same_path && e->offset == offset && e->fp_len == fp_len && memcmp(e->fp, fp, 32) == 0)
            return SP_OK;
        if (!same_path) {
            char *np = strdup(path);
            if (np == NULL)
                return sp_err_set(err, "checkpoint %s: out of memory", file);
            free(e->path);
            e->path = np;
        }
    } else {
        if (reserve_entry(c, err) != SP_OK)
            return sp_err_prefix(err, "checkpoint %s", file);
        char *nf = strdup(flow), *np = strdup(path);
        if (nf == NULL || np == NULL) {
            free(nf);
            free(np);
            return sp_err_set(err, "checkpoint %s: out of memory", file);
        }
        e = &c->entries[c->n++];
        memset(e, 0, sizeof *e);
        e->flow = nf;
        e->path = np;
        e->dev = dev;
        e->ino = ino;
    }
    e->offset = offset;
    e->fp_len = fp_len;
    memcpy(e->fp, fp, 32);
    e->updated = now_secs();
    c->dirty = 1;
    return SP_OK;
}

void sp_ckpt_remove(sp_ckpt *c, const char *flow, uint64_t dev, uint64_t ino)
{
    sp_ckpt_entry *e = sp_ckpt_find(c, flow, dev, ino);
    if (e == NULL)
        return;
    size_t i = (size_t)(e - c->entries);
    entry_free(e);
    /* Keeps the order, so that successive files differ only where they must. */
    memmove(e, e + 1, (c->n - i - 1) * sizeof *e);
    c->n--;
    c->dirty = 1;
}

void sp_ckpt_close(sp_ckpt *c)
{
    drop_entries(c);
    free(c->path);
    memset(c, 0, sizeof *c);
}

/* --- reading ---------------------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* "crc32 " + exactly 8 lowercase hex digits + "\n". */
static int parse_trailer(const char *t, size_t len, uint32_t *crc)
{
    if (len != CKPT_TRAILER_LEN || memcmp(t, CKPT_TRAILER, sizeof CKPT_TRAILER - 1) != 0)
        return SP_ERR;
    uint32_t v = 0;
    for (size_t i = sizeof CKPT_TRAILER - 1; i < len - 1; i++) {
        /* Lowercase only, as written: then no changed byte goes unnoticed. */
        int h = (t[i] >= 'A' && t[i] <= 'F') ? -1 : hexval(t[i]);
        if (h < 0)
            return SP_ERR;
        v = v << 4 | (uint32_t)h;
    }
    *crc = v;
    return SP_OK;
}

static uint32_t crc_of(const char *p, size_t n)
{
    return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), (const Bytef *)p, n);
}

static json_object *field(json_object *o, const char *key, json_type type, const char *what,
                          sp_err *err)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v)) {
        sp_err_set(err, "missing \"%s\"", key);
        return NULL;
    }
    if (v == NULL || !json_object_is_type(v, type)) {
        sp_err_set(err, "\"%s\" is not %s", key, what);
        return NULL;
    }
    return v;
}

static int get_uint(json_object *o, const char *key, uint64_t max, uint64_t *out, sp_err *err)
{
    json_object *v = field(o, key, json_type_int, "an integer", err);
    if (v == NULL)
        return SP_ERR;
    if (json_object_get_int64(v) < 0)
        return sp_err_set(err, "\"%s\" is negative", key);
    uint64_t u = json_object_get_uint64(v);
    if (u > max)
        return sp_err_set(err, "\"%s\" is too large (%" PRIu64 ", at most %" PRIu64 ")", key, u, max);
    *out = u;
    return SP_OK;
}

static int get_str(json_object *o, const char *key, int nonempty, char **out, sp_err *err)
{
    json_object *v = field(o, key, json_type_string, "a string", err);
    if (v == NULL)
        return SP_ERR;
    const char *s = json_object_get_string(v);
    int len = json_object_get_string_len(v);
    if (len < 0 || memchr(s, '\0', (size_t)len) != NULL)
        return sp_err_set(err, "\"%s\" contains a NUL byte", key);
    if (nonempty && len == 0)
        return sp_err_set(err, "\"%s\" is empty", key);
    if ((*out = strdup(s)) == NULL)
        return sp_err_set(err, "out of memory");
    return SP_OK;
}

static int load_entry(json_object *o, sp_ckpt_entry *e, sp_err *err)
{
    uint64_t fp_len, updated;
    json_object *v;
    const char *hex;
    memset(e, 0, sizeof *e);
    if (!json_object_is_type(o, json_type_object))
        return sp_err_set(err, "not an object");
    if (get_str(o, "flow", 1, &e->flow, err) != SP_OK ||
        get_str(o, "path", 0, &e->path, err) != SP_OK ||
        get_uint(o, "dev", ID_MAX, &e->dev, err) != SP_OK ||
        get_uint(o, "ino", ID_MAX, &e->ino, err) != SP_OK ||
        get_uint(o, "offset", POS_MAX, &e->offset, err) != SP_OK ||
        get_uint(o, "fp_len", SP_FP_MAX, &fp_len, err) != SP_OK ||
        get_uint(o, "updated", (uint64_t)INT64_MAX, &updated, err) != SP_OK)
        goto fail;
    e->fp_len = (uint32_t)fp_len;
    e->updated = (int64_t)updated;
    if (check_values(e->dev, e->ino, e->offset, e->fp_len, err) != SP_OK)
        goto fail;
    if ((v = field(o, "fp", json_type_string, "a string", err)) == NULL)
        goto fail;
    hex = json_object_get_string(v);
    if (json_object_get_string_len(v) != 64) {
        sp_err_set(err, "\"fp\" is not 64 hex digits");
        goto fail;
    }
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            sp_err_set(err, "\"fp\" is not 64 hex digits");
            goto fail;
        }
        e->fp[i] = (unsigned char)(hi << 4 | lo);
    }
    return SP_OK;
fail:
    entry_free(e);
    return SP_ERR;
}

static int entry_cmp(const void *a, const void *b)
{
    const sp_ckpt_entry *x = *(const sp_ckpt_entry *const *)a;
    const sp_ckpt_entry *y = *(const sp_ckpt_entry *const *)b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return strcmp(x->flow, y->flow);
}

/* Two entries for one (flow, dev, ino) would make find ambiguous. Sorting
 * pointers keeps a large file from costing n^2 comparisons. */
static int check_unique(const sp_ckpt *c, sp_err *err)
{
    if (c->n < 2)
        return SP_OK;
    const sp_ckpt_entry **v = malloc(c->n * sizeof *v);
    if (v == NULL)
        return sp_err_set(err, "out of memory");
    for (size_t i = 0; i < c->n; i++)
        v[i] = &c->entries[i];
    qsort(v, c->n, sizeof *v, entry_cmp);
    int rc = SP_OK;
    for (size_t i = 1; i < c->n; i++) {
        if (entry_cmp(&v[i - 1], &v[i]) == 0) {
            rc = sp_err_set(err, "two entries for flow \"%s\" dev %" PRIu64 " ino %" PRIu64,
                            v[i]->flow, v[i]->dev, v[i]->ino);
            break;
        }
    }
    free(v);
    return rc;
}

static int load_json(sp_ckpt *c, const char *data, size_t len, sp_err *err)
{
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return sp_err_set(err, "out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, data, (int)len);
    size_t end = json_tokener_get_parse_end(tok);
    if (root == NULL) {
        enum json_tokener_error je = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (je == json_tokener_continue)
            return sp_err_set(err, "bad JSON: ends too early");
        return sp_err_set(err, "bad JSON at byte %zu: %s", end, json_tokener_error_desc(je));
    }
    json_tokener_free(tok);
    int rc = SP_ERR;
    json_object *v, *arr;
    size_t n;
    while (end < len && (data[end] == ' ' || data[end] == '\t' || data[end] == '\n' || data[end] == '\r'))
        end++;
    if (end != len) {
        sp_err_set(err, "bad JSON: unexpected bytes after the document at byte %zu", end);
        goto out;
    }
    if (!json_object_is_type(root, json_type_object)) {
        sp_err_set(err, "bad JSON: the document is not an object");
        goto out;
    }
    if ((v = field(root, "version", json_type_int, "an integer", err)) == NULL)
        goto out;
    if (json_object_get_int64(v) != CKPT_VERSION) {
        sp_err_set(err, "unsupported version %" PRId64 " (this agent reads version %d)",
                   json_object_get_int64(v), CKPT_VERSION);
        goto out;
    }
    if ((arr = field(root, "entries", json_type_array, "an array", err)) == NULL)
        goto out;
    n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        if (reserve_entry(c, err) != SP_OK)
            goto out;
        if (load_entry(json_object_array_get_idx(arr, i), &c->entries[c->n], err) != SP_OK) {
            sp_err_prefix(err, "entry %zu", i);
            goto out;
        }
        c->n++;
    }
    rc = check_unique(c, err);
out:
    json_object_put(root);
    return rc;
}

static int load(sp_ckpt *c, const char *data, size_t len, sp_err *err)
{
    if (len == 0)
        return sp_err_set(err, "file is empty");
    if (data[len - 1] != '\n')
        return sp_err_set(err, "no crc32 trailer line (does not end with a newline; truncated?)");
    size_t start = len - 1;
    while (start > 0 && data[start - 1] != '\n')
        start--;
    uint32_t want;
    if (parse_trailer(data + start, len - start, &want) != SP_OK)
        return sp_err_set(err, "no valid crc32 trailer line (truncated?)");
    if (start == 0)
        return sp_err_set(err, "nothing before the crc32 trailer");
    uint32_t got = crc_of(data, start);
    if (got != want)
        return sp_err_set(err, "crc32 mismatch (trailer says %08" PRIx32 ", content has %08" PRIx32
                          "): the file is corrupt", want, got);
    return load_json(c, data, start, err);
}

int sp_ckpt_open(sp_ckpt *c, const char *path, sp_err *err)
{
    memset(c, 0, sizeof *c);
    if (path == NULL || path[0] == '\0')
        return sp_err_set(err, "checkpoint: no file name");
    if ((c->path = strdup(path)) == NULL)
        return sp_err_set(err, "checkpoint %s: out of memory", path);
    char *data = NULL;
    size_t len = 0;
    int rc = sp_file_read(path, CKPT_MAX_FILE, 0, &data, &len, err);
    if (rc != SP_OK && err->code == SP_E_NOENT)
        return SP_OK;   /* a first start */
    if (rc == SP_OK)
        rc = load(c, data, len, err);
    free(data);
    if (rc != SP_OK) {
        /* All or nothing: a half-loaded set would silently skip or repeat. */
        drop_entries(c);
        return sp_err_prefix(err, "checkpoint %s", path);
    }
    return SP_OK;
}

/* --- writing ---------------------------------------------------------------- */

/* A JSON string with every byte kept: see the top of the file. */
static void put_str(sp_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sp_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            sp_buf_append(b, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            sp_buf_append(b, esc, 6);
        } else {
            sp_buf_putc(b, (char)*p);
        }
    }
    sp_buf_putc(b, '"');
}

static int render(const sp_ckpt *c, sp_buf *b, sp_err *err)
{
    static const char hex[] = "0123456789abcdef";
    sp_buf_printf(b, "{\"version\":%d,\"entries\":[\n", CKPT_VERSION);
    for (size_t i = 0; i < c->n; i++) {
        const sp_ckpt_entry *e = &c->entries[i];
        char fp[65];
        for (size_t j = 0; j < 32; j++) {
            fp[2 * j] = hex[e->fp[j] >> 4];
            fp[2 * j + 1] = hex[e->fp[j] & 15];
        }
        fp[64] = '\0';
        sp_buf_puts(b, "{\"flow\":");
        put_str(b, e->flow);
        sp_buf_puts(b, ",\"path\":");
        put_str(b, e->path);
        sp_buf_printf(b, ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"offset\":%" PRIu64
                      ",\"fp_len\":%" PRIu32 ",\"fp\":\"%s\",\"updated\":%" PRId64 "}%s\n",
                      e->dev, e->ino, e->offset, e->fp_len, fp, e->updated < 0 ? 0 : e->updated,
                      i + 1 < c->n ? "," : "");
    }
    sp_buf_puts(b, "]}\n");
    if (!b->failed)
        sp_buf_printf(b, CKPT_TRAILER "%08" PRIx32 "\n", crc_of(b->data, b->len));
    return sp_buf_check(b, err, "rendering");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return SP_ERR;
        }
        if (w == 0) {
            errno = EIO;            /* no progress and no reason: do not spin */
            return SP_ERR;
        }
        p += w;
        n -= (size_t)w;
    }
    return SP_OK;
}

static int fsync_fd(int fd)
{
    int r;
    do
        r = fsync(fd);
    while (r != 0 && errno == EINTR);
    return r == 0 ? SP_OK : SP_ERR;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Makes the rename itself durable. */
static int sync_dir(const char *dir, sp_err *err)
{
    int fd;
    do
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return sp_err_set(err, "opening directory %s: %s", dir, strerror(errno));
    /* Some file systems cannot sync a directory and say EINVAL; there is
     * nothing more to be done there. */
    if (fsync_fd(fd) != SP_OK && errno != EINVAL) {
        int e = errno;
        close(fd);
        return sp_err_set(err, "syncing directory %s: %s", dir, strerror(e));
    }
    close(fd);
    return SP_OK;
}

static int create_tmp(const char *tmp)
{
    int fd;
    for (int tries = 0;; tries++) {
        do
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
        while (fd < 0 && errno == EINTR);
        if (fd >= 0 || errno != EEXIST || tries > 0)
            return fd;
        /* Left by a crashed process that had our pid (always 1 in a
         * container); no live process but us writes this name. */
        if (unlink(tmp) != 0 && errno != ENOENT) {
            errno = EEXIST;
            return -1;
        }
    }
}

int sp_ckpt_check_writable(const char *path, sp_err *err)
{
    if (path == NULL || path[0] == '\0')
        return sp_err_set(err, "checkpoint: no file name");
    struct stat st;
    int rc = SP_ERR, fd;
    char *dir = dir_of(path);
    size_t tlen = strlen(path) + 16;
    char *tmp = malloc(tlen);
    if (dir == NULL || tmp == NULL) {
        sp_err_set(err, "%s: out of memory", path);
        goto out;
    }
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            sp_err_set(err, "%s: directory %s does not exist", path, dir);
        else if (errno == ENOTDIR)
            sp_err_set(err, "%s: %s is not a directory (a file is part of its path)", path, dir);
        else
            sp_err_set(err, "%s: directory %s: %s", path, dir, strerror(errno));
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        sp_err_set(err, "%s: %s is not a directory", path, dir);
        goto out;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        sp_err_set(err, "%s is a directory, not a file", path);
        goto out;
    }
    /* A file of its own name, so that no save of a running agent is hit. */
    snprintf(tmp, tlen, "%s.check-XXXXXX", path);
    do
        fd = mkostemp(tmp, O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        sp_err_set(err, "%s: cannot create a file in directory %s: %s", path, dir, strerror(errno));
        goto out;
    }
    close(fd);
    if (unlink(tmp) != 0) {
        sp_err_set(err, "%s: removing the test file %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    rc = SP_OK;
out:
    free(dir);
    free(tmp);
    return rc;
}

static int write_atomic(const char *path, const char *data, size_t len, sp_err *err)
{
    char *dir = dir_of(path);
    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (dir == NULL || tmp == NULL) {
        free(dir);
        free(tmp);
        return sp_err_set(err, "checkpoint %s: out of memory", path);
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    int rc = SP_ERR, cr, fd = create_tmp(tmp);
    if (fd < 0) {
        if (errno == ENOENT)
            sp_err_set(err, "checkpoint %s: directory %s does not exist", path, dir);
        else
            sp_err_set(err, "checkpoint %s: creating %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, data, len) != SP_OK) {
        sp_err_set(err, "checkpoint %s: writing %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (fsync_fd(fd) != SP_OK) {
        sp_err_set(err, "checkpoint %s: syncing %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    /* close may report a deferred write error (NFS); EINTR still closed it. */
    cr = close(fd);
    fd = -1;
    if (cr != 0 && errno != EINTR) {
        sp_err_set(err, "checkpoint %s: closing %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        sp_err_set(err, "checkpoint %s: renaming %s over it: %s", path, tmp, strerror(errno));
        goto fail;
    }
    rc = sync_dir(dir, err);
    if (rc != SP_OK)
        sp_err_prefix(err, "checkpoint %s", path);
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);            /* best effort: the message already holds the cause */
out:
    free(dir);
    free(tmp);
    return rc;
}

int sp_ckpt_save(sp_ckpt *c, sp_err *err)
{
    if (!c->dirty)
        return SP_OK;
    if (c->path == NULL)
        return sp_err_set(err, "checkpoint: no file name");
    sp_buf b;
    /* Never write what sp_ckpt_open would refuse to read. */
    sp_buf_init(&b, CKPT_MAX_FILE);
    int rc = render(c, &b, err);
    if (rc != SP_OK)
        sp_err_prefix(err, "checkpoint %s", c->path);
    else
        rc = write_atomic(c->path, b.data, b.len, err);
    sp_buf_free(&b);
    if (rc == SP_OK)
        c->dirty = 0;
    return rc;
}

/* --- fingerprints ----------------------------------------------------------- */

/* SHA-256 of the len bytes of fd that end at offset; FP_SHORT when the
 * file ends before offset. */
static int hash_before(int fd, uint64_t offset, uint32_t len, unsigned char md[32], sp_err *err)
{
    unsigned char buf[SP_FP_MAX];
    if (offset > POS_MAX)
        return FP_SHORT;                    /* no file is that long */
    if (len > SP_FP_MAX || len > offset)
        return sp_err_set(err, "fingerprint of %" PRIu32 " bytes before offset %" PRIu64
                          " is impossible", len, offset);
    /* With nothing to hash, still make sure the file reaches offset. */
    uint64_t start = offset - (len ? len : (offset ? 1 : 0));
    size_t want = (size_t)(offset - start), got = 0;
    while (got < want) {
        ssize_t r = pread(fd, buf + got, want - got, (off_t)(start + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return sp_err_set(err, "reading %zu bytes before offset %" PRIu64 ": %s", want, offset,
                              strerror(errno));
        }
        if (r == 0)
            return FP_SHORT;
        got += (size_t)r;
    }
    unsigned int mdlen = 0;
    if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return sp_err_set(err, "SHA-256 failed");
    return SP_OK;
}

int sp_ckpt_fingerprint(int fd, uint64_t offset, unsigned char fp[32], uint32_t *fp_len, sp_err *err)
{
    uint32_t len = offset < SP_FP_MAX ? (uint32_t)offset : SP_FP_MAX;
    unsigned char md[32];
    int rc = hash_before(fd, offset, len, md, err);
    if (rc == FP_SHORT)
        return sp_err_set(err, "fingerprint: the file is shorter than offset %" PRIu64, offset);
    if (rc != SP_OK)
        return sp_err_prefix(err, "fingerprint");
    memcpy(fp, md, 32);
    *fp_len = len;
    return SP_OK;
}

int sp_ckpt_matches(int fd, const sp_ckpt_entry *e, sp_err *err)
{
    unsigned char md[32];
    int rc = hash_before(fd, e->offset, e->fp_len, md, err);
    if (rc == FP_SHORT)
        return 0;
    if (rc != SP_OK)
        return sp_err_prefix(err, "fingerprint of flow %s (%s)", e->flow ? e->flow : "?",
                             e->path ? e->path : "?");
    return memcmp(md, e->fp, 32) == 0;
}

/* --- contiguous acknowledgement ------------------------------------------- */

static size_t slot(const sp_progress *p, uint64_t id)
{
    return (size_t)(id & (uint64_t)(p->cap - 1));
}

void sp_progress_init(sp_progress *p, uint64_t start_pos)
{
    memset(p, 0, sizeof *p);
    p->done_pos = start_pos;
}

void sp_progress_free(sp_progress *p)
{
    free(p->pos);
    free(p->acked);
    p->pos = NULL;
    p->acked = NULL;
    p->cap = 0;
    p->base = p->next;      /* forget what was outstanding, keep numbering */
}

static int progress_grow(sp_progress *p, sp_err *err)
{
    size_t ncap = p->cap ? p->cap * 2 : PROGRESS_START_CAP;
    if (p->cap > SIZE_MAX / 2 || ncap > SIZE_MAX / sizeof *p->pos)
        return sp_err_set(err, "too many records in flight");
    uint64_t *npos = malloc(ncap * sizeof *npos);
    unsigned char *nacked = malloc(ncap);
    if (npos == NULL || nacked == NULL) {
        free(npos);
        free(nacked);
        return sp_err_set(err, "out of memory for %zu records in flight", ncap);
    }
    /* Slots move because the mask grows; ids keep their numbers. */
    for (uint64_t id = p->base; id < p->next; id++) {
        size_t from = slot(p, id), to = (size_t)(id & (uint64_t)(ncap - 1));
        npos[to] = p->pos[from];
        nacked[to] = p->acked[from];
    }
    free(p->pos);
    free(p->acked);
    p->pos = npos;
    p->acked = nacked;
    p->cap = ncap;
    return SP_OK;
}

int sp_progress_add(sp_progress *p, uint64_t pos, uint64_t *id, sp_err *err)
{
    if (p->next - p->base >= p->cap && progress_grow(p, err) != SP_OK)
        return SP_ERR;
    size_t s = slot(p, p->next);
    p->pos[s] = pos;
    p->acked[s] = 0;
    *id = p->next++;
    return SP_OK;
}

int sp_progress_ack(sp_progress *p, uint64_t id)
{
    /* Unknown, already released, or not yet issued: nothing to do. */
    if (id < p->base || id >= p->next)
        return 0;
    size_t s = slot(p, id);
    if (p->acked[s])
        return 0;
    p->acked[s] = 1;
    uint64_t old = p->done_pos;
    while (p->base < p->next && p->acked[slot(p, p->base)]) {
        p->done_pos = p->pos[slot(p, p->base)];
        p->base++;
    }
    return p->done_pos != old;
}

/* Counts the held-back records still unacknowledged: O(records in flight),
 * which the memory budget bounds. */
uint64_t sp_progress_outstanding(const sp_progress *p)
{
    uint64_t n = 0;
    for (uint64_t id = p->base; id < p->next; id++)
        n += !p->acked[slot(p, id)];
    return n;
}
