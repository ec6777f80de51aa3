/* Partition-key strategies: how a record gets the key that routes it to a
 * shard. Keys are valid UTF-8 of 1..256 UTF-16 code units, as the service
 * counts them (KINESIS.md §2.2; a character above U+FFFF, such as an
 * emoji, is two units); a strategy never produces an invalid one: a
 * longer or non-UTF-8 key is hashed down to 32 hex digits, an empty one
 * falls back to random. */
#ifndef SHARDPIPE_PARTITION_H
#define SHARDPIPE_PARTITION_H

#include <regex.h>
#include <stddef.h>
#include "shardpipe/ere.h"
#include "shardpipe/err.h"
#include "shardpipe/rng.h"

#define SP_PK_MAX_UNITS 256                     /* UTF-16 code units */
/* Room for any key: 256 units take at most 768 bytes of UTF-8 (3 bytes
 * per unit in the BMP, 4 per 2 units above it); the old 1024 is kept so
 * that record caps stay as they were. */
#define SP_PK_MAX_BYTES 1024

enum sp_pk_kind {
    SP_PK_RANDOM = 0,   /* 16 random hex digits per record: spreads load evenly */
    SP_PK_FIXED,        /* one key for every record */
    SP_PK_HASH,         /* MD5 of the record data, hex: equal lines share a shard */
    SP_PK_FIELD,        /* a field of a JSON line, by dotted path */
    SP_PK_REGEX,        /* the first capture group of a POSIX extended regex */
    SP_PK_BALANCED      /* no meaningful key: the producer picks the shard with
                           the most spare capacity and sets an ExplicitHashKey */
};

#define SP_FIELD_DEPTH_MAX 16

typedef struct sp_partition {
    enum sp_pk_kind kind;
    char fixed[SP_PK_MAX_BYTES + 1];
    size_t fixed_len;
    char path[256];                       /* SP_PK_FIELD, '.'-separated */
    const char *parts[SP_FIELD_DEPTH_MAX];
    size_t nparts;
    char path_store[256];                 /* path with '.' replaced by NULs */
    regex_t re;                           /* SP_PK_REGEX */
    int re_set;
    size_t match_bytes;                   /* SP_PK_REGEX: the bytes of a line the
                                             pattern sees (ere.h), set by parse to
                                             SP_MATCH_BYTES_DEFAULT; may be changed */
} sp_partition;

/* "random", "hash", "balanced", "fixed:KEY", "field:PATH", "regex:ERE".
 * A regex must pass sp_ere_check (no back-references, bounded size) and
 * have a capture group. Call sp_partition_free afterwards (regex). */
int sp_partition_parse(const char *spec, sp_partition *p, sp_err *err);
/* A fixed key, checked: valid UTF-8, 1..256 UTF-16 code units. */
int sp_partition_fixed(sp_partition *p, const char *key, sp_err *err);
void sp_partition_free(sp_partition *p);

/* The most bytes a key from this strategy can take: the framer reserves
 * them out of the record cap, which counts key and data together. */
size_t sp_partition_reserve(const sp_partition *p);

/* Writes the key for one record to out (at least SP_PK_MAX_BYTES bytes);
 * returns its length (>= 1). *fallback is set to 1 when a field or regex
 * strategy found nothing and a random key was used (never NULL). A regex
 * sees the first match_bytes bytes of the line only: a key past them is
 * not found, one cut by them is what was seen of it. */
size_t sp_partition_key(const sp_partition *p, sp_rng *rng, const void *data, size_t len,
                        char *out, int *fallback);

/* Number of characters in valid UTF-8 s, or -1 when s is not valid UTF-8. */
long sp_utf8_chars(const char *s, size_t n);
/* Length of valid UTF-8 s in UTF-16 code units (2 for a character above
 * U+FFFF), or -1 when s is not valid UTF-8. */
long sp_utf16_units(const char *s, size_t n);

#endif
