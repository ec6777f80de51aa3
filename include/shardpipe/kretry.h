/* Start-up calls to Kinesis (DescribeStreamSummary before a flow starts):
 * retried on the loop, a few times, so that one throttle or one dropped
 * connection does not end a run before it began. Nothing here runs the
 * loop. */
#ifndef SHARDPIPE_KRETRY_H
#define SHARDPIPE_KRETRY_H

#include "shardpipe/buf.h"
#include "shardpipe/err.h"
#include "shardpipe/kinesis.h"

/* A start-up call (describe, list): sent again after a retryable failure,
 * a few times with backoff, all on the loop; cb runs once with the last
 * answer. body is copied. sp_kinesis_retried_cancel withdraws it (the
 * caller goes away first): cb is then never called. The handle is valid
 * until cb runs. */
typedef struct sp_kretry sp_kretry;
int sp_kinesis_call_retried(sp_kinesis *k, const char *op, const sp_buf *body, sp_kinesis_cb cb, void *arg,
                            sp_kretry **handle, sp_err *err);
void sp_kinesis_retried_cancel(sp_kretry *r);

/* DescribeStreamSummary as a start-up call: done gets the summary, or NULL
 * and a message that names the operation, stream, region and endpoint. */
typedef void (*sp_describe_fn)(void *arg, const sp_stream_summary *s, const char *errmsg);
int sp_kinesis_describe(sp_kinesis *k, const char *stream, sp_describe_fn done, void *arg, sp_kretry **handle,
                        sp_err *err);

#endif
