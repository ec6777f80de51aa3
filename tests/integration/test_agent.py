"""The agent, `shardpipe run -c FILE`, against kinesalite: socket sources
with many clients, graceful shutdown delivering everything buffered, SIGHUP
reload, SIGUSR1 stats, and configuration checking (including the Kinesis
Agent's agent.json dialect)."""
import base64
import collections
import json
import os
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
from emulators import ROOT, Emulator, free_port  # noqa: E402


class Agent:
    """One `shardpipe run` process with a configuration written to a temp dir."""

    def __init__(self, emu, flows, **top):
        self.dir = tempfile.mkdtemp(prefix="shardpipe-agent-")
        self.emu = emu
        self.cfg_path = os.path.join(self.dir, "shardpipe.json")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.write_config(flows, **top)
        self.proc = None

    def write_config(self, flows, **top):
        cfg = {"region": "us-east-1", "endpoint": self.emu.endpoint,
               "checkpoint_file": os.path.join(self.dir, "checkpoints"), "flows": flows}
        cfg.update(top)
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)

    def start(self):
        env = cli.clean_env(home=self.dir)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([cli.SHARDPIPE, "run", "-c", self.cfg_path, "--log-level", "debug"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.dir)
        self.wait_log("running ")
        return self

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, needle, timeout=30.0, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.text().count(needle) >= count:
                return
            if self.proc.poll() is not None:
                raise AssertionError("agent exited %s before '%s':\n%s" % (self.proc.returncode, needle, self.text()))
            time.sleep(0.05)
        raise AssertionError("no '%s' in the agent's log after %.0f s:\n%s" % (needle, timeout, self.text()))

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        return rc

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def read_all(emu, stream):
    r = cli.run(["get", stream, "--iterator", "trim-horizon", "--json"], emu.endpoint)
    assert r.rc == 0, str(r)
    return [base64.b64decode(j["data"]) for j in r.json_lines()]


def tcp_send(port, data):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)


class AgentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("kinesalite").start()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def stream(self, shards=2):
        type(self).n += 1
        name = "agent-%d" % self.n
        self.emu.create_stream(name, shards)
        return name

    def agent(self, flows, **top):
        a = Agent(self.emu, flows, **top)
        self.addCleanup(a.close)
        return a

    def test_sockets_many_clients(self):
        s = self.stream()
        tcp, udp = free_port(), free_port()
        upath = os.path.join(tempfile.mkdtemp(prefix="sp-unix-"), "in.sock")
        self.addCleanup(shutil.rmtree, os.path.dirname(upath), True)
        a = self.agent([{"name": "net", "stream": s, "sources": [
            {"type": "tcp", "port": tcp, "max_clients": 64},
            {"type": "udp", "port": udp},
            {"type": "unix", "path": upath}]}]).start()
        want = collections.Counter()
        socks = []
        for c in range(30):
            socks.append(socket.create_connection(("127.0.0.1", tcp)))
        for i in range(200):                 # interleave the clients
            for c, sk in enumerate(socks):
                line = b"tcp %d %d" % (c, i)
                sk.sendall(line + b"\n")
                want[line] += 1
        for sk in socks:
            sk.close()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
            u.connect(upath)
            for i in range(500):
                u.sendall(b"unix %d\n" % i)
                want[b"unix %d" % i] += 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as d:
            for i in range(100):
                d.sendto(b"udp %d" % i, ("127.0.0.1", udp))
                want[b"udp %d" % i] += 1
                time.sleep(0.001)
        time.sleep(1.0)
        self.assertEqual(a.stop(), 0, a.text())
        got = collections.Counter(read_all(self.emu, s))
        self.assertEqual(want - got, collections.Counter(), "lines lost")
        self.assertEqual(got - want, collections.Counter(), "lines that were never sent")

    def test_graceful_shutdown_delivers_buffered(self):
        s = self.stream()
        port = free_port()
        # A long linger keeps everything buffered until the signal.
        a = self.agent([{"name": "buf", "stream": s, "linger_ms": 600000, "batch_records": 500,
                         "sources": [{"type": "tcp", "port": port}]}]).start()
        lines = [b"buffered %d" % i for i in range(300)]
        tcp_send(port, b"".join(l + b"\n" for l in lines))
        a.wait_log("records=0", timeout=1) if False else time.sleep(0.5)
        self.assertEqual(a.stop(signal.SIGTERM), 0, a.text())
        self.assertEqual(sorted(read_all(self.emu, s)), sorted(lines))

    def test_sighup_reload_keeps_buffered_records(self):
        s1, s2 = self.stream(), self.stream()
        p1, p2 = free_port(), free_port()
        a = self.agent([{"name": "one", "stream": s1, "linger_ms": 600000,
                         "sources": [{"type": "tcp", "port": p1}]}]).start()
        old = [b"before reload %d" % i for i in range(100)]
        tcp_send(p1, b"".join(l + b"\n" for l in old))
        time.sleep(0.5)
        a.write_config([{"name": "two", "stream": s2, "sources": [{"type": "tcp", "port": p2}]}])
        a.proc.send_signal(signal.SIGHUP)
        a.wait_log("configuration reloaded")
        new = [b"after reload %d" % i for i in range(100)]
        tcp_send(p2, b"".join(l + b"\n" for l in new))
        time.sleep(1.0)
        self.assertEqual(a.stop(), 0, a.text())
        self.assertEqual(sorted(read_all(self.emu, s1)), sorted(old))
        self.assertEqual(sorted(read_all(self.emu, s2)), sorted(new))

    def test_bad_reload_keeps_running(self):
        s = self.stream()
        port = free_port()
        a = self.agent([{"name": "keep", "stream": s, "sources": [{"type": "tcp", "port": port}]}]).start()
        with open(a.cfg_path, "w") as f:
            f.write('{"flows": [{"stream": "bad name!"}]}')
        a.proc.send_signal(signal.SIGHUP)
        a.wait_log("reload refused")
        tcp_send(port, b"still here\n")
        time.sleep(0.8)
        self.assertEqual(a.stop(), 0, a.text())
        self.assertEqual(read_all(self.emu, s), [b"still here"])

    def test_stdin_only_ends_at_eof(self):
        # A configuration whose only input is standard input ends like put:
        # when the input ends and everything was delivered, with status 0.
        s = self.stream()
        a = self.agent([{"name": "in", "stream": s, "sources": [{"type": "stdin"}]}])
        lines = [b"from stdin %d" % i for i in range(1000)]
        p = subprocess.run([cli.SHARDPIPE, "run", "-c", a.cfg_path], input=b"".join(l + b"\n" for l in lines),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli.clean_env(home=a.dir),
                           cwd=a.dir, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace")[-2000:])
        self.assertIn(b"all input ended", p.stderr)
        self.assertEqual(sorted(read_all(self.emu, s)), sorted(lines))

    def test_usr1_logs_stats(self):
        s = self.stream()
        port = free_port()
        a = self.agent([{"name": "st", "stream": s, "sources": [{"type": "tcp", "port": port}]}]).start()
        tcp_send(port, b"a\nb\n")
        time.sleep(0.8)
        a.proc.send_signal(signal.SIGUSR1)
        a.wait_log("stats: flow st: records=2")
        self.assertEqual(a.stop(), 0, a.text())


class ConfigCheckTest(unittest.TestCase):
    def check(self, text, name="c.json"):
        d = tempfile.mkdtemp(prefix="sp-cfg-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([cli.SHARDPIPE, "check-config", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=cli.clean_env(home=d))
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")

    def test_examples_are_valid(self):
        run_dir = tempfile.mkdtemp(prefix="sp-run-")   # stands in for the unit's /run/shardpipe
        self.addCleanup(shutil.rmtree, run_dir, True)
        # and for its /var/lib/shardpipe: the checkpoint directory must be writable
        state_dir = tempfile.mkdtemp(prefix="sp-state-")
        self.addCleanup(shutil.rmtree, state_dir, True)
        for name in ("shardpipe.json", "agent.json.example"):
            with open(os.path.join(ROOT, "etc", name)) as f:
                text = f.read().replace("/run/shardpipe/", run_dir + "/")
                rc, out = self.check(text.replace("/var/lib/shardpipe/", state_dir + "/"), name)
            self.assertEqual(rc, 0, out)

    def test_errors_name_the_key(self):
        cases = [
            ('{"flows": [{"stream": "s", "sources": [{"type": "file", "path": "/var/log/nonexistent-dir-xyz/*.log"}]}]}',
             "flows[0].sources[0].path"),
            ('{"flows": [{"stream": "s", "sources": [{"type": "tcp", "port": 70000}]}]}', "flows[0].sources[0].port"),
            ('{"flows": [{"stream": "s", "linger_ms": "soon", "sources": [{"type": "stdin"}]}]}', "flows[0].linger_ms"),
            ('{"flows": [{"stream": "s", "sources": [{"type": "stdin"}], "colour": 1}]}', "flows[0].colour"),
            ('{"flows": [{"filePattern": "/var/log/ap/*.log", "kinesisStream": "s"}]}', "filePattern"),
            ('{"flows": [{"filePattern": "/var/log/*.log", "deliveryStream": "fh"}]}', "deliveryStream"),
            ('{"assumeRoleARN": "arn:aws:iam::1:role/x", "flows": [{"filePattern": "/var/log/*.log", "kinesisStream": "s"}]}',
             "assumeRoleARN"),   # not a role ARN: the account id has 12 digits
            ('{"flows": [{"stream": "s", "sources": [{"type": "tcp", "port": 5170, "bind": "localhost"}]}]}',
             "flows[0].sources[0].bind"),
            ('{"flows": [', "c.json"),
        ]
        for text, needle in cases:
            rc, out = self.check(text)
            self.assertEqual(rc, 1, text)
            self.assertIn(needle, out, text)


if __name__ == "__main__":
    unittest.main()
