"""Runs the shardpipe binary the way the integration tests need: a clean
environment (dummy credentials, a throw-away HOME, no profile, no proxy, no
instance metadata), the loopback endpoint, and parsed results."""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile

from emulators import ACCESS_KEY, REGION, ROOT, SECRET_KEY

SHARDPIPE = os.environ.get("SHARDPIPE", os.path.join(ROOT, "shardpipe"))
# The contract's counters, in this order; more "key=value" may follow them.
STATS_RE = re.compile(r"^shardpipe: put: records=(\d+) bytes=(\d+) requests=(\d+) retried=(\d+) "
                      r"failed=(\d+) split=(\d+) truncated=(\d+) dropped=(\d+)((?: [a-z0-9_]+=\d+)*)$")
STATS_KEYS = ("records", "bytes", "requests", "retried", "failed", "split", "truncated", "dropped")


class Result:
    def __init__(self, argv, proc):
        self.argv, self.rc = argv, proc.returncode
        self.stdout, self.stderr = proc.stdout, proc.stderr
        self.err = proc.stderr.decode("utf-8", "replace")

    @property
    def stats(self):
        """The counters of put's last stderr line, or None if it is missing."""
        lines = [l for l in self.err.splitlines() if l.strip()]
        m = STATS_RE.match(lines[-1]) if lines else None
        if not m:
            return None
        stats = dict(zip(STATS_KEYS, map(int, m.groups()[:8])))
        for kv in m.group(9).split():
            k, v = kv.split("=")
            stats.setdefault(k, int(v))
        return stats

    def json_lines(self):
        return [json.loads(l) for l in self.stdout.splitlines() if l.strip()]

    def __str__(self):
        return "%s -> exit %s\nstderr (tail):\n%s" % (
            " ".join(self.argv[:6]), self.rc, "\n".join(self.err.splitlines()[-15:]))


def clean_env(secret=SECRET_KEY, home=None, extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "BOTO_")) and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=secret, HOME=home,
               AWS_EC2_METADATA_DISABLED="true", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost")
    env.update(extra or {})
    return env


def run(args, endpoint, stdin=b"", secret=SECRET_KEY, timeout=600, env=None, region=REGION):
    """shardpipe ARGS --region R --endpoint-url ENDPOINT, stdin given, output captured."""
    if not endpoint.startswith("http://127.0.0.1:"):
        raise ValueError("tests talk to loopback only")
    if not os.access(SHARDPIPE, os.X_OK):
        raise AssertionError("%s is missing: build it first (make shardpipe)" % SHARDPIPE)
    home = tempfile.mkdtemp(prefix="shardpipe-home-")
    argv = [SHARDPIPE] + list(args) + ["--region", region, "--endpoint-url", endpoint]
    try:
        proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=clean_env(secret, home, env), timeout=timeout, cwd=home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return Result(argv, proc)


def lines_bytes(lines):
    return b"".join(l + b"\n" for l in lines)


def decoded(records):
    """[(partition_key, data bytes)] from get --json objects or fake dumps."""
    return [(r["partition_key"], base64.b64decode(r["data"])) for r in records]


def json_loads(raw):
    return json.loads(raw.decode("utf-8"))


class Running:
    """A shardpipe started with start(): write to its standard input while it
    runs (e.g. a paced feed), then finish() closes the input and waits,
    returning a Result like run()'s."""

    def __init__(self, argv, proc, home):
        self.argv, self.proc, self.home = argv, proc, home

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def finish(self, timeout=600):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            out, err = self.proc.stdout.read(), None
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
        with self._err as f:
            f.seek(0)
            err = f.read()
        return Result(self.argv, subprocess.CompletedProcess(self.argv, self.proc.returncode, out, err))


def start(args, endpoint, secret=SECRET_KEY, env=None, region=REGION):
    """Like run(), but returns at once with a Running whose standard input
    stays open; its stderr goes to a temporary file (no pipe to fill)."""
    if not endpoint.startswith("http://127.0.0.1:"):
        raise ValueError("tests talk to loopback only")
    if not os.access(SHARDPIPE, os.X_OK):
        raise AssertionError("%s is missing: build it first (make shardpipe)" % SHARDPIPE)
    home = tempfile.mkdtemp(prefix="shardpipe-home-")
    argv = [SHARDPIPE] + list(args) + ["--region", region, "--endpoint-url", endpoint]
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                            env=clean_env(secret, home, env), cwd=home)
    r = Running(argv, proc, home)
    r._err = err
    return r
