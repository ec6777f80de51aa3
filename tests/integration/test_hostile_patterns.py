"""Hostile patterns and keys (issue 7, items 3 and 5) against kinesalite:
back-references refused at start, a nasty but allowed pattern on a long line
that does not stall put or the agent, partition keys counted in UTF-16 code
units as the service counts them (a fixed key too long is refused, an
extracted one is hashed down and its neighbours are stored)."""
import base64
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
from emulators import Emulator, free_port  # noqa: E402

EMOJI = "\U0001F389"                 # one character, two UTF-16 code units
NASTY = "regex:((a|aa)*(b|bb)*c)"    # no back-reference, but quadratic per byte seen
MB = 1000 * 1000


class HostilePatterns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)
        cls.emu = Emulator("kinesalite").start()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)

    def stream(self, shards=2):
        type(self).n += 1
        name = "hostile-%d" % self.n
        self.emu.create_stream(name, shards)
        return name

    def put(self, stream, lines, *extra, timeout=120):
        return cli.run(["put", "-s", stream, "--linger-ms", "20"] + list(extra), self.emu.endpoint,
                       cli.lines_bytes(lines), timeout=timeout)

    def records(self, stream):
        g = cli.run(["get", stream, "--iterator", "trim-horizon", "--json"], self.emu.endpoint)
        self.assertEqual(g.rc, 0, str(g))
        return cli.decoded(g.json_lines())

    # --- item 3: patterns ------------------------------------------------
    def test_back_reference_refused_naming_the_option(self):
        s = self.stream()
        t0 = time.monotonic()
        r = self.put(s, [b"a" * 5000 + b"x"], "--key", r"regex:(a*)\1\1\1x", timeout=30)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("--key: regex '(a*)\\1\\1\\1x' uses a back-reference (\\1)", r.err)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(self.records(s), [])

    def test_costly_pattern_refused(self):
        r = self.put(self.stream(), [b"a"], "--key", "regex:(a{1,255}){1,255}", timeout=30)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("--key: regex '(a{1,255}){1,255}' expands to", r.err)

    def test_nasty_pattern_on_a_long_line_does_not_stall(self):
        s = self.stream()
        line = b"a" * MB                 # no 'c': the pattern fails from every position
        t0 = time.monotonic()
        r = self.put(s, [b"k=first", line, b"k=last"], "--key", NASTY, timeout=60)
        took = time.monotonic() - t0
        self.assertEqual(r.rc, 0, str(r))
        self.assertLess(took, 10, "a 1 MB line through %s took %.1f s" % (NASTY, took))
        st = r.stats
        self.assertEqual((st["records"], st["failed"]), (3, 0), str(r))
        self.assertEqual(sorted(len(d) for _, d in self.records(s)), [6, 7, MB])

    def test_match_bytes_widens_what_the_pattern_sees(self):
        s = self.stream()
        line = b"." * 5000 + b" user=carol"
        r = self.put(s, [line], "--key", "regex:user=([a-z]+)")
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(r.stats["key_fallbacks"], 1, "the key past 4 KiB was found: " + str(r))
        r = self.put(s, [line], "--key", "regex:user=([a-z]+)", "--match-bytes", "8KiB")
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(r.stats["key_fallbacks"], 0, str(r))
        self.assertIn("carol", [k for k, _ in self.records(s)])
        r = self.put(s, [line], "--match-bytes", "8KiB")
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("--match-bytes applies only with --key regex:ERE", r.err)

    def test_check_config_refuses_back_reference_in_multiline_start(self):
        d = tempfile.mkdtemp(prefix="shardpipe-hostile-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "shardpipe.json")
        with open(path, "w") as f:
            json.dump({"region": "us-east-1", "flows": [
                {"stream": "s", "sources": [{"type": "file", "path": d + "/*.log"}],
                 "multiline_start": "^(a*)\\1x"}]}, f)
        p = subprocess.run([cli.SHARDPIPE, "check-config", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=cli.clean_env(home=d), timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("flows[0].multiline_start: '^(a*)\\1x' uses a back-reference", err)

    def test_agent_answers_sigterm_during_a_long_tcp_line(self):
        s = self.stream()
        port = free_port()
        d = tempfile.mkdtemp(prefix="shardpipe-hostile-")
        self.addCleanup(shutil.rmtree, d, True)
        cfg = os.path.join(d, "shardpipe.json")
        with open(cfg, "w") as f:
            json.dump({"region": "us-east-1", "endpoint": self.emu.endpoint,
                       "checkpoint_file": os.path.join(d, "checkpoints"),
                       "flows": [{"stream": s, "key": NASTY, "linger_ms": 20,
                                  "sources": [{"type": "tcp", "port": port}]}]}, f)
        log_path = os.path.join(d, "agent.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([cli.SHARDPIPE, "run", "-c", cfg], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, env=cli.clean_env(home=d), cwd=d)
            self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
            deadline = time.monotonic() + 30
            while "running " not in open(log_path, "rb").read().decode("utf-8", "replace"):
                self.assertIsNone(proc.poll(), open(log_path, "rb").read())
                self.assertLess(time.monotonic(), deadline, "the agent did not start")
                time.sleep(0.05)
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(b"a" * MB + b"\nk=after\n")
            time.sleep(0.5)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
            took = time.monotonic() - t0
        text = open(log_path, "rb").read().decode("utf-8", "replace")
        self.assertEqual(rc, 0, text)
        self.assertLess(took, 10, "SIGTERM took %.1f s to end the agent:\n%s" % (took, text))
        self.assertEqual(sorted(len(d) for _, d in self.records(s)), [7, MB])

    # --- item 5: key length in UTF-16 code units --------------------------
    def test_fixed_key_of_129_emoji_refused(self):
        s = self.stream()
        r = self.put(s, [b"x"], "--partition-key", EMOJI * 129, timeout=30)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("--partition-key: partition key must be 1 to 256 UTF-16 code units", r.err)
        self.assertIn("got 258", r.err)
        # 128 emoji are 256 units: the most the service takes, and it takes them.
        r = self.put(s, [b"y"], "--partition-key", EMOJI * 128)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(self.records(s), [(EMOJI * 128, b"y")])

    def test_extracted_key_of_129_emoji_is_hashed_and_neighbours_are_stored(self):
        s = self.stream()
        long_line = ("k=%s long" % (EMOJI * 129)).encode()
        lines = [b"k=before one", long_line, b"k=after two"]
        r = self.put(s, lines, "--key", "regex:k=([^ ]+)")
        self.assertEqual(r.rc, 0, str(r))
        st = r.stats
        self.assertEqual((st["records"], st["failed"], st.get("key_fallbacks")), (3, 0, 0), str(r))
        got = dict((d, k) for k, d in self.records(s))
        self.assertEqual(set(got), set(lines))
        self.assertEqual(got[b"k=before one"], "before")
        self.assertEqual(got[b"k=after two"], "after")
        self.assertRegex(got[long_line], re.compile(r"^[0-9a-f]{32}$"))


if __name__ == "__main__":
    unittest.main()
