/* `shardpipe run`: the long-running agent. Loads the configuration, runs
 * every flow on one loop, saves checkpoints every 250 ms, and handles
 * signals: SIGTERM/SIGINT stop reading, flush within a deadline, save
 * checkpoints and exit 0; SIGHUP reloads the configuration after
 * delivering what is buffered (and first reopens the log file, for log
 * rotation); SIGUSR1 logs a stats line per flow. */
#ifndef SHARDPIPE_AGENT_H
#define SHARDPIPE_AGENT_H

#include "shardpipe/log.h"

typedef struct sp_agent_opts {
    const char *config_path;
    int log_level_set;           /* --log-level given: overrides the file */
    enum sp_log_level log_level;
    int log_timestamps;          /* on stderr; a log file always has them */
    const char *log_file;        /* --log-file: overrides the file's log_file */
    const char *ca_file;         /* --ca-file: overrides the file's ca_file */
    int stdin_closed;            /* started with descriptor 0 closed */
} sp_agent_opts;

/* Returns the exit status: 0 after a clean stop, 1 on failure. */
int sp_agent_run(const sp_agent_opts *o);

/* Validates a configuration without sending anything: 0 valid, 1 not. */
int sp_agent_check_config(const char *path, const sp_log *lg);

#endif
