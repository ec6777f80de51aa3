"""Local Kinesis servers for the tests: kinesalite, kinesis-local
(kinesis-mock) and the project's own fake server, each bound to 127.0.0.1 on a
free port, checked to listen on loopback only, and always stopped afterwards.

botocore (Debian's python3-botocore) is the client used to set streams up and
inspect them: an implementation independent of shardpipe's own.

    with Emulator("kinesalite") as emu:
        emu.create_stream("s", 4)
        emu.list_shards("s")
"""
import atexit
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import botocore.config
import botocore.session

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NPM_MODULES = os.path.join(ROOT, ".deps", "npm", "node_modules")
EMU_DIR = os.path.join(ROOT, "tests", "emu")
FAKE_SERVER = os.path.join(ROOT, "tests", "fake", "fake_kinesis.py")

REGION = "us-east-1"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
MAX_HASH = 2 ** 128 - 1


def free_port():
    """A TCP port free on 127.0.0.1 right now (the usual small race applies)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hash_key(partition_key):
    """Kinesis routing hash: MD5 of the UTF-8 key as a big-endian integer."""
    if isinstance(partition_key, str):
        partition_key = partition_key.encode("utf-8")
    return int.from_bytes(hashlib.md5(partition_key).digest(), "big")


def shard_for(shards, partition_key=None, explicit_hash_key=None):
    """The id of the open shard whose ListShards range holds the key's hash."""
    h = int(explicit_hash_key) if explicit_hash_key is not None else hash_key(partition_key)
    for s in shards:
        if s["SequenceNumberRange"].get("EndingSequenceNumber"):
            continue
        r = s["HashKeyRange"]
        if int(r["StartingHashKey"]) <= h <= int(r["EndingHashKey"]):
            return s["ShardId"]
    raise AssertionError("no open shard holds hash %d" % h)


def make_client(endpoint, secret=SECRET_KEY, access_key=ACCESS_KEY, retries=0):
    """A botocore Kinesis client for a local endpoint, with dummy credentials
    and nothing read from ~/.aws (so no profile can point it elsewhere)."""
    if not endpoint.startswith("http://127.0.0.1:"):
        raise ValueError("tests talk to loopback only, not %r" % endpoint)
    session = botocore.session.Session()
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    session.set_config_variable("profile", None)
    config = botocore.config.Config(
        retries={"max_attempts": retries, "mode": "standard"} if retries else {"total_max_attempts": 1},
        connect_timeout=5, read_timeout=60, parameter_validation=False)
    return session.create_client(
        "kinesis", region_name=REGION, endpoint_url=endpoint,
        aws_access_key_id=access_key, aws_secret_access_key=secret, config=config)


def _listening_sockets(pids):
    """(address-hex, port) of every TCP socket in LISTEN state owned by pids,
    read from /proc so that the check needs no tool at all."""
    inodes = set()
    for pid in pids:
        fd_dir = "/proc/%d/fd" % pid
        try:
            for fd in os.listdir(fd_dir):
                try:
                    target = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                        addr, port = cols[1].split(":")
                        found.append((addr, int(port, 16)))
        except OSError:
            pass
    return found


def _group_pids(pgid):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getpgid(int(name)) == pgid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


# IPv4 127.0.0.1, and IPv6 ::1 or ::ffff:127.0.0.1, as /proc/net prints them.
_LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000",
                 "0000000000000000FFFF00000100007F"}


def assert_loopback_only(pgid, what):
    socks = _listening_sockets(_group_pids(pgid))
    bad = [s for s in socks if s[0] not in _LOOPBACK_HEX]
    if bad:
        raise RuntimeError("%s listens on a non-loopback address %r: refusing to run tests"
                           % (what, bad))
    return socks


_live = set()   # process groups of servers not stopped yet


def _kill_live():
    for pgid in list(_live):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        _live.discard(pgid)


def _on_sigterm(signo, frame):
    # A test run killed by `timeout` must not leave emulators behind (they
    # run in their own sessions, so they would outlive us).
    _kill_live()
    signal.signal(signo, signal.SIG_DFL)
    os.kill(os.getpid(), signo)


atexit.register(_kill_live)
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:      # not the main thread
        pass


class Server:
    """Common part: run a command in its own process group, wait for its port,
    check it is loopback-only, kill the whole group on stop()."""

    name = "server"
    start_timeout = 30.0

    def __init__(self):
        self.proc = None
        self.port = None
        self.log_path = None
        self._log = None

    # subclasses fill these in
    def command(self):
        raise NotImplementedError

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        argv, cwd, env = self.command()
        fd, self.log_path = tempfile.mkstemp(prefix="shardpipe-%s-" % self.name, suffix=".log")
        self._log = os.fdopen(fd, "w+b")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _live.add(self.proc.pid)
        try:
            self._wait_ready()
            assert_loopback_only(self.proc.pid, self.name)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log()))
            if self.port is None:
                self.port = self._port_from_log()
            if self.port is not None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("%s did not answer within %.0f s:\n%s" % (self.name, self.start_timeout, self.log()))

    def _port_from_log(self):
        """Port announced as "listening PORT" (for servers started on port 0)."""
        for line in self.log().splitlines():
            if line.startswith("listening "):
                return int(line.split()[1])
        return None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        if self.proc is not None:
            _live.discard(self.proc.pid)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.log_path and os.environ.get("SHARDPIPE_KEEP_LOGS") != "1":
            try:
                os.unlink(self.log_path)
            except OSError:
                pass
            self.log_path = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # --- botocore helpers --------------------------------------------------
    def client(self, **kw):
        return make_client(self.endpoint, **kw)

    def create_stream(self, name, shards, timeout=60.0):
        c = self.client()
        c.create_stream(StreamName=name, ShardCount=shards)
        return wait_active(c, name, timeout)

    def list_shards(self, name):
        return list_shards(self.client(), name)


def wait_active(client, name, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        d = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return d
        if time.monotonic() > deadline:
            raise RuntimeError("stream %s still %s after %.0f s" % (name, d["StreamStatus"], timeout))
        time.sleep(0.05)


def list_shards(client, name):
    """Every shard of the stream, following NextToken (kinesalite never sends one)."""
    out, resp = [], client.list_shards(StreamName=name)
    out += resp["Shards"]
    while resp.get("NextToken"):
        resp = client.list_shards(NextToken=resp["NextToken"])
        out += resp["Shards"]
    return out


class Kinesalite(Server):
    name = "kinesalite"

    def command(self):
        env = dict(os.environ, KINESALITE_STREAM_MS="50")
        return (["node", os.path.join(EMU_DIR, "kinesalite.js"), "0"], ROOT, env)


class KinesisLocal(Server):
    """kinesis-mock from npm. It opens server.json relative to its working
    directory and hard-codes 0.0.0.0, hence the cwd and the loopback preload.
    We use its plain-HTTP port; the TLS one is also forced onto loopback."""
    name = "kinesis-local"
    start_timeout = 90.0

    def command(self):
        self.port = free_port()
        tls_port = free_port()
        env = dict(os.environ, KINESIS_MOCK_PLAIN_PORT=str(self.port),
                   KINESIS_MOCK_TLS_PORT=str(tls_port), LOG_LEVEL="WARN",
                   CREATE_STREAM_DURATION="50ms", DELETE_STREAM_DURATION="50ms",
                   SPLIT_SHARD_DURATION="50ms", MERGE_SHARDS_DURATION="50ms",
                   UPDATE_SHARD_COUNT_DURATION="50ms")
        pkg = os.path.join(NPM_MODULES, "kinesis-local")
        return (["node", "-r", os.path.join(EMU_DIR, "loopback.js"), "main.js"], pkg, env)

    def _wait_ready(self):
        super()._wait_ready()
        # The port opens a moment before the routes answer: poll a cheap call.
        c = self.client()
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                c.list_streams()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


class FakeKinesis(Server):
    """tests/fake/fake_kinesis.py, with extra command-line options."""
    name = "fake-kinesis"

    def __init__(self, *args):
        super().__init__()
        self.args = list(args)

    def command(self):
        return ([sys.executable if sys.executable else "/usr/bin/python3", FAKE_SERVER,
                 "--port", "0"] + self.args, ROOT, dict(os.environ))

    def control(self, path, body=None):
        """Calls the fake server's control API (/__control/...); returns JSON."""
        import http.client
        import json
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request("POST" if body is not None else "GET", "/__control/" + path, body=data,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status != 200:
                raise RuntimeError("control %s: %d %s" % (path, resp.status, raw[:200]))
            return json.loads(raw) if raw else None
        finally:
            conn.close()


KINDS = {"kinesalite": Kinesalite, "kinesis-local": KinesisLocal}


def Emulator(kind="kinesalite"):
    """Emulator("kinesalite") or Emulator("kinesis-local"): a Server to use in `with`."""
    return KINDS[kind]()


def raw_call(port, op, params, secret=SECRET_KEY, access_key=ACCESS_KEY, region=REGION,
             sign=True, headers=None, timeout=30):
    """One Kinesis request sent by hand (signed with botocore unless sign is
    False), for what a botocore client cannot do: see the exact status,
    headers and body, send broken requests, read members that Debian's older
    botocore model does not know (MaxRecordSizeInKiB). params may be a dict or
    raw bytes. Returns (status, headers, body bytes); connection errors raise."""
    import http.client
    import json
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    data = params if isinstance(params, bytes) else json.dumps(params).encode()
    req = AWSRequest(method="POST", url="http://127.0.0.1:%d/" % port, data=data,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": "Kinesis_20131202." + op})
    if sign:
        SigV4Auth(Credentials(access_key, secret), "kinesis", region).add_auth(req)
    hdrs = dict(req.headers.items())
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/", body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()
