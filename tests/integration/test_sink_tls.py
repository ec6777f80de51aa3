"""--ca-file and the benchmark's C sink (bench/sink.c), end to end.

(a) `shardpipe put` over HTTPS to the sink with its self-signed certificate:
    with --ca-file every line is stored exactly once (the sink's count, bytes,
    sum and xor equal those of the input); without it put fails with libcurl's
    certificate message; a missing, directory or non-PEM --ca-file is a usage
    error (status 2) that names the option.
(b) `shardpipe run` with "ca_file" in its configuration (and --ca-file
    overriding a bad one) tails a file into the TLS sink; check-config names
    the key of a missing file.
(c) The sink itself, with botocore over plain HTTP: an unsigned request is
    refused, ListShards pages through 4096 even ranges, every ShardId it
    answers is the MD5 route, its per-shard limits (rolling second and token
    bucket) refuse entries with ProvisionedThroughputExceededException, and
    a record stored twice shows up as an exactly-once mismatch.
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import cli  # noqa: E402
import sinklib  # noqa: E402
from emulators import REGION, SECRET_KEY, make_client, raw_call, shard_for  # noqa: E402

LINES = [b"line %05d " % i + b"x" * (i % 300) for i in range(3000)]


def setUpModule():
    global TMP, CERT, KEY, INPUT, EXPECTED
    TMP = tempfile.mkdtemp(prefix="shardpipe-sink-")
    CERT, KEY = sinklib.make_cert(TMP)
    INPUT = os.path.join(TMP, "input.txt")
    with open(INPUT, "wb") as f:
        f.write(cli.lines_bytes(LINES))
    EXPECTED = sinklib.digest(INPUT)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def shardpipe(args, stdin=b"", timeout=120):
    """shardpipe ARGS with test credentials, nothing but loopback."""
    for a in args:
        if "://" in a and not a.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
            raise ValueError("tests talk to loopback only")
    home = tempfile.mkdtemp(prefix="shardpipe-home-", dir=TMP)
    return subprocess.run([cli.SHARDPIPE] + list(args), input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=cli.clean_env(SECRET_KEY, home), timeout=timeout, cwd=home)


class PutOverTls(unittest.TestCase):
    def setUp(self):
        self.sink = sinklib.Sink(shards=4, tls=(CERT, KEY))

    def tearDown(self):
        self.sink.stop()

    def put(self, *extra):
        return shardpipe(["put", "-s", "bench", "--region", REGION, "--endpoint-url", self.sink.endpoint] +
                         list(extra), stdin=cli.lines_bytes(LINES))

    def test_with_the_ca_file_every_line_arrives_once(self):
        r = self.put("--ca-file", CERT)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = self.sink.stats()
        self.assertEqual(sinklib.exactly_once(EXPECTED, st), "ok")
        self.assertIn("wrong_shard=0", r.stderr.decode())
        self.assertEqual(st["records"], len(LINES))

    def test_without_it_the_certificate_is_refused(self):
        r = self.put("--max-attempts", "1", "--request-timeout-ms", "5000")
        self.assertEqual(r.returncode, 1, r.stderr)
        err = r.stderr.decode()
        self.assertIn("SSL certificate problem", err)
        self.assertIn("self-signed certificate", err)
        self.assertEqual(self.sink.stats()["records"], 0)

    def test_a_bad_ca_file_is_a_usage_error(self):
        cases = [(os.path.join(TMP, "missing.pem"), "cannot read"), (TMP, "is a directory"),
                 (INPUT, "holds no PEM certificate")]
        for path, want in cases:
            for cmd in (["put", "-s", "bench"], ["describe", "bench"]):
                r = shardpipe(cmd + ["--region", REGION, "--endpoint-url", self.sink.endpoint, "--ca-file", path])
                self.assertEqual(r.returncode, 2, (cmd, path, r.stderr))
                self.assertIn("--ca-file: ", r.stderr.decode())
                self.assertIn(want, r.stderr.decode())
        self.assertEqual(self.sink.stats()["requests"]["DescribeStreamSummary"], 0)

    def test_describe_trusts_the_ca_file(self):
        r = shardpipe(["describe", "bench", "--json", "--region", REGION, "--endpoint-url", self.sink.endpoint,
                       "--ca-file", CERT])
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual((d["stream_name"], d["open_shard_count"], len(d["shards"])), ("bench", 4, 4))


class RunOverTls(unittest.TestCase):
    def config(self, ca_file):
        d = tempfile.mkdtemp(prefix="run-", dir=TMP)
        cfg = {"region": REGION, "endpoint": self.sink.endpoint, "checkpoint_file": os.path.join(d, "ckpt"),
               "flows": [{"stream": "bench", "start": "beginning", "sources": [{"type": "file", "path": INPUT}]}]}
        if ca_file:
            cfg["ca_file"] = ca_file
        path = os.path.join(d, "shardpipe.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def setUp(self):
        self.sink = sinklib.Sink(shards=4, tls=(CERT, KEY))

    def tearDown(self):
        self.sink.stop()

    def run_until_stored(self, args):
        home = tempfile.mkdtemp(prefix="shardpipe-home-", dir=TMP)
        p = subprocess.Popen([cli.SHARDPIPE, "run"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=cli.clean_env(SECRET_KEY, home), cwd=home)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and p.poll() is None and \
                    self.sink.stats()["records"] < len(LINES):
                time.sleep(0.05)
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
        return p.returncode, err.decode()

    def test_ca_file_key(self):
        rc, err = self.run_until_stored(["-c", self.config(CERT)])
        self.assertEqual(rc, 0, err)
        self.assertEqual(sinklib.exactly_once(EXPECTED, self.sink.stats()), "ok")

    def test_option_overrides_the_key(self):
        rc, err = self.run_until_stored(["-c", self.config(os.path.join(TMP, "gone.pem")), "--ca-file", CERT])
        self.assertNotEqual(rc, 0)   # the file's key is still checked as the file is read
        self.assertIn("ca_file: cannot read", err)
        rc, err = self.run_until_stored(["-c", self.config(None), "--ca-file", CERT])
        self.assertEqual(rc, 0, err)
        self.assertEqual(sinklib.exactly_once(EXPECTED, self.sink.stats()), "ok")

    def test_reload_keeps_the_ca_file_in_force(self):
        """The running HTTP client keeps its own copy of the path: after a
        reload that changes ca_file (freeing the old configuration), lines
        still go out, and the log says the change needs a restart."""
        d = tempfile.mkdtemp(prefix="reload-", dir=TMP)
        src, other = os.path.join(d, "in.txt"), os.path.join(d, "other.pem")
        shutil.copy(CERT, other)
        with open(src, "wb") as f:
            f.write(cli.lines_bytes(LINES[:1000]))
        cfg = self.config(CERT)
        with open(cfg) as f:
            c = json.load(f)
        c["flows"][0]["sources"][0]["path"] = src
        with open(cfg, "w") as f:
            json.dump(c, f)
        home = tempfile.mkdtemp(prefix="shardpipe-home-", dir=TMP)
        p = subprocess.Popen([cli.SHARDPIPE, "run", "-c", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=cli.clean_env(SECRET_KEY, home), cwd=home)
        try:
            def wait_for(n):
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and self.sink.stats()["records"] < n:
                    time.sleep(0.05)
                return self.sink.stats()["records"]
            self.assertEqual(wait_for(1000), 1000)
            c["ca_file"] = other
            with open(cfg, "w") as f:
                json.dump(c, f)
            p.send_signal(signal.SIGHUP)
            time.sleep(1)
            with open(src, "ab") as f:
                f.write(cli.lines_bytes(LINES[1000:]))
            self.assertEqual(wait_for(len(LINES)), len(LINES))
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("reload: ca_file changed, which takes effect only after a restart", err.decode())
        self.assertEqual(sinklib.exactly_once(EXPECTED, self.sink.stats()), "ok")

    def test_check_config_names_the_key(self):
        r = shardpipe(["check-config", self.config(os.path.join(TMP, "gone.pem"))])
        self.assertEqual(r.returncode, 1)
        self.assertIn("ca_file: cannot read", r.stderr.decode())
        r = shardpipe(["check-config", self.config(CERT)])
        self.assertEqual(r.returncode, 0, r.stderr)


class SinkBehaviour(unittest.TestCase):
    def test_unsigned_request_is_refused(self):
        with sinklib.Sink(shards=2) as s:
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            c.request("POST", "/", body=b'{"StreamName":"bench"}',
                      headers={"X-Amz-Target": "Kinesis_20131202.DescribeStreamSummary",
                               "Content-Type": "application/x-amz-json-1.1"})
            r = c.getresponse()
            self.assertEqual(r.status, 403)
            self.assertEqual(r.getheader("X-Amzn-ErrorType"), "MissingAuthenticationTokenException")
            c.close()

    def test_errors_are_aws_errors(self):
        import botocore.exceptions
        with sinklib.Sink(shards=2) as s:
            k = make_client(s.endpoint)
            cases = [({"StreamName": 'no"pe', "Records": [{"PartitionKey": "a", "Data": b"x"}]},
                      "ResourceNotFoundException", 'Stream no"pe under account'),
                     ({"StreamName": "bench", "Records": [{}]}, "ValidationException", "partitionKey"),
                     ({"StreamName": "bench", "Records": []}, "ValidationException", "greater than or equal to 1"),
                     ({"StreamName": "bench", "Records": [{"PartitionKey": "a", "Data": b"x"}] * 501},
                      "ValidationException", "less than or equal to 500")]
            for params, code, text in cases:
                with self.assertRaises(botocore.exceptions.ClientError) as cm:
                    k.put_records(**params)
                self.assertEqual(cm.exception.response["Error"]["Code"], code)
                self.assertIn(text, cm.exception.response["Error"]["Message"])
            for data in ("QQ=", "Q===", "QUJD!A==", "QU=D", "QUJDRA=A"):     # not standard padded base64
                status, hdrs, body = raw_call(s.port, "PutRecords", {"StreamName": "bench", "Records": [
                    {"PartitionKey": "a", "Data": "QUJD"}, {"PartitionKey": "a", "Data": data}]})
                self.assertEqual((status, hdrs["X-Amzn-ErrorType"]), (400, "SerializationException"), data)
                self.assertIn(b"records.2.member.data", body)
            status, _, body = raw_call(s.port, "PutRecords", {"StreamName": "bench", "Records": [
                {"PartitionKey": "a", "Data": d} for d in ("", "QQ==", "QUI=", "QUJD", "QUJDRA==")]})
            self.assertEqual(status, 200, body)
            self.assertEqual(s.stats()["data_bytes"], 0 + 1 + 2 + 3 + 4)

    def test_shards_and_routing(self):
        with sinklib.Sink(shards=4096) as s:
            k = make_client(s.endpoint)
            shards, token = [], None
            while True:
                page = k.list_shards(NextToken=token) if token else k.list_shards(StreamName="bench")
                shards += page["Shards"]
                token = page.get("NextToken")
                if not token:
                    break
            self.assertEqual(len(shards), 4096)
            self.assertEqual(int(shards[0]["HashKeyRange"]["StartingHashKey"]), 0)
            self.assertEqual(int(shards[-1]["HashKeyRange"]["EndingHashKey"]), 2 ** 128 - 1)
            for a, b in zip(shards, shards[1:]):
                self.assertEqual(int(a["HashKeyRange"]["EndingHashKey"]) + 1, int(b["HashKeyRange"]["StartingHashKey"]))
            recs = [{"PartitionKey": "key-%d" % i, "Data": b"d%d" % i} for i in range(500)]
            recs[7]["ExplicitHashKey"] = str(2 ** 127)
            recs[8]["PartitionKey"] = "cl\u00e9 \u2603 \U0001f600 \"q\" \\"   # botocore sends \\u escapes
            out = k.put_records(StreamName="bench", Records=recs)
            self.assertEqual(out["FailedRecordCount"], 0)
            for r, o in zip(recs, out["Records"]):
                self.assertEqual(o["ShardId"], shard_for(shards, r["PartitionKey"], r.get("ExplicitHashKey")))
                self.assertEqual(len(o["SequenceNumber"]), 56)
            self.assertEqual(out["Records"][7]["ShardId"], "shardId-000000002048")
            one = k.put_record(StreamName="bench", PartitionKey="solo", Data=b"x")
            self.assertEqual(one["ShardId"], shard_for(shards, "solo"))
            self.assertEqual(s.stats()["records"], 501)

    def test_limits(self):
        for mode in ("rolling", "bucket"):
            with sinklib.Sink(shards=2, limit=mode, extra=["--records-per-s", "100"]) as s:
                k = make_client(s.endpoint)
                out = k.put_records(StreamName="bench", Records=[{"PartitionKey": "same", "Data": b"x"}] * 300)
                self.assertEqual(out["FailedRecordCount"], 200, mode)
                codes = [r.get("ErrorCode") for r in out["Records"]]
                self.assertEqual(codes[:100], [None] * 100)
                self.assertEqual(set(codes[100:]), {"ProvisionedThroughputExceededException"})
                self.assertIn("Rate exceeded for shard shardId-", out["Records"][150]["ErrorMessage"])
                st = s.stats(shards=True)
                self.assertEqual((st["records"], st["throttled"]), (100, 200))
                time.sleep(1.05)     # a second later the shard takes 100 more
                out = k.put_records(StreamName="bench", Records=[{"PartitionKey": "same", "Data": b"x"}] * 150)
                self.assertEqual(out["FailedRecordCount"], 50, mode)

    def test_a_duplicate_is_a_mismatch(self):
        with sinklib.Sink(shards=2) as s:
            k = make_client(s.endpoint)
            for l in LINES[:10]:
                k.put_record(StreamName="bench", PartitionKey="p", Data=l)
            path = os.path.join(TMP, "ten.txt")
            with open(path, "wb") as f:
                f.write(cli.lines_bytes(LINES[:10]))
            want = sinklib.digest(path)
            self.assertEqual(sinklib.exactly_once(want, s.stats()), "ok")
            k.put_record(StreamName="bench", PartitionKey="p", Data=LINES[3])
            self.assertTrue(sinklib.exactly_once(want, s.stats()).startswith("MISMATCH records 11 != 10"))
            # the same count and bytes with one line swapped for another: the sums tell
            with sinklib.Sink(shards=2) as s2:
                k2 = make_client(s2.endpoint)
                for l in LINES[:9] + [LINES[9][:-1] + b"?"]:
                    k2.put_record(StreamName="bench", PartitionKey="p", Data=l)
                got = sinklib.exactly_once(want, s2.stats())
                self.assertIn("sum", got)
                self.assertNotIn("records", got)


if __name__ == "__main__":
    unittest.main()
