/* shardpipe's own dialect of the configuration (man shardpipe.json(5)):
 * a list of flows, each with a list of sources of five kinds. The keys
 * are read through the key table (config_keys.h); this module owns the
 * shape and the checks across keys: what is required, what applies only
 * with something else. */
#ifndef SHARDPIPE_CONFIG_NATIVE_H
#define SHARDPIPE_CONFIG_NATIVE_H

#include "shardpipe/config_keys.h"

struct json_object;

/* Reads root, whose defaults are set, into c. */
int sp_config_native(const sp_cfg_cx *x, struct json_object *root, sp_config *c);

#endif
