/* Java regular expressions (java.util.regex, as agent.json's
 * multiLineStartPattern is written) translated to POSIX extended ones
 * (ere.h). What means the same in POSIX is translated: \d \s \w and their
 * negations, \t \n \xhh and other character escapes, (?:...), \Q...\E,
 * character classes, and lazy quantifiers, which match the same lines;
 * anything else (look-around, flags, named groups, possessive
 * quantifiers, class intersections, \p{..}) is refused with the reason,
 * never guessed. */
#ifndef SHARDPIPE_JAVAREGEX_H
#define SHARDPIPE_JAVAREGEX_H

#include "shardpipe/err.h"

/* The longest ERE a translation may give, in bytes. */
#define SP_JAVAREGEX_ERE_MAX 16384

/* Translates in into a malloc'd ERE in *out, anchored at the start of the
 * line and grouped, "^(...)", as the agent applies the pattern with
 * Matcher.lookingAt(). Back-references are kept, for sp_ere_check to
 * refuse. The ERE is not compiled here: callers compile it with their
 * own checks. On error *out is left alone and err says why, without the
 * pattern. */
int sp_javaregex_to_ere(const char *in, char **out, sp_err *err);

#endif
