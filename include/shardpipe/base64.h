/* Standard base64 (RFC 4648, '+' '/', with padding), as Kinesis' JSON blobs use. */
#ifndef SHARDPIPE_BASE64_H
#define SHARDPIPE_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes (no NUL); SIZE_MAX if that does not fit. */
size_t sp_base64_encoded_len(size_t n);

/* Writes exactly sp_base64_encoded_len(n) characters to out (no NUL). */
void sp_base64_encode(const void *in, size_t n, char *out);

/* Largest decoded length of an n-character input. */
size_t sp_base64_decoded_max(size_t n);

/* Strict decode: n must be a multiple of 4, only [A-Za-z0-9+/] and final
 * '=' padding, and the unused bits before the padding must be zero (only
 * canonical text, as every encoder writes, is accepted). Writes to out (at
 * least sp_base64_decoded_max(n) bytes), sets *outlen. Returns 0, or -1 on
 * malformed input (out may then hold partial output). */
int sp_base64_decode(const char *in, size_t n, void *out, size_t *outlen);

#endif
