"""Credentials from the platform: instance metadata (IMDSv2, the IMDSv1
fallback, no role), container credentials (full URI, the Authorization token
from a variable or a file read again at each renewal), web identity (STS
AssumeRoleWithWebIdentity, unsigned, the token file read again at each
renewal), the chain's order, and renewal before expiry during a run.

Every source is a fake of our own on 127.0.0.1 (tests/fake/fake_metadata.py,
tests/fake/fake_sts.py); the fake Kinesis verifies SigV4 and knows ONLY the
keys the platform source hands out, so a stored record proves they were
used. Instance metadata stays disabled wherever it is not under test, and is
otherwise pointed at loopback: 169.254.x is never contacted."""
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

FAKE_METADATA = os.path.join(ROOT, "tests", "fake", "fake_metadata.py")
FAKE_STS = os.path.join(ROOT, "tests", "fake", "fake_sts.py")

ROLE = "arn:aws:iam::123456789012:role/irsa-writer"
KEY1 = ("ASIAPLATFORMKEY00001", "platformSecret/one+EXAMPLE", "PlatformTokenOne/" + "Ab+/" * 100)
KEY2 = ("ASIAPLATFORMKEY00002", "platformSecret/two+EXAMPLE", "PlatformTokenTwo/" + "Cd+/" * 100)
AUTH1, AUTH2 = "ContainerAuthOne-4242", "ContainerAuthTwo-4343"
WEB1, WEB2 = "eyJhbGciOiJSUzI1NiJ9.webTokenOne.sig1", "eyJhbGciOiJSUzI1NiJ9.webTokenTwo.sig2"
SECRETS = (KEY1[1], KEY1[2], KEY2[1], KEY2[2], AUTH1, AUTH2, WEB1, WEB2, "IMDSTOKEN-")


class Fake(Server):
    def __init__(self, script, *args):
        super().__init__()
        self.script, self.args = script, list(args)
        self.name = os.path.basename(script)

    def command(self):
        return ([sys.executable or "/usr/bin/python3", self.script, "--port", "0"] + self.args,
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


# No keys in the environment: each test names its one source.
NO_KEYS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}


class Agent:
    """One `shardpipe run -c FILE` reading a TCP port, with its own HOME."""

    def __init__(self, kin, env):
        self.dir = tempfile.mkdtemp(prefix="shardpipe-platform-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "agent.log")
        cfg = {"region": "us-east-1", "endpoint": kin.endpoint,
               "checkpoint_file": os.path.join(self.dir, "ck"),
               "flows": [{"name": "net", "stream": "s", "linger_ms": 50,
                          "sources": [{"type": "tcp", "port": self.port}]}]}
        self.cfg_path = os.path.join(self.dir, "agent.json")
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)
        self.env = cli.clean_env(home=self.dir, extra=dict(NO_KEYS, **env))
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([cli.SHARDPIPE, "run", "-c", self.cfg_path, "--log-level", "debug"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.dir)
        wait_for(lambda: "running " in self.text(), "the agent to start", agent=self)
        return self

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


class PlatformCredsTest(unittest.TestCase):
    def setUp(self):
        self.kin = FakeKinesis("--verify-sigv4", "%s:%s" % KEY1[:2], "--verify-sigv4", "%s:%s" % KEY2[:2],
                               "--stream", "s:2").start()
        self.addCleanup(self.kin.stop)
        self.tmp = tempfile.mkdtemp(prefix="shardpipe-platform-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def fake(self, script, *args):
        f = Fake(script, *args).start()
        self.addCleanup(f.stop)
        return f

    def imds(self, *args):
        return self.fake(FAKE_METADATA, "--service", "imds", *args)

    def container(self, *args):
        return self.fake(FAKE_METADATA, "--service", "container", *args)

    def sts(self, *args):
        return self.fake(FAKE_STS, *args)

    def file(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def put(self, env, lines=(b"one", b"two", b"three"), args=()):
        return cli.run(["put", "-s", "s"] + list(args), self.kin.endpoint, stdin=b"".join(l + b"\n" for l in lines),
                       env=dict(NO_KEYS, **env))

    def assert_stored_with(self, r, key, lines=(b"one", b"two", b"three")):
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(sorted(records(self.kin)), sorted(lines))
        self.assertEqual({e["access_key"] for e in puts(self.kin)}, {key})

    def assert_no_secrets(self, text):
        for s in SECRETS:
            self.assertNotIn(s, text)

    def agent(self, env):
        a = Agent(self.kin, env)
        self.addCleanup(a.close)
        return a

    # ---- instance metadata ----

    def test_imds_v2_alone(self):
        md = self.imds(issue(KEY1))
        r = self.put({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint})
        self.assert_stored_with(r, KEY1[0])
        log = md.log_entries()
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in log],
                         [("PUT", "/latest/api/token", 200),
                          ("GET", "/latest/meta-data/iam/security-credentials/", 200),
                          ("GET", "/latest/meta-data/iam/security-credentials/shardpipe-instance-role", 200)])
        self.assertEqual(log[0]["ttl"], "21600")
        self.assertIsNone(log[0]["token"])
        self.assertTrue(log[1]["token"].startswith("IMDSTOKEN-"))
        self.assertEqual(log[1]["token"], log[2]["token"])
        self.assert_no_secrets(r.err)

    def test_imds_no_role(self):
        md = self.imds("--no-role")
        r = self.put({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("instance metadata: no role attached to this instance", r.err)
        self.assertIn("no other AWS credentials for profile", r.err)
        self.assertIn("environment (AWS_ACCESS_KEY_ID not set)", r.err)
        self.assertEqual(records(self.kin), [])

    def test_imds_v1_fallback_only_where_botocore_does(self):
        # 404 to the token PUT: IMDSv1, no token header
        md = self.imds(issue(KEY1), "--token-status", "404", "--allow-v1")
        r = self.put({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint + "/"})
        self.assert_stored_with(r, KEY1[0])
        self.assertEqual([e["token"] for e in md.log_entries()], [None, None, None])
        # ... unless IMDSv1 is disabled
        md.control("reset", {})
        r = self.put({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint,
                      "AWS_EC2_METADATA_V1_DISABLED": "true"})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("AWS_EC2_METADATA_V1_DISABLED forbids IMDSv1", r.err)
        self.assertEqual(len(md.log_entries()), 1)
        # a 400 is an error, not a fallback
        md2 = self.imds(issue(KEY1), "--token-status", "400", "--allow-v1")
        r = self.put({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md2.endpoint})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("instance metadata: the IMDSv2 token request was refused (HTTP 400)", r.err)
        self.assertEqual(len(md2.log_entries()), 1)

    def test_imds_token_timeout_falls_back_to_v1(self):
        """The token PUT connects but gets no answer within 1 s (a hop limit
        of 1 inside a container): IMDSv1, as botocore."""
        md = self.imds(issue(KEY1), "--token-delay", "2.5", "--allow-v1")
        t0 = time.monotonic()
        r = self.put({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint})
        self.assert_stored_with(r, KEY1[0])
        self.assertLess(time.monotonic() - t0, 2.4)
        gets = [e for e in md.log_entries() if e["method"] == "GET"]
        self.assertEqual([e["token"] for e in gets], [None, None])

    def test_imds_disabled_and_unreachable(self):
        md = self.imds(issue(KEY1))
        r = self.put({"AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint})   # clean_env disables it
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn('no AWS credentials found for profile "default" (AWS_EC2_METADATA_DISABLED is set); '
                      'looked at: command line', r.err)
        self.assertEqual(md.log_entries(), [])
        # nothing listening: fails fast with the reason, one attempt
        t0 = time.monotonic()
        r = self.put({"AWS_EC2_METADATA_DISABLED": "",
                      "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % free_port()})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("instance metadata: not reachable at http://127.0.0.1:", r.err)
        self.assertLess(time.monotonic() - t0, 10)
        r = self.put({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv5"})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6", r.err)

    def test_region_from_imds_when_nothing_names_one(self):
        md = self.imds(issue(KEY1), "--region", "eu-west-3")
        env = dict(NO_KEYS, AWS_EC2_METADATA_DISABLED="", AWS_EC2_METADATA_SERVICE_ENDPOINT=md.endpoint)
        r = cli.run(["put", "-s", "s", "--log-level", "debug"], self.kin.endpoint, stdin=b"one\n",
                    env=env, region="")
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn("region eu-west-3,", r.err)
        self.assertEqual({e["region"] for e in puts(self.kin)}, {"eu-west-3"})
        self.assertIn(("GET", "/latest/meta-data/placement/region"),
                      [(e["method"], e["path"]) for e in md.log_entries()])
        # a region given anywhere wins, and instance metadata is not asked for it
        md.control("reset", {})
        r = cli.run(["describe", "s"], self.kin.endpoint, env=dict(env, AWS_REGION="us-west-1"), region="")
        self.assertEqual(r.rc, 0, str(r))
        self.assertNotIn("/latest/meta-data/placement/region", [e["path"] for e in md.log_entries()])
        # disabled: the message says so
        r = cli.run(["describe", "s"], self.kin.endpoint, region="")
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("no AWS region", r.err)
        self.assertIn("(instance metadata: disabled)", r.err)

    def test_imds_renews_before_expiry_during_a_run(self):
        """The role's keys expire in 15 min + 5 s: about 5 s later a new
        token and the rotated keys are fetched, and later records are signed
        with them."""
        md = self.imds(issue(KEY1, 900 + 5), issue(KEY2))
        a = self.agent({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint})
        a.start()
        with socket.create_connection(("127.0.0.1", a.port)) as s:
            s.sendall(b"first\n")
            wait_for(lambda: len(records(self.kin)) == 1, "the first record", agent=a)
            time.sleep(max(0.0, md.log_entries()[-1]["time"] + 5.5 - time.time()))
            s.sendall(b"second\n")
            wait_for(lambda: len(records(self.kin)) == 2, "the second record", agent=a)
            wait_for(lambda: "renewed temporary credentials" in a.text(), "the renewal", agent=a)
            s.sendall(b"third\n")
            wait_for(lambda: len(records(self.kin)) == 3, "the third record", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        keys = [e["access_key"] for e in puts(self.kin)]
        self.assertEqual((keys[0], keys[-1]), (KEY1[0], KEY2[0]), keys)
        log = md.log_entries()
        self.assertEqual([e["method"] for e in log], ["PUT", "GET", "GET"] * 2)
        self.assertNotEqual(log[0]["token"] or log[1]["token"], log[4]["token"])
        self.assertIn("renewed temporary credentials (instance metadata (role shardpipe-instance-role))",
                      a.text())
        self.assert_no_secrets(a.text())

    # ---- container credentials ----

    def test_container_full_uri_with_token(self):
        c = self.container(issue(KEY1), "--auth", AUTH1, "--path", "/v1/credentials")
        r = self.put({"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.endpoint + "/v1/credentials",
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN": AUTH1})
        self.assert_stored_with(r, KEY1[0])
        self.assertEqual([(e["method"], e["auth"]) for e in c.log_entries()], [("GET", AUTH1)])
        # the token file wins over the variable
        c.control("reset", {})
        tf = self.file("auth", AUTH1 + "\n")
        r = self.put({"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.endpoint + "/v1/credentials",
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN": AUTH2,
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tf})
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual([e["auth"] for e in c.log_entries()], [AUTH1])
        # a wrong token: refused, named, never shown
        r = self.put({"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.endpoint + "/v1/credentials",
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN": AUTH2})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("container credentials: %s/v1/credentials answered HTTP 401" % c.endpoint, r.err)
        self.assert_no_secrets(r.err)

    def test_container_hosts_allowed(self):
        for url in ("http://example.com/creds", "http://169.254.169.254/creds", "ftp://127.0.0.1/x"):
            r = self.put({"AWS_CONTAINER_CREDENTIALS_FULL_URI": url})
            self.assertEqual(r.rc, 1, str(r))
            self.assertIn("AWS_CONTAINER_CREDENTIALS_FULL_URI", r.err)
        r = self.put({"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "no-slash"})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path", r.err)
        r = self.put({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:%d/x" % free_port(),
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN": "bad\r\ntoken"})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("holds a line break", r.err)
        self.assertNotIn("bad", r.err.replace("holds", ""))

    def test_container_token_file_reread_at_renewal(self):
        c = self.container(issue(KEY1, 900 + 4), issue(KEY2), "--auth", AUTH1, "--auth", AUTH2)
        tf = self.file("auth", AUTH1)
        a = self.agent({"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.endpoint + "/creds",
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tf})
        a.start()
        with open(tf, "w") as f:
            f.write(AUTH2)   # the platform rotates it
        with socket.create_connection(("127.0.0.1", a.port)) as s:
            s.sendall(b"first\n")
            wait_for(lambda: len(records(self.kin)) == 1, "the first record", agent=a)
            time.sleep(max(0.0, c.log_entries()[0]["time"] + 4.5 - time.time()))
            s.sendall(b"second\n")
            wait_for(lambda: "renewed temporary credentials" in a.text(), "the renewal", agent=a)
            s.sendall(b"third\n")
            wait_for(lambda: len(records(self.kin)) == 3, "the third record", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        self.assertEqual([e["auth"] for e in c.log_entries()], [AUTH1, AUTH2])
        self.assertEqual(puts(self.kin)[-1]["access_key"], KEY2[0])
        self.assert_no_secrets(a.text())

    # ---- web identity ----

    def test_web_identity_alone(self):
        sts = self.sts(issue(KEY1), "--web-token", WEB1)
        tf = self.file("token", WEB1 + "\n")
        env = {"AWS_WEB_IDENTITY_TOKEN_FILE": tf, "AWS_ROLE_ARN": ROLE,
               "AWS_ROLE_SESSION_NAME": "irsa-session", "AWS_ENDPOINT_URL_STS": sts.endpoint}
        r = self.put(env)
        self.assert_stored_with(r, KEY1[0])
        calls = sts.log_entries()
        self.assertEqual(len(calls), 1, calls)
        p = calls[0]["params"]
        self.assertEqual((p["Action"], p["RoleArn"], p["RoleSessionName"], p["WebIdentityToken"]),
                         ("AssumeRoleWithWebIdentity", ROLE, "irsa-session", WEB1))
        self.assertIsNone(calls[0]["access_key"])   # unsigned
        # a token STS does not accept: the role and the reason, not the token
        self.file("token", "eyJ.someOtherToken.sig")
        r = self.put(env)
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("web identity: role %s: STS refused (HTTP 400): InvalidIdentityToken" % ROLE, r.err)
        self.assertNotIn("someOtherToken", r.err)
        # a missing token file
        r = self.put(dict(env, AWS_WEB_IDENTITY_TOKEN_FILE=os.path.join(self.tmp, "nope")))
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("web identity: token file %s" % os.path.join(self.tmp, "nope"), r.err)

    def test_web_identity_token_reread_at_renewal(self):
        sts = self.sts(issue(KEY1, 900 + 4), issue(KEY2), "--web-token", WEB1, "--web-token", WEB2)
        tf = self.file("token", WEB1)
        a = self.agent({"AWS_WEB_IDENTITY_TOKEN_FILE": tf, "AWS_ROLE_ARN": ROLE,
                        "AWS_ENDPOINT_URL_STS": sts.endpoint})
        a.start()
        self.file("token", WEB2)
        with socket.create_connection(("127.0.0.1", a.port)) as s:
            s.sendall(b"first\n")
            wait_for(lambda: len(records(self.kin)) == 1, "the first record", agent=a)
            time.sleep(max(0.0, sts.log_entries()[0]["time"] + 4.5 - time.time()))
            s.sendall(b"second\n")
            wait_for(lambda: "renewed temporary credentials" in a.text(), "the renewal", agent=a)
            s.sendall(b"third\n")
            wait_for(lambda: len(records(self.kin)) == 3, "the third record", agent=a)
        self.assertEqual(a.stop(), 0, a.text())
        calls = sts.log_entries()
        self.assertEqual([c["web_token"] for c in calls], [WEB1, WEB2])
        self.assertRegex(calls[0]["params"]["RoleSessionName"], r"^shardpipe-\d{10}$")
        self.assertEqual(puts(self.kin)[-1]["access_key"], KEY2[0])
        self.assertIn("web identity (role %s, token file %s)" % (ROLE, tf), a.text())
        self.assert_no_secrets(a.text())

    # ---- the chain's order ----

    def test_chain_order(self):
        md = self.imds(issue(KEY2))
        c = self.container(issue(KEY2))
        sts = self.sts(issue(KEY2))
        tf = self.file("token", WEB1)
        home_creds = "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % KEY1[:2]
        everything = {"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint,
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI": c.endpoint + "/creds",
                      "AWS_WEB_IDENTITY_TOKEN_FILE": tf, "AWS_ROLE_ARN": ROLE,
                      "AWS_ENDPOINT_URL_STS": sts.endpoint,
                      "AWS_SHARED_CREDENTIALS_FILE": self.file("credentials", home_creds)}

        def contacted():
            return (len(sts.log_entries()), len(c.log_entries()), len(md.log_entries()))

        # environment keys first: no platform source is asked
        r = self.put(dict(everything, AWS_ACCESS_KEY_ID=KEY1[0], AWS_SECRET_ACCESS_KEY=KEY1[1]))
        self.assert_stored_with(r, KEY1[0])
        self.assertEqual(contacted(), (0, 0, 0))
        # then web identity, before the shared file
        r = self.put(everything)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(contacted(), (1, 0, 0))
        self.assertEqual(puts(self.kin)[-1]["access_key"], KEY2[0])
        # then the shared file, before container and instance metadata
        no_web = dict(everything, AWS_WEB_IDENTITY_TOKEN_FILE="")
        r = self.put(no_web)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(contacted(), (1, 0, 0))
        self.assertEqual(puts(self.kin)[-1]["access_key"], KEY1[0])
        # then container credentials, before instance metadata
        r = self.put(dict(no_web, AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.tmp, "none")))
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(contacted(), (1, 1, 0))
        # instance metadata last
        r = self.put(dict(no_web, AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.tmp, "none"),
                          AWS_CONTAINER_CREDENTIALS_FULL_URI=""))
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(contacted(), (1, 1, 3))


    # ---- role options on the command line ----

    def test_role_options_on_put_get_describe(self):
        """--role-arn, --external-id and --role-session-name: the base keys
        (unknown to Kinesis) are exchanged for the role's."""
        base = ("AKIDBASEEXAMPLE", "baseSecret/EXAMPLE")
        sts = self.sts("--verify-sigv4=%s:%s" % base, issue(KEY1), "--external-id", "ext-4242")
        role = ["--role-arn", ROLE, "--external-id", "ext-4242", "--role-session-name", "cli-session"]
        env = {"AWS_ACCESS_KEY_ID": base[0], "AWS_SECRET_ACCESS_KEY": base[1],
               "AWS_ENDPOINT_URL_STS": sts.endpoint}
        r = cli.run(["put", "-s", "s"] + role, self.kin.endpoint, stdin=b"one\ntwo\nthree\n", env=env)
        self.assert_stored_with(r, KEY1[0])
        r = cli.run(["describe", "s"] + role, self.kin.endpoint, env=env)
        self.assertEqual(r.rc, 0, str(r))
        r = cli.run(["get", "s", "--iterator", "trim-horizon", "--max-records", "3", "--json"] + role,
                    self.kin.endpoint, env=env)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(sorted(base64.b64decode(x["data"]) for x in r.json_lines()), [b"one", b"three", b"two"])
        calls = sts.log_entries()
        self.assertEqual(len(calls), 3, calls)
        for c in calls:
            self.assertEqual((c["status"], c["access_key"]), (200, base[0]))
            self.assertEqual((c["params"]["RoleArn"], c["params"]["ExternalId"], c["params"]["RoleSessionName"]),
                             (ROLE, "ext-4242", "cli-session"))
        # without the role, the base keys alone are refused by Kinesis
        r = cli.run(["describe", "s"], self.kin.endpoint, env=env)
        self.assertEqual(r.rc, 1, str(r))
        # a wrong external ID: refused by STS, never shown
        r = cli.run(["describe", "s", "--role-arn", ROLE, "--external-id", "wrong-id-99"], self.kin.endpoint, env=env)
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("AccessDenied", r.err)
        self.assertNotIn("wrong-id-99", r.err)

    def test_role_options_checked(self):
        for args, opt in ((["--role-arn", "arn:aws:s3:::bucket"], "--role-arn"),
                          (["--role-arn", ROLE, "--external-id", "x"], "--external-id"),
                          (["--role-arn", ROLE, "--role-session-name", "bad name"], "--role-session-name")):
            r = cli.run(["describe", "s"] + args, self.kin.endpoint)
            self.assertEqual(r.rc, 2, str(r))
            self.assertIn("shardpipe: %s: " % opt, r.err)

    def test_role_on_top_of_instance_metadata(self):
        """The instance role's keys are the base of an AssumeRole."""
        md = self.imds(issue(("ASIAINSTANCEBASE0001", "instanceBaseSecret", "instanceBaseToken")))
        sts = self.sts("--verify-sigv4=ASIAINSTANCEBASE0001:instanceBaseSecret",
                       "--require-token", "instanceBaseToken", issue(KEY1))
        r = self.put({"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint,
                      "AWS_ENDPOINT_URL_STS": sts.endpoint}, args=["--role-arn", ROLE])
        self.assert_stored_with(r, KEY1[0])
        self.assertEqual(len(md.log_entries()), 3)
        self.assertEqual([c["status"] for c in sts.log_entries()], [200])


    # ---- role profiles in the config file ----

    def test_profile_role_with_source_profile_and_a_role_on_top(self):
        base = ("AKIDBASEEXAMPLE", "baseSecret/EXAMPLE")
        sts = self.sts("--verify-sigv4=%s:%s" % base, "--verify-sigv4=%s:%s" % KEY2[:2],
                       issue(KEY1), issue(KEY2))
        cfg = self.file("config", "[profile writer]\nrole_arn = %s\nsource_profile = base\n"
                                  "external_id = ext-4242\nrole_session_name = prof-session\n"
                                  "[profile base]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                        % ((ROLE,) + base))
        env = {"AWS_PROFILE": "writer", "AWS_CONFIG_FILE": cfg, "AWS_ENDPOINT_URL_STS": sts.endpoint,
               "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.tmp, "none")}
        r = self.put(env)
        self.assert_stored_with(r, KEY1[0])
        c = sts.log_entries()[0]
        self.assertEqual((c["access_key"], c["params"]["RoleArn"], c["params"]["ExternalId"],
                          c["params"]["RoleSessionName"]), (base[0], ROLE, "ext-4242", "prof-session"))
        # --role-arn on top: the profile's role first (now issuing KEY2), then
        # this one, signed with the first role's keys
        other = "arn:aws:iam::123456789012:role/second"
        r = cli.run(["describe", "s", "--role-arn", other], self.kin.endpoint, env=dict(NO_KEYS, **env))
        self.assertEqual(r.rc, 0, str(r))
        calls = sts.log_entries()[1:]
        self.assertEqual([(c["access_key"], c["params"]["RoleArn"]) for c in calls],
                         [(base[0], ROLE), (KEY2[0], other)])

    def test_profile_role_with_credential_source_imds(self):
        md = self.imds(issue(("ASIAINSTANCEBASE0001", "instanceBaseSecret", "instanceBaseToken")))
        sts = self.sts("--verify-sigv4=ASIAINSTANCEBASE0001:instanceBaseSecret",
                       "--require-token", "instanceBaseToken", issue(KEY1))
        cfg = self.file("config", "[default]\nrole_arn = %s\ncredential_source = Ec2InstanceMetadata\n" % ROLE)
        r = self.put({"AWS_CONFIG_FILE": cfg, "AWS_EC2_METADATA_DISABLED": "",
                      "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint, "AWS_ENDPOINT_URL_STS": sts.endpoint})
        self.assert_stored_with(r, KEY1[0])
        self.assertEqual(len(md.log_entries()), 3)
        # disabled instance metadata is an error naming the profile, not a fall-through
        r = self.put({"AWS_CONFIG_FILE": cfg, "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.endpoint})
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("profile [default]: credential_source Ec2InstanceMetadata, but "
                      "AWS_EC2_METADATA_DISABLED is set", r.err)

    def test_profile_web_identity_token_file(self):
        sts = self.sts(issue(KEY1), "--web-token", WEB1)
        tf = self.file("token", WEB1)
        cfg = self.file("config", "[profile irsa]\nrole_arn = %s\nweb_identity_token_file = %s\n"
                                  "role_session_name = from-profile\n" % (ROLE, tf))
        r = self.put({"AWS_CONFIG_FILE": cfg, "AWS_PROFILE": "irsa", "AWS_ENDPOINT_URL_STS": sts.endpoint})
        self.assert_stored_with(r, KEY1[0])
        p = sts.log_entries()[0]["params"]
        self.assertEqual((p["Action"], p["RoleArn"], p["RoleSessionName"], p["WebIdentityToken"]),
                         ("AssumeRoleWithWebIdentity", ROLE, "from-profile", WEB1))


if __name__ == "__main__":
    unittest.main()
