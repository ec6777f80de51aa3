/* Shared main() for the Check unit-test programs: each tests/check_X.c
 * defines its suite and ends with SP_CHECK_MAIN(X_suite). */
#ifndef SHARDPIPE_CHECK_UTIL_H
#define SHARDPIPE_CHECK_UTIL_H

#include <check.h>
#include <stdlib.h>

#define SP_CHECK_MAIN(suite_fn)                                   \
    int main(void)                                                \
    {                                                             \
        SRunner *sr = srunner_create(suite_fn());                 \
        srunner_run_all(sr, CK_NORMAL);                           \
        int failed = srunner_ntests_failed(sr);                   \
        srunner_free(sr);                                         \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;         \
    }

#endif
