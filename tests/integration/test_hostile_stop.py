"""Stopping under hostile conditions (issue: defects found with hostile input):
a SIGTERM in the middle of a line never stores the line cut short; a closed
standard input is an error, not a hang; put has a shutdown deadline; entries
whose fate is unknown (a request that timed out may have stored them) are
counted as unknown, not failed. Against kinesalite and the fake server."""
import base64
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import REGION, SECRET_KEY, Emulator, FakeKinesis, free_port  # noqa: E402

emu = None
fake = None
FAKE_STREAM = "stops"


def setUpModule():
    global emu, fake
    emu = Emulator("kinesalite").start()
    fake = FakeKinesis("--stream", FAKE_STREAM + ":2").start()


def tearDownModule():
    emu.stop()
    fake.stop()


_n = [0]


def new_stream(shards=1):
    _n[0] += 1
    name = "stop-%d" % _n[0]
    emu.create_stream(name, shards)
    return name


def read_all(stream):
    r = cli.run(["get", stream, "--iterator", "trim-horizon", "--json"], emu.endpoint)
    assert r.rc == 0, str(r)
    return [base64.b64decode(j["data"]) for j in r.json_lines()]


def popen_put(args, endpoint, stdin):
    """shardpipe put with the given stdin (a pipe end or a file object)."""
    home = tempfile.mkdtemp(prefix="shardpipe-home-")
    argv = [cli.SHARDPIPE, "put"] + list(args) + ["--region", REGION, "--endpoint-url", endpoint]
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=err,
                            env=cli.clean_env(SECRET_KEY, home), cwd=home)
    return proc, err, home


def finish(proc, err, home, timeout=60):
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(home, ignore_errors=True)
    err.seek(0)
    text = err.read().decode("utf-8", "replace")
    err.close()
    return rc, text


def stats_of(text):
    lines = [l for l in text.splitlines() if l.startswith("shardpipe: put: ")]
    assert lines, text
    return dict(kv.split("=") for kv in lines[-1][len("shardpipe: put: "):].split())


class StopMidLine(unittest.TestCase):
    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)

    def test_sigterm_in_a_line_reads_on_to_its_end(self):
        """The rest of the line comes after the signal: it is stored whole,
        and what follows its newline stays in the pipe for the next reader."""
        s = new_stream()
        r, w = os.pipe()
        proc, err, home = popen_put(["-s", s, "--linger-ms", "10"], emu.endpoint, r)
        whole = [b"whole %d" % i for i in range(50)]
        os.write(w, b"".join(l + b"\n" for l in whole))
        os.write(w, b"cut-in-the-mid")
        time.sleep(1.5)                     # read and held by the framer
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        os.write(w, b"dle of it\nafter-1\nafter-2\n")
        rc, text = finish(proc, err, home)
        os.close(w)
        os.set_blocking(r, False)
        rest = os.read(r, 4096)
        os.close(r)
        self.assertEqual(rest, b"after-1\nafter-2\n", "the bytes after the line were taken")
        self.assertEqual(rc, 0, text)
        got = read_all(s)
        self.assertEqual(got, whole + [b"cut-in-the-middle of it"], text)
        st = stats_of(text)
        self.assertEqual(st["partial"], "0", text)
        self.assertEqual(st["records"], "51", text)

    def test_line_that_never_ends_is_reported_not_stored(self):
        s = new_stream()
        r, w = os.pipe()
        proc, err, home = popen_put(["-s", s, "--linger-ms", "10", "--shutdown-timeout-ms", "800"],
                                    emu.endpoint, r)
        os.close(r)
        os.write(w, b"first\nsecond\nhalf-a-li")
        time.sleep(1.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc, text = finish(proc, err, home)
        took = time.monotonic() - t0
        os.close(w)
        self.assertEqual(rc, 1, text)       # something read was not stored
        self.assertLess(took, 10, text)
        self.assertEqual(read_all(s), [b"first", b"second"], text)
        st = stats_of(text)
        self.assertEqual(st["partial"], "1", text)
        self.assertIn("counted as partial", text)

    def test_regular_file_stops_after_a_whole_line(self):
        """put < big-file, SIGTERM while backpressured: every stored record is
        a whole line, and the lines come in order without a gap."""
        s = new_stream(2)
        d = tempfile.mkdtemp(prefix="sp-big-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "big")
        pad = b"p" * 150
        with open(path, "wb") as f:
            for i in range(200000):         # ~32 MB
                f.write(b"line-%09d-%s\n" % (i, pad))
        with open(path, "rb") as f:
            proc, err, home = popen_put(["-s", s, "--buffer-bytes", "1M", "--key", "hash"],
                                        emu.endpoint, f)
            time.sleep(2.0)
            proc.send_signal(signal.SIGTERM)
            rc, text = finish(proc, err, home, timeout=120)
            left = os.lseek(f.fileno(), 0, os.SEEK_CUR)  # shared: just past the last line taken
        self.assertEqual(rc, 0, text)
        got = read_all(s)
        self.assertGreater(len(got), 0, text)
        pat = re.compile(rb"^line-(\d{9})-" + pad + rb"$")
        nums = []
        for g in got:
            m = pat.match(g)
            self.assertIsNotNone(m, "a record that is not a whole line: %r" % g[:80])
            nums.append(int(m.group(1)))
        self.assertEqual(sorted(nums), list(range(len(nums))), "lines missing or repeated")
        self.assertEqual(stats_of(text)["partial"], "0", text)
        self.assertEqual(left, len(nums) * (len(pad) + 16), "the offset is not just past the last line")


class ClosedStdin(unittest.TestCase):
    def test_put_with_closed_stdin_is_an_error(self):
        argv = [cli.SHARDPIPE, "put", "-s", "x", "--region", REGION, "--endpoint-url", emu.endpoint]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=cli.clean_env(SECRET_KEY, tempfile.gettempdir()), timeout=20,
                           preexec_fn=lambda: os.close(0))
        text = p.stderr.decode()
        self.assertEqual(p.returncode, 1, text)
        self.assertIn("standard input is closed", text)

    def test_run_with_stdin_source_and_closed_stdin_is_an_error(self):
        s = new_stream()
        d = tempfile.mkdtemp(prefix="sp-closed-")
        self.addCleanup(shutil.rmtree, d, True)
        cfg = os.path.join(d, "c.json")
        with open(cfg, "w") as f:
            json.dump({"region": REGION, "endpoint": emu.endpoint,
                       "checkpoint_file": os.path.join(d, "ckpt"),
                       "flows": [{"stream": s, "sources": [{"type": "stdin"}]}]}, f)
        p = subprocess.run([cli.SHARDPIPE, "run", "-c", cfg], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20,
                           env=cli.clean_env(SECRET_KEY, d), preexec_fn=lambda: os.close(0))
        text = p.stderr.decode() + p.stdout.decode()
        self.assertEqual(p.returncode, 1, text)
        self.assertIn("standard input is closed", text)

    def test_closed_stdout_and_stderr_get_dev_null(self):
        """No descriptor of ours lands on 1 or 2: put still works."""
        s = new_stream()
        argv = [cli.SHARDPIPE, "put", "-s", s, "--region", REGION, "--endpoint-url", emu.endpoint]

        def close_out():
            os.close(1)
            os.close(2)
        p = subprocess.run(argv, input=b"a\nb\n", env=cli.clean_env(SECRET_KEY, tempfile.gettempdir()),
                           timeout=30, preexec_fn=close_out)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(read_all(s), [b"a", b"b"])


class Deadline(unittest.TestCase):
    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        fake.control("reset", {})

    def test_sigterm_deadline_with_a_failing_endpoint(self):
        fake.control("script", [{"status": 503, "type": "ServiceUnavailable"}] * 400)
        r, w = os.pipe()
        proc, err, home = popen_put(["-s", FAKE_STREAM, "--max-attempts", "0", "--linger-ms", "10",
                                     "--backoff-base-ms", "20", "--backoff-cap-ms", "100",
                                     "--shutdown-timeout-ms", "1000"], fake.endpoint, r)
        os.close(r)
        os.write(w, b"".join(b"l%d\n" % i for i in range(100)))
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc, text = finish(proc, err, home, timeout=30)
        took = time.monotonic() - t0
        os.close(w)
        self.assertEqual(rc, 1, text)
        self.assertLess(took, 5.0, text)
        self.assertGreater(took, 0.8, text)
        st = stats_of(text)
        self.assertEqual(st["records"], "0", text)
        self.assertEqual(int(st["failed"]) + int(st["unknown"]), 100, text)
        self.assertIn("shutdown deadline", text)

    def test_second_signal_exits_at_once(self):
        fake.control("script", [{"status": 503, "type": "ServiceUnavailable"}] * 400)
        r, w = os.pipe()
        proc, err, home = popen_put(["-s", FAKE_STREAM, "--max-attempts", "0", "--linger-ms", "10",
                                     "--shutdown-timeout-ms", "600000"], fake.endpoint, r)
        os.close(r)
        os.write(w, b"x\ny\n")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc, text = finish(proc, err, home, timeout=30)
        os.close(w)
        self.assertLess(time.monotonic() - t0, 3.0, text)
        self.assertEqual(rc, 1, text)
        self.assertIn("second signal", text)


class UnknownFate(unittest.TestCase):
    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        fake.control("reset", {})

    def put(self, *extra, n=20):
        data = b"".join(b"u%d\n" % i for i in range(n))
        return cli.run(["put", "-s", FAKE_STREAM, "--max-attempts", "1", "--linger-ms", "10"] + list(extra),
                       fake.endpoint, data, timeout=60)

    def stored(self):
        dump = fake.control("records?stream=" + FAKE_STREAM).get(FAKE_STREAM, {})
        return sum(len(v) for v in dump.values())

    def test_timed_out_requests_are_unknown_not_failed(self):
        fake.control("script", [{"delay_ms": 1500}] * 4)
        r = self.put("--request-timeout-ms", "300")
        st = r.stats
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(st["records"], 0, str(r))
        self.assertEqual(st["failed"], 0, str(r))
        self.assertEqual(st["unknown"], 20, str(r))
        self.assertIn("may or may not be stored", r.err)
        time.sleep(2.0)
        self.assertEqual(self.stored(), 20)    # the service did store them

    def test_reset_after_storing_is_unknown(self):
        fake.control("script", [{"reset": True}] * 4)
        r = self.put()
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats["unknown"], 20, str(r))
        self.assertEqual(r.stats["failed"], 0, str(r))

    def test_service_unavailable_is_failed(self):
        fake.control("script", [{"status": 503, "type": "ServiceUnavailable"}] * 4)
        r = self.put()
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats["failed"], 20, str(r))
        self.assertEqual(r.stats["unknown"], 0, str(r))

    def test_nothing_listening_is_failed(self):
        port = free_port()
        data = b"a\n"
        # The stream check fails first: nothing was sent, nothing is unknown.
        r = cli.run(["put", "-s", "x", "--max-attempts", "1"], "http://127.0.0.1:%d" % port, data, timeout=60)
        self.assertEqual(r.rc, 1, str(r))
        self.assertNotIn("unknown=1", r.err)


class SocketStop(unittest.TestCase):
    """run with a TCP source: a stop while a client is in a line."""

    def agent(self, stream, port, timeout_ms=3000):
        d = tempfile.mkdtemp(prefix="sp-sock-")
        self.addCleanup(shutil.rmtree, d, True)
        cfg = os.path.join(d, "c.json")
        with open(cfg, "w") as f:
            json.dump({"region": REGION, "endpoint": emu.endpoint, "shutdown_timeout_ms": timeout_ms,
                       "checkpoint_file": os.path.join(d, "ckpt"),
                       "flows": [{"stream": stream, "linger_ms": 10,
                                  "sources": [{"type": "tcp", "port": port}]}]}, f)
        log = open(os.path.join(d, "log"), "w+b")
        self.addCleanup(log.close)
        p = subprocess.Popen([cli.SHARDPIPE, "run", "-c", cfg], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, env=cli.clean_env(SECRET_KEY, d), cwd=d)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        deadline = time.monotonic() + 30
        while b"running " not in open(log.name, "rb").read():
            self.assertIsNone(p.poll(), open(log.name, "rb").read())
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        return p, log.name

    def test_client_in_a_line_at_stop(self):
        s = new_stream()
        port = free_port()
        p, logp = self.agent(s, port)
        finishing = socket.create_connection(("127.0.0.1", port))
        stuck = socket.create_connection(("127.0.0.1", port))
        finishing.sendall(b"one\ntw")
        stuck.sendall(b"three\nfou")
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        finishing.sendall(b"o\nnot-this\n")
        rc = p.wait(timeout=30)
        text = open(logp, "rb").read().decode()
        finishing.close()
        stuck.close()
        self.assertEqual(rc, 0, text)
        self.assertEqual(collections.Counter(read_all(s)),
                         collections.Counter([b"one", b"two", b"three"]), text)
        self.assertIn("counted as partial", text)


if __name__ == "__main__":
    unittest.main()
