/* The settings `shardpipe run` reads from its configuration (config.h
 * loads them, config_keys.h says which key sets which field): the whole
 * file, each flow, each source. layer: app (a header without code, so
 * that the modules reading the two dialects and config.c, which calls
 * them, all use these types without depending on each other). */
#ifndef SHARDPIPE_CONFIG_TYPES_H
#define SHARDPIPE_CONFIG_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "shardpipe/framer.h"
#include "shardpipe/log.h"
#include "shardpipe/source.h"

typedef struct sp_source_cfg {
    enum sp_source_kind kind;
    char *path;              /* file: glob (directory part may glob too); unix: socket path */
    char *bind;              /* tcp/udp: address, default "127.0.0.1" */
    int port;                /* tcp/udp */
    int udp_lines;           /* udp: each line of a datagram is a record (default: the datagram) */
    size_t max_line;         /* tcp/unix: longest line before the oversize policy applies;
                                default: the record cap */
    unsigned max_clients;    /* tcp/unix, default 64 */
} sp_source_cfg;

typedef struct sp_flow_cfg {
    char *name;              /* default "flows[i]" */
    char *stream;
    sp_source_cfg *sources;
    size_t nsources;
    char *key;               /* partition-key strategy spec (partition.h), default "random" */
    uint32_t linger_ms;      /* default 200 */
    size_t batch_records;    /* default 500 */
    size_t batch_bytes;      /* default 5 MiB */
    enum sp_oversize oversize; /* default split */
    char *truncated_terminator; /* appended to truncated records, NULL: none */
    char *multiline_start;   /* ERE: a line matching it starts a record, NULL: off */
    size_t match_bytes;      /* bytes of a line the key regex and multiline_start
                                see; 0: SP_MATCH_BYTES_DEFAULT (ere.h) */
    unsigned skip_header_lines;
    enum sp_start_pos start; /* files: default end */
    double shard_rate;       /* share of each shard's limit, default 1.0 */
    int ordered;
} sp_flow_cfg;

typedef struct sp_config {
    char *region;            /* NULL: from the environment/profile */
    char *endpoint;
    char *ca_file;           /* PEM CA certificates trusted for TLS; NULL: the system store */
    char *profile;
    char *access_key_id;     /* discouraged; from agent.json's awsAccessKeyId */
    char *secret_access_key;
    char *role_arn;          /* assume_role_arn / assumeRoleARN: NULL, no role */
    char *external_id;       /* assume_role_external_id / assumeRoleExternalId */
    char *role_session_name; /* assume_role_session_name; NULL: "shardpipe-<unix time>" */
    char *sts_endpoint;      /* sts_endpoint / sts.endpoint; NULL: environment or regional */
    char *checkpoint_file;   /* default /var/lib/shardpipe/checkpoints */
    size_t memory_budget;    /* default SP_PRODUCER_BUDGET_DEFAULT (1 MiB) */
    enum sp_log_level log_level;     /* default info */
    char *log_file;          /* NULL: stderr */
    uint32_t shutdown_timeout_ms;    /* flush deadline on SIGTERM, default 30000 */
    uint32_t file_poll_ms;           /* polling fallback/rotation check, default 1000 */
    uint32_t partial_line_flush_ms;  /* emit a line without newline after, default 5000 */
    char *metrics_listen;            /* "ADDR:PORT" of /metrics and /healthz; NULL: none */
    uint32_t health_stall_ms;        /* held without storing this long: unhealthy, default 60000 */
    uint32_t stats_interval_ms;      /* a stats line per flow this often, 0: none; default 30000 */
    int agent_json;          /* 1 when read from the Kinesis Agent dialect */
    sp_flow_cfg *flows;
    size_t nflows;
} sp_config;

#endif
