/* A small INI reader for the AWS shared credentials/config files and the
 * legacy boto file. It calls back once per key, so callers keep only what
 * they need. Syntax, following the Python configparser files these are:
 *
 *   - lines end in LF or CRLF; a UTF-8 byte-order mark at the start is skipped;
 *   - blank lines, and lines whose first non-blank character is '#' or ';',
 *     are ignored; there are no comments after a value ("a = b ; c" gives
 *     the value "b ; c"), as in configparser's defaults;
 *   - "[name]" starts a section (name trimmed, may contain spaces, e.g.
 *     "[profile dev]"); only blanks or a comment may follow the ']';
 *   - "key = value" or "key: value", split at the first '=' or ':'; key and
 *     value are trimmed; the value may be empty; a key outside any section
 *     is an error;
 *   - a line indented deeper than the key line above it continues that
 *     key's value (joined with '\n'), as ~/.aws/config uses for nested
 *     settings such as "s3 =";
 *   - a line may be at most SP_INI_MAX_LINE bytes and the input at most
 *     SP_INI_MAX_FILE bytes; NUL bytes are rejected.
 *
 * Error messages are "NAME:LINE: what is wrong". They never quote the
 * line, because the line may hold a secret. Duplicate sections and keys
 * are passed on as they come; the caller decides (usually: last wins). */
#ifndef SHARDPIPE_INI_H
#define SHARDPIPE_INI_H

#include <stddef.h>
#include "shardpipe/err.h"

#define SP_INI_MAX_FILE ((size_t)1 << 20)   /* 1 MiB */
#define SP_INI_MAX_LINE ((size_t)16384)

/* sp_ini_parse_file's result when the file does not exist (ENOENT or
 * ENOTDIR); err says so. Any other failure to read is SP_ERR. */
#define SP_INI_MISSING 1

/* Called for each key, in file order. The strings are valid only during
 * the call (the parser wipes its copy of the input afterwards, as it may
 * hold secrets). line is the line of the key. Return SP_OK to go on, or
 * SP_ERR with err set to stop; the parser then puts "NAME:LINE: " in front
 * of the message. */
typedef int (*sp_ini_fn)(void *arg, const char *section, const char *key,
                         const char *value, size_t line, sp_err *err);

/* Parses len bytes of data; name is used in messages (e.g. a path). */
int sp_ini_parse_mem(const char *name, const void *data, size_t len,
                     sp_ini_fn fn, void *arg, sp_err *err);

/* Reads and parses the file at path: SP_OK, SP_INI_MISSING or SP_ERR. */
int sp_ini_parse_file(const char *path, sp_ini_fn fn, void *arg, sp_err *err);

#endif
