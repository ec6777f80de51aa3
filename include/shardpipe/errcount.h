/* A fixed table of error codes and how many entries failed with each
 * (the producer's "failures by error code"). Bounded and allocation-free:
 * SP_ERRCOUNT_SLOTS codes, then every new code counts in one "other" slot;
 * a code longer than the slot keeps its first SP_ERRCOUNT_CODE - 1 bytes. */
#ifndef SHARDPIPE_ERRCOUNT_H
#define SHARDPIPE_ERRCOUNT_H

#include <stddef.h>
#include <stdint.h>

#define SP_ERRCOUNT_SLOTS 16
#define SP_ERRCOUNT_CODE 64
#define SP_ERRCOUNT_OTHER "other"

typedef struct sp_errcount {
    char code[SP_ERRCOUNT_SLOTS][SP_ERRCOUNT_CODE];
    uint64_t count[SP_ERRCOUNT_SLOTS];
    size_t n;                    /* slots in use */
    uint64_t other;              /* codes that found the table full */
} sp_errcount;

/* Adds k entries that failed with code (NULL or "": "Unknown"). */
void sp_errcount_add(sp_errcount *t, const char *code, uint64_t k);
/* Slot i (< sp_errcount_size): its code and count; i == n: "other" when
 * it counted anything. NULL past the end. */
const char *sp_errcount_at(const sp_errcount *t, size_t i, uint64_t *count);
size_t sp_errcount_size(const sp_errcount *t);

#endif
