/* The JSON configuration of `shardpipe run` (man shardpipe.json(5)).
 * Two dialects are read: shardpipe's own, and the Amazon Kinesis Agent's
 * /etc/aws-kinesis/agent.json (translated; options we do not support are
 * refused or warned about by name, never silently ignored). Every error
 * names the key path: "flows[2].filePattern: no such directory /var/log/ap". */
#ifndef SHARDPIPE_CONFIG_H
#define SHARDPIPE_CONFIG_H

#include <stddef.h>

#include "shardpipe/config_types.h"
#include "shardpipe/err.h"
#include "shardpipe/log.h"

/* Reads and validates a file. Warnings (options accepted but ignored,
 * with the reason) go to lg. Detects the dialect by its keys. */
int sp_config_load(const char *path, const sp_log *lg, sp_config *out, sp_err *err);
/* The same from memory; name is used in messages. */
int sp_config_parse(const char *text, size_t len, const char *name, const sp_log *lg,
                    sp_config *out, sp_err *err);
void sp_config_free(sp_config *c);

#endif
