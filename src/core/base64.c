/* Standard base64 (RFC 4648 §4): encode for PutRecords bodies, strict
 * decode for GetRecords responses.
 *
 * Decode strictness: the length must be a multiple of 4, only the 64
 * alphabet characters appear, '=' only as one or two final characters,
 * and the bits a padded quantum leaves unused must be zero (RFC 4648 §3.5).
 * That last rule rejects inputs such as "QR==" that kinesalite would
 * accept: every real encoder, Kinesis included, emits canonical text, and
 * accepting only one spelling per byte string keeps round trips exact. */
#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SP_B64_SSSE3 1     /* and AVX2 where the CPU has it */
#endif

#include "shardpipe/base64.h"

static const char enc_tab[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0x40 marks a byte outside the alphabet ('=' included), so one OR over a
 * quantum's four lookups tells whether any of them was bad. */
#define BAD 0x40
static const uint8_t dec_tab[256] = {
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,  62, BAD, BAD, BAD,  63,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, BAD, BAD, BAD, BAD, BAD,
    BAD,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
};

/* Saturates at SIZE_MAX for absurd n, so a caller that reserves the
 * result fails its allocation instead of writing past a wrapped size. */
size_t sp_base64_encoded_len(size_t n)
{
    size_t q = n / 3 + (n % 3 != 0);
    if (q > SIZE_MAX / 4)
        return SIZE_MAX;
    return q * 4;
}

#ifdef SP_B64_SSSE3
/* 12 bytes to 16 characters per turn with SSSE3 (W. Muła and D. Lemire,
 * "Faster Base64 Encoding and Decoding Using AVX2 Instructions", 2018):
 * a shuffle puts each 3-byte group in a 32-bit lane, two multiplies move
 * the four 6-bit fields into their bytes, and a 16-entry table maps each
 * field's range to the offset that makes it a character. Reads 16 bytes,
 * so it stops while 16 are left. Returns the input bytes consumed. */
__attribute__((target("ssse3"))) static size_t encode_ssse3(const uint8_t *s, size_t n, char *o)
{
    const __m128i shuf = _mm_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
    const __m128i shift = _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                        '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62,
                                        '/' - 63, 'A', 0, 0);
    size_t done = 0;
    while (n - done >= 16) {
        __m128i in = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + done)), shuf);
        __m128i t1 = _mm_mulhi_epu16(_mm_and_si128(in, _mm_set1_epi32(0x0fc0fc00)), _mm_set1_epi32(0x04000040));
        __m128i t3 = _mm_mullo_epi16(_mm_and_si128(in, _mm_set1_epi32(0x003f03f0)), _mm_set1_epi32(0x01000010));
        __m128i idx = _mm_or_si128(t1, t3);
        /* 0..51 -> 0, 52..61 -> 1..10, 62 -> 11, 63 -> 12; then 0..25 -> 13 */
        __m128i r = _mm_subs_epu8(idx, _mm_set1_epi8(51));
        r = _mm_or_si128(r, _mm_and_si128(_mm_cmpgt_epi8(_mm_set1_epi8(26), idx), _mm_set1_epi8(13)));
        r = _mm_add_epi8(_mm_shuffle_epi8(shift, r), idx);
        _mm_storeu_si128((__m128i *)o, r);
        o += 16;
        done += 12;
    }
    return done;
}

/* The same on 256 bits: two 12-byte groups per turn, one in each 128-bit
 * lane (AVX2 shuffles stay within a lane). Reads 28 bytes. */
__attribute__((target("avx2"))) static size_t encode_avx2(const uint8_t *s, size_t n, char *o)
{
    const __m256i shuf = _mm256_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1,
                                         10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
    const __m256i shift = _mm256_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                           '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62,
                                           '/' - 63, 'A', 0, 0,
                                           'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                           '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62,
                                           '/' - 63, 'A', 0, 0);
    size_t done = 0;
    while (n - done >= 28) {
        __m256i v = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(s + done))),
            _mm_loadu_si128((const __m128i *)(s + done + 12)), 1);
        __m256i in = _mm256_shuffle_epi8(v, shuf);
        __m256i t1 = _mm256_mulhi_epu16(_mm256_and_si256(in, _mm256_set1_epi32(0x0fc0fc00)),
                                        _mm256_set1_epi32(0x04000040));
        __m256i t3 = _mm256_mullo_epi16(_mm256_and_si256(in, _mm256_set1_epi32(0x003f03f0)),
                                        _mm256_set1_epi32(0x01000010));
        __m256i idx = _mm256_or_si256(t1, t3);
        __m256i r = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
        r = _mm256_or_si256(r, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx),
                                                _mm256_set1_epi8(13)));
        r = _mm256_add_epi8(_mm256_shuffle_epi8(shift, r), idx);
        _mm256_storeu_si256((__m256i *)(void *)o, r);
        o += 32;
        done += 24;
    }
    return done;
}
#endif

void sp_base64_encode(const void *in, size_t n, char *out)
{
    const uint8_t *s = in;
    char *o = out;

#ifdef SP_B64_SSSE3
    if (n >= 28 && __builtin_cpu_supports("avx2")) {
        size_t done = encode_avx2(s, n, o);
        s += done;
        o += done / 3 * 4;
        n -= done;
    }
    if (n >= 16 && __builtin_cpu_supports("ssse3")) {
        size_t done = encode_ssse3(s, n, o);
        s += done;
        o += done / 3 * 4;
        n -= done;
    }
#endif

    /* Four groups per turn: fewer loop tests on the hot path. */
    while (n >= 12) {
        for (int k = 0; k < 4; k++) {
            uint32_t v = (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];
            o[0] = enc_tab[v >> 18];
            o[1] = enc_tab[(v >> 12) & 63];
            o[2] = enc_tab[(v >> 6) & 63];
            o[3] = enc_tab[v & 63];
            s += 3;
            o += 4;
        }
        n -= 12;
    }
    while (n >= 3) {
        uint32_t v = (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];
        o[0] = enc_tab[v >> 18];
        o[1] = enc_tab[(v >> 12) & 63];
        o[2] = enc_tab[(v >> 6) & 63];
        o[3] = enc_tab[v & 63];
        s += 3;
        o += 4;
        n -= 3;
    }
    if (n == 1) {
        o[0] = enc_tab[s[0] >> 2];
        o[1] = enc_tab[(s[0] & 3) << 4];
        o[2] = '=';
        o[3] = '=';
    } else if (n == 2) {
        uint32_t v = (uint32_t)s[0] << 8 | s[1];
        o[0] = enc_tab[v >> 10];
        o[1] = enc_tab[(v >> 4) & 63];
        o[2] = enc_tab[(v << 2) & 63];
        o[3] = '=';
    }
}

size_t sp_base64_decoded_max(size_t n)
{
    return n / 4 * 3;
}

int sp_base64_decode(const char *in, size_t n, void *out, size_t *outlen)
{
    const uint8_t *s = (const uint8_t *)in;
    uint8_t *o = out;

    if (n % 4 != 0)
        return -1;
    if (n == 0) {
        *outlen = 0;
        return 0;
    }

    /* Every quantum but the last has no padding. */
    size_t full = n / 4 - 1;
    for (size_t q = 0; q < full; q++) {
        uint32_t a = dec_tab[s[0]], b = dec_tab[s[1]];
        uint32_t c = dec_tab[s[2]], d = dec_tab[s[3]];
        if ((a | b | c | d) & BAD)
            return -1;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
        s += 4;
        o += 3;
    }

    /* The last quantum: "xxxx", "xxx=" or "xx==". */
    uint32_t a = dec_tab[s[0]], b = dec_tab[s[1]];
    uint32_t c = dec_tab[s[2]], d = dec_tab[s[3]];
    if ((a | b) & BAD)
        return -1;
    if (s[3] != '=') {
        if ((c | d) & BAD)
            return -1;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
        o += 3;
    } else if (s[2] != '=') {
        if ((c & BAD) || (c & 3) != 0)          /* unused low bits set */
            return -1;
        uint32_t v = a << 10 | b << 4 | c >> 2;
        o[0] = (uint8_t)(v >> 8);
        o[1] = (uint8_t)v;
        o += 2;
    } else {
        if ((b & 15) != 0)                      /* unused low bits set */
            return -1;
        o[0] = (uint8_t)(a << 2 | b >> 4);
        o += 1;
    }
    *outlen = (size_t)(o - (uint8_t *)out);
    return 0;
}
