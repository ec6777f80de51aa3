/* The POSIX extended regular expressions users give shardpipe (--key
 * regex:ERE, a flow's "key", multiline_start, multiLineStartPattern) run
 * on the loop, once per line, with glibc's matcher. What one line can cost
 * is bounded in three ways:
 * - back-references (\1..\9) are refused: glibc matches them by
 *   backtracking, in time exponential in the line's length;
 * - a pattern may expand to at most SP_ERE_POSITIONS_MAX positions, since
 *   glibc copies a repeated part once per repetition (x{1,255} is 255
 *   copies of x, nested repetitions multiply) and its compile time, its
 *   memory and the cost of each byte matched grow with that size;
 * - a pattern sees only the first match_bytes bytes of a line
 *   (SP_MATCH_BYTES_*): an unanchored pattern that does not match is tried
 *   from every position, so its cost grows with the square of the bytes
 *   it sees. */
#ifndef SHARDPIPE_ERE_H
#define SHARDPIPE_ERE_H

#include <regex.h>
#include <stddef.h>

#include "shardpipe/err.h"

/* 4 KiB holds the head of any ordinary log line (time, level, ids, the
 * first fields of a JSON object), which is where keys and record starts
 * are; and it keeps the worst pattern allowed below tens of milliseconds
 * per line (measured: about 40 ms for ((a|aa)*(b|bb)*c) on a line of 1 MB
 * of 'a's), where seeing the whole line would take more than half an
 * hour. */
#define SP_MATCH_BYTES_DEFAULT 4096
#define SP_MATCH_BYTES_MIN 64
#define SP_MATCH_BYTES_MAX (1024 * 1024)

/* Positions after expansion (each literal, '.', bracket expression,
 * anchor, escape and group counted once per copy): at 512 the costliest
 * shapes ((a?){256}, (.*){256}) compile in a few ms within 10 MB and take
 * tens of ms for a 4 KiB line; ((a?){50}){50} (5,050) took 2 s and 500 MB
 * to compile and 9 s per line. */
#define SP_ERE_POSITIONS_MAX 512
#define SP_ERE_DEPTH_MAX 64

/* glibc reads an unknown escape such as \d as the bare letter, so a
 * pattern written for Perl or Java would compile and quietly match
 * something else: SP_ERR, naming the escape, for the first one outside a
 * bracket expression (\w \W \s \S \b \B are glibc's and pass). */
int sp_ere_bad_escape(const char *re, sp_err *err);

/* Checks a pattern for unknown escapes, back-references, nesting and size. On failure the
 * message follows the quoted pattern ("'(a)\1' uses a back-reference
 * ..."): callers put the option and the pattern in front of it. */
int sp_ere_check(const char *re, sp_err *err);

/* sp_ere_check, then regcomp with REG_EXTENDED | cflags; a regcomp error
 * reads "is not a valid extended regular expression: ...". On success
 * the caller regfree()s out. */
int sp_ere_compile(regex_t *out, const char *re, int cflags, sp_err *err);

#endif
