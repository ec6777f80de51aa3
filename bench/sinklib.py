"""The C sink (bench/sink.c) from Python: build it, make its certificate,
start and stop it, read its counters, and compute the exactly-once figures
of an input file. Used by bench/cost.py and tests/integration/test_sink_tls.py.
Everything is on 127.0.0.1."""
import json
import os
import subprocess
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SRCS = [os.path.join(ROOT, "bench", f) for f in ("sink.c", "sink_kinesis.c")]
DEPS = SRCS + [os.path.join(ROOT, "bench", "sink.h")]
BIN = os.path.join(ROOT, "build", "sink")
CFLAGS = ["-O2", "-g", "-std=c11", "-Wall", "-Wextra", "-Werror"]


def build():
    """cc -O2 bench/sink*.c into build/sink when it is missing or older."""
    if os.path.exists(BIN) and all(os.path.getmtime(BIN) >= os.path.getmtime(f) for f in DEPS):
        return BIN
    os.makedirs(os.path.dirname(BIN), exist_ok=True)
    subprocess.run(["cc"] + CFLAGS + ["-o", BIN] + SRCS + ["-lssl", "-lcrypto", "-lm"], check=True)
    return BIN


def make_cert(directory):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost (valid 2
    days) with the openssl command: (cert.pem, key.pem). The certificate is
    also the CA file a client trusts."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def digest(path):
    """{records, data_bytes, sum, xor} over the lines of a file (without
    their newlines), as the sink adds up what it stores."""
    out = subprocess.run([build(), "--digest", path], check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


class Sink:
    """One sink process: Sink(shards=16, tls=(cert, key), limit="rolling").
    .endpoint is its URL, .stats() its counters, .cpu_s() its CPU time."""

    def __init__(self, shards=16, tls=None, limit="off", stream="bench", extra=()):
        argv = [build(), "--shards", str(shards), "--stream", stream, "--limit", limit] + list(extra)
        if tls:
            argv += ["--cert", tls[0], "--key", tls[1]]
        self.tls = tls
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError("sink did not start: %r %r" % (line, self.proc.stderr.read()))
        self.port = int(line.split()[1])
        self.endpoint = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)

    def stats(self, shards=False):
        url = "%s/stats%s" % (self.endpoint, "?shards" if shards else "")
        handlers = [urllib.request.ProxyHandler({})]     # never a proxy: loopback only
        if self.tls:
            import ssl
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=self.tls[0])))
        with urllib.request.build_opener(*handlers).open(url, timeout=10) as r:
            return json.loads(r.read())

    def cpu_s(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def exactly_once(expected, st):
    """'ok' when the sink stored every input line exactly once, else what differs."""
    bad = [k for k in ("records", "data_bytes", "sum", "xor") if expected[k] != st[k]]
    if not bad:
        return "ok"
    return "MISMATCH " + ", ".join("%s %s != %s" % (k, st[k], expected[k]) for k in bad)
