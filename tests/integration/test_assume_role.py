"""assumeRoleARN: `shardpipe run` resolves the base credentials, calls STS
AssumeRole (tests/fake/fake_sts.py, which verifies the request's SigV4
signature for service sts with botocore) and writes to a fake Kinesis that
verifies signatures too and accepts ONLY the temporary credentials STS
handed out: a record that arrives proves the role was assumed and used.
Also: both configuration dialects, a base session token, refusal (exit 1,
the role named), renewal before expiry, a slow renewal that does not stop
the records, renewal on ExpiredTokenException, and that no secret, token or
external ID ever reaches the log."""
import base64
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
from emulators import ROOT, FakeKinesis, Server, free_port  # noqa: E402

FAKE_STS = os.path.join(ROOT, "tests", "fake", "fake_sts.py")

ROLE = "arn:aws:iam::123456789012:role/shardpipe-writer"
BASE_KEY, BASE_SECRET = "AKIDBASEEXAMPLE", "baseSecret/K7MDENG+bPxRfiCYEXAMPLEKEY"
BASE_TOKEN = "BaseSessionToken/abc+def=="
# Characters XML must escape, and a token of a realistic length.
ROLE1 = ("ASIAROLEKEYONE000001", "role&Secret<one>/K7MDENG+EXAMPLE", "RoleTokenOne/" + "Ab+/" * 150 + "==")
ROLE2 = ("ASIAROLEKEYTWO000002", "role&Secret<two>/K7MDENG+EXAMPLE", "RoleTokenTwo/" + "Cd+/" * 150 + "==")
EXTERNAL_ID = "ext-id_4242"
SECRETS = (BASE_SECRET, BASE_TOKEN, ROLE1[1], ROLE1[2], ROLE2[1], ROLE2[2], "role&amp;Secret",
           EXTERNAL_ID)


class FakeSts(Server):
    """tests/fake/fake_sts.py with extra command-line options."""
    name = "fake-sts"

    def __init__(self, *args):
        super().__init__()
        self.args = list(args)

    def command(self):
        return ([sys.executable or "/usr/bin/python3", FAKE_STS, "--port", "0"] + self.args,
                ROOT, dict(os.environ))

    def control(self, path, body=None):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request("POST" if body is not None else "GET", "/__control/" + path, body=data)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status != 200:
                raise RuntimeError("control %s: %d %s" % (path, resp.status, raw[:200]))
            return json.loads(raw) if raw else None
        finally:
            conn.close()

    def log_entries(self):
        return self.control("log")


def issue(creds, expires_in=None):
    return "--issue=" + ":".join(list(creds) + ([str(expires_in)] if expires_in else []))


def sts(*extra, issue_args=None):
    args = ["--verify-sigv4=%s:%s" % (BASE_KEY, BASE_SECRET)]
    args += issue_args if issue_args is not None else [issue(ROLE1)]
    return FakeSts(*(args + list(extra))).start()


def kinesis():
    """Accepts the two role keys only: the base key is an unknown client."""
    return FakeKinesis("--verify-sigv4", "%s:%s" % ROLE1[:2], "--verify-sigv4", "%s:%s" % ROLE2[:2],
                       "--stream", "s:2").start()


def records(kin):
    out = []
    for shard in kin.control("records?stream=s").get("s", {}).values():
        out += [base64.b64decode(r["data"]) for r in shard]
    return out


def puts(kin):
    return [e for e in kin.control("log") if e["op"] in ("PutRecords", "PutRecord")]


def wait_for(pred, what, timeout=30.0, agent=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if agent is not None and agent.proc.poll() is not None:
            raise AssertionError("agent exited %s while waiting for %s:\n%s"
                                 % (agent.proc.returncode, what, agent.text()))
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s%s" % (what, ":\n" + agent.text() if agent else ""))


class Agent:
    """One `shardpipe run -c FILE` with its own directory, HOME and log."""

    def __init__(self, cfg, env=None):
        self.dir = tempfile.mkdtemp(prefix="shardpipe-role-")
        self.cfg_path = os.path.join(self.dir, "agent.json")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.env = cli.clean_env(secret=BASE_SECRET, home=self.dir, extra=dict(
            {"AWS_ACCESS_KEY_ID": BASE_KEY}, **(env or {})))
        self.proc = None
        self.write(cfg)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def write(self, cfg):
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)

    def start(self, wait=True):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([cli.SHARDPIPE, "run", "-c", self.cfg_path, "--log-level", "debug"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.dir)
        if wait:
            wait_for(lambda: "running " in self.text(), "the agent to start", agent=self)
        return self

    def run_to_exit(self, timeout=60):
        self.start(wait=False)
        rc = self.proc.wait(timeout=timeout)
        self.log.close()
        return rc

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class AssumeRoleTest(unittest.TestCase):
    def setUp(self):
        self.kin = kinesis()
        self.addCleanup(self.kin.stop)

    def agent(self, cfg, env=None):
        a = Agent(cfg, env)
        self.addCleanup(a.close)
        return a

    def tcp_config(self, port, **top):
        cfg = {"region": "us-east-1", "endpoint": self.kin.endpoint, "assume_role_arn": ROLE,
               "checkpoint_file": "/dev/null/unused",
               "flows": [{"name": "net", "stream": "s", "linger_ms": 50,
                          "sources": [{"type": "tcp", "port": port}]}]}
        cfg.update(top)
        return cfg

    def assert_no_secrets(self, text):
        for s in SECRETS:
            self.assertNotIn(s, text)

    def test_base_credentials_alone_are_refused(self):
        """The setup is meaningful: Kinesis refuses the base credentials."""
        r = cli.run(["describe", "s"], self.kin.endpoint, secret=BASE_SECRET,
                    env={"AWS_ACCESS_KEY_ID": BASE_KEY})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("UnrecognizedClientException", r.err)

    def test_agent_json_file_flow(self):
        """agent.json: assumeRoleARN + assumeRoleExternalId, base credentials
        with a session token from the environment, STS from AWS_ENDPOINT_URL_STS."""
        fake = sts("--require-token", BASE_TOKEN, "--external-id", EXTERNAL_ID)
        self.addCleanup(fake.stop)
        a = self.agent({}, env={"AWS_SESSION_TOKEN": BASE_TOKEN, "AWS_ENDPOINT_URL_STS": fake.endpoint})
        os.mkdir(a.path("logs"))
        lines = [b"file line %d" % i for i in range(50)]
        with open(a.path("logs", "app.log"), "wb") as f:
            f.write(b"".join(l + b"\n" for l in lines))
        a.write({"kinesis.endpoint": self.kin.endpoint, "kinesis.region": "us-east-1",
                 "assumeRoleARN": ROLE, "assumeRoleExternalId": EXTERNAL_ID, "sts.endpoint": "",
                 "checkpointFile": a.path("checkpoints"), "cloudwatch.emitMetrics": False,
                 "flows": [{"filePattern": a.path("logs", "*.log"), "kinesisStream": "s",
                            "initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 100}]})
        a.start()
        wait_for(lambda: len(records(self.kin)) >= len(lines), "the file's records", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        self.assertEqual(sorted(records(self.kin)), sorted(lines))
        self.assertTrue(puts(self.kin))
        self.assertEqual({e["access_key"] for e in puts(self.kin)}, {ROLE1[0]})

        calls = fake.log_entries()
        self.assertEqual(len(calls), 1, calls)
        c = calls[0]
        self.assertEqual((c["status"], c["access_key"], c["region"], c["token"]),
                         (200, BASE_KEY, "us-east-1", BASE_TOKEN))
        self.assertEqual(c["params"]["RoleArn"], ROLE)
        self.assertEqual(c["params"]["ExternalId"], EXTERNAL_ID)
        self.assertEqual(c["params"]["DurationSeconds"], "3600")
        self.assertRegex(c["params"]["RoleSessionName"], r"^shardpipe-\d{10}$")
        self.assertTrue(c["user_agent"].startswith("shardpipe/"))

        log = a.text()
        self.assertIn("credentials from role %s assumed with credentials from environment "
                      "(AWS_ACCESS_KEY_ID)" % ROLE, log)
        self.assert_no_secrets(log)

    def test_shardpipe_dialect_tcp_profile_base(self):
        """The shardpipe dialect: assume_role_arn, assume_role_session_name and
        sts_endpoint; the base credentials from the shared credentials file."""
        fake = sts()
        self.addCleanup(fake.stop)
        port = free_port()
        a = self.agent({}, env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                                "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1"})
        os.mkdir(a.path(".aws"))
        with open(a.path(".aws", "credentials"), "w") as f:
            f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (BASE_KEY, BASE_SECRET))
        a.write(self.tcp_config(port, assume_role_session_name="sp-integration",
                                sts_endpoint=fake.endpoint, checkpoint_file=a.path("ck")))
        a.start()
        lines = [b"tcp line %d" % i for i in range(200)]
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"".join(l + b"\n" for l in lines))
        wait_for(lambda: len(records(self.kin)) >= len(lines), "the TCP records", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        self.assertEqual(sorted(records(self.kin)), sorted(lines))
        self.assertEqual({e["access_key"] for e in puts(self.kin)}, {ROLE1[0]})
        calls = fake.log_entries()
        self.assertEqual(len(calls), 1, calls)
        self.assertEqual(calls[0]["params"]["RoleSessionName"], "sp-integration")
        self.assertNotIn("ExternalId", calls[0]["params"])
        self.assertIsNone(calls[0]["token"])
        self.assertIn("credentials from role %s assumed with credentials from shared credentials file %s, "
                      "profile [default]" % (ROLE, a.path(".aws", "credentials")), a.text())
        self.assert_no_secrets(a.text())

    def test_denied_exits_1_naming_the_role(self):
        fake = sts("--deny", ROLE)
        self.addCleanup(fake.stop)
        port = free_port()
        a = self.agent({}, env={"AWS_ENDPOINT_URL_STS": fake.endpoint})
        a.write(self.tcp_config(port, checkpoint_file=a.path("ck")))
        # the configuration itself is valid
        p = subprocess.run([cli.SHARDPIPE, "check-config", a.cfg_path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=a.env)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(a.run_to_exit(), 1, a.text())
        log = a.text()
        self.assertIn("assuming role %s with credentials from environment (AWS_ACCESS_KEY_ID): "
                      "STS refused (HTTP 403): AccessDenied: User: arn:aws:iam::123456789012:user/%s "
                      "is not authorized to perform: sts:AssumeRole on resource: %s" % (ROLE, BASE_KEY, ROLE), log)
        self.assertIn("trust policy", log)
        self.assertIn("(endpoint %s, request id " % fake.endpoint, log)
        self.assertNotIn("running ", log)
        self.assert_no_secrets(log)
        self.assertEqual(puts(self.kin), [])

    def test_wrong_external_id_is_denied_and_never_shown(self):
        fake = sts("--external-id", "the-right-one")
        self.addCleanup(fake.stop)
        a = self.agent({}, env={"AWS_ENDPOINT_URL": fake.endpoint})   # the global variable works too
        a.write(self.tcp_config(free_port(), assume_role_external_id=EXTERNAL_ID, checkpoint_file=a.path("ck")))
        self.assertEqual(a.run_to_exit(), 1, a.text())
        self.assertIn("AccessDenied", a.text())
        self.assertIn(ROLE, a.text())
        self.assert_no_secrets(a.text())
        self.assertEqual(fake.log_entries()[0]["params"]["ExternalId"], EXTERNAL_ID)

    def test_sts_unreachable_and_malformed(self):
        port = free_port()   # nothing listens there
        a = self.agent({}, env={"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:%d" % port})
        a.write(self.tcp_config(free_port(), checkpoint_file=a.path("ck")))
        self.assertEqual(a.run_to_exit(), 1, a.text())
        self.assertIn("assuming role %s with credentials from environment (AWS_ACCESS_KEY_ID): "
                      "STS at http://127.0.0.1:%d" % (ROLE, port), a.text())

        fake = sts()
        self.addCleanup(fake.stop)
        fake.control("script", [{"malformed": True}])
        b = self.agent({}, env={"AWS_ENDPOINT_URL_STS": fake.endpoint})
        b.write(self.tcp_config(free_port(), checkpoint_file=b.path("ck")))
        self.assertEqual(b.run_to_exit(), 1, b.text())
        self.assertIn("malformed AssumeRole response", b.text())
        self.assert_no_secrets(b.text())

    def test_renews_before_expiry(self):
        """Credentials that expire in 15 min + 5 s are renewed about 5 s later:
        the first request after that starts the renewal and, like the ones
        while it runs, is signed with the current credentials; the requests
        after it use the new ones."""
        fake = sts(issue_args=[issue(ROLE1, 900 + 5), issue(ROLE2)])
        self.addCleanup(fake.stop)
        port = free_port()
        a = self.agent({}, env={"AWS_ENDPOINT_URL_STS": fake.endpoint})
        a.write(self.tcp_config(port, checkpoint_file=a.path("ck")))
        a.start()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"first\n")
            wait_for(lambda: len(records(self.kin)) == 1, "the first record", agent=a)
            time.sleep(max(0.0, fake.log_entries()[0]["time"] + 5.5 - time.time()))
            s.sendall(b"second\n")
            wait_for(lambda: len(records(self.kin)) == 2, "the second record", agent=a)
            wait_for(lambda: "renewed temporary credentials" in a.text(), "the renewal", agent=a)
            s.sendall(b"third\n")
            wait_for(lambda: len(records(self.kin)) == 3, "the third record", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        self.assertEqual(sorted(records(self.kin)), [b"first", b"second", b"third"])
        keys = [e["access_key"] for e in puts(self.kin)]
        self.assertEqual((keys[0], keys[-1]), (ROLE1[0], ROLE2[0]), keys)
        calls = fake.log_entries()
        self.assertEqual([c["issued"] for c in calls], [ROLE1[0], ROLE2[0]])
        self.assertIn("renewed temporary credentials (role %s assumed" % ROLE, a.text())
        self.assert_no_secrets(a.text())

    def test_slow_renewal_does_not_stop_records(self):
        """Issue 8: a renewal against an STS that answers after 3 s runs on
        the loop. Records read during those 3 s are stored with the current
        credentials (no gap in the stored records), and the ones after it
        with the new credentials; one STS call renews."""
        fake = sts(issue_args=[issue(ROLE1, 900 + 3), issue(ROLE2)])
        self.addCleanup(fake.stop)
        fake.control("script", ["ok", {"delay_ms": 3000}])
        port = free_port()
        a = self.agent({}, env={"AWS_ENDPOINT_URL_STS": fake.endpoint})
        a.write(self.tcp_config(port, checkpoint_file=a.path("ck")))
        a.start()
        sent = []
        with socket.create_connection(("127.0.0.1", port)) as s:
            renewed = None
            deadline = time.monotonic() + 30
            i = 0
            # a line every 50 ms until 2 s after the renewal ended
            while time.monotonic() < deadline and (renewed is None or time.monotonic() < renewed + 2):
                line = b"line %d" % i
                s.sendall(line + b"\n")
                sent.append(line)
                i += 1
                time.sleep(0.05)
                if renewed is None and "renewed temporary credentials" in a.text():
                    renewed = time.monotonic()
            self.assertIsNotNone(renewed, "no renewal within 30 s:\n" + a.text())
            wait_for(lambda: len(records(self.kin)) >= len(sent), "all records", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        self.assertEqual(sorted(records(self.kin)), sorted(sent))

        calls = fake.log_entries()
        self.assertEqual([c["issued"] for c in calls], [ROLE1[0], ROLE2[0]], calls)
        asked = calls[1]["time"]            # the renewal reached STS; answered 3 s later
        ok = [e for e in puts(self.kin) if e["status"] == 200]
        times = [e["time"] for e in ok]
        gaps = [b - t for t, b in zip(times, times[1:])]
        self.assertLess(max(gaps), 1.0, "largest gap between stored batches: %.2f s" % max(gaps))
        during = [e for e in ok if asked + 0.2 < e["time"] < asked + 2.8]
        self.assertGreaterEqual(len(during), 10, "batches stored while STS was answering: %d" % len(during))
        self.assertEqual({e["access_key"] for e in during}, {ROLE1[0]})
        self.assertEqual(ok[-1]["access_key"], ROLE2[0])
        self.assertEqual({e["status"] for e in puts(self.kin)}, {200})
        self.assert_no_secrets(a.text())

    def test_expired_token_from_kinesis_assumes_again(self):
        fake = sts(issue_args=[issue(ROLE1), issue(ROLE2)])
        self.addCleanup(fake.stop)
        self.kin.control("script", [{"error": {"status": 400, "type": "ExpiredTokenException",
                                               "message": "The security token included in the request is expired"}}])
        port = free_port()
        a = self.agent({}, env={"AWS_ENDPOINT_URL_STS": fake.endpoint})
        a.write(self.tcp_config(port, checkpoint_file=a.path("ck")))
        a.start()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"retried\n")
        wait_for(lambda: records(self.kin) == [b"retried"], "the retried record", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        p = puts(self.kin)
        self.assertEqual([(e["access_key"], e["status"]) for e in p], [(ROLE1[0], 400), (ROLE2[0], 200)])
        self.assertEqual(len(fake.log_entries()), 2)
        self.assert_no_secrets(a.text())


if __name__ == "__main__":
    unittest.main()
