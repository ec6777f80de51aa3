"""No secret at any level: put, get, describe, run (with a role assumed
through tests/fake/fake_sts.py, renewed once, and with keys written in an
agent.json) and check-config run at debug level, and everything they write
(standard output, standard error, log files) is searched for the test
credentials: secret keys, session tokens, the role's temporary secret and
token, the external ID, and the access key IDs too, as written and in the forms a careless line
could take (JSON-escaped, URL-encoded, or cut after 16 characters). The
scanner itself is tested on a copy of the output with a secret planted in
it, so that a search that cannot find anything does not pass."""
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
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import ACCESS_KEY, ROOT, SECRET_KEY, FakeKinesis, Server, free_port  # noqa: E402

FAKE_STS = os.path.join(ROOT, "tests", "fake", "fake_sts.py")
SESSION_TOKEN = "SessionTokenNoSecrets/Zm9vYmFy+" + "Qx/+" * 40 + "=="
ROLE = "arn:aws:iam::123456789012:role/no-secrets"
EXTERNAL_ID = "ext-no-secrets_7731"
ROLE1 = ("ASIANOSECRETSONE0001", "roleSecretOne/K7MDENG+bPxRfiCYNOSECRET1", "RoleTokenOne/" + "Ab+/" * 120 + "==")
ROLE2 = ("ASIANOSECRETSTWO0002", "roleSecretTwo/K7MDENG+bPxRfiCYNOSECRET2", "RoleTokenTwo/" + "Cd+/" * 120 + "==")
FILE_KEY, FILE_SECRET = "AKIDFILEEXAMPLE0001", "fileSecret/K7MDENG+bPxRfiCYEXAMPLEFILE"

SECRETS = {"SECRET_KEY": SECRET_KEY, "session token": SESSION_TOKEN, "role secret 1": ROLE1[1],
           "role token 1": ROLE1[2], "role secret 2": ROLE2[1], "role token 2": ROLE2[2],
           "agent.json secret": FILE_SECRET, "external ID": EXTERNAL_ID,
           # Not secret to AWS, but shardpipe names credentials by their
           # source only, so these never appear either.
           "ACCESS_KEY": ACCESS_KEY, "agent.json key": FILE_KEY, "role key 1": ROLE1[0],
           "role key 2": ROLE2[0]}


def forms(secret):
    """The secret as written, and as a line might carry it."""
    out = {secret, secret.replace("/", "\\/"), urllib.parse.quote(secret, safe=""),
           urllib.parse.quote_plus(secret)}
    if len(secret) > 16:
        out.add(secret[:16])          # a message cut short, or a "prefix" shown for debugging
    return out


def leaks(text):
    """[(which secret, the form found)] in text."""
    return sorted((name, f) for name, s in SECRETS.items() for f in forms(s) if f in text)


class FakeSts(Server):
    name = "fake-sts"

    def __init__(self, *args):
        super().__init__()
        self.args = list(args)

    def command(self):
        return ([sys.executable or "/usr/bin/python3", FAKE_STS, "--port", "0"] + self.args, ROOT,
                dict(os.environ))


class NoSecretsTest(unittest.TestCase):
    """Each scenario appends what it wrote to self.written; tearDown
    searches it, and the planted-secret test searches a copy."""

    @classmethod
    def setUpClass(cls):
        # Signatures are verified: the runs really sign with these keys.
        cls.kin = FakeKinesis("--verify-sigv4", "%s:%s" % (ACCESS_KEY, SECRET_KEY),
                              "--verify-sigv4", "%s:%s" % ROLE1[:2], "--verify-sigv4", "%s:%s" % ROLE2[:2],
                              "--verify-sigv4", "%s:%s" % (FILE_KEY, FILE_SECRET),
                              "--stream", "s:2").start()
        cls.all_written = []

    @classmethod
    def tearDownClass(cls):
        cls.kin.stop()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="shardpipe-nosecrets-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.written = []

    def tearDown(self):
        text = "\n".join(self.written)
        type(self).all_written.append(text)
        self.assertEqual(leaks(text), [], "a secret was written:\n" + text[-4000:])

    def keep(self, what, data):
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        self.written.append("==== %s\n%s" % (what, data))
        return data

    def env(self, **extra):
        return cli.clean_env(home=self.dir, extra=dict({"AWS_SESSION_TOKEN": SESSION_TOKEN}, **extra))

    def cmd(self, args, stdin=b"", env=None, want_rc=0):
        argv = [cli.SHARDPIPE] + args
        p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env or self.env(), cwd=self.dir, timeout=120)
        out = self.keep(args[0] + " stdout", p.stdout)   # not the arguments: they hold keys
        err = self.keep(args[0] + " stderr", p.stderr)
        if want_rc is not None:
            self.assertEqual(p.returncode, want_rc, err[-3000:])
        return out, err

    def aws(self, sub, *args):
        return [sub] + list(args) + ["--region", "us-east-1", "--endpoint-url", self.kin.endpoint,
                                     "--log-level", "debug"]

    # ---- the scenarios ----

    def test_put_get_describe_from_environment(self):
        lines = b"".join(b"line %d\n" % i for i in range(300))
        _, err = self.cmd(self.aws("put", "-s", "s", "--linger-ms", "10"), stdin=lines)
        self.assertIn("debug:", err)   # debug level was on: the scan saw its lines
        out, _ = self.cmd(self.aws("get", "s", "--iterator", "trim-horizon", "--json"))
        self.assertIn('"data"', out)
        self.cmd(self.aws("describe", "s"))
        self.cmd(self.aws("describe", "s", "--json"))
        # a stream that does not exist: the error path
        self.cmd(self.aws("describe", "nope"), want_rc=1)

    def test_keys_on_the_command_line(self):
        env = cli.clean_env(home=self.dir, extra={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
        keys = ["--access-key-id", ACCESS_KEY, "--secret-access-key", SECRET_KEY, "--session-token",
                SESSION_TOKEN]
        self.cmd(self.aws("put", "-s", "s", *keys), stdin=b"from argv\n", env=env)
        self.cmd(self.aws("describe", "s", *keys), env=env)
        # a usage error after the keys: the usage text must not echo them
        self.cmd(self.aws("put", *keys) + ["--linger-ms", "x"], env=env, want_rc=2)

    def test_refused_secret(self):
        """Kinesis refuses a wrong secret: the error explains, without it."""
        env = self.env(AWS_SECRET_ACCESS_KEY=ROLE2[1])   # a secret Kinesis does not pair with ACCESS_KEY
        _, err = self.cmd(self.aws("describe", "s"), env=env, want_rc=1)
        self.assertIn("InvalidSignatureException", err)
        self.cmd(self.aws("put", "-s", "s", "--max-attempts", "1"), stdin=b"x\n", env=env, want_rc=1)

    def run_agent(self, cfg, env, send=None, wait_for="running "):
        path = os.path.join(self.dir, "c.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.cmd(["check-config", path], env=env)
        log = os.path.join(self.dir, "agent.log")
        errf = open(os.path.join(self.dir, "stderr"), "wb")
        p = subprocess.Popen([cli.SHARDPIPE, "run", "-c", path, "--log-level", "debug", "--log-file", log],
                             stdin=subprocess.DEVNULL, stdout=errf, stderr=errf, env=env, cwd=self.dir)
        try:
            deadline = time.monotonic() + 30
            while wait_for not in self.read(log):
                self.assertIsNone(p.poll(), self.read(log))
                self.assertLess(time.monotonic(), deadline, self.read(log))
                time.sleep(0.05)
            if send:
                send()
            p.send_signal(signal.SIGUSR1)
            time.sleep(0.3)
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=60), 0, self.read(log))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            errf.close()
            text = self.keep("run log file", self.read(log))
            self.keep("run stderr", self.read(os.path.join(self.dir, "stderr")))
        return text

    @staticmethod
    def read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def test_run_with_assumed_role_renewed(self):
        # The first role set ends within the renewal window: renewed at once.
        sts = FakeSts("--verify-sigv4=%s:%s" % (ACCESS_KEY, SECRET_KEY), "--require-token", SESSION_TOKEN,
                      "--external-id", EXTERNAL_ID, "--issue=" + ":".join(ROLE1 + ("902",)),
                      "--issue=" + ":".join(ROLE2)).start()
        self.addCleanup(sts.stop)
        port = free_port()
        cfg = {"region": "us-east-1", "endpoint": self.kin.endpoint, "assume_role_arn": ROLE,
               "assume_role_external_id": EXTERNAL_ID, "sts_endpoint": sts.endpoint,
               "flows": [{"name": "net", "stream": "s", "linger_ms": 20,
                          "sources": [{"type": "tcp", "port": port}]}]}

        def send():
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"".join(b"role line %d\n" % i for i in range(100)))
            # a renewal is started by a request made once it is due
            deadline = time.monotonic() + 20
            n = 0
            while "renewed temporary credentials" not in self.read(os.path.join(self.dir, "agent.log")):
                self.assertLess(time.monotonic(), deadline, "no renewal")
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(b"waiting %d\n" % n)
                n += 1
                time.sleep(0.3)
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"after renewal\n")
            time.sleep(0.5)
            self.sent = 101 + n
        text = self.run_agent(cfg, self.env(), send)
        self.assertIn("assumed with credentials from environment", text)
        self.assertIn("records=%d" % self.sent, text)

    def test_run_and_check_config_with_keys_in_agent_json(self):
        env = cli.clean_env(home=self.dir, extra={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
        port = free_port()
        cfg = {"kinesis.endpoint": self.kin.endpoint, "kinesis.region": "us-east-1",
               "awsAccessKeyId": FILE_KEY, "awsSecretAccessKey": FILE_SECRET,
               "checkpointFile": os.path.join(self.dir, "ck"), "cloudwatch.emitMetrics": False,
               "flows": [{"filePattern": os.path.join(self.dir, "*.log"), "kinesisStream": "s",
                          "initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 50}]}
        with open(os.path.join(self.dir, "a.log"), "w") as f:
            f.write("file line\n")
        text = self.run_agent(cfg, env)
        self.assertIn("credentials from", text)
        # check-config of broken files that hold the secret
        bad = dict(cfg, awsAccessKeyId="not a key")
        for i, c in enumerate([bad, dict(cfg, awsSecretAccessKey=12345), dict(cfg, flows=[{"bad": FILE_SECRET}])]):
            path = os.path.join(self.dir, "bad%d.json" % i)
            with open(path, "w") as f:
                json.dump(c, f)
            self.cmd(["check-config", path], env=env, want_rc=1)
        path = os.path.join(self.dir, "broken.json")
        with open(path, "w") as f:
            f.write('{"awsSecretAccessKey": "%s", oops}' % FILE_SECRET)
        self.cmd(["check-config", path], env=env, want_rc=1)

    def test_zz_scanner_finds_a_planted_secret(self):
        """Runs last (the name): a copy of everything the scenarios wrote,
        with each secret planted in each of its forms, must be caught."""
        written = "\n".join(type(self).all_written)
        self.assertGreater(len(written), 2000, "the scenarios wrote too little to mean anything")
        self.assertEqual(leaks(written), [])
        for name, s in SECRETS.items():
            for f in forms(s):
                mid = len(written) // 2
                planted = written[:mid] + "shardpipe: debug: signing with " + f + "\n" + written[mid:]
                self.assertIn((name, f), leaks(planted), "the scanner misses %s as %r" % (name, f))


if __name__ == "__main__":
    unittest.main()
