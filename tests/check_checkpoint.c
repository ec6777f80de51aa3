/* checkpoint: file round trip, set/find/remove, dirty tracking, rejection
 * of every kind of corrupt file (with messages naming the file), atomic
 * save (no temp file left, the old file survives a failed save),
 * fingerprints of reused and truncated files, and sp_progress against a
 * model over 100k records. Files live in mkdtemp directories under /tmp. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "check_util.h"
#include "shardpipe/checkpoint.h"

/* --- helpers ---------------------------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rnd_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rnd_state = x;
}

static char *mk_tmpdir(void)
{
    char *d = strdup("/tmp/check_checkpoint.XXXXXX");
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_tmpdir(char *d)
{
    ck_assert_int_eq(nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(d);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void put_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

static char *get_file(const char *path, size_t *len)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(buf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    buf[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    return buf;
}

/* Content followed by a correct trailer, computed here with zlib. */
static void put_with_crc(const char *path, const char *content, size_t len)
{
    uLong crc = crc32(crc32(0, Z_NULL, 0), (const Bytef *)content, (uInt)len);
    char trailer[32];
    snprintf(trailer, sizeof trailer, "crc32 %08lx\n", crc);
    char *all = malloc(len + strlen(trailer));
    ck_assert_ptr_nonnull(all);
    memcpy(all, content, len);
    memcpy(all + len, trailer, strlen(trailer));
    put_file(path, all, len + strlen(trailer));
    free(all);
}

static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* Opening must fail, leave an empty set and name the file and the fault. */
static void expect_corrupt(const char *path, const char *what)
{
    sp_ckpt c;
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_ERR);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_ptr_null(c.entries);
    ck_assert_ptr_nonnull(c.path);
    ck_assert_str_eq(c.path, path);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    if (what != NULL)
        ck_assert_msg(strstr(err.msg, what) != NULL, "expected \"%s\" in: %s", what, err.msg);
    sp_ckpt_close(&c);
}

static void fill_fp(unsigned char fp[32], uint64_t seed)
{
    for (int i = 0; i < 32; i++)
        fp[i] = (unsigned char)((seed >> (i % 8 * 8)) ^ (uint64_t)(i * 37));
}

static void sha256(const void *p, size_t n, unsigned char md[32])
{
    unsigned int len = 0;
    ck_assert_int_eq(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(len, 32);
}

static void unhex(const char *hex, unsigned char out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
}

/* A saved file with a few entries, for the corruption tests. */
static char *saved_sample(const char *dir)
{
    char *path = join(dir, "ckpt");
    sp_ckpt c;
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    for (int i = 0; i < 4; i++) {
        unsigned char fp[32];
        fill_fp(fp, (uint64_t)i + 1);
        char flow[16];
        snprintf(flow, sizeof flow, "flow%d", i);
        ck_assert_int_eq(sp_ckpt_set(&c, flow, "/var/log/a b\"c.log", 2049, 1000 + (uint64_t)i,
                                     5000 + (uint64_t)i, fp, SP_FP_MAX, &err), SP_OK);
    }
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    sp_ckpt_close(&c);
    return path;
}

/* --- file round trip -------------------------------------------------------- */

START_TEST(test_missing_file)
{
    char *dir = mk_tmpdir();
    char *path = join(dir, "none");
    sp_ckpt c;
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_str_eq(c.path, path);
    ck_assert_ptr_ne(c.path, path);                 /* a copy */
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(c.dirty, 0);
    ck_assert_ptr_null(sp_ckpt_find(&c, "f", 1, 2));
    /* Nothing changed, so nothing is written. */
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    ck_assert_int_eq(access(path, F_OK), -1);
    sp_ckpt_close(&c);
    sp_ckpt_close(&c);                              /* twice is harmless */

    /* A missing directory is a missing file too, until a save. */
    char *deep = join(dir, "no/such/ckpt");
    ck_assert_int_eq(sp_ckpt_open(&c, deep, &err), SP_OK);
    sp_ckpt_close(&c);

    ck_assert_int_eq(sp_ckpt_open(&c, "", &err), SP_ERR);
    sp_ckpt_close(&c);
    ck_assert_int_eq(sp_ckpt_open(&c, NULL, &err), SP_ERR);
    sp_ckpt_close(&c);
    free(deep);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_round_trip_many)
{
    enum { N = 3000 };
    static const char *odd_paths[] = {
        "/var/log/plain.log",
        "/var/log/quote\"back\\slash.log",
        "/var/log/ctl\n\t\r\x01\x1f\x7f.log",
        "/var/log/utf8-\xc3\xa9\xe2\x82\xac.log",
        "/var/log/not-utf8-\xff\xfe\xc3.log",
        "",
        "/slashes/a/b/c",
    };
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt.json");
    sp_ckpt c;
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    for (uint64_t i = 0; i < N; i++) {
        char flow[32];
        snprintf(flow, sizeof flow, i % 5 == 0 ? "fl\"ow\\%" PRIu64 : "flow-%" PRIu64, i % 7);
        uint64_t dev = i % 3 == 0 ? UINT64_MAX - 1 : i * 977;
        uint64_t ino = i % 11 == 0 ? UINT64_MAX - 1 - i : i;
        uint64_t off = i % 13 == 0 ? (uint64_t)INT64_MAX : i * 1009;
        uint32_t fp_len = off < SP_FP_MAX ? (uint32_t)off : (i % 2 ? SP_FP_MAX : (uint32_t)(i % 500));
        unsigned char fp[32];
        fill_fp(fp, rnd());
        ck_assert_int_eq(sp_ckpt_set(&c, flow, odd_paths[i % 7], dev, ino, off, fp, fp_len, &err),
                         SP_OK);
        c.entries[c.n - 1].updated = (int64_t)(i * 12345);
    }
    ck_assert_uint_eq(c.n, N);
    ck_assert_int_eq(c.dirty, 1);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 0);

    sp_ckpt d;
    ck_assert_int_eq(sp_ckpt_open(&d, path, &err), SP_OK);
    ck_assert_uint_eq(d.n, N);
    ck_assert_int_eq(d.dirty, 0);
    for (size_t i = 0; i < N; i++) {
        const sp_ckpt_entry *a = &c.entries[i], *b = &d.entries[i];     /* order kept */
        ck_assert_str_eq(a->flow, b->flow);
        ck_assert_str_eq(a->path, b->path);
        ck_assert_uint_eq(a->dev, b->dev);
        ck_assert_uint_eq(a->ino, b->ino);
        ck_assert_uint_eq(a->offset, b->offset);
        ck_assert_uint_eq(a->fp_len, b->fp_len);
        ck_assert_mem_eq(a->fp, b->fp, 32);
        ck_assert_int_eq(a->updated, b->updated);
        ck_assert_ptr_eq(sp_ckpt_find(&d, a->flow, a->dev, a->ino), b);
    }

    /* Human-readable: a header line, one line per entry, the closing line
     * and the trailer, whose crc zlib confirms. */
    size_t len;
    char *text = get_file(path, &len);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert(strncmp(text, "{\"version\":1,\"entries\":[\n", 25) == 0);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    ck_assert_uint_eq(lines, N + 3);
    ck_assert_uint_ge(len, 15);
    ck_assert(strncmp(text + len - 15, "crc32 ", 6) == 0);
    char want[16];
    snprintf(want, sizeof want, "%08lx\n",
             crc32(crc32(0, Z_NULL, 0), (const Bytef *)text, (uInt)(len - 15)));
    ck_assert_str_eq(text + len - 9, want);
    ck_assert(strstr(text, "\"path\":\"/var/log/quote\\\"back\\\\slash.log\"") != NULL);
    free(text);

    /* The file is private: mode 0600 (a umask only takes bits away). */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0077, 0);
    ck_assert_uint_eq(st.st_mode & 0600, 0600);
    ck_assert_int_eq(count_tmp(dir), 0);

    sp_ckpt_close(&d);
    sp_ckpt_close(&c);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_empty_set_round_trip)
{
    char *dir = mk_tmpdir();
    char *path = saved_sample(dir);
    sp_ckpt c;
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_uint_eq(c.n, 4);
    for (int i = 0; i < 4; i++) {
        char flow[16];
        snprintf(flow, sizeof flow, "flow%d", i);
        sp_ckpt_remove(&c, flow, 2049, 1000 + (uint64_t)i);
    }
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(c.dirty, 1);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    sp_ckpt_close(&c);
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_uint_eq(c.n, 0);
    sp_ckpt_close(&c);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_forward_compatible)
{
    /* Unknown members are ignored; fp hex may be upper case. */
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    const char *doc =
        "{\"version\":1,\"writer\":\"future\",\"entries\":[\n"
        "{\"flow\":\"f\",\"path\":\"/p\",\"dev\":1,\"ino\":2,\"offset\":10,\"fp_len\":10,"
        "\"fp\":\"ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789\","
        "\"updated\":5,\"extra\":[1,2,{}]}\n"
        "]}\n";
    put_with_crc(path, doc, strlen(doc));
    sp_ckpt c;
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.entries[0].fp[0], 0xab);
    ck_assert_uint_eq(c.entries[0].fp[31], 0x89);
    ck_assert_int_eq(c.entries[0].updated, 5);
    sp_ckpt_close(&c);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

/* --- set / find / remove / dirty ------------------------------------------- */

START_TEST(test_set_find_remove)
{
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    sp_ckpt c;
    sp_err err = {0};
    unsigned char fp1[32], fp2[32];
    fill_fp(fp1, 1);
    fill_fp(fp2, 2);
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);

    ck_assert_int_eq(sp_ckpt_set(&c, "a", "/x", 1, 2, 100, fp1, 100, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_set(&c, "b", "/x", 1, 2, 200, fp2, 200, &err), SP_OK);   /* other flow */
    ck_assert_int_eq(sp_ckpt_set(&c, "a", "/y", 1, 3, 300, fp2, 300, &err), SP_OK);   /* other ino */
    ck_assert_int_eq(sp_ckpt_set(&c, "a", NULL, 9, 2, 0, fp1, 0, &err), SP_OK);       /* other dev */
    ck_assert_uint_eq(c.n, 4);

    sp_ckpt_entry *e = sp_ckpt_find(&c, "a", 1, 2);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->flow, "a");
    ck_assert_str_eq(e->path, "/x");
    ck_assert_uint_eq(e->offset, 100);
    ck_assert_uint_eq(e->fp_len, 100);
    ck_assert_mem_eq(e->fp, fp1, 32);
    ck_assert_int_gt(e->updated, 1600000000);
    ck_assert_uint_eq(sp_ckpt_find(&c, "b", 1, 2)->offset, 200);
    ck_assert_uint_eq(sp_ckpt_find(&c, "a", 1, 3)->offset, 300);
    ck_assert_str_eq(sp_ckpt_find(&c, "a", 9, 2)->path, "");
    ck_assert_ptr_null(sp_ckpt_find(&c, "c", 1, 2));
    ck_assert_ptr_null(sp_ckpt_find(&c, "a", 2, 1));
    ck_assert_ptr_null(sp_ckpt_find(&c, NULL, 1, 2));

    /* Update in place, with a new path. */
    ck_assert_int_eq(sp_ckpt_set(&c, "a", "/x.1", 1, 2, 5000, fp2, SP_FP_MAX, &err), SP_OK);
    ck_assert_uint_eq(c.n, 4);
    e = sp_ckpt_find(&c, "a", 1, 2);
    ck_assert_str_eq(e->path, "/x.1");
    ck_assert_uint_eq(e->offset, 5000);
    ck_assert_uint_eq(e->fp_len, SP_FP_MAX);
    ck_assert_mem_eq(e->fp, fp2, 32);

    /* Remove keeps the others and their order. */
    sp_ckpt_remove(&c, "b", 1, 2);
    ck_assert_uint_eq(c.n, 3);
    ck_assert_ptr_null(sp_ckpt_find(&c, "b", 1, 2));
    ck_assert_str_eq(c.entries[0].path, "/x.1");
    ck_assert_uint_eq(c.entries[1].ino, 3);
    ck_assert_uint_eq(c.entries[2].dev, 9);
    sp_ckpt_remove(&c, "b", 1, 2);                  /* already gone */
    sp_ckpt_remove(&c, NULL, 1, 2);
    ck_assert_uint_eq(c.n, 3);
    sp_ckpt_remove(&c, "a", 9, 2);                  /* the last one */
    sp_ckpt_remove(&c, "a", 1, 2);                  /* the first one */
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.entries[0].ino, 3);

    /* Growth past the initial capacity, then everything findable. */
    for (uint64_t i = 0; i < 1000; i++)
        ck_assert_int_eq(sp_ckpt_set(&c, "g", "/g", 7, i, i, fp1, 0, &err), SP_OK);
    for (uint64_t i = 0; i < 1000; i++)
        ck_assert_uint_eq(sp_ckpt_find(&c, "g", 7, i)->offset, i);
    ck_assert_uint_eq(c.n, 1001);

    sp_ckpt_close(&c);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_set_rejects)
{
    sp_ckpt c;
    sp_err err = {0};
    unsigned char fp[32] = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, "/tmp/check_checkpoint-never-written", &err), SP_OK);
    struct {
        const char *flow;
        uint64_t dev, ino, offset;
        uint32_t fp_len;
        const char *what;
    } bad[] = {
        {"", 1, 1, 10, 10, "empty flow"},
        {NULL, 1, 1, 10, 10, "empty flow"},
        {"f", 1, 1, 10, 11, "fp_len 11 is over the offset 10"},
        {"f", 1, 1, 5000, SP_FP_MAX + 1, "fp_len 1025 is over 1024"},
        {"f", 1, 1, (uint64_t)INT64_MAX + 1, SP_FP_MAX, "beyond the largest file offset"},
        {"f", UINT64_MAX, 1, 10, 10, "dev"},
        {"f", 1, UINT64_MAX, 10, 10, "ino"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        ck_assert_int_eq(sp_ckpt_set(&c, bad[i].flow, "/p", bad[i].dev, bad[i].ino, bad[i].offset,
                                     fp, bad[i].fp_len, &err), SP_ERR);
        ck_assert_msg(strstr(err.msg, bad[i].what) != NULL, "case %zu: %s", i, err.msg);
        ck_assert_msg(strstr(err.msg, "/tmp/check_checkpoint-never-written") != NULL, "%s", err.msg);
    }
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 1, 10, NULL, 10, &err), SP_ERR);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(c.dirty, 0);

    /* A failed update leaves the entry as it was. */
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 1, 10, fp, 10, &err), SP_OK);
    c.dirty = 0;
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/q", 1, 1, 10, fp, 11, &err), SP_ERR);
    ck_assert_str_eq(c.entries[0].path, "/p");
    ck_assert_uint_eq(c.entries[0].fp_len, 10);
    ck_assert_int_eq(c.dirty, 0);
    sp_ckpt_close(&c);
}
END_TEST

START_TEST(test_dirty)
{
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    sp_ckpt c;
    sp_err err = {0};
    unsigned char fp[32];
    fill_fp(fp, 3);
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 0);
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 2, 10, fp, 10, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 1);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 0);
    ck_assert_int_eq(access(path, F_OK), 0);

    /* The same values again are no change. */
    int64_t when = c.entries[0].updated;
    c.entries[0].updated = when - 100;
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 2, 10, fp, 10, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 0);
    ck_assert_int_eq(c.entries[0].updated, when - 100);

    /* A clean set is not written: a removed file stays removed. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    ck_assert_int_eq(access(path, F_OK), -1);

    /* Each kind of change marks it dirty. */
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 2, 11, fp, 10, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 1);
    ck_assert_int_ge(c.entries[0].updated, when);
    c.dirty = 0;
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p2", 1, 2, 11, fp, 10, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 1);
    c.dirty = 0;
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p2", 1, 2, 11, fp, 9, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 1);
    c.dirty = 0;
    fp[5] ^= 1;
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p2", 1, 2, 11, fp, 9, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 1);
    c.dirty = 0;
    sp_ckpt_remove(&c, "f", 1, 3);                  /* not there: no change */
    ck_assert_int_eq(c.dirty, 0);
    sp_ckpt_remove(&c, "f", 1, 2);
    ck_assert_int_eq(c.dirty, 1);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 0);
    ck_assert_int_eq(access(path, F_OK), 0);
    sp_ckpt_close(&c);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

/* --- corruption ------------------------------------------------------------- */

START_TEST(test_every_flipped_bit)
{
    char *dir = mk_tmpdir();
    char *path = saved_sample(dir);
    size_t len;
    char *good = get_file(path, &len);
    char *bad = malloc(len);
    ck_assert_ptr_nonnull(bad);
    for (size_t i = 0; i < len; i++) {
        static const unsigned char masks[] = {1, 2, 4, 8, 16, 32, 64, 128, 0xff};
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(bad, good, len);
            bad[i] = (char)(bad[i] ^ masks[m]);
            put_file(path, bad, len);
            expect_corrupt(path, NULL);
        }
    }
    /* The sample itself still loads. */
    put_file(path, good, len);
    sp_ckpt c;
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_uint_eq(c.n, 4);
    sp_ckpt_close(&c);
    free(bad);
    free(good);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_truncated_and_extended)
{
    char *dir = mk_tmpdir();
    char *path = saved_sample(dir);
    size_t len;
    char *good = get_file(path, &len);
    for (size_t n = 0; n < len; n++) {
        put_file(path, good, n);
        expect_corrupt(path, n == 0 ? "empty" : NULL);
    }
    /* Bytes after the trailer. */
    char *more = malloc(len + 16);
    ck_assert_ptr_nonnull(more);
    memcpy(more, good, len);
    memcpy(more + len, "\n", 1);
    put_file(path, more, len + 1);
    expect_corrupt(path, "trailer");
    memcpy(more + len, "x", 1);
    put_file(path, more, len + 1);
    expect_corrupt(path, "trailer");
    memcpy(more + len, "crc32 00000000\n", 15);
    put_file(path, more, len + 15);
    expect_corrupt(path, NULL);
    free(more);
    free(good);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_garbage_and_crc)
{
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)rnd();
    put_file(path, junk, sizeof junk);
    expect_corrupt(path, NULL);
    put_file(path, "hello world\n", 12);
    expect_corrupt(path, "trailer");
    put_file(path, "crc32 00000000\n", 15);
    expect_corrupt(path, "nothing before");
    put_file(path, "\0\0\0\0", 4);
    expect_corrupt(path, "trailer");

    /* A well-formed document with a wrong crc. */
    const char *doc = "{\"version\":1,\"entries\":[\n]}\n";
    char buf[128];
    uLong crc = crc32(crc32(0, Z_NULL, 0), (const Bytef *)doc, (uInt)strlen(doc));
    snprintf(buf, sizeof buf, "%scrc32 %08lx\n", doc, crc ^ 0x10);
    put_file(path, buf, strlen(buf));
    expect_corrupt(path, "crc32 mismatch");
    /* The right crc in upper case: only lower case is ever written. */
    snprintf(buf, sizeof buf, "%scrc32 %08lX\n", doc, crc);
    if (strpbrk(buf + strlen(doc) + 6, "ABCDEF") != NULL) {
        put_file(path, buf, strlen(buf));
        expect_corrupt(path, "trailer");
    }
    snprintf(buf, sizeof buf, "%scrc32 %07lx\n", doc, crc & 0xfffffff);        /* short */
    put_file(path, buf, strlen(buf));
    expect_corrupt(path, "trailer");
    snprintf(buf, sizeof buf, "%scrc32  %08lx\n", doc, crc);
    put_file(path, buf, strlen(buf));
    expect_corrupt(path, "trailer");
    snprintf(buf, sizeof buf, "%scrc32 %08lx", doc, crc);                      /* no newline */
    put_file(path, buf, strlen(buf));
    expect_corrupt(path, "trailer");
    snprintf(buf, sizeof buf, "%scrc32 %08lx\n", doc, crc);
    put_file(path, buf, strlen(buf));
    sp_ckpt c;
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_uint_eq(c.n, 0);
    sp_ckpt_close(&c);

    /* A directory where the file should be. */
    char *sub = join(dir, "sub");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    expect_corrupt(sub, "not a regular file");

    /* Over the size limit (sparse, so cheap). */
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, ((off_t)64 << 20) + 1), 0);
    close(fd);
    expect_corrupt(path, "larger than");
    free(sub);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

#define FP64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define ENTRY(flow, path, dev, ino, off, fplen, fp, upd)                                      \
    "{\"flow\":" flow ",\"path\":" path ",\"dev\":" dev ",\"ino\":" ino ",\"offset\":" off  \
    ",\"fp_len\":" fplen ",\"fp\":" fp ",\"updated\":" upd "}"
#define OK_ENTRY ENTRY("\"f\"", "\"/p\"", "1", "2", "10", "10", "\"" FP64 "\"", "5")
#define DOC(e) "{\"version\":1,\"entries\":[\n" e "\n]}\n"

START_TEST(test_valid_crc_bad_content)
{
    static const struct {
        const char *doc;
        const char *what;
    } cases[] = {
        {DOC(OK_ENTRY), NULL},                      /* the control: this one loads */
        {"hello\n", "bad JSON"},
        {"{\"version\":1,\"entries\":[\n", "bad JSON"},
        {"{\"version\":1,\"entries\":[]} {}\n", "bad JSON"},
        {"{\"version\":1,\"entries\":[],}\n", "bad JSON"},
        {"{\"version\":01,\"entries\":[]}\n", "bad JSON"},
        {"/* hi */ {\"version\":1,\"entries\":[]}\n", "bad JSON"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", "bad JSON"},
        {"[1,2]\n", "not an object"},
        {"\"x\"\n", "not an object"},
        {"{}\n", "missing \"version\""},
        {"{\"version\":2,\"entries\":[]}\n", "unsupported version 2"},
        {"{\"version\":\"1\",\"entries\":[]}\n", "\"version\" is not an integer"},
        {"{\"version\":1.0,\"entries\":[]}\n", "\"version\" is not an integer"},
        {"{\"version\":NaN,\"entries\":[]}\n", "\"version\" is not an integer"},
        {"{\"version\":1}\n", "missing \"entries\""},
        {"{\"version\":1,\"entries\":{}}\n", "\"entries\" is not an array"},
        {"{\"version\":1,\"entries\":null}\n", "\"entries\" is not an array"},
        {DOC("1"), "entry 0: not an object"},
        {DOC(OK_ENTRY ",[]"), "entry 1: not an object"},
        {DOC("{\"path\":\"/p\",\"dev\":1,\"ino\":2,\"offset\":10,\"fp_len\":10,\"fp\":\"" FP64
             "\",\"updated\":5}"), "missing \"flow\""},
        {DOC("{\"flow\":\"f\",\"path\":\"/p\",\"dev\":1,\"ino\":2,\"offset\":10,\"fp_len\":10,"
             "\"updated\":5}"), "missing \"fp\""},
        {DOC("{\"flow\":\"f\",\"path\":\"/p\",\"dev\":1,\"ino\":2,\"offset\":10,\"fp_len\":10,"
             "\"fp\":\"" FP64 "\"}"), "missing \"updated\""},
        {DOC(ENTRY("7", "\"/p\"", "1", "2", "10", "10", "\"" FP64 "\"", "5")), "\"flow\" is not a string"},
        {DOC(ENTRY("\"\"", "\"/p\"", "1", "2", "10", "10", "\"" FP64 "\"", "5")), "\"flow\" is empty"},
        {DOC(ENTRY("\"a\\u0000b\"", "\"/p\"", "1", "2", "10", "10", "\"" FP64 "\"", "5")), "NUL"},
        {DOC(ENTRY("\"f\"", "null", "1", "2", "10", "10", "\"" FP64 "\"", "5")), "\"path\" is not a string"},
        {DOC(ENTRY("\"f\"", "\"/p\\u0000x\"", "1", "2", "10", "10", "\"" FP64 "\"", "5")), "NUL"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "-1", "2", "10", "10", "\"" FP64 "\"", "5")), "\"dev\" is negative"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "18446744073709551615", "2", "10", "10", "\"" FP64 "\"", "5")), "\"dev\" is too large"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "18446744073709551616", "2", "10", "10", "\"" FP64 "\"", "5")), "\"dev\" is too large"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "99999999999999999999999", "10", "10", "\"" FP64 "\"", "5")), "\"ino\" is too large"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "-9999999999999999999999", "10", "10", "\"" FP64 "\"", "5")), "\"ino\" is negative"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2.5", "10", "10", "\"" FP64 "\"", "5")), "\"ino\" is not an integer"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "1e3", "10", "10", "\"" FP64 "\"", "5")), "\"ino\" is not an integer"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "\"2\"", "10", "10", "\"" FP64 "\"", "5")), "\"ino\" is not an integer"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "true", "10", "10", "\"" FP64 "\"", "5")), "\"ino\" is not an integer"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "-10", "0", "\"" FP64 "\"", "5")), "\"offset\" is negative"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "9223372036854775808", "10", "\"" FP64 "\"", "5")), "\"offset\" is too large"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "5000", "1025", "\"" FP64 "\"", "5")), "\"fp_len\" is too large"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "5000", "4294967306", "\"" FP64 "\"", "5")), "\"fp_len\" is too large"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "5000", "-1", "\"" FP64 "\"", "5")), "\"fp_len\" is negative"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "10", "11", "\"" FP64 "\"", "5")), "fp_len 11 is over the offset 10"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "10", "10", "\"abcd\"", "5")), "\"fp\" is not 64 hex digits"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "10", "10", "\"" FP64 "00\"", "5")), "\"fp\" is not 64 hex digits"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "10", "10",
                   "\"0011223344556677889900112233445566778899001122334455667788990g\"", "5")),
         "\"fp\" is not 64 hex digits"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "10", "10", "42", "5")), "\"fp\" is not a string"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "10", "10", "\"" FP64 "\"", "-5")), "\"updated\" is negative"},
        {DOC(ENTRY("\"f\"", "\"/p\"", "1", "2", "10", "10", "\"" FP64 "\"", "9223372036854775808")), "\"updated\" is too large"},
        {DOC(OK_ENTRY "," OK_ENTRY), "two entries for flow \"f\" dev 1 ino 2"},
        {DOC(OK_ENTRY "," ENTRY("\"g\"", "\"/p\"", "1", "2", "10", "10", "\"" FP64 "\"", "5") ","
             ENTRY("\"f\"", "\"/q\"", "1", "2", "20", "10", "\"" FP64 "\"", "5")), "two entries"},
    };
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put_with_crc(path, cases[i].doc, strlen(cases[i].doc));
        if (cases[i].what == NULL) {
            sp_ckpt c;
            sp_err err = {0};
            ck_assert_msg(sp_ckpt_open(&c, path, &err) == SP_OK, "case %zu: %s", i, err.msg);
            ck_assert_uint_eq(c.n, 1);
            sp_ckpt_close(&c);
        } else {
            sp_ckpt c;
            sp_err err = {0};
            ck_assert_msg(sp_ckpt_open(&c, path, &err) == SP_ERR, "case %zu loaded", i);
            sp_ckpt_close(&c);
            expect_corrupt(path, cases[i].what);
        }
    }
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_recover_after_corrupt)
{
    /* The caller logs the error and carries on: the set is usable and the
     * next save replaces the bad file. */
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    put_file(path, "garbage\n", 8);
    sp_ckpt c;
    sp_err err = {0};
    unsigned char fp[32] = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_ERR);
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 2, 0, fp, 0, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    sp_ckpt_close(&c);
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    sp_ckpt_close(&c);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

/* --- atomic save ------------------------------------------------------------ */

START_TEST(test_save_missing_directory)
{
    char *dir = mk_tmpdir();
    char *sub = join(dir, "nope");
    char *path = join(sub, "ckpt");
    sp_ckpt c;
    sp_err err = {0};
    unsigned char fp[32] = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 2, 0, fp, 0, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "directory") != NULL && strstr(err.msg, "does not exist") != NULL,
                  "%s", err.msg);
    ck_assert_int_eq(c.dirty, 1);                   /* still to be written */
    ck_assert_int_eq(access(sub, F_OK), -1);        /* not created */
    ck_assert_int_eq(count_tmp(dir), 0);

    /* Once the directory exists the same set saves. */
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    ck_assert_int_eq(c.dirty, 0);
    ck_assert_int_eq(count_tmp(sub), 0);
    sp_ckpt_close(&c);
    free(path);
    free(sub);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_save_rename_fails)
{
    /* The target is a directory: the temp file is written and synced, the
     * rename fails, and the temp file must be gone. */
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    char *inside = join(path, "keep");
    ck_assert_int_eq(mkdir(path, 0700), 0);
    put_file(inside, "x", 1);
    sp_ckpt c;
    sp_err err = {0};
    unsigned char fp[32] = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_ERR);     /* not a regular file */
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 2, 0, fp, 0, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, path) != NULL && strstr(err.msg, "renaming") != NULL, "%s", err.msg);
    ck_assert_int_eq(count_tmp(dir), 0);
    ck_assert_int_eq(c.dirty, 1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    sp_ckpt_close(&c);
    free(inside);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_save_write_fails_keeps_old)
{
    /* A write that fails half way (file size limit: EFBIG) leaves the
     * previous file whole and no temp file behind. */
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    sp_ckpt c;
    sp_err err = {0};
    unsigned char fp[32];
    fill_fp(fp, 9);
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_set(&c, "keep", "/old", 1, 2, 100, fp, 100, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    size_t old_len;
    char *old = get_file(path, &old_len);
    ck_assert_uint_lt(old_len, 1024);

    for (uint64_t i = 0; i < 50; i++)
        ck_assert_int_eq(sp_ckpt_set(&c, "new", "/a/rather/long/path/name.log", 1, 100 + i, 5000,
                                     fp, SP_FP_MAX, &err), SP_OK);
    struct rlimit saved, small;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert(prev != SIG_ERR);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = sp_ckpt_save(&c, &err);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, prev);

    ck_assert_int_eq(rc, SP_ERR);
    ck_assert_msg(strstr(err.msg, path) != NULL && strstr(err.msg, strerror(EFBIG)) != NULL,
                  "%s", err.msg);
    ck_assert_int_eq(c.dirty, 1);
    ck_assert_int_eq(count_tmp(dir), 0);
    size_t now_len;
    char *now = get_file(path, &now_len);
    ck_assert_uint_eq(now_len, old_len);
    ck_assert_mem_eq(now, old, old_len);

    sp_ckpt d;
    ck_assert_int_eq(sp_ckpt_open(&d, path, &err), SP_OK);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.entries[0].path, "/old");
    sp_ckpt_close(&d);

    /* And with the limit lifted the new set goes through. */
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_open(&d, path, &err), SP_OK);
    ck_assert_uint_eq(d.n, 51);
    sp_ckpt_close(&d);
    free(now);
    free(old);
    sp_ckpt_close(&c);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_save_stale_temp)
{
    /* A temp file left by a crash of a process with our pid (pid 1 in every
     * container) must not block saves forever. */
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    char name[64];
    snprintf(name, sizeof name, "ckpt.tmp.%ld", (long)getpid());
    char *stale = join(dir, name);
    put_file(stale, "half a checkp", 13);
    sp_ckpt c;
    sp_err err = {0};
    unsigned char fp[32] = {0};
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 2, 0, fp, 0, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    ck_assert_int_eq(count_tmp(dir), 0);
    sp_ckpt_close(&c);
    ck_assert_int_eq(sp_ckpt_open(&c, path, &err), SP_OK);
    ck_assert_uint_eq(c.n, 1);
    sp_ckpt_close(&c);

    /* Relative file names save in the current directory. */
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(sp_ckpt_open(&c, "rel", &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_set(&c, "f", "/p", 1, 2, 0, fp, 0, &err), SP_OK);
    ck_assert_int_eq(sp_ckpt_save(&c, &err), SP_OK);
    sp_ckpt_close(&c);
    ck_assert_int_eq(chdir(cwd), 0);
    char *rel = join(dir, "rel");
    ck_assert_int_eq(access(rel, F_OK), 0);
    free(rel);
    free(stale);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

/* --- fingerprints ----------------------------------------------------------- */

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static int make_data_file(const char *path, unsigned char *data, size_t n)
{
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    memcpy(data, "abc", 3);
    put_file(path, data, n);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static sp_ckpt_entry entry_at(int fd, uint64_t offset)
{
    sp_ckpt_entry e;
    sp_err err = {0};
    memset(&e, 0, sizeof e);
    e.offset = offset;
    ck_assert_int_eq(sp_ckpt_fingerprint(fd, offset, e.fp, &e.fp_len, &err), SP_OK);
    return e;
}

START_TEST(test_fingerprint_values)
{
    char *dir = mk_tmpdir();
    char *path = join(dir, "data");
    unsigned char data[5000], want[32], fp[32];
    int fd = make_data_file(path, data, sizeof data);
    uint32_t fp_len = 99;
    sp_err err = {0};

    ck_assert_int_eq(sp_ckpt_fingerprint(fd, 0, fp, &fp_len, &err), SP_OK);
    ck_assert_uint_eq(fp_len, 0);
    unhex(SHA256_EMPTY, want);
    ck_assert_mem_eq(fp, want, 32);

    ck_assert_int_eq(sp_ckpt_fingerprint(fd, 3, fp, &fp_len, &err), SP_OK);
    ck_assert_uint_eq(fp_len, 3);
    unhex(SHA256_ABC, want);
    ck_assert_mem_eq(fp, want, 32);

    ck_assert_int_eq(sp_ckpt_fingerprint(fd, 100, fp, &fp_len, &err), SP_OK);
    ck_assert_uint_eq(fp_len, 100);
    sha256(data, 100, want);
    ck_assert_mem_eq(fp, want, 32);

    ck_assert_int_eq(sp_ckpt_fingerprint(fd, SP_FP_MAX, fp, &fp_len, &err), SP_OK);
    ck_assert_uint_eq(fp_len, SP_FP_MAX);
    sha256(data, SP_FP_MAX, want);
    ck_assert_mem_eq(fp, want, 32);

    ck_assert_int_eq(sp_ckpt_fingerprint(fd, 4000, fp, &fp_len, &err), SP_OK);
    ck_assert_uint_eq(fp_len, SP_FP_MAX);
    sha256(data + 4000 - SP_FP_MAX, SP_FP_MAX, want);
    ck_assert_mem_eq(fp, want, 32);

    ck_assert_int_eq(sp_ckpt_fingerprint(fd, sizeof data, fp, &fp_len, &err), SP_OK);
    sha256(data + sizeof data - SP_FP_MAX, SP_FP_MAX, want);
    ck_assert_mem_eq(fp, want, 32);

    /* Past the end, and past any possible end. */
    fp_len = 77;
    ck_assert_int_eq(sp_ckpt_fingerprint(fd, sizeof data + 1, fp, &fp_len, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "shorter than offset 5001") != NULL, "%s", err.msg);
    ck_assert_uint_eq(fp_len, 77);                  /* untouched on error */
    ck_assert_int_eq(sp_ckpt_fingerprint(fd, UINT64_MAX, fp, &fp_len, &err), SP_ERR);

    /* I/O errors: a closed descriptor, a pipe. */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    ck_assert_int_eq(sp_ckpt_fingerprint(pfd[0], 10, fp, &fp_len, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, strerror(ESPIPE)) != NULL, "%s", err.msg);
    close(pfd[0]);
    close(pfd[1]);
    ck_assert_int_eq(sp_ckpt_fingerprint(-1, 10, fp, &fp_len, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, strerror(EBADF)) != NULL, "%s", err.msg);

    close(fd);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

static void poke(int fd, uint64_t at, unsigned char v)
{
    ck_assert_int_eq(pwrite(fd, &v, 1, (off_t)at), 1);
}

START_TEST(test_fingerprint_matches)
{
    char *dir = mk_tmpdir();
    char *path = join(dir, "data");
    unsigned char data[5000];
    int fd = make_data_file(path, data, sizeof data);
    sp_err err = {0};
    const uint64_t offsets[] = {4000, 100, 1, SP_FP_MAX, SP_FP_MAX + 1};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        uint64_t off = offsets[k];
        sp_ckpt_entry e = entry_at(fd, off);
        uint64_t lo = off - e.fp_len;
        ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 1);

        /* A change inside the window, at either end. */
        poke(fd, off - 1, (unsigned char)(data[off - 1] ^ 1));
        ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 0);
        poke(fd, off - 1, data[off - 1]);
        poke(fd, lo, (unsigned char)(data[lo] ^ 0x80));
        ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 0);
        poke(fd, lo, data[lo]);
        ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 1);

        /* Changes outside it do not count. */
        if (lo > 0) {
            poke(fd, lo - 1, (unsigned char)(data[lo - 1] ^ 1));
            ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 1);
            poke(fd, lo - 1, data[lo - 1]);
        }
        poke(fd, off, (unsigned char)(data[off] ^ 1));
        ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 1);
        poke(fd, off, data[off]);

        /* Truncated below the offset, then exactly to it. */
        ck_assert_int_eq(ftruncate(fd, (off_t)off - 1), 0);
        ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 0);
        poke(fd, off - 1, data[off - 1]);
        ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 1);
        ck_assert_int_eq(pwrite(fd, data + off, sizeof data - off, (off_t)off),
                         (ssize_t)(sizeof data - off));
        ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 1);
    }

    /* The same inode rewritten with other bytes of the same length: what a
     * "copytruncate" rotation followed by new writes looks like. */
    sp_ckpt_entry e = entry_at(fd, 3000);
    struct stat before, after;
    ck_assert_int_eq(fstat(fd, &before), 0);
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    unsigned char other[5000];
    for (size_t i = 0; i < sizeof other; i++)
        other[i] = (unsigned char)(i * 13 + 1);
    ck_assert_int_eq(pwrite(fd, other, sizeof other, 0), (ssize_t)sizeof other);
    ck_assert_int_eq(fstat(fd, &after), 0);
    ck_assert_uint_eq(before.st_ino, after.st_ino);
    ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 0);
    ck_assert_int_eq(pwrite(fd, data, sizeof data, 0), (ssize_t)sizeof data);
    ck_assert_int_eq(sp_ckpt_matches(fd, &e, &err), 1);

    /* Offset 0 matches any file, even an empty one. */
    sp_ckpt_entry z = entry_at(fd, 0);
    ck_assert_uint_eq(z.fp_len, 0);
    ck_assert_int_eq(sp_ckpt_matches(fd, &z, &err), 1);
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(sp_ckpt_matches(fd, &z, &err), 1);

    /* An entry with nothing fingerprinted still needs the file to reach its
     * offset (a file written by an older agent with a smaller window). */
    sp_ckpt_entry nofp = z;
    nofp.offset = 10;
    ck_assert_int_eq(sp_ckpt_matches(fd, &nofp, &err), 0);
    ck_assert_int_eq(pwrite(fd, data, 10, 0), 10);
    ck_assert_int_eq(sp_ckpt_matches(fd, &nofp, &err), 1);

    /* Impossible entries and bad descriptors. */
    sp_ckpt_entry huge = e;
    huge.offset = UINT64_MAX;
    ck_assert_int_eq(sp_ckpt_matches(fd, &huge, &err), 0);
    sp_ckpt_entry broken = e;
    broken.fp_len = SP_FP_MAX + 1;
    ck_assert_int_eq(sp_ckpt_matches(fd, &broken, &err), SP_ERR);
    broken.fp_len = 20;
    broken.offset = 10;
    ck_assert_int_eq(sp_ckpt_matches(fd, &broken, &err), SP_ERR);
    e.flow = "myflow";
    e.path = "/var/log/x";
    ck_assert_int_eq(sp_ckpt_matches(-1, &e, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, "myflow") != NULL && strstr(err.msg, strerror(EBADF)) != NULL,
                  "%s", err.msg);

    close(fd);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

/* --- sp_progress ------------------------------------------------------------ */

START_TEST(test_progress_in_order)
{
    enum { N = 100000 };
    sp_progress p;
    sp_err err = {0};
    sp_progress_init(&p, 42);
    ck_assert_uint_eq(p.done_pos, 42);
    ck_assert_uint_eq(sp_progress_outstanding(&p), 0);
    ck_assert_int_eq(sp_progress_ack(&p, 0), 0);            /* nothing issued yet */
    ck_assert_int_eq(sp_progress_ack(&p, UINT64_MAX), 0);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t id = 99;
        ck_assert_int_eq(sp_progress_add(&p, 100 + i * 10, &id, &err), SP_OK);
        ck_assert_uint_eq(id, i);
    }
    ck_assert_uint_eq(sp_progress_outstanding(&p), N);
    ck_assert_uint_ge(p.cap, N);
    ck_assert_uint_eq(p.done_pos, 42);
    for (uint64_t i = 0; i < N; i++) {
        ck_assert_int_eq(sp_progress_ack(&p, i), 1);
        ck_assert_uint_eq(p.done_pos, 100 + i * 10);
        ck_assert_int_eq(sp_progress_ack(&p, i), 0);        /* duplicate */
        if (i % 997 == 0)
            ck_assert_uint_eq(sp_progress_outstanding(&p), N - i - 1);
    }
    ck_assert_uint_eq(sp_progress_outstanding(&p), 0);
    ck_assert_uint_eq(p.base, N);
    ck_assert_uint_eq(p.next, N);
    sp_progress_free(&p);
    sp_progress_free(&p);
    ck_assert_int_eq(sp_progress_ack(&p, N - 1), 0);
}
END_TEST

START_TEST(test_progress_reverse)
{
    enum { N = 100000 };
    sp_progress p;
    sp_err err = {0};
    sp_progress_init(&p, 0);
    uint64_t id;
    for (uint64_t i = 0; i < N; i++)
        ck_assert_int_eq(sp_progress_add(&p, i + 1, &id, &err), SP_OK);
    for (uint64_t i = N - 1; i > 0; i--) {
        ck_assert_int_eq(sp_progress_ack(&p, i), 0);        /* held back by record 0 */
        ck_assert_uint_eq(p.done_pos, 0);
    }
    ck_assert_uint_eq(sp_progress_outstanding(&p), 1);
    ck_assert_int_eq(sp_progress_ack(&p, N - 1), 0);        /* duplicate */
    ck_assert_int_eq(sp_progress_ack(&p, 0), 1);
    ck_assert_uint_eq(p.done_pos, N);
    ck_assert_uint_eq(sp_progress_outstanding(&p), 0);
    sp_progress_free(&p);
}
END_TEST

START_TEST(test_progress_growth)
{
    sp_progress p;
    sp_err err = {0};
    uint64_t id;
    sp_progress_init(&p, 7);
    ck_assert_uint_eq(p.cap, 0);                            /* nothing allocated yet */
    for (uint64_t i = 0; i < 1024; i++)
        ck_assert_int_eq(sp_progress_add(&p, 1000 + i, &id, &err), SP_OK);
    ck_assert_uint_eq(p.cap, 1024);
    for (uint64_t i = 0; i < 500; i++)
        ck_assert_int_eq(sp_progress_ack(&p, i), 1);
    /* The ring wraps, then grows while wrapped. */
    for (uint64_t i = 1024; i < 1024 + 500; i++)
        ck_assert_int_eq(sp_progress_add(&p, 1000 + i, &id, &err), SP_OK);
    ck_assert_uint_eq(p.cap, 1024);
    ck_assert_int_eq(sp_progress_ack(&p, 600), 0);          /* acked before the growth */
    for (uint64_t i = 1524; i < 5000; i++)
        ck_assert_int_eq(sp_progress_add(&p, 1000 + i, &id, &err), SP_OK);
    ck_assert_uint_eq(p.cap, 8192);
    ck_assert_uint_eq(sp_progress_outstanding(&p), 5000 - 500 - 1);
    for (uint64_t i = 500; i < 5000; i++) {
        int r = sp_progress_ack(&p, i);
        ck_assert_int_eq(r, i == 600 ? 0 : 1);
        ck_assert_uint_eq(p.done_pos, i == 599 ? 1000 + 600 : 1000 + i);
    }
    ck_assert_uint_eq(sp_progress_outstanding(&p), 0);
    /* The ring is reused without growing once drained. */
    for (uint64_t i = 0; i < 8192; i++)
        ck_assert_int_eq(sp_progress_add(&p, 9000 + i, &id, &err), SP_OK);
    ck_assert_uint_eq(p.cap, 8192);
    ck_assert_int_eq(sp_progress_add(&p, 1, &id, &err), SP_OK);
    ck_assert_uint_eq(p.cap, 16384);
    sp_progress_free(&p);
}
END_TEST

START_TEST(test_progress_random_model)
{
    /* Adds and acks interleaved at random, acks in random order with
     * duplicates and bogus ids, checked after every step against a plain
     * model: a done flag per record and the first record not done. */
    enum { N = 100000 };
    uint64_t *pos = malloc(N * sizeof *pos);
    unsigned char *done = calloc(N, 1);
    uint64_t *open_ids = malloc(N * sizeof *open_ids);       /* added, not acked */
    ck_assert(pos && done && open_ids);
    sp_progress p;
    sp_err err = {0};
    sp_progress_init(&p, 5);
    uint64_t added = 0, first = 0, n_open = 0, acks = 0, expected_pos = 5;
    size_t max_cap = 0;
    rnd_state = 12345;
    while (first < N) {
        uint64_t r = rnd() % 100;
        if (added < N && (n_open == 0 || r < 52)) {
            uint64_t id;
            pos[added] = 10 + added * 3 + rnd() % 3;
            ck_assert_int_eq(sp_progress_add(&p, pos[added], &id, &err), SP_OK);
            ck_assert_uint_eq(id, added);
            open_ids[n_open++] = added++;
        } else if (r < 97 || added == N) {
            uint64_t k = rnd() % n_open, id = open_ids[k];
            open_ids[k] = open_ids[--n_open];
            done[id] = 1;
            acks++;
            uint64_t old_first = first;
            while (first < added && done[first])
                first++;
            if (first != old_first)
                expected_pos = pos[first - 1];
            ck_assert_int_eq(sp_progress_ack(&p, id), first != old_first);
        } else {
            /* A duplicate, an id not issued yet, or one long released. */
            uint64_t before = p.done_pos;
            if (acks > 0) {
                uint64_t id = rnd() % added;
                if (done[id])
                    ck_assert_int_eq(sp_progress_ack(&p, id), 0);
            }
            ck_assert_int_eq(sp_progress_ack(&p, added + rnd() % 5), 0);
            ck_assert_uint_eq(p.done_pos, before);
        }
        ck_assert_uint_eq(p.done_pos, expected_pos);
        ck_assert_uint_eq(p.base, first);
        ck_assert_uint_eq(p.next, added);
        if (p.cap > max_cap)
            max_cap = p.cap;
        if ((added + acks) % 4099 == 0)
            ck_assert_uint_eq(sp_progress_outstanding(&p), n_open);
    }
    ck_assert_uint_eq(acks, N);
    ck_assert_uint_eq(p.done_pos, pos[N - 1]);
    ck_assert_uint_eq(sp_progress_outstanding(&p), 0);
    ck_assert_uint_gt(max_cap, 1024);                       /* it had to grow */
    sp_progress_free(&p);
    free(pos);
    free(done);
    free(open_ids);
}
END_TEST

START_TEST(test_progress_equal_positions)
{
    /* Several records may share a resume position (say, datagrams); an ack
     * that does not move done_pos reports no advance. */
    sp_progress p;
    sp_err err = {0};
    uint64_t a, b, c;
    sp_progress_init(&p, 10);
    ck_assert_int_eq(sp_progress_add(&p, 10, &a, &err), SP_OK);
    ck_assert_int_eq(sp_progress_add(&p, 20, &b, &err), SP_OK);
    ck_assert_int_eq(sp_progress_add(&p, 20, &c, &err), SP_OK);
    ck_assert_int_eq(sp_progress_ack(&p, a), 0);
    ck_assert_uint_eq(p.base, 1);
    ck_assert_int_eq(sp_progress_ack(&p, b), 1);
    ck_assert_int_eq(sp_progress_ack(&p, c), 0);
    ck_assert_uint_eq(p.done_pos, 20);
    ck_assert_uint_eq(sp_progress_outstanding(&p), 0);
    sp_progress_free(&p);
}
END_TEST

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void expect_unwritable(const char *path, const char *what)
{
    sp_err err = {0};
    ck_assert_int_eq(sp_ckpt_check_writable(path, &err), SP_ERR);
    ck_assert_msg(strstr(err.msg, path) != NULL, "no path in: %s", err.msg);
    ck_assert_msg(strstr(err.msg, what) != NULL, "no '%s' in: %s", what, err.msg);
}

/* In a child with a mount namespace of its own, dir is bind-mounted
 * read-only over itself (what root cannot get from chmod): 0 when the
 * check refuses it naming the reason, 1 when it does not, 2 when no
 * namespace can be had (not root, or no CAP_SYS_ADMIN). */
static int ro_mount_check(const char *dir)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount(dir, dir, NULL, MS_BIND, NULL) != 0 ||
            mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0)
            _exit(2);
        char path[4096];
        snprintf(path, sizeof path, "%s/ckpt", dir);
        sp_err err = {0};
        if (sp_ckpt_check_writable(path, &err) == SP_OK)
            _exit(1);
        _exit(strstr(err.msg, "Read-only file system") != NULL && strstr(err.msg, path) != NULL ? 0 : 1);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Checked for real (a file is created and removed): the cases root meets
 * as well as anyone, and a read-only directory for other users. */
START_TEST(test_check_writable)
{
    char *dir = mk_tmpdir();
    char *path = join(dir, "ckpt");
    sp_err err = {0};
    ck_assert_msg(sp_ckpt_check_writable(path, &err) == SP_OK, "%s", err.msg);
    ck_assert_int_eq(count_entries(dir), 0);            /* the test file is gone */
    put_file(path, "x", 1);                             /* an existing file is fine */
    ck_assert_msg(sp_ckpt_check_writable(path, &err) == SP_OK, "%s", err.msg);
    ck_assert_int_eq(count_entries(dir), 1);

    char *missing = join(dir, "nope/ckpt");
    expect_unwritable(missing, "does not exist");
    char *under_file = join(path, "ckpt");               /* dir/ckpt is a file */
    expect_unwritable(under_file, "is not a directory");
    char *deeper = join(path, "sub/ckpt");
    expect_unwritable(deeper, "is not a directory");
    char *sub = join(dir, "sub");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    expect_unwritable(sub, "is a directory");            /* rename could not replace it */
    if (geteuid() != 0) {                                /* root writes anyway */
        ck_assert_int_eq(chmod(sub, 0500), 0);
        char *ro = join(sub, "ckpt");
        expect_unwritable(ro, "cannot create a file in directory");
        ck_assert_int_eq(chmod(sub, 0700), 0);
        free(ro);
    }
    ck_assert_int_eq(sp_ckpt_check_writable("", &err), SP_ERR);
    ck_assert_int_eq(count_entries(sub), 0);
    int ro = ro_mount_check(sub);
    ck_assert_msg(ro != 1, "a read-only mount was taken as writable");
    if (ro == 2)
        fprintf(stderr, "check_checkpoint: no mount namespace here: read-only mount case not run\n");
    free(sub);
    free(deeper);
    free(under_file);
    free(missing);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *f = tcase_create("file");
    tcase_set_timeout(f, 120);
    tcase_add_test(f, test_missing_file);
    tcase_add_test(f, test_round_trip_many);
    tcase_add_test(f, test_empty_set_round_trip);
    tcase_add_test(f, test_forward_compatible);
    tcase_add_test(f, test_set_find_remove);
    tcase_add_test(f, test_set_rejects);
    tcase_add_test(f, test_dirty);
    suite_add_tcase(s, f);

    TCase *k = tcase_create("corrupt");
    tcase_set_timeout(k, 120);
    tcase_add_test(k, test_every_flipped_bit);
    tcase_add_test(k, test_truncated_and_extended);
    tcase_add_test(k, test_garbage_and_crc);
    tcase_add_test(k, test_valid_crc_bad_content);
    tcase_add_test(k, test_recover_after_corrupt);
    suite_add_tcase(s, k);

    TCase *a = tcase_create("atomic");
    tcase_set_timeout(a, 60);
    tcase_add_test(a, test_save_missing_directory);
    tcase_add_test(a, test_save_rename_fails);
    tcase_add_test(a, test_save_write_fails_keeps_old);
    tcase_add_test(a, test_save_stale_temp);
    tcase_add_test(a, test_check_writable);
    suite_add_tcase(s, a);

    TCase *fp = tcase_create("fingerprint");
    tcase_add_test(fp, test_fingerprint_values);
    tcase_add_test(fp, test_fingerprint_matches);
    suite_add_tcase(s, fp);

    TCase *p = tcase_create("progress");
    tcase_set_timeout(p, 120);
    tcase_add_test(p, test_progress_in_order);
    tcase_add_test(p, test_progress_reverse);
    tcase_add_test(p, test_progress_growth);
    tcase_add_test(p, test_progress_random_model);
    tcase_add_test(p, test_progress_equal_positions);
    suite_add_tcase(s, p);
    return s;
}

SP_CHECK_MAIN(checkpoint_suite)
