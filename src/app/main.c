#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "shardpipe/cli.h"

/* Descriptors 0, 1 and 2 that were closed get /dev/null, as daemons do,
 * so that no descriptor of ours (the epoll one, a socket, a file being
 * tailed) ever lands on them and is taken for standard input or output.
 * That standard input was closed is remembered: reading it is an error. */
static int guard_std_fds(int *stdin_closed)
{
    *stdin_closed = 0;
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (n != fd) {      /* the lowest free descriptor is fd itself */
            if (n >= 0)
                (void)close(n);
            return -1;
        }
        if (fd == 0)
            *stdin_closed = 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int stdin_closed;
    if (guard_std_fds(&stdin_closed) != 0) {
        fprintf(stderr, "shardpipe: cannot open /dev/null for a closed standard descriptor\n");
        return SP_EXIT_FAIL;
    }
    /* libcurl's global state is set up once, here, before anything else. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "shardpipe: could not initialise libcurl\n");
        return SP_EXIT_FAIL;
    }
    int rc = sp_cli_main(argc, argv, stdin_closed);
    curl_global_cleanup();
    return rc;
}
