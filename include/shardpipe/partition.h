/* Partition-key strategies: how a record gets the key that routes it to a
 * shard. Keys are 1..256 characters of valid UTF-8 (KINESIS.md §2.2); a
 * strategy never produces an invalid one: a longer or non-UTF-8 key is
 * hashed down to 32 hex digits, an empty one falls back to random. */
#ifndef SHARDPIPE_PARTITION_H
#define SHARDPIPE_PARTITION_H

#include <regex.h>
#include <stddef.h>
#include "shardpipe/err.h"
#include "shardpipe/rng.h"

#define SP_PK_MAX_CHARS 256
#define SP_PK_MAX_BYTES (SP_PK_MAX_CHARS * 4)   /* UTF-8 worst case */

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
} sp_partition;

/* "random", "hash", "balanced", "fixed:KEY", "field:PATH", "regex:ERE".
 * Call sp_partition_free afterwards (regex). */
int sp_partition_parse(const char *spec, sp_partition *p, sp_err *err);
/* A fixed key, checked: valid UTF-8, 1..256 characters. */
int sp_partition_fixed(sp_partition *p, const char *key, sp_err *err);
void sp_partition_free(sp_partition *p);

/* The most bytes a key from this strategy can take: the framer reserves
 * them out of the record cap, which counts key and data together. */
size_t sp_partition_reserve(const sp_partition *p);

/* Writes the key for one record to out (at least SP_PK_MAX_BYTES bytes);
 * returns its length (>= 1). *fallback is set to 1 when a field or regex
 * strategy found nothing and a random key was used (never NULL). */
size_t sp_partition_key(const sp_partition *p, sp_rng *rng, const void *data, size_t len,
                        char *out, int *fallback);

/* Number of characters in valid UTF-8 s, or -1 when s is not valid UTF-8. */
long sp_utf8_chars(const char *s, size_t n);

#endif
