/* Numbers and sizes as the command line and the configuration write them. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shardpipe/parse.h"

int sp_parse_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int sp_parse_size(const char *s, unsigned long long max, unsigned long long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    else if (*end != '\0')
        return -1;
    if (shift) {
        end++;
        if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
            end += strlen(end);
        if (*end != '\0' || v > (max >> shift))
            return -1;
        v <<= shift;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

void sp_store_uint(void *dst, size_t width, unsigned long long v)
{
    assert(width == sizeof(uint32_t) || width == sizeof(uint64_t));
    if (width == sizeof(uint32_t)) {
        uint32_t u = (uint32_t)v;
        memcpy(dst, &u, sizeof u);
    } else {
        uint64_t u = v;
        memcpy(dst, &u, sizeof u);
    }
}
