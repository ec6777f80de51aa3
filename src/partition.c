#include <openssl/evp.h>
#include <string.h>

#include "shardpipe/partition.h"

static const char hexdig[] = "0123456789abcdef";

long sp_utf8_chars(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    long chars = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        if (c < 0x80) len = 1;
        else if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c >= 0xe0 && c <= 0xef) len = 3;
        else if (c >= 0xf0 && c <= 0xf4) len = 4;
        else return -1;
        if (len > n - i)
            return -1;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return -1;
        /* overlongs and surrogates */
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
            (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))
            return -1;
        i += len;
        chars++;
    }
    return chars;
}

int sp_partition_fixed(sp_partition *p, const char *key, sp_err *err)
{
    size_t n = strlen(key);
    long chars = sp_utf8_chars(key, n);
    if (chars < 0)
        return sp_err_set(err, "partition key is not valid UTF-8");
    if (chars < 1 || chars > SP_PK_MAX_CHARS)
        return sp_err_set(err, "partition key must be 1 to %d characters (got %ld)", SP_PK_MAX_CHARS, chars);
    memset(p, 0, sizeof *p);
    p->kind = SP_PK_FIXED;
    memcpy(p->fixed, key, n);
    p->fixed_len = n;
    return SP_OK;
}

int sp_partition_parse(const char *spec, sp_partition *p, sp_err *err)
{
    if (strcmp(spec, "random") == 0) {
        memset(p, 0, sizeof *p);
        p->kind = SP_PK_RANDOM;
        return SP_OK;
    }
    if (strcmp(spec, "hash") == 0) {
        memset(p, 0, sizeof *p);
        p->kind = SP_PK_HASH;
        return SP_OK;
    }
    if (strncmp(spec, "fixed:", 6) == 0)
        return sp_partition_fixed(p, spec + 6, err);
    return sp_err_set(err, "unknown partition key strategy '%s' (expected random, hash or fixed:KEY)", spec);
}

size_t sp_partition_reserve(const sp_partition *p)
{
    switch (p->kind) {
    case SP_PK_FIXED: return p->fixed_len;
    case SP_PK_HASH: return 32;
    case SP_PK_RANDOM: return 16;
    }
    return SP_PK_MAX_BYTES;
}

size_t sp_partition_key(const sp_partition *p, sp_rng *rng, const void *data, size_t len, char *out)
{
    switch (p->kind) {
    case SP_PK_FIXED:
        memcpy(out, p->fixed, p->fixed_len);
        return p->fixed_len;
    case SP_PK_HASH: {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16) {
            memset(md, 0, sizeof md); /* cannot happen with a working libcrypto */
            mdlen = 16;
        }
        for (unsigned i = 0; i < 16; i++) {
            out[2 * i] = hexdig[md[i] >> 4];
            out[2 * i + 1] = hexdig[md[i] & 15];
        }
        return 32;
    }
    case SP_PK_RANDOM:
    default: {
        uint64_t r = sp_rng_next(rng);
        for (int i = 0; i < 16; i++, r >>= 4)
            out[i] = hexdig[r & 15];
        return 16;
    }
    }
}
