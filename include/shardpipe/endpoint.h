/* Endpoints and regions (KINESIS.md §5): one set of rules for Kinesis and
 * STS alike, so that a URL or a region is judged the same wherever it
 * comes from (an option, a variable, the configuration). */
#ifndef SHARDPIPE_ENDPOINT_H
#define SHARDPIPE_ENDPOINT_H

#include <stddef.h>
#include "shardpipe/err.h"

#define SP_URL_MAX 1024

/* The longest region name taken: a DNS label. */
#define SP_REGION_NAME_MAX 63

/* 1 when r is a region name: 1 to SP_REGION_NAME_MAX of a-z, 0-9 and '-',
 * starting with a letter and not ending with '-'. */
int sp_region_valid(const char *r);

/* SP_OK, or SP_ERR with a message that starts with where (the option,
 * variable or file the region came from). */
int sp_region_check(const char *where, const char *r, sp_err *err);

/* https://SERVICE.REGION.amazonaws.com (.com.cn for cn- regions), for
 * service "kinesis" or "sts". */
int sp_endpoint_default(const char *service, const char *region, char *out, size_t outlen, sp_err *err);

/* Checks an endpoint URL: http:// or https://; a host name, an IPv4
 * address or an IPv6 address in brackets; an optional port from 1 to
 * 65535; no user information, path (but "/"), query or fragment; no
 * space, control character or non-ASCII byte. Writes the Host header
 * value, lowercased, with the port when one is given. The message does not
 * say where the URL came from: callers put that first. */
int sp_endpoint_host(const char *url, char *host, size_t hostlen, sp_err *err);

/* The Kinesis endpoint the environment gives: AWS_ENDPOINT_URL_KINESIS,
 * else AWS_ENDPOINT_URL (empty counts as unset), with *where naming the
 * variable; NULL (and *where NULL) when neither is set. Not checked. */
const char *sp_endpoint_env_kinesis(const char **where);

#endif
