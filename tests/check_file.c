/* core: errors carry a code (callers decide by it, not by the text), and
 * the one bounded whole-file reader: missing, directories, FIFOs (never
 * blocked on), devices, the size bound, exact contents. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/err.h"
#include "shardpipe/file.h"

static void temp_dir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/sp-check-file-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(out));
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(err_codes)
{
    sp_err e = {0};
    ck_assert_int_eq(e.code, SP_E_NONE);
    ck_assert_int_eq(sp_err_set(&e, "plain %d", 1), SP_ERR);
    ck_assert_int_eq(e.code, SP_E_FAILED);
    ck_assert_int_eq(sp_err_setc(&e, SP_E_NOENT, "gone"), SP_ERR);
    ck_assert_int_eq(e.code, SP_E_NOENT);
    sp_err_prefix(&e, "reading %s", "x");
    ck_assert_int_eq(e.code, SP_E_NOENT);          /* context does not change the kind */
    ck_assert_str_eq(e.msg, "reading x: gone");
    sp_err_clear(&e);
    ck_assert_int_eq(e.code, SP_E_NONE);
    ck_assert_str_eq(e.msg, "");
    ck_assert_int_eq(sp_err_setc(NULL, SP_E_IO, "no target"), SP_ERR);
}
END_TEST

START_TEST(read_whole_files)
{
    char dir[64], path[128];
    char *buf;
    size_t len;
    sp_err err = {0};
    temp_dir(dir, sizeof dir);

    snprintf(path, sizeof path, "%s/missing", dir);
    ck_assert_int_eq(sp_file_read(path, 100, 0, &buf, &len, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_NOENT);
    ck_assert_ptr_null(buf);
    snprintf(path, sizeof path, "%s/missing/below", dir);
    ck_assert_int_eq(sp_file_read(path, 100, 0, &buf, &len, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_NOENT);

    ck_assert_int_eq(sp_file_read(dir, 100, 0, &buf, &len, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "a directory"));

    /* A FIFO with no writer: refused at once, never waited on. */
    snprintf(path, sizeof path, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    time_t t0 = time(NULL);
    ck_assert_int_eq(sp_file_read(path, 100, SP_FILE_DEVICES, &buf, &len, &err), SP_ERR);
    ck_assert(time(NULL) - t0 < 2);
    ck_assert_int_eq(err.code, SP_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "a FIFO"));
    ck_assert_int_eq(unlink(path), 0);

    /* /dev/null is a device: only with SP_FILE_DEVICES, and then empty. */
    ck_assert_int_eq(sp_file_read("/dev/null", 100, 0, &buf, &len, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_INVALID);
    ck_assert_int_eq(sp_file_read("/dev/null", 100, SP_FILE_DEVICES, &buf, &len, &err), SP_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(buf, "");
    sp_file_free(buf, len, 0);
    /* A device that never ends stops at the bound. */
    ck_assert_int_eq(sp_file_read("/dev/zero", 5000, SP_FILE_DEVICES, &buf, &len, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "larger than 5000 bytes"));

    /* Exact contents, NUL-terminated, NUL bytes inside kept; the bound is
     * inclusive. */
    snprintf(path, sizeof path, "%s/f", dir);
    write_file(path, "ab\0cd", 5);
    ck_assert_int_eq(sp_file_read(path, 5, SP_FILE_WIPE, &buf, &len, &err), SP_OK);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(buf, "ab\0cd", 6) == 0);
    sp_file_free(buf, len, 1);
    ck_assert_int_eq(sp_file_read(path, 4, 0, &buf, &len, &err), SP_ERR);
    ck_assert_int_eq(err.code, SP_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "larger than 4 bytes"));
    ck_assert_int_eq(unlink(path), 0);

    /* Empty, and large (past the first buffer). */
    write_file(path, "", 0);
    ck_assert_int_eq(sp_file_read(path, 10, 0, &buf, &len, &err), SP_OK);
    ck_assert_uint_eq(len, 0);
    sp_file_free(buf, len, 0);
    size_t big = 300000;
    char *data = malloc(big);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    write_file(path, data, big);
    ck_assert_int_eq(sp_file_read(path, big, 0, &buf, &len, &err), SP_OK);
    ck_assert_uint_eq(len, big);
    ck_assert(memcmp(buf, data, big) == 0 && buf[big] == '\0');
    sp_file_free(buf, len, 0);
    free(data);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *file_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, err_codes);
    tcase_add_test(tc, read_whole_files);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(file_suite)
