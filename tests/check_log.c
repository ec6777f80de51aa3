/* log: a log file with time stamps, reopened after rotation; the pacing
 * of an error that lasts (sp_log_repeat). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_util.h"
#include "shardpipe/log.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int lines_match(const char *text, const char *ere)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, ere, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    int ok = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

START_TEST(test_file_reopen)
{
    char dir[] = "/tmp/sp-log-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], moved[256];
    snprintf(path, sizeof path, "%s/shardpipe.log", dir);
    snprintf(moved, sizeof moved, "%s/shardpipe.log.1", dir);
    sp_log lg = {.level = SP_LOG_INFO};
    sp_err err;
    ck_assert_int_eq(sp_log_open(&lg, path, &err), SP_OK);
    sp_log_info(&lg, "first %d", 1);
    sp_log_debug(&lg, "not at info");
    /* logrotate: rename, then SIGHUP */
    ck_assert_int_eq(rename(path, moved), 0);
    sp_log_info(&lg, "still the old file");
    ck_assert_int_eq(sp_log_reopen(&lg, &err), SP_OK);
    sp_log_error(&lg, "in the new file");
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0007, 0);   /* not for everyone: it names roles and hosts */
    const char *old = slurp(moved);
    ck_assert(lines_match(old, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z shardpipe: info: first 1$"));
    ck_assert(lines_match(old, "Z shardpipe: info: still the old file$"));
    ck_assert_ptr_null(strstr(old, "not at info"));
    ck_assert_ptr_null(strstr(old, "new file"));
    const char *now = slurp(path);
    ck_assert(lines_match(now, "^[0-9T:-]{19}Z shardpipe: error: in the new file$"));
    sp_log_close(&lg);
    ck_assert_ptr_null(lg.path);
    ck_assert_ptr_null(lg.out);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}
END_TEST

START_TEST(test_open_failure)
{
    sp_log lg = {.level = SP_LOG_INFO};
    sp_err err;
    ck_assert_int_eq(sp_log_open(&lg, "/nonexistent-dir/x.log", &err), SP_ERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-dir/x.log"));
    ck_assert_ptr_null(lg.out);
    ck_assert_ptr_null(lg.path);
    /* without a file, reopening does nothing */
    ck_assert_int_eq(sp_log_reopen(&lg, &err), SP_OK);
}
END_TEST

START_TEST(test_repeat_backoff)
{
    sp_log_repeat r = {0};
    uint64_t t = 1000;
    uint64_t lines[16];
    size_t n = 0;
    /* the error happens every second for an hour */
    for (uint64_t s = 0; s < 3600; s++, t += 1000) {
        if (sp_log_repeat_due(&r, t, 30000, 600000)) {
            ck_assert_uint_lt(n, 16);
            lines[n++] = t;
            if (n > 1)
                ck_assert_uint_gt(r.held, 0);
            r.held = 0;
        }
    }
    ck_assert_uint_eq(lines[0], 1000);         /* at once */
    ck_assert_uint_eq(lines[1] - lines[0], 30000);
    ck_assert_uint_eq(lines[2] - lines[1], 60000);
    ck_assert_uint_eq(lines[3] - lines[2], 120000);
    ck_assert_uint_eq(lines[4] - lines[3], 240000);
    ck_assert_uint_eq(lines[5] - lines[4], 480000);
    ck_assert_uint_eq(lines[6] - lines[5], 600000);   /* capped */
    ck_assert_uint_eq(lines[7] - lines[6], 600000);
    ck_assert_int_eq(sp_log_repeat_end(&r), 1);
    ck_assert_int_eq(sp_log_repeat_end(&r), 0);
    /* after it ended, the next one is logged at once */
    ck_assert_int_eq(sp_log_repeat_due(&r, t, 30000, 600000), 1);
}
END_TEST

START_TEST(test_journal_stream)
{
    struct stat st;
    ck_assert_int_eq(fstat(2, &st), 0);
    char v[64];
    snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    ck_assert_int_eq(setenv("JOURNAL_STREAM", v, 1), 0);
    ck_assert_int_eq(sp_log_stderr_is_journal(), 1);
    snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + 1);
    ck_assert_int_eq(setenv("JOURNAL_STREAM", v, 1), 0);
    ck_assert_int_eq(sp_log_stderr_is_journal(), 0);
    ck_assert_int_eq(unsetenv("JOURNAL_STREAM"), 0);
    ck_assert_int_eq(sp_log_stderr_is_journal(), 0);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_file_reopen);
    tcase_add_test(tc, test_open_failure);
    tcase_add_test(tc, test_repeat_backoff);
    tcase_add_test(tc, test_journal_stream);
    suite_add_tcase(s, tc);
    return s;
}

SP_CHECK_MAIN(log_suite)
