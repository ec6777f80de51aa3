/* The Amazon Kinesis Agent's dialect, /etc/aws-kinesis/agent.json,
 * translated: each kinesisStream flow becomes a flow with one file
 * source. The keys are read through the key table (config_keys.h),
 * which also says which agent options are refused or ignored and why;
 * this module owns telling the dialect apart, the shape, the pairing of
 * the credential keys, the flow names and the region an endpoint
 * implies. */
#ifndef SHARDPIPE_CONFIG_AGENT_H
#define SHARDPIPE_CONFIG_AGENT_H

#include "shardpipe/config_keys.h"

struct json_object;

/* 1 when root is an agent.json, with the key that tells so in why: a
 * top-level key only the agent has (any dotted one), or a flow with
 * filePattern, kinesisStream or deliveryStream. */
int sp_config_agent_detect(struct json_object *root, char why[SP_CFG_PATH]);
/* Reads root, whose defaults are set, into c. */
int sp_config_agent(const sp_cfg_cx *x, struct json_object *root, sp_config *c);

#endif
