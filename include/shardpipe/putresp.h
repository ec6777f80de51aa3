/* The PutRecords response, read by a scanner instead of a JSON tree: the
 * answer to a 500-record batch is 500 small objects, and json-c built and
 * freed a tree of about 2,500 nodes for it (a fifth of the agent's CPU).
 * The scanner checks the whole text is one JSON object (RFC 8259, strict)
 * and keeps only the four strings of each entry. */
#ifndef SHARDPIPE_PUTRESP_H
#define SHARDPIPE_PUTRESP_H

#include <stddef.h>

#include "shardpipe/buf.h"
#include "shardpipe/err.h"

/* One entry of a PutRecords response. A member that is absent, or not a
 * string, is NULL. */
typedef struct sp_put_result {
    const char *seq;           /* NULL when the entry failed */
    const char *shard_id;
    const char *code;          /* NULL on success */
    const char *message;
} sp_put_result;

/* Fills out[0..nsent) from the response text (len bytes, need not end in
 * NUL). The strings are decoded into scratch (reused; its old contents are
 * dropped), so they live until scratch is next reset. A success with no
 * sequence number gets the code "MissingSequenceNumber".
 * Errors: SP_E_INVALID when the text is not one JSON object ("malformed");
 * SP_E_FAILED when it is, but has no Records array of objects, or not
 * exactly nsent entries (KINESIS.md §1.4): we cannot tell which is which. */
int sp_putresp_parse(const char *text, size_t len, size_t nsent, sp_put_result *out,
                     sp_buf *scratch, sp_err *err);

#endif
