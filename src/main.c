#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#include "shardpipe/cli.h"

int main(int argc, char **argv)
{
    /* libcurl's global state is set up once, here, before anything else. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "shardpipe: could not initialise libcurl\n");
        return SP_EXIT_FAIL;
    }
    int rc = sp_cli_main(argc, argv);
    curl_global_cleanup();
    return rc;
}
