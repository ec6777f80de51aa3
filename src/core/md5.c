/* MD5, RFC 1321 §3: 64-byte blocks, four rounds of sixteen steps. Not for
 * anything secret: it only spreads partition keys over the hash space. */
#include <string.h>

#include "shardpipe/md5.h"

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static uint32_t rotl(uint32_t x, unsigned c)
{
    return (x << c) | (x >> (32 - c));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The rounds unrolled by the macros: each step's message word and shift
 * are constants, which lets the compiler keep everything in registers. */
#define STEP(f, a, b, c, d, i, g, s)                                   \
    do {                                                               \
        a += f(b, c, d) + K[i] + m[g];                                 \
        a = b + rotl(a, s);                                            \
    } while (0)
#define F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define H(x, y, z) ((x) ^ (y) ^ (z))
#define I(x, y, z) ((y) ^ ((x) | ~(z)))

static void block(uint32_t st[4], const uint8_t *p)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = le32(p + 4 * i);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    for (int i = 0; i < 16; i += 4) {
        STEP(F, a, b, c, d, i, i, 7);
        STEP(F, d, a, b, c, i + 1, i + 1, 12);
        STEP(F, c, d, a, b, i + 2, i + 2, 17);
        STEP(F, b, c, d, a, i + 3, i + 3, 22);
    }
    for (int i = 16; i < 32; i += 4) {
        STEP(G, a, b, c, d, i, (5 * i + 1) & 15, 5);
        STEP(G, d, a, b, c, i + 1, (5 * (i + 1) + 1) & 15, 9);
        STEP(G, c, d, a, b, i + 2, (5 * (i + 2) + 1) & 15, 14);
        STEP(G, b, c, d, a, i + 3, (5 * (i + 3) + 1) & 15, 20);
    }
    for (int i = 32; i < 48; i += 4) {
        STEP(H, a, b, c, d, i, (3 * i + 5) & 15, 4);
        STEP(H, d, a, b, c, i + 1, (3 * (i + 1) + 5) & 15, 11);
        STEP(H, c, d, a, b, i + 2, (3 * (i + 2) + 5) & 15, 16);
        STEP(H, b, c, d, a, i + 3, (3 * (i + 3) + 5) & 15, 23);
    }
    for (int i = 48; i < 64; i += 4) {
        STEP(I, a, b, c, d, i, (7 * i) & 15, 6);
        STEP(I, d, a, b, c, i + 1, (7 * (i + 1)) & 15, 10);
        STEP(I, c, d, a, b, i + 2, (7 * (i + 2)) & 15, 15);
        STEP(I, b, c, d, a, i + 3, (7 * (i + 3)) & 15, 21);
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

void sp_md5(const void *data, size_t n, uint8_t out[16])
{
    uint32_t st[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const uint8_t *p = data;
    size_t left = n;
    for (; left >= 64; left -= 64, p += 64)
        block(st, p);
    /* The tail, 0x80, zeros, and the bit length (little-endian) in the last 8 bytes. */
    uint8_t tail[128] = {0};
    if (left)
        memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tl = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 8 + i] = (uint8_t)(bits >> (8 * i));
    block(st, tail);
    if (tl == 128)
        block(st, tail + 64);
    for (int i = 0; i < 4; i++) {
        out[4 * i] = (uint8_t)st[i];
        out[4 * i + 1] = (uint8_t)(st[i] >> 8);
        out[4 * i + 2] = (uint8_t)(st[i] >> 16);
        out[4 * i + 3] = (uint8_t)(st[i] >> 24);
    }
}
