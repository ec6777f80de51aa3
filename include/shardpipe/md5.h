/* MD5 (RFC 1321) of a short byte string: the partition key hash Kinesis
 * routes by. Our own because EVP_Digest in OpenSSL 3 fetches the algorithm
 * and allocates a context on every call, about 4,000 instructions for a
 * 32-byte key; this is one compression per 64 bytes and nothing else. */
#ifndef SHARDPIPE_MD5_H
#define SHARDPIPE_MD5_H

#include <stddef.h>
#include <stdint.h>

void sp_md5(const void *data, size_t n, uint8_t out[16]);

#endif
