"""Logs of `shardpipe run`: a log file (log_file, --log-file) with ISO-8601
UTC time stamps, opened again on SIGHUP for log rotation; a log file that
cannot be opened stops the start with an error naming the setting. A
refusal that lasts (ListShards denied) is an error at once, not repeated
at every attempt, and its end is logged."""
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
from emulators import ROOT, Emulator, FakeKinesis, Server, free_port  # noqa: E402

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


class LastingErrorTest(unittest.TestCase):
    def test_list_shards_denied_is_an_error_paced_then_recovers(self):
        kin = FakeKinesis("--stream", "s:2").start()
        self.addCleanup(kin.stop)
        denied = {"error": {"status": 400, "type": "AccessDeniedException",
                            "message": "not authorized to perform: kinesis:ListShards"}}
        kin.control("script", {"op": "ListShards", "actions": [denied] * 4})
        home = tempfile.mkdtemp(prefix="shardpipe-logs-")
        self.addCleanup(shutil.rmtree, home, True)
        p = subprocess.Popen([cli.SHARDPIPE, "put", "-s", "s", "--shard-refresh-ms", "1000", "--log-level", "info",
                              "--region", "us-east-1",
                              "--endpoint-url", kin.endpoint], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=cli.clean_env(home=home), cwd=home)
        try:
            for i in range(14):          # a refresh a second: 4 refused, then allowed
                p.stdin.write(b"line %d\n" % i)
                p.stdin.flush()
                time.sleep(0.5)
            p.stdin.close()
            err = p.stderr.read().decode()
            self.assertEqual(p.wait(timeout=60), 0, err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        refused = [l for l in err.splitlines() if "listing shards was refused" in l]
        self.assertEqual(len(refused), 1, err)          # at once, then held back (30 s)
        self.assertIn("shardpipe: error: listing shards was refused (1 times since the last message)", refused[0])
        self.assertIn("AccessDeniedException", refused[0])
        self.assertIn("listing shards works again", err)
        self.assertLess(err.index("was refused"), err.index("works again"))

    def test_failed_renewal_is_an_error_while_the_old_set_works(self):
        role = ("ASIALOGSROLE00000001", "logsRoleSecret/K7MDENG+EXAMPLE", "LogsRoleToken/abc==")
        sts = FakeSts("--verify-sigv4=AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                      "--issue=%s:%s:%s:902" % role).start()     # within the 900 s window: renewed at once
        self.addCleanup(sts.stop)
        sts.control("script", [{"ok": True}] + [{"error": {"status": 403, "code": "AccessDenied",
                                                          "message": "role trust revoked"}}] * 3)
        kin = FakeKinesis("--verify-sigv4", "%s:%s" % role[:2], "--stream", "s:1").start()
        self.addCleanup(kin.stop)
        d = tempfile.mkdtemp(prefix="shardpipe-logs-")
        self.addCleanup(shutil.rmtree, d, True)
        port = free_port()
        cfg = os.path.join(d, "c.json")
        with open(cfg, "w") as f:
            json.dump({"region": "us-east-1", "endpoint": kin.endpoint, "sts_endpoint": sts.endpoint,
                       "assume_role_arn": "arn:aws:iam::123456789012:role/logs",
                       "flows": [{"name": "n", "stream": "s", "linger_ms": 10,
                                  "sources": [{"type": "tcp", "port": port}]}]}, f)
        log = os.path.join(d, "agent.log")
        p = subprocess.Popen([cli.SHARDPIPE, "run", "-c", cfg, "--log-file", log], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli.clean_env(home=d), cwd=d)
        try:
            wait_for(log, "running 1 flows", p)
            for i in range(8):           # requests start the renewal once it is due
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(b"line %d\n" % i)
                time.sleep(0.5)
            wait_for(log, "refreshing credentials failed", p)
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=60), 0, read(log))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        text = read(log)
        failed = [l for l in text.splitlines() if "refreshing credentials failed" in l]
        self.assertEqual(len(failed), 1, text)      # the next try is 30 s later
        self.assertRegex(failed[0], r"Z shardpipe: error: refreshing credentials failed: .*AccessDenied.*"
                                    r"\(the current ones expire in \d+ s\)$")
        self.assertIn("stopped: records=8", text)   # delivery went on with the current set


class FakeSts(Server):
    name = "fake-sts"

    def __init__(self, *args):
        super().__init__()
        self.args = list(args)

    def command(self):
        return ([sys.executable or "/usr/bin/python3", os.path.join(ROOT, "tests", "fake", "fake_sts.py"),
                 "--port", "0"] + self.args, ROOT, dict(os.environ))

    def control(self, path, body):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/__control/" + path, body=json.dumps(body).encode())
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, resp.status
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
