"""Checks the fake Kinesis server itself, with botocore (and hand-signed raw
requests) as the client: if the fake is wrong, every fault test built on it is
worthless. Run: /usr/bin/python3 -m unittest tests/fake/test_fake_server.py"""
import base64
import json
import os
import sys
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from emulators import (ACCESS_KEY, SECRET_KEY, FakeKinesis, make_client,  # noqa: E402
                       raw_call, shard_for)
import botocore.exceptions  # noqa: E402

MAX = 2 ** 128 - 1
# KINESIS.md §3.3: key -> (shard of 2, shard of 4)
VECTORS = {"a": (0, 0), "b": (1, 2), "partitionKey-1": (0, 1), "日本": (0, 1)}
STARTS_4 = ["0", "85070591730234615865843651857942052864",
            "170141183460469231731687303715884105728", "255211775190703847597530955573826158592"]

fake = None


def setUpModule():
    global fake
    fake = FakeKinesis("--stream", "two:2", "--stream", "four:4").start()


def tearDownModule():
    fake.stop()


def code_of(exc):
    return exc.exception.response["Error"]["Code"]


def recs(n, size=3, pk="k"):
    return [{"Data": base64.b64encode(b"x" * size).decode(), "PartitionKey": "%s%d" % (pk, i)}
            for i in range(n)]


def quiet():
    # botocore clients keep pooled sockets open; unittest would warn about each.
    warnings.simplefilter("ignore", ResourceWarning)


class Base(unittest.TestCase):
    def setUp(self):
        quiet()
        fake.control("reset", {})
        self.c = fake.client()

    def put(self, records, stream="four"):
        st, hdr, body = raw_call(fake.port, "PutRecords", {"StreamName": stream, "Records": records})
        return st, hdr, (json.loads(body) if body else None)

    def stored(self, stream="four"):
        return sum(len(v) for v in fake.control("records?stream=" + stream)[stream].values())

    def script(self, *actions, op=None):
        fake.control("script", {"op": op, "actions": list(actions)} if op else list(actions))


class Routing(Base):
    def test_even_split_matches_kinesis_md(self):
        shards = self.c.list_shards(StreamName="four")["Shards"]
        self.assertEqual([s["HashKeyRange"]["StartingHashKey"] for s in shards], STARTS_4)
        self.assertEqual(shards[-1]["HashKeyRange"]["EndingHashKey"], str(MAX))
        two = self.c.list_shards(StreamName="two")["Shards"]
        self.assertEqual(two[0]["HashKeyRange"]["EndingHashKey"], "170141183460469231731687303715884105727")

    def test_md5_vectors(self):
        for stream, col in (("two", 0), ("four", 1)):
            r = self.c.put_records(StreamName=stream, Records=[
                {"Data": b"v", "PartitionKey": k} for k in VECTORS])
            self.assertEqual(r["FailedRecordCount"], 0)
            got = [x["ShardId"] for x in r["Records"]]
            self.assertEqual(got, ["shardId-%012d" % v[col] for v in VECTORS.values()], stream)
            shards = self.c.list_shards(StreamName=stream)["Shards"]
            self.assertEqual(got, [shard_for(shards, k) for k in VECTORS])

    def test_explicit_hash_key_wins(self):
        r = self.c.put_record(StreamName="four", Data=b"x", PartitionKey="a", ExplicitHashKey=str(MAX))
        self.assertEqual(r["ShardId"], "shardId-000000000003")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.c.put_record(StreamName="four", Data=b"x", PartitionKey="a", ExplicitHashKey=str(MAX + 1))
        self.assertEqual(code_of(e), "InvalidArgumentException")

    def test_sequence_numbers_increase_per_shard(self):
        r = self.c.put_records(StreamName="two", Records=[{"Data": b"1", "PartitionKey": "a"}] * 5)
        seqs = [int(x["SequenceNumber"]) for x in r["Records"]]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertEqual(len(r["Records"][0]["SequenceNumber"]), 56)


class Signatures(unittest.TestCase):
    def setUp(self):
        quiet()

    @classmethod
    def setUpClass(cls):
        cls.srv = FakeKinesis("--verify-sigv4", SECRET_KEY, "--stream", "s:1").start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_right_secret_accepted(self):
        c = self.srv.client()
        c.put_record(StreamName="s", Data=b"ok", PartitionKey="k")
        self.assertEqual(len(c.list_shards(StreamName="s")["Shards"]), 1)

    def test_wrong_secret_rejected(self):
        c = make_client(self.srv.endpoint, secret="not-the-secret")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            c.put_record(StreamName="s", Data=b"x", PartitionKey="k")
        self.assertEqual(code_of(e), "InvalidSignatureException")
        self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_tampered_body_rejected(self):
        # Signed for one body, sent with another: the payload hash must be checked.
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        import http.client
        req = AWSRequest(method="POST", url=self.srv.endpoint + "/", data=b'{"StreamName":"s"}',
                         headers={"Content-Type": "application/x-amz-json-1.1",
                                  "X-Amz-Target": "Kinesis_20131202.ListShards"})
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kinesis", "us-east-1").add_auth(req)
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        conn.request("POST", "/", body=b'{"StreamName":"t"}', headers=dict(req.headers.items()))
        resp = conn.getresponse()
        self.assertEqual(resp.status, 403)
        self.assertEqual(json.loads(resp.read())["__type"], "InvalidSignatureException")
        conn.close()

    def test_missing_and_incomplete_authorization(self):
        st, _, body = raw_call(self.srv.port, "ListShards", {"StreamName": "s"}, sign=False)
        self.assertEqual((st, json.loads(body)["__type"]), (403, "MissingAuthenticationTokenException"))
        st, _, body = raw_call(self.srv.port, "ListShards", {"StreamName": "s"}, sign=False,
                               headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x",
                                        "X-Amz-Date": "20250101T000000Z"})
        self.assertEqual((st, json.loads(body)["__type"]), (400, "IncompleteSignatureException"))

    def test_wrong_service_and_old_date_rejected(self):
        st, _, body = raw_call(self.srv.port, "ListShards", {"StreamName": "s"}, region="us-east-1",
                               headers={"X-Amz-Date": "20200101T000000Z"})
        self.assertEqual(json.loads(body)["__type"], "InvalidSignatureException")

    def test_key_table(self):
        srv = FakeKinesis("--verify-sigv4", "AKIDONE:s1", "--verify-sigv4", "AKIDTWO:s2",
                          "--stream", "s:1").start()
        try:
            make_client(srv.endpoint, access_key="AKIDTWO", secret="s2").list_shards(StreamName="s")
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                make_client(srv.endpoint, access_key="AKIDTWO", secret="s1").list_shards(StreamName="s")
            self.assertEqual(code_of(e), "InvalidSignatureException")
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                make_client(srv.endpoint, access_key="AKIDNONE", secret="s1").list_shards(StreamName="s")
            self.assertEqual(code_of(e), "UnrecognizedClientException")
        finally:
            srv.stop()


class Validation(Base):
    def assert_error(self, status, type_, result):
        st, hdr, body = result
        self.assertEqual((st, body["__type"]), (status, type_), body)
        self.assertEqual(hdr["Content-Type"], "application/x-amz-json-1.1")
        self.assertTrue(hdr["x-amzn-RequestId"])
        self.assertIn("message", body)
        return body["message"]

    def test_record_count(self):
        self.assert_error(400, "ValidationException", self.put(recs(501)))
        self.assert_error(400, "ValidationException", self.put([]))
        self.assertEqual(self.put(recs(500))[0], 200)

    def test_partition_key_length(self):
        self.assert_error(400, "ValidationException", self.put([{"Data": "", "PartitionKey": "p" * 257}]))
        self.assert_error(400, "ValidationException", self.put([{"Data": "", "PartitionKey": ""}]))
        self.assertEqual(self.put([{"Data": "", "PartitionKey": "é" * 256}])[0], 200)

    def test_record_size_counts_partition_key(self):
        cap = 1024 * 1024
        ok = base64.b64encode(b"x" * (cap - 3)).decode()
        self.assertEqual(self.put([{"Data": ok, "PartitionKey": "abc"}])[0], 200)
        msg = self.assert_error(400, "ValidationException",
                                self.put([{"Data": ok, "PartitionKey": "abcd"}] + recs(3)))
        self.assertIn("records.1.member.data", msg)
        self.assertEqual(self.stored(), 1)      # the failed request stored nothing

    def test_max_record_size_kib_per_stream(self):
        fake.control("stream", {"name": "big", "shards": 1, "max_record_kib": 2048})
        st, _, body = raw_call(fake.port, "DescribeStreamSummary", {"StreamName": "big"})
        self.assertEqual(json.loads(body)["StreamDescriptionSummary"]["MaxRecordSizeInKiB"], 2048)
        data = base64.b64encode(b"y" * (2 * 1024 * 1024 - 1)).decode()
        self.assertEqual(self.put([{"Data": data, "PartitionKey": "k"}], "big")[0], 200)
        st, _, body = raw_call(fake.port, "DescribeStreamSummary", {"StreamName": "four"})
        self.assertEqual(json.loads(body)["StreamDescriptionSummary"]["MaxRecordSizeInKiB"], 1024)

    def test_request_total(self):
        fake.control("config", {"max_request_bytes": 1000})
        try:
            self.assertEqual(self.put(recs(10, 98))[0], 200)        # 10 * (98 + len("k0")) = 1000
            self.assert_error(400, "InvalidArgumentException", self.put(recs(10, 99)))
        finally:
            fake.control("config", {"max_request_bytes": 10 * 1024 * 1024})

    def test_base64_strict(self):
        for bad in ("aGVsbG8", "aGVs bG8=", "aGVsbG8*", "a===", 5):
            self.assert_error(400, "SerializationException", self.put([{"Data": bad, "PartitionKey": "k"}]))

    def test_unknown_stream_names_stream_and_account(self):
        msg = self.assert_error(400, "ResourceNotFoundException", self.put(recs(1), stream="nope"))
        self.assertIn("nope", msg)
        self.assertIn("123456789012", msg)
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.c.describe_stream_summary(StreamName="nope")
        self.assertEqual(code_of(e), "ResourceNotFoundException")

    def test_unknown_operation(self):
        st, _, body = raw_call(fake.port, "FlyToTheMoon", {})
        self.assertEqual(json.loads(body)["__type"], "UnknownOperationException")


class Reading(Base):
    def test_iterators_all_types(self):
        self.c.create_stream(StreamName="rd", ShardCount=1)
        seqs = [self.c.put_record(StreamName="rd", Data=b"%d" % i, PartitionKey="k")["SequenceNumber"]
                for i in range(5)]

        def read(**kw):
            it = self.c.get_shard_iterator(StreamName="rd", ShardId="shardId-000000000000", **kw)["ShardIterator"]
            return [r["Data"] for r in self.c.get_records(ShardIterator=it)["Records"]]
        self.assertEqual(read(ShardIteratorType="TRIM_HORIZON"), [b"0", b"1", b"2", b"3", b"4"])
        self.assertEqual(read(ShardIteratorType="LATEST"), [])
        self.assertEqual(read(ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2]),
                         [b"2", b"3", b"4"])
        self.assertEqual(read(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2]),
                         [b"3", b"4"])
        self.assertEqual(read(ShardIteratorType="AT_TIMESTAMP", Timestamp=time.time() - 60), [b"0", b"1", b"2", b"3", b"4"])
        self.assertEqual(read(ShardIteratorType="AT_TIMESTAMP", Timestamp=time.time() + 60), [])

    def test_get_records_limit_and_next_iterator(self):
        self.c.put_records(StreamName="two", Records=[{"Data": b"%d" % i, "PartitionKey": "a"} for i in range(7)])
        it = self.c.get_shard_iterator(StreamName="two", ShardId="shardId-000000000000",
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        got = []
        for _ in range(5):
            r = self.c.get_records(ShardIterator=it, Limit=3)
            got += [x["Data"] for x in r["Records"]]
            it = r["NextShardIterator"]
        self.assertEqual(got, [b"%d" % i for i in range(7)])
        self.assertEqual(r["MillisBehindLatest"], 0)

    def test_list_shards_paging_and_filter(self):
        self.c.create_stream(StreamName="pg", ShardCount=5)
        fake.control("config", {"list_shards_page": 2})
        try:
            r = self.c.list_shards(StreamName="pg", ShardFilter={"Type": "AT_LATEST"})
            ids = [s["ShardId"] for s in r["Shards"]]
            self.assertEqual(len(ids), 2)
            while r.get("NextToken"):
                r = self.c.list_shards(NextToken=r["NextToken"])
                ids += [s["ShardId"] for s in r["Shards"]]
            self.assertEqual(ids, ["shardId-%012d" % i for i in range(5)])
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                self.c.list_shards(StreamName="pg", NextToken=self.c.list_shards(StreamName="pg")["NextToken"])
            self.assertEqual(code_of(e), "InvalidArgumentException")
        finally:
            fake.control("config", {"list_shards_page": 1000})

    def test_split_and_merge(self):
        self.c.create_stream(StreamName="sm", ShardCount=2)
        self.c.split_shard(StreamName="sm", ShardToSplit="shardId-000000000000",
                           NewStartingHashKey=str(2 ** 126))
        latest = self.c.list_shards(StreamName="sm", ShardFilter={"Type": "AT_LATEST"})["Shards"]
        self.assertEqual([s["ShardId"] for s in latest], ["shardId-000000000001", "shardId-000000000002",
                                                          "shardId-000000000003"])
        self.assertEqual(latest[1]["ParentShardId"], "shardId-000000000000")
        every = self.c.list_shards(StreamName="sm")["Shards"]
        self.assertIn("EndingSequenceNumber", every[0]["SequenceNumberRange"])
        self.c.merge_shards(StreamName="sm", ShardToMerge="shardId-000000000002",
                            AdjacentShardToMerge="shardId-000000000003")
        latest = self.c.list_shards(StreamName="sm", ShardFilter={"Type": "AT_LATEST"})["Shards"]
        self.assertEqual(latest[-1]["HashKeyRange"], {"StartingHashKey": "0",
                                                      "EndingHashKey": str(2 ** 127 - 1)})
        self.assertEqual(self.c.put_record(StreamName="sm", Data=b"x", PartitionKey="a")["ShardId"],
                         latest[-1]["ShardId"])

    def test_describe_stream(self):
        d = self.c.describe_stream(StreamName="four")["StreamDescription"]
        self.assertEqual((d["StreamStatus"], len(d["Shards"]), d["HasMoreShards"]), ("ACTIVE", 4, False))
        self.assertEqual(d["StreamARN"], "arn:aws:kinesis:us-east-1:123456789012:stream/four")


class Limits(Base):
    """--limits / config {"limits": true}: per-shard rolling one-second
    windows of records and bytes (partition key + data)."""
    PTEE = "ProvisionedThroughputExceededException"

    def limits(self, **kw):
        return fake.control("config", dict(kw, limits=True))

    def tearDown(self):
        fake.control("config", {"limits": False})

    def codes(self, body):
        return [r.get("ErrorCode") for r in body["Records"]]

    def test_off_by_default_and_config_round_trip(self):
        self.assertEqual(fake.control("stats")["limits"], {"limits": False})
        st, _, body = self.put([{"Data": "", "PartitionKey": "a"}] * 500)
        st, _, body2 = self.put([{"Data": "", "PartitionKey": "a"}] * 500)
        st, _, body3 = self.put([{"Data": "", "PartitionKey": "a"}] * 500)
        self.assertEqual(body3["FailedRecordCount"], 0)
        out = self.limits()
        self.assertEqual((out["limits"], out["shard_records_per_s"], out["shard_bytes_per_s"]),
                         (True, 1000, 1024 * 1024))

    def test_real_record_limit(self):
        self.limits()
        one = [{"Data": "", "PartitionKey": "a"}] * 500      # "a" -> shard 0 of four
        self.assertEqual(self.put(one)[2]["FailedRecordCount"], 0)
        self.assertEqual(self.put(one)[2]["FailedRecordCount"], 0)
        st, _, body = self.put(one[:3] + [{"Data": "", "PartitionKey": "b"}])   # b -> shard 2
        self.assertEqual(st, 200)
        self.assertEqual(self.codes(body), [self.PTEE] * 3 + [None])
        self.assertEqual(body["FailedRecordCount"], 3)
        self.assertEqual(body["Records"][0]["ErrorMessage"],
                         "Rate exceeded for shard shardId-000000000000 in stream four under "
                         "account 123456789012.")
        self.assertEqual(body["Records"][3]["ShardId"], "shardId-000000000002")
        self.assertEqual(self.stored(), 1001)

    def test_real_byte_limit_counts_partition_key(self):
        self.limits()
        data = base64.b64encode(b"x" * (512 * 1024 - 1)).decode()   # + "a" = 512 KiB
        st, _, body = self.put([{"Data": data, "PartitionKey": "a"}] * 3)
        self.assertEqual(self.codes(body), [None, None, self.PTEE])
        # 1 MiB used: even one more byte is refused, on that shard only.
        st, _, body = self.put([{"Data": "", "PartitionKey": "a"},
                                {"Data": data, "PartitionKey": "b"}])
        self.assertEqual(self.codes(body), [self.PTEE, None])

    def test_entries_in_order_and_refused_ones_use_no_capacity(self):
        self.limits(shard_records_per_s=10, shard_bytes_per_s=1000)
        big = base64.b64encode(b"x" * 299).decode()      # 300 bytes with the key
        small = base64.b64encode(b"y" * 89).decode()     # 90 bytes with the key
        st, _, body = self.put([{"Data": big, "PartitionKey": "a"}] * 4 +
                               [{"Data": small, "PartitionKey": "a"}])
        self.assertEqual(self.codes(body), [None, None, None, self.PTEE, None])   # 990 bytes
        st, _, body = self.put([{"Data": "", "PartitionKey": "a"}] * 12)
        # 10 bytes left, 6 records left: 1-byte records pass until 10 records.
        self.assertEqual(self.codes(body), [None] * 6 + [self.PTEE] * 6)
        c = fake.control("stats")["shards"]["four"]["shardId-000000000000"]
        self.assertEqual((c["records"], c["bytes"], c["throttled"]), (10, 996, 7))

    def test_window_rolls(self):
        self.limits(shard_records_per_s=5)
        five = [{"Data": "", "PartitionKey": "a"}] * 5
        self.assertEqual(self.put(five)[2]["FailedRecordCount"], 0)
        t = time.monotonic()
        self.assertEqual(self.put(five)[2]["FailedRecordCount"], 5)
        time.sleep(max(0.0, 1.05 - (time.monotonic() - t)))
        self.assertEqual(self.put(five)[2]["FailedRecordCount"], 0)

    def test_put_record_throttled_whole(self):
        self.limits(shard_records_per_s=1)
        self.c.put_record(StreamName="four", Data=b"x", PartitionKey="a")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.c.put_record(StreamName="four", Data=b"x", PartitionKey="a")
        self.assertEqual(code_of(e), self.PTEE)
        self.assertIn("Rate exceeded for shard shardId-000000000000", str(e.exception))

    def test_oversize_for_window_passes_alone(self):
        # No burst allowance, but a record bigger than a second's bytes can
        # still pass on an idle shard (otherwise it never could).
        self.limits(shard_bytes_per_s=100)
        data = base64.b64encode(b"z" * 150).decode()
        st, _, body = self.put([{"Data": data, "PartitionKey": "a"}] * 2)
        self.assertEqual(self.codes(body), [None, self.PTEE])

    def test_limiter_cost_is_constant(self):
        import kinesis_model as km
        lim, sh = km.WindowLimiter(), object()
        t0 = time.perf_counter()
        now = 0.0
        for i in range(200000):
            if i % 100 == 0:
                now += 0.01
            lim.admit(None, sh, 100, now)
        self.assertLess(time.perf_counter() - t0, 5.0)
        self.assertLessEqual(lim.state[sh][1], 1000)


class Resharding(Base):
    def test_split_children_and_routing(self):
        self.c.create_stream(StreamName="rs", ShardCount=2)
        p0 = self.c.put_record(StreamName="rs", Data=b"before", PartitionKey="a")
        self.assertEqual(p0["ShardId"], "shardId-000000000000")
        mid = str(2 ** 126)
        self.c.split_shard(StreamName="rs", ShardToSplit="shardId-000000000000", NewStartingHashKey=mid)
        every = {s["ShardId"]: s for s in self.c.list_shards(StreamName="rs")["Shards"]}
        parent = every["shardId-000000000000"]
        lo, hi = every["shardId-000000000002"], every["shardId-000000000003"]
        self.assertIn("EndingSequenceNumber", parent["SequenceNumberRange"])
        self.assertEqual(lo["HashKeyRange"], {"StartingHashKey": "0", "EndingHashKey": str(2 ** 126 - 1)})
        self.assertEqual(hi["HashKeyRange"], {"StartingHashKey": mid,
                                              "EndingHashKey": parent["HashKeyRange"]["EndingHashKey"]})
        for c in (lo, hi):
            self.assertEqual(c["ParentShardId"], "shardId-000000000000")
            self.assertNotIn("AdjacentParentShardId", c)
            self.assertGreater(int(c["SequenceNumberRange"]["StartingSequenceNumber"]),
                               int(parent["SequenceNumberRange"]["EndingSequenceNumber"]))
        # "a" hashes below 2^126: its records now land in the lower child.
        r = self.c.put_records(StreamName="rs", Records=[{"Data": b"after", "PartitionKey": "a"}])
        self.assertEqual(r["Records"][0]["ShardId"], "shardId-000000000002")
        # The closed parent: its records, then no next iterator and its children.
        it = self.c.get_shard_iterator(StreamName="rs", ShardId="shardId-000000000000",
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        g = self.c.get_records(ShardIterator=it)
        self.assertEqual([x["Data"] for x in g["Records"]], [b"before"])
        self.assertIsNone(g.get("NextShardIterator"))
        self.assertEqual(sorted((c["ShardId"], tuple(c["ParentShards"])) for c in g["ChildShards"]),
                         [("shardId-000000000002", ("shardId-000000000000",)),
                          ("shardId-000000000003", ("shardId-000000000000",))])
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.c.split_shard(StreamName="rs", ShardToSplit="shardId-000000000000", NewStartingHashKey=mid)
        self.assertEqual(code_of(e), "ResourceInUseException")

    def test_merge_children_and_closed_parents(self):
        self.c.create_stream(StreamName="rm", ShardCount=4)
        self.c.put_record(StreamName="rm", Data=b"in-1", PartitionKey="partitionKey-1")   # shard 1
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.c.merge_shards(StreamName="rm", ShardToMerge="shardId-000000000000",
                                AdjacentShardToMerge="shardId-000000000002")
        self.assertEqual(code_of(e), "InvalidArgumentException")
        self.c.merge_shards(StreamName="rm", ShardToMerge="shardId-000000000001",
                            AdjacentShardToMerge="shardId-000000000002")
        every = {s["ShardId"]: s for s in self.c.list_shards(StreamName="rm")["Shards"]}
        child = every["shardId-000000000004"]
        self.assertEqual((child["ParentShardId"], child["AdjacentParentShardId"]),
                         ("shardId-000000000001", "shardId-000000000002"))
        self.assertEqual(child["HashKeyRange"], {"StartingHashKey": STARTS_4[1],
                                                 "EndingHashKey": str(int(STARTS_4[3]) - 1)})
        for p in ("shardId-000000000001", "shardId-000000000002"):
            self.assertIn("EndingSequenceNumber", every[p]["SequenceNumberRange"])
        self.assertEqual(self.c.put_record(StreamName="rm", Data=b"x", PartitionKey="b")["ShardId"],
                         "shardId-000000000004")
        it = self.c.get_shard_iterator(StreamName="rm", ShardId="shardId-000000000002",
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        g = self.c.get_records(ShardIterator=it)
        self.assertEqual((g["Records"], g.get("NextShardIterator")), ([], None))
        self.assertEqual(g["ChildShards"], [{"ShardId": "shardId-000000000004",
                                             "ParentShards": ["shardId-000000000001", "shardId-000000000002"],
                                             "HashKeyRange": child["HashKeyRange"]}])

    def test_reshard_takes_time_while_updating(self):
        fake.control("config", {"reshard_ms": 400})
        try:
            self.c.create_stream(StreamName="ru", ShardCount=1)
            self.c.split_shard(StreamName="ru", ShardToSplit="shardId-000000000000",
                               NewStartingHashKey=str(2 ** 127))
            d = self.c.describe_stream_summary(StreamName="ru")["StreamDescriptionSummary"]
            self.assertEqual((d["StreamStatus"], d["OpenShardCount"]), ("UPDATING", 1))
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                self.c.merge_shards(StreamName="ru", ShardToMerge="shardId-000000000000",
                                    AdjacentShardToMerge="shardId-000000000000")
            self.assertEqual(code_of(e), "ResourceInUseException")
            # Writes still go to the parent until the split is done.
            self.assertEqual(self.c.put_record(StreamName="ru", Data=b"x", PartitionKey="a")["ShardId"],
                             "shardId-000000000000")
            time.sleep(0.5)
            d = self.c.describe_stream_summary(StreamName="ru")["StreamDescriptionSummary"]
            self.assertEqual((d["StreamStatus"], d["OpenShardCount"]), ("ACTIVE", 2))
            self.assertEqual(self.c.put_record(StreamName="ru", Data=b"x", PartitionKey="a")["ShardId"],
                             "shardId-000000000001")
        finally:
            fake.control("config", {"reshard_ms": 0})


class Faults(Base):
    def log(self):
        return fake.control("log")

    def test_ok_and_log(self):
        self.script("ok", {"ok": True})
        self.assertEqual(self.put(recs(3))[0], 200)
        entry = self.log()[0]
        self.assertEqual([e["result"] for e in entry["entries"]], ["stored"] * 3)
        self.assertEqual(entry["entries"][0]["partition_key"], "k0")
        self.assertEqual(base64.b64decode(entry["entries"][0]["data"]), b"xxx")
        self.assertEqual((entry["region"], entry["access_key"]), ("us-east-1", ACCESS_KEY))

    def test_partial_indices_and_every(self):
        self.script({"partial": {"indices": [1, 3], "code": "InternalFailure"}},
                    {"partial": {"every": 2}})
        st, _, body = self.put(recs(5))
        self.assertEqual((st, body["FailedRecordCount"]), (200, 2))
        self.assertEqual([r.get("ErrorCode") for r in body["Records"]],
                         [None, "InternalFailure", None, "InternalFailure", None])
        st, _, body = self.put(recs(5))
        self.assertEqual([r.get("ErrorCode") for r in body["Records"]],
                         [None, "ProvisionedThroughputExceededException", None,
                          "ProvisionedThroughputExceededException", None])
        self.assertIn("Rate exceeded for shard", body["Records"][1]["ErrorMessage"])
        self.assertEqual(self.stored(), 6)
        self.assertEqual([e["result"] for e in self.log()[1]["entries"]],
                         ["stored", "failed", "stored", "failed", "stored"])

    def test_whole_request_errors_store_nothing(self):
        self.script({"status": 500, "type": "InternalFailure"}, {"status": 503, "type": "ServiceUnavailable"},
                    {"throttle": True},
                    {"error": {"status": 400, "type": "AccessDeniedException", "message": "no way"}})
        expect = [(500, "InternalFailure"), (503, "ServiceUnavailable"),
                  (400, "ProvisionedThroughputExceededException"), (400, "AccessDeniedException")]
        for status, type_ in expect:
            st, hdr, body = self.put(recs(2))
            self.assertEqual((st, body["__type"]), (status, type_))
        self.assertEqual(self.stored(), 0)
        self.assertEqual([e["entries"][0]["code"] for e in self.log()], [t for _, t in expect])
        self.assertEqual(self.put(recs(2))[0], 200)     # script used up: back to normal

    def test_reset_and_close_store_then_drop(self):
        import http.client
        self.script({"reset": True}, {"close": True}, {"reset": True, "store": False})
        for _ in range(3):
            with self.assertRaises((ConnectionError, http.client.HTTPException)):
                self.put(recs(2))
        self.assertEqual(self.stored(), 4)

    def test_malformed_body(self):
        self.script({"malformed": True})
        st, hdr, body = raw_call(fake.port, "PutRecords", {"StreamName": "four", "Records": recs(2)})
        self.assertEqual(st, 200)
        with self.assertRaises(ValueError):
            json.loads(body)
        self.assertEqual(self.stored(), 2)

    def test_mismatch(self):
        self.script({"mismatch": True}, {"mismatch": True})
        self.assertEqual(len(self.put(recs(3))[2]["Records"]), 2)
        self.assertEqual(len(self.put(recs(1))[2]["Records"]), 2)

    def test_delay(self):
        self.script({"delay_ms": 300})
        t = time.monotonic()
        self.assertEqual(self.put(recs(1))[0], 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.3)

    def test_script_for_another_operation(self):
        self.script({"status": 500}, op="ListShards")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.c.list_shards(StreamName="four")
        self.assertEqual(code_of(e), "InternalFailure")
        self.assertEqual(len(self.c.list_shards(StreamName="four")["Shards"]), 4)

    def test_reset_clears(self):
        self.put(recs(2))
        self.script("ok")
        fake.control("reset", {})
        self.assertEqual((self.log(), self.stored()), ([], 0))
        self.assertEqual(fake.control("stats")["pending"], {})


if __name__ == "__main__":
    unittest.main()
