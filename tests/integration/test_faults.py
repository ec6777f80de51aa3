"""shardpipe put against the fake server's scripted faults (the emulators can
neither throttle nor check signatures). Every run is signed and verified with
botocore on the server side. The invariant everywhere: nothing is lost (the
stored multiset contains the input); duplicates appear only where a dropped or
unreadable response made them possible."""
import base64
import collections
import os
import sys
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import SECRET_KEY, FakeKinesis  # noqa: E402

STREAM = "faults"
FAST = ["--backoff-base-ms", "10", "--backoff-cap-ms", "100", "--linger-ms", "20"]
PTEE = "ProvisionedThroughputExceededException"

fake = None


def setUpModule():
    global fake
    fake = FakeKinesis("--verify-sigv4", SECRET_KEY, "--stream", STREAM + ":2").start()


def tearDownModule():
    fake.stop()


def lines(n, tag="l"):
    return [b"%s-%04d \x00\xff data" % (tag.encode(), i) for i in range(n)]


class Faults(unittest.TestCase):
    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        fake.control("reset", {})

    def script(self, *actions):
        fake.control("script", list(actions))

    def put(self, data, *extra, secret=SECRET_KEY, stream=STREAM, timeout=120):
        return cli.run(["put", "-s", stream] + FAST + list(extra), fake.endpoint,
                       cli.lines_bytes(data), secret=secret, timeout=timeout)

    def stored(self):
        dump = fake.control("records?stream=" + STREAM).get(STREAM, {})
        return collections.Counter(base64.b64decode(r["data"]) for recs in dump.values() for r in recs)

    def log(self):
        return fake.control("log")

    def assert_exactly_once(self, data, result):
        self.assertEqual(result.rc, 0, str(result))
        got = self.stored()
        self.assertEqual(got, collections.Counter(data), "stored records differ from the input")
        st = result.stats
        self.assertIsNotNone(st, "no stats line:\n" + str(result))
        self.assertEqual((st["records"], st["failed"]), (len(data), 0))
        self.assertEqual(st["bytes"], sum(map(len, data)))

    def assert_nothing_lost(self, data, result):
        """Stored ⊇ input; duplicates allowed (the answer was lost)."""
        self.assertEqual(result.rc, 0, str(result))
        got = self.stored()
        missing = collections.Counter(data) - got
        self.assertFalse(missing, "lost %d records" % sum(missing.values()))
        self.assertFalse(set(got) - set(data), "stored something that was not sent")
        self.assertEqual(result.stats["failed"], 0)

    def assert_whole_batch_retried(self, data, statuses):
        """The first request carried the whole batch and failed, as did the
        next scripted ones; the successful ones (however the retries were
        grouped) carry every record exactly once."""
        log = self.log()
        n = len(statuses)
        self.assertEqual([q["status"] for q in log[:n]], statuses)
        self.assertEqual(sorted(base64.b64decode(e["data"]) for e in log[0]["entries"]), sorted(data))
        self.assertEqual({q["status"] for q in log[n:]}, {200})
        self.assertEqual(sorted(base64.b64decode(e["data"]) for q in log[n:] for e in q["entries"]),
                         sorted(data))

    # --- retried faults --------------------------------------------------
    def test_partial_failure_resends_only_failed_entries(self):
        data = lines(10)
        self.script({"partial": {"indices": [1, 4, 7]}})
        r = self.put(data, "--batch-records", "10", "--linger-ms", "1000")
        self.assert_exactly_once(data, r)
        log = self.log()
        self.assertEqual(len(log[0]["entries"]), 10)
        self.assertEqual([e["result"] for e in log[0]["entries"]].count("failed"), 3)
        failed = sorted(base64.b64decode(e["data"]) for e in log[0]["entries"] if e["result"] == "failed")
        resent = sorted(base64.b64decode(e["data"]) for q in log[1:] for e in q["entries"])
        self.assertEqual(resent, failed, "the retry must carry the failed entries and nothing else")
        self.assertEqual((r.stats["retried"], r.stats["requests"]), (3, len(log)))

    def test_partial_internal_failure_every_third(self):
        data = lines(1200)
        self.script({"partial": {"every": 3, "code": "InternalFailure"}},
                    {"partial": {"every": 3, "code": "InternalFailure"}},
                    {"partial": {"every": 2}})
        r = self.put(data)
        self.assert_exactly_once(data, r)
        sent = collections.Counter(base64.b64decode(e["data"]) for q in self.log() for e in q["entries"])
        self.assertGreater(sum(sent.values()), len(data))       # there were retries ...
        self.assertEqual(r.stats["retried"], sum(sent.values()) - len(data))

    def test_server_errors_are_retried(self):
        data = lines(20)
        self.script({"status": 500, "type": "InternalFailure"}, {"status": 503, "type": "ServiceUnavailable"})
        r = self.put(data, "--batch-records", "20", "--linger-ms", "1000")
        self.assert_exactly_once(data, r)
        self.assert_whole_batch_retried(data, [500, 503])

    def test_throttled_requests_are_retried(self):
        data = lines(20)
        self.script({"throttle": True}, {"throttle": True}, {"throttle": True})
        r = self.put(data, "--batch-records", "20", "--linger-ms", "1000")
        self.assert_exactly_once(data, r)
        self.assert_whole_batch_retried(data, [400, 400, 400])

    def test_connection_reset_loses_nothing(self):
        data = lines(30)
        self.script({"reset": True}, {"close": True}, {"reset": True, "store": False})
        self.assert_nothing_lost(data, self.put(data, "--batch-records", "10"))

    def test_malformed_response_loses_nothing(self):
        data = lines(30)
        self.script({"malformed": True}, {"malformed": True, "store": False})
        self.assert_nothing_lost(data, self.put(data, "--batch-records", "10"))

    def test_records_length_mismatch_loses_nothing(self):
        data = lines(30)
        self.script({"mismatch": True})
        self.assert_nothing_lost(data, self.put(data, "--batch-records", "10"))

    def test_slow_answer_is_not_resent(self):
        data = lines(10)
        self.script({"delay_ms": 1500})
        self.assert_exactly_once(data, self.put(data))

    # --- failures that must stop ------------------------------------------
    def test_access_denied_is_not_retried(self):
        msg = "User: arn:aws:iam::123456789012:user/t is not authorized to perform: kinesis:PutRecords"
        self.script({"error": {"status": 400, "type": "AccessDeniedException", "message": msg}})
        t = time.monotonic()
        r = self.put(lines(5))
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("AccessDenied", r.err)
        self.assertIn("not authorized", r.err)
        self.assertEqual(len(self.log()), 1, "a non-retryable error was retried")
        self.assertLess(time.monotonic() - t, 30)
        if r.stats:
            self.assertEqual(r.stats["records"], 0)

    def test_gives_up_after_max_attempts(self):
        self.script(*[{"status": 500, "type": "InternalFailure"}] * 5)
        r = self.put(lines(5), "--max-attempts", "2")
        self.assertEqual(r.rc, 1, str(r))
        self.assertIsNotNone(r.stats, str(r))
        # A 500 may come after the service stored some of the request: the
        # records' fate is unknown, not failed.
        self.assertEqual((r.stats["records"], r.stats["failed"], r.stats["unknown"]), (0, 0, 5))
        fake.control("reset", {})      # the 500s left over
        self.script(*[{"status": 503, "type": "ServiceUnavailable"}] * 5)
        r = self.put(lines(5), "--max-attempts", "2")
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual((r.stats["records"], r.stats["failed"], r.stats["unknown"]), (0, 5, 0))

    def test_unknown_stream_names_stream_region_endpoint(self):
        r = self.put(lines(3), stream="no-such-stream")
        self.assertEqual(r.rc, 1, str(r))
        for word in ("no-such-stream", "us-east-1", fake.endpoint):
            self.assertIn(word, r.err)

    def test_wrong_secret_is_rejected(self):
        r = self.put(lines(3), secret="wrong/secret+key")
        self.assertEqual(r.rc, 1, str(r))
        self.assertTrue("InvalidSignature" in r.err or "signature" in r.err.lower(), r.err)
        self.assertEqual(sum(self.stored().values()), 0)

    def test_right_secret_is_accepted_and_scope_is_right(self):
        data = lines(3)
        self.assert_exactly_once(data, self.put(data))
        q = self.log()[0]
        self.assertEqual((q["region"], q["access_key"]), ("us-east-1", "AKIDEXAMPLE"))

    def test_bad_usage_exits_2(self):
        r = cli.run(["put"], fake.endpoint)
        self.assertEqual(r.rc, 2, str(r))
        r = cli.run(["put", "-s", STREAM, "--oversize", "explode"], fake.endpoint)
        self.assertEqual(r.rc, 2, str(r))


if __name__ == "__main__":
    unittest.main()
