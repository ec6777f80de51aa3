"""Round trip through a real third-party Kinesis server: `shardpipe put` a
deterministic mix of ~10,000 awkward lines (~25 MB) into a 4-shard stream,
`shardpipe get --iterator trim-horizon --json` them back, and compare byte for
byte. Run against kinesalite and against kinesis-local (kinesis-mock).
botocore, not shardpipe, creates the streams and lists their shards."""
import base64
import collections
import os
import random
import sys
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import Emulator, shard_for  # noqa: E402

CAP = 1024 * 1024          # the default record cap: data + partition key
SEED = 20251127
FIXED_KEY = "clé-fixe-日本"   # a fixed key that is not ASCII


def big_token(i):
    return b"\x00\xff<BIG-LINE-%03d>\xfe\x00" % i


def make_lines():
    """The input: (lines, over_cap) where over_cap maps token -> line.
    Random bytes never contain b"\\n" (that would make two lines)."""
    rng = random.Random(SEED)

    def noise(n):
        return rng.randbytes(n).replace(b"\n", b"\x0b")

    texts = ["héllo wörld", "日本語のテキスト", "Ελληνικά", "emoji 🎉🚀", "Ünïcödé ✓", "ascii only"]
    invalid = [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]
    makers = [
        lambda: b"",                                                     # empty line
        lambda: bytes([rng.choice([b for b in range(256) if b != 10])]),   # one byte, NUL and 0xff included
        lambda: (rng.choice(texts) + " %d" % rng.randrange(10 ** 6)).encode(),
        lambda: rng.choice(invalid) + noise(rng.randrange(0, 40)) + rng.choice(invalid),
        lambda: b"\x00" * rng.randrange(1, 20) + b"nul\x00inside" + b"\x00",
        lambda: noise(rng.randrange(1, 200)) + b"\r",                     # CR kept
        lambda: noise(rng.randrange(0, 2000)),
    ]
    lines = [rng.choice(makers)() for _ in range(9839)]
    lines += [noise(rng.randrange(10 * 1024, 100 * 1024)) for _ in range(150)]
    # Near the cap but fitting whatever key a strategy reserves (<= 1024 bytes).
    lines += [noise(rng.randrange(CAP - 1100, CAP - 1030)) for _ in range(8)]
    over = {}
    for i, size in enumerate((int(1.3 * CAP), int(2.6 * CAP), int(1.7 * CAP))):
        # A token every 4 KiB: every piece of a split line names its line.
        blocks, n = [], 0
        while n < size:
            b = big_token(i) + noise(4096 - len(big_token(i)))
            blocks.append(b)
            n += len(b)
        over[big_token(i)] = b"".join(blocks)[:size]
    lines += list(over.values())
    rng.shuffle(lines)
    return lines, over


def reassemble(line, pieces):
    """True if the pieces, in some order, are consecutive slices making up line."""
    rest, pieces = line, list(pieces)
    while pieces:
        for k, p in enumerate(pieces):
            if p and rest.startswith(p):
                rest = rest[len(p):]
                del pieces[k]
                break
        else:
            return False
    return rest == b""


def counter_diff(want, got):
    missing, extra = want - got, got - want
    def show(c):
        return ", ".join("%d bytes %r x%d" % (len(k), k[:24], n) for k, n in list(c.items())[:5])
    return "missing %d (%s); unexpected %d (%s)" % (sum(missing.values()), show(missing),
                                                    sum(extra.values()), show(extra))


class RoundTrip:
    KIND = None
    STREAM = "roundtrip"

    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)
        cls.setup_error = None
        cls.emu = Emulator(cls.KIND).start()
        try:
            cls._run()
        except Exception as e:     # reported by every test instead of one class error
            cls.setup_error = "%s: %s" % (type(e).__name__, e)

    @classmethod
    def _run(cls):
        cls.t0 = time.time()
        cls.lines, cls.over = make_lines()
        cls.emu.create_stream(cls.STREAM, 4)
        cls.shards = cls.emu.list_shards(cls.STREAM)
        cls.put = cli.run(["put", "-s", cls.STREAM], cls.emu.endpoint, cli.lines_bytes(cls.lines))
        cls.get = cli.run(["get", cls.STREAM, "--iterator", "trim-horizon", "--json"], cls.emu.endpoint)
        cls.records = cls.get.json_lines() if cls.get.rc == 0 else []

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        if self.setup_error:
            self.fail("setup failed: " + self.setup_error)

    # --- the main round trip -------------------------------------------------
    def test_put_succeeds_with_stats(self):
        self.assertEqual(self.put.rc, 0, str(self.put))
        st = self.put.stats
        self.assertIsNotNone(st, "no stats line at the end of stderr:\n" + str(self.put))
        self.assertEqual(st["bytes"], sum(map(len, self.lines)))
        self.assertEqual((st["failed"], st["truncated"], st["dropped"]), (0, 0, 0))
        self.assertEqual(st["split"], len(self.over), "split counts lines that were split")
        self.assertEqual(st["records"], len(self.records))
        self.assertGreaterEqual(st["requests"], 1)

    def test_get_json_shape(self):
        self.assertEqual(self.get.rc, 0, str(self.get))
        self.assertTrue(self.records, "get printed no records")
        now = time.time()
        for r in self.records[:200]:
            self.assertEqual(set(r), {"shard_id", "sequence_number", "partition_key", "arrival_time", "data"})
            self.assertIsInstance(r["arrival_time"], (int, float))
            self.assertTrue(self.t0 - 120 <= r["arrival_time"] <= now + 120, r["arrival_time"])
            self.assertTrue(str(r["sequence_number"]).isdigit())

    def test_every_line_back_byte_for_byte(self):
        got = cli.decoded(self.records)
        whole = collections.Counter(d for _, d in got if not any(t in d for t in self.over))
        want = collections.Counter(l for l in self.lines if l not in self.over.values())
        self.assertTrue(whole == want, counter_diff(want, whole))

    def test_over_cap_lines_come_back_split(self):
        got = cli.decoded(self.records)
        for token, line in self.over.items():
            pieces = [(pk, d) for pk, d in got if token in d]
            self.assertGreaterEqual(len(pieces), 2, "line of %d bytes was not split" % len(line))
            for pk, d in pieces:
                self.assertLessEqual(len(d) + len(pk.encode()), CAP)
            self.assertTrue(reassemble(line, [d for _, d in pieces]),
                            "pieces of the %d-byte line do not make it up again" % len(line))

    def test_split_pieces_share_a_key_and_a_shard(self):
        # shardpipe(1): the pieces of a split line share one partition key,
        # so they go to one shard; without --ordered, concurrent requests may
        # store them out of order, so they are put back by their place in the line.
        for token, line in self.over.items():
            pieces = [r for r in self.records if token in base64.b64decode(r["data"])]
            self.assertEqual(len({r["partition_key"] for r in pieces}), 1, "pieces have different keys")
            self.assertEqual(len({r["shard_id"] for r in pieces}), 1, "pieces in different shards")
            data = [base64.b64decode(r["data"]) for r in pieces]
            offsets = sorted((line.find(d), d) for d in data)
            self.assertTrue(all(o >= 0 for o, _ in offsets), "a piece is not part of its line")
            self.assertTrue(b"".join(d for _, d in offsets) == line,
                            "the pieces of the %d-byte line do not make it up" % len(line))

    def test_each_record_in_the_shard_of_its_key(self):
        self.assertTrue(self.records)
        wrong = [(r["partition_key"], r["shard_id"]) for r in self.records
                 if shard_for(self.shards, r["partition_key"]) != r["shard_id"]]
        self.assertEqual(wrong[:5], [], "%d records in the wrong shard" % len(wrong))

    def test_random_keys_spread_over_shards(self):
        per = collections.Counter(r["shard_id"] for r in self.records)
        self.assertEqual(len(per), 4, per)

    def test_describe_json(self):
        d = cli.run(["describe", self.STREAM, "--json"], self.emu.endpoint)
        self.assertEqual(d.rc, 0, str(d))
        j = cli.json_loads(d.stdout)
        for k in ("stream_name", "stream_arn", "status", "mode", "retention_hours",
                  "max_record_size_kib", "open_shard_count", "shards"):
            self.assertIn(k, j)
        self.assertEqual((j["stream_name"], j["status"], j["open_shard_count"]), (self.STREAM, "ACTIVE", 4))
        self.assertTrue(j["stream_arn"].endswith(":stream/" + self.STREAM), j["stream_arn"])
        self.assertEqual((j["max_record_size_kib"], j["retention_hours"]), (1024, 24))
        self.assertIn(j["mode"], ("PROVISIONED", None))
        want = [(s["ShardId"], s["HashKeyRange"]["StartingHashKey"], s["HashKeyRange"]["EndingHashKey"],
                 s["SequenceNumberRange"]["StartingSequenceNumber"]) for s in self.shards]
        got = [(s["shard_id"], str(s["starting_hash_key"]), str(s["ending_hash_key"]),
                str(s["starting_sequence_number"])) for s in j["shards"]]
        self.assertEqual(got, want)
        for s in j["shards"]:
            self.assertIsNone(s["ending_sequence_number"])
            self.assertIsNone(s["parent_shard_id"])
            self.assertIn("adjacent_parent_shard_id", s)

    # --- smaller runs on their own streams -----------------------------------
    def test_fixed_key_keeps_order(self):
        # Order per key is promised only with --ordered (one request per shard
        # in flight); without it, concurrent batches may land out of order.
        self.emu.create_stream("fixed", 4)
        rng = random.Random(SEED + 1)
        lines = [b"order-%05d " % i + rng.randbytes(rng.randrange(0, 3000)).replace(b"\n", b".")
                 for i in range(1000)]
        p = cli.run(["put", "-s", "fixed", "--partition-key", FIXED_KEY, "--ordered"], self.emu.endpoint,
                    cli.lines_bytes(lines))
        self.assertEqual(p.rc, 0, str(p))
        g = cli.run(["get", "fixed", "--iterator", "trim-horizon", "--json"], self.emu.endpoint)
        self.assertEqual(g.rc, 0, str(g))
        recs = sorted(g.json_lines(), key=lambda r: int(r["sequence_number"]))
        self.assertEqual({r["partition_key"] for r in recs}, {FIXED_KEY})
        self.assertEqual({r["shard_id"] for r in recs}, {shard_for(self.emu.list_shards("fixed"), FIXED_KEY)})
        data = [d for _, d in cli.decoded(recs)]
        self.assertEqual(len(data), len(lines))
        self.assertTrue(data == lines, "records of one key came back out of order")

    def _oversize_run(self, stream, policy):
        self.emu.create_stream(stream, 1)
        small = [b"small-%d" % i for i in range(5)]
        big = [b"B" * int(1.5 * CAP), b"C" * (CAP + 1)]
        lines = small[:2] + big[:1] + small[2:4] + big[1:] + small[4:]
        p = cli.run(["put", "-s", stream, "--oversize", policy], self.emu.endpoint, cli.lines_bytes(lines))
        self.assertEqual(p.rc, 0, str(p))
        g = cli.run(["get", stream, "--iterator", "trim-horizon", "--json"], self.emu.endpoint)
        self.assertEqual(g.rc, 0, str(g))
        return small, big, p.stats, [d for _, d in cli.decoded(g.json_lines())]

    def test_oversize_truncate(self):
        small, big, st, got = self._oversize_run("trunc", "truncate")
        self.assertIsNotNone(st)
        self.assertEqual((st["records"], st["truncated"], st["dropped"], st["split"]), (7, 2, 0, 0))
        self.assertEqual(collections.Counter(d for d in got if d.startswith(b"small")),
                         collections.Counter(small))
        cut = [d for d in got if not d.startswith(b"small")]
        self.assertEqual(len(cut), 2)
        for d in cut:
            self.assertTrue(CAP - 1024 <= len(d) < CAP, len(d))
            self.assertTrue(any(b.startswith(d) for b in big), "a truncated record is not a prefix")
        self.assertEqual(st["bytes"], sum(map(len, got)))

    def test_oversize_drop(self):
        small, big, st, got = self._oversize_run("drop", "drop")
        self.assertIsNotNone(st)
        self.assertEqual((st["records"], st["dropped"], st["truncated"], st["split"]), (5, 2, 0, 0))
        self.assertEqual(sorted(got), sorted(small))
        self.assertEqual(st["bytes"], sum(map(len, small)))

    def test_last_line_without_newline(self):
        self.emu.create_stream("tail", 1)
        p = cli.run(["put", "-s", "tail"], self.emu.endpoint, b"first\n\nlast-no-newline")
        self.assertEqual(p.rc, 0, str(p))
        g = cli.run(["get", "tail", "--iterator", "trim-horizon", "--json"], self.emu.endpoint)
        self.assertEqual(sorted(d for _, d in cli.decoded(g.json_lines())),
                         [b"", b"first", b"last-no-newline"])


class Kinesalite(RoundTrip, unittest.TestCase):
    KIND = "kinesalite"


class KinesisLocal(RoundTrip, unittest.TestCase):
    KIND = "kinesis-local"


if __name__ == "__main__":
    unittest.main()
