"""An event loop nothing can stall costs nothing while it waits (issue 8): a
put whose standard input is a pipe with its writer already gone, and whose
memory budget stays full because the server accepts few records a second,
must sleep between the server's answers. epoll reports the pipe's hang-up
even to a watch that asks for nothing, so a paused input that stays in
epoll would wake the loop over and over; the loop takes paused descriptors
out of epoll. Measured as the process's CPU time (/proc/PID/stat) over a few
seconds of draining, against the fake server's per-shard write limit."""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import termios
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import REGION, SECRET_KEY, FakeKinesis  # noqa: E402

STREAM = "cpu"
RECORDS_PER_S = 200          # the server's per-shard limit: the budget stays full
WINDOW_S = 3.0               # how long the CPU time is measured
MAX_CPU_SHARE = 0.20         # of wall time; a spinning loop takes about 1.0
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)

fake = None


def setUpModule():
    global fake
    fake = FakeKinesis("--no-log", "--limits", "--shard-records-per-s", str(RECORDS_PER_S),
                       "--stream", STREAM + ":1").start()


def tearDownModule():
    fake.stop()


def cpu_seconds(pid):
    """utime + stime of pid, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unread(fd):
    """Bytes still in the pipe."""
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)


def stored():
    shards = fake.control("stats")["shards"].get(STREAM, {})
    return sum(s["records"] for s in shards.values())


class BackpressuredClosedStdin(unittest.TestCase):
    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        fake.control("reset", {})

    def test_paused_stdin_with_no_writer_costs_almost_no_cpu(self):
        r, w = os.pipe()
        home = tempfile.mkdtemp(prefix="shardpipe-home-")
        proc = None
        try:
            try:                 # more input than the 1 MiB budget holds as records
                fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
            except OSError:
                pass
            cap = fcntl.fcntl(w, F_GETPIPE_SZ)
            line = b"%07d\n"
            data = b"".join(line % i for i in range(cap // 8))
            self.assertEqual(os.write(w, data), len(data))
            os.close(w)          # the writer is gone before shardpipe starts
            w = -1
            argv = [cli.SHARDPIPE, "put", "-s", STREAM, "--partition-key", "k",
                    "--buffer-bytes", "1MiB", "--linger-ms", "20", "--backoff-base-ms", "50",
                    "--backoff-cap-ms", "500", "--region", REGION,
                    "--endpoint-url", fake.endpoint]
            proc = subprocess.Popen(argv, stdin=r, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=cli.clean_env(SECRET_KEY, home),
                                    cwd=home)
            time.sleep(1.0)      # started, budget filled, input paused
            self.assertIsNone(proc.poll(), "put ended early")
            left0, stored0 = unread(r), stored()
            self.assertGreater(left0, 0, "the input was not held back: the budget never filled")
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(WINDOW_S)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            self.assertIsNone(proc.poll(), "put ended during the measurement")
            share = (cpu1 - cpu0) / (t1 - t0)
            # Still backpressured, and still draining, all along.
            self.assertGreater(unread(r), 0, "the input ran dry during the measurement")
            self.assertGreater(stored(), stored0, "nothing was stored during the measurement")
            self.assertLess(share, MAX_CPU_SHARE,
                            "%.0f%% of a CPU while paused on a closed pipe (%.2f s in %.2f s)"
                            % (100 * share, cpu1 - cpu0, t1 - t0))
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(r)
            if w >= 0:
                os.close(w)
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
