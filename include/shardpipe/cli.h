/* Subcommands and wiring: parses the command line, builds the loop,
 * client and pipeline, runs, and turns the outcome into an exit status
 * (0 success, 1 runtime failure, 2 bad usage). Only main() exits. */
#ifndef SHARDPIPE_CLI_H
#define SHARDPIPE_CLI_H

#define SP_EXIT_OK 0
#define SP_EXIT_FAIL 1
#define SP_EXIT_USAGE 2

/* stdin_closed: the process started with descriptor 0 closed (main put
 * /dev/null there); a subcommand that reads standard input refuses to run. */
int sp_cli_main(int argc, char **argv, int stdin_closed);

#endif
