/* AWS Signature Version 4 (KINESIS.md §5.1), SHA-256 and HMAC from OpenSSL.
 * Everything takes its inputs (time included) as arguments, so the output
 * can be checked byte for byte against published vectors and botocore. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "shardpipe/sigv4.h"

#define DIGEST_LEN 32
#define ALGORITHM "AWS4-HMAC-SHA256"

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256(const void *data, size_t n, unsigned char out[DIGEST_LEN])
{
    unsigned int len = 0;
    if (data == NULL)
        data = "";
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 || len != DIGEST_LEN)
        return SP_ERR;
    return SP_OK;
}

static int hmac256(const void *key, size_t keylen, const void *msg, size_t n,
                   unsigned char out[DIGEST_LEN])
{
    unsigned int len = 0;
    if (keylen > INT_MAX)
        return SP_ERR;
    if (HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &len) == NULL ||
        len != DIGEST_LEN)
        return SP_ERR;
    return SP_OK;
}

void sp_sigv4_amz_date(time_t t, char out[SP_AMZ_DATE_LEN + 1])
{
    struct tm tm;
    /* An empty string on failure: sp_sigv4_sign rejects it, so an
     * out-of-range clock can never produce a plausible-looking date. */
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 ||
        strftime(out, SP_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != SP_AMZ_DATE_LEN)
        out[0] = '\0';
}

void sp_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[DIGEST_LEN];
    if (sha256(data, n, md) != SP_OK) {
        out[0] = '\0';  /* never a wrong-but-valid-looking hash */
        return;
    }
    hex_encode(md, DIGEST_LEN, out);
}

/* --- validation -------------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int valid_amz_date(const char *s)
{
    if (s == NULL || strlen(s) != SP_AMZ_DATE_LEN)
        return 0;
    for (int i = 0; i < SP_AMZ_DATE_LEN; i++) {
        char c = s[i];
        if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : !is_digit(c))
            return 0;
    }
    return 1;
}

static int valid_yyyymmdd(const char *s)
{
    if (s == NULL || strlen(s) != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

/* Region and service end up inside the credential scope, where '/' or
 * ',' would change how the server splits it. */
static int valid_scope_part(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int valid_akid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == ',' || c == '/' || c == '=')
            return 0;
    }
    return 1;
}

/* RFC 9110 token characters. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int valid_header_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* Control characters (CR/LF above all) would let a value inject headers;
 * tab is allowed because HTTP allows it as whitespace. */
static int valid_header_value(const char *s)
{
    if (s == NULL)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* --- canonical request --------------------------------------------------- */

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* ASCII-only, so the order does not depend on the locale. */
static int name_cmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    while (*p && lower(*p) == lower(*q)) {
        p++;
        q++;
    }
    return (int)lower(*p) - (int)lower(*q);
}

typedef struct hdr_ref {
    const sp_sigv4_header *h;
    size_t idx;
} hdr_ref;

/* By name only (KINESIS.md §5.4: curl once sorted "name:value" lines), and
 * by position among equal names so repeated headers keep their order. */
static int hdr_ref_cmp(const void *a, const void *b)
{
    const hdr_ref *x = a, *y = b;
    int c = name_cmp(x->h->name, y->h->name);
    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void put_lower(sp_buf *b, const char *s)
{
    for (; *s; s++)
        sp_buf_putc(b, (char)lower((unsigned char)*s));
}

/* Trimall: no leading or trailing whitespace, inner runs become one space. */
static void put_trimall(sp_buf *b, const char *v)
{
    int first = 1;
    for (;;) {
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v == '\0')
            return;
        size_t n = strcspn(v, " \t");
        if (!first)
            sp_buf_putc(b, ' ');
        sp_buf_append(b, v, n);
        first = 0;
        v += n;
    }
}

static int check_request(const sp_sigv4_request *req, sp_err *err)
{
    if (req == NULL || req->method == NULL || req->path == NULL)
        return sp_err_set(err, "sigv4: request without a method or path");
    if (req->method[0] == '\0' ||
        strspn(req->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(req->method))
        return sp_err_set(err, "sigv4: the method must be upper-case letters");
    if (req->path[0] != '/')
        return sp_err_set(err, "sigv4: the canonical URI must start with '/'");
    if (req->nheaders == 0 || req->headers == NULL)
        return sp_err_set(err, "sigv4: no headers to sign");
    if (req->payload == NULL && req->payload_len != 0)
        return sp_err_set(err, "sigv4: payload length without a payload");
    for (size_t i = 0; i < req->nheaders; i++) {
        const sp_sigv4_header *h = &req->headers[i];
        if (!valid_header_name(h->name))
            return sp_err_set(err, "sigv4: header %zu has an invalid name", i + 1);
        if (h->value == NULL)
            return sp_err_set(err, "sigv4: header %s has no value", h->name);
        /* The value is not shown: it may be a session token. */
        if (!valid_header_value(h->value))
            return sp_err_set(err, "sigv4: header %s has a control character in its value",
                              h->name);
    }
    return SP_OK;
}

/* Appends the canonical request to out and the SignedHeaders list to
 * signed_hdrs. */
static int canonical(const sp_sigv4_request *req, sp_buf *out, sp_buf *signed_hdrs,
                     sp_err *err)
{
    if (check_request(req, err) != SP_OK)
        return SP_ERR;
    char payload_hash[65];
    sp_sha256_hex(req->payload, req->payload_len, payload_hash);
    if (payload_hash[0] == '\0')
        return sp_err_set(err, "sigv4: SHA-256 failed");

    hdr_ref *refs = calloc(req->nheaders, sizeof *refs);
    if (refs == NULL)
        return sp_err_set(err, "sigv4: out of memory");
    for (size_t i = 0; i < req->nheaders; i++) {
        refs[i].h = &req->headers[i];
        refs[i].idx = i;
    }
    qsort(refs, req->nheaders, sizeof *refs, hdr_ref_cmp);

    sp_buf_puts(out, req->method);
    sp_buf_putc(out, '\n');
    sp_buf_puts(out, req->path);
    sp_buf_putc(out, '\n');
    sp_buf_puts(out, req->query ? req->query : "");
    sp_buf_putc(out, '\n');
    for (size_t i = 0; i < req->nheaders; i++) {
        const sp_sigv4_header *h = refs[i].h;
        if (i > 0 && name_cmp(refs[i - 1].h->name, h->name) == 0) {
            /* A repeated header is one line, its values joined by commas. */
            sp_buf_putc(out, ',');
        } else {
            if (i > 0) {
                sp_buf_putc(out, '\n');
                sp_buf_putc(signed_hdrs, ';');
            }
            put_lower(out, h->name);
            sp_buf_putc(out, ':');
            put_lower(signed_hdrs, h->name);
        }
        put_trimall(out, h->value);
    }
    free(refs);
    /* The last header line's end, then the blank line. */
    sp_buf_puts(out, "\n\n");
    if (sp_buf_check(signed_hdrs, err, "sigv4: signed headers") != SP_OK)
        return SP_ERR;
    sp_buf_append(out, signed_hdrs->data, signed_hdrs->len);
    sp_buf_putc(out, '\n');
    sp_buf_puts(out, payload_hash);
    return sp_buf_check(out, err, "sigv4: canonical request");
}

int sp_sigv4_canonical_request(const sp_sigv4_request *req, sp_buf *out, sp_err *err)
{
    sp_buf signed_hdrs;
    sp_buf_init(&signed_hdrs, 0);
    int rc = canonical(req, out, &signed_hdrs, err);
    sp_buf_free(&signed_hdrs);
    return rc;
}

/* --- signing key and cache ----------------------------------------------- */

int sp_sigv4_signing_key(const char *secret, const char *yyyymmdd,
                         const char *region, const char *service,
                         unsigned char out[32], sp_err *err)
{
    if (secret == NULL || secret[0] == '\0')
        return sp_err_set(err, "sigv4: empty secret access key");
    if (!valid_yyyymmdd(yyyymmdd))
        return sp_err_set(err, "sigv4: the date must be YYYYMMDD");
    if (region == NULL || region[0] == '\0' || service == NULL || service[0] == '\0')
        return sp_err_set(err, "sigv4: empty region or service");

    size_t slen = strlen(secret);
    if (slen > SIZE_MAX - 5)
        return sp_err_set(err, "sigv4: secret access key too long");
    char *k = malloc(slen + 5);
    if (k == NULL)
        return sp_err_set(err, "sigv4: out of memory");
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, slen + 1);

    unsigned char k1[DIGEST_LEN], k2[DIGEST_LEN];
    int rc = SP_ERR;
    if (hmac256(k, slen + 4, yyyymmdd, 8, k1) == SP_OK &&
        hmac256(k1, DIGEST_LEN, region, strlen(region), k2) == SP_OK &&
        hmac256(k2, DIGEST_LEN, service, strlen(service), k1) == SP_OK &&
        hmac256(k1, DIGEST_LEN, "aws4_request", 12, out) == SP_OK)
        rc = SP_OK;
    /* Every intermediate key is as good as the secret for a day. */
    OPENSSL_cleanse(k, slen + 5);
    free(k);
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    if (rc != SP_OK) {
        OPENSSL_cleanse(out, DIGEST_LEN);
        return sp_err_set(err, "sigv4: HMAC-SHA256 failed");
    }
    return SP_OK;
}

void sp_sigv4_cache_clear(sp_sigv4_cache *c)
{
    if (c != NULL)
        OPENSSL_cleanse(c, sizeof *c);
}

/* Fills key from the cache, or derives it and refreshes the cache. */
static int cached_key(sp_sigv4_cache *c, const char *secret, const char *date,
                      const char *region, const char *service,
                      unsigned char key[DIGEST_LEN], sp_err *err)
{
    unsigned char digest[DIGEST_LEN];
    if (c != NULL) {
        if (sha256(secret, strlen(secret), digest) != SP_OK)
            return sp_err_set(err, "sigv4: SHA-256 failed");
        if (c->valid && strcmp(c->date, date) == 0 && strcmp(c->region, region) == 0 &&
            strcmp(c->service, service) == 0 &&
            CRYPTO_memcmp(c->secret_digest, digest, DIGEST_LEN) == 0) {
            memcpy(key, c->key, DIGEST_LEN);
            return SP_OK;
        }
    }
    if (sp_sigv4_signing_key(secret, date, region, service, key, err) != SP_OK)
        return SP_ERR;
    if (c == NULL)
        return SP_OK;
    sp_sigv4_cache_clear(c);
    /* Names too long for the fixed fields are signed, just not cached. */
    if (strlen(region) < sizeof c->region && strlen(service) < sizeof c->service) {
        memcpy(c->date, date, 8);
        c->date[8] = '\0';
        strcpy(c->region, region);
        strcpy(c->service, service);
        memcpy(c->secret_digest, digest, DIGEST_LEN);
        memcpy(c->key, key, DIGEST_LEN);
        c->valid = 1;
    }
    return SP_OK;
}

/* --- signing -------------------------------------------------------------- */

/* The value of the first header called name, or NULL. */
static const char *find_header(const sp_sigv4_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].name != NULL && name_cmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* Compares a header value, ignoring surrounding whitespace, with s. */
static int value_is(const char *v, const char *s)
{
    v += strspn(v, " \t");
    size_t n = strlen(s);
    if (strncmp(v, s, n) != 0)
        return 0;
    return v[n + strspn(v + n, " \t")] == '\0';
}

int sp_sigv4_sign(const sp_sigv4_request *req, const sp_sigv4_scope *scope,
                  const char *access_key_id, const char *secret,
                  sp_sigv4_cache *cache, char *auth, size_t authlen,
                  sp_err *err)
{
    if (auth == NULL || authlen == 0)
        return sp_err_set(err, "sigv4: no room for the Authorization header");
    auth[0] = '\0';
    if (scope == NULL)
        return sp_err_set(err, "sigv4: no scope");
    if (check_request(req, err) != SP_OK)
        return SP_ERR;
    if (!valid_amz_date(scope->amz_date))
        return sp_err_set(err, "sigv4: X-Amz-Date must look like YYYYMMDDTHHMMSSZ");
    if (!valid_scope_part(scope->region, 63))
        return sp_err_set(err, "sigv4: invalid region");
    if (!valid_scope_part(scope->service, 31))
        return sp_err_set(err, "sigv4: invalid service name");
    /* The key id is not shown: a swapped key and secret would leak. */
    if (!valid_akid(access_key_id))
        return sp_err_set(err, "sigv4: malformed access key id");
    if (secret == NULL || secret[0] == '\0')
        return sp_err_set(err, "sigv4: empty secret access key");
    if (find_header(req, "host") == NULL)
        return sp_err_set(err, "sigv4: the request has no Host header");
    const char *date_hdr = find_header(req, "x-amz-date");
    if (date_hdr == NULL)
        return sp_err_set(err, "sigv4: the request has no X-Amz-Date header");
    if (!value_is(date_hdr, scope->amz_date))
        return sp_err_set(err, "sigv4: the X-Amz-Date header differs from the signing date");

    sp_buf creq, sts, signed_hdrs;
    sp_buf_init(&creq, 0);
    sp_buf_init(&sts, 0);
    sp_buf_init(&signed_hdrs, 0);
    unsigned char key[DIGEST_LEN], sig[DIGEST_LEN];
    char date[9], hash_hex[65], sig_hex[2 * DIGEST_LEN + 1];
    int rc = SP_ERR;

    memcpy(date, scope->amz_date, 8);
    date[8] = '\0';
    if (canonical(req, &creq, &signed_hdrs, err) != SP_OK)
        goto out;
    sp_sha256_hex(creq.data, creq.len, hash_hex);
    if (hash_hex[0] == '\0') {
        sp_err_set(err, "sigv4: SHA-256 failed");
        goto out;
    }
    sp_buf_printf(&sts, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", scope->amz_date, date,
                  scope->region, scope->service, hash_hex);
    if (sp_buf_check(&sts, err, "sigv4: string to sign") != SP_OK)
        goto out;
    if (cached_key(cache, secret, date, scope->region, scope->service, key, err) != SP_OK)
        goto out;
    if (hmac256(key, DIGEST_LEN, sts.data, sts.len, sig) != SP_OK) {
        sp_err_set(err, "sigv4: HMAC-SHA256 failed");
        goto out;
    }
    hex_encode(sig, DIGEST_LEN, sig_hex);
    int n = snprintf(auth, authlen,
                     ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                               "Signature=%s",
                     access_key_id, date, scope->region, scope->service, signed_hdrs.data,
                     sig_hex);
    if (n < 0 || (size_t)n >= authlen) {
        auth[0] = '\0';
        sp_err_set(err, "sigv4: the Authorization header needs %d bytes, %zu given",
                   n + 1, authlen);
        goto out;
    }
    rc = SP_OK;
out:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(sig, sizeof sig);
    /* The canonical request holds the session token. */
    if (creq.data != NULL)
        OPENSSL_cleanse(creq.data, creq.len);
    sp_buf_free(&creq);
    sp_buf_free(&sts);
    sp_buf_free(&signed_hdrs);
    return rc;
}
