/* One value of the configuration, read and checked for both dialects:
 * the typed getters (string, whole number, size, boolean, share of a
 * shard's limit) and the checks of single values (region, endpoint, role
 * settings, paths, globs, addresses, names, partition keys, regular
 * expressions). Every failure is "FILE: KEY.PATH: what is wrong", with
 * the range and the value given. */
#ifndef SHARDPIPE_CONFIG_VALUE_H
#define SHARDPIPE_CONFIG_VALUE_H

#include <stddef.h>

#include "shardpipe/err.h"
#include "shardpipe/jsonpos.h"
#include "shardpipe/log.h"

struct json_object;

#define SP_CFG_PATH SP_JSONPOS_PATH_MAX   /* longest key path shown */
#define SP_CFG_MS_MAX 3600000ULL          /* an hour, the command line's bound for times */
#define SP_CFG_MIB (1ULL << 20)
#define SP_CFG_RECORD_MAX (10 * SP_CFG_MIB) /* largest Kinesis record, and so the longest line */
#define SP_CFG_NAME_MAX 127               /* flow.c keeps 127 bytes of a name */
#define SP_CFG_TERMINATOR_MAX 1024
#define SP_CFG_HEADER_LINES_MAX 1000000ULL
#define SP_CFG_CLIENTS_MAX 10000ULL
#define SP_CFG_REGEX_MAX 4096

/* What every step needs to report: the file's name for messages, the
 * logger for warnings, the error to fill, and the dialect. */
typedef struct sp_cfg_cx {
    const char *name;
    const sp_log *lg;
    sp_err *err;
    int agent;            /* agent.json: "" often means unset, bare host names, ... */
    int text;             /* numbers and booleans may be strings, as Java reads agent.json */
    char why[SP_CFG_PATH]; /* agent.json: the key that identified the dialect */
} sp_cfg_cx;

/* "FILE: PATH: message" (or "FILE: message" when path is NULL or ""),
 * into x->err; returns SP_ERR. */
int sp_cfg_fail(const sp_cfg_cx *x, const char *path, const char *fmt, ...) SP_PRINTF(3, 4);
/* The warning for a key that is read and changes nothing. */
void sp_cfg_ignored(const sp_cfg_cx *x, const char *path, const char *why);

/* ---- typed getters: each checks the JSON type and the range ---- */

/* A string without NUL characters, copied into *out (replacing it). */
int sp_cfg_get_str(const sp_cfg_cx *x, const char *p, struct json_object *v, int empty_ok, char **out);
/* A whole number in [min, max]; with x->text also a string of digits. */
int sp_cfg_get_uint(const sp_cfg_cx *x, const char *p, struct json_object *v, unsigned long long min,
                    unsigned long long max, unsigned long long *out);
/* A byte count: a number, or a string with K/M/G (KiB, MiB, GiB). */
int sp_cfg_get_size(const sp_cfg_cx *x, const char *p, struct json_object *v, unsigned long long min,
                    unsigned long long max, unsigned long long *out);
/* true or false; with x->text also "true" or "false" in any case. */
int sp_cfg_get_bool(const sp_cfg_cx *x, const char *p, struct json_object *v, int *out);
/* "80%" or 80: a share of each shard's write limit (0.8), 1% to 1000%. */
int sp_cfg_get_rate(const sp_cfg_cx *x, const char *p, struct json_object *v, double *out);

/* ---- checks of a string value ----
 * Each has the shape of a key's check in the table (config_keys.h): val
 * is the string read, which a check may replace with its normal form
 * (an endpoint gets its https://, agent.json's multiLineStartPattern
 * becomes an ERE); obj is the sp_config, sp_flow_cfg or sp_source_cfg
 * the key belongs to. */
typedef int sp_cfg_check_fn(const sp_cfg_cx *x, const char *p, char **val, const void *obj);

sp_cfg_check_fn sp_cfg_check_region;       /* a region name such as us-east-1 */
sp_cfg_check_fn sp_cfg_check_endpoint;     /* a URL (agent.json: a bare host gets https://) */
sp_cfg_check_fn sp_cfg_check_role_arn;     /* sts.c's checks, made early with the key path */
sp_cfg_check_fn sp_cfg_check_external_id;
sp_cfg_check_fn sp_cfg_check_session_name;
sp_cfg_check_fn sp_cfg_check_akid;         /* an access key id */
sp_cfg_check_fn sp_cfg_check_profile;      /* a profile name of the shared files */
sp_cfg_check_fn sp_cfg_check_checkpoint;   /* absolute; agent.json's gets ".shardpipe" */
sp_cfg_check_fn sp_cfg_check_log_file;    /* absolute, in an existing directory */
sp_cfg_check_fn sp_cfg_check_stream;       /* a Kinesis stream name */
sp_cfg_check_fn sp_cfg_check_name;         /* a flow name */
sp_cfg_check_fn sp_cfg_check_key_spec;     /* a partition-key strategy (partition.h) */
sp_cfg_check_fn sp_cfg_check_terminator;   /* at most SP_CFG_TERMINATOR_MAX bytes */
sp_cfg_check_fn sp_cfg_check_multiline;    /* an ERE; agent.json: a Java regex, translated */
sp_cfg_check_fn sp_cfg_check_source_path;  /* a file source's glob or a unix socket's path */
sp_cfg_check_fn sp_cfg_check_bind;         /* a numeric IP address */
sp_cfg_check_fn sp_cfg_check_ca_file;      /* sp_ca_file_check, with the key path */

/* A file of trusted CA certificates (PEM) for TLS: readable, not a
 * directory, with at least one "BEGIN CERTIFICATE" block. Checked before
 * anything is sent, so that a typo is a configuration error rather than
 * a certificate failure on every request. */
int sp_ca_file_check(const char *path, sp_err *err);

/* "5MiB" rather than 5242880 in messages. */
void sp_cfg_fmt_size(char *out, size_t n, unsigned long long v);

#endif
