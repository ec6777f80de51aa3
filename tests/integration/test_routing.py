"""Routing, resharding and throttling, end to end.

(a) Against kinesalite and kinesis-local: `shardpipe put` with --key random,
    hash and balanced into a 4-shard stream; every record read back with
    `shardpipe get --iterator trim-horizon --json` sits in the shard whose
    ListShards hash range holds MD5(partition key), and put never saw a
    wrong prediction.
(b) A SplitShard and a MergeShards (botocore) while put is fed slowly:
    nothing is lost, every record is in a shard whose range holds its key,
    and put followed the changes (wrong_shard > 0, 4 open shards at the end).
(c) Against the fake server with its per-shard limits on: offered about 3x a
    2-shard stream's capacity (and shardpipe told it may use 200% of each
    shard, so that throttling is certain), nothing is lost, shardpipe's
    throttled count is the server's, and with --ordered each key's records
    come back in order.
"""
import collections
import hashlib
import os
import random
import sys
import threading
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import SECRET_KEY, Emulator, FakeKinesis, hash_key, shard_for  # noqa: E402

SEED = 20251128
_emus = {}


def emulator(kind):
    """One server of each kind for the whole module (kinesis-local is slow to start)."""
    if kind not in _emus:
        _emus[kind] = FakeKinesis("--limits", "--verify-sigv4", SECRET_KEY) if kind == "fake" \
            else Emulator(kind)
        _emus[kind].start()
    return _emus[kind]


def tearDownModule():
    for e in _emus.values():
        e.stop()
    _emus.clear()


def quiet():
    warnings.simplefilter("ignore", ResourceWarning)


def make_lines(n, tag, rng, lo=20, hi=300):
    """Distinct printable lines: a tag and number, then random text."""
    return [b"%s-%05d " % (tag.encode(), i) +
            bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(rng.randrange(lo, hi)))
            for i in range(n)]


def get_all(emu, stream):
    g = cli.run(["get", stream, "--iterator", "trim-horizon", "--json"], emu.endpoint, timeout=300)
    if g.rc != 0:
        raise AssertionError(str(g))
    return g.json_lines()


def in_range(shard, h):
    r = shard["HashKeyRange"]
    return int(r["StartingHashKey"]) <= h <= int(r["EndingHashKey"])


def feed(running, lines, seconds, events=()):
    """Writes lines to a running put evenly over `seconds`; events are
    (at seconds, function) run in a side thread at those times. Returns the
    errors the events raised."""
    errors = []

    def side():
        t0 = time.monotonic()
        for at, fn in events:
            time.sleep(max(0.0, at - (time.monotonic() - t0)))
            try:
                fn()
            except Exception as e:    # reported by the test
                errors.append(e)
    th = threading.Thread(target=side, daemon=True)
    th.start()
    t0 = time.monotonic()
    step = max(1, len(lines) // (int(seconds * 50) or 1))   # ~50 writes a second
    for i in range(0, len(lines), step):
        time.sleep(max(0.0, seconds * i / len(lines) - (time.monotonic() - t0)))
        running.write(cli.lines_bytes(lines[i:i + step]))
    th.join(timeout=60)
    return errors


# --- (a) routing ---------------------------------------------------------------

class Routing:
    KIND = None
    N = 5000

    @classmethod
    def setUpClass(cls):
        quiet()
        cls.error = None
        try:
            cls.emu = emulator(cls.KIND)
            rng = random.Random(SEED)
            cls.runs = {}
            for key in ("random", "hash", "balanced"):
                stream = "route-" + key
                cls.emu.create_stream(stream, 4)
                lines = make_lines(cls.N, key, rng)
                put = cli.run(["put", "-s", stream, "--key", key], cls.emu.endpoint, cli.lines_bytes(lines))
                recs = get_all(cls.emu, stream) if put.rc == 0 else []
                cls.runs[key] = (lines, put, recs, cls.emu.list_shards(stream))
        except Exception as e:
            cls.error = "%s: %s" % (type(e).__name__, e)

    def setUp(self):
        quiet()
        if self.error:
            self.fail("setup failed: " + self.error)

    def check_common(self, key):
        lines, put, recs, shards = self.runs[key]
        self.assertEqual(put.rc, 0, str(put))
        st = put.stats
        self.assertIsNotNone(st, str(put))
        self.assertEqual((st["records"], st["failed"], st["wrong_shard"], st["shards"]),
                         (len(lines), 0, 0, 4), put.err[-500:])
        got = collections.Counter(d for _, d in cli.decoded(recs))
        self.assertTrue(got == collections.Counter(lines),
                        "read back %d records, %d distinct lines missing" %
                        (len(recs), len(collections.Counter(lines) - got)))
        self.assertEqual({s["ShardId"] for s in shards}, {r["shard_id"] for r in recs})
        return lines, recs, shards

    def check_predicted(self, recs, shards):
        wrong = [(r["partition_key"], r["shard_id"]) for r in recs
                 if shard_for(shards, r["partition_key"]) != r["shard_id"]]
        self.assertEqual(wrong[:5], [], "%d of %d records not in the shard of MD5(key)" % (len(wrong), len(recs)))

    def test_random_keys(self):
        lines, recs, shards = self.check_common("random")
        self.check_predicted(recs, shards)
        self.assertEqual(len({r["partition_key"] for r in recs}), len(recs), "random keys repeat")

    def test_hash_keys(self):
        lines, recs, shards = self.check_common("hash")
        self.check_predicted(recs, shards)
        for pk, data in cli.decoded(recs[:500]):
            self.assertEqual(pk, hashlib.md5(data).hexdigest())

    def test_balanced(self):
        # Routed by ExplicitHashKey (not visible in get's output): each record
        # is in some shard, all four are used, and no prediction was wrong.
        lines, recs, shards = self.check_common("balanced")
        per = collections.Counter(r["shard_id"] for r in recs)
        self.assertEqual(len(per), 4, per)
        self.assertGreater(min(per.values()), len(recs) // 10, per)


class KinesaliteRouting(Routing, unittest.TestCase):
    KIND = "kinesalite"


class KinesisLocalRouting(Routing, unittest.TestCase):
    KIND = "kinesis-local"


# --- (b) a split and a merge during a run ------------------------------------------

class Resharding:
    KIND = None

    def test_split_and_merge_while_putting(self):
        quiet()
        emu = emulator(self.KIND)
        stream = "reshard"
        emu.create_stream(stream, 4)
        c = emu.client()
        lines = make_lines(3000, "rs", random.Random(SEED + 1))
        before = emu.list_shards(stream)

        def split():
            s1 = before[1]["HashKeyRange"]
            mid = (int(s1["StartingHashKey"]) + int(s1["EndingHashKey"])) // 2 + 1
            c.split_shard(StreamName=stream, ShardToSplit=before[1]["ShardId"], NewStartingHashKey=str(mid))
            wait_active(c, stream)

        def merge():
            c.merge_shards(StreamName=stream, ShardToMerge=before[2]["ShardId"],
                           AdjacentShardToMerge=before[3]["ShardId"])
            wait_active(c, stream)

        run = cli.start(["put", "-s", stream, "--key", "random", "--linger-ms", "50"], emu.endpoint)
        errors = feed(run, lines, 10.0, [(3.0, split), (6.0, merge)])
        put = run.finish(timeout=120)
        self.assertEqual(errors, [])
        self.assertEqual(put.rc, 0, str(put))
        st = put.stats
        self.assertEqual((st["records"], st["failed"]), (len(lines), 0), put.err[-500:])

        shards = {s["ShardId"]: s for s in emu.list_shards(stream)}
        self.assertEqual(len(shards), 7, sorted(shards))      # 4 + 2 children + 1 merged
        closed = [s for s in shards.values() if s["SequenceNumberRange"].get("EndingSequenceNumber")]
        self.assertEqual(len(closed), 3)
        recs = get_all(emu, stream)
        got = collections.Counter(d for _, d in cli.decoded(recs))
        want = collections.Counter(lines)
        self.assertTrue(got == want, "lost %d, unexpected %d" %
                        (sum((want - got).values()), sum((got - want).values())))
        outside = [r for r in recs if not in_range(shards[r["shard_id"]], hash_key(r["partition_key"]))]
        self.assertEqual(len(outside), 0, "records outside their shard's range")
        used = collections.Counter(r["shard_id"] for r in recs)
        self.assertTrue(all(used[s] > 0 for s in shards), "some shard got nothing: %s" % used)
        # put saw the children's ShardIds and refreshed its map.
        self.assertGreater(st["wrong_shard"], 0)
        self.assertEqual(st["shards"], 4, "put's map does not have the final 4 open shards")


def wait_active(client, stream, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        d = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise AssertionError("stream still %s" % d["StreamStatus"])
        time.sleep(0.05)


class KinesaliteResharding(Resharding, unittest.TestCase):
    KIND = "kinesalite"


class KinesisLocalResharding(Resharding, unittest.TestCase):
    KIND = "kinesis-local"


class FakeResharding(Resharding, unittest.TestCase):
    """Limits on too (the stream is written far below them), and each
    change keeps the stream UPDATING for 300 ms first, as AWS does."""
    KIND = "fake"

    def setUp(self):
        emulator("fake").control("config", {"reshard_ms": 300})

    def tearDown(self):
        emulator("fake").control("config", {"reshard_ms": 0})


# --- (c) the fake server's throttling -------------------------------------------

LINE = 600        # bytes: 1000 records/s per shard bind first


def keys_per_shard(shards, n_each, prefix):
    """n_each key strings per shard of a 2-shard stream, chosen by hash."""
    out, i = {s["ShardId"]: [] for s in shards}, 0
    while any(len(v) < n_each for v in out.values()):
        k = "%s%d" % (prefix, i)
        i += 1
        sid = shard_for(shards, k)
        if len(out[sid]) < n_each:
            out[sid].append(k)
    return [k for v in out.values() for k in v]


class Throttling(unittest.TestCase):
    """2 shards: capacity 2000 records/s. Offered ~3x for 2 s."""

    @classmethod
    def setUpClass(cls):
        quiet()
        cls.fake = emulator("fake")

    def setUp(self):
        quiet()

    def run_put(self, stream, lines, extra, seconds=2.0):
        self.fake.control("stream", {"name": stream, "shards": 2})
        before = self.fake.control("stats")["shards"][stream]
        run = cli.start(["put", "-s", stream] + extra, self.fake.endpoint)
        feed(run, lines, seconds)
        put = run.finish(timeout=180)
        self.assertEqual(put.rc, 0, str(put))
        after = self.fake.control("stats")["shards"][stream]
        server_throttled = sum(after[s]["throttled"] - before[s]["throttled"] for s in after)
        return put, server_throttled

    def check_throttle_counts(self, put, server_throttled, n):
        st = put.stats
        self.assertEqual((st["records"], st["failed"], st["wrong_shard"]), (n, 0, 0), put.err[-500:])
        self.assertGreater(server_throttled, 0, "the server never throttled: not a throttling test")
        # Every refused entry was counted by put and sent again.
        self.assertEqual(st["throttled"], server_throttled)
        self.assertGreaterEqual(st["retried"], st["throttled"])
        self.assertLess(st["throttled"], 3 * n, "implausibly many throttled entries")

    def test_hash_few_keys_nothing_lost(self):
        # --key hash with 8 distinct lines (8 keys, 4 per shard), 12000 lines.
        # shardpipe may use 200% of each shard, so the server has to refuse
        # entries however well shardpipe's own pacing works.
        self.fake.control("stream", {"name": "thr-hash-probe", "shards": 2})
        probe = self.fake.list_shards("thr-hash-probe")
        rng = random.Random(SEED + 2)
        contents = []
        per = collections.Counter()
        while len(contents) < 8:
            c = b"hot-%d-" % len(contents) + bytes(rng.choice(b"abcdef0123456789") for _ in range(LINE - 8))
            sid = shard_for(probe, hashlib.md5(c).hexdigest())
            if per[sid] < 4:
                per[sid] += 1
                contents.append(c)
        lines = [contents[i % 8] for i in range(12000)]
        put, thr = self.run_put("thr-hash", lines, ["--key", "hash", "--shard-rate", "200"])
        self.check_throttle_counts(put, thr, len(lines))
        recs = get_all(self.fake, "thr-hash")
        got = collections.Counter(d for _, d in cli.decoded(recs))
        self.assertEqual(got, collections.Counter(lines))

    def test_ordered_keys_keep_order(self):
        # 16 keys (8 per shard) taken from each line; shardpipe allowed 200%
        # of a shard so that the server has to refuse entries.
        self.fake.control("stream", {"name": "thr-ord-probe", "shards": 2})
        keys = keys_per_shard(self.fake.list_shards("thr-ord-probe"), 8, "k")
        rng = random.Random(SEED + 3)
        lines = []
        for i in range(8000):
            k = keys[i % len(keys)]
            head = b"%s %06d " % (k.encode(), i)
            lines.append(head + bytes(rng.choice(b"abcdef0123456789") for _ in range(LINE - len(head))))
        put, thr = self.run_put("thr-ord", lines, ["--key", "regex:^([a-z0-9]+) ", "--ordered",
                                                   "--shard-rate", "200"])
        self.check_throttle_counts(put, thr, len(lines))
        self.assertEqual(put.stats["key_fallbacks"], 0)
        recs = get_all(self.fake, "thr-ord")
        got = collections.Counter(d for _, d in cli.decoded(recs))
        self.assertTrue(got == collections.Counter(lines), "records lost or duplicated")
        by_key = collections.defaultdict(list)
        for r in sorted(recs, key=lambda r: (r["shard_id"], int(r["sequence_number"]))):
            by_key[r["partition_key"]].append(r)
        self.assertEqual(set(by_key), set(keys))
        for k, rs in by_key.items():
            self.assertEqual(len({r["shard_id"] for r in rs}), 1, k)
            nums = [int(d.split(b" ")[1]) for _, d in cli.decoded(rs)]
            bad = [(a, b) for a, b in zip(nums, nums[1:]) if b <= a]
            self.assertEqual(bad[:3], [], "key %s: %d records out of order" % (k, len(bad)))


if __name__ == "__main__":
    unittest.main()
