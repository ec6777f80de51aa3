/* 128-bit hash keys on two 64-bit words: strict decimal parsing and
 * formatting, comparison, and MD5 of a partition key (KINESIS.md §3). */
#include <stdio.h>
#include <string.h>

#include "shardpipe/md5.h"
#include "shardpipe/u128.h"

#define DEC_DIGITS_MAX 39   /* digits of 2^128-1 */

/* v = v * 10 + d; returns -1 when the result does not fit in 128 bits. */
static int mul10_add(sp_u128 *v, unsigned d)
{
    /* The low word in 32-bit halves, so each partial product fits. */
    uint64_t a = (v->lo & 0xffffffffu) * 10 + d;
    uint64_t b = (v->lo >> 32) * 10 + (a >> 32);
    uint64_t carry = b >> 32;
    if (v->hi > (UINT64_MAX - carry) / 10)
        return -1;
    v->hi = v->hi * 10 + carry;
    v->lo = b << 32 | (a & 0xffffffffu);
    return 0;
}

int sp_u128_parse(const char *s, size_t n, sp_u128 *out)
{
    sp_u128 v = {0, 0};

    if (s == NULL || n == 0 || n > DEC_DIGITS_MAX)
        return -1;
    if (s[0] == '0' && n > 1)           /* the pattern allows no leading zero */
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9 || mul10_add(&v, d) != 0)
            return -1;
    }
    *out = v;
    return 0;
}

/* v /= div (div < 2^32), returning the remainder: long division by 32-bit
 * limbs, so that each step's dividend fits in 64 bits. */
static uint32_t divmod32(sp_u128 *v, uint32_t div)
{
    uint32_t limb[4] = {
        (uint32_t)(v->hi >> 32), (uint32_t)v->hi,
        (uint32_t)(v->lo >> 32), (uint32_t)v->lo,
    };
    uint64_t rem = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t cur = rem << 32 | limb[i];
        limb[i] = (uint32_t)(cur / div);
        rem = cur % div;
    }
    v->hi = (uint64_t)limb[0] << 32 | limb[1];
    v->lo = (uint64_t)limb[2] << 32 | limb[3];
    return (uint32_t)rem;
}

size_t sp_u128_format(sp_u128 v, char out[SP_U128_DEC_MAX])
{
    char tmp[SP_U128_DEC_MAX + 8];
    size_t n = 0;

    /* Nine digits per division: 10^9 < 2^32. */
    do {
        uint32_t chunk = divmod32(&v, 1000000000u);
        int last = v.hi == 0 && v.lo == 0;
        for (int k = 0; k < 9; k++) {
            tmp[n++] = (char)('0' + chunk % 10);
            chunk /= 10;
            if (last && chunk == 0)
                break;
        }
    } while (v.hi != 0 || v.lo != 0);

    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

int sp_u128_cmp(sp_u128 a, sp_u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

/* EVP_Digest can only fail when MD5 is unavailable (a FIPS-only OpenSSL
 * configuration) or memory runs out; the signature has no error path, so
 * the key 0 is returned, which still routes every record somewhere. */
sp_u128 sp_hashkey(const void *pk, size_t n)
{
    uint8_t md[16];
    sp_u128 h = {0, 0};
    sp_md5(pk, n, md);
    for (int i = 0; i < 8; i++) {
        h.hi = h.hi << 8 | md[i];
        h.lo = h.lo << 8 | md[8 + i];
    }
    return h;
}

sp_u128 sp_u128_midpoint(sp_u128 a, sp_u128 b)
{
    sp_u128 d;
    d.lo = b.lo - a.lo;
    d.hi = b.hi - a.hi - (b.lo < a.lo);
    d.lo = (d.lo >> 1) | (d.hi << 63);
    d.hi >>= 1;
    sp_u128 m;
    m.lo = a.lo + d.lo;
    m.hi = a.hi + d.hi + (m.lo < a.lo);
    return m;
}
