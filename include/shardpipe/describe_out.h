/* The output of `describe`: the stream summary and its open shards, as
 * text or as JSON, written to standard output. */
#ifndef SHARDPIPE_DESCRIBE_OUT_H
#define SHARDPIPE_DESCRIBE_OUT_H

#include <stddef.h>

#include "shardpipe/err.h"
#include "shardpipe/kinesis.h"

int sp_describe_print(const sp_stream_summary *s, const sp_shard *sh, size_t n, int json, sp_err *err);

#endif
