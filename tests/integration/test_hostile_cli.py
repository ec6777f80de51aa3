"""Hostile command lines and configuration files (issue 7, item 7): bad
endpoint URLs, regions and numbers are refused up front with exit status 2
and a message that names the option (or variable) and the problem; bad
configuration files (a FIFO, a directory, a device) are refused at once with
status 1; a UTF-8 byte-order mark is accepted.

No server is needed: every endpoint is on loopback, and the URLs that must
be refused would, if accepted, only ever reach loopback too."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import REGION, free_port  # noqa: E402

EXIT_FAIL, EXIT_USAGE = 1, 2
MIN_CONFIG = '{"region": "us-east-1", "flows": [{"stream": "s", "sources": [{"type": "stdin"}]}]}'
BOM = b"\xef\xbb\xbf"


class Sp:
    """One run of the binary with the tests' clean environment; args as
    given (no endpoint or region is added)."""

    def __init__(self, args, env=None, stdin=b"", timeout=20):
        if not os.access(cli.SHARDPIPE, os.X_OK):
            raise AssertionError("%s is missing: build it first (make shardpipe)" % cli.SHARDPIPE)
        home = tempfile.mkdtemp(prefix="shardpipe-home-")
        self.argv = [cli.SHARDPIPE] + list(args)
        t0 = time.monotonic()
        try:
            p = subprocess.run(self.argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=cli.clean_env(home=home, extra=env), timeout=timeout, cwd=home)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        self.elapsed = time.monotonic() - t0
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")

    def __str__(self):
        return "%r -> exit %s after %.1fs\n%s" % (self.argv[1:], self.rc, self.elapsed, self.err[-1500:])


def dead_endpoint():
    """A loopback URL where nothing listens."""
    return "http://127.0.0.1:%d" % free_port()


# Subcommand argument lists that are valid but for the common options.
COMMANDS = {
    "put": ["put", "-s", "s", "--max-attempts", "1"],
    "get": ["get", "s"],
    "describe": ["describe", "s"],
}


class Tmp(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sp-hostile-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def file(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def assert_usage(self, r, *wants):
        self.assertEqual(r.rc, EXIT_USAGE, str(r))
        for w in wants:
            self.assertIn(w, r.err, str(r))
        # refused before any request: nothing was tried, nothing retried
        self.assertNotIn("TransportError", r.err, str(r))
        self.assertNotIn("retrying", r.err, str(r))
        self.assertIn("usage: shardpipe", r.err, str(r))


class EndpointUrls(Tmp):
    BAD = [
        ("http://[::1", "has an IPv6 address without its closing ']'"),
        ("http://[::1]x:4567", "after the IPv6 address"),
        ("http://[::zz]:4567", "is not an IPv6 address"),
        ("http://::1:4567", "must be in brackets"),
        ("http://127.0.0.1:99999", "the port must be a number from 1 to 65535, not '99999'"),
        ("http://127.0.0.1:0", "the port must be a number from 1 to 65535, not '0'"),
        ("http://127.0.0.1:", "the port must be a number from 1 to 65535, not ''"),
        ("http://127.0.0.1:45x", "not '45x'"),
        ("http://127.0.0.300:4567", "'127.0.0.300' is not an IPv4 address"),
        ("http://127.0.0.1 :4567", "a space, a control character"),
        ("http://user:pw@127.0.0.1:4567", "must not contain user information"),
        ("ftp://127.0.0.1:4567", "must start with http:// or https://"),
        ("http://127.0.0.1:4567/x", "must not have a path or query"),
    ]

    def test_bad_endpoint_url_is_a_usage_error(self):
        for url, why in self.BAD:
            for name, args in COMMANDS.items():
                with self.subTest(url=url, command=name):
                    r = Sp(args + ["--region", REGION, "--endpoint-url", url])
                    self.assert_usage(r, "--endpoint-url: ", why)
                    self.assertLess(r.elapsed, 5, str(r))

    def test_password_is_not_echoed(self):
        r = Sp(COMMANDS["describe"] + ["--region", REGION, "--endpoint-url", "http://u:hunter2@127.0.0.1:1"])
        self.assert_usage(r, "--endpoint-url")
        self.assertNotIn("hunter2", r.err)

    def test_good_url_reaches_the_transport(self):
        # the control: a well-formed URL is not refused up front
        for url in (dead_endpoint(), "http://[::1]:%d" % free_port()):
            with self.subTest(url=url):
                r = Sp(COMMANDS["put"] + ["--region", REGION, "--endpoint-url", url], stdin=b"x\n", timeout=60)
                self.assertEqual(r.rc, EXIT_FAIL, str(r))
                self.assertIn("TransportError", r.err, str(r))

    def test_bad_endpoint_from_environment_names_the_variable(self):
        for var, url, why in (("AWS_ENDPOINT_URL_KINESIS", "http://[::1", "closing ']'"),
                              ("AWS_ENDPOINT_URL", "http://127.0.0.1:99999", "port must be")):
            for name, args in COMMANDS.items():
                with self.subTest(var=var, command=name):
                    r = Sp(args + ["--region", REGION], env={var: url})
                    self.assert_usage(r, var + ": endpoint URL", why)

    def test_option_wins_over_a_bad_variable(self):
        # --endpoint-url is used, so the variable is never looked at
        r = Sp(COMMANDS["put"] + ["--region", REGION, "--endpoint-url", dead_endpoint()],
               env={"AWS_ENDPOINT_URL": "http://[::1"}, stdin=b"x\n", timeout=60)
        self.assertEqual(r.rc, EXIT_FAIL, str(r))
        self.assertNotIn("AWS_ENDPOINT_URL", r.err, str(r))


class Regions(Tmp):
    def test_bad_region_is_a_usage_error(self):
        for region in ("US", "us east 1", "-us-east-1", "us-east-1-", "1us", "a" * 64):
            for name, args in COMMANDS.items():
                with self.subTest(region=region, command=name):
                    r = Sp(args + ["--region", region, "--endpoint-url", dead_endpoint()])
                    self.assert_usage(r, "--region: ", "is not a valid region")

    def test_bad_region_from_environment(self):
        for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            with self.subTest(var=var):
                r = Sp(COMMANDS["describe"] + ["--endpoint-url", dead_endpoint()], env={var: "Mars"})
                self.assert_usage(r, var + ': "Mars" is not a valid region')

    def test_config_region_and_endpoint_refused(self):
        for text, key, why in (
                ('{"region": "US", "flows": [{"stream": "s", "sources": [{"type": "stdin"}]}]}',
                 "region: 'US'", "is not a region name"),
                ('{"region": "us-east-1", "endpoint": "http://[::1", "flows": [{"stream": "s", '
                 '"sources": [{"type": "stdin"}]}]}', "endpoint: endpoint URL", "closing ']'"),
                ('{"region": "us-east-1", "endpoint": "http://127.0.0.1:99999", "flows": [{"stream": "s", '
                 '"sources": [{"type": "stdin"}]}]}', "endpoint: endpoint URL", "port must be"),
                ('{"kinesis.endpoint": "127.0.0.1:0", "flows": [{"filePattern": "/tmp/x.log", '
                 '"kinesisStream": "s"}]}', "kinesis.endpoint: endpoint URL", "port must be")):
            path = self.file("c.json", text)
            for cmd in (["check-config", path], ["run", "-c", path]):
                with self.subTest(text=text, command=cmd[0]):
                    r = Sp(cmd)
                    self.assertEqual(r.rc, EXIT_FAIL, str(r))
                    self.assertIn(key, r.err, str(r))
                    self.assertIn(why, r.err, str(r))

    def test_run_names_a_bad_endpoint_variable(self):
        path = self.file("c.json", MIN_CONFIG)
        r = Sp(["run", "-c", path], env={"AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:70000"})
        self.assertEqual(r.rc, EXIT_FAIL, str(r))
        self.assertIn("AWS_ENDPOINT_URL_KINESIS: endpoint URL 'http://127.0.0.1:70000': the port", r.err, str(r))


class Numbers(Tmp):
    def run_opt(self, cmd, opt, value):
        args = list(COMMANDS[cmd]) + [opt, value, "--region", REGION, "--endpoint-url", dead_endpoint()]
        return Sp(args)

    def test_buffer_bytes(self):
        # too big (overflowing the suffix), too small, not a number, over 64 bits
        for value in ("99999999G", "2048G", "1K", "1048575", "lots", "-1", "18446744073709551616", ""):
            with self.subTest(value=value):
                r = self.run_opt("put", "--buffer-bytes", value)
                self.assert_usage(r, "--buffer-bytes must be 1MiB to 1024GiB", "not '%s'" % value)

    def test_timeouts_name_the_option(self):
        for opt in ("--connect-timeout-ms", "--request-timeout-ms"):
            for value in ("0", "3600001", "x", "99999999999999999999"):
                for cmd in COMMANDS:
                    with self.subTest(opt=opt, value=value, command=cmd):
                        r = self.run_opt(cmd, opt, value)
                        self.assert_usage(r, "%s must be 1 to 3600000" % opt, "not '%s'" % value)

    def test_every_number_option_says_its_range(self):
        cases = [
            ("put", "--linger-ms", "3600001", "0 to 3600000"),
            ("put", "--batch-records", "501", "1 to 500"),
            ("put", "--batch-bytes", "99999999G", "1 to 10MiB"),
            ("put", "--batch-bytes", "0", "1 to 10MiB"),
            ("put", "--backoff-base-ms", "0", "1 to 3600000"),
            ("put", "--backoff-cap-ms", "99999999999999999999", "1 to 3600000"),
            ("put", "--max-attempts", "1000001", "0 (no limit) to 1000000"),
            ("put", "--max-in-flight", "0", "1 to 256"),
            ("put", "--shard-rate", "1001%", "1% to 1000%"),
            ("put", "--shard-refresh-ms", "999", "1000 to 86400000"),
            ("get", "--limit", "10001", "1 to 10000"),
            ("get", "--max-records", "0", "1 to 18446744073709551615"),
            ("get", "--max-records", "18446744073709551616", "1 to 18446744073709551615"),
        ]
        for cmd, opt, value, rng in cases:
            with self.subTest(opt=opt, value=value):
                r = self.run_opt(cmd, opt, value)
                self.assert_usage(r, "%s must be %s" % (opt, rng), "not '%s'" % value)


class ConfigFiles(Tmp):
    def not_regular(self, path, kind):
        for cmd in (["check-config", path], ["run", "-c", path]):
            with self.subTest(path=path, command=cmd[0]):
                t0 = time.monotonic()
                try:
                    r = Sp(cmd, timeout=10)
                except subprocess.TimeoutExpired:
                    self.fail("%s %s blocked" % (cmd[0], path))
                self.assertLess(time.monotonic() - t0, 3, str(r))
                self.assertEqual(r.rc, EXIT_FAIL, str(r))
                self.assertIn("%s: not a regular file (it is %s)" % (path, kind), r.err, str(r))

    def test_fifo_does_not_block(self):
        path = os.path.join(self.dir, "c.json")
        os.mkfifo(path)
        self.not_regular(path, "a FIFO")

    def test_directory_and_devices(self):
        self.not_regular(self.dir, "a directory")
        self.not_regular("/dev/null", "a device")
        self.not_regular("/dev/zero", "a device")

    def test_byte_order_mark_is_skipped(self):
        path = self.file("bom.json", BOM + MIN_CONFIG.encode())
        r = Sp(["check-config", path])
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn("valid, 1 flow", r.out)
        # positions after the mark are as an editor shows them
        path = self.file("bom2.json", BOM + b'{"region": "us-east-1",\n  "flows": ]}')
        r = Sp(["check-config", path])
        self.assertEqual(r.rc, EXIT_FAIL, str(r))
        self.assertIn("bom2.json:2:12: ", r.err, str(r))
        path = self.file("bom3.json", BOM + b"{x}")
        r = Sp(["check-config", path])
        self.assertEqual(r.rc, EXIT_FAIL, str(r))
        self.assertIn("bom3.json:1:2: ", r.err, str(r))
        self.assertNotIn("invalid utf-8", r.err, str(r))

    def test_size_is_bounded(self):
        path = self.file("big.json", b" " * (4 * 1024 * 1024 + 1) + MIN_CONFIG.encode())
        r = Sp(["check-config", path])
        self.assertEqual(r.rc, EXIT_FAIL, str(r))
        self.assertIn("larger than", r.err, str(r))


if __name__ == "__main__":
    unittest.main()
