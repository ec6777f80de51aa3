"""Logs of `shardpipe run`: a log file (log_file, --log-file) with ISO-8601
UTC time stamps, opened again on SIGHUP for log rotation; a log file that
cannot be opened stops the start with an error naming the setting."""
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import Emulator, free_port  # noqa: E402

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ shardpipe: (error|warn|info|debug|stats): ")


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def wait_for(path, needle, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in read(path):
            return
        if proc.poll() is not None:
            raise AssertionError("exited %s before '%s':\n%s" % (proc.returncode, needle, read(path)))
        time.sleep(0.05)
    raise AssertionError("no '%s' in %s:\n%s" % (needle, path, read(path)))


class LogFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("kinesalite").start()
        cls.emu.create_stream("logs-1", 1)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="shardpipe-logs-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cfg = os.path.join(self.dir, "shardpipe.json")
        self.port = free_port()

    def config(self, **top):
        c = {"region": "us-east-1", "endpoint": self.emu.endpoint,
             "flows": [{"name": "net", "stream": "logs-1", "sources": [{"type": "tcp", "port": self.port}]}]}
        c.update(top)
        with open(self.cfg, "w") as f:
            json.dump(c, f)

    def start(self, *args):
        err = open(os.path.join(self.dir, "stderr"), "wb")
        self.addCleanup(err.close)
        p = subprocess.Popen([cli.SHARDPIPE, "run", "-c", self.cfg] + list(args), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, env=cli.clean_env(home=self.dir), cwd=self.dir)

        def kill():
            if p.poll() is None:
                p.kill()
                p.wait()
        self.addCleanup(kill)
        return p

    def check_stamped(self, text):
        lines = text.splitlines()
        self.assertTrue(lines, "the log file is empty")
        for line in lines:
            self.assertRegex(line, STAMP)

    def rotate_and_check(self, p, log):
        wait_for(log, "running 1 flows", p)
        os.rename(log, log + ".1")                  # logrotate's move
        p.send_signal(signal.SIGHUP)
        wait_for(log, "configuration reloaded", p)  # written to the new file
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(b"a line\n")
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0, read(log))
        old, new = read(log + ".1"), read(log)
        self.check_stamped(old)
        self.check_stamped(new)
        self.assertIn("running 1 flows", old)
        self.assertNotIn("reloaded", old)
        self.assertIn("stopped: records=1", new)
        self.assertEqual(read(os.path.join(self.dir, "stderr")), "", "a log file takes every line")

    def test_log_file_key_reopened_on_sighup(self):
        log = os.path.join(self.dir, "agent.log")
        self.config(log_file=log)
        self.rotate_and_check(self.start(), log)

    def test_log_file_option_overrides_key(self):
        log = os.path.join(self.dir, "cli.log")
        self.config(log_file=os.path.join(self.dir, "not-this.log"))
        self.rotate_and_check(self.start("--log-file", log, "--log-level", "debug"), log)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "not-this.log")))

    def test_stderr_without_a_file(self):
        self.config()
        p = self.start()
        errp = os.path.join(self.dir, "stderr")
        wait_for(errp, "running 1 flows", p)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0)
        self.check_stamped(read(errp))   # not the journal: stamped too

    def test_unopenable_log_file_stops_the_start(self):
        # A directory where the file should be: open(2) fails, even for root.
        d = os.path.join(self.dir, "a-dir")
        os.mkdir(d)
        self.config(log_file=d)
        p = self.start()
        self.assertEqual(p.wait(timeout=30), 1)
        self.assertIn("shardpipe.json: log_file: log file %s: Is a directory" % d,
                      read(os.path.join(self.dir, "stderr")))

    def test_missing_directory_for_option(self):
        self.config()
        p = self.start("--log-file", os.path.join(self.dir, "nope", "x.log"))
        self.assertEqual(p.wait(timeout=30), 1)
        self.assertIn("--log-file: log file %s/nope/x.log: No such file or directory" % self.dir,
                      read(os.path.join(self.dir, "stderr")))


if __name__ == "__main__":
    unittest.main()
