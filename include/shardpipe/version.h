/* The version line of `shardpipe version` / `--version`: shardpipe's own
 * version and the versions of the libraries it runs with (libcurl,
 * OpenSSL, json-c, zlib), as they report themselves at run time, so that
 * a report names what was really loaded rather than what it was built
 * against. */
#ifndef SHARDPIPE_VERSION_H
#define SHARDPIPE_VERSION_H

#include <stdio.h>

/* Writes the lines to f; SP_OK, or SP_ERR when they could not be written. */
int sp_version_print(FILE *f);

#endif
