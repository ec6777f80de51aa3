/* Partition-key strategies: how a record gets the key that routes it to a
 * shard. Keys are 1..256 characters (KINESIS.md §2.2); a strategy never
 * produces an invalid one. */
#ifndef SHARDPIPE_PARTITION_H
#define SHARDPIPE_PARTITION_H

#include <stddef.h>
#include "shardpipe/err.h"
#include "shardpipe/rng.h"

#define SP_PK_MAX_CHARS 256
#define SP_PK_MAX_BYTES (SP_PK_MAX_CHARS * 4)   /* UTF-8 worst case */

enum sp_pk_kind {
    SP_PK_RANDOM = 0,   /* 16 random hex digits per record: spreads load evenly */
    SP_PK_FIXED,        /* one key for every record */
    SP_PK_HASH          /* MD5 of the record data, hex: equal lines share a shard */
};

typedef struct sp_partition {
    enum sp_pk_kind kind;
    char fixed[SP_PK_MAX_BYTES + 1];
    size_t fixed_len;
} sp_partition;

/* "random", "hash", or "fixed:KEY". */
int sp_partition_parse(const char *spec, sp_partition *p, sp_err *err);
/* A fixed key, checked: valid UTF-8, 1..256 characters. */
int sp_partition_fixed(sp_partition *p, const char *key, sp_err *err);

/* The most bytes a key from this strategy can take: the framer reserves
 * them out of the record cap, which counts key and data together. */
size_t sp_partition_reserve(const sp_partition *p);

/* Writes the key for one record to out (at least SP_PK_MAX_BYTES bytes);
 * returns its length (>= 1). */
size_t sp_partition_key(const sp_partition *p, sp_rng *rng, const void *data, size_t len, char *out);

/* Number of characters in valid UTF-8 s, or -1 when s is not valid UTF-8. */
long sp_utf8_chars(const char *s, size_t n);

#endif
