#!/usr/bin/python3
"""Cross-checks shardpipe's SigV4 signer against botocore's SigV4Auth.

Usage: /usr/bin/python3 tests/sigv4_botocore.py build/tools/sigv4_sign

Run it with Debian's /usr/bin/python3, which has python3-botocore. Each case
is a real Kinesis request (several partitions, ports, odd header spacing,
session tokens, UTF-8, binary and big bodies). botocore signs it at a fixed
time; the C tool signs the same headers; the Authorization values must be
identical. The tool runs twice: once keeping its signing-key cache across
requests, once without. Control cases then check that a change of one body
byte or one secret byte is noticed, so a comparison that passes everything
would not go unseen.

Last line: "sigv4-botocore: N passed, M failed"; exit status 1 on failure.
"""

import datetime
import json
import random
import subprocess
import sys
import types
import unittest.mock
from urllib.parse import urlsplit

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SECRETS = [
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "Zm9vYmFyYmF6+/+/+/+/0123456789abcdefABCD",
]
TOKEN = (
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token=="
    + "FwoGZXIvYXdzEBYaDK" * 40
    + "+/="
)
JSON = "application/x-amz-json-1.1"
KINESIS_VECTOR_SIG = "7d3892c80b069a2e5b29fe03c42725bfdcb3364ca7b2bb89a3bacaef8291ae83"


def target(op):
    return "Kinesis_20131202." + op


def at(*args):
    return datetime.datetime(*args)


def put_records_body(stream, records):
    return json.dumps({"StreamName": stream, "Records": records},
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def big_body(n_bytes, seed):
    """A PutRecords body of about n_bytes with random base64 data."""
    import base64

    rnd = random.Random(seed)
    records, total = [], 0
    while total < n_bytes:
        data = base64.b64encode(rnd.randbytes(60000)).decode()
        records.append({"Data": data, "PartitionKey": "pk-%d" % len(records)})
        total += len(data) + 40
    return put_records_body("big", records)


def case(name, region, url, op, body, when, secret=0, token=None,
         akid="AKIDEXAMPLE", extra=(), content_type=JSON, target_value=None,
         host=None):
    headers = [("Content-Type", content_type),
               ("X-Amz-Target", target_value or target(op))]
    if host is not None:
        headers.insert(0, ("Host", host))
    headers.extend(extra)
    return {
        "name": name, "region": region, "url": url, "headers": headers,
        "body": body, "when": when, "akid": akid, "secret": SECRETS[secret],
        "token": token,
    }


def cases():
    hello = put_records_body(
        "test", [{"Data": "aGVsbG8=", "PartitionKey": "a"}])
    utf8 = put_records_body("unicode-stream", [
        {"Data": "4pyTIMOgIGxhIG1vZGU=", "PartitionKey": "ключ-🔑"},
        {"Data": "5pel5pys6Kqe", "PartitionKey": "日本語 パーティション"},
        {"Data": "", "PartitionKey": "e\u0301\u200b\u2028end"},
    ])
    c = [
        # The KINESIS.md §5.2 vector, as botocore sees it.
        case("kinesis-vector", "us-east-1", "https://kinesis.us-east-1.amazonaws.com/",
             "PutRecords", hello, at(2026, 1, 1)),
        case("token", "us-east-1", "https://kinesis.us-east-1.amazonaws.com/",
             "PutRecords", hello, at(2026, 1, 1), token=TOKEN),
        case("eu-west-1", "eu-west-1", "https://kinesis.eu-west-1.amazonaws.com/",
             "PutRecord",
             b'{"StreamName":"s","Data":"eA==","PartitionKey":"k"}',
             at(2026, 1, 1, 0, 0, 1)),
        case("cn-north-1", "cn-north-1",
             "https://kinesis.cn-north-1.amazonaws.com.cn/", "PutRecords",
             utf8, at(2025, 10, 27, 8, 30, 0), secret=1, akid="AKIAIOSFODNN7EXAMPLE"),
        case("cn-northwest-1-token", "cn-northwest-1",
             "https://kinesis.cn-northwest-1.amazonaws.com.cn/", "ListShards",
             b'{"StreamName":"s","ShardFilter":{"Type":"AT_LATEST"},"MaxResults":1000}',
             at(2025, 10, 27, 8, 30, 0), secret=1, token="short/token+=="),
        case("us-gov-west-1", "us-gov-west-1",
             "https://kinesis.us-gov-west-1.amazonaws.com/", "DescribeStreamSummary",
             b'{"StreamName":"gov"}', at(2024, 2, 29, 23, 59, 59)),
        case("us-gov-west-1-token", "us-gov-west-1",
             "https://kinesis.us-gov-west-1.amazonaws.com/", "PutRecords", utf8,
             at(2024, 3, 1, 0, 0, 0), secret=2, token=TOKEN),
        case("fips", "us-east-1", "https://kinesis-fips.us-east-1.amazonaws.com/",
             "PutRecords", hello, at(2026, 1, 1)),
        case("account-scoped", "us-west-2",
             "https://123456789012.data-kinesis.us-west-2.amazonaws.com/",
             "PutRecords", hello, at(2030, 6, 15, 12, 0, 0), secret=2),
        case("iso", "us-iso-east-1", "https://kinesis.us-iso-east-1.c2s.ic.gov/",
             "GetShardIterator",
             b'{"StreamName":"s","ShardId":"shardId-000000000000",'
             b'"ShardIteratorType":"TRIM_HORIZON"}', at(2038, 1, 19, 3, 14, 8)),
        case("port-4567", "us-east-1", "http://localhost:4567/", "CreateStream",
             b'{"StreamName":"local","ShardCount":4}', at(1999, 12, 31, 23, 59, 59),
             akid="test"),
        case("port-4568-ip", "eu-central-1", "http://127.0.0.1:4568/", "ListStreams",
             b"{}", at(2000, 1, 1)),
        case("ipv6-port", "ap-northeast-1", "http://[::1]:4567/", "GetRecords",
             b'{"ShardIterator":"AAAA/+==","Limit":10000}', at(2026, 7, 4, 4, 5, 6)),
        case("explicit-default-port", "ap-southeast-2",
             "https://kinesis.ap-southeast-2.amazonaws.com:443/", "PutRecords", hello,
             at(2026, 1, 1)),
        case("explicit-host-port", "us-east-1", "https://localhost:8443/",
             "PutRecords", hello, at(2026, 1, 1), host="localhost:8443"),
        case("odd-whitespace", "us-east-1", "https://kinesis.us-east-1.amazonaws.com/",
             "PutRecords", hello, at(2026, 1, 1),
             content_type="  application/x-amz-json-1.1   ",
             target_value="\tKinesis_20131202.PutRecords  \t",
             extra=[("X-Custom-Spacing", "  a   b \t\t c    d  "),
                    ("x-MIXED-case", "Value  With   Runs")]),
        case("odd-whitespace-token", "sa-east-1",
             "https://kinesis.sa-east-1.amazonaws.com/", "PutRecords", utf8,
             at(2026, 1, 1), secret=1, token=TOKEN,
             extra=[("X-Amz-Meta-Test-Two", " 2 "), ("X-Amz-Meta-Test", "1"),
                    ("X-Empty", "   "), ("X-Utf8", "  café   au  lait ")]),
        case("user-agent-unsigned", "us-east-2",
             "https://kinesis.us-east-2.amazonaws.com/", "PutRecords", hello,
             at(2026, 1, 2),
             extra=[("User-Agent", "shardpipe/0.1.0"), ("Expect", "100-continue")]),
        case("repeated-header", "us-east-1", "https://kinesis.us-east-1.amazonaws.com/",
             "PutRecords", hello, at(2026, 1, 2),
             extra=[("X-Multi", " first "), ("x-multi", "second  value"),
                    ("X-MULTI", "third")]),
        case("empty-body", "us-east-1", "https://kinesis.us-east-1.amazonaws.com/",
             "ListStreams", b"", at(2026, 1, 2)),
        case("binary-body", "us-west-1", "https://kinesis.us-west-1.amazonaws.com/",
             "PutRecords", bytes(range(256)) * 3 + b"\xff\xfe\x00\x80",
             at(2026, 1, 2)),
        case("big-1MiB", "us-east-1", "https://kinesis.us-east-1.amazonaws.com/",
             "PutRecords", big_body(1 << 20, 1), at(2026, 1, 2)),
        case("big-5MiB-token", "eu-west-1", "https://kinesis.eu-west-1.amazonaws.com/",
             "PutRecords", big_body(5 << 20, 2), at(2026, 1, 2), token=TOKEN),
        case("big-10MiB", "cn-north-1", "https://kinesis.cn-north-1.amazonaws.com.cn/",
             "PutRecords", big_body(10 << 20, 3), at(2026, 1, 3), secret=2),
        case("long-akid", "us-east-1", "https://kinesis.us-east-1.amazonaws.com/",
             "PutRecords", hello, at(2026, 1, 3), akid="A" * 128),
    ]
    # The same scope again after others: the cache must be refreshed.
    c.append(case("kinesis-vector-again", "us-east-1",
                  "https://kinesis.us-east-1.amazonaws.com/", "PutRecords", hello,
                  at(2026, 1, 1)))
    return c


def host_from_url(url):
    """What the caller sends as Host: the port only when not the default."""
    parts = urlsplit(url)
    host = parts.hostname
    if ":" in host:
        host = "[%s]" % host
    default = {"http": 80, "https": 443}[parts.scheme]
    if parts.port is not None and parts.port != default:
        host = "%s:%d" % (host, parts.port)
    return host


def botocore_sign(c):
    """botocore's Authorization for case c, signed at c["when"]."""
    when = c["when"]

    class FixedDatetime(datetime.datetime):
        # botocore 1.29 reads the clock with datetime.datetime.utcnow() in
        # SigV4Auth.add_auth; later versions use now(timezone.utc).
        @classmethod
        def utcnow(cls):
            return cls(*when.timetuple()[:6])

        @classmethod
        def now(cls, tz=None):
            t = cls(*when.timetuple()[:6])
            return t.replace(tzinfo=datetime.timezone.utc).astimezone(tz) if tz else t

    shim = types.SimpleNamespace(datetime=FixedDatetime)
    req = AWSRequest(method="POST", url=c["url"], data=c["body"])
    for name, value in c["headers"]:
        req.headers[name] = value   # a repeated name is added, not replaced
    creds = Credentials(c["akid"], c["secret"], c["token"])
    with unittest.mock.patch.object(botocore.auth, "datetime", shim):
        botocore.auth.SigV4Auth(creds, "kinesis", c["region"]).add_auth(req)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    if req.context.get("timestamp") != stamp:
        raise RuntimeError("the time patch did not take: botocore used %r, wanted %r"
                           % (req.context.get("timestamp"), stamp))
    return req.headers["Authorization"]


def tool_input(c, body=None, secret=None):
    """The C tool's request: exactly the headers that would be sent and
    signed, as shardpipe itself would build them."""
    amz_date = c["when"].strftime("%Y%m%dT%H%M%SZ")
    skip = set(botocore.auth.SIGNED_HEADERS_BLACKLIST)
    headers = [[n, v] for n, v in c["headers"] if n.lower() not in skip]
    if not any(n.lower() == "host" for n, _ in headers):
        headers.append(["Host", host_from_url(c["url"])])
    headers.append(["X-Amz-Date", amz_date])
    if c["token"]:
        headers.append(["X-Amz-Security-Token", c["token"]])
    body = c["body"] if body is None else body
    d = {
        "method": "POST", "path": "/", "query": "", "headers": headers,
        "region": c["region"], "service": "kinesis", "amz_date": amz_date,
        "access_key_id": c["akid"],
        "secret": c["secret"] if secret is None else secret,
    }
    try:
        d["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        d["body_hex"] = body.hex()
    return json.dumps(d, ensure_ascii=False)


def run_tool(tool, lines, args):
    data = ("\n".join(lines) + "\n").encode("utf-8")
    p = subprocess.run([tool] + args, input=data, capture_output=True, check=False)
    out = p.stdout.decode("utf-8", "replace").split("\n")
    if out and out[-1] == "":
        out.pop()
    if p.returncode not in (0, 1) or len(out) != len(lines):
        sys.stderr.write(p.stderr.decode("utf-8", "replace"))
        raise RuntimeError("%s %s: exit %d, %d lines for %d requests"
                           % (tool, " ".join(args), p.returncode, len(out), len(lines)))
    return out


def flip_last_byte(b):
    return b[:-1] + bytes([b[-1] ^ 1])


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s PATH-TO-sigv4_sign\n" % sys.argv[0])
        return 2
    tool = sys.argv[1]
    print("botocore %s, %s" % (botocore.__version__, tool))
    passed = failed = 0
    all_cases = cases()
    expected = [botocore_sign(c) for c in all_cases]
    # botocore itself must reproduce the KINESIS.md §5.2 vector.
    if not expected[0].endswith("Signature=" + KINESIS_VECTOR_SIG):
        print("FAIL botocore does not reproduce the KINESIS.md vector: " + expected[0])
        failed += 1
    lines = [tool_input(c) for c in all_cases]
    with_cache = run_tool(tool, lines, [])
    without = run_tool(tool, lines, ["--no-cache"])
    for c, want, got1, got2 in zip(all_cases, expected, with_cache, without):
        if got1 == want and got2 == want:
            passed += 1
            print("ok   %-24s %-15s %9d bytes%s" % (c["name"], c["region"], len(c["body"]),
                                                    " +token" if c["token"] else ""))
        else:
            failed += 1
            print("FAIL %s\n  botocore: %s\n  cached:   %s\n  uncached: %s"
                  % (c["name"], want, got1, got2))

    # Controls: one changed byte must change the signature.
    base = all_cases[0]
    controls = [
        ("control-body-byte", tool_input(base, body=flip_last_byte(base["body"]))),
        ("control-secret-byte", tool_input(base, secret=base["secret"][:-1] + "X")),
    ]
    got = run_tool(tool, [line for _, line in controls], [])
    for (name, _), g in zip(controls, got):
        if g.startswith("AWS4-HMAC-SHA256 ") and g != expected[0] \
                and g.split("Signature=")[0] == expected[0].split("Signature=")[0]:
            passed += 1
            print("ok   %-24s (signature differs, as it must)" % name)
        else:
            failed += 1
            print("FAIL %s: %s" % (name, g))

    print("sigv4-botocore: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
