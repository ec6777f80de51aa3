/* Reading a whole file, bounded: the one way configuration, credential
 * and checkpoint files are read. Never blocks on a FIFO or a device (they
 * are refused), never reads more than the bound. */
#ifndef SHARDPIPE_FILE_H
#define SHARDPIPE_FILE_H

#include <stddef.h>
#include "shardpipe/err.h"

#define SP_FILE_WIPE 1u     /* it may hold secrets: memory given back on the way
                               is zeroed (free with sp_file_free(buf, len, 1)) */
#define SP_FILE_DEVICES 2u  /* a character device is read too (/dev/null as an
                               empty credentials file, as the AWS tools allow) */

/* Reads path into a new NUL-terminated heap buffer (*out, *len without
 * the NUL). Refused, with the code in err: a missing file (SP_E_NOENT, also
 * for a missing directory on the way), anything but a regular file (or a
 * character device with SP_FILE_DEVICES) or more than max bytes
 * (SP_E_INVALID), a failing system call (SP_E_IO), memory (SP_E_NOMEM).
 * Messages do not name the path: callers put it first. */
int sp_file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len, sp_err *err);

/* Frees a buffer from sp_file_read, zeroing it first when wipe is set. */
void sp_file_free(char *buf, size_t len, int wipe);

#endif
