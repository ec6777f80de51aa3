/* 128-bit hash keys (KINESIS.md §3): the MD5 of a partition key read as a
 * big-endian unsigned integer, and the ranges shards own. */
#ifndef SHARDPIPE_U128_H
#define SHARDPIPE_U128_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_u128 {
    uint64_t hi, lo;
} sp_u128;

#define SP_U128_DEC_MAX 40  /* 39 digits of 2^128-1 plus NUL */

/* Strict decimal parse, as the ExplicitHashKey pattern 0|([1-9]\d{0,38}):
 * digits only, no sign, no leading zero (except "0" itself), value at most
 * 2^128-1. Returns 0, or -1 on any violation. */
int sp_u128_parse(const char *s, size_t n, sp_u128 *out);

/* Decimal, NUL-terminated; returns the number of digits. */
size_t sp_u128_format(sp_u128 v, char out[SP_U128_DEC_MAX]);

int sp_u128_cmp(sp_u128 a, sp_u128 b);   /* <0, 0, >0 */

/* MD5 of the partition key bytes, read as an unsigned big-endian 128-bit
 * integer: the hash Kinesis routes by. */
sp_u128 sp_hashkey(const void *pk, size_t n);

/* The midpoint of [a, b] (a <= b), rounded down: an ExplicitHashKey that
 * lands inside a shard's range. */
sp_u128 sp_u128_midpoint(sp_u128 a, sp_u128 b);

#endif
