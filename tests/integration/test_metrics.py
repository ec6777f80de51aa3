"""/metrics and /healthz of `put` (against the fake Kinesis, whose scripted
faults make a stall) and of `run` (against kinesalite), and the periodic
stats line. The exposition text is read with a strict little parser of the
Prometheus text format (version 0.0.4): every sample belongs to the family
of the # HELP / # TYPE lines above it, names and labels are well formed,
counters end in _total, histogram buckets are cumulative."""
import base64
import collections
import os
import pty
import select
import subprocess
import re
import socket
import sys
import tempfile
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli  # noqa: E402
from emulators import SECRET_KEY, Emulator, FakeKinesis, free_port  # noqa: E402

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')
VALUE = re.compile(r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|Inf)|NaN)\Z")


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_exposition(text):
    """{family: {"type", "help", "samples": [(name, {label: value}, float)]}};
    raises ValueError on anything the format does not allow."""
    if not text.endswith("\n"):
        raise ValueError("the text must end with a newline")
    fams, cur, seen_samples = {}, None, set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            if not NAME.match(name) or name in fams:
                raise ValueError("line %d: bad or repeated family %r" % (n, name))
            cur = fams[name] = {"help": help_, "type": None, "samples": []}
            cur_name = name
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            if cur is None or name != cur_name or cur["type"] is not None or cur["samples"]:
                raise ValueError("line %d: TYPE of %r not right after its HELP" % (n, name))
            if typ not in ("counter", "gauge", "histogram", "summary", "untyped"):
                raise ValueError("line %d: type %r" % (n, typ))
            cur["type"] = typ
            continue
        if line.startswith("#") or not line:
            raise ValueError("line %d: unexpected %r" % (n, line))
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)\Z", line)
        if not m or cur is None:
            raise ValueError("line %d: not a sample: %r" % (n, line))
        name, body, value = m.group(1), m.group(3), m.group(4)
        base = cur_name
        allowed = {base} if cur["type"] != "histogram" else {base + "_bucket", base + "_sum", base + "_count"}
        if name not in allowed:
            raise ValueError("line %d: %s outside its family %s" % (n, name, base))
        labels = {}
        if body:
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                if not lm or lm.group(1) in labels:
                    raise ValueError("line %d: bad labels %r" % (n, body))
                labels[lm.group(1)] = unescape(lm.group(2))
                pos = lm.end()
                if pos < len(body):
                    if body[pos] != ",":
                        raise ValueError("line %d: bad labels %r" % (n, body))
                    pos += 1
        if not VALUE.match(value):
            raise ValueError("line %d: bad value %r" % (n, value))
        key = (name, tuple(sorted(labels.items())))
        if key in seen_samples:
            raise ValueError("line %d: repeated sample %r" % (n, line))
        seen_samples.add(key)
        cur["samples"].append((name, labels, float(value)))
    for name, f in fams.items():
        if f["type"] is None:
            raise ValueError("%s has no TYPE" % name)
        if not name.startswith("shardpipe_"):
            raise ValueError("%s is not prefixed shardpipe_" % name)
        if (f["type"] == "counter") != name.endswith("_total"):
            raise ValueError("%s: counters, and only they, end in _total" % name)
    return fams


class Metrics:
    def __init__(self, fams):
        self.f = fams

    def get(self, name, **labels):
        fam = self.f["shardpipe_" + name]
        got = [v for (n, l, v) in fam["samples"] if n == "shardpipe_" + name and l == labels]
        if len(got) != 1:
            raise KeyError("%s%r: %d samples" % (name, labels, len(got)))
        return got[0]

    def samples(self, family):
        return self.f["shardpipe_" + family]["samples"]


def http(port, raw, timeout=10):
    """Sends raw bytes, returns (status, headers dict, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(l.split(": ", 1) for l in lines[1:])
    assert int(headers["Content-Length"]) == len(body), data
    assert headers["Connection"] == "close"
    return status, headers, body


def get(port, path):
    return http(port, b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())


def scrape(port):
    st, hd, body = get(port, "/metrics")
    assert st == 200, body
    assert hd["Content-Type"].startswith("text/plain; version=0.0.4"), hd
    return Metrics(parse_exposition(body.decode("utf-8")))


def wait_for(cond, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except (OSError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError("%s not met within %.0f s (last: %r)" % (what, timeout, last))


class ParserTest(unittest.TestCase):
    """The parser is strict: it must refuse what the format does not allow."""

    def test_refuses_malformed_text(self):
        good = ('# HELP shardpipe_x_total X.\n# TYPE shardpipe_x_total counter\n'
                'shardpipe_x_total{flow="a\\"b"} 3\n')
        m = Metrics(parse_exposition(good))
        self.assertEqual(m.get("x_total", flow='a"b'), 3)
        for bad in [good[:-1],
                    good.replace("# TYPE shardpipe_x_total counter\n", ""),
                    good.replace("counter", "gauge"),
                    good.replace('{flow="a\\"b"}', '{flow="a"b"}'),
                    good.replace("} 3", "} three"),
                    good + "shardpipe_y_total 1\n",
                    good + 'shardpipe_x_total{flow="a\\"b"} 4\n',
                    good.replace("shardpipe_x", "other_x")]:
            with self.assertRaises(ValueError, msg=bad):
                parse_exposition(bad)


class PutMetrics(unittest.TestCase):
    STREAM = "metrics"

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeKinesis("--verify-sigv4", SECRET_KEY, "--stream", cls.STREAM + ":2").start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        self.fake.control("reset", {})

    def start_put(self, *extra):
        port = free_port()
        p = cli.start(["put", "-s", self.STREAM, "--linger-ms", "20", "--metrics-listen",
                       "127.0.0.1:%d" % port] + list(extra), self.fake.endpoint)
        self.addCleanup(lambda: p.proc.poll() is None and (p.proc.kill(), p.proc.wait()))
        wait_for(lambda: get(port, "/healthz")[0] == 200, what="the metrics server")
        return p, port

    def stored_by_shard(self):
        dump = self.fake.control("records?stream=" + self.STREAM).get(self.STREAM, {})
        return {sid: recs for sid, recs in dump.items()}

    def test_scrape_matches_what_was_stored(self):
        p, port = self.start_put("--key", "hash")
        lines = [b"metrics line %04d \"quoted\" \\ back" % i for i in range(300)]
        p.write(b"".join(l + b"\n" for l in lines))
        m = wait_for(lambda: (lambda m: m if m.get("records_total", flow="put") == 300 else None)(scrape(port)),
                     what="300 records stored")
        stored = self.stored_by_shard()
        self.assertEqual(sum(len(v) for v in stored.values()), 300)
        self.assertEqual(m.get("stored_bytes_total", flow="put"), sum(map(len, lines)))
        self.assertEqual(m.get("read_lines_total", flow="put"), 300)
        self.assertEqual(m.get("read_bytes_total", flow="put"), sum(len(l) + 1 for l in lines))
        self.assertEqual(m.get("failed_total", flow="put"), 0)
        self.assertEqual(m.get("throttled_total", flow="put"), 0)
        self.assertEqual(m.get("buffered_bytes", flow="put"), 0)
        self.assertEqual(m.get("shards", flow="put"), 2)
        self.assertGreaterEqual(m.get("requests_total", flow="put"), 1)
        self.assertGreaterEqual(m.get("shard_map_refreshes_total", flow="put"), 1)
        # per shard: what the server holds in each
        for sid, recs in stored.items():
            self.assertEqual(m.get("shard_records_total", flow="put", shard=sid), len(recs), sid)
            self.assertEqual(m.get("shard_stored_bytes_total", flow="put", shard=sid),
                             sum(len(base64.b64decode(r["data"])) for r in recs), sid)
            self.assertEqual(m.get("shard_throttled_total", flow="put", shard=sid), 0)
            # windows start at a tenth of the limit and double every 100 ms
            # (slow start): a short run need not have reached the share yet
            rate = m.get("shard_rate_ratio", flow="put", shard=sid)
            self.assertTrue(0.1 <= rate <= 1.0, rate)
        # the latency histogram: cumulative buckets, +Inf = count = records
        buckets = [(l["le"], v) for (n, l, v) in m.samples("record_latency_seconds")
                   if n.endswith("_bucket")]
        self.assertEqual(buckets[-1][0], "+Inf")
        self.assertEqual(buckets[-1][1], 300)
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        counts = [v for (n, l, v) in m.samples("record_latency_seconds") if n.endswith("_count")]
        self.assertEqual(counts, [300])
        # one request-time sample per PutRecords answered
        reqs = [v for (n, l, v) in m.samples("request_duration_seconds") if n.endswith("_count")]
        self.assertEqual(reqs, [m.get("requests_total", flow="put")])
        self.assertGreater(reqs[0], 0)
        self.assertEqual(get(port, "/healthz")[:3:2], (200, b"ok\n"))
        r = p.finish(timeout=60)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(r.stats["records"], 300)
        self.assertNotIn("records/s", r.err)   # stderr is not a terminal: no progress
        self.assertNotIn("\x1b[", r.err)

    def test_refuses_bad_requests(self):
        p, port = self.start_put()
        cases = [
            (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
            (b"DELETE /healthz HTTP/1.1\r\n\r\n", 405),
            (b"GET /nope HTTP/1.1\r\n\r\n", 404),
            (b"GET /metrics/ HTTP/1.1\r\n\r\n", 404),
            (b"GET /metrics HTTP/3.0\r\n\r\n", 505),
            (b"GET /metrics\r\n\r\n", 400),
            (b"\x16\x03\x01\x02\x00 hello\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody", 400),
            (b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(100)) + b"\r\n", 431),
            (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 10000 + b"\r\n\r\n", 431),
            (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", 414),
        ]
        for raw, want in cases:
            st, hd, _ = http(port, raw)
            self.assertEqual(st, want, raw[:60])
            if want == 405:
                self.assertEqual(hd.get("Allow"), "GET")
        # a request that never ends is cut off (408) after the read timeout
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            t0 = time.monotonic()
            data = s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data)
            self.assertLess(time.monotonic() - t0, 15)
        # and the server still answers
        self.assertEqual(get(port, "/healthz")[0], 200)
        r = p.finish(timeout=60)
        self.assertEqual(r.rc, 0, str(r))

    def test_healthz_turns_503_while_nothing_is_stored(self):
        # Every PutRecords fails (503) until the script is cleared.
        self.fake.control("script", [{"status": 503, "type": "InternalFailure"}] * 400)
        p, port = self.start_put("--health-stall-ms", "1500", "--backoff-base-ms", "20",
                                 "--backoff-cap-ms", "100")
        p.write(b"".join(b"stalled %d\n" % i for i in range(50)))
        t0 = time.monotonic()
        wait_for(lambda: scrape(port).get("retried_total", flow="put") > 0, what="retries")
        st, _, body = get(port, "/healthz")
        if time.monotonic() - t0 < 1.0:
            self.assertEqual(st, 200, body)    # not stalled long enough yet
        st, _, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(port, "/healthz")),
                               timeout=20, what="503 from /healthz")
        self.assertGreaterEqual(time.monotonic() - t0, 1.4)
        self.assertRegex(body.decode(), r"^stalled: flow put: \d+ bytes waiting and nothing stored for \d+ s\n$")
        m = scrape(port)
        self.assertEqual(m.get("records_total", flow="put"), 0)
        self.assertGreater(m.get("buffered_bytes", flow="put"), 0)
        # The service comes back: records are stored and health returns.
        self.fake.control("reset", {})
        wait_for(lambda: get(port, "/healthz")[0] == 200, timeout=20, what="200 again")
        wait_for(lambda: scrape(port).get("records_total", flow="put") == 50, what="all stored")
        r = p.finish(timeout=60)
        self.assertEqual(r.rc, 0, str(r))

    def test_throttles_count_per_shard(self):
        self.fake.control("script", [{"partial": {"every": 2, "code": "ProvisionedThroughputExceededException"}}])
        p, port = self.start_put("--key", "hash", "--backoff-base-ms", "10", "--backoff-cap-ms", "50")
        p.write(b"".join(b"t %d\n" % i for i in range(40)))
        m = wait_for(lambda: (lambda m: m if m.get("records_total", flow="put") == 40 else None)(scrape(port)),
                     what="40 stored")
        log = self.fake.control("log")
        refused = collections.Counter(e["shard_id"] for req in log for e in req["entries"]
                                      if e.get("code") == "ProvisionedThroughputExceededException")
        total = m.get("throttled_total", flow="put")
        # every other entry of the first request: how many that is depends on
        # how many records the windows let into it (they start slow)
        self.assertGreater(total, 0)
        self.assertEqual(total, sum(refused.values()))
        per = {l["shard"]: v for (n, l, v) in m.samples("shard_throttled_total")}
        self.assertEqual(sum(per.values()), total)
        for sid, n in refused.items():
            if sid:
                self.assertEqual(per.get(sid), n, sid)
        r = p.finish(timeout=60)
        self.assertEqual(r.rc, 0, str(r))

    def test_failures_count_by_error_code(self):
        self.fake.control("script", [
            {"status": 503, "type": "ServiceUnavailable"},
            {"partial": {"every": 3, "code": "InternalFailure"}},
            {"throttle": True},
            {"malformed": True, "store": False},
            {"partial": {"every": 2, "code": "ProvisionedThroughputExceededException"}},
            {"status": 500, "type": "InternalFailure"},
        ])
        p, port = self.start_put("--backoff-base-ms", "10", "--backoff-cap-ms", "50")
        p.write(b"".join(b"f %d\n" % i for i in range(30)))
        m = wait_for(lambda: (lambda m: m if m.get("records_total", flow="put") == 30 else None)(scrape(port)),
                     what="30 stored")
        # What the fake answered, entry by entry: a whole-request fault counts
        # for each entry of the request. (A connection reset is not scripted:
        # libcurl resends on a fresh connection when a reused one dies.)
        want = collections.Counter()
        for req in self.fake.control("log"):
            a = req.get("action") or {}
            n = len(req["entries"])
            if a.get("status"):
                want[a["type"]] += n
            elif a.get("throttle"):
                want["ProvisionedThroughputExceededException"] += n
            elif a.get("malformed"):
                want["MalformedResponse"] += n
            else:
                want.update(e["code"] for e in req["entries"] if e.get("code"))
        self.assertEqual(len(want), 4, want)   # InternalFailure and throttling each both ways
        got = {l["code"]: v for (n, l, v) in m.samples("failures_total") if l["flow"] == "put"}
        self.assertEqual(got, dict(want))
        self.assertEqual(sum(got.values()), m.get("retried_total", flow="put"))
        r = p.finish(timeout=60)
        self.assertEqual(r.rc, 0, str(r))

    def test_file_behind_while_the_budget_is_full(self):
        from test_agent import Agent
        # Nothing is stored, so the 1 MiB budget fills and the file source
        # stops reading well before the end of its 3 MB file.
        self.fake.control("script", [{"status": 503, "type": "ServiceUnavailable"}] * 20000)
        d = tempfile.mkdtemp(prefix="sp-behind-")
        path = os.path.join(d, "big \"quoted\".log")
        with open(path, "wb") as f:
            f.write(b"".join(b"%-99d\n" % i for i in range(30000)))
        size = os.path.getsize(path)
        mport = free_port()
        a = Agent(self.fake, [{"name": "big", "stream": self.STREAM, "start": "beginning",
                               "sources": [{"type": "file", "path": path}]}],
                  metrics_listen="127.0.0.1:%d" % mport, memory_budget=1 << 20)
        self.addCleanup(a.close)
        a.start()
        m = wait_for(lambda: (lambda m: m if m.get("failures_total", flow="big", code="ServiceUnavailable") > 0
                              and m.get("read_bytes_total", flow="big") > 0 else None)(scrape(mport)),
                     what="the budget full")
        time.sleep(0.5)
        m = scrape(mport)
        read = m.get("read_bytes_total", flow="big")
        behind = m.get("file_behind_bytes", flow="big", file=path)
        self.assertEqual(behind, size - read)
        self.assertGreater(behind, size // 2)
        self.assertEqual(m.get("records_total", flow="big"), 0)
        # the service comes back: everything is read and nothing is behind
        self.fake.control("reset", {})
        wait_for(lambda: scrape(mport).get("records_total", flow="big") == 30000, timeout=60, what="all stored")
        self.assertEqual(scrape(mport).get("file_behind_bytes", flow="big", file=path), 0)
        self.assertEqual(a.stop(), 0)

    def test_progress_on_a_terminal(self):
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        argv = [cli.SHARDPIPE, "put", "-s", self.STREAM, "--linger-ms", "20", "--region", cli.REGION,
                "--endpoint-url", self.fake.endpoint]
        home = tempfile.mkdtemp(prefix="shardpipe-home-")
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=slave,
                                env=cli.clean_env(SECRET_KEY, home), cwd=home)
        os.close(slave)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        out = b""

        def drain(t):
            nonlocal out
            end = time.monotonic() + t
            while time.monotonic() < end:
                r, _, _ = select.select([master], [], [], 0.05)
                if r:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        return False
                    if not chunk:
                        return False
                    out += chunk
            return True
        for i in range(15):
            proc.stdin.write(b"".join(b"tty %d %d\n" % (i, j) for j in range(20)))
            proc.stdin.flush()
            drain(0.1)
        proc.stdin.close()
        proc.wait(timeout=60)
        drain(0.3)
        text = out.decode("utf-8", "replace")
        draws = re.findall(r"\rput: (\S+) records, (\S+) records/s, [0-9.]+ MB/s, throttled (\d+), "
                           r"buffered \S+\x1b\[K", text)
        self.assertGreaterEqual(len(draws), 2, repr(text))
        # the line is erased before the summary, which stands alone
        self.assertRegex(text, r"\r\x1b\[K(\r\n)?shardpipe: put: records=300 ")
        self.assertEqual(proc.returncode, 0, text)

    def test_bad_listen_address_is_refused(self):
        r = cli.run(["put", "-s", self.STREAM, "--metrics-listen", "localhost:9100"], self.fake.endpoint, b"")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("--metrics-listen", r.err)
        r = cli.run(["put", "-s", self.STREAM, "--metrics-listen", "::1:9100"], self.fake.endpoint, b"")
        self.assertIn("brackets", r.err)


class RunMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("kinesalite").start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def test_agent_serves_metrics_and_logs_stats(self):
        from test_agent import Agent, read_all
        self.emu.create_stream("metrics-run", 2)
        tcp, mport = free_port(), free_port()
        d = tempfile.mkdtemp(prefix="sp-metrics-")
        path = os.path.join(d, "app.log")
        with open(path, "wb") as f:
            f.write(b"".join(b"file line %d\n" % i for i in range(120)))
        a = Agent(self.emu, [{"name": "web.1", "stream": "metrics-run", "start": "beginning",
                              "sources": [{"type": "file", "path": path}, {"type": "tcp", "port": tcp}]}],
                  metrics_listen="127.0.0.1:%d" % mport, stats_interval_ms=300)
        self.addCleanup(a.close)
        a.start()
        with socket.create_connection(("127.0.0.1", tcp)) as s:
            s.sendall(b"".join(b"tcp line %d\n" % i for i in range(80)))
        m = wait_for(lambda: (lambda m: m if m.get("records_total", flow="web.1") == 200 else None)(scrape(mport)),
                     what="200 stored")
        got = read_all(self.emu, "metrics-run")
        self.assertEqual(len(got), 200)
        self.assertEqual(m.get("stored_bytes_total", flow="web.1"), sum(map(len, got)))
        self.assertEqual(m.get("read_lines_total", flow="web.1"), 200)
        self.assertEqual(m.get("read_bytes_total", flow="web.1"), sum(map(len, got)) + 200)
        per = {l["shard"]: v for (n, l, v) in m.samples("shard_records_total")}
        self.assertEqual(len(per), 2)
        self.assertEqual(sum(per.values()), 200)
        self.assertEqual(get(mport, "/healthz")[0], 200)
        # read to its end: nothing behind, and nothing failed
        self.assertEqual(m.samples("file_behind_bytes"),
                         [("shardpipe_file_behind_bytes", {"flow": "web.1", "file": path}, 0)])
        self.assertEqual(m.samples("failures_total"), [])
        # the periodic stats line, without a signal
        a.wait_log('flow web.1: records=200 ', timeout=10, count=2)
        self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    unittest.main()
