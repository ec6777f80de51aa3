/* Failures by error code, in a fixed table (see errcount.h). */
#include <string.h>

#include "shardpipe/errcount.h"

void sp_errcount_add(sp_errcount *t, const char *code, uint64_t k)
{
    if (code == NULL || *code == '\0')
        code = "Unknown";
    for (size_t i = 0; i < t->n; i++)
        if (strncmp(t->code[i], code, SP_ERRCOUNT_CODE - 1) == 0) {
            t->count[i] += k;
            return;
        }
    if (t->n == SP_ERRCOUNT_SLOTS) {
        t->other += k;
        return;
    }
    size_t len = strlen(code);
    if (len >= SP_ERRCOUNT_CODE)
        len = SP_ERRCOUNT_CODE - 1;
    memcpy(t->code[t->n], code, len);
    t->code[t->n][len] = '\0';
    t->count[t->n++] = k;
}

size_t sp_errcount_size(const sp_errcount *t)
{
    return t->n + (t->other != 0);
}

const char *sp_errcount_at(const sp_errcount *t, size_t i, uint64_t *count)
{
    if (i < t->n) {
        *count = t->count[i];
        return t->code[i];
    }
    if (i == t->n && t->other) {
        *count = t->other;
        return SP_ERRCOUNT_OTHER;
    }
    return NULL;
}
