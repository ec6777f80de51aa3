/* Credentials as a request is signed with them: the key id rule and
 * freeing that wipes. */
#include <stdlib.h>
#include <string.h>

#include "shardpipe/buf.h"
#include "shardpipe/creds.h"

/* AWS issues [A-Z0-9]{16,128} (KINESIS.md §5.4), but emulators and test
 * suites use ids like "AKIDEXAMPLE", "test" or "local_key"; the looser
 * rule still keeps out anything that would break the Credential= field. */
int sp_creds_akid_ok(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    if (n < 3 || n > SP_AKID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

void sp_creds_free(sp_creds *c)
{
    if (c == NULL)
        return;
    sp_wipe_free(c->secret);
    sp_wipe_free(c->token);
    explicit_bzero(c, sizeof *c);
}
