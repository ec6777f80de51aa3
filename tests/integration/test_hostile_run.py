"""`shardpipe run` and `check-config` against hostile surroundings, with
kinesalite: paths a file glob matches that cannot be tailed (a directory, a
FIFO, a dangling symbolic link) are each warned about once at the default
log level, and the regular file beside them is delivered; a checkpoint_file
whose directory is missing, is a file or is read-only is refused at the
start (exit 1, naming the key); a checkpoint directory that goes away while
running is one error line, not four a second, and delivery goes on."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import Emulator  # noqa: E402
from test_agent import Agent, read_all  # noqa: E402

FAST = {"shard_rate": "1000%", "linger_ms": 50}


class DefaultLevelAgent(Agent):
    """As test_agent's Agent, but at the default log level (info): what
    an operator sees, not the debug lines."""

    def start(self):
        env = cli.clean_env(home=self.dir)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([cli.SHARDPIPE, "run", "-c", self.cfg_path],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.dir)
        self.wait_log("running ")
        return self

    def lines(self, needle):
        return [l for l in self.text().splitlines() if needle in l]


def wait_until(fn, what, timeout=30.0, agent=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        if agent is not None and agent.proc.poll() is not None:
            raise AssertionError("agent exited %s waiting for %s:\n%s" % (agent.proc.returncode, what, agent.text()))
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s%s" % (what, "\n" + agent.text() if agent else ""))


def append(path, lines):
    with open(path, "ab") as f:
        f.write(b"".join(l + b"\n" for l in lines))


class HostileRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("kinesalite").start()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        type(self).n += 1
        self.stream = "hostile-%d" % self.n
        self.emu.create_stream(self.stream, 1)
        self.dir = tempfile.mkdtemp(prefix="sp-hostile-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.logs = os.path.join(self.dir, "logs")
        os.mkdir(self.logs)

    def agent(self, **top):
        top.setdefault("file_poll_ms", 200)
        a = DefaultLevelAgent(self.emu, [dict(FAST, name="files", stream=self.stream, start="beginning",
                                              sources=[{"type": "file", "path": os.path.join(self.logs, "*.log")}])],
                              **top)
        self.addCleanup(a.close)
        return a

    def delivered(self, want):
        got = read_all(self.emu, self.stream)
        return all(w in got for w in want)

    def test_unusable_paths_warned_once_and_no_hang(self):
        app = os.path.join(self.logs, "app.log")
        append(app, [b"first %d" % i for i in range(10)])
        os.mkdir(os.path.join(self.logs, "sub.log"))
        os.mkfifo(os.path.join(self.logs, "pipe.log"))
        # Fails as root too: stat follows the link to nothing (ENOENT).
        os.symlink(os.path.join(self.dir, "no-such-target"), os.path.join(self.logs, "link.log"))
        a = self.agent().start()
        started = time.monotonic()
        first = [b"first %d" % i for i in range(10)]
        wait_until(lambda: self.delivered(first), "the lines written before the start", agent=a)
        more = [b"more %d" % i for i in range(10)]
        append(app, more)
        wait_until(lambda: self.delivered(more), "the lines written while running", agent=a)
        time.sleep(max(0.0, 4.0 - (time.monotonic() - started)))   # some 20 scans at 200 ms
        for name, what in (("sub.log", "is a directory"), ("pipe.log", "is a FIFO"),
                           ("link.log", "is a symbolic link to a missing file")):
            path = os.path.join(self.logs, name)
            warned = a.lines("%s %s" % (path, what))
            self.assertEqual(len(warned), 1, a.text())
            self.assertIn("warn: flow files:", warned[0])
        self.assertEqual(len(a.lines(" warn: ")), 3, a.text())
        t0 = time.monotonic()
        self.assertEqual(a.stop(), 0, a.text())
        self.assertLess(time.monotonic() - t0, 10.0, "SIGTERM took too long")
        self.assertEqual(sorted(read_all(self.emu, self.stream)), sorted(first + more))

    def write_cfg(self, cfg):
        path = os.path.join(self.dir, "c.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def check_config(self, cfg_path, prefix=()):
        p = subprocess.run(list(prefix) + [cli.SHARDPIPE, "check-config", cfg_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=cli.clean_env(home=self.dir), timeout=60)
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")

    def native(self, ckpt):
        return {"region": "us-east-1", "endpoint": self.emu.endpoint, "checkpoint_file": ckpt,
                "flows": [{"name": "files", "stream": self.stream,
                           "sources": [{"type": "file", "path": os.path.join(self.logs, "*.log")}]}]}

    def test_check_config_and_run_refuse_unwritable_checkpoint_dir(self):
        afile = os.path.join(self.dir, "a-file")
        open(afile, "w").close()
        cases = ((os.path.join(self.dir, "missing", "ckpt"), "directory %s does not exist"
                  % os.path.join(self.dir, "missing")),
                 (os.path.join(afile, "ckpt"), "%s is not a directory" % afile))
        for ckpt, why in cases:
            cfg = self.write_cfg(self.native(ckpt))
            rc, out = self.check_config(cfg)
            self.assertEqual(rc, 1, out)
            self.assertIn("%s: checkpoint_file: %s: %s" % (cfg, ckpt, why), out)
            self.assertNotIn("valid", out)
            # run refuses at the start, before reading or sending anything.
            p = subprocess.run([cli.SHARDPIPE, "run", "-c", cfg], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=cli.clean_env(home=self.dir), timeout=30)
            err = p.stderr.decode("utf-8", "replace")
            self.assertEqual(p.returncode, 1, err)
            self.assertIn("error: %s: checkpoint_file: %s: %s" % (cfg, ckpt, why), err)
            self.assertNotIn("running ", err)
        # The agent.json dialect names its own key.
        agent_cfg = self.write_cfg({"checkpointFile": os.path.join(self.dir, "missing", "ck"),
                                    "kinesis.endpoint": self.emu.endpoint,
                                    "flows": [{"filePattern": os.path.join(self.logs, "*.log"),
                                               "kinesisStream": self.stream}]})
        rc, out = self.check_config(agent_cfg)
        self.assertEqual(rc, 1, out)
        self.assertIn("checkpointFile: %s.shardpipe: directory" % os.path.join(self.dir, "missing", "ck"), out)
        # A writable directory passes, and the check leaves nothing behind.
        state = os.path.join(self.dir, "state")
        os.mkdir(state)
        rc, out = self.check_config(self.write_cfg(self.native(os.path.join(state, "ckpt"))))
        self.assertEqual(rc, 0, out)
        self.assertEqual(os.listdir(state), [])

    def test_check_config_refuses_read_only_checkpoint_dir(self):
        """chmod does not stop root: a read-only bind mount in a mount
        namespace of its own does."""
        state = os.path.join(self.dir, "ro-state")
        os.mkdir(state)
        cfg = self.write_cfg(self.native(os.path.join(state, "ckpt")))
        script = ('mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" || exit 99; '
                  'shift; exec "$@"')
        prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", state]
        try:
            rc, out = self.check_config(cfg, prefix)
        except FileNotFoundError:
            self.skipTest("no unshare(1)")
        if rc == 99 or "unshare: " in out:
            self.skipTest("no mount namespace here: %s" % out.strip())
        self.assertEqual(rc, 1, out)
        self.assertIn("checkpoint_file: %s: cannot create a file in directory %s: Read-only file system"
                      % (os.path.join(state, "ckpt"), state), out)
        rc, out = self.check_config(cfg)               # outside the namespace it is writable
        self.assertEqual(rc, 0, out)

    def test_checkpoint_dir_gone_while_running(self):
        state = os.path.join(self.dir, "state")
        os.mkdir(state)
        app = os.path.join(self.logs, "app.log")
        open(app, "wb").close()
        a = self.agent(checkpoint_file=os.path.join(state, "ckpt")).start()
        before = [b"before %d" % i for i in range(5)]
        append(app, before)
        wait_until(lambda: self.delivered(before), "the first lines", agent=a)
        wait_until(lambda: os.path.exists(os.path.join(state, "ckpt")), "a checkpoint", agent=a)
        os.rename(state, state + ".away")
        # Lines keep coming, so every 250 ms there is a position to save.
        during = []
        t_end = time.monotonic() + 4.0
        i = 0
        while time.monotonic() < t_end:
            line = b"during %d" % i
            append(app, [line])
            during.append(line)
            i += 1
            time.sleep(0.1)
        wait_until(lambda: self.delivered(during), "the lines written while saves fail", agent=a)
        errors = a.lines("error: saving checkpoints")
        self.assertEqual(len(errors), 1, a.text())
        self.assertIn("directory %s does not exist" % state, errors[0])
        self.assertIn("delivery goes on", errors[0])
        os.rename(state + ".away", state)
        after = [b"after %d" % i for i in range(5)]
        append(app, after)
        a.wait_log("saving checkpoints works again")
        wait_until(lambda: self.delivered(after), "the lines written after the directory came back", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        self.assertEqual(len(a.lines("error: ")), 1, a.text())
        with open(os.path.join(state, "ckpt"), "rb") as f:
            self.assertIn(b'"flow":"files"', f.read())
        self.assertEqual(sorted(read_all(self.emu, self.stream)), sorted(before + during + after))


if __name__ == "__main__":
    unittest.main()
