/* A configuration's JSON text read with json-c, with what json-c does not
 * give: positions (name:LINE:COLUMN) in syntax errors, and the refusal of
 * a key given twice in one object, which json-c would settle silently by
 * keeping the last. Also the key paths messages name ("flows[2].stream"),
 * made safe to print. */
#ifndef SHARDPIPE_JSONPOS_H
#define SHARDPIPE_JSONPOS_H

#include <stddef.h>

#include "shardpipe/err.h"

struct json_object;

/* The longest key path shown in a message, with its NUL. */
#define SP_JSONPOS_PATH_MAX 256

/* out = parent.key (key alone when parent is ""), cut to fit; bytes of the
 * key that are not printable are shown as '?', so that a message cannot
 * carry terminal escapes. */
void sp_jsonpos_key(char out[SP_JSONPOS_PATH_MAX], const char *parent, const char *key);
/* out = parent[i], cut to fit. */
void sp_jsonpos_index(char out[SP_JSONPOS_PATH_MAX], const char *parent, size_t i);
/* "a number", "a string", ... for "must be X, not a string". */
const char *sp_jsonpos_type(struct json_object *v);

/* Parses text (comments allowed, UTF-8 checked) into an object; name
 * starts every message. Refuses empty text, text after the object, a
 * value that is not an object and a key given twice in one object. The
 * caller json_object_put()s *out. */
int sp_jsonpos_parse(const char *text, size_t len, const char *name, struct json_object **out,
                     sp_err *err);

#endif
