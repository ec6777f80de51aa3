/* Number and size parsing, shared by the command line and the
 * configuration: strict (digits only, no sign, no spaces), range-checked,
 * overflow-safe. */
#ifndef SHARDPIPE_PARSE_H
#define SHARDPIPE_PARSE_H

#include <stddef.h>

/* Parses a byte count: digits with an optional K/KiB, M/MiB or G/GiB
 * suffix (powers of 1024). Returns 0, or -1 when malformed or over max. */
int sp_parse_size(const char *s, unsigned long long max, unsigned long long *out);

/* Parses a whole number in [min, max]. Returns 0 or -1. */
int sp_parse_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out);

/* Stores v into a field of width bytes (4 or 8: the uint32_t, unsigned,
 * size_t and uint64_t fields the option and key tables point at). */
void sp_store_uint(void *dst, size_t width, unsigned long long v);

#endif
