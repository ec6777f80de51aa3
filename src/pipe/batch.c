#include <stdint.h>
#include <string.h>

#include "shardpipe/base64.h"
#include "shardpipe/batch.h"

void sp_batch_init(sp_batch *b, size_t max_records, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    /* Largest body: 10 MiB of data as base64 plus keys and JSON framing. */
    sp_buf_init(&b->body, (size_t)24 << 20);
    b->max_records = max_records ? max_records : SP_BATCH_MAX_RECORDS;
    b->max_bytes = max_bytes ? max_bytes : SP_BATCH_DEFAULT_BYTES;
}

void sp_batch_free(sp_batch *b)
{
    sp_buf_free(&b->body);
}

int sp_batch_begin(sp_batch *b, const char *stream)
{
    sp_buf_reset(&b->body);
    b->n = 0;
    b->bytes = 0;
    if (b->last_len > 0 && sp_buf_reserve(&b->body, b->last_len + b->last_len / 8) != SP_OK)
        return SP_ERR;
    sp_buf_puts(&b->body, "{\"StreamName\":");
    sp_buf_json_str(&b->body, stream, strlen(stream));
    return sp_buf_puts(&b->body, ",\"Records\":[");
}

int sp_batch_fits(const sp_batch *b, size_t pk_len, size_t data_len)
{
    if (b->n == 0)
        return 1;
    return b->n < b->max_records && b->bytes + pk_len + data_len <= b->max_bytes;
}

/* Appends a string constant without measuring it again. */
#define PUT_LIT(o, lit) sp_buf_append((o), (lit), sizeof(lit) - 1)

int sp_batch_add(sp_batch *b, const char *pk, size_t pk_len, const sp_u128 *ehk,
                 const void *data, size_t data_len)
{
    sp_buf *o = &b->body;
    size_t enc = sp_base64_encoded_len(data_len);
    /* One reservation for the whole entry (key escaped at worst, hash key
     * digits) keeps the appends below from growing the buffer. */
    if (enc > SIZE_MAX / 2 || sp_buf_reserve(o, enc + pk_len * 6 + 96 + SP_U128_DEC_MAX) != SP_OK)
        return SP_ERR;
    if (b->n > 0)
        PUT_LIT(o, ",{\"Data\":\"");
    else
        PUT_LIT(o, "{\"Data\":\"");
    sp_base64_encode(data, data_len, o->data + o->len);
    o->len += enc;
    PUT_LIT(o, "\",\"PartitionKey\":");
    sp_buf_json_str(o, pk, pk_len);
    if (ehk) {
        char dec[SP_U128_DEC_MAX];
        size_t dl = sp_u128_format(*ehk, dec);
        PUT_LIT(o, ",\"ExplicitHashKey\":\"");
        sp_buf_append(o, dec, dl);
        PUT_LIT(o, "\"}");
    } else {
        PUT_LIT(o, "}");
    }
    b->n++;
    b->bytes += pk_len + data_len;
    return o->failed ? SP_ERR : SP_OK;
}

int sp_batch_finish(sp_batch *b, sp_err *err)
{
    sp_buf_puts(&b->body, "]}");
    b->last_len = b->body.len;
    return sp_buf_check(&b->body, err, "PutRecords body");
}
