"""The agent tailing files into kinesalite: rotation under load by rename and
create and by copytruncate, and crash safety (kill -9 at random moments,
restart from the checkpoint, nothing missing)."""
import base64
import collections
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import Emulator  # noqa: E402
from test_agent import Agent  # noqa: E402

# kinesalite never throttles: let the client-side limit go high so the
# tests measure correctness, not the 1000 records/s per shard limit.
FAST = {"shard_rate": "1000%", "linger_ms": 50}


def read_numbers(emu, stream, prefix):
    r = cli.run(["get", stream, "--iterator", "trim-horizon", "--json", "--limit", "10000"], emu.endpoint)
    assert r.rc == 0, str(r)
    got = collections.Counter()
    for j in r.json_lines():
        d = base64.b64decode(j["data"])
        assert d.startswith(prefix), d[:80]
        got[int(d[len(prefix):].split(b" ", 1)[0])] += 1
    return got


class Writer(threading.Thread):
    """Appends numbered lines to path, rotating every `every` lines."""

    def __init__(self, path, total, every, mode, pause_every=500, pause=0.01):
        super().__init__(daemon=True)
        self.path, self.total, self.every, self.mode = path, total, every, mode
        self.pause_every, self.pause = pause_every, pause
        self.truncated_at = []          # line numbers written just before each copytruncate
        self.rotations = 0

    def rotate(self, n):
        self.rotations += 1
        if self.mode == "rename":
            os.rename(self.path, "%s.%d" % (self.path, self.rotations))
        else:
            time.sleep(0.3)             # as logrotate does not, give the reader a chance
            shutil.copyfile(self.path, "%s.%d" % (self.path, self.rotations))
            with open(self.path, "r+b") as f:
                f.truncate(0)
            self.truncated_at.append(n)

    def run(self):
        pad = b"x" * 40
        f = open(self.path, "ab")
        for n in range(1, self.total + 1):
            f.write(b"line %d %s\n" % (n, pad))
            if n % self.pause_every == 0:
                f.flush()
                time.sleep(self.pause)
            if n % self.every == 0 and n < self.total:
                f.flush()
                if self.mode == "rename":
                    f.close()
                    self.rotate(n)
                    f = open(self.path, "ab")
                else:
                    self.rotate(n)
        f.close()


class FilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("kinesalite").start()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        type(self).n += 1
        self.stream = "files-%d" % self.n
        self.emu.create_stream(self.stream, 8)
        self.dir = tempfile.mkdtemp(prefix="sp-files-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.log = os.path.join(self.dir, "app.log")
        open(self.log, "wb").close()

    def agent(self):
        # A budget that lets the agent read ahead of the slow emulator:
        # copytruncate loses what is unread at a truncation (README).
        a = Agent(self.emu, [dict(FAST, name="files", stream=self.stream, start="beginning",
                                  sources=[{"type": "file", "path": os.path.join(self.dir, "*.log")}])],
                  file_poll_ms=100, memory_budget="64MiB")
        self.addCleanup(a.close)
        return a

    def wait_for(self, total, timeout=120):
        deadline = time.monotonic() + timeout
        got = collections.Counter()
        while time.monotonic() < deadline:
            got = read_numbers(self.emu, self.stream, b"line ")
            if len(got) >= total:
                return got
            time.sleep(1)
        return got

    def test_rotation_rename_and_create_under_load(self):
        a = self.agent().start()
        w = Writer(self.log, 200000, 7000, "rename")
        w.start()
        w.join()
        got = self.wait_for(200000)
        self.assertEqual(a.stop(), 0, a.text()[-3000:])
        missing = [n for n in range(1, 200001) if n not in got]
        self.assertEqual(missing[:10], [], "%d lines missing" % len(missing))
        self.assertGreater(w.rotations, 25)

    def test_rotation_copytruncate_under_load(self):
        a = self.agent().start()
        w = Writer(self.log, 200000, 7000, "copytruncate")
        w.start()
        w.join()
        got = self.wait_for(200000)
        self.assertEqual(a.stop(), 0, a.text()[-3000:])
        missing = [n for n in range(1, 200001) if n not in got]
        # Only lines that the truncate itself destroyed may be missing: ones
        # written shortly before a truncation and not read by then.
        stray = [n for n in missing if not any(t - 7000 < n <= t for t in w.truncated_at)]
        self.assertEqual(stray[:10], [], "%d lines missing outside a truncate window" % len(stray))
        self.assertLess(len(missing), 200000 // 100, "too many lines lost to truncation")

    def test_crash_safety_kill_9(self):
        rng = random.Random(7)
        total = 60000
        w = Writer(self.log, total, 10 ** 9, "rename", pause_every=200, pause=0.03)
        a = self.agent()
        a.start()
        w.start()
        kills = 0
        while kills < 10:
            time.sleep(rng.uniform(0.3, 1.2))
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait()
            a.log.close()
            kills += 1
            a.start()
        w.join()
        got = self.wait_for(total)
        self.assertEqual(a.stop(), 0, a.text()[-3000:])
        missing = [n for n in range(1, total + 1) if n not in got]
        self.assertEqual(missing[:10], [], "%d lines missing after %d kills" % (len(missing), kills))
        dups = sum(c - 1 for c in got.values())
        # Duplicates come only from records in flight or stored but not yet
        # checkpointed at a kill (at most about a second of input each).
        self.assertLess(dups, kills * 8000, "%d duplicates" % dups)
        print("crash safety: %d kills, %d lines, %d duplicates" % (kills, total, dups))


if __name__ == "__main__":
    unittest.main()
