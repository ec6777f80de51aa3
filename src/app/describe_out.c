/* What `describe` prints (see describe_out.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shardpipe/buf.h"
#include "shardpipe/describe_out.h"
#include "shardpipe/u128.h"

int sp_describe_print(const sp_stream_summary *s, const sp_shard *sh, size_t n, int json, sp_err *err)
{
    sp_buf b;
    sp_buf_init(&b, 0);
    if (json) {
        sp_buf_putc(&b, '{');
        sp_buf_json_kv(&b, "stream_name", s->name, 0);
        sp_buf_json_kv(&b, "stream_arn", s->arn[0] ? s->arn : NULL, 1);
        sp_buf_json_kv(&b, "status", s->status, 1);
        sp_buf_json_kv(&b, "mode", s->mode, 1);
        sp_buf_printf(&b, ",\"retention_hours\":%ld,\"max_record_size_kib\":%ld,\"open_shard_count\":%zu,\"shards\":[",
                      s->retention_hours, s->max_record_kib, n);
        for (size_t i = 0; i < n; i++) {
            char a[SP_U128_DEC_MAX], z[SP_U128_DEC_MAX];
            sp_u128_format(sh[i].start, a);
            sp_u128_format(sh[i].end, z);
            sp_buf_puts(&b, i ? ",{" : "{");
            sp_buf_json_kv(&b, "shard_id", sh[i].id, 0);
            sp_buf_json_kv(&b, "parent_shard_id", sh[i].parent, 1);
            sp_buf_json_kv(&b, "adjacent_parent_shard_id", sh[i].adjacent_parent, 1);
            sp_buf_json_kv(&b, "starting_hash_key", a, 1);
            sp_buf_json_kv(&b, "ending_hash_key", z, 1);
            sp_buf_json_kv(&b, "starting_sequence_number", sh[i].start_seq, 1);
            sp_buf_json_kv(&b, "ending_sequence_number", sh[i].end_seq, 1);
            sp_buf_putc(&b, '}');
        }
        sp_buf_puts(&b, "]}\n");
    } else {
        sp_buf_printf(&b, "stream          %s\n", s->name);
        if (s->arn[0])
            sp_buf_printf(&b, "arn             %s\n", s->arn);
        sp_buf_printf(&b, "status          %s\nmode            %s\nretention       %ld hours\n"
                          "max record size %ld KiB\nopen shards     %zu\n",
                      s->status, s->mode, s->retention_hours, s->max_record_kib, n);
        for (size_t i = 0; i < n; i++) {
            char a[SP_U128_DEC_MAX], z[SP_U128_DEC_MAX];
            sp_u128_format(sh[i].start, a);
            sp_u128_format(sh[i].end, z);
            sp_buf_printf(&b, "\n%s\n  hash keys     %s .. %s\n  sequence from %s\n", sh[i].id, a, z,
                          sh[i].start_seq ? sh[i].start_seq : "-");
            if (sh[i].parent)
                sp_buf_printf(&b, "  parent        %s%s%s\n", sh[i].parent,
                              sh[i].adjacent_parent ? " + " : "",
                              sh[i].adjacent_parent ? sh[i].adjacent_parent : "");
        }
    }
    int rc = sp_buf_check(&b, err, "describe output");
    if (rc == SP_OK && (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0))
        rc = sp_err_set(err, "writing standard output: %s", strerror(errno));
    sp_buf_free(&b);
    return rc;
}
