/* Assembling PutRecords request bodies. Data is base64-encoded straight
 * into the body buffer; nothing is copied twice. Caps are counted the way
 * the service counts them: Σ(partition-key bytes + raw data bytes). */
#ifndef SHARDPIPE_BATCH_H
#define SHARDPIPE_BATCH_H

#include <stddef.h>
#include "shardpipe/buf.h"
#include "shardpipe/err.h"
#include "shardpipe/u128.h"

#define SP_BATCH_MAX_RECORDS 500
#define SP_BATCH_DEFAULT_BYTES ((size_t)5 << 20)
#define SP_BATCH_MAX_BYTES ((size_t)10 << 20)

typedef struct sp_batch {
    sp_buf body;
    size_t n;           /* records added */
    size_t bytes;       /* Σ(pk + data) */
    size_t max_records;
    size_t max_bytes;
    size_t last_len;    /* length of the last body: the next one is given
                           that much at once (the body is handed to the
                           request and grown anew each time otherwise) */
} sp_batch;

void sp_batch_init(sp_batch *b, size_t max_records, size_t max_bytes);
void sp_batch_free(sp_batch *b);

/* Starts a new body for stream (resets count and bytes). */
int sp_batch_begin(sp_batch *b, const char *stream);
/* 1 when a record of this size may join without passing a cap. A first
 * record always fits (a single record is bounded by the record cap). */
int sp_batch_fits(const sp_batch *b, size_t pk_len, size_t data_len);
/* ehk: NULL, or a hash key to send as ExplicitHashKey. */
int sp_batch_add(sp_batch *b, const char *pk, size_t pk_len, const sp_u128 *ehk,
                 const void *data, size_t data_len);
/* Closes the JSON; the body is then b->body. */
int sp_batch_finish(sp_batch *b, sp_err *err);

#endif
